//! Subscriptions: which app wants which subject, scoped to a channel or team, and the call to
//! deliver it to. The body is Apps-compatible (`subject`, `channel_id`, `team_id`, `call`); a
//! subscription is checked against the install's grant and the subject's scope rules, and kept
//! under the tenant so that uninstall removes it with the install.

use serde::{Deserialize, Serialize};

use super::{ALL_KINDS, EventKind};
use crate::error::Error;
use crate::ids;
use crate::limits::Limits;
use crate::paths::Kind;
use crate::protocol::apps::{Call, Subject};
use crate::store::{Install, InstallState, StoreError};

/// What an app sends to subscribe (`apps.Subscription`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub subject: Option<Subject>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub team_id: String,
    #[serde(default)]
    pub call: Call,
}

/// A stored subscription: whose it is, on top of what was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub app_id: String,
    #[serde(flatten)]
    pub subscription: Subscription,
}

impl Subscription {
    /// The subject, checked against the Apps scope rules and the install's grant.
    pub fn validate(&self, install: &Install) -> Result<Subject, Error> {
        let subject = self
            .subject
            .clone()
            .ok_or_else(|| Error::BadRequest("`subject` is missing".into()))?;
        let path = &self.call.path;
        if !ids::valid_call_path(path) {
            return Err(Error::BadRequest(format!(
                "`call.path` must be an absolute call path of at most {} URL-safe characters without `.` or `..` segments, e.g. /on-join",
                ids::MAX_CALL_PATH_LEN
            )));
        }
        // The host's own routes (notifications, commands, subscriptions...) are not calls: a
        // delivery to one would feed events back into the host.
        if Kind::FIXED.iter().any(|k| k.fixed_path() == Some(path)) {
            return Err(Error::BadRequest(format!(
                "`call.path` {path} is one of this host's own routes; name one of the app's calls"
            )));
        }
        ids::check_mattermost_id("channel_id", &self.channel_id).map_err(Error::BadRequest)?;
        ids::check_mattermost_id("team_id", &self.team_id).map_err(Error::BadRequest)?;
        let size = serde_json::to_vec(&self.call).map_or(usize::MAX, |b| b.len());
        if size > MAX_CALL_BYTES {
            return Err(Error::BadRequest(format!(
                "the subscription's `call` is {size} bytes; at most {MAX_CALL_BYTES} are kept"
            )));
        }
        let (channel, team) = (!self.channel_id.is_empty(), !self.team_id.is_empty());
        let scope_error = match subject {
            Subject::UserCreated
            | Subject::UserUpdated
            | Subject::BotJoinedChannel
            | Subject::BotLeftChannel
            | Subject::BotJoinedTeam
            | Subject::BotLeftTeam
                if channel || team =>
            {
                Some("takes neither channel_id nor team_id")
            }
            Subject::UserJoinedChannel | Subject::UserLeftChannel if team => {
                Some("takes no team_id")
            }
            Subject::UserJoinedTeam | Subject::UserLeftTeam if channel => {
                Some("takes no channel_id")
            }
            // Apps requires team_id; here none means every team of the tenant.
            Subject::ChannelCreated if channel => Some("takes no channel_id"),
            Subject::PostCreated | Subject::BotMentioned | Subject::SelfMentioned if team => {
                Some("takes no team_id")
            }
            _ => None,
        };
        if let Some(rule) = scope_error {
            return Err(Error::BadRequest(format!("{subject} {rule}")));
        }
        if EventKind::from_subject(&subject).is_none() {
            return Err(Error::BadRequest(format!(
                "the subject {subject} is not delivered by this host"
            )));
        }
        if !install.granted_subjects.contains(&subject) {
            return Err(Error::Forbidden(format!(
                "`{}` was not granted the subject {}",
                install.app_id, subject
            )));
        }
        Ok(subject)
    }

    /// Whether `event` falls in this subscription's scope: no channel or team means every one
    /// of the tenant (the welcome bot's case), otherwise the event's must match.
    pub fn covers(&self, event: &super::Event) -> bool {
        (self.channel_id.is_empty() || self.channel_id == event.channel_id)
            && (self.team_id.is_empty() || self.team_id == event.team_id)
    }

    /// `c:<channel>`, `t:<team>`, or `-` for the whole tenant.
    fn scope(&self) -> String {
        if !self.channel_id.is_empty() {
            format!("c:{}", self.channel_id)
        } else if !self.team_id.is_empty() {
            format!("t:{}", self.team_id)
        } else {
            "-".into()
        }
    }

    /// Who receives deliveries of this subscription, `<app>#<subject>#<scope>`: what delivery
    /// records and delivery ids name.
    pub fn subscriber(&self, app: &str, subject: &Subject) -> String {
        format!("{app}#{}#{}", subject, self.scope())
    }
}

/// The largest `call` (path, expand, state) a subscription may keep.
pub const MAX_CALL_BYTES: usize = 4096;

/// Subscriptions live in the tenant's partition under `SUBSCRIPTION#<subject>#<app>#<scope>`:
/// subject first, so an event reads only the subscribers of its own subject. Re-subscribing to
/// the same subject and scope replaces the earlier one.
fn subject_prefix(subject: &Subject) -> String {
    format!("SUBSCRIPTION#{}#", subject)
}

fn sort_key(subscription: &Subscription, app: &str, subject: &Subject) -> String {
    format!("{}{app}#{}", subject_prefix(subject), subscription.scope())
}

fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

fn decode(items: Vec<crate::store::Item>) -> impl Iterator<Item = Subscribed> {
    items
        .into_iter()
        .filter_map(|i| serde_json::from_value::<Subscribed>(i.body).ok())
}

/// Subscription storage, next to the installs.
impl InstallState {
    /// Stores (or replaces) a subscription after checking it against `install`; a new one is
    /// refused once the install holds `max` of them.
    pub async fn subscribe(
        &self,
        install: &Install,
        subscription: Subscription,
        max: usize,
    ) -> Result<(), Error> {
        let subject = subscription.validate(install)?;
        let sk = sort_key(&subscription, &install.app_id, &subject);
        let body = serde_json::to_value(Subscribed {
            app_id: install.app_id.clone(),
            subscription,
        })
        .map_err(|e| Error::BadRequest(format!("the subscription cannot be stored: {e}")))?;
        let pk = tenant_pk(&install.tenant_id);
        // A concurrent subscriber may win a round; ask again from a fresh read, a bounded number of times.
        for _ in 0..16 {
            let result = match self.items().get(&pk, &sk).await? {
                None => {
                    let held = self.subscriptions_of(install).await?.len();
                    Limits::check_quota(
                        &format!("subscriptions of `{}`", install.app_id),
                        held,
                        max,
                    )?;
                    self.items().create(&pk, &sk, &body).await
                }
                Some(old) => self.items().replace(&pk, &sk, old.revision, &body).await,
            };
            match result {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict | StoreError::NotFound) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(
            "the subscription kept changing under concurrent writers; retry".into(),
        ))
    }

    /// Removes the subscription with this subject and scope; returns whether there was one.
    pub async fn unsubscribe(
        &self,
        install: &Install,
        subscription: &Subscription,
    ) -> Result<bool, Error> {
        let subject = subscription
            .subject
            .clone()
            .ok_or_else(|| Error::BadRequest("`subject` is missing".into()))?;
        Ok(self
            .items()
            .delete(
                &tenant_pk(&install.tenant_id),
                &sort_key(subscription, &install.app_id, &subject),
            )
            .await?)
    }

    /// The subscriptions of one install, granted still or not: one read per subject this host
    /// delivers (only those are stored).
    pub async fn subscriptions_of(
        &self,
        install: &Install,
    ) -> Result<Vec<Subscription>, StoreError> {
        let pk = tenant_pk(&install.tenant_id);
        let mut all = Vec::new();
        for kind in ALL_KINDS {
            let prefix = format!("{}{}#", subject_prefix(&kind.subject()), install.app_id);
            let items = self.items().query(&pk, &prefix).await?;
            all.extend(decode(items).map(|s| s.subscription));
        }
        Ok(all)
    }

    /// Removes every subscription of an app (uninstall), whatever subjects it holds now.
    pub async fn unsubscribe_all(&self, tenant: &str, app: &str) -> Result<(), StoreError> {
        let pk = tenant_pk(tenant);
        for item in self.items().query(&pk, "SUBSCRIPTION#").await? {
            let owner = item.body.get("app_id").and_then(|a| a.as_str());
            if owner == Some(app) {
                self.items().delete(&pk, &item.sk).await?;
            }
        }
        Ok(())
    }

    /// Every subscription of a tenant to `subject`, of every app: what fan-out delivers to.
    pub async fn subscribers(
        &self,
        tenant: &str,
        subject: &Subject,
    ) -> Result<Vec<Subscribed>, StoreError> {
        let items = self
            .items()
            .query(&tenant_pk(tenant), &subject_prefix(subject))
            .await?;
        Ok(decode(items).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::apps::BuiltinApps;
    use crate::first_run::ensure_tenant_with_apps;
    use crate::store::sqlite::SqliteStore;

    async fn hello() -> (InstallState, Install) {
        let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
        // Only hello: the other built-in apps subscribe on install.
        let only_hello = BuiltinApps::of(vec![Arc::new(crate::apps::hello::Hello)]);
        let install = ensure_tenant_with_apps(&state, "acme", "https://mm.acme.test", &only_hello)
            .await
            .unwrap()
            .remove(0)
            .install;
        (state, install)
    }

    fn sub(v: serde_json::Value) -> Subscription {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn subscriptions_are_stored_replaced_listed_and_removed() {
        let (state, install) = hello().await;
        let on_join = sub(
            json!({"subject": "user_joined_channel", "channel_id": "c1", "call": {"path": "/on-join", "expand": {"user": "summary"}}}),
        );
        state
            .subscribe(&install, on_join.clone(), 100)
            .await
            .unwrap();
        let replaced = Subscription {
            call: Call::path("/on-join-v2"),
            ..on_join.clone()
        };
        state.subscribe(&install, replaced, 100).await.unwrap();
        let other_channel = Subscription {
            channel_id: "c2".into(),
            ..on_join.clone()
        };
        state.subscribe(&install, other_channel, 100).await.unwrap();
        let subs = state
            .subscribers("acme", &Subject::UserJoinedChannel)
            .await
            .unwrap();
        let paths: Vec<&str> = subs
            .iter()
            .map(|s| s.subscription.call.path.as_str())
            .collect();
        assert_eq!(
            paths,
            ["/on-join-v2", "/on-join"],
            "one per scope; the same scope is replaced"
        );
        assert!(
            state
                .subscribers("acme", &Subject::ChannelCreated)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(state.unsubscribe(&install, &on_join).await.unwrap());
        assert!(!state.unsubscribe(&install, &on_join).await.unwrap());
        state.unsubscribe_all("acme", "hello").await.unwrap();
        assert!(
            state
                .subscribers("acme", &Subject::UserJoinedChannel)
                .await
                .unwrap()
                .is_empty(),
            "uninstall removes them"
        );
    }

    #[tokio::test]
    async fn subscriptions_outside_the_grant_or_scope_rules_are_refused() {
        let (state, install) = hello().await;
        for (body, status) in [
            (
                json!({"subject": "channel_created", "team_id": "t1", "call": "/on-created"}),
                403,
            ),
            (
                json!({"subject": "user_joined_channel", "team_id": "t1", "call": "/x"}),
                400,
            ),
            (
                json!({"subject": "user_created", "channel_id": "c1", "call": "/x"}),
                400,
            ),
            (json!({"call": "/x"}), 400),
            (json!({"subject": "user_joined_channel"}), 400),
            // A subject Apps may add later: kept by the parser, refused where it would be
            // delivered.
            (json!({"subject": "moon_landed", "call": "/x"}), 400),
            // The host's own routes: a delivery there would feed events back in.
            (
                json!({"subject": "user_joined_channel", "call": {"path": "/v1/notify"}}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "call": "/v1/events"}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "call": "/../../../events/t/acme"}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "call": format!("/{}", "a".repeat(300))}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "channel_id": "c".repeat(5000), "call": "/x"}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "channel_id": "c\n1", "call": "/x"}),
                400,
            ),
            (
                json!({"subject": "user_joined_channel", "call": {"path": "/x", "state": "s".repeat(5000)}}),
                400,
            ),
        ] {
            let err = state
                .subscribe(&install, sub(body.clone()), 100)
                .await
                .unwrap_err();
            assert_eq!(err.status(), status, "{body}: {err}");
        }
        assert!(
            state
                .subscribers("acme", &Subject::UserJoinedChannel)
                .await
                .unwrap()
                .is_empty(),
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn an_install_holds_at_most_its_limit_and_replacing_one_is_not_a_new_one() {
        let (state, install) = hello().await;
        let in_channel = |c: &str| {
            sub(json!({"subject": "user_joined_channel", "channel_id": c, "call": "/on-join"}))
        };
        for c in ["c1", "c2", "c3"] {
            state.subscribe(&install, in_channel(c), 3).await.unwrap();
        }
        let err = state
            .subscribe(&install, in_channel("c4"), 3)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 429, "{err}");
        state
            .subscribe(&install, in_channel("c2"), 3)
            .await
            .expect("replacing an existing one stays within the limit");
        assert_eq!(state.subscriptions_of(&install).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn subscriptions_are_keyed_by_subject_first() {
        let (state, install) = hello().await;
        state
            .subscribe(
                &install,
                sub(json!({"subject": "user_joined_channel", "call": "/on-join"})),
                100,
            )
            .await
            .unwrap();
        let keys: Vec<String> = state
            .items()
            .query("TENANT#acme", "SUBSCRIPTION#user_joined_channel#")
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.sk)
            .collect();
        assert_eq!(keys, ["SUBSCRIPTION#user_joined_channel#hello#-"]);
    }
}
