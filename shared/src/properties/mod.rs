//! Property tests of every parser that takes outside input: slash-command text, form and JSON
//! bodies, JWTs and call tokens, events, the Lambda envelopes, ids and routes, and the whole
//! request pipeline. Each property runs `PROPTEST_CASES` cases (256 unless set); failures are
//! not persisted to files, a found case becomes a named regression test instead.
//!
//! `linear` runs the text parsers on adversarial inputs of 64 KiB and 1 MiB with the suite and
//! prints the time ratios: `cargo test -p cloudapps --lib properties::linear -- --nocapture`.

mod auth;
mod linear;
mod pipeline;
mod routes;
mod text;
mod wire;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// The default config (256 cases, or `PROPTEST_CASES`), without regression files in the tree.
pub(crate) fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

/// A character that is likely to matter to a parser: quotes of every kind, escapes, form and
/// path syntax, whitespace, NUL and other controls, or any char at all.
pub(crate) fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        4 => prop::sample::select(vec![
            '"', '\'', '\\', '“', '”', '„', '‘', '’', '—', '–', '-', '-', ' ', '\t', '\n', '\r',
            '\0', '\u{7}', '\u{7f}', '\u{a0}', '\u{2028}', '\u{202e}', '\u{feff}', '%', '&', '=',
            '+', ';', '/', '.', '?', '#', '@', '~', ',', '{', '}', '[', ']', ':', 'é', '😀',
        ]),
        2 => proptest::char::range('a', 'z'),
    ]
}

/// A short string of [`nasty_char`]s, now and then one repeated into a very long token.
pub(crate) fn nasty_string() -> impl Strategy<Value = String> {
    let short = || prop::collection::vec(nasty_char(), 0..16).prop_map(String::from_iter);
    prop_oneof![
        20 => short(),
        1 => (short(), 500usize..5000).prop_map(|(s, n)| s.repeat(n.min(20_000 / s.len().max(1)))),
    ]
}

/// Any JSON value, a few levels deep, with nasty strings and keys drawn from `keys` or random.
pub(crate) fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        nasty_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::vec((key(keys), inner), 0..6)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect())),
        ]
    })
}

/// A key a parser knows (from `keys`) or any other.
pub(crate) fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    if keys.is_empty() {
        return nasty_string().boxed();
    }
    prop_oneof![
        3 => prop::sample::select(keys).prop_map(str::to_owned),
        1 => nasty_string(),
    ]
    .boxed()
}

/// A near-valid JSON object: known keys (with values of any type) and some unknown ones.
pub(crate) fn json_object(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((key(keys), json_value(keys)), 0..10)
        .prop_map(|kvs| Value::Object(kvs.into_iter().collect::<Map<_, _>>()))
}

/// JSON text: a near-valid object, a value of another type, nesting deeper than any parser
/// should recurse, or broken text.
pub(crate) fn json_text(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => json_object(keys).prop_map(|v| v.to_string().into_bytes()),
        1 => json_value(keys).prop_map(|v| v.to_string().into_bytes()),
        1 => (1usize..5000, prop::sample::select(vec!["[", "{\"a\":", "[{\"values\":"]))
            .prop_map(|(depth, open)| open.repeat(depth).into_bytes()),
        1 => (json_object(keys), any::<prop::sample::Index>(), nasty_string()).prop_map(
            |(v, cut, junk)| {
                let text = v.to_string();
                let at = cut.index(text.len() + 1);
                let mut bytes = text.into_bytes();
                bytes.truncate(at);
                bytes.extend_from_slice(junk.as_bytes());
                bytes
            }
        ),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

/// A form-encoded body: well-encoded pairs with known or random keys and nasty values, mixed
/// with raw pieces (`%` escapes, broken escapes, `+`, bare keys, empty pairs).
pub(crate) fn form_text(keys: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let pair = prop_oneof![
        4 => (key(keys), nasty_string())
            .prop_map(|(k, v)| serde_html_form::to_string([(k, v)]).unwrap_or_default()),
        1 => (key(keys), prop::sample::select(vec![
            "%", "%2", "%zz", "%00", "%e2%80", "%ff%fe", "+", "%2B%2b", "a=b=c", "%C3%A9", "%E2%80%94",
        ])).prop_map(|(k, raw)| format!("{k}={raw}")),
        1 => nasty_string(),
    ];
    prop_oneof![
        8 => prop::collection::vec(pair, 0..12).prop_map(|pairs| pairs.join("&").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn strategies_produce_what_they_promise() {
    // The deep-nesting arm must go past serde_json's recursion limit (128) to test anything.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let deepest = (0..200)
        .filter_map(|_| {
            let text = json_text(&[]).new_tree(&mut runner).ok()?.current();
            Some(text.iter().take_while(|b| **b == b'[').count())
        })
        .max()
        .unwrap_or(0);
    assert!(deepest > 128, "deepest nesting generated: {deepest}");
}
