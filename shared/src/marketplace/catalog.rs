//! App Listings: one installable package per app, combining a Cloud App (its manifest per
//! version), classic integrations (slash commands, webhooks) and a plugin reference. The catalog
//! ships as JSON files under `infra/catalog/`, compiled in, and is loaded into the store.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::valid_id;
use crate::outbound::{PrivateNetworks, check_base_url};
use crate::protocol::apps::{Manifest, Permission, Subject};
use crate::store::{InstallState, StoreError};

/// The catalog files shipped with this build: (file name, contents).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "infra/catalog/hello.json",
        include_str!("../../../infra/catalog/hello.json"),
    ),
    (
        "infra/catalog/jitsi.json",
        include_str!("../../../infra/catalog/jitsi.json"),
    ),
    (
        "infra/catalog/marketplace.json",
        include_str!("../../../infra/catalog/marketplace.json"),
    ),
    (
        "infra/catalog/notices.json",
        include_str!("../../../infra/catalog/notices.json"),
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    pub id: String,
    pub display_name: String,
    pub description: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub icon_url: String,
    /// Newest first.
    #[serde(default)]
    pub versions: Vec<ListingVersion>,
    #[serde(default)]
    pub integrations: Integrations,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingVersion {
    pub version: String,
    pub manifest: Manifest,
    #[serde(default)]
    pub requested_subjects: Vec<Subject>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_notes: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integrations {
    #[serde(default)]
    pub slash_commands: Vec<SlashCommandSpec>,
    #[serde(default)]
    pub incoming_webhooks: Vec<IncomingWebhookSpec>,
    #[serde(default)]
    pub outgoing_webhooks: Vec<OutgoingWebhookSpec>,
}

impl Integrations {
    pub fn is_empty(&self) -> bool {
        self.slash_commands.is_empty()
            && self.incoming_webhooks.is_empty()
            && self.outgoing_webhooks.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlashCommandSpec {
    pub trigger: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub hint: String,
    #[serde(default)]
    pub auto_complete: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingWebhookSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingWebhookSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub trigger_words: Vec<String>,
    #[serde(default = "json_content_type")]
    pub content_type: String,
}

fn json_content_type() -> String {
    "application/json".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRef {
    pub id: String,
    pub download_url: String,
    #[serde(default)]
    pub min_server_version: String,
}

/// What a listing offers, for the `type` filter.
pub const KINDS: &[&str] = &["cloud_app", "integration", "plugin"];

impl Listing {
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if !self.versions.is_empty() {
            kinds.push("cloud_app");
        }
        if !self.integrations.is_empty() {
            kinds.push("integration");
        }
        if self.plugin.is_some() {
            kinds.push("plugin");
        }
        kinds
    }

    pub fn version(&self, version: &str) -> Option<&ListingVersion> {
        self.versions.iter().find(|v| v.version == version)
    }

    pub fn latest(&self) -> Option<&ListingVersion> {
        self.versions.first()
    }

    /// Does `query` (already lower-case) appear in the id, name, description or categories?
    pub fn matches(&self, query: &str) -> bool {
        [&self.id, &self.display_name, &self.description]
            .iter()
            .any(|s| s.to_lowercase().contains(query))
            || self
                .categories
                .iter()
                .any(|c| c.to_lowercase().contains(query))
    }
}

/// A catalog file that cannot be loaded: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub field: String,
    pub message: String,
}

/// Parses and checks one catalog file.
pub fn parse(file: &str, text: &str) -> Result<Listing, CatalogError> {
    let err = |field: &str, message: String| CatalogError {
        file: file.to_owned(),
        field: field.to_owned(),
        message,
    };
    let de = &mut serde_json::Deserializer::from_str(text);
    let listing: Listing = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        err(
            if field == "." { "(top level)" } else { &field },
            e.into_inner().to_string(),
        )
    })?;
    if !valid_id(&listing.id) {
        return Err(err(
            "id",
            format!(
                "{:?} is not an app id ({})",
                listing.id,
                crate::ids::ID_RULE
            ),
        ));
    }
    // The Apps plugin refuses app ids under 3 characters (`apps/app_id.go`, `Validate`).
    if listing.id.len() < MIN_APP_ID_LEN {
        return Err(err(
            "id",
            format!(
                "{:?} is too short: Mattermost takes app ids of {MIN_APP_ID_LEN} to {} characters",
                listing.id,
                crate::ids::MAX_ID_LEN
            ),
        ));
    }
    if listing.display_name.trim().is_empty() {
        return Err(err("display_name", "must not be empty".into()));
    }
    if listing.versions.is_empty() && listing.plugin.is_none() {
        return Err(err(
            "versions",
            "a listing needs at least one app version or a plugin".into(),
        ));
    }
    for (i, v) in listing.versions.iter().enumerate() {
        let at = |f: &str| format!("versions[{i}].{f}");
        if !valid_version(&v.version) {
            return Err(err(
                &at("version"),
                format!(
                    "{:?} is not a version (at most 10 letters, digits, `.`, `_`, `-`)",
                    v.version
                ),
            ));
        }
        if listing.versions[..i]
            .iter()
            .any(|earlier| earlier.version == v.version)
        {
            return Err(err(
                &at("version"),
                format!("{} is listed twice", v.version),
            ));
        }
        if v.manifest.app_id != listing.id {
            return Err(err(
                &at("manifest.app_id"),
                format!("must be the listing id {:?}", listing.id),
            ));
        }
        if v.manifest.version != v.version {
            return Err(err(
                &at("manifest.version"),
                format!("must be {:?}", v.version),
            ));
        }
        if v.manifest.display_name.is_empty() || v.manifest.homepage_url.is_empty() {
            return Err(err(
                &at("manifest"),
                "display_name and homepage_url are required".into(),
            ));
        }
        // Only its form here: where it points is checked by the outbound client on every
        // delivery, under the host's policy on private networks.
        if let Some(http) = v.manifest.http.as_ref().filter(|h| !h.root_url.is_empty()) {
            check_base_url(&http.root_url, PrivateNetworks::Allowed)
                .map_err(|why| err(&at("manifest.http.root_url"), why.to_string()))?;
        }
        for p in &v.manifest.requested_permissions {
            let needs = match p {
                Permission::RemoteWebhooks | Permission::UserJoinedChannelNotification => {
                    Some(Permission::ActAsBot)
                }
                Permission::RemoteOauth2 => Some(Permission::ActAsUser),
                _ => None,
            };
            if let Some(needed) = needs.filter(|n| !v.manifest.requested_permissions.contains(n)) {
                return Err(err(
                    &at("manifest.requested_permissions"),
                    format!("{p} requires {needed}"),
                ));
            }
        }
    }
    for (i, c) in listing.integrations.slash_commands.iter().enumerate() {
        if c.trigger.is_empty()
            || c.trigger.starts_with('/')
            || c.trigger.contains(char::is_whitespace)
        {
            return Err(err(
                &format!("integrations.slash_commands[{i}].trigger"),
                "one word, without the leading /".into(),
            ));
        }
    }
    for (i, w) in listing.integrations.outgoing_webhooks.iter().enumerate() {
        if w.trigger_words.is_empty() {
            return Err(err(
                &format!("integrations.outgoing_webhooks[{i}].trigger_words"),
                "at least one trigger word".into(),
            ));
        }
        if !["application/json", "application/x-www-form-urlencoded"]
            .contains(&w.content_type.as_str())
        {
            return Err(err(
                &format!("integrations.outgoing_webhooks[{i}].content_type"),
                "application/json or application/x-www-form-urlencoded".into(),
            ));
        }
    }
    if let Some(p) = &listing.plugin
        && !(p.download_url.starts_with("https://") || p.download_url.starts_with("http://"))
    {
        return Err(err("plugin.download_url", "must be an http(s) URL".into()));
    }
    Ok(listing)
}

/// The shortest app id Mattermost installs.
pub const MIN_APP_ID_LEN: usize = 3;

/// Apps version strings: at most 10 of letters, digits, `.`, `_`, `-`.
pub fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 10
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Parses every shipped file; the first bad one is the error.
pub fn shipped() -> Result<Vec<Listing>, CatalogError> {
    load(
        SHIPPED
            .iter()
            .map(|(file, text)| ((*file).to_owned(), (*text).to_owned())),
    )
}

/// The shipped catalog and the listing files (`*.json`, in name order) of an operator's own
/// catalog directory: apps hosted elsewhere, say. An id listed twice is an error.
pub fn shipped_and_dir(dir: &Path) -> Result<Vec<Listing>, CatalogError> {
    let unreadable = |message: String| CatalogError {
        file: dir.display().to_string(),
        field: "-".into(),
        message,
    };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| unreadable(format!("cannot read the directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut files: Vec<(String, String)> = SHIPPED
        .iter()
        .map(|(file, text)| ((*file).to_owned(), (*text).to_owned()))
        .collect();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| unreadable(format!("cannot read {}: {e}", path.display())))?;
        files.push((path.display().to_string(), text));
    }
    load(files)
}

/// Parses (file name, text) pairs and checks that no id is listed twice.
fn load(files: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Listing>, CatalogError> {
    let mut listings: Vec<Listing> = Vec::new();
    for (file, text) in files {
        let listing = parse(&file, &text)?;
        if listings.iter().any(|e| e.id == listing.id) {
            return Err(CatalogError {
                file,
                field: "id".into(),
                message: format!("{} is listed twice", listing.id),
            });
        }
        listings.push(listing);
    }
    Ok(listings)
}

/// The partition of the pointer to the current catalog.
pub const CATALOG_PK: &str = "CATALOG";
/// Each published catalog is a partition of its own, `CATALOG#<generation>#<sha256>`, written
/// once; the pointer moves to it only forward, so readers switch atomically and an older
/// publisher can never take the catalog back.
pub const CATALOG_SNAPSHOT_PK_PREFIX: &str = "CATALOG#";
const CURRENT_SK: &str = "CURRENT";
const LISTING_PREFIX: &str = "LISTING#";

/// The shipped catalog's generation. Raise it with every change to a shipped listing; a test
/// holds it to [`GENERATION_SHA256`], and the deploy step publishes it (see `template.yaml`).
pub const GENERATION: u64 = 1;
/// [`content_sha256`] of the shipped listings at [`GENERATION`].
pub const GENERATION_SHA256: &str =
    "6dc075516662245ab6b17f6d30367fa40f90b37e22207f8da4a6ce0e0b1796e1";

/// SHA-256 (hex) of the listings' canonical JSON: formatting of the files does not count.
pub fn content_sha256(listings: &[Listing]) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(listings).expect("listings serialise");
    hex(&sha2::Sha256::digest(json))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which catalog the store serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVersion {
    pub generation: u64,
    pub sha256: String,
}

impl CatalogVersion {
    fn partition(&self) -> String {
        format!(
            "{CATALOG_SNAPSHOT_PK_PREFIX}{}#{}",
            self.generation, self.sha256
        )
    }
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// This copy is now the stored catalog.
    Written(CatalogVersion),
    /// The stored catalog is this copy already, or newer: it was left as it is.
    Kept(CatalogVersion),
}

/// How many times a publish retries moving the pointer after losing a race.
const PUBLISH_ATTEMPTS: usize = 16;

/// Catalog access in the store.
impl InstallState {
    /// Publishes `listings` as catalog `generation`, unless the stored catalog is newer (a
    /// higher generation) or the same. A copy of the same generation with other content (an
    /// operator's catalog directory) replaces it. Only the deploy step and the local host call
    /// this; request handlers only read.
    pub async fn publish_catalog(
        &self,
        generation: u64,
        listings: &[Listing],
    ) -> Result<Published, StoreError> {
        let ours = CatalogVersion {
            generation,
            sha256: content_sha256(listings),
        };
        let mut snapshot_written = false;
        for _ in 0..PUBLISH_ATTEMPTS {
            let stored = self.items().get(CATALOG_PK, CURRENT_SK).await?;
            let current = stored
                .as_ref()
                .map(|item| decode_version(item.clone()))
                .transpose()?;
            if let Some(current) = current.filter(|c| {
                c.generation > ours.generation
                    || (c.generation == ours.generation && c.sha256 == ours.sha256)
            }) {
                return Ok(Published::Kept(current));
            }
            if !snapshot_written {
                self.write_snapshot(&ours, listings).await?;
                snapshot_written = true;
            }
            let body = serde_json::to_value(&ours).expect("versions serialise");
            let moved = match &stored {
                None => self.items().create(CATALOG_PK, CURRENT_SK, &body).await,
                Some(item) => {
                    self.items()
                        .replace(CATALOG_PK, CURRENT_SK, item.revision, &body)
                        .await
                }
            };
            match moved {
                Ok(_) => return Ok(Published::Written(ours)),
                // Another publisher moved it first: look again at what it moved it to.
                Err(StoreError::Conflict | StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict)
    }

    /// Writes the listings into the snapshot's own partition. Its key names its content, so a
    /// listing already there (a concurrent or interrupted publish of the same copy) is the same.
    async fn write_snapshot(
        &self,
        version: &CatalogVersion,
        listings: &[Listing],
    ) -> Result<(), StoreError> {
        let pk = version.partition();
        for listing in listings {
            let body = serde_json::to_value(listing).expect("listings serialise");
            let sk = format!("{LISTING_PREFIX}{}", listing.id);
            match self.items().create(&pk, &sk, &body).await {
                Ok(_) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The catalog the store serves; `None` before the first publish.
    pub async fn catalog_version(&self) -> Result<Option<CatalogVersion>, StoreError> {
        self.items()
            .get(CATALOG_PK, CURRENT_SK)
            .await?
            .map(decode_version)
            .transpose()
    }

    /// Every listing of the current catalog (none before the first publish).
    pub async fn listings(&self) -> Result<Vec<Listing>, StoreError> {
        let Some(version) = self.catalog_version().await? else {
            return Ok(Vec::new());
        };
        self.items()
            .query(&version.partition(), LISTING_PREFIX)
            .await?
            .into_iter()
            .map(decode_listing)
            .collect()
    }

    pub async fn listing(&self, id: &str) -> Result<Option<Listing>, StoreError> {
        let Some(version) = self.catalog_version().await? else {
            return Ok(None);
        };
        self.items()
            .get(&version.partition(), &format!("{LISTING_PREFIX}{id}"))
            .await?
            .map(decode_listing)
            .transpose()
    }
}

fn decode_version(item: crate::store::Item) -> Result<CatalogVersion, StoreError> {
    serde_json::from_value(item.body).map_err(|e| StoreError::Corrupt {
        pk: item.pk,
        sk: item.sk,
        reason: e.to_string(),
    })
}

fn decode_listing(item: crate::store::Item) -> Result<Listing, StoreError> {
    let Value::Object(_) = &item.body else {
        return Err(StoreError::Corrupt {
            pk: item.pk,
            sk: item.sk,
            reason: "not an object".into(),
        });
    };
    serde_json::from_value(item.body.clone()).map_err(|e| StoreError::Corrupt {
        pk: item.pk,
        sk: item.sk,
        reason: e.to_string(),
    })
}

/// What every store must do with catalogs, run on SQLite here and on DynamoDB (moto) by the
/// cross-process tests.
#[cfg(any(test, feature = "contract"))]
pub async fn publish_contract(state: &InstallState) {
    assert_eq!(
        state.listings().await.unwrap(),
        [],
        "nothing before a publish"
    );
    let old = shipped().unwrap();
    let mut new = old.clone();
    new[0].description = "newer words".into();
    let (old_gen, new_gen) = (GENERATION + 1, GENERATION + 2);

    let written = state.publish_catalog(new_gen, &new).await.unwrap();
    assert!(matches!(written, Published::Written(ref v) if v.generation == new_gen));
    assert_eq!(
        state.publish_catalog(new_gen, &new).await.unwrap(),
        Published::Kept(state.catalog_version().await.unwrap().unwrap()),
        "the same copy is not written again"
    );
    // An older publisher (a function pinned to an older version, a rollback) leaves it.
    let kept = state.publish_catalog(old_gen, &old).await.unwrap();
    assert!(
        matches!(kept, Published::Kept(ref v) if v.generation == new_gen),
        "{kept:?}"
    );
    let read = state.listing(&new[0].id).await.unwrap().unwrap();
    assert_eq!(read.description, "newer words");
    assert_eq!(state.listings().await.unwrap().len(), new.len());
    assert!(state.listing("nope").await.unwrap().is_none());

    // The same generation with other content (an operator's catalog directory) replaces it,
    // listings that are gone included.
    let fewer = new[1..].to_vec();
    assert!(matches!(
        state.publish_catalog(new_gen, &fewer).await.unwrap(),
        Published::Written(_)
    ));
    assert!(state.listing(&new[0].id).await.unwrap().is_none());
    assert_eq!(state.listings().await.unwrap(), fewer);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apps::BuiltinApps;

    #[test]
    fn the_shipped_catalog_loads_and_matches_the_built_in_apps() {
        let listings = shipped().unwrap();
        let hello = listings.iter().find(|l| l.id == "hello").unwrap();
        assert!(
            hello.versions.len() >= 3,
            "several versions, so upgrade and downgrade are real"
        );
        assert_eq!(hello.kinds(), ["cloud_app", "integration"]);
        let jitsi = listings.iter().find(|l| l.id == "jitsi").unwrap();
        assert_eq!(jitsi.kinds(), ["plugin"]);
        for (id, app) in BuiltinApps::all().iter() {
            let listing = listings
                .iter()
                .find(|l| l.id == id)
                .unwrap_or_else(|| panic!("no listing for built-in {id}"));
            assert!(
                listing.version(&app.manifest().version).is_some(),
                "{id}: the code's version is listed"
            );
        }
    }

    fn hello_text() -> Value {
        serde_json::from_str(SHIPPED[0].1).unwrap()
    }

    fn bad(mut edit: impl FnMut(&mut Value)) -> CatalogError {
        let mut v = hello_text();
        edit(&mut v);
        parse("infra/catalog/x.json", &v.to_string()).unwrap_err()
    }

    /// Go keeps permissions and subjects open strings: a listing with ones this host does not
    /// know loads, and gives them back as written.
    #[test]
    fn unknown_permissions_and_subjects_round_trip() {
        let mut v = hello_text();
        v["versions"][0]["manifest"]["requested_permissions"] =
            json!(["act_as_bot", "fly_to_the_moon"]);
        v["versions"][0]["requested_subjects"] = json!(["channel_created", "moon_landed"]);
        let listing = parse("infra/catalog/x.json", &v.to_string()).unwrap();
        let version = &listing.versions[0];
        assert_eq!(
            version.manifest.requested_permissions,
            [
                Permission::ActAsBot,
                Permission::Other("fly_to_the_moon".into())
            ]
        );
        assert!(!version.requested_subjects[1].is_known());
        let back = serde_json::to_value(&listing).unwrap();
        assert_eq!(
            back["versions"][0]["manifest"]["requested_permissions"],
            v["versions"][0]["manifest"]["requested_permissions"]
        );
        assert_eq!(
            back["versions"][0]["requested_subjects"],
            v["versions"][0]["requested_subjects"]
        );
    }

    #[test]
    fn malformed_files_name_the_file_and_field() {
        let e = parse("infra/catalog/x.json", "{not json").unwrap_err();
        assert_eq!(e.file, "infra/catalog/x.json");
        let e = bad(|v| v["versions"][1]["manifest"]["requested_permissions"] = json!([7]));
        assert_eq!(e.field, "versions[1].manifest.requested_permissions[0]");
        assert!(e.to_string().starts_with("infra/catalog/x.json: versions[1].manifest.requested_permissions[0]: invalid type: integer `7`, expected a string"), "{e}");
        let e = bad(|v| v["id"] = json!("hi"));
        assert!(e.message.contains("3 to 32 characters"), "{e}");
        let e = bad(|v| v["versions"][0]["manifest"]["version"] = json!("v9"));
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("versions[0].manifest.version", "must be \"v1.1.0\"")
        );
        let e = bad(|v| v["versions"][2]["version"] = json!("v1.0.0"));
        assert_eq!(e.field, "versions[2].version");
        let e = bad(|v| v["colour"] = json!("red"));
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        let e = bad(|v| v["integrations"]["slash_commands"][0]["trigger"] = json!("/hello"));
        assert_eq!(e.field, "integrations.slash_commands[0].trigger");
        let e = bad(|v| v["id"] = json!("no spaces"));
        assert_eq!(e.field, "id");
        let e = bad(|v| {
            v["versions"][0]["manifest"]["requested_permissions"] = json!(["remote_oauth2"])
        });
        assert!(
            e.message.contains("remote_oauth2 requires act_as_user"),
            "{e}"
        );
        let e = bad(|v| {
            v["versions"] = json!([]);
        });
        assert_eq!(e.field, "versions");
        for root_url in [
            "ftp://apps.example",
            "https://user:pw@apps.example",
            "/relative",
            "https://apps.example/?k=v",
        ] {
            let e = bad(|v| v["versions"][0]["manifest"]["http"] = json!({"root_url": root_url}));
            assert_eq!(
                e.field, "versions[0].manifest.http.root_url",
                "{root_url}: {e}"
            );
            assert!(e.to_string().starts_with("infra/catalog/x.json: "), "{e}");
            assert!(!e.to_string().contains("pw@"), "{e}");
        }
    }

    #[test]
    fn the_generation_names_the_shipped_content() {
        let sha = content_sha256(&shipped().unwrap());
        assert_eq!(
            sha,
            GENERATION_SHA256,
            "the shipped catalog changed: raise catalog::GENERATION to {} and set GENERATION_SHA256 (and CatalogSha256 in template.yaml) to {sha}",
            GENERATION + 1
        );
    }

    #[tokio::test]
    async fn publishing_never_takes_the_catalog_back() {
        let state = InstallState::new(std::sync::Arc::new(
            crate::store::sqlite::SqliteStore::open_in_memory().unwrap(),
        ));
        publish_contract(&state).await;
    }
    #[test]
    fn an_operators_catalog_directory_adds_listings_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut ext = hello_text();
        ext["id"] = "ext".into();
        for v in ext["versions"].as_array_mut().unwrap() {
            v["manifest"]["app_id"] = "ext".into();
        }
        std::fs::write(dir.path().join("ext.json"), ext.to_string()).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a listing").unwrap();
        let listings = shipped_and_dir(dir.path()).unwrap();
        assert_eq!(listings.len(), SHIPPED.len() + 1);
        assert!(listings.iter().any(|l| l.id == "ext"));

        std::fs::write(
            dir.path().join("hello-again.json"),
            hello_text().to_string(),
        )
        .unwrap();
        let err = shipped_and_dir(dir.path()).unwrap_err();
        assert!(err.file.ends_with("hello-again.json"), "{err}");
        assert_eq!(err.message, "hello is listed twice");
        let err = shipped_and_dir(&dir.path().join("missing")).unwrap_err();
        assert!(err.message.contains("cannot read the directory"), "{err}");
    }
}
