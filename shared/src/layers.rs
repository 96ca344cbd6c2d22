//! The crate's layers, checked: a module may use only modules of layers below its own, so the
//! dependencies point one way and no two modules import each other, even through others.
//! Adapters are leaves: only the wiring names them. Test code is not held to this (a test may
//! set up a whole host).

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. One line per layer; modules on the same line may not use each other.
const LAYERS: &[&[&str]] = &[
    // Wire types and self-contained helpers.
    &[
        "protocol",
        "ids",
        "paths",
        "auth",
        "outbound",
        "telemetry",
        "aws",
        "group_commit",
    ],
    // The install-state port, its records and key schema.
    &["store"],
    &["error"],
    &["limits", "command", "mattermost"],
    &["events"],
    &["marketplace"],
    &["apps"],
    &["functions"],
    // The adapters of the provisioning port.
    &["provisioners"],
    // First-run set-up of the local host.
    &["first_run"],
    &["http"],
    &["lambda"],
];

/// Adapters, by path, and the modules that may wire them in.
const ADAPTERS: &[(&str, &[&str])] = &[
    ("store::dynamo", &["lambda"]),
    ("store::sqlite", &[]),
    ("provisioners", &["http", "first_run", "lambda"]),
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer of src/layers.rs"))
}

/// A source file's code outside its tests, without comments.
fn non_test_code(source: &str) -> String {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` path a piece of code names, with `use crate::{a, b::c}` groups opened.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            paths.extend(group.split(',').map(|p| path_head(p.trim())));
        } else {
            paths.insert(path_head(rest));
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// The module path at the start of `text` (`store::dynamo::DynamoStore` → `store::dynamo`).
fn path_head(text: &str) -> String {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end]
        .split("::")
        .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join("::")
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_layers_below_and_adapters_only_the_wiring() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = relative.split('/').next().unwrap().trim_end_matches(".rs");
        let test_only =
            ["lib", "layers", "properties"].contains(&module) || relative.ends_with("tests.rs");
        if test_only {
            continue;
        }
        let code = non_test_code(&std::fs::read_to_string(&file).unwrap());
        for path in crate_paths(&code) {
            let used = path.split("::").next().unwrap();
            if used == module || ["Error", "contract_tests"].contains(&used) {
                continue;
            }
            if layer_of(used) >= layer_of(module) {
                wrong.push(format!(
                    "{relative} uses `crate::{path}`, which is not below `{module}`"
                ));
            }
            for (adapter, wiring) in ADAPTERS {
                let names_it = path == *adapter || path.starts_with(&format!("{adapter}::"));
                if names_it && !wiring.contains(&module) {
                    wrong.push(format!(
                        "{relative} names the adapter `crate::{adapter}`; only {wiring:?} may"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_path_reader_opens_groups_and_stops_at_items() {
    let code = "use crate::store::{Install, InstallState};\nuse crate::{ids, store::dynamo::DynamoStore};\nlet x = crate::events::expand::expand(s);";
    let found: Vec<String> = crate_paths(code).into_iter().collect();
    assert_eq!(
        found,
        ["events::expand::expand", "ids", "store", "store::dynamo"].map(String::from)
    );
}
