//! `hello`: the smallest app that exercises the whole command path. `/hello send <message>`
//! (or the post-menu item "Say hello") answers with a greeting; without a message it returns a
//! form, and the form's submission is validated field by field.

use serde_json::Map;

use super::{App, Endpoint, Handler};
use crate::command::Command;
use crate::paths::AppRoute;
use crate::protocol::apps::{
    Binding, Call, CallResponse, Expand, Field, FieldType, Form, Manifest, Permission, location,
};

pub const APP_ID: &str = "hello";
pub const VERSION: &str = "v1.1.0";
/// The call that returns the form.
pub const SEND_FORM: &str = "/send-form";
/// The call that takes the form's submission.
pub const SEND: &str = "/send";
/// The lookup of the form's greeting select.
pub const GREETINGS: &str = "/greetings";
/// The call that returns the configuration form (the marketplace's configure convention).
pub const CONFIGURE: &str = "/configure";
/// The call that validates a configuration; its `data` is stored.
pub const CONFIGURE_SUBMIT: &str = "/configure/submit";
/// The lifecycle calls Mattermost makes on install, uninstall and version change.
pub const INSTALLED: &str = "/installed";
pub const UNINSTALLING: &str = "/uninstalling";
pub const VERSION_CHANGED: &str = "/version-changed";
const MAX_MESSAGE: usize = 1000;
const MAX_GREETING: usize = 40;
const DEFAULT_GREETING: &str = "Hello";

pub struct Hello;

/// The app, as a function binary names it.
pub const APP: Hello = Hello;

fn submit_call() -> Call {
    Call {
        expand: Some(Box::new(Expand {
            acting_user: "summary".into(),
            ..Default::default()
        })),
        ..Call::path(SEND)
    }
}

/// The form of `send`, on the command line and in the modal alike.
pub fn send_form() -> Form {
    Form {
        title: "Say hello".into(),
        header: "Send a greeting; add --shout to make it loud.".into(),
        submit: Some(submit_call()),
        fields: vec![
            Field {
                is_required: true,
                position: -1,
                description: "What to say".into(),
                hint: "text".into(),
                max_length: MAX_MESSAGE as i64,
                ..Field::new("message", FieldType::Text)
            },
            Field {
                description: "Say it in capitals".into(),
                ..Field::new("shout", FieldType::Bool)
            },
            Field {
                description: "Greet with this instead of the usual greeting".into(),
                hint: "greeting".into(),
                lookup: Some(Call::path(GREETINGS)),
                ..Field::new("greeting", FieldType::DynamicSelect)
            },
        ],
        ..Default::default()
    }
}

/// Every route with a function of its own, and every call path. The configuration calls are
/// the marketplace's, made in-process; every other call path has a function.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::served(AppRoute::Manifest, "hello-manifest"),
    Endpoint::served(AppRoute::SlashCommand, "hello-command"),
    Endpoint::served(AppRoute::PostAction, "hello-action"),
    Endpoint::served(AppRoute::Dialog, "hello-dialog"),
    Endpoint::served(AppRoute::OutgoingWebhook, "hello-outgoing"),
    Endpoint::ping("hello-ping"),
    Endpoint::bindings("hello-bindings"),
    Endpoint::call(
        SEND_FORM,
        "hello-send-form",
        Handler::Reply(|_| CallResponse::form(send_form())),
    ),
    Endpoint::call(SEND, "hello-send", Handler::Reply(send)),
    Endpoint::call(GREETINGS, "hello-greetings", Handler::Reply(greetings)),
    Endpoint::local_call(
        CONFIGURE,
        Handler::Reply(|c| CallResponse::form(configure_form(c))),
    ),
    Endpoint::local_call(CONFIGURE_SUBMIT, Handler::Reply(configure)),
    Endpoint::call(
        INSTALLED,
        "hello-installed",
        Handler::Reply(|_| CallResponse::ok("Hello is installed. Try `/hello send hi`.")),
    ),
    Endpoint::call(
        VERSION_CHANGED,
        "hello-version-changed",
        Handler::Reply(version_changed),
    ),
    Endpoint::call(
        UNINSTALLING,
        "hello-uninstalling",
        Handler::Reply(uninstalling),
    ),
];

impl App for Hello {
    fn id(&self) -> &'static str {
        APP_ID
    }

    fn endpoints(&self) -> &'static [Endpoint] {
        ENDPOINTS
    }

    fn manifest(&self) -> Manifest {
        Manifest {
            app_id: APP_ID.into(),
            version: VERSION.into(),
            display_name: "Hello".into(),
            description: "Says hello. A built-in app that proves the command path end to end."
                .into(),
            homepage_url: "https://developers.mattermost.com/integrate/apps/".into(),
            requested_permissions: vec![
                Permission::ActAsBot,
                Permission::ActAsUser,
                Permission::UserJoinedChannelNotification,
            ],
            requested_locations: vec![location::COMMAND.into(), location::POST_MENU.into()],
            on_install: Some(Call::path(INSTALLED)),
            on_uninstall: Some(Call::path(UNINSTALLING)),
            on_version_changed: Some(Call::path(VERSION_CHANGED)),
            ..Default::default()
        }
    }

    fn bindings(&self) -> Vec<Binding> {
        vec![
            Binding {
                location: location::COMMAND.into(),
                bindings: vec![Binding {
                    label: APP_ID.into(),
                    description: "Say hello".into(),
                    hint: "[send]".into(),
                    bindings: vec![Binding {
                        label: "send".into(),
                        description: "Send a greeting".into(),
                        hint: "<message> [--shout]".into(),
                        form: Some(send_form()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            Binding {
                location: location::POST_MENU.into(),
                bindings: vec![Binding {
                    location: "say-hello".into(),
                    label: "Say hello".into(),
                    form: Some(Form {
                        source: Some(Call::path(SEND_FORM)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            },
        ]
    }
}

fn version_changed(command: &Command) -> CallResponse {
    CallResponse::ok(format!(
        "Hello moved from {} to {VERSION}.",
        command.text("prev_version").unwrap_or("an unknown version")
    ))
}

/// Refuses while locked in the configuration.
fn uninstalling(command: &Command) -> CallResponse {
    if command.config.get("locked") == Some(&true.into()) {
        CallResponse::error(
            "Hello is locked against removal: unlock it in its configuration, or force the uninstall.",
        )
    } else {
        CallResponse::ok("Goodbye.")
    }
}

fn send(command: &Command) -> CallResponse {
    let Some(message) = command.text("message") else {
        let mut errors = Map::new();
        errors.insert("message".into(), "Write something to say.".into());
        return CallResponse::field_errors("The message is missing.", errors);
    };
    if message.chars().count() > MAX_MESSAGE {
        let mut errors = Map::new();
        errors.insert(
            "message".into(),
            format!("At most {MAX_MESSAGE} characters, please.").into(),
        );
        return CallResponse::field_errors("The message is too long.", errors);
    }
    let message = if command.flag("shout") {
        message.to_uppercase()
    } else {
        message.to_owned()
    };
    let who = match &command.context.acting_user {
        Some(u) if !u.username.is_empty() => format!("@{}", u.username),
        _ => "you".to_owned(),
    };
    let greeting = match command.option("greeting").map(str::trim) {
        Some(g) if g.chars().count() > MAX_GREETING => {
            let mut errors = Map::new();
            errors.insert(
                "greeting".into(),
                format!("At most {MAX_GREETING} characters.").into(),
            );
            return CallResponse::field_errors("The greeting is too long.", errors);
        }
        Some(g) if !g.is_empty() => g,
        _ => configured_greeting(command),
    };
    CallResponse::ok(format!("{greeting}, {who}! You said: {message}"))
}

fn configured_greeting(command: &Command) -> &str {
    command
        .config
        .get("greeting")
        .and_then(|g| g.as_str())
        .unwrap_or(DEFAULT_GREETING)
}

/// Greetings to choose from: the configured one first, then some in other languages; those
/// containing what the user typed.
fn greetings(command: &Command) -> CallResponse {
    const OTHERS: [&str; 9] = [
        "Hello", "Hi", "Hoi", "Hallo", "Bonjour", "Hola", "Ciao", "Namaste", "Salaam",
    ];
    let query = command.query.trim().to_lowercase();
    let mut seen = std::collections::HashSet::new();
    let items: Vec<_> = std::iter::once(configured_greeting(command))
        .chain(OTHERS)
        .filter(|g| seen.insert(*g) && g.to_lowercase().contains(&query))
        .map(|g| serde_json::json!({"label": g, "value": g}))
        .collect();
    CallResponse::ok_data(serde_json::json!({ "items": items }))
}

/// The configuration form, filled with the current values.
fn configure_form(command: &Command) -> Form {
    let greeting = command
        .config
        .get("greeting")
        .cloned()
        .unwrap_or_else(|| DEFAULT_GREETING.into());
    let locked = command
        .config
        .get("locked")
        .cloned()
        .unwrap_or(false.into());
    Form {
        title: "Configure Hello".into(),
        submit: Some(Call::path(CONFIGURE_SUBMIT)),
        fields: vec![
            Field {
                is_required: true,
                value: Some(greeting),
                description: "How Hello greets".into(),
                max_length: MAX_GREETING as i64,
                ..Field::new("greeting", FieldType::Text)
            },
            Field {
                value: Some(locked),
                description: "Refuse to be uninstalled unless forced".into(),
                ..Field::new("locked", FieldType::Bool)
            },
        ],
        ..Default::default()
    }
}

/// Validates a configuration; the answer's data is what the host stores.
fn configure(command: &Command) -> CallResponse {
    let mut errors = Map::new();
    match command.text("greeting") {
        None => {
            errors.insert("greeting".into(), "Say how Hello should greet.".into());
        }
        Some(g) if g.chars().count() > MAX_GREETING => {
            errors.insert(
                "greeting".into(),
                format!("At most {MAX_GREETING} characters.").into(),
            );
        }
        Some(_) => {}
    }
    if !errors.is_empty() {
        return CallResponse::field_errors("The configuration was not saved.", errors);
    }
    CallResponse::ok_data(serde_json::json!({
        "greeting": command.text("greeting"),
        "locked": command.flag("locked"),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::apps::{CallRequest, ResponseType};

    fn command(path: &str, values: serde_json::Value) -> Command {
        let req: CallRequest = serde_json::from_value(json!({
            "values": values,
            "context": {"acting_user": {"id": "u1", "username": "alice"}}
        }))
        .unwrap();
        Command::from_call(path, req)
    }

    /// What the handler bound to `path` answers.
    fn reply(path: &str, values: serde_json::Value) -> Option<CallResponse> {
        match Hello.handler(path)? {
            Handler::Reply(reply) => Some(reply(&command(path, values))),
            _ => None,
        }
    }

    #[test]
    fn send_greets_and_shouts() {
        let r = reply(SEND, json!({"message": "hi there", "shout": true})).unwrap();
        assert_eq!(r, CallResponse::ok("Hello, @alice! You said: HI THERE"));
    }

    #[test]
    fn send_validates_its_field() {
        let r = reply(SEND, json!({"message": "  "})).unwrap();
        assert_eq!(r.kind, ResponseType::Error);
        assert!(r.errors().unwrap().contains_key("message"));
        let long = "x".repeat(MAX_MESSAGE + 1);
        let r = reply(SEND, json!({ "message": long })).unwrap();
        assert!(
            r.errors().unwrap()["message"]
                .as_str()
                .unwrap()
                .contains("1000")
        );
    }

    #[test]
    fn send_form_returns_the_form_and_unknown_paths_have_no_handler() {
        let r = reply(SEND_FORM, json!({})).unwrap();
        assert_eq!(r.form.unwrap().submit.unwrap().path, SEND);
        assert!(Hello.handler("/nope").is_none());
    }

    #[test]
    fn the_greeting_is_chosen_from_a_lookup_or_typed() {
        let mut lookup = command(GREETINGS, json!({}));
        lookup.query = "HO".into();
        lookup.config.insert("greeting".into(), "Ahoy".into());
        let Some(Handler::Reply(greetings)) = Hello.handler(GREETINGS) else {
            panic!("no handler for {GREETINGS}");
        };
        assert_eq!(
            greetings(&lookup).data.unwrap()["items"],
            json!([{"label": "Ahoy", "value": "Ahoy"}, {"label": "Hoi", "value": "Hoi"},
                   {"label": "Hola", "value": "Hola"}])
        );
        let chosen = json!({"message": "hi", "greeting": {"label": "Hoi", "value": "Hoi"}});
        assert_eq!(
            reply(SEND, chosen).unwrap(),
            CallResponse::ok("Hoi, @alice! You said: hi")
        );
        let typed = json!({"message": "hi", "greeting": "x".repeat(MAX_GREETING + 1)});
        assert!(
            reply(SEND, typed)
                .unwrap()
                .errors()
                .unwrap()
                .contains_key("greeting")
        );
    }

    #[test]
    fn uninstalling_is_refused_while_locked() {
        let mut locked = command(UNINSTALLING, json!({}));
        locked.config.insert("locked".into(), true.into());
        let Some(Handler::Reply(uninstalling)) = Hello.handler(UNINSTALLING) else {
            panic!("no handler for {UNINSTALLING}");
        };
        assert_eq!(uninstalling(&locked).kind, ResponseType::Error);
        assert_eq!(
            reply(UNINSTALLING, json!({})).unwrap(),
            CallResponse::ok("Goodbye.")
        );
    }
}
