//! `template.yaml` as the tests read it: its function resources by binary, and `!Sub` texts.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::workspace_root;

pub fn template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// Each `AWS::Serverless::Function`, by the binary it builds.
pub fn function_resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            (
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .expect("a Binary per function")
                    .to_owned(),
                r.clone(),
            )
        })
        .collect()
}

/// The text of a `!Sub "..."` (or a plain string).
pub fn sub_text(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().unwrap_or_default().to_owned(),
        other => serde_yaml::to_string(other).unwrap(),
    }
}
