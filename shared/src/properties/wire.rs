//! The JSON wire types: Apps call requests and contexts, post actions, dialog submissions,
//! events, subscriptions and the Lambda invoke envelope. Near-valid input never panics a
//! decoder; what this host writes is read back equal.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{config, json_text, json_value, nasty_string};
use crate::events::subscriptions::Subscription;
use crate::events::{ALL_KINDS, Event};
use crate::protocol::apps::{
    Call, CallRequest, CallResponse, Context, Expand, ExpandLevel, Subject,
};
use crate::protocol::classic::{PostActionIntegrationRequest, SubmitDialogRequest};
use crate::protocol::invoke::InvokeRequest;
use crate::protocol::model::{Channel, Post, Team, User};

pub(crate) const CALL_KEYS: &[&str] = &[
    "path",
    "expand",
    "state",
    "values",
    "context",
    "raw_command",
    "selected_field",
    "query",
    "subject",
    "channel_id",
    "team_id",
    "post_id",
    "user_id",
    "app_id",
    "acting_user",
    "channel",
    "team",
    "post",
    "user",
    "oauth2",
    "mattermost_site_url",
    "acting_user_access_token",
    "id",
    "message",
    "username",
    "app",
    "type",
];

pub(crate) const CLASSIC_KEYS: &[&str] = &[
    "user_id",
    "user_name",
    "channel_id",
    "team_id",
    "post_id",
    "trigger_id",
    "type",
    "data_source",
    "context",
    "cloudapps_call",
    "callback_id",
    "state",
    "submission",
    "cancelled",
];

pub(crate) const EVENT_KEYS: &[&str] = &[
    "id",
    "tenant",
    "kind",
    "user_id",
    "channel_id",
    "team_id",
    "post_id",
    "text",
    "at_ms",
    "subject",
    "call",
    "path",
];

const SUBJECTS: [Subject; 14] = [
    Subject::UserCreated,
    Subject::UserJoinedChannel,
    Subject::UserLeftChannel,
    Subject::UserJoinedTeam,
    Subject::UserLeftTeam,
    Subject::ChannelCreated,
    Subject::BotJoinedChannel,
    Subject::BotLeftChannel,
    Subject::BotJoinedTeam,
    Subject::BotLeftTeam,
    Subject::PostCreated,
    Subject::BotMentioned,
    Subject::SelfMentioned,
    Subject::UserUpdated,
];

/// State an app attaches: any JSON but a bare `null`, which is the same as no state.
fn state() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(json_value(&["a", "b"]).prop_filter("null is no state", |v| !v.is_null()))
}

/// Extra model fields: any key but the typed ones, which `extra` never holds after a decode.
fn extra(typed: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((nasty_string(), json_value(&[])), 0..3).prop_map(move |kvs| {
        kvs.into_iter()
            .filter(|(k, _)| !typed.contains(&k.as_str()))
            .collect()
    })
}

fn user() -> impl Strategy<Value = User> {
    (
        nasty_string(),
        nasty_string(),
        extra(&[
            "id",
            "username",
            "first_name",
            "last_name",
            "nickname",
            "email",
            "locale",
            "roles",
        ]),
    )
        .prop_map(|(id, username, extra)| User {
            id,
            username,
            extra,
            ..Default::default()
        })
}

fn context() -> impl Strategy<Value = Context> {
    let ids = (
        nasty_string(),
        nasty_string(),
        nasty_string(),
        nasty_string(),
        nasty_string(),
    );
    let flags = (any::<bool>(), any::<bool>(), nasty_string(), nasty_string());
    let channel = (
        nasty_string(),
        nasty_string(),
        extra(&["id", "team_id", "name", "display_name"]),
    )
        .prop_map(|(id, team_id, extra)| Channel {
            id,
            team_id,
            extra,
            ..Default::default()
        });
    let post = (
        nasty_string(),
        nasty_string(),
        extra(&["id", "channel_id", "user_id", "root_id", "message"]),
    )
        .prop_map(|(id, message, extra)| Post {
            id,
            message,
            extra,
            ..Default::default()
        });
    let team = nasty_string().prop_map(|id| Team {
        id,
        ..Default::default()
    });
    (
        prop::option::of(prop::sample::select(SUBJECTS.to_vec())),
        ids,
        flags,
        prop::option::of(user()),
        prop::option::of(user()),
        prop::option::of(channel),
        prop::option::of(team),
        prop::option::of(post),
    )
        .prop_map(
            |(subject, ids, flags, acting_user, user, channel, team, post)| Context {
                subject,
                channel_id: ids.0,
                team_id: ids.1,
                post_id: ids.2,
                user_id: ids.3,
                app_id: ids.4,
                track_as_submit: flags.0,
                developer_mode: flags.1,
                mattermost_site_url: flags.2,
                location: flags.3,
                acting_user,
                user,
                channel,
                team,
                post,
                ..Default::default()
            },
        )
}

pub(crate) fn call_request() -> impl Strategy<Value = CallRequest> {
    let expand = prop::option::of(
        (
            prop::sample::select(vec!["", "id", "summary", "+all", "none", "bogus"]),
            nasty_string(),
        )
            .prop_map(|(acting_user, channel)| {
                Box::new(Expand {
                    acting_user: acting_user.into(),
                    channel,
                    ..Default::default()
                })
            }),
    );
    let values = prop::collection::vec((nasty_string(), json_value(&[])), 0..4)
        .prop_map(|kvs| kvs.into_iter().collect::<Map<_, _>>());
    (
        nasty_string(),
        expand,
        state(),
        values,
        context(),
        (nasty_string(), nasty_string(), nasty_string()),
    )
        .prop_map(|(path, expand, state, values, context, text)| CallRequest {
            path,
            expand,
            state,
            values,
            context,
            raw_command: text.0,
            selected_field: text.1,
            query: text.2,
        })
}

pub(crate) fn event() -> impl Strategy<Value = Event> {
    let mattermost_id = || prop_oneof![3 => "[a-z0-9]{26}", 1 => nasty_string()];
    (
        (nasty_string(), nasty_string(), nasty_string()),
        prop::option::of(prop::sample::select(ALL_KINDS.to_vec())),
        (
            mattermost_id(),
            mattermost_id(),
            mattermost_id(),
            mattermost_id(),
        ),
        nasty_string(),
        (any::<i64>(), any::<u64>()),
    )
        .prop_map(
            |((id, tenant, source_app), kind, ids, text, (at_ms, accepted_at))| Event {
                id,
                tenant,
                source_app,
                kind,
                user_id: ids.0,
                channel_id: ids.1,
                team_id: ids.2,
                post_id: ids.3,
                text,
                at_ms,
                accepted_at,
            },
        )
}

pub(crate) fn subscription() -> impl Strategy<Value = Subscription> {
    (
        prop::option::of(prop::sample::select(SUBJECTS.to_vec())),
        nasty_string(),
        nasty_string(),
        nasty_string(),
        state(),
    )
        .prop_map(|(subject, channel_id, team_id, path, state)| Subscription {
            subject,
            channel_id,
            team_id,
            call: Call {
                path,
                state,
                ..Default::default()
            },
        })
}

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{e} reading back {text}")))?;
    prop_assert_eq!(&back, value, "read back from {}", text);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn call_requests_never_panic(body in json_text(CALL_KEYS)) {
        if let Ok(call) = serde_json::from_slice::<CallRequest>(&body) {
            if let Some(e) = &call.expand {
                let _ = ExpandLevel::parse(&e.acting_user);
            }
            let _ = Event::from_notification(&call.context);
            let _ = call.context.acting_user_id();
        }
        let _ = serde_json::from_slice::<CallResponse>(&body);
    }

    #[test]
    fn call_requests_round_trip(call in call_request()) {
        round_trips(&call)?;
    }

    #[test]
    fn notifications_never_panic(context in context()) {
        if let Ok(event) = Event::from_notification(&context) {
            prop_assert!(event.validate().is_ok());
        }
    }

    #[test]
    fn classic_json_never_panics(body in json_text(CLASSIC_KEYS)) {
        let _ = serde_json::from_slice::<PostActionIntegrationRequest>(&body);
        let _ = serde_json::from_slice::<SubmitDialogRequest>(&body);
    }

    #[test]
    fn events_never_panic(body in json_text(EVENT_KEYS)) {
        if let Ok(event) = serde_json::from_slice::<Event>(&body) {
            let _ = event.validate();
        }
        let _ = serde_json::from_slice::<Subscription>(&body);
    }

    #[test]
    fn events_round_trip(event in event()) {
        round_trips(&event)?;
        // What validates keeps validating after the queue's encode and decode.
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back.validate(), event.validate());
    }

    #[test]
    fn subscriptions_round_trip(subscription in subscription()) {
        round_trips(&subscription)?;
    }

    #[test]
    fn invoke_envelopes_never_panic(
        body in json_text(&["path", "httpMethod", "headers", "rawQuery", "body"]),
    ) {
        let _ = serde_json::from_slice::<InvokeRequest>(&body);
    }
}
