//! Slash-command text (the tokenizer and `decode` against bindings) and the classic form bodies
//! it arrives in.

use proptest::prelude::*;

use super::{config, form_text, json_text, json_value, nasty_string};
use crate::apps::BuiltinApps;
use crate::command::slash::{decode, tokenize};
use crate::events::Event;
use crate::protocol::apps::{Binding, Call, Field, FieldType, Form, SelectOption, location};
use crate::protocol::classic::{OutgoingWebhookRequest, SlashCommandRequest};

pub(crate) const SLASH_KEYS: &[&str] = &[
    "token",
    "team_id",
    "team_domain",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "command",
    "text",
    "trigger_id",
    "root_id",
    "response_url",
    "user_mentions",
    "user_mentions_ids",
    "channel_mentions",
    "channel_mentions_ids",
];

pub(crate) const WEBHOOK_KEYS: &[&str] = &[
    "token",
    "team_id",
    "team_domain",
    "channel_id",
    "channel_name",
    "timestamp",
    "user_id",
    "user_name",
    "post_id",
    "text",
    "trigger_word",
    "file_ids",
];

/// The command bindings of every built-in app, as a slash command walks them.
pub(crate) fn builtin_commands() -> Vec<Binding> {
    BuiltinApps::all()
        .iter()
        .flat_map(|(_, app)| app.bindings())
        .filter(|b| b.location == location::COMMAND)
        .flat_map(|b| b.bindings)
        .collect()
}

/// Every label and `--flag` in `bindings`, for text that walks them.
fn vocabulary(bindings: &[Binding]) -> Vec<String> {
    let mut words = Vec::new();
    for b in bindings {
        words.push(b.label.clone());
        for f in b.form.iter().flat_map(|f| &f.fields) {
            words.push(format!("--{}", f.flag()));
            words.push(format!("--{}=", f.flag()));
            words.extend(f.options.iter().map(|o| o.value.clone()));
        }
        words.extend(vocabulary(&b.bindings));
    }
    words
}

/// One word of command text: a label or flag the bindings know, shell-ish syntax, JSON for
/// `--json`, or anything.
fn word(vocabulary: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vocabulary),
        2 => prop::sample::select(vec![
            "--", "---", "—", "——", "--json", "--json=", "--help", "help", "\"", "'", "\\", "\\\"",
            "“", "”", "‘", "’", "„", "\"\"", "''", "@", "@alice", "~", "~town-square", ",", "true",
            "no", "-1", "=",
        ])
        .prop_map(str::to_owned),
        2 => nasty_string(),
        1 => json_value(&["message", "shout"]).prop_map(|v| format!("'{v}'")),
        1 => nasty_string().prop_map(|s| format!("\"{s}\"")),
        1 => nasty_string().prop_map(|s| format!("—{s}")),
    ]
}

/// Command text built from [`word`]s and random separators.
pub(crate) fn command_text(vocabulary: Vec<String>) -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            word(vocabulary),
            prop::sample::select(vec![" ", " ", "  ", "\t", "\n", "\u{a0}", ""]),
        ),
        0..12,
    )
    .prop_map(|words| words.into_iter().map(|(w, sep)| w + sep).collect())
}

/// A slash command request with the given text, a trigger and mentions that may or may not
/// line up.
fn slash_request(
    triggers: Vec<String>,
    text: impl Strategy<Value = String>,
) -> impl Strategy<Value = SlashCommandRequest> {
    let names = prop::collection::vec(prop_oneof![Just("alice".to_owned()), nasty_string()], 0..4);
    (
        prop_oneof![3 => prop::sample::select(triggers), 1 => nasty_string()],
        text,
        names.clone(),
        names.clone(),
        names.clone(),
        names,
    )
        .prop_map(|(trigger, text, users, user_ids, channels, channel_ids)| {
            SlashCommandRequest {
                command: format!("/{trigger}"),
                text,
                user_id: "u1".into(),
                user_mentions: users,
                user_mentions_ids: user_ids,
                channel_mentions: channels,
                channel_mentions_ids: channel_ids,
                ..Default::default()
            }
        })
}

/// Bindings an app might send: nested up to three levels, with forms of every field type.
fn bindings() -> impl Strategy<Value = Vec<Binding>> {
    let label = prop_oneof![
        3 => prop::sample::select(vec!["go", "send", "help", "a", "Send", "x-y"]).prop_map(str::to_owned),
        1 => nasty_string(),
    ];
    let kind = prop::sample::select(vec![
        FieldType::Text,
        FieldType::StaticSelect,
        FieldType::DynamicSelect,
        FieldType::Bool,
        FieldType::User,
        FieldType::Channel,
        FieldType::Markdown,
    ]);
    let field = (
        label.clone(),
        kind,
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0i64), Just(1), Just(2), Just(-1), any::<i64>()],
        prop::collection::vec(label.clone(), 0..3),
        prop_oneof![Just(String::new()), label.clone()],
    )
        .prop_map(
            |(name, kind, is_required, multiselect, position, options, flag)| Field {
                name,
                kind,
                is_required,
                multiselect,
                position,
                label: flag,
                options: options
                    .into_iter()
                    .map(|o| SelectOption {
                        label: o.clone(),
                        value: o,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        );
    let call = prop_oneof![
        Just(None),
        prop_oneof![
            Just("/send".to_owned()),
            Just(String::new()),
            nasty_string()
        ]
        .prop_map(|p| Some(Call::path(p))),
    ];
    let form = (
        prop::collection::vec(field, 0..5),
        call.clone(),
        call.clone(),
    )
        .prop_map(|(fields, submit, source)| Form {
            fields,
            submit,
            source,
            ..Default::default()
        });
    let leaf =
        (label.clone(), prop::option::of(form), call).prop_map(|(label, form, submit)| Binding {
            label,
            form,
            submit,
            ..Default::default()
        });
    let tree = leaf.prop_recursive(3, 12, 4, move |inner| {
        (label.clone(), prop::collection::vec(inner, 0..4)).prop_map(|(label, bindings)| Binding {
            label,
            bindings,
            ..Default::default()
        })
    });
    prop::collection::vec(tree, 1..3)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tokenize_never_panics(text in prop_oneof![nasty_string(), command_text(vec!["send".into()])]) {
        let _ = tokenize(&text);
    }

    /// Words without whitespace or quotes are split back exactly as they were joined.
    #[test]
    fn tokenize_splits_plain_words(words in prop::collection::vec("[^\\s\"'“”„‘’—]+", 0..8)) {
        prop_assert_eq!(tokenize(&words.join(" ")), Ok(words));
    }

    /// Any word survives double quoting with `\"` for its quotes, unless it ends in a backslash
    /// (which would escape the closing quote) or holds quotes the tokenizer normalises.
    #[test]
    fn tokenize_keeps_a_quoted_word_whole(
        word in nasty_string().prop_filter("a word the tokenizer keeps as typed", |w| {
            !w.ends_with('\\') && !w.starts_with('—') && !w.contains(['“', '”', '„', '‘', '’'])
        })
    ) {
        let quoted = format!("\"{}\"", word.replace('"', "\\\""));
        prop_assert_eq!(tokenize(&quoted), Ok(vec![word]));
    }

    #[test]
    fn decode_against_the_builtin_apps_never_panics(
        req in slash_request(
            vec!["hello".into(), "marketplace".into(), "notices".into()],
            command_text(vocabulary(&builtin_commands())),
        )
    ) {
        let commands = builtin_commands();
        if let Ok(command) = decode(&req, &commands) {
            prop_assert!(!command.path.is_empty());
        }
    }

    #[test]
    fn decode_against_any_bindings_never_panics(
        (commands, req) in bindings().prop_flat_map(|commands| {
            let triggers: Vec<String> = commands.iter().map(|b| b.label.clone()).collect();
            let text = command_text(vocabulary(&commands));
            (Just(commands), slash_request(triggers, text))
        })
    ) {
        if let Ok(command) = decode(&req, &commands) {
            prop_assert!(!command.path.is_empty());
        }
    }

    #[test]
    fn slash_command_forms_never_panic(body in form_text(SLASH_KEYS)) {
        if let Ok(req) = serde_html_form::from_bytes::<SlashCommandRequest>(&body) {
            let _ = decode(&req, &builtin_commands());
        }
    }

    /// A request encoded the way Mattermost does is read back as it was.
    #[test]
    fn slash_command_forms_round_trip(req in slash_request(vec!["hello".into()], nasty_string())) {
        let body = serde_html_form::to_string(&req).unwrap();
        let back: SlashCommandRequest = serde_html_form::from_str(&body).unwrap();
        prop_assert_eq!(back, req);
    }

    #[test]
    fn outgoing_webhooks_never_panic(
        form in form_text(WEBHOOK_KEYS),
        json in json_text(WEBHOOK_KEYS),
    ) {
        if let Ok(hook) = serde_html_form::from_bytes::<OutgoingWebhookRequest>(&form) {
            let _ = Event::from_outgoing_webhook(&hook, false).validate();
        }
        if let Ok(hook) = serde_json::from_slice::<OutgoingWebhookRequest>(&json) {
            let _ = Event::from_outgoing_webhook(&hook, true).validate();
        }
    }
}
