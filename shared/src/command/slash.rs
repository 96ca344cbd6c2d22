//! Classic slash commands: the typed text becomes the same command an Apps call would be.
//!
//! `/hello send --message "hi there" --shout` walks the app's `/command` bindings by label
//! (`hello` → `send`), then fills the form's fields from `--flags`, positional arguments (by
//! `position`, `-1` taking the rest) and `--json '{...}'`. Missing required fields turn into the
//! form itself, pre-filled, so the user can complete it in a dialog.

use serde_json::{Map, Value, json};

use super::{Command, Source, classic_context};
use crate::protocol::apps::{Binding, CallResponse, Field, FieldType, Form};
use crate::protocol::classic::{Mentions, SlashCommandRequest};

/// Decodes a slash command against the app's command bindings (the children of its `/command`
/// binding). `Err` is an immediate answer: help, usage, or what was wrong with the input.
#[allow(clippy::result_large_err)] // built at most once per request; boxing buys nothing
pub fn decode(req: &SlashCommandRequest, commands: &[Binding]) -> Result<Command, CallResponse> {
    let trigger = req.command.trim().trim_start_matches('/');
    // The trigger is the admin's choice when registering the command; an app with a single
    // command answers to whatever it was registered as.
    let root = commands
        .iter()
        .find(|b| b.label.eq_ignore_ascii_case(trigger))
        .or(if commands.len() == 1 {
            commands.first()
        } else {
            None
        })
        .ok_or_else(|| CallResponse::error(format!("This app has no `/{trigger}` command.")))?;
    let tokens = tokenize(&req.text).map_err(CallResponse::error)?;

    let mut node = root;
    let mut line = format!("/{trigger}");
    let mut location = format!("/command/{}", root.label);
    let mut rest = tokens.as_slice();
    while let Some(child) = rest.first().and_then(|t| {
        node.bindings
            .iter()
            .find(|b| b.label.eq_ignore_ascii_case(t))
    }) {
        node = child;
        line = format!("{line} {}", child.label);
        location = format!("{location}/{}", child.label);
        rest = &rest[1..];
    }

    if !node.bindings.is_empty() {
        return Err(match rest.first().map(String::as_str) {
            None | Some("help" | "--help") => CallResponse::ok(help(&line, node)),
            Some(unknown) => CallResponse::error(format!(
                "Unknown subcommand `{unknown}`.\n\n{}",
                help(&line, node)
            )),
        });
    }
    if rest.iter().any(|t| t == "--help") {
        return Err(CallResponse::ok(usage(&line, node)));
    }

    let mut context = classic_context(&req.user_id, &req.user_name, &req.channel_id, &req.team_id);
    context.root_post_id = req.root_id.clone();
    context.location = location;
    if let Some(ch) = context.channel.as_mut() {
        ch.name = req.channel_name.clone();
    }
    if let Some(team) = context.team.as_mut() {
        team.name = req.team_domain.clone();
    }
    let mut command = Command {
        raw: format!("/{trigger} {}", req.text).trim_end().to_owned(),
        trigger_id: req.trigger_id.clone(),
        ..Command::new(Source::SlashCommand, "", context)
    };

    let fields: &[Field] = node
        .form
        .as_ref()
        .map(|f| f.fields.as_slice())
        .unwrap_or_default();
    command.values = parse_args(rest, fields, &req.mentions())
        .map_err(|errors| input_error(&line, node, errors))?;

    match (&node.submit, &node.form) {
        (Some(call), _) => {
            command.path = call.path.clone();
            command.state = call.state.clone();
        }
        (None, Some(form)) => {
            let missing: Vec<&Field> = form
                .fields
                .iter()
                .filter(|f| f.is_required && !command.values.contains_key(&f.name))
                .collect();
            match &form.submit {
                Some(submit) if missing.is_empty() => {
                    command.path = submit.path.clone();
                    command.state = submit.state.clone();
                }
                Some(_) => return Err(CallResponse::form(prefilled(form, &command.values))),
                // A form without submit is fetched from its source with what was typed so far.
                None => {
                    command.path = form
                        .source
                        .as_ref()
                        .map(|s| s.path.clone())
                        .unwrap_or_default()
                }
            }
        }
        (None, None) => {
            return Err(CallResponse::error(format!(
                "`{line}` cannot be run from the command line."
            )));
        }
    }
    if command.path.is_empty() {
        return Err(CallResponse::error(format!(
            "`{line}` has nothing to call."
        )));
    }
    Ok(command)
}

/// Splits the command text into words. Double or single quotes group words (a backslash escapes
/// a quote inside them); typographic quotes from mobile keyboards count as quotes, and a leading
/// em dash (autocorrected `--`) as `--`. Unlike a shell, `#` and `\` are plain text here.
pub fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let text = text.replace(['“', '”', '„'], "\"").replace(['‘', '’'], "'");
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' || c == '\'' {
                loop {
                    match chars.next() {
                        Some('\\') if chars.peek() == Some(&c) => {
                            word.push(chars.next().unwrap_or(c))
                        }
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => {
                            return Err(format!("The text has an unclosed {c} quote."));
                        }
                    }
                }
            } else {
                word.push(c);
            }
        }
        words.push(match word.strip_prefix('—') {
            Some(rest) => format!("--{rest}"),
            None => word,
        });
    }
    Ok(words)
}

/// Fills field values from flags, positionals and `--json`; errors are keyed by field name
/// (or `_` for input that belongs to no field).
fn parse_args(
    tokens: &[String],
    fields: &[Field],
    mentions: &Mentions,
) -> Result<Map<String, Value>, Map<String, Value>> {
    let mut values = Map::new();
    let mut errors = Map::new();
    let mut positionals: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        let Some(flag) = token.strip_prefix("--").filter(|f| !f.is_empty()) else {
            positionals.push(token);
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        if name == "json" {
            let raw = match inline.or_else(|| tokens.get(i).inspect(|_| i += 1).cloned()) {
                Some(raw) => raw,
                None => {
                    errors.insert(
                        "_".into(),
                        "`--json` needs a JSON object, e.g. --json '{\"message\":\"hi\"}'".into(),
                    );
                    continue;
                }
            };
            match serde_json::from_str::<Map<String, Value>>(&raw) {
                Ok(obj) => values.extend(obj),
                Err(e) => {
                    errors.insert(
                        "_".into(),
                        format!("`--json` is not a JSON object: {e}").into(),
                    );
                }
            }
            continue;
        }
        let Some(field) = fields
            .iter()
            .find(|f| f.flag().eq_ignore_ascii_case(name) || f.name.eq_ignore_ascii_case(name))
        else {
            errors.insert("_".into(), format!("Unknown flag `--{name}`.").into());
            continue;
        };
        let raw = match (field.kind, inline) {
            (_, Some(v)) => v,
            (FieldType::Bool, None) => match tokens.get(i).filter(|t| parse_bool(t).is_some()) {
                Some(t) => {
                    i += 1;
                    t.clone()
                }
                None => "true".into(),
            },
            (_, None) => match tokens.get(i).filter(|t| !t.starts_with("--")) {
                Some(t) => {
                    i += 1;
                    t.clone()
                }
                None => {
                    errors.insert(
                        field.name.clone(),
                        format!("`--{}` needs a value.", field.flag()).into(),
                    );
                    continue;
                }
            },
        };
        match typed_value(field, &raw, mentions) {
            Ok(v) => {
                values.insert(field.name.clone(), v);
            }
            Err(e) => {
                errors.insert(field.name.clone(), e.into());
            }
        }
    }

    let mut slots: Vec<&Field> = fields.iter().filter(|f| f.position > 0).collect();
    slots.sort_by_key(|f| f.position);
    let rest_field = fields.iter().find(|f| f.position == -1);
    let mut words = positionals.into_iter();
    for field in slots {
        if let Some(word) = words.next() {
            set_positional(&mut values, &mut errors, field, word, mentions);
        }
    }
    let remaining: Vec<&str> = words.collect();
    match (rest_field, remaining.is_empty()) {
        (_, true) => {}
        (Some(field), false) => set_positional(
            &mut values,
            &mut errors,
            field,
            &remaining.join(" "),
            mentions,
        ),
        (None, false) => {
            errors.insert(
                "_".into(),
                format!("Unexpected argument `{}`.", remaining[0]).into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn set_positional(
    values: &mut Map<String, Value>,
    errors: &mut Map<String, Value>,
    field: &Field,
    word: &str,
    mentions: &Mentions,
) {
    if values.contains_key(&field.name) {
        errors.insert(
            field.name.clone(),
            format!(
                "`{}` was given both as a flag and as an argument.",
                field.name
            )
            .into(),
        );
        return;
    }
    match typed_value(field, word, mentions) {
        Ok(v) => {
            values.insert(field.name.clone(), v);
        }
        Err(e) => {
            errors.insert(field.name.clone(), e.into());
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Converts typed text into the value an Apps client would submit for the field.
fn typed_value(field: &Field, raw: &str, mentions: &Mentions) -> Result<Value, String> {
    let one = |raw: &str| -> Result<Value, String> {
        match field.kind {
            FieldType::Text => Ok(Value::from(raw)),
            FieldType::Bool => parse_bool(raw)
                .map(Value::from)
                .ok_or_else(|| format!("`{raw}` is not true or false.")),
            FieldType::StaticSelect => field
                .options
                .iter()
                .find(|o| o.value.eq_ignore_ascii_case(raw) || o.label.eq_ignore_ascii_case(raw))
                .map(|o| json!({"label": o.label, "value": o.value}))
                .ok_or_else(|| {
                    let choices: Vec<&str> =
                        field.options.iter().map(|o| o.value.as_str()).collect();
                    format!("`{raw}` is not one of: {}.", choices.join(", "))
                }),
            FieldType::DynamicSelect => Ok(json!({"label": raw, "value": raw})),
            FieldType::User => {
                let name = raw.trim_start_matches('@');
                mentions
                    .user_id(name)
                    .map(|id| json!({"label": format!("@{name}"), "value": id}))
                    .ok_or_else(|| format!("`{raw}` is not a user; mention one with @."))
            }
            FieldType::Channel => {
                let name = raw.trim_start_matches('~');
                mentions
                    .channel_id(name)
                    .map(|id| json!({"label": format!("~{name}"), "value": id}))
                    .ok_or_else(|| format!("`{raw}` is not a channel; mention one with ~."))
            }
            FieldType::Markdown => Err("this field is text to read, not an input".into()),
        }
    };
    let selectable = matches!(
        field.kind,
        FieldType::StaticSelect | FieldType::DynamicSelect | FieldType::User | FieldType::Channel
    );
    if field.multiselect && selectable {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from)
    } else {
        one(raw)
    }
}

fn prefilled(form: &Form, values: &Map<String, Value>) -> Form {
    let mut form = form.clone();
    for field in &mut form.fields {
        if let Some(v) = values.get(&field.name) {
            field.value = Some(v.clone());
        }
    }
    form
}

fn input_error(line: &str, node: &Binding, errors: Map<String, Value>) -> CallResponse {
    let mut text = String::new();
    for (field, message) in &errors {
        let message = message.as_str().unwrap_or_default();
        if field == "_" {
            text.push_str(&format!("- {message}\n"))
        } else {
            text.push_str(&format!("- `{field}`: {message}\n"))
        }
    }
    text.push_str(&format!("\n{}", usage(line, node)));
    CallResponse::field_errors(text, errors)
}

/// The subcommands of a binding, one per line.
fn help(line: &str, node: &Binding) -> String {
    let mut text = format!("`{line}` commands:\n");
    for b in &node.bindings {
        let about = if b.description.is_empty() {
            &b.hint
        } else {
            &b.description
        };
        text.push_str(&format!("- `{line} {}` {about}\n", b.label));
    }
    text
}

/// How to call a runnable binding: `Usage: /hello send <message> [--shout]`.
fn usage(line: &str, node: &Binding) -> String {
    let mut text = format!("Usage: `{line}");
    let fields: &[Field] = node
        .form
        .as_ref()
        .map(|f| f.fields.as_slice())
        .unwrap_or_default();
    let mut positional: Vec<&Field> = fields.iter().filter(|f| f.position != 0).collect();
    positional.sort_by_key(|f| if f.position < 0 { i64::MAX } else { f.position });
    for f in &positional {
        let name = if f.position < 0 {
            format!("{}...", f.name)
        } else {
            f.name.clone()
        };
        text.push_str(&if f.is_required {
            format!(" <{name}>")
        } else {
            format!(" [{name}]")
        });
    }
    for f in fields
        .iter()
        .filter(|f| f.position == 0 && f.kind != FieldType::Markdown)
    {
        let arg = if f.kind == FieldType::Bool {
            format!("--{}", f.flag())
        } else {
            format!("--{} <{}>", f.flag(), f.name)
        };
        text.push_str(&if f.is_required {
            format!(" {arg}")
        } else {
            format!(" [{arg}]")
        });
    }
    text.push('`');
    for f in fields.iter().filter(|f| !f.description.is_empty()) {
        text.push_str(&format!("\n- `{}`: {}", f.name, f.description));
    }
    text
}
