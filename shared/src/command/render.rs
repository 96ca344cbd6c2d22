//! Rendering a handler's answer back into the wire format the command came in. Apps calls get
//! the [`CallResponse`] itself; classic requests get its closest classic equivalent.

use serde_json::Value;

use crate::protocol::apps::{Call, CallResponse, Field, FieldType, Form, ResponseType};
use crate::protocol::classic::{
    CommandResponse, Dialog, DialogElement, LookupDialogResponse, PostActionIntegrationResponse,
    PostActionOption, SubmitDialogResponse,
};

/// Mattermost refuses dialog titles and element labels longer than this.
const DIALOG_LABEL_MAX: usize = 24;

/// A slash command's answer, shown to the user only. A form reaches here only when no dialog
/// could be opened; it is then described as text.
pub fn slash(resp: &CallResponse) -> CommandResponse {
    match resp.kind {
        ResponseType::Navigate => CommandResponse {
            goto_location: resp.navigate_to_url.clone(),
            ..CommandResponse::ephemeral(format!("Opening {}", resp.navigate_to_url))
        },
        _ => CommandResponse::ephemeral(text(resp)),
    }
}

/// A post action's answer: a note to the clicking user, and the post's replacement when the
/// app returned one as `data.update`.
pub fn post_action(resp: &CallResponse) -> PostActionIntegrationResponse {
    let update = match resp.kind {
        ResponseType::Ok => resp.data.as_ref().and_then(|d| d.get("update")).cloned(),
        _ => None,
    };
    PostActionIntegrationResponse {
        update,
        ephemeral_text: text(resp),
        skip_slack_parsing: false,
    }
}

/// A dialog submission's answer: close on ok (and on navigate), stay open with errors (each a
/// string, as Mattermost decodes them), or chain into the next form (already turned into a
/// dialog by the caller). What it cannot carry, a text or a URL, is [`dialog_notice`].
pub fn dialog(resp: &CallResponse, next: Option<Dialog>) -> SubmitDialogResponse {
    match resp.kind {
        ResponseType::Error => SubmitDialogResponse {
            error: resp.text.clone(),
            errors: resp
                .errors()
                .into_iter()
                .flatten()
                .map(|(field, message)| (field.clone(), plain(message)))
                .collect(),
            ..Default::default()
        },
        ResponseType::Form => SubmitDialogResponse {
            kind: "form".into(),
            form: next,
            ..Default::default()
        },
        ResponseType::Ok | ResponseType::Navigate | ResponseType::Call => {
            SubmitDialogResponse::default()
        }
    }
}

/// A lookup's answer for a dialog's dynamic select: the items of an ok answer
/// (`data.items`, each `{label, value}`), shown by label, else by value; none otherwise.
pub fn lookup(resp: &CallResponse) -> LookupDialogResponse {
    let items = match resp.kind {
        ResponseType::Ok => resp
            .data
            .as_ref()
            .and_then(|d| d.get("items"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let text = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
                let value = text("value");
                (!value.is_empty()).then(|| PostActionOption {
                    text: Some(text("label"))
                        .filter(|l| !l.is_empty())
                        .unwrap_or(value)
                        .to_owned(),
                    value: value.to_owned(),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    LookupDialogResponse { items }
}

/// What the user must still be told after a dialog closes, since its answer has no place for
/// it: an ok's text, or the link to where a navigate answer leads.
pub fn dialog_notice(resp: &CallResponse) -> Option<String> {
    match resp.kind {
        ResponseType::Ok if !resp.text.trim().is_empty() => Some(text(resp)),
        ResponseType::Navigate if !resp.navigate_to_url.is_empty() => Some(text(resp)),
        _ => None,
    }
}

/// A JSON value as text: a string as it is, anything else as JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The text a classic client shows for an answer.
fn text(resp: &CallResponse) -> String {
    match resp.kind {
        ResponseType::Ok => resp.text.clone(),
        ResponseType::Error => {
            let mut text = if resp.text.is_empty() {
                "Something went wrong.".to_owned()
            } else {
                resp.text.clone()
            };
            for (field, message) in resp.errors().into_iter().flatten() {
                text.push_str(&format!("\n- `{field}`: {}", plain(message)));
            }
            text
        }
        ResponseType::Form => resp.form.as_ref().map(form_as_text).unwrap_or_default(),
        ResponseType::Navigate => {
            let label = Some(resp.text.trim()).filter(|t| !t.is_empty());
            format!("[{}]({})", label.unwrap_or("Open"), resp.navigate_to_url)
        }
        ResponseType::Call => {
            "This app answered with a call, which classic integrations cannot run.".into()
        }
    }
}

/// A form as text, for clients that cannot show it as a dialog.
pub fn form_as_text(form: &Form) -> String {
    let mut text = format!(
        "**{}** needs more input:",
        if form.title.is_empty() {
            "This command"
        } else {
            &form.title
        }
    );
    for f in form.fields.iter().filter(|f| f.kind != FieldType::Markdown) {
        let required = if f.is_required { " (required)" } else { "" };
        text.push_str(&format!("\n- `--{}`{required} {}", f.flag(), f.description));
    }
    text
}

/// The dialog for a form. `state` is the signed call token that routes the submission back to
/// the form's `submit` call; `lookup_url` gives the `data_source_url` of a dynamic select's
/// lookup call, `None` where the server has no dynamic selects (the user then types the value).
pub fn form_to_dialog(
    form: &Form,
    state: String,
    lookup_url: &dyn Fn(&Call) -> Option<String>,
) -> Dialog {
    let mut intro = form.header.clone();
    let mut elements = Vec::new();
    for field in &form.fields {
        if field.kind == FieldType::Markdown {
            let md = field.description.as_str();
            let md = if md.is_empty() {
                field
                    .value
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            } else {
                md
            };
            intro = if intro.is_empty() {
                md.to_owned()
            } else {
                format!("{intro}\n\n{md}")
            };
            continue;
        }
        elements.push(element(field, lookup_url));
    }
    Dialog {
        callback_id: String::new(),
        title: clip(if form.title.is_empty() {
            "Form"
        } else {
            &form.title
        }),
        introduction_text: intro,
        icon_url: if form.icon.starts_with("http") {
            form.icon.clone()
        } else {
            String::new()
        },
        elements,
        submit_label: "Submit".into(),
        notify_on_cancel: false,
        state,
    }
}

fn element(field: &Field, lookup_url: &dyn Fn(&Call) -> Option<String>) -> DialogElement {
    let label = [&field.modal_label, &field.label, &field.name]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default();
    let default = match &field.value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Object(o)) => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => String::new(),
    };
    let mut e = DialogElement {
        display_name: clip(&label),
        name: field.name.clone(),
        default,
        placeholder: field.hint.clone(),
        help_text: field.description.clone(),
        optional: !field.is_required,
        ..Default::default()
    };
    match field.kind {
        FieldType::Text if field.subtype == "textarea" => e.kind = "textarea".into(),
        FieldType::Text => {
            e.kind = "text".into();
            e.subtype = match field.subtype.as_str() {
                "" | "input" => String::new(),
                "url" | "email" | "number" | "tel" | "password" => field.subtype.clone(),
                _ => String::new(),
            };
            e.min_length = field.min_length;
            e.max_length = field.max_length;
        }
        FieldType::Bool => e.kind = "bool".into(),
        FieldType::StaticSelect => {
            e.kind = "select".into();
            e.options = field
                .options
                .iter()
                .map(|o| PostActionOption {
                    text: if o.label.is_empty() {
                        o.value.clone()
                    } else {
                        o.label.clone()
                    },
                    value: o.value.clone(),
                })
                .collect();
        }
        FieldType::User => (e.kind, e.data_source) = ("select".into(), "users".into()),
        FieldType::Channel => (e.kind, e.data_source) = ("select".into(), "channels".into()),
        FieldType::DynamicSelect => match field.lookup.as_ref().and_then(lookup_url) {
            Some(url) => {
                (e.kind, e.data_source, e.data_source_url) =
                    ("select".into(), "dynamic".into(), url);
            }
            // No lookup the server can make: the user types the value.
            None => e.kind = "text".into(),
        },
        // Markdown fields become introduction text before this is reached.
        FieldType::Markdown => e.kind = "text".into(),
    }
    e
}

fn clip(s: &str) -> String {
    s.chars().take(DIALOG_LABEL_MAX).collect()
}
