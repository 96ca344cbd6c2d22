//! Subscriptions: which app wants which subject, scoped to a channel or team, and the call to
//! deliver it to. The body is Apps-compatible (`subject`, `channel_id`, `team_id`, `call`); a
//! subscription is checked against the install's grant and the subject's scope rules, and kept
//! under the tenant so that uninstall removes it with the install.

use serde::{Deserialize, Serialize};

use crate::error::Error;
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
            .ok_or_else(|| Error::BadRequest("`subject` is missing".into()))?;
        if self.call.path.is_empty() || !self.call.path.starts_with('/') {
            return Err(Error::BadRequest(
                "`call.path` must be an absolute call path, e.g. /on-join".into(),
            ));
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
            return Err(Error::BadRequest(format!("{} {rule}", wire_name(subject))));
        }
        if !install.granted_subjects.contains(&subject) {
            return Err(Error::Forbidden(format!(
                "`{}` was not granted the subject {}",
                install.app_id,
                wire_name(subject)
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

    /// The sort key: re-subscribing to the same subject and scope replaces the earlier one.
    pub fn key(&self, app: &str, subject: Subject) -> String {
        let subject = wire_name(subject);
        let scope = if !self.channel_id.is_empty() {
            format!("c:{}", self.channel_id)
        } else if !self.team_id.is_empty() {
            format!("t:{}", self.team_id)
        } else {
            "-".into()
        };
        format!("SUB#{app}#{subject}#{scope}")
    }
}

use super::wire as wire_name;

fn tenant_pk(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

/// Subscription storage, next to the installs.
impl InstallState {
    /// Stores (or replaces) a subscription after checking it against `install`.
    pub async fn subscribe(
        &self,
        install: &Install,
        subscription: Subscription,
    ) -> Result<(), Error> {
        let subject = subscription.validate(install)?;
        let sk = subscription.key(&install.app_id, subject);
        let body = serde_json::to_value(Subscribed {
            app_id: install.app_id.clone(),
            subscription,
        })
        .expect("subscriptions serialise");
        let pk = tenant_pk(&install.tenant_id);
        // A concurrent subscriber may win a round; ask again from a fresh read, a bounded number of times.
        for _ in 0..16 {
            let result = match self.items().get(&pk, &sk).await? {
                None => self.items().create(&pk, &sk, &body).await,
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
            .ok_or_else(|| Error::BadRequest("`subject` is missing".into()))?;
        Ok(self
            .items()
            .delete(
                &tenant_pk(&install.tenant_id),
                &subscription.key(&install.app_id, subject),
            )
            .await?)
    }

    /// The subscriptions of one install.
    pub async fn subscriptions_of(
        &self,
        install: &Install,
    ) -> Result<Vec<Subscription>, StoreError> {
        let prefix = format!("SUB#{}#", install.app_id);
        let items = self
            .items()
            .query(&tenant_pk(&install.tenant_id), &prefix)
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|i| serde_json::from_value::<Subscribed>(i.body).ok())
            .map(|s| s.subscription)
            .collect())
    }

    /// Every subscription of a tenant to `subject`, of every app: what fan-out delivers to.
    pub async fn subscribers(
        &self,
        tenant: &str,
        subject: Subject,
    ) -> Result<Vec<Subscribed>, StoreError> {
        let items = self.items().query(&tenant_pk(tenant), "SUB#").await?;
        Ok(items
            .into_iter()
            .filter_map(|i| serde_json::from_value::<Subscribed>(i.body).ok())
            .filter(|s| s.subscription.subject == Some(subject))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::apps::BuiltinApps;
    use crate::provision::ensure_tenant_with_apps;
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
        state.subscribe(&install, on_join.clone()).await.unwrap();
        let replaced = Subscription {
            call: Call::path("/on-join-v2"),
            ..on_join.clone()
        };
        state.subscribe(&install, replaced).await.unwrap();
        let other_channel = Subscription {
            channel_id: "c2".into(),
            ..on_join.clone()
        };
        state.subscribe(&install, other_channel).await.unwrap();
        let subs = state
            .subscribers("acme", Subject::UserJoinedChannel)
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
                .subscribers("acme", Subject::ChannelCreated)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(state.unsubscribe(&install, &on_join).await.unwrap());
        assert!(!state.unsubscribe(&install, &on_join).await.unwrap());
        state.delete_app_records("acme", "hello").await.unwrap();
        assert!(
            state
                .subscribers("acme", Subject::UserJoinedChannel)
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
        ] {
            let err = state
                .subscribe(&install, sub(body.clone()))
                .await
                .unwrap_err();
            assert_eq!(err.status(), status, "{body}: {err}");
        }
        assert!(
            state
                .subscribers("acme", Subject::ChannelCreated)
                .await
                .unwrap()
                .is_empty(),
            "nothing stored"
        );
    }
}
