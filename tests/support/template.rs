//! `template.yaml` as the tests read it: its function resources by binary, and `!Sub` texts.

use std::collections::BTreeMap;

use cloudapps::functions::Function;
use serde_yaml::Value;

use crate::workspace_root;

pub fn template() -> Value {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml"))
        .expect("read template.yaml");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// Each `AWS::Serverless::Function` by the binary it builds: for an app function, the one of
/// its app's current version (which carries the routes and the policies).
pub fn function_resources(t: &Value) -> BTreeMap<String, Value> {
    all_function_resources(t)
        .into_values()
        .filter(|r| r["Properties"]["Role"].is_null())
        .map(|r| {
            (
                r["Metadata"]["Binary"]
                    .as_str()
                    .expect("a Binary per function")
                    .to_owned(),
                r,
            )
        })
        .collect()
}

/// Every `AWS::Serverless::Function`, by its logical id: an app function once per version.
pub fn all_function_resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The versions a function is deployed for, the current first: one, `None`, for a function
/// that is no app's.
fn deployed_versions(f: &Function) -> Vec<Option<&'static str>> {
    match f.deployed_versions() {
        [] => vec![None],
        versions => versions.iter().map(|v| Some(v.as_str())).collect(),
    }
}

/// The text of a `!Sub "..."` (or a plain string).
pub fn sub_text(v: &Value) -> String {
    match v {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str().unwrap_or_default().to_owned(),
        other => serde_yaml::to_string(other).unwrap(),
    }
}

/// The function resources of `template.yaml` as the function list makes them: for each
/// function, its resource's name, build metadata, `FunctionName` and HTTP API events; an app
/// function gets one per version of its app, named as the Apps plugin invokes it, and only
/// the current version's is routed. What is written by hand in a resource (its description,
/// environment, timeout and policy, which `iam_from_use` holds to what the function calls) is
/// kept; the older versions share the current one's and its role. A new function gets a
/// description and a policy that reads the tenants' partition, and one no longer listed loses
/// its resource.
pub fn generate(text: &str, functions: &[Function]) -> String {
    let mut blocks = split_resources(text);
    let listed: Vec<String> = functions
        .iter()
        .flat_map(|f| {
            deployed_versions(f)
                .into_iter()
                .map(|v| resource_name(f, v))
        })
        .collect();
    // The hand-written lines of each function: from its current resource, wherever it is.
    let mut bodies: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in functions {
        let current = deployed_versions(f)[0];
        let own = blocks
            .iter()
            .position(|b| b.name == resource_name(f, current))
            .or_else(|| {
                blocks
                    .iter()
                    .position(|b| b.binary() == f.name && !b.shares_a_role())
            });
        if let Some(i) = own {
            bodies.insert(f.name, blocks[i].lines.clone());
        }
    }
    blocks.retain(|b| !b.is_function() || listed.contains(&b.name));
    for f in functions {
        let body = bodies
            .remove(f.name)
            .unwrap_or_else(|| new_function_lines(f));
        let versions = deployed_versions(f);
        let current = resource_name(f, versions[0]);
        for (n, version) in versions.into_iter().enumerate() {
            let name = resource_name(f, version);
            if !blocks.iter().any(|b| b.name == name) {
                // New resources go after the last one of their function, or of their kind.
                let prefix = f.name.split('-').next().unwrap_or_default();
                let at = blocks
                    .iter()
                    .rposition(|b| b.is_function() && b.binary() == f.name)
                    .or_else(|| {
                        blocks
                            .iter()
                            .rposition(|b| b.is_function() && b.binary().starts_with(prefix))
                    })
                    .or_else(|| blocks.iter().rposition(Block::is_function))
                    .map_or(blocks.len(), |i| i + 1);
                blocks.insert(
                    at,
                    Block {
                        name: name.clone(),
                        lines: Vec::new(),
                    },
                );
            }
            let i = blocks.iter().position(|b| b.name == name).expect("placed");
            let role = (n > 0).then_some(current.as_str());
            blocks[i].lines = function_lines(f, version, role, &body);
        }
    }
    blocks
        .into_iter()
        .flat_map(|b| b.lines)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `hello-send` → `HelloSendV110Function` (at `v1.1.0`), `marketplace-list` →
/// `MarketplaceListFunction`.
pub fn resource_name(f: &Function, version: Option<&str>) -> String {
    let camel: String = f
        .name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let version: String = version
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    format!("{camel}{version}Function")
}

/// A top-level part of the template: a resource (named) or anything else (unnamed), with its
/// lines, the comments and blank lines that follow it included.
struct Block {
    name: String,
    lines: Vec<String>,
}

impl Block {
    fn is_function(&self) -> bool {
        self.lines
            .iter()
            .any(|l| l == "    Type: AWS::Serverless::Function")
    }

    /// An older version's resource, which runs with its current one's role.
    fn shares_a_role(&self) -> bool {
        self.lines.iter().any(|l| l.starts_with("      Role: "))
    }

    fn binary(&self) -> &str {
        self.lines
            .iter()
            .find_map(|l| l.trim().strip_prefix("Binary: "))
            .unwrap_or_default()
    }
}

fn split_resources(text: &str) -> Vec<Block> {
    let mut blocks = vec![Block {
        name: String::new(),
        lines: Vec::new(),
    }];
    let mut in_resources = false;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_resources = line == "Resources:";
            blocks.push(Block {
                name: String::new(),
                lines: Vec::new(),
            });
        } else if in_resources
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && !line.trim_start().starts_with('#')
            && line.ends_with(':')
        {
            blocks.push(Block {
                name: line.trim().trim_end_matches(':').to_owned(),
                lines: Vec::new(),
            });
        }
        blocks
            .last_mut()
            .expect("a block")
            .lines
            .push(line.to_owned());
    }
    blocks
}

/// The lines of a new function's resource that are not generated.
fn new_function_lines(f: &Function) -> Vec<String> {
    let lines = [
        format!(
            "      Description: Serves {}.",
            f.describe().replace('`', "")
        ),
        "      # Request handling only reads install state.".into(),
        "      Policies:".into(),
        "        - Statement:".into(),
        "            - Effect: Allow".into(),
        "              Action:".into(),
        "                - dynamodb:BatchGetItem".into(),
        "                - dynamodb:GetItem".into(),
        "              Resource: !GetAtt InstallTable.Arn".into(),
        "              Condition:".into(),
        "                ForAllValues:StringLike:".into(),
        "                  dynamodb:LeadingKeys:".into(),
        "                    - \"TENANT#*\"".into(),
        String::new(),
    ];
    let mut all = vec!["    Properties:".to_owned()];
    all.extend(lines);
    all
}

/// A function's resource for `version` of its app: the generated lines around what `body`
/// (the current resource's lines) keeps. An older version's (`role`: the current one's
/// resource) runs with the current one's role, unrouted.
fn function_lines(
    f: &Function,
    version: Option<&str>,
    role: Option<&str>,
    body: &[String],
) -> Vec<String> {
    let mut out = vec![
        format!("  {}:", resource_name(f, version)),
        "    Type: AWS::Serverless::Function".to_owned(),
        "    Metadata:".to_owned(),
        format!("      Binary: {}", f.name),
        "    Properties:".to_owned(),
        match version.and_then(|v| f.deployed_name(v)) {
            // The name the Apps plugin invokes: one per account and region.
            Some(name) => format!("      FunctionName: {name}"),
            None => format!(
                "      FunctionName: !Sub \"${{AWS::StackName}}-{}\"",
                f.name
            ),
        },
        // `cargo lambda build --release --arm64` builds every function in one compile.
        format!("      CodeUri: {}", code_uri(f.name)),
    ];
    // Keep the hand-written properties: from after `Properties:` and `FunctionName`, without
    // the events, up to what follows the resource (blank lines, the next part's comments).
    let start = body
        .iter()
        .position(|l| l == "    Properties:")
        .map_or(body.len(), |i| i + 1);
    let mut kept: Vec<String> = Vec::new();
    let mut trailer: Vec<String> = Vec::new();
    let mut skipping = false;
    for line in &body[start..] {
        let indent = line.len() - line.trim_start().len();
        if line.starts_with("      FunctionName:")
            || line.starts_with("      CodeUri:")
            || line.starts_with("      Role:")
        {
            continue;
        }
        // An older version shares the current one's policies (through its role) and takes
        // no routes.
        if line == "      Events:" || (role.is_some() && line == "      Policies:") {
            skipping = true;
            continue;
        }
        if skipping && !line.trim().is_empty() && indent > 6 {
            continue;
        }
        skipping = false;
        if line.trim().is_empty() || indent < 4 {
            trailer.push(line.clone());
        } else if !trailer.is_empty() {
            // A blank line inside the properties: keep it where it was.
            kept.append(&mut trailer);
            kept.push(line.clone());
        } else {
            kept.push(line.clone());
        }
    }
    if let (Some(role), Some(version)) = (role, version) {
        for line in &mut kept {
            if let Some(d) = line.strip_prefix("      Description: ") {
                *line = format!(
                    "      Description: {} For tenants on {} {version}.",
                    d.trim_end(),
                    f.app().unwrap_or_default()
                );
            }
        }
        // The comments are the current resource's, about its policies.
        kept.retain(|l| !l.trim_start().starts_with('#'));
        kept.push(format!("      Role: !GetAtt {role}Role.Arn"));
    }
    out.extend(kept);
    let routes = if role.is_none() {
        f.http_routes()
    } else {
        Vec::new()
    };
    if !routes.is_empty() {
        out.push("      Events:".to_owned());
        for (i, (method, path)) in routes.iter().enumerate() {
            out.push(format!("        {}:", event_name(i)));
            out.push("          Type: HttpApi".to_owned());
            out.push("          Properties:".to_owned());
            out.push("            ApiId: !Ref HttpApi".to_owned());
            out.push(format!("            Method: {method}"));
            out.push(format!("            Path: {path}"));
        }
    }
    if trailer.is_empty() {
        trailer.push(String::new());
    }
    out.extend(trailer);
    out
}

/// Where `cargo lambda build` leaves a function's `bootstrap`, which `sam deploy` packages.
pub fn code_uri(binary: &str) -> String {
    format!("target/lambda/{binary}/")
}

fn event_name(i: usize) -> String {
    if i == 0 {
        "Api".to_owned()
    } else {
        format!("Api{}", i + 1)
    }
}
