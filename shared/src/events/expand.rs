//! What a notification carries of each object, at the level its subscription's `expand` asked
//! for, as the Apps plugin gives it (`apps/expand.go`, `Strip*`; `server/proxy/expand.go`):
//! nothing, the id, a summary or all of it. Ids come from the event; a summary or more is read
//! from the tenant's Mattermost with the install's bot token (a post's summary is what the
//! event carries). The plain ids are not sent: v1.2 clears them once it has expanded.

use serde_json::{Map, Value};

use crate::mattermost::{Mattermost, Model};
use crate::protocol::apps::{Expand, ExpandLevel};
use crate::protocol::model::{Channel, Post, Team, User};

/// The fields of a summary (`apps/expand.go`, the `ExpandSummary` cases).
const USER_SUMMARY: &[&str] = &[
    "bot_description",
    "delete_at",
    "email",
    "first_name",
    "id",
    "is_bot",
    "last_name",
    "locale",
    "nickname",
    "position",
    "roles",
    "timezone",
    "username",
];
const CHANNEL_SUMMARY: &[&str] = &["id", "delete_at", "team_id", "type", "display_name", "name"];
const TEAM_SUMMARY: &[&str] = &["id", "display_name", "name", "description", "email", "type"];
/// What `all` leaves out of a user (`User.Sanitize` keeps email and full name; no auth data).
const USER_NEVER: &[&str] = &["auth_data", "password", "mfa_secret"];

/// Where the objects of a notification are read at a summary or more.
pub struct Source<'a> {
    pub mattermost: Option<&'a dyn Mattermost>,
    pub site_url: &'a str,
    pub bot_token: &'a str,
}

/// The objects of one notification, each as its subscription asked.
#[derive(Debug, Default)]
pub struct Expanded {
    pub acting_user: Option<User>,
    pub user: Option<User>,
    pub channel: Option<Channel>,
    pub team: Option<Team>,
    pub post: Option<Post>,
}

/// The ids (and what the event carries of its post) a notification is about.
pub struct Known<'a> {
    pub bot_user_id: &'a str,
    pub user_id: &'a str,
    pub channel_id: &'a str,
    pub team_id: &'a str,
    pub post_id: &'a str,
    pub message: &'a str,
}

/// How one kind of object is read and cut to a level.
struct Shape {
    name: &'static str,
    model: Model,
    /// What its id level carries.
    id_fields: &'static [&'static str],
    summary: &'static [&'static str],
    /// What even `all` leaves out.
    never: &'static [&'static str],
}

const USER: Shape = Shape {
    name: "user",
    model: Model::User,
    id_fields: &["id"],
    summary: USER_SUMMARY,
    never: USER_NEVER,
};
const ACTING_USER: Shape = Shape {
    name: "acting_user",
    ..USER
};
const CHANNEL: Shape = Shape {
    name: "channel",
    model: Model::Channel,
    id_fields: &["id", "team_id"],
    summary: CHANNEL_SUMMARY,
    never: &[],
};
const TEAM: Shape = Shape {
    name: "team",
    model: Model::Team,
    id_fields: &["id"],
    summary: TEAM_SUMMARY,
    never: &[],
};
const POST: Shape = Shape {
    name: "post",
    model: Model::Post,
    id_fields: &["id"],
    summary: &[],
    never: &[],
};

/// Expands what `expand` asks for, the objects read at once. An object a summary or more of
/// which cannot be read is given by id, unless its level was required (`+`): then the error
/// says which.
pub async fn expand(
    expand: Option<&Expand>,
    known: &Known<'_>,
    source: &Source<'_>,
) -> Result<Expanded, String> {
    let default = Expand::default();
    let e = expand.unwrap_or(&default);
    let by_id = |id: &str| Map::from_iter([("id".to_owned(), Value::from(id))]);
    let mut channel_ids = by_id(known.channel_id);
    channel_ids.insert("team_id".into(), known.team_id.into());
    let post_summary = serde_json::json!({"id": known.post_id, "channel_id": known.channel_id,
        "user_id": known.user_id, "message": known.message});
    let (acting_user, user, channel, team, post) = futures::try_join!(
        object(
            &ACTING_USER,
            &e.acting_user,
            by_id(known.bot_user_id),
            None,
            source
        ),
        object(&USER, &e.user, by_id(known.user_id), None, source),
        object(&CHANNEL, &e.channel, channel_ids, None, source),
        object(&TEAM, &e.team, by_id(known.team_id), None, source),
        // A post's summary is what the event carries.
        object(
            &POST,
            &e.post,
            by_id(known.post_id),
            post_summary.as_object(),
            source
        ),
    )?;
    Ok(Expanded {
        acting_user,
        user,
        channel,
        team,
        post,
    })
}

/// The object `ids` names at the level `requested`: `None` when not asked for (or without
/// an id), its ids at `id`, the `summary` given or read from Mattermost at a summary, read at
/// all; then cut to what the level carries.
async fn object<T: serde::de::DeserializeOwned + Default>(
    shape: &Shape,
    requested: &str,
    ids: Map<String, Value>,
    summary: Option<&Map<String, Value>>,
    source: &Source<'_>,
) -> Result<Option<T>, String> {
    let (level, required) = ExpandLevel::parse(requested).unwrap_or((ExpandLevel::None, false));
    let id = ids.get("id").and_then(Value::as_str).unwrap_or_default();
    if level == ExpandLevel::None || id.is_empty() {
        return Ok(None);
    }
    let (found, keep): (Map<String, Value>, Option<&[&str]>) = match (level, summary) {
        (ExpandLevel::Id, _) => (ids, Some(shape.id_fields)),
        (ExpandLevel::Summary, Some(given)) => (given.clone(), None),
        _ => match read(source, shape.model, id).await {
            Ok(Value::Object(read)) => {
                let keep = (level == ExpandLevel::Summary).then_some(shape.summary);
                (read, keep)
            }
            Ok(_) | Err(_) if !required => {
                tracing::warn!(object = shape.name, "could not expand; sending its ids");
                (ids, Some(shape.id_fields))
            }
            Ok(_) => return Err(format!("could not expand {}: not an object", shape.name)),
            Err(e) => return Err(format!("could not expand {}: {e}", shape.name)),
        },
    };
    let mut found = found;
    found.retain(|k, _| {
        !shape.never.contains(&k.as_str()) && keep.is_none_or(|f| f.contains(&k.as_str()))
    });
    Ok(Some(
        serde_json::from_value(Value::Object(found)).unwrap_or_default(),
    ))
}

async fn read(source: &Source<'_>, model: Model, id: &str) -> Result<Value, String> {
    let mm = source
        .mattermost
        .ok_or("this host has no Mattermost client here")?;
    if source.bot_token.is_empty() || source.site_url.is_empty() {
        return Err("the install has no bot token to read Mattermost with".into());
    }
    mm.get(source.site_url, source.bot_token, model, id)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::mattermost::recording::RecordingMattermost;

    const KNOWN: Known = Known {
        bot_user_id: "bot",
        user_id: "u1",
        channel_id: "c1",
        team_id: "t1",
        post_id: "p1",
        message: "hi",
    };

    async fn expanded(levels: Value) -> Result<Expanded, String> {
        let e: Expand = serde_json::from_value(levels).unwrap();
        // Mattermost as the bot reads it: a user with more than a summary, and nothing else.
        let mattermost = RecordingMattermost::default();
        mattermost.objects.lock().unwrap().insert(
            ("bot".into(), "users/u1".into()),
            json!({"id": "u1", "username": "alice", "email": "a@x", "auth_data": "secret",
                   "update_at": 5, "is_bot": false}),
        );
        let source = Source {
            mattermost: Some(&mattermost),
            site_url: "https://mm.example",
            bot_token: "bot",
        };
        expand(Some(&e), &KNOWN, &source).await
    }

    #[tokio::test]
    async fn each_object_comes_at_the_level_asked_and_no_more() {
        let none = expanded(json!({})).await.unwrap();
        assert!(none.user.is_none() && none.channel.is_none() && none.post.is_none());
        let ids = expanded(json!({"user": "id", "channel": "id", "acting_user": "id"}))
            .await
            .unwrap();
        assert_eq!(serde_json::to_value(ids.user).unwrap(), json!({"id": "u1"}));
        assert_eq!(
            serde_json::to_value(ids.channel).unwrap(),
            json!({"id": "c1", "team_id": "t1"})
        );
        assert_eq!(
            serde_json::to_value(ids.acting_user).unwrap(),
            json!({"id": "bot"})
        );
        let summary = expanded(json!({"user": "summary", "post": "summary"}))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(summary.user).unwrap(),
            json!({"id": "u1", "username": "alice", "email": "a@x", "is_bot": false}),
            "a summary's fields, read from Mattermost"
        );
        assert_eq!(
            serde_json::to_value(summary.post).unwrap(),
            json!({"id": "p1", "channel_id": "c1", "user_id": "u1", "message": "hi"})
        );
        let all = expanded(json!({"user": "all"})).await.unwrap();
        assert_eq!(
            serde_json::to_value(all.user).unwrap(),
            json!({"id": "u1", "username": "alice", "email": "a@x", "update_at": 5, "is_bot": false}),
            "all but its auth data"
        );
    }

    #[tokio::test]
    async fn what_cannot_be_read_comes_by_id_unless_it_is_required() {
        let optional = expanded(json!({"channel": "summary"})).await.unwrap();
        assert_eq!(
            serde_json::to_value(optional.channel).unwrap(),
            json!({"id": "c1", "team_id": "t1"})
        );
        let required = expanded(json!({"channel": "+summary"})).await.unwrap_err();
        assert!(required.contains("could not expand channel"), "{required}");
    }
}
