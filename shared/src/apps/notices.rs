//! `notices`: the built-in webhook event handlers. It subscribes on install to three subjects
//! and answers each notification by posting as its bot through the Mattermost REST API:
//! a welcome message when someone joins a channel, a notice when a channel is created, and a
//! reply in thread when a message contains one of the configured keywords. What it says is
//! configured per tenant in place, like any app's configuration.

use serde_json::{Map, Value};

use super::{App, Endpoint, Handler};
use crate::command::Command;
use crate::events::subscriptions::Subscription;
use crate::mattermost::NewPost;
use crate::protocol::apps::{
    Binding, Call, CallResponse, Expand, Field, FieldType, Form, Manifest, Permission, Subject,
};

pub const APP_ID: &str = "notices";
pub const VERSION: &str = "v1.0.0";
/// The handler of each subject: each is its own Lambda function.
pub const ON_USER_JOINED_CHANNEL: &str = "/on-user-joined-channel";
pub const ON_CHANNEL_CREATED: &str = "/on-channel-created";
pub const ON_MESSAGE_POSTED: &str = "/on-message-posted";
pub const CONFIGURE: &str = "/configure";
pub const CONFIGURE_SUBMIT: &str = "/configure/submit";

const DEFAULT_WELCOME: &str =
    "Welcome to the channel! Say hello and tell us what you are working on.";
const DEFAULT_CHANNEL_NOTICE: &str = "A new channel was created: ~{channel}";
const MAX_TEXT: usize = 4000;
const MAX_KEYWORDS: usize = 50;

pub struct Notices;

/// The app, as a function binary names it.
pub const APP: Notices = Notices;

/// Every call path of the app; each notification has its own function.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::ping("notices-ping"),
    Endpoint::bindings("notices-bindings"),
    Endpoint::call(
        ON_USER_JOINED_CHANNEL,
        "notices-on-user-joined-channel",
        Handler::Notify(welcome),
    ),
    Endpoint::call(
        ON_CHANNEL_CREATED,
        "notices-on-channel-created",
        Handler::Notify(announce_channel),
    ),
    Endpoint::call(
        ON_MESSAGE_POSTED,
        "notices-on-message-posted",
        Handler::Notify(answer_keyword),
    ),
    Endpoint::local_call(
        CONFIGURE,
        Handler::Reply(|c| CallResponse::form(configure_form(&c.config))),
    ),
    Endpoint::local_call(CONFIGURE_SUBMIT, Handler::Reply(configure)),
];

impl App for Notices {
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
            display_name: "Notices".into(),
            description:
                "Welcomes people to channels, announces new channels and answers keywords.".into(),
            homepage_url: "https://developers.mattermost.com/integrate/apps/".into(),
            requested_permissions: vec![
                Permission::ActAsBot,
                Permission::UserJoinedChannelNotification,
            ],
            ..Default::default()
        }
    }

    fn bindings(&self) -> Vec<Binding> {
        Vec::new()
    }

    fn subscriptions(&self) -> Vec<Subscription> {
        [
            (Subject::UserJoinedChannel, ON_USER_JOINED_CHANNEL),
            (Subject::ChannelCreated, ON_CHANNEL_CREATED),
            (Subject::PostCreated, ON_MESSAGE_POSTED),
        ]
        .into_iter()
        .map(|(subject, path)| Subscription {
            subject: Some(subject),
            // The ids it posts with, and the message it looks for keywords in.
            call: Call {
                expand: Some(Box::new(Expand {
                    user: "id".into(),
                    channel: "id".into(),
                    team: "id".into(),
                    post: "summary".into(),
                    ..Default::default()
                })),
                ..Call::path(path)
            },
            ..Default::default()
        })
        .collect()
    }
}

/// Someone joined a channel: welcome them.
fn welcome(command: &Command) -> Option<NewPost> {
    Some(NewPost {
        channel_id: command.context.channel_id().to_owned(),
        message: text(&command.config, "welcome_message", DEFAULT_WELCOME),
        ..Default::default()
    })
}

/// A channel was created: announce it, in the configured channel or in the new one.
fn announce_channel(command: &Command) -> Option<NewPost> {
    let channel = command.context.channel_id().to_owned();
    let target = text(&command.config, "notice_channel_id", "");
    let message = text(&command.config, "channel_notice", DEFAULT_CHANNEL_NOTICE)
        .replace("{channel}", &channel);
    Some(NewPost {
        channel_id: if target.is_empty() { channel } else { target },
        message,
        ..Default::default()
    })
}

/// A message names a configured keyword: reply in its thread.
fn answer_keyword(command: &Command) -> Option<NewPost> {
    let post = command.context.post.as_ref()?;
    matched_keyword(&command.config, &post.message)?;
    Some(NewPost {
        channel_id: command.context.channel_id().to_owned(),
        message: text(&command.config, "keyword_reply", ""),
        root_id: post.id.clone(),
    })
}

fn text(config: &Map<String, Value>, key: &str, default: &str) -> String {
    config
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or(default)
        .to_owned()
}

/// The first configured keyword the message contains as a whole word, ignoring case.
fn matched_keyword(config: &Map<String, Value>, message: &str) -> Option<String> {
    let words: Vec<String> = message
        .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    keywords(&text(config, "keywords", ""))
        .into_iter()
        .find(|k| words.contains(k))
}

fn keywords(list: &str) -> Vec<String> {
    list.split(',')
        .map(|k| k.trim().to_lowercase())
        .filter(|k| !k.is_empty())
        .collect()
}

fn configure_form(config: &Map<String, Value>) -> Form {
    let field = |name: &str, label: &str, default: &str, kind: FieldType| Field {
        value: Some(text(config, name, default).into()),
        description: label.into(),
        max_length: MAX_TEXT as i64,
        ..Field::new(name, kind)
    };
    Form {
        title: "Configure Notices".into(),
        submit: Some(Call::path(CONFIGURE_SUBMIT)),
        fields: vec![
            field(
                "welcome_message",
                "Posted when someone joins a channel (empty: none)",
                DEFAULT_WELCOME,
                FieldType::Text,
            ),
            field(
                "channel_notice",
                "Posted when a channel is created; {channel} is its id (empty: none)",
                DEFAULT_CHANNEL_NOTICE,
                FieldType::Text,
            ),
            field(
                "notice_channel_id",
                "Where channel notices go (empty: the new channel)",
                "",
                FieldType::Text,
            ),
            field(
                "keywords",
                "Comma-separated words that get a reply",
                "",
                FieldType::Text,
            ),
            field(
                "keyword_reply",
                "The reply, in the message's thread",
                "",
                FieldType::Text,
            ),
        ],
        ..Default::default()
    }
}

fn configure(command: &Command) -> CallResponse {
    let mut errors = Map::new();
    let mut data = Map::new();
    // A field left out keeps its default; one sent empty turns that notice off.
    for name in [
        "welcome_message",
        "channel_notice",
        "notice_channel_id",
        "keywords",
        "keyword_reply",
    ] {
        let Some(value) = command.values.get(name).and_then(Value::as_str) else {
            continue;
        };
        let value = value.trim().to_owned();
        if value.chars().count() > MAX_TEXT {
            errors.insert(
                name.into(),
                format!("At most {MAX_TEXT} characters.").into(),
            );
        }
        data.insert(name.into(), value.into());
    }
    let keyword_list = keywords(&text(&data, "keywords", ""));
    if keyword_list.len() > MAX_KEYWORDS {
        errors.insert(
            "keywords".into(),
            format!("At most {MAX_KEYWORDS} keywords.").into(),
        );
    }
    if !keyword_list.is_empty() && text(&data, "keyword_reply", "").is_empty() {
        errors.insert(
            "keyword_reply".into(),
            "Say what to reply to the keywords.".into(),
        );
    }
    if !errors.is_empty() {
        return CallResponse::field_errors("The configuration was not saved.", errors);
    }
    CallResponse::ok_data(Value::Object(data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keywords_match_whole_words_ignoring_case() {
        let config = json!({"keywords": "help, On-Call"});
        let config = config.as_object().unwrap();
        assert_eq!(
            matched_keyword(config, "Can someone HELP me?"),
            Some("help".into())
        );
        assert_eq!(
            matched_keyword(config, "who is on-call today"),
            Some("on-call".into())
        );
        assert_eq!(matched_keyword(config, "helpful tips"), None);
        assert_eq!(
            matched_keyword(&Map::new(), "help"),
            None,
            "no keywords, no replies"
        );
    }

    #[test]
    fn configuration_is_validated() {
        let mut c = Command::internal(
            CONFIGURE_SUBMIT,
            json!({"keywords": "help"}).as_object().unwrap().clone(),
        );
        let r = configure(&c);
        assert!(r.errors().unwrap().contains_key("keyword_reply"));
        c.values
            .insert("keyword_reply".into(), "See the wiki.".into());
        assert_eq!(configure(&c).data.unwrap()["keywords"], "help");
    }
}
