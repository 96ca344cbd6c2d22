//! Post-event notifications: the normalized event every source (Apps subscriptions, classic
//! outgoing webhooks, other JSON senders) is decoded into, and the durable queue events wait in
//! for fan-out.

pub mod expand;
pub mod fanout;
pub mod queue;
pub mod subscriptions;

use serde::{Deserialize, Serialize};

use crate::protocol::apps::{Context, Subject};
use crate::protocol::classic::OutgoingWebhookRequest;

/// The eight post-event notifications of the product design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    MessagePosted,
    ChannelCreated,
    UserCreated,
    UserJoinedChannel,
    UserJoinedTeam,
    UserLeftChannel,
    UserLeftTeam,
    UserUpdated,
}

impl EventKind {
    /// The ids an event of this kind must carry.
    pub fn required_ids(self) -> &'static [&'static str] {
        match self {
            EventKind::MessagePosted => &["user_id", "channel_id", "post_id"],
            EventKind::ChannelCreated => &["channel_id", "team_id"],
            EventKind::UserCreated | EventKind::UserUpdated => &["user_id"],
            EventKind::UserJoinedChannel | EventKind::UserLeftChannel => &["user_id", "channel_id"],
            EventKind::UserJoinedTeam | EventKind::UserLeftTeam => &["user_id", "team_id"],
        }
    }

    /// The subscription subject that delivers this kind (`user_updated` is this host's own).
    pub fn subject(self) -> Subject {
        match self {
            EventKind::MessagePosted => Subject::PostCreated,
            EventKind::ChannelCreated => Subject::ChannelCreated,
            EventKind::UserCreated => Subject::UserCreated,
            EventKind::UserJoinedChannel => Subject::UserJoinedChannel,
            EventKind::UserJoinedTeam => Subject::UserJoinedTeam,
            EventKind::UserLeftChannel => Subject::UserLeftChannel,
            EventKind::UserLeftTeam => Subject::UserLeftTeam,
            EventKind::UserUpdated => Subject::UserUpdated,
        }
    }

    /// The kind a subject notifies of; `None` for the subjects this host does not deliver
    /// (the deprecated bot_* subjects and mentions).
    pub fn from_subject(subject: &Subject) -> Option<EventKind> {
        ALL_KINDS.into_iter().find(|k| k.subject() == *subject)
    }

    /// The kind as senders write it (`user_joined_channel`).
    pub fn wire_name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Every kind, in the order of the product design.
pub const ALL_KINDS: [EventKind; 8] = [
    EventKind::MessagePosted,
    EventKind::ChannelCreated,
    EventKind::UserCreated,
    EventKind::UserJoinedChannel,
    EventKind::UserJoinedTeam,
    EventKind::UserLeftChannel,
    EventKind::UserLeftTeam,
    EventKind::UserUpdated,
];

/// One thing that happened in a tenant's Mattermost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Assigned by this host when the event is accepted.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub tenant: String,
    pub kind: Option<EventKind>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub post_id: String,
    /// The message, for `message_posted`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// When it happened, in milliseconds since the epoch.
    #[serde(default)]
    pub at_ms: i64,
    /// Set by this host when the event came through one app's own route (its notification or
    /// outgoing-webhook route): only that install receives it, since the app holds the
    /// credential that route takes and could otherwise forge events for the tenant's other apps.
    /// Empty for events the tenant admin sent, which reach every entitled subscriber.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_app: String,
    /// When this host accepted it, in seconds since the epoch (0 for events queued by earlier
    /// versions).
    #[serde(default)]
    pub accepted_at: u64,
}

impl Event {
    /// Checks the kind is known, the ids it needs are present and every id is a Mattermost id.
    pub fn validate(&self) -> Result<EventKind, String> {
        let kind = self.kind.ok_or("`kind` is missing: use one of message_posted, channel_created, user_created, user_joined_channel, user_joined_team, user_left_channel, user_left_team, user_updated")?;
        let missing: Vec<&str> = kind
            .required_ids()
            .iter()
            .copied()
            .filter(|id| match *id {
                "user_id" => self.user_id.is_empty(),
                "channel_id" => self.channel_id.is_empty(),
                "team_id" => self.team_id.is_empty(),
                "post_id" => self.post_id.is_empty(),
                _ => false,
            })
            .collect();
        if missing.is_empty() {
            for (field, id) in [
                ("user_id", &self.user_id),
                ("channel_id", &self.channel_id),
                ("team_id", &self.team_id),
                ("post_id", &self.post_id),
            ] {
                crate::ids::check_mattermost_id(field, id)?;
            }
            Ok(kind)
        } else {
            Err(format!(
                "a {} event needs {}",
                kind.wire_name(),
                missing.join(", ")
            ))
        }
    }

    /// An Apps subscription notification: the subject names the kind, and the ids come from
    /// the expanded objects (v1.2 strips the plain ids, so subscriptions expand them) or, when a
    /// sender keeps them, from the plain fields.
    pub fn from_notification(ctx: &Context) -> Result<Event, String> {
        let subject = ctx
            .subject
            .as_ref()
            .ok_or("`context.subject` is missing: this is not a subscription notification")?;
        let kind = EventKind::from_subject(subject)
            .ok_or_else(|| format!("the subject {subject} is not delivered by this host"))?;
        let pick = |expanded: Option<&str>, plain: &str| {
            expanded
                .filter(|s| !s.is_empty())
                .unwrap_or(plain)
                .to_owned()
        };
        let post = ctx.post.as_ref();
        let channel_team = ctx.channel.as_ref().map(|c| c.team_id.as_str());
        let event = Event {
            kind: Some(kind),
            user_id: pick(
                ctx.user
                    .as_ref()
                    .map(|u| u.id.as_str())
                    .or(post.map(|p| p.user_id.as_str())),
                &ctx.user_id,
            ),
            channel_id: pick(
                ctx.channel
                    .as_ref()
                    .map(|c| c.id.as_str())
                    .or(post.map(|p| p.channel_id.as_str())),
                &ctx.channel_id,
            ),
            team_id: pick(
                ctx.team.as_ref().map(|t| t.id.as_str()).or(channel_team),
                &ctx.team_id,
            ),
            post_id: pick(post.map(|p| p.id.as_str()), &ctx.post_id),
            text: post.map(|p| p.message.clone()).unwrap_or_default(),
            ..Default::default()
        };
        event.validate()?;
        Ok(event)
    }

    /// A classic outgoing webhook: a message was posted. Its `timestamp` is in seconds when
    /// form-encoded and in milliseconds when JSON, as Mattermost sends them.
    pub fn from_outgoing_webhook(hook: &OutgoingWebhookRequest, timestamp_in_ms: bool) -> Event {
        Event {
            kind: Some(EventKind::MessagePosted),
            user_id: hook.user_id.clone(),
            channel_id: hook.channel_id.clone(),
            team_id: hook.team_id.clone(),
            post_id: hook.post_id.clone(),
            text: hook.text.clone(),
            at_ms: if timestamp_in_ms {
                hook.timestamp
            } else {
                hook.timestamp.saturating_mul(1000)
            },
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kinds_need_their_ids() {
        let e: Event =
            serde_json::from_value(json!({"kind": "user_joined_channel", "user_id": "u1"}))
                .unwrap();
        assert_eq!(
            e.validate().unwrap_err(),
            "a user_joined_channel event needs channel_id"
        );
        let e: Event = serde_json::from_value(json!({"kind": "message_posted", "user_id": "u1", "channel_id": "c1", "post_id": "p1", "text": "hi"})).unwrap();
        assert_eq!(e.validate(), Ok(EventKind::MessagePosted));
        assert!(
            Event::default()
                .validate()
                .unwrap_err()
                .contains("`kind` is missing")
        );
        assert!(
            serde_json::from_value::<Event>(json!({"kind": "user_danced"})).is_err(),
            "unknown subjects are refused"
        );
        for (field, bad) in [
            ("channel_id", "c\n1"),
            ("user_id", "u\u{0}1"),
            ("channel_id", &"c".repeat(5000)),
        ] {
            let mut e: Event = serde_json::from_value(
                json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "c1"}),
            )
            .unwrap();
            match field {
                "user_id" => e.user_id = bad.to_owned(),
                _ => e.channel_id = bad.to_owned(),
            }
            assert!(e.validate().unwrap_err().contains(field), "{bad:?}");
        }
    }

    #[test]
    fn subjects_map_both_ways() {
        assert_eq!(
            EventKind::from_subject(&Subject::UserJoinedChannel),
            Some(EventKind::UserJoinedChannel)
        );
        assert_eq!(EventKind::from_subject(&Subject::BotJoinedChannel), None);
        assert_eq!(
            EventKind::from_subject(&EventKind::UserUpdated.subject()),
            Some(EventKind::UserUpdated)
        );
    }
}
