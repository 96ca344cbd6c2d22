//! Linear time in input size, measured, not asserted (tests never assert on wall-clock time):
//! each text parser runs on adversarial inputs of n and 16n bytes, which must be handled without
//! a panic, and the ratio of the times is printed. About 16 is linear; about 256 is quadratic (and
//! a quadratic parser makes this test take minutes instead of seconds).
//!
//! Runs with the suite; to read the figures:
//! `cargo test -p cloudapps --lib properties::linear -- --nocapture` (add `--release` for figures
//! closer to production, and `LINEAR_RUNS=3` to take the best of three runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;

use super::text::builtin_commands;
use crate::auth::verify_app_jwt;
use crate::command::slash::{decode, tokenize};
use crate::events::Event;
use crate::http::testing::{Handle, request};
use crate::protocol::apps::{Binding, CallRequest, Field, FieldType, Form};
use crate::protocol::classic::SlashCommandRequest;

const N: usize = 64 * 1024;

/// The best of `LINEAR_RUNS` runs (1 unless set) of `work` on `input(n)`.
fn time<I>(n: usize, input: &impl Fn(usize) -> I, work: &impl Fn(&I)) -> Duration {
    let input = input(n);
    let runs: usize = std::env::var("LINEAR_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            work(black_box(&input));
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn measure<I>(name: &str, input: impl Fn(usize) -> I, work: impl Fn(&I)) {
    let small = time(N, &input, &work);
    let large = time(16 * N, &input, &work);
    println!(
        "{name:<48} {:>10.3} ms {:>10.3} ms  x{:.1}",
        small.as_secs_f64() * 1e3,
        large.as_secs_f64() * 1e3,
        large.as_secs_f64() / small.as_secs_f64().max(1e-9)
    );
}

/// `unit` repeated to about `n` bytes.
fn fill(unit: &str, n: usize) -> String {
    unit.repeat(n / unit.len())
}

fn slash(text: String) -> SlashCommandRequest {
    SlashCommandRequest {
        command: "/hello".into(),
        text,
        ..Default::default()
    }
}

/// A command whose form takes users, as an app may bind one.
fn users_command() -> Vec<Binding> {
    vec![Binding {
        label: "hello".into(),
        form: Some(Form {
            fields: vec![Field {
                multiselect: true,
                ..Field::new("users", FieldType::User)
            }],
            submit: Some(crate::protocol::apps::Call::path("/users")),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

#[test]
fn text_parsers_take_time_linear_in_their_input() {
    println!(
        "{:<48} {:>13} {:>13}  ratio",
        "input", "n = 64 KiB", "16n = 1 MiB"
    );
    let commands = builtin_commands();
    for (name, unit) in [
        ("tokenize: quotes", "\"\""),
        ("tokenize: escaped quotes in one word", "\\\""),
        ("tokenize: backslashes", "\\"),
        ("tokenize: -- words", "-- "),
        ("tokenize: em dashes", "— "),
        ("tokenize: typographic quotes", "“”‘’"),
    ] {
        let wrap = unit == "\\\"";
        measure(
            name,
            |n| {
                let body = fill(unit, n);
                if wrap { format!("\"{body}\"") } else { body }
            },
            |text| {
                let _ = tokenize(text);
            },
        );
    }
    for (name, prefix, unit) in [
        ("decode: repeated flag", "send x ", "--shout "),
        ("decode: unknown flags", "send x ", "--nope "),
        ("decode: positional words", "send ", "word "),
        (
            "decode: --json flat object",
            "send --json '{\"message\":\"hi\"",
            ",\"k\":1",
        ),
        ("decode: --json deep nesting", "send --json '", "{\"a\":"),
        (
            "decode: --json long string",
            "send --json '{\"message\":\"",
            "\\\"",
        ),
    ] {
        measure(
            name,
            |n| slash(format!("{prefix}{}'", fill(unit, n))),
            |req| {
                let _ = decode(req, &commands);
            },
        );
    }
    let users = users_command();
    measure(
        "decode: user mentions (n names, n mentions)",
        |n| {
            let count = n / 8;
            SlashCommandRequest {
                user_mentions: (0..count).map(|i| format!("u{i}")).collect(),
                user_mentions_ids: (0..count).map(|i| format!("id{i}")).collect(),
                ..slash(format!(
                    "--users {}",
                    (0..count)
                        .map(|i| format!("@u{i}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ))
            }
        },
        |req| {
            let _ = decode(req, &users);
        },
    );
    for (name, unit) in [
        ("form: escaped quotes in text", "text=%22%5C"),
        ("form: repeated mention keys", "user_mentions=a&"),
        ("form: unknown keys", "x=1&"),
        ("form: broken escapes", "text=%%zz"),
    ] {
        measure(
            name,
            |n| fill(unit, n).into_bytes(),
            |body| {
                let _ = serde_html_form::from_bytes::<SlashCommandRequest>(body);
            },
        );
    }
    for (name, build) in [
        (
            "json call: long escaped string",
            (|n| json!({"path": "/send", "values": {"message": fill("\"\\", n / 2)}}).to_string())
                as fn(usize) -> String,
        ),
        ("json call: wide values", |n| {
            let values: serde_json::Map<_, _> =
                (0..n / 12).map(|i| (format!("k{i}"), json!(i))).collect();
            json!({"values": values}).to_string()
        }),
        ("json call: deep nesting", |n| {
            format!("{{\"state\":{}", fill("[", n))
        }),
    ] {
        measure(name, build, |body| {
            let _ = serde_json::from_str::<CallRequest>(body);
        });
    }
    measure(
        "json event: long text",
        |n| {
            json!({"kind": "message_posted", "user_id": "u", "channel_id": "c", "post_id": "p",
                   "text": fill("é\\n", n)})
            .to_string()
        },
        |body| {
            if let Ok(e) = serde_json::from_str::<Event>(body) {
                let _ = e.validate();
            }
        },
    );
    // The router of every area, on paths no route has.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = crate::store::sqlite::SqliteStore::open_in_memory().unwrap();
    let host = crate::http::Host::new(
        crate::store::InstallState::new(std::sync::Arc::new(store)),
        crate::apps::BuiltinApps::all(),
    );
    let router = host.router();
    for (name, unit) in [
        ("route: many segments", "x/"),
        ("route: dot segments", "../"),
        ("route: trailing slashes", "/"),
    ] {
        for root in ["/t/acme/apps/hello/", "/marketplace/t/acme/apps/"] {
            measure(
                &format!("{name} under {root}"),
                // URIs stop at 64 KiB: a 32nd of the usual sizes.
                |n| format!("{root}{}", fill(unit, n / 32)),
                |path| {
                    let req = request(http::Method::GET, path, http::HeaderMap::new(), "");
                    let _ = rt.block_on(router.handle(req));
                },
            );
        }
    }
    measure(
        "jwt: long token",
        |n| format!("Bearer eyJhbGciOiJIUzI1NiJ9.{}.sig", fill("A", n)),
        |header| {
            let _ = verify_app_jwt(Some(header), "secret");
        },
    );
}
