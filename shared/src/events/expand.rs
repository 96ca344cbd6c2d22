//! What a notification carries of each object, at the level its subscription's `expand` asked
//! for, as the Apps plugin gives it (`apps/expand.go`, `Strip*`; `server/proxy/expand.go`):
//! nothing, the id, a summary or all of it. Ids come from the event; a summary or more is read
//! from the tenant's Mattermost with the install's bot token (a post's summary is what the
//! event carries). The plain ids are not sent: v1.2 clears them once it has expanded.

use serde_json::{Map, Value};

use crate::mattermost::Mattermost;
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

/// Expands what `expand` asks for. An object a summary or more of which cannot be read is
/// given by id, unless its level was required (`+`): then the error says which.
pub async fn expand(
    expand: Option<&Expand>,
    known: &Known<'_>,
    source: &Source<'_>,
) -> Result<Expanded, String> {
    let default = Expand::default();
    let e = expand.unwrap_or(&default);
    Ok(Expanded {
        acting_user: object(
            &e.acting_user,
            "acting_user",
            known.bot_user_id,
            source,
            |id| format!("users/{id}"),
        )
        .await?
        .map(|v| user(v, &e.acting_user)),
        user: object(&e.user, "user", known.user_id, source, |id| {
            format!("users/{id}")
        })
        .await?
        .map(|v| user(v, &e.user)),
        channel: object(&e.channel, "channel", known.channel_id, source, |id| {
            format!("channels/{id}")
        })
        .await?
        .map(|mut v| {
            // Its id level names the team too.
            v.entry("team_id").or_insert_with(|| known.team_id.into());
            pick(v, &e.channel, CHANNEL_SUMMARY, &["id", "team_id"], &[])
        }),
        team: object(&e.team, "team", known.team_id, source, |id| {
            format!("teams/{id}")
        })
        .await?
        .map(|v| pick(v, &e.team, TEAM_SUMMARY, &["id"], &[])),
        post: post(&e.post, known, source).await?,
    })
}

/// The object `id` names at the level `requested`: `None` when not asked for (or no id),
/// the id alone at `id`, read from Mattermost at a summary or more.
async fn object(
    requested: &str,
    name: &str,
    id: &str,
    source: &Source<'_>,
    path: impl Fn(&str) -> String,
) -> Result<Option<Map<String, Value>>, String> {
    let (level, required) = ExpandLevel::parse(requested).unwrap_or((ExpandLevel::None, false));
    if level == ExpandLevel::None || id.is_empty() {
        return Ok(None);
    }
    let by_id = || Map::from_iter([("id".to_owned(), Value::from(id))]);
    if level == ExpandLevel::Id {
        return Ok(Some(by_id()));
    }
    match read(source, &path(id)).await {
        Ok(Value::Object(found)) => Ok(Some(found)),
        Ok(_) | Err(_) if !required => {
            tracing::warn!(object = name, "could not expand; sending its id");
            Ok(Some(by_id()))
        }
        Ok(_) => Err(format!("could not expand {name}: not an object")),
        Err(e) => Err(format!("could not expand {name}: {e}")),
    }
}

async fn read(source: &Source<'_>, path: &str) -> Result<Value, String> {
    let mm = source
        .mattermost
        .ok_or("this host has no Mattermost client here")?;
    if source.bot_token.is_empty() || source.site_url.is_empty() {
        return Err("the install has no bot token to read Mattermost with".into());
    }
    mm.get(source.site_url, source.bot_token, path)
        .await
        .map_err(|e| e.to_string())
}

fn user(v: Map<String, Value>, requested: &str) -> User {
    pick(v, requested, USER_SUMMARY, &["id"], USER_NEVER)
}

/// A post's summary is what the event carries; all of it is read from Mattermost.
async fn post(
    requested: &str,
    known: &Known<'_>,
    source: &Source<'_>,
) -> Result<Option<Post>, String> {
    let (level, _) = ExpandLevel::parse(requested).unwrap_or((ExpandLevel::None, false));
    if level != ExpandLevel::Summary || known.post_id.is_empty() {
        return Ok(object(requested, "post", known.post_id, source, |id| {
            format!("posts/{id}")
        })
        .await?
        .map(|v| pick(v, requested, &[], &["id"], &[])));
    }
    Ok(Some(Post {
        id: known.post_id.into(),
        channel_id: known.channel_id.into(),
        user_id: known.user_id.into(),
        message: known.message.into(),
        ..Default::default()
    }))
}

/// Keeps what `requested` asks for of an object: `id_fields` at `id`, `summary` at a summary,
/// everything but `never` at all.
fn pick<T: serde::de::DeserializeOwned + Default>(
    mut v: Map<String, Value>,
    requested: &str,
    summary: &[&str],
    id_fields: &[&str],
    never: &[&str],
) -> T {
    let (level, _) = ExpandLevel::parse(requested).unwrap_or((ExpandLevel::None, false));
    let keep: Option<&[&str]> = match level {
        ExpandLevel::Summary => Some(summary),
        ExpandLevel::All => None,
        _ => Some(id_fields),
    };
    v.retain(|k, _| !never.contains(&k.as_str()) && keep.is_none_or(|f| f.contains(&k.as_str())));
    serde_json::from_value(Value::Object(v)).unwrap_or_default()
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
