//! The typed records kept in the item store, and the facade the rest of the crate uses.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Item, ItemStore, StoreError};
use crate::protocol::apps::{Permission, Subject};

/// A secret value: serialised as the plain string for storage, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

/// A token the host only ever compares (a command token, a webhook secret, a token Mattermost
/// issued): only its SHA-256 is kept, stored as `sha256:<hex>`, so a leaked record gives none of
/// them away. Records written before tokens were hashed hold the plain token: it is hashed when
/// read, and stored hashed at the next write of the record.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TokenHash(String);

const TOKEN_HASH_PREFIX: &str = "sha256:";

impl TokenHash {
    /// The hash of `token`; an empty token is no token, which nothing matches.
    pub fn of(token: &str) -> Self {
        if token.is_empty() {
            TokenHash::default()
        } else {
            TokenHash(crate::auth::hash_token(token))
        }
    }

    /// SHA-256 of the token, hex; empty when there is none.
    pub fn hex(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "TokenHash(<empty>)"
        } else {
            "TokenHash(<sha256>)"
        })
    }
}

impl Serialize for TokenHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_empty() {
            s.serialize_str("")
        } else {
            s.serialize_str(&format!("{TOKEN_HASH_PREFIX}{}", self.0))
        }
    }
}

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let stored = String::deserialize(d)?;
        match stored.strip_prefix(TOKEN_HASH_PREFIX) {
            Some(hex)
                if hex.len() == 64
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(TokenHash(hex.to_owned()))
            }
            Some(_) => Err(serde::de::Error::custom(
                "a token hash must be `sha256:` and 64 lowercase hex digits",
            )),
            // A record from before tokens were hashed.
            None => Ok(TokenHash::of(&stored)),
        }
    }
}

/// A tenant: one Mattermost installation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    /// The Mattermost site URL, as `context.mattermost_site_url` carries it.
    pub site_url: String,
    /// SHA-256 (hex) of the secret part of the tenant admin token; the token itself is never kept.
    #[serde(default)]
    pub admin_token_hash: String,
    /// The AWS principal (account id or IAM role/user ARN) of the tenant's Mattermost: the only
    /// one its function aliases let invoke them. Without one, alias invokes need the app JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_principal: Option<String>,
    #[serde(default)]
    pub created_at: u64,
    #[serde(skip)]
    pub revision: u64,
}

/// One app installed for one tenant, with the secrets Mattermost authenticates with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Install {
    pub tenant_id: String,
    pub app_id: String,
    pub version: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// HS256 key of the app JWTs Mattermost sends.
    pub jwt_secret: Secret,
    /// The install's own token for classic slash commands and outgoing webhooks.
    pub command_token: TokenHash,
    /// The secret of the app's incoming webhooks (`?secret=`), only ever compared.
    #[serde(default)]
    pub webhook_secret: TokenHash,
    #[serde(default)]
    pub bot_user_id: String,
    #[serde(default)]
    pub bot_access_token: Secret,
    #[serde(default)]
    pub granted_permissions: Vec<Permission>,
    #[serde(default)]
    pub granted_locations: Vec<String>,
    #[serde(default)]
    pub granted_subjects: Vec<Subject>,
    /// Slash commands and outgoing webhooks created in Mattermost for this install, with the
    /// tokens Mattermost issued for them.
    #[serde(default)]
    pub integrations: Vec<RegisteredIntegration>,
    #[serde(default)]
    pub config: Map<String, Value>,
    /// Set while an uninstall is under way: the install no longer serves anything, and a retried
    /// uninstall carries on from here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uninstalling: bool,
    #[serde(default)]
    pub installed_at: u64,
    #[serde(default)]
    pub updated_at: u64,
    #[serde(skip)]
    pub revision: u64,
}

/// A classic integration Mattermost created for an install.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredIntegration {
    /// `slash_command` or `outgoing_webhook`.
    pub kind: String,
    /// The trigger or webhook name from the listing.
    pub name: String,
    /// Mattermost's id of the command or hook.
    pub mattermost_id: String,
    /// The token Mattermost sends with it; empty once a rotation revoked it.
    #[serde(default)]
    pub token: TokenHash,
}

impl Install {
    /// Does `token` match the install's own command token or one Mattermost issued for it?
    pub fn accepts_command_token(&self, token: Option<&str>) -> Result<(), crate::auth::AuthError> {
        let accepted = std::iter::once(&self.command_token)
            .chain(self.integrations.iter().map(|i| &i.token))
            .map(TokenHash::hex);
        crate::auth::verify_command_token(token, accepted)
    }
}

fn enabled() -> bool {
    true
}

impl Install {
    /// Whether a binding at `location` (e.g. `/command/hello/send`) falls under a granted one.
    pub fn location_granted(&self, location: &str) -> bool {
        self.granted_locations.iter().any(|granted| {
            location == granted
                || (location.starts_with(granted.as_str())
                    && location.as_bytes().get(granted.len()) == Some(&b'/'))
        })
    }
}

/// Every tenant's records live in its partition `TENANT#<tenant>`.
pub const TENANT_PK_PREFIX: &str = "TENANT#";

fn tenant_pk(tenant: &str) -> String {
    format!("{TENANT_PK_PREFIX}{tenant}")
}

const TENANT_SK: &str = "TENANT";
const INSTALL_SK_PREFIX: &str = "INSTALL#";
/// Per-install records other modules keep, removed with the install.
const APP_RECORD_KINDS: &[&str] = &["SUB", "PROVISION"];

fn install_sk(app: &str) -> String {
    format!("{INSTALL_SK_PREFIX}{app}")
}

/// An uninstalled app leaves a tombstone in its install's place instead of nothing, so the
/// item's revision keeps counting up across uninstall and re-install: a retried uninstall that
/// read an earlier install can never match (and remove) a later one.
const TOMBSTONE_FIELD: &str = "uninstalled_at";
/// Tombstones go after this long (the store's TTL attribute); by then no uninstall that read
/// the earlier install is still running.
const TOMBSTONE_SECONDS: u64 = 30 * 24 * 3600;

fn is_tombstone(item: &Item) -> bool {
    item.body.get(TOMBSTONE_FIELD).is_some()
}

/// The install an item holds; `None` for a tombstone.
fn decode_install(item: Item) -> Result<Option<Install>, StoreError> {
    if is_tombstone(&item) {
        return Ok(None);
    }
    decode(item, |r: &mut Install, rev| r.revision = rev).map(Some)
}

/// The install an item holds, if it is live: one being uninstalled serves nothing and is as
/// good as gone to everyone but the uninstall that carries on with it.
fn decode_live_install(item: Item) -> Result<Option<Install>, StoreError> {
    Ok(decode_install(item)?.filter(|i| !i.uninstalling))
}

/// How many times a read-modify-write retries after losing a race before giving up.
const MODIFY_ATTEMPTS: usize = 16;

/// Typed access to tenants and installs over any [`ItemStore`].
#[derive(Clone)]
pub struct InstallState {
    items: Arc<dyn ItemStore>,
}

impl InstallState {
    pub fn new(items: Arc<dyn ItemStore>) -> Self {
        InstallState { items }
    }

    /// The item store underneath, for records kept by other modules.
    pub(crate) fn items(&self) -> &dyn ItemStore {
        self.items.as_ref()
    }

    pub async fn tenant(&self, id: &str) -> Result<Option<Tenant>, StoreError> {
        let item = self.items.get(&tenant_pk(id), TENANT_SK).await?;
        item.map(|i| decode(i, |t: &mut Tenant, rev| t.revision = rev))
            .transpose()
    }

    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<Tenant, StoreError> {
        let item = self
            .items
            .create(&tenant_pk(&tenant.id), TENANT_SK, &encode(tenant))
            .await?;
        Ok(Tenant {
            revision: item.revision,
            ..tenant.clone()
        })
    }

    /// A tenant and one of its installs, in one round trip.
    pub async fn tenant_and_install(
        &self,
        tenant: &str,
        app: &str,
    ) -> Result<(Option<Tenant>, Option<Install>), StoreError> {
        let sk = install_sk(app);
        let mut items = self
            .items
            .get_many(&tenant_pk(tenant), &[TENANT_SK, &sk])
            .await?
            .into_iter();
        let tenant = items
            .next()
            .flatten()
            .map(|i| decode(i, |t: &mut Tenant, rev| t.revision = rev))
            .transpose()?;
        let install = match items.next().flatten() {
            Some(item) => decode_live_install(item)?,
            None => None,
        };
        Ok((tenant, install))
    }

    /// The live install of `app` (not one being uninstalled).
    pub async fn install(&self, tenant: &str, app: &str) -> Result<Option<Install>, StoreError> {
        Ok(self
            .install_or_uninstalling(tenant, app)
            .await?
            .filter(|i| !i.uninstalling))
    }

    /// The install of `app` even while it is being uninstalled, for the uninstall that resumes.
    pub async fn install_or_uninstalling(
        &self,
        tenant: &str,
        app: &str,
    ) -> Result<Option<Install>, StoreError> {
        match self.items.get(&tenant_pk(tenant), &install_sk(app)).await? {
            Some(item) => decode_install(item),
            None => Ok(None),
        }
    }

    pub async fn installs(&self, tenant: &str) -> Result<Vec<Install>, StoreError> {
        let items = self
            .items
            .query(&tenant_pk(tenant), INSTALL_SK_PREFIX)
            .await?;
        let mut installs = Vec::with_capacity(items.len());
        for item in items {
            installs.extend(decode_live_install(item)?);
        }
        Ok(installs)
    }

    /// Creates the install (over the tombstone of an earlier one); [`StoreError::Conflict`] if
    /// the app is installed, or being uninstalled.
    pub async fn create_install(&self, install: &Install) -> Result<Install, StoreError> {
        let (pk, sk) = (tenant_pk(&install.tenant_id), install_sk(&install.app_id));
        let body = encode(install);
        let item = match self.items.create(&pk, &sk, &body).await {
            Err(StoreError::Conflict) => match self.items.get(&pk, &sk).await? {
                Some(old) if is_tombstone(&old) => {
                    self.items.replace(&pk, &sk, old.revision, &body).await?
                }
                _ => return Err(StoreError::Conflict),
            },
            other => other?,
        };
        Ok(Install {
            revision: item.revision,
            ..install.clone()
        })
    }

    /// Writes `install` if nobody changed it since it was read (its `revision`).
    pub async fn update_install(&self, install: &Install) -> Result<Install, StoreError> {
        let pk = tenant_pk(&install.tenant_id);
        let item = self
            .items
            .replace(
                &pk,
                &install_sk(&install.app_id),
                install.revision,
                &encode(install),
            )
            .await?;
        Ok(Install {
            revision: item.revision,
            ..install.clone()
        })
    }

    /// Reads, changes and writes an install, retrying from a fresh read when a concurrent
    /// writer got there first. `change` may refuse by returning `Err`, which is passed on.
    pub async fn modify_install<E: From<StoreError>>(
        &self,
        tenant: &str,
        app: &str,
        mut change: impl FnMut(&mut Install) -> Result<(), E>,
    ) -> Result<Install, E> {
        for _ in 0..MODIFY_ATTEMPTS {
            let mut install = self
                .install(tenant, app)
                .await?
                .ok_or(StoreError::NotFound)?;
            change(&mut install)?;
            match self.update_install(&install).await {
                Err(StoreError::Conflict) => continue,
                other => return Ok(other?),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Deletes what other modules keep for an install under sort keys `<KIND>#<app>` or
    /// `<KIND>#<app>#...` in the tenant partition: provisioning records, and subscriptions in
    /// the layout of earlier versions (see `events::subscriptions` for today's).
    pub async fn delete_app_records(&self, tenant: &str, app: &str) -> Result<(), StoreError> {
        let pk = tenant_pk(tenant);
        for kind in APP_RECORD_KINDS {
            for item in self.items.query(&pk, &format!("{kind}#{app}")).await? {
                let rest = &item.sk[kind.len() + 1 + app.len()..];
                if rest.is_empty() || rest.starts_with('#') {
                    self.items.delete(&pk, &item.sk).await?;
                }
            }
        }
        Ok(())
    }

    /// Replaces `install` by a tombstone if it is still at the revision it was read at:
    /// [`StoreError::Conflict`] if anyone changed (or re-installed) it since.
    pub async fn remove_install(&self, install: &Install) -> Result<(), StoreError> {
        let now = crate::auth::now();
        let tombstone = serde_json::json!({
            TOMBSTONE_FIELD: now,
            super::EXPIRES_AT_FIELD: now + TOMBSTONE_SECONDS,
        });
        self.items
            .replace(
                &tenant_pk(&install.tenant_id),
                &install_sk(&install.app_id),
                install.revision,
                &tombstone,
            )
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
impl InstallState {
    /// Gives an existing tenant an AWS principal, as registration would have.
    pub(crate) async fn set_aws_principal(&self, tenant: &str, principal: &str) {
        let mut t = self.tenant(tenant).await.unwrap().unwrap();
        t.aws_principal = Some(principal.into());
        self.items
            .replace(&tenant_pk(tenant), TENANT_SK, t.revision, &encode(&t))
            .await
            .unwrap();
    }
}

fn encode<T: Serialize>(record: &T) -> Value {
    // Records are plain structs of strings, numbers and maps: serialising cannot fail.
    serde_json::to_value(record).expect("records serialise to JSON")
}

fn decode<T: DeserializeOwned>(
    item: Item,
    set_revision: impl FnOnce(&mut T, u64),
) -> Result<T, StoreError> {
    let mut record: T = serde_json::from_value(item.body).map_err(|e| StoreError::Corrupt {
        pk: item.pk.clone(),
        sk: item.sk.clone(),
        reason: e.to_string(),
    })?;
    set_revision(&mut record, item.revision);
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    fn state() -> InstallState {
        InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()))
    }

    fn install() -> Install {
        Install {
            tenant_id: "acme".into(),
            app_id: "hello".into(),
            version: "v1.0.0".into(),
            enabled: true,
            jwt_secret: Secret::new("jwt-secret-value"),
            command_token: TokenHash::of("command-token-value"),
            granted_locations: vec!["/command".into()],
            ..Default::default()
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let shown = format!("{:?}", install());
        assert!(
            !shown.contains("jwt-secret-value") && !shown.contains("command-token-value"),
            "{shown}"
        );
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn location_grants_match_whole_segments() {
        let i = install();
        assert!(i.location_granted("/command"));
        assert!(i.location_granted("/command/hello/send"));
        assert!(!i.location_granted("/commander"));
        assert!(!i.location_granted("/channel_header/x"));
    }

    #[tokio::test]
    async fn installs_are_created_once_and_updated_by_revision() {
        let s = state();
        s.create_tenant(&Tenant {
            id: "acme".into(),
            site_url: "https://mm.acme.test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(
            s.tenant("acme").await.unwrap().unwrap().site_url,
            "https://mm.acme.test"
        );
        let created = s.create_install(&install()).await.unwrap();
        assert_eq!(created.revision, 1);
        assert!(matches!(
            s.create_install(&install()).await,
            Err(StoreError::Conflict)
        ));
        let read = s.install("acme", "hello").await.unwrap().unwrap();
        assert_eq!(read, created);
        let updated = s
            .update_install(&Install {
                version: "v1.1.0".into(),
                ..read.clone()
            })
            .await
            .unwrap();
        assert_eq!(updated.revision, 2);
        assert!(
            matches!(s.update_install(&read).await, Err(StoreError::Conflict)),
            "stale revision"
        );
        assert_eq!(s.installs("acme").await.unwrap(), vec![updated]);
        assert!(s.installs("other").await.unwrap().is_empty());
        s.remove_install(&s.install("acme", "hello").await.unwrap().unwrap())
            .await
            .unwrap();
        assert_eq!(s.install("acme", "hello").await.unwrap(), None);
        assert!(s.install("acme", "hello").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_stale_removal_cannot_remove_a_later_install() {
        let s = state();
        let first = s.create_install(&install()).await.unwrap();
        s.remove_install(&first).await.unwrap();
        let second = s.create_install(&install()).await.unwrap();
        assert!(
            second.revision > first.revision,
            "revisions keep counting across re-installs"
        );
        // An uninstall retried with what it read before the re-install must not match.
        assert!(matches!(
            s.remove_install(&first).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(s.install("acme", "hello").await.unwrap(), Some(second));
        assert!(s.installs("acme").await.unwrap().len() == 1);
    }

    #[tokio::test]
    async fn modify_retries_until_every_change_lands() {
        let s = state();
        s.create_install(&install()).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|n| {
                let s = s.clone();
                tokio::spawn(async move {
                    s.modify_install::<StoreError>("acme", "hello", |i| {
                        i.config.insert(format!("k{n}"), Value::from(n));
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let i = s.install("acme", "hello").await.unwrap().unwrap();
        assert_eq!(i.config.len(), 16, "no lost update");
        assert_eq!(i.revision, 17);
    }

    #[test]
    fn token_hashes_are_stored_prefixed_and_read_from_either_form() {
        let hash = TokenHash::of("abc");
        let stored = serde_json::to_value(&hash).unwrap();
        assert_eq!(
            stored,
            Value::from(format!("sha256:{}", crate::auth::hash_token("abc")))
        );
        assert_eq!(serde_json::from_value::<TokenHash>(stored).unwrap(), hash);
        assert_eq!(
            serde_json::from_value::<TokenHash>(Value::from("abc")).unwrap(),
            hash,
            "a plain token, as records from before hashing hold, is hashed on read"
        );
        assert_eq!(serde_json::to_value(TokenHash::of("")).unwrap(), "");
        assert!(
            serde_json::from_value::<TokenHash>(Value::from(""))
                .unwrap()
                .is_empty()
        );
        assert!(serde_json::from_value::<TokenHash>(Value::from("sha256:abc")).is_err());
        assert!(!format!("{hash:?}").contains(hash.hex()));
    }

    #[tokio::test]
    async fn records_from_before_hashing_keep_working_and_are_hashed_when_next_written() {
        let items = Arc::new(SqliteStore::open_in_memory().unwrap());
        let plain = [
            "old-command-token",
            "old-webhook-secret",
            "old-mattermost-token",
        ];
        items
            .create(
                "TENANT#acme",
                "INSTALL#hello",
                &serde_json::json!({
                    "tenant_id": "acme", "app_id": "hello", "version": "v1.0.0",
                    "jwt_secret": "jwt-secret-value",
                    "command_token": plain[0], "webhook_secret": plain[1],
                    "integrations": [{"kind": "slash_command", "name": "hello",
                                      "mattermost_id": "c0000000000000000000000001", "token": plain[2]}]
                }),
            )
            .await
            .unwrap();
        let s = InstallState::new(items.clone());
        let accepts = |i: &Install, token| i.accepts_command_token(Some(token)).is_ok();
        let old = s.install("acme", "hello").await.unwrap().unwrap();
        assert!(accepts(&old, plain[0]) && accepts(&old, plain[2]));
        assert!(!accepts(&old, "another-token"));
        assert_eq!(old.webhook_secret, TokenHash::of(plain[1]));

        s.modify_install::<StoreError>("acme", "hello", |i| {
            i.enabled = false;
            Ok(())
        })
        .await
        .unwrap();
        let raw = items
            .get("TENANT#acme", "INSTALL#hello")
            .await
            .unwrap()
            .unwrap()
            .body
            .to_string();
        for token in plain {
            assert!(!raw.contains(token), "{token} is still in the clear: {raw}");
        }
        let rewritten = s.install("acme", "hello").await.unwrap().unwrap();
        assert!(accepts(&rewritten, plain[0]) && accepts(&rewritten, plain[2]));
        assert_eq!(rewritten.jwt_secret.expose(), "jwt-secret-value");
    }

    #[tokio::test]
    async fn corrupt_records_are_reported_not_panicked_on() {
        let items = Arc::new(SqliteStore::open_in_memory().unwrap());
        items
            .create(
                "TENANT#acme",
                "INSTALL#hello",
                &serde_json::json!({"app_id": 5}),
            )
            .await
            .unwrap();
        let s = InstallState::new(items);
        assert!(matches!(
            s.install("acme", "hello").await,
            Err(StoreError::Corrupt { .. })
        ));
    }
}
