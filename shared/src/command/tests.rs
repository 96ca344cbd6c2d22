use serde_json::{Value, json};

use super::*;
use crate::protocol::apps::{Binding, Call, Field, FieldType, Form, ResponseType, SelectOption};
use crate::protocol::classic::{ResponseVisibility, SlashCommandRequest};

/// `/todo add <title...> [--priority high|low] [--urgent] [--owner @user]` and `/todo list`.
fn commands() -> Vec<Binding> {
    let title = Field {
        position: -1,
        is_required: true,
        description: "what to do".into(),
        ..Field::new("title", FieldType::Text)
    };
    let priority = Field {
        options: vec![
            SelectOption {
                label: "High".into(),
                value: "high".into(),
                ..Default::default()
            },
            SelectOption {
                label: "Low".into(),
                value: "low".into(),
                ..Default::default()
            },
        ],
        ..Field::new("priority", FieldType::StaticSelect)
    };
    let urgent = Field::new("urgent", FieldType::Bool);
    let owner = Field::new("owner", FieldType::User);
    let due = Field::new("due_date", FieldType::Text);
    vec![Binding {
        label: "todo".into(),
        bindings: vec![
            Binding {
                label: "add".into(),
                description: "Add a todo".into(),
                form: Some(Form {
                    title: "Add a todo".into(),
                    submit: Some(Call::path("/add")),
                    fields: vec![title, priority, urgent, owner, due],
                    ..Default::default()
                }),
                ..Default::default()
            },
            Binding {
                label: "list".into(),
                hint: "show all".into(),
                submit: Some(Call::path("/list")),
                ..Default::default()
            },
        ],
        ..Default::default()
    }]
}

fn slash(text: &str) -> SlashCommandRequest {
    SlashCommandRequest {
        command: "/todo".into(),
        text: text.into(),
        user_id: "u1".into(),
        user_name: "alice".into(),
        channel_id: "c1".into(),
        channel_name: "townsquare".into(),
        team_id: "t1".into(),
        team_domain: "acme".into(),
        trigger_id: "trig".into(),
        user_mentions: vec!["bob".into()],
        user_mentions_ids: vec!["u2".into()],
        ..Default::default()
    }
}

fn run(text: &str) -> Command {
    slash::decode(&slash(text), &commands())
        .unwrap_or_else(|r| panic!("expected a command, got {r:?}"))
}

fn answer(text: &str) -> CallResponse {
    slash::decode(&slash(text), &commands()).expect_err("expected an immediate answer")
}

#[test]
fn flags_positionals_and_the_rest_argument() {
    let cmd = run("add buy milk --priority High --urgent --owner @bob --due-date=friday");
    assert_eq!(cmd.source, Source::SlashCommand);
    assert_eq!(cmd.path, "/add");
    assert_eq!(
        Value::Object(cmd.values.clone()),
        json!({"title": "buy milk", "priority": {"label": "High", "value": "high"}, "urgent": true,
               "owner": {"label": "@bob", "value": "u2"}, "due_date": "friday"})
    );
    assert_eq!(cmd.user_id(), "u1");
    assert_eq!(cmd.context.channel_id(), "c1");
    assert_eq!(cmd.context.location, "/command/todo/add");
    assert_eq!(cmd.context.channel.as_ref().unwrap().name, "townsquare");
    assert_eq!(
        cmd.raw,
        "/todo add buy milk --priority High --urgent --owner @bob --due-date=friday"
    );
    assert_eq!(cmd.trigger_id, "trig");
}

#[test]
fn quoted_words_smart_quotes_and_em_dashes() {
    let cmd = run("add —title “call #42 at 5” --urgent false");
    assert_eq!(cmd.text("title"), Some("call #42 at 5"));
    assert!(!cmd.flag("urgent"));
    assert_eq!(
        slash::tokenize(r#"a "b \"c\" d" 'e f'"#).unwrap(),
        ["a", "b \"c\" d", "e f"]
    );
    assert_eq!(
        slash::tokenize(r"C:\path #tag").unwrap(),
        [r"C:\path", "#tag"]
    );
}

#[test]
fn json_input_is_accepted_as_encoded_values() {
    let cmd = run(r#"add --json '{"title":"from json","urgent":true}'"#);
    assert_eq!(cmd.text("title"), Some("from json"));
    assert!(cmd.flag("urgent"));
    let resp = answer("add --json '{not json}'");
    assert_eq!(resp.kind, ResponseType::Error);
    assert!(resp.text.contains("--json"), "{}", resp.text);
}

#[test]
fn missing_required_fields_open_the_form_prefilled() {
    let resp = answer("add --priority low");
    assert_eq!(resp.kind, ResponseType::Form);
    let form = resp.form.unwrap();
    let priority = form.fields.iter().find(|f| f.name == "priority").unwrap();
    assert_eq!(
        priority.value,
        Some(json!({"label": "Low", "value": "low"}))
    );
    assert_eq!(form.submit.unwrap().path, "/add");
}

#[test]
fn bad_input_explains_itself_with_usage() {
    for (text, expect) in [
        ("add x --colour red", "Unknown flag `--colour`"),
        ("add x --priority urgent", "not one of: high, low"),
        ("add x --owner @nobody", "not a user"),
        ("add x --urgent=maybe", "true or false"),
        ("add \"unclosed", "unclosed"),
        ("add x --priority", "needs a value"),
        ("list extra", "Unexpected argument `extra`"),
    ] {
        let resp = answer(text);
        assert_eq!(resp.kind, ResponseType::Error, "{text}");
        assert!(resp.text.contains(expect), "{text}: {}", resp.text);
    }
    assert!(
        answer("add x --colour red")
            .text
            .contains("Usage: `/todo add <title...> [--priority <priority>]")
    );
}

#[test]
fn help_for_groups_and_unknown_subcommands() {
    for text in ["", "help", "--help"] {
        let resp = answer(text);
        assert_eq!(resp.kind, ResponseType::Ok);
        assert!(
            resp.text.contains("`/todo add` Add a todo")
                && resp.text.contains("`/todo list` show all"),
            "{}",
            resp.text
        );
    }
    let resp = answer("remove 3");
    assert_eq!(resp.kind, ResponseType::Error);
    assert!(resp.text.starts_with("Unknown subcommand `remove`"));
    assert!(answer("add --help").text.starts_with("Usage: `/todo add"));
}

#[test]
fn a_single_command_app_answers_to_any_trigger() {
    let mut req = slash("list");
    req.command = "/tasks".into();
    assert_eq!(slash::decode(&req, &commands()).unwrap().path, "/list");
    let mut two = commands();
    two.push(Binding {
        label: "other".into(),
        submit: Some(Call::path("/o")),
        ..Default::default()
    });
    assert_eq!(
        slash::decode(&req, &two).unwrap_err().kind,
        ResponseType::Error
    );
}

#[test]
fn apps_calls_post_actions_and_dialogs_become_the_same_command() {
    let call: crate::protocol::apps::CallRequest = serde_json::from_value(json!({
        "path": "/add", "values": {"title": "t", "urgent": true},
        "context": {"app_id": "", "mattermost_site_url": "", "app_path": "", "bot_user_id": "", "oauth2": {},
                    "acting_user": {"id": "u1"}, "channel": {"id": "c1", "team_id": "t1"}}
    }))
    .unwrap();
    let v2 = Command::from_call("/add", call);
    let dialog = Command::from_dialog(
        "/add",
        None,
        serde_json::from_value(json!({"type": "dialog_submission", "user_id": "u1", "channel_id": "c1", "team_id": "t1",
                                      "submission": {"title": "t", "urgent": true}}))
        .unwrap(),
    );
    let v1 = run("add t --urgent");
    for cmd in [&v2, &dialog, &v1] {
        assert_eq!(
            (cmd.path.as_str(), cmd.text("title"), cmd.flag("urgent")),
            ("/add", Some("t"), true)
        );
        assert_eq!((cmd.user_id(), cmd.context.channel_id()), ("u1", "c1"));
    }
    let action = Command::from_post_action(
        "/pick",
        Some(json!({"todo": 3})),
        serde_json::from_value(
            json!({"user_id": "u1", "user_name": "alice", "channel_id": "c1", "post_id": "p1",
                                      "context": {"selected_option": "high"}}),
        )
        .unwrap(),
    );
    assert_eq!(action.option("selected_option"), Some("high"));
    assert_eq!(action.context.post_id, "p1");
    assert_eq!(action.state, Some(json!({"todo": 3})));
}

#[test]
fn answers_render_into_each_classic_format() {
    let ok = CallResponse::ok("done");
    assert_eq!(render::slash(&ok).text, "done");
    assert_eq!(
        render::slash(&ok).response_type,
        ResponseVisibility::Ephemeral
    );
    assert_eq!(render::post_action(&ok).ephemeral_text, "done");
    assert_eq!(
        serde_json::to_value(render::dialog(&ok, None)).unwrap(),
        json!({})
    );

    let mut errors = serde_json::Map::new();
    errors.insert("title".into(), "required".into());
    let err = CallResponse::field_errors("Fix the form", errors);
    assert_eq!(
        render::slash(&err).text,
        "Fix the form\n- `title`: required"
    );
    assert_eq!(
        serde_json::to_value(render::dialog(&err, None)).unwrap(),
        json!({"error": "Fix the form", "errors": {"title": "required"}})
    );

    let nav = CallResponse::navigate("https://example.com", true);
    assert_eq!(render::slash(&nav).goto_location, "https://example.com");
    // Mattermost's dialog answer has no URL: the dialog closes and the link is told apart.
    assert_eq!(
        serde_json::to_value(render::dialog(&nav, None)).unwrap(),
        json!({})
    );
    assert_eq!(
        render::dialog_notice(&nav).as_deref(),
        Some("[Open](https://example.com)")
    );
    assert_eq!(render::dialog_notice(&err), None);
    // Field errors that are not strings still reach the user, as text.
    let mut odd = serde_json::Map::new();
    odd.insert("count".into(), json!(3));
    odd.insert("tags".into(), json!(["a"]));
    assert_eq!(
        serde_json::to_value(render::dialog(&CallResponse::field_errors("No", odd), None)).unwrap(),
        json!({"error": "No", "errors": {"count": "3", "tags": "[\"a\"]"}})
    );
    let update = CallResponse::ok_data(json!({"update": {"message": "edited"}}));
    assert_eq!(
        render::post_action(&update).update,
        Some(json!({"message": "edited"}))
    );
}

#[test]
fn forms_become_dialogs_with_every_field_type() {
    let form = commands()[0].bindings[0].form.clone().unwrap();
    let form = Form {
        title: "A title that is much longer than Mattermost allows".into(),
        header: "Intro".into(),
        fields: [
            form.fields,
            vec![
                Field {
                    description: "**Note**".into(),
                    ..Field::new("note", FieldType::Markdown)
                },
                Field {
                    lookup: Some(Call::path("/projects")),
                    ..Field::new("project", FieldType::DynamicSelect)
                },
            ],
        ]
        .concat(),
        ..form
    };
    // A server with dynamic selects looks the options up where the host says; one without has
    // the user type the value.
    let dynamic = render::form_to_dialog(&form, "signed".into(), &|call| {
        Some(format!("https://host.test/lookup?for={}", call.path))
    });
    let project = dynamic.elements.last().unwrap();
    assert_eq!(
        (
            project.kind.as_str(),
            project.data_source.as_str(),
            project.data_source_url.as_str()
        ),
        (
            "select",
            "dynamic",
            "https://host.test/lookup?for=/projects"
        )
    );
    let dialog = render::form_to_dialog(&form, "signed".into(), &|_| None);
    assert_eq!(dialog.state, "signed");
    assert_eq!(dialog.title.chars().count(), 24);
    assert_eq!(dialog.introduction_text, "Intro\n\n**Note**");
    let kinds: Vec<(&str, &str, &str)> = dialog
        .elements
        .iter()
        .map(|e| (e.name.as_str(), e.kind.as_str(), e.data_source.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("title", "text", ""),
            ("priority", "select", ""),
            ("urgent", "bool", ""),
            ("owner", "select", "users"),
            ("due_date", "text", ""),
            ("project", "text", "")
        ]
    );
    assert!(!dialog.elements[0].optional && dialog.elements[1].optional);
    assert_eq!(dialog.elements[1].options[0].text, "High");
}
