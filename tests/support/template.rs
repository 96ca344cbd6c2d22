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

/// Each `AWS::Serverless::Function`, by the binary it builds.
pub fn function_resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|r| {
            (
                r["Metadata"]["Binary"]
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

/// The function resources of `template.yaml` as the function list makes them: for each
/// function, its resource's name, build metadata, `FunctionName`, HTTP API events and, for the
/// provisioning functions, `CLOUDAPPS_FUNCTIONS`. What is written by hand in a resource (its
/// description, environment, timeout and policy, which `iam_from_use` holds to what the
/// function calls) is kept; a new function gets a description and a policy that reads the
/// tenants' partition, and one no longer listed loses its resource.
pub fn generate(text: &str, functions: &[Function]) -> String {
    let mut blocks = split_resources(text);
    let listed: Vec<String> = functions.iter().map(|f| resource_name(f.name)).collect();
    blocks.retain(|b| !b.is_function() || listed.contains(&b.name));
    for f in functions {
        let name = resource_name(f.name);
        let body = match blocks.iter().position(|b| b.name == name) {
            Some(i) => std::mem::take(&mut blocks[i].lines),
            None => {
                // New functions go after the last one of their kind.
                let prefix = f.name.split('-').next().unwrap_or_default();
                let at = blocks
                    .iter()
                    .rposition(|b| b.is_function() && b.binary().starts_with(prefix))
                    .or_else(|| blocks.iter().rposition(Block::is_function))
                    .map_or(blocks.len(), |i| i + 1);
                blocks.insert(
                    at,
                    Block {
                        name: name.clone(),
                        lines: Vec::new(),
                    },
                );
                new_function_lines(f)
            }
        };
        let i = blocks.iter().position(|b| b.name == name).expect("placed");
        blocks[i].lines = function_lines(f, &body, functions);
    }
    blocks
        .into_iter()
        .flat_map(|b| b.lines)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `hello-send` → `HelloSendFunction`.
pub fn resource_name(binary: &str) -> String {
    let camel: String = binary
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("{camel}Function")
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

/// A function's resource: the generated lines around what `body` (its current lines) keeps.
fn function_lines(f: &Function, body: &[String], functions: &[Function]) -> Vec<String> {
    let mut out = vec![
        format!("  {}:", resource_name(f.name)),
        "    Type: AWS::Serverless::Function".to_owned(),
        "    Metadata:".to_owned(),
        format!("      Binary: {}", f.name),
        "    Properties:".to_owned(),
        format!(
            "      FunctionName: !Sub \"${{AWS::StackName}}-{}\"",
            f.name
        ),
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
    let mut in_events = false;
    for line in &body[start..] {
        let indent = line.len() - line.trim_start().len();
        if line.starts_with("      FunctionName:") || line.starts_with("      CodeUri:") {
            continue;
        }
        if line == "      Events:" {
            in_events = true;
            continue;
        }
        if in_events && !line.trim().is_empty() && indent > 6 {
            continue;
        }
        in_events = false;
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
    let functions_line = "          CLOUDAPPS_FUNCTIONS: !Sub \"";
    for line in &mut kept {
        if line.starts_with(functions_line) {
            let names: Vec<String> = functions
                .iter()
                .filter(|a| a.app().is_some())
                .map(|a| format!("{0}=${{AWS::StackName}}-{0}", a.name))
                .collect();
            *line = format!("{functions_line}{}\"", names.join(","));
        }
    }
    out.extend(kept);
    let routes = f.http_routes();
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
