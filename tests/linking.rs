//! Each function binary links only what it serves, read from the binary itself: the symbols
//! (`nm`) of the binaries the test command builds. An app's endpoint has no SQS or Lambda SDK,
//! no SQLite and no marketplace operation; only the marketplace's functions have the Lambda
//! SDK; only the event functions have SQS; none has SQLite.

use std::collections::BTreeMap;
use std::process::Command;

use cloudapps::functions::{self, Function, Serves};
use cloudapps::paths::EventRoute;
use cloudapps_tests::workspace_binary;

/// What a binary may contain, each known by a prefix of the symbols that define it.
const PARTS: [(&str, &[&str]); 4] = [
    ("the SQS SDK", &["aws_sdk_sqs::"]),
    ("the Lambda SDK", &["aws_sdk_lambda::"]),
    ("SQLite", &["rusqlite::", "sqlite3_"]),
    (
        "the marketplace's operations",
        &["cloudapps::marketplace::service::Marketplace::install"],
    ),
];

/// Which of [`PARTS`] the function serving `f` needs.
fn needs(f: &Function) -> [bool; 4] {
    let marketplace_app = f.app() == Some(cloudapps::apps::marketplace::APP_ID);
    match f.serves {
        Serves::App { .. } if marketplace_app => [false, true, false, true],
        Serves::App { .. } => [false, false, false, false],
        Serves::Marketplace(_) => [false, true, false, true],
        Serves::Events(
            EventRoute::Ingest | EventRoute::DeadLetters | EventRoute::Subscriptions,
        )
        | Serves::FanOut => [true, false, false, false],
        Serves::CatalogPublish => [false, false, false, false],
    }
}

/// Which of [`PARTS`] the binary defines symbols of (drop glue of a type is not the type's code).
fn contains(binary: &str) -> [bool; 4] {
    let out = Command::new("nm")
        .arg("-C")
        .arg(workspace_binary(binary))
        .output()
        .expect("nm (binutils) runs");
    assert!(out.status.success(), "nm {binary} failed");
    let symbols = String::from_utf8_lossy(&out.stdout);
    let defined: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.splitn(3, ' ').nth(2))
        .filter(|s| !s.starts_with("core::ptr::drop_in_place"))
        .collect();
    PARTS.map(|(_, prefixes)| {
        defined.iter().any(|s| {
            prefixes
                .iter()
                .any(|p| s.starts_with(p) || s.contains(&format!("<{p}")))
        })
    })
}

#[test]
fn each_function_links_only_what_it_serves() {
    let mut wrong: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in functions::all() {
        let (needs, has) = (needs(f), contains(f.name));
        for (i, (part, _)) in PARTS.iter().enumerate() {
            if needs[i] != has[i] {
                let why = if has[i] { "links" } else { "lacks" };
                wrong
                    .entry(f.name)
                    .or_default()
                    .push(format!("{why} {part}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
