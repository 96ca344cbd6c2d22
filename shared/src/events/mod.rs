//! Post-event notifications: the normalized event every source (Apps subscriptions, classic
//! outgoing webhooks, other JSON senders) is decoded into, and the durable queue events wait in
//! for fan-out.

pub mod queue;
pub mod subscriptions;

use serde::{Deserialize, Serialize};

use crate::protocol::apps::Subject;

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

    /// The Apps subscription subject that delivers this kind, if Apps has one.
    pub fn subject(self) -> Option<Subject> {
        match self {
            EventKind::MessagePosted => Some(Subject::PostCreated),
            EventKind::ChannelCreated => Some(Subject::ChannelCreated),
            EventKind::UserCreated => Some(Subject::UserCreated),
            EventKind::UserJoinedChannel => Some(Subject::UserJoinedChannel),
            EventKind::UserJoinedTeam => Some(Subject::UserJoinedTeam),
            EventKind::UserLeftChannel => Some(Subject::UserLeftChannel),
            EventKind::UserLeftTeam => Some(Subject::UserLeftTeam),
            EventKind::UserUpdated => None,
        }
    }

    /// The kind an Apps subject notifies of.
    pub fn from_subject(subject: Subject) -> Option<EventKind> {
        [
            EventKind::MessagePosted,
            EventKind::ChannelCreated,
            EventKind::UserCreated,
            EventKind::UserJoinedChannel,
            EventKind::UserJoinedTeam,
            EventKind::UserLeftChannel,
            EventKind::UserLeftTeam,
        ]
        .into_iter()
        .find(|k| k.subject() == Some(subject))
    }
}

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
}

impl Event {
    /// Checks the kind is known and the ids it needs are present.
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
            Ok(kind)
        } else {
            // The kind as senders write it (`user_joined_channel`), not its Rust name.
            let name = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Err(format!("a {name} event needs {}", missing.join(", ")))
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
    }

    #[test]
    fn subjects_map_both_ways() {
        assert_eq!(
            EventKind::from_subject(Subject::UserJoinedChannel),
            Some(EventKind::UserJoinedChannel)
        );
        assert_eq!(EventKind::from_subject(Subject::BotJoinedChannel), None);
        assert_eq!(EventKind::UserUpdated.subject(), None);
    }
}
