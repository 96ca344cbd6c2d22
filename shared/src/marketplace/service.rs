//! The marketplace operations, independent of transport: register a tenant, list and get
//! listings, install with consent, change version, configure, enable, disable, rotate secrets
//! and uninstall. Every write is conditional (see [`crate::store`]); a failure part-way undoes
//! what was done so the store is left as it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::catalog::{KINDS, Listing, ListingVersion};
use super::hosted_apps::HostedApps;
use super::provisioner::{Pinned, Provisioner, check_principal};
use crate::auth;
use crate::command::Command;
use crate::error::Error;
use crate::ids::{self, valid_id};
use crate::limits::Limits;
use crate::mattermost::{Mattermost, NewCommand, NewOutgoingWebhook};
use crate::outbound::{PrivateNetworks, check_base_url};
use crate::paths::{AppRoute, app_root};
use crate::protocol::apps::{Call, CallResponse, Form, Permission, ResponseType, Subject};
use crate::store::{
    Install, InstallState, RegisteredIntegration, Secret, StoreError, Tenant, TokenHash,
};

/// The path of an app's configuration form, and of its validation (a convention of this host).
pub const CONFIGURE_PATH: &str = "/configure";
pub const CONFIGURE_SUBMIT_PATH: &str = "/configure/submit";

#[derive(Clone)]
pub struct Marketplace {
    state: InstallState,
    apps: Arc<dyn HostedApps>,
    provisioner: Arc<dyn Provisioner>,
    mattermost: Option<Arc<dyn Mattermost>>,
    /// SHA-256 of the operator credential; registration is off without one.
    operator_token_hash: Option<String>,
    limits: Limits,
    /// Whether a tenant's Mattermost may be on a private network.
    private_networks: PrivateNetworks,
    /// The longest tenant id registered: on AWS, what leaves room for the tenant's alias in
    /// the names the Apps plugin invokes.
    max_tenant_id_len: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterTenant {
    pub id: String,
    pub site_url: String,
    /// The AWS principal of the tenant's Mattermost (see [`Tenant::aws_principal`]).
    #[serde(default)]
    pub aws_principal: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantRegistered {
    pub tenant_id: String,
    pub site_url: String,
    /// Shown once; only its hash is kept.
    pub admin_token: String,
    pub marketplace_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    pub q: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub category: Option<String>,
    pub installed: Option<bool>,
}

/// What the marketplace shows of an install: never its secrets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstallSummary {
    pub version: String,
    pub enabled: bool,
    pub granted_permissions: Vec<Permission>,
    pub granted_locations: Vec<String>,
    pub granted_subjects: Vec<Subject>,
    pub installed_at: u64,
    pub updated_at: u64,
}

impl From<&Install> for InstallSummary {
    fn from(i: &Install) -> Self {
        InstallSummary {
            version: i.version.clone(),
            enabled: i.enabled,
            granted_permissions: i.granted_permissions.clone(),
            granted_locations: i.granted_locations.clone(),
            granted_subjects: i.granted_subjects.clone(),
            installed_at: i.installed_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ListingSummary {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub categories: Vec<String>,
    pub types: Vec<&'static str>,
    pub latest_version: Option<String>,
    pub installed: Option<InstallSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ListingDetail {
    #[serde(flatten)]
    pub listing: Listing,
    pub types: Vec<&'static str>,
    pub installed: Option<InstallSummary>,
}

/// The admin's explicit acceptance of what an app asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    #[serde(default)]
    pub permissions: Vec<Permission>,
    #[serde(default)]
    pub locations: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotCredentials {
    pub user_id: String,
    pub access_token: String,
}

/// Lets the install create the listing's slash commands and outgoing webhooks in Mattermost.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostAdmin {
    pub admin_token: String,
    pub team_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    pub version: Option<String>,
    pub consent: Option<Consent>,
    pub bot: Option<BotCredentials>,
    pub mattermost: Option<MattermostAdmin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrationUrl {
    pub name: String,
    pub url: String,
    pub token: String,
    /// Whether this host created it in Mattermost (else the admin creates it with this URL and
    /// gives the host Mattermost's token).
    pub registered: bool,
}

/// Everything the admin needs after an install, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub app_id: String,
    pub version: String,
    pub manifest_url: String,
    pub jwt_secret: String,
    pub webhook_secret: String,
    pub slash_command_url: String,
    pub command_token: String,
    pub slash_commands: Vec<IntegrationUrl>,
    pub outgoing_webhooks: Vec<IntegrationUrl>,
    pub granted: InstallSummary,
    pub provisioned: Vec<Pinned>,
    /// What the app said on install.
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeVersion {
    pub version: String,
    /// The version the admin saw installed; a different one means someone else changed it.
    pub expected_version: String,
    #[serde(default)]
    pub consent: Option<Consent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    pub previous_version: String,
    pub install: InstallSummary,
    pub provisioned: Vec<Pinned>,
    pub message: String,
}

/// A rotation may carry a Mattermost admin's token (used once, never kept), to regenerate the
/// tokens Mattermost issued for the install's integrations.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    pub mattermost: Option<MattermostAdminToken>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostAdminToken {
    pub admin_token: Secret,
}

/// New secrets, shown once, and what became of each token Mattermost issued.
#[derive(Debug, Clone, Serialize)]
pub struct Rotated {
    pub jwt_secret: String,
    pub webhook_secret: String,
    pub command_token: String,
    pub mattermost_tokens: Vec<RotatedIntegration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RotatedIntegration {
    /// `slash_command` or `outgoing_webhook`.
    pub kind: String,
    pub name: String,
    pub status: TokenRotation,
    /// The token Mattermost now sends, shown once, when it was regenerated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// What to do about a revoked token.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRotation {
    /// Mattermost issued a new token; the host keeps it and refuses the old one.
    Regenerated,
    /// The host refuses the old token; Mattermost keeps sending it until it is regenerated.
    Revoked,
}

/// The install's compared-only tokens in the clear: they exist only until they are shown, the
/// install keeps their hashes.
struct ClearTokens {
    command_token: String,
    webhook_secret: String,
}

impl ClearTokens {
    fn generate() -> Self {
        ClearTokens {
            command_token: auth::generate_secret(),
            webhook_secret: auth::generate_secret(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Uninstalled {
    pub uninstalled: bool,
    pub message: String,
}

impl Marketplace {
    pub fn new(
        state: InstallState,
        apps: Arc<dyn HostedApps>,
        provisioner: Arc<dyn Provisioner>,
    ) -> Self {
        Marketplace {
            state,
            apps,
            provisioner,
            mattermost: None,
            operator_token_hash: None,
            limits: Limits::default(),
            private_networks: PrivateNetworks::Refused,
            max_tenant_id_len: ids::MAX_ID_LEN,
        }
    }

    /// Registers tenant ids of at most `len` characters (fewer than ids may have).
    pub fn with_max_tenant_id_len(mut self, len: usize) -> Self {
        self.max_tenant_id_len = len.min(ids::MAX_ID_LEN);
        self
    }

    /// The per-tenant limits installs and subscriptions are held to.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Lets tenants register a Mattermost on a private network (a local host whose operator
    /// allowed it; the outbound client must allow it too).
    pub fn with_private_networks(mut self, private_networks: PrivateNetworks) -> Self {
        self.private_networks = private_networks;
        self
    }

    pub fn with_provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.provisioner = provisioner;
        self
    }

    pub fn with_mattermost(mut self, client: Arc<dyn Mattermost>) -> Self {
        self.mattermost = Some(client);
        self
    }

    /// Enables tenant registration for holders of the operator credential with this hash.
    pub fn with_operator_token_hash(mut self, hash: Option<String>) -> Self {
        self.operator_token_hash = hash.filter(|h| !h.is_empty());
        self
    }

    /// The Mattermost REST client, when one is wired.
    pub fn mattermost(&self) -> Option<&Arc<dyn Mattermost>> {
        self.mattermost.as_ref()
    }

    pub fn state(&self) -> &InstallState {
        &self.state
    }

    /// Checks the operator credential that tenant registration needs.
    pub fn authorize_operator(&self, token: Option<&str>) -> Result<(), Error> {
        let hash = self.operator_token_hash.as_deref().ok_or_else(|| {
            Error::Forbidden(
                "operator operations (tenant registration, dead letters) are off: no operator credential is configured".into(),
            )
        })?;
        if token.is_some_and(|t| auth::token_matches_hash(t, hash)) {
            Ok(())
        } else {
            Err(Error::Unauthorized(
                "the operator credential is missing or wrong".into(),
            ))
        }
    }

    /// Creates a tenant and its admin token (registration and the local host's first start).
    pub async fn create_tenant(
        &self,
        req: &RegisterTenant,
        base_url: &str,
    ) -> Result<TenantRegistered, Error> {
        let id = req.id.as_str();
        if !valid_id(id) {
            return Err(Error::BadRequest(format!(
                "tenant id {id:?}: use {}",
                ids::ID_RULE
            )));
        }
        let site_url = req.site_url.trim_end_matches('/');
        // Whitespace would be trimmed away by the URL parser; a site URL has none.
        if site_url.contains(char::is_whitespace) {
            return Err(Error::BadRequest(
                "site_url: a URL has no whitespace".into(),
            ));
        }
        if id.len() > self.max_tenant_id_len {
            return Err(Error::BadRequest(format!(
                "tenant id {id:?} is too long for this host: use at most {} characters, so the names the Apps plugin invokes on AWS Lambda (`<app>_<version>_<function>:t-<tenant>`) stay within 64",
                self.max_tenant_id_len
            )));
        }
        check_base_url(site_url, self.private_networks)
            .map_err(|why| Error::BadRequest(format!("site_url: {why}")))?;
        if let Some(principal) = &req.aws_principal {
            check_principal(principal).map_err(Error::BadRequest)?;
        }
        let secret = auth::generate_secret();
        let tenant = Tenant {
            id: id.to_owned(),
            site_url: site_url.to_owned(),
            admin_token_hash: auth::hash_token(&secret),
            aws_principal: req.aws_principal.clone(),
            created_at: auth::now(),
            revision: 0,
        };
        self.state
            .create_tenant(&tenant)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    Error::Conflict(format!("tenant `{id}` is already registered"))
                }
                other => other.into(),
            })?;
        Ok(TenantRegistered {
            tenant_id: id.to_owned(),
            site_url: site_url.to_owned(),
            admin_token: format!("{id}.{secret}"),
            marketplace_url: format!("{base_url}/marketplace/t/{id}/apps"),
        })
    }

    /// Checks a tenant admin token (`<tenant>.<secret>`) for `tenant_id`.
    pub async fn authorize_admin(
        &self,
        tenant_id: &str,
        token: Option<&str>,
    ) -> Result<Tenant, Error> {
        let token = token.ok_or_else(|| {
            Error::Unauthorized(
                "missing admin token: send Authorization: Bearer <tenant admin token>".into(),
            )
        })?;
        let (owner, secret) = token.rsplit_once('.').unwrap_or(("", token));
        let refused = || {
            Error::Unauthorized(format!(
                "the admin token is not valid for tenant `{tenant_id}`"
            ))
        };
        // The token names its tenant: a token for another one is refused before the store is
        // read, and an unknown tenant like a wrong token, so nobody can probe which exist.
        if owner != tenant_id {
            return Err(refused());
        }
        self.state
            .tenant(tenant_id)
            .await?
            .filter(|t| auth::token_matches_hash(secret, &t.admin_token_hash))
            .ok_or_else(refused)
    }

    pub async fn list(
        &self,
        tenant: &Tenant,
        query: &ListQuery,
    ) -> Result<Vec<ListingSummary>, Error> {
        if let Some(kind) = query.kind.as_deref().filter(|k| !KINDS.contains(k)) {
            return Err(Error::BadRequest(format!(
                "unknown type `{kind}`; use one of {}",
                KINDS.join(", ")
            )));
        }
        let installs: BTreeMap<String, Install> = self
            .state
            .installs(&tenant.id)
            .await?
            .into_iter()
            .map(|i| (i.app_id.clone(), i))
            .collect();
        let q = query
            .q
            .as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.is_empty());
        let mut out = Vec::new();
        for listing in self.state.listings().await? {
            let installed = installs.get(&listing.id).map(InstallSummary::from);
            let keep = q.as_deref().is_none_or(|q| listing.matches(q))
                && query
                    .kind
                    .as_deref()
                    .is_none_or(|k| listing.kinds().contains(&k))
                && query
                    .category
                    .as_deref()
                    .is_none_or(|c| listing.categories.iter().any(|x| x.eq_ignore_ascii_case(c)))
                && query
                    .installed
                    .is_none_or(|want| want == installed.is_some());
            if keep {
                out.push(ListingSummary {
                    types: listing.kinds(),
                    latest_version: listing.latest().map(|v| v.version.clone()),
                    id: listing.id,
                    display_name: listing.display_name,
                    description: listing.description,
                    categories: listing.categories,
                    installed,
                });
            }
        }
        Ok(out)
    }

    pub async fn get(&self, tenant: &Tenant, app: &str) -> Result<ListingDetail, Error> {
        let listing = self.listing(app).await?;
        let installed = self
            .state
            .install(&tenant.id, app)
            .await?
            .as_ref()
            .map(InstallSummary::from);
        Ok(ListingDetail {
            types: listing.kinds(),
            listing,
            installed,
        })
    }

    async fn listing(&self, app: &str) -> Result<Listing, Error> {
        self.state
            .listing(app)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no app `{app}` in the catalog")))
    }

    fn listed_version<'a>(
        listing: &'a Listing,
        version: &str,
    ) -> Result<&'a ListingVersion, Error> {
        listing.version(version).ok_or_else(|| {
            let listed: Vec<&str> = listing
                .versions
                .iter()
                .map(|v| v.version.as_str())
                .collect();
            Error::BadRequest(format!(
                "version {version} of `{}` is not listed; listed: {}",
                listing.id,
                listed.join(", ")
            ))
        })
    }

    pub async fn install(
        &self,
        tenant: &Tenant,
        app: &str,
        req: InstallRequest,
        base_url: &str,
    ) -> Result<Installed, Error> {
        let listing = self.listing(app).await?;
        if listing.versions.is_empty() {
            let hint = listing
                .plugin
                .as_ref()
                .map(|p| format!(" from {}", p.download_url))
                .unwrap_or_default();
            return Err(Error::BadRequest(format!(
                "`{app}` is a Mattermost plugin: install it in Mattermost (System Console → Plugins){hint}"
            )));
        }
        let target = match &req.version {
            Some(v) => Self::listed_version(&listing, v)?,
            None => listing.latest().expect("checked non-empty"),
        };
        // An app hosted elsewhere names its root URL; Mattermost calls it there, this host
        // keeps its install, secrets and subscriptions and delivers its events.
        let hosted_elsewhere = target
            .manifest
            .http
            .as_ref()
            .is_some_and(|h| !h.root_url.is_empty());
        if !self.apps.hosts(app) && !hosted_elsewhere {
            return Err(Error::BadRequest(format!(
                "`{app}` is listed but not hosted here, and its manifest names no http.root_url"
            )));
        }
        check_consent(target, &[], &[], req.consent.as_ref())?;
        let held = self.state.installs(&tenant.id).await?.len();
        Limits::check_quota(
            &format!("apps installed for `{}`", tenant.id),
            held,
            self.limits.installs_per_tenant,
        )?;

        let now = auth::now();
        let clear = ClearTokens::generate();
        let install = Install {
            tenant_id: tenant.id.clone(),
            app_id: app.to_owned(),
            version: target.version.clone(),
            enabled: true,
            jwt_secret: Secret::new(auth::generate_secret()),
            command_token: TokenHash::of(&clear.command_token),
            webhook_secret: TokenHash::of(&clear.webhook_secret),
            bot_user_id: req
                .bot
                .as_ref()
                .map(|b| b.user_id.clone())
                .unwrap_or_default(),
            bot_access_token: Secret::new(
                req.bot
                    .as_ref()
                    .map(|b| b.access_token.clone())
                    .unwrap_or_default(),
            ),
            granted_permissions: target.manifest.requested_permissions.clone(),
            granted_locations: target.manifest.requested_locations.clone(),
            granted_subjects: target.requested_subjects.clone(),
            integrations: Vec::new(),
            config: Map::new(),
            uninstalling: false,
            installed_at: now,
            updated_at: now,
            revision: 0,
        };
        let install = self
            .state
            .create_install(&install)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => Error::Conflict(format!(
                    "`{app}` is already installed for `{}`; change its version or uninstall it",
                    tenant.id
                )),
                other => other.into(),
            })?;

        // From here on a failure undoes the install, so the store is left as it was.
        match self
            .finish_install(
                tenant,
                &listing,
                target,
                (install.clone(), &clear),
                &req,
                base_url,
            )
            .await
        {
            Ok(done) => Ok(done),
            Err(e) => {
                if let Err(undo) = self.provisioner.deprovision(&tenant.id, app).await {
                    tracing::warn!(error = %undo, "could not undo provisioning after a failed install");
                }
                let undo = async {
                    self.state.unsubscribe_all(&tenant.id, app).await?;
                    // Re-read: finishing may have saved the install since it was created.
                    match self.state.install(&tenant.id, app).await? {
                        Some(current) => self.state.remove_install(&current).await,
                        None => Ok(()),
                    }
                };
                if let Err(undo) = undo.await {
                    tracing::warn!(error = %undo, "could not undo a failed install");
                }
                Err(e)
            }
        }
    }

    async fn finish_install(
        &self,
        tenant: &Tenant,
        listing: &Listing,
        target: &ListingVersion,
        // The install just created, and its tokens in the clear.
        (mut install, clear): (Install, &ClearTokens),
        req: &InstallRequest,
        base_url: &str,
    ) -> Result<Installed, Error> {
        let provisioned = self.provision(tenant, &install, None).await?;
        self.subscribe_app(&install).await?;
        let root = format!("{base_url}{}", app_root(&tenant.id, &install.app_id));
        let slash_url = format!("{root}{}", AppRoute::SlashCommand.path());
        let outgoing_url = format!("{root}{}", AppRoute::OutgoingWebhook.path());
        let mut issued = Vec::new();
        if let Some(admin) = &req.mattermost {
            issued = self
                .register_integrations(tenant, listing, admin, &slash_url, &outgoing_url)
                .await?;
            install.integrations = issued.iter().map(|(i, _)| i.clone()).collect();
            install = self.state.update_install(&install).await?;
        }
        let message = self
            .lifecycle(
                tenant,
                &install,
                target.manifest.on_install.as_ref(),
                Map::new(),
            )
            .await
            .map(|r| r.text)
            .unwrap_or_default();
        let integration = |kind: &str, name: &str, url: &str| {
            let registered = issued
                .iter()
                .find(|(i, _)| i.kind == kind && i.name == name);
            IntegrationUrl {
                name: name.to_owned(),
                url: url.to_owned(),
                token: registered
                    .map_or(clear.command_token.as_str(), |(_, token)| token)
                    .to_owned(),
                registered: registered.is_some(),
            }
        };
        Ok(Installed {
            app_id: install.app_id.clone(),
            version: install.version.clone(),
            manifest_url: format!("{root}/manifest.json"),
            jwt_secret: install.jwt_secret.expose().to_owned(),
            webhook_secret: clear.webhook_secret.clone(),
            slash_command_url: slash_url.clone(),
            command_token: clear.command_token.clone(),
            slash_commands: listing
                .integrations
                .slash_commands
                .iter()
                .map(|c| integration(SLASH_COMMAND, &c.trigger, &slash_url))
                .collect(),
            outgoing_webhooks: listing
                .integrations
                .outgoing_webhooks
                .iter()
                .map(|w| integration(OUTGOING_WEBHOOK, &w.name, &outgoing_url))
                .collect(),
            granted: InstallSummary::from(&install),
            provisioned,
            message,
        })
    }

    /// Provisions the install's version, moving the tenant off the `previous` one.
    async fn provision(
        &self,
        tenant: &Tenant,
        install: &Install,
        previous: Option<&str>,
    ) -> Result<Vec<Pinned>, Error> {
        self.provisioner
            .provision(tenant, &install.app_id, &install.version, previous)
            .await
            .map_err(|e| {
                Error::Dependency(format!(
                    "could not provision `{}` for `{}`: {e}",
                    install.app_id, install.tenant_id
                ))
            })
    }

    fn mattermost_client(&self) -> Result<&Arc<dyn Mattermost>, Error> {
        self.mattermost.as_ref().ok_or_else(|| {
            Error::BadRequest("this host has no Mattermost client configured".into())
        })
    }

    /// Creates the listing's slash commands and outgoing webhooks in the tenant's Mattermost;
    /// answers each with the token Mattermost issued, in the clear.
    async fn register_integrations(
        &self,
        tenant: &Tenant,
        listing: &Listing,
        admin: &MattermostAdmin,
        slash_url: &str,
        outgoing_url: &str,
    ) -> Result<Vec<(RegisteredIntegration, String)>, Error> {
        let mut done = Vec::new();
        let created = self
            .create_integrations(tenant, listing, admin, slash_url, outgoing_url, &mut done)
            .await;
        if let Err(e) = created {
            // Nothing stays installed after a refusal, in Mattermost either.
            let undone = self.delete_integrations(tenant, admin, &done).await;
            return Err(Error::Dependency(format!("{e}; {undone}")));
        }
        Ok(done)
    }

    /// Removes integrations an install created in Mattermost; says what became of them.
    async fn delete_integrations(
        &self,
        tenant: &Tenant,
        admin: &MattermostAdmin,
        created: &[(RegisteredIntegration, String)],
    ) -> String {
        let Ok(mm) = self.mattermost_client() else {
            return "nothing was created in Mattermost".into();
        };
        let mut left = Vec::new();
        for (i, _) in created {
            let (site, token, id) = (&tenant.site_url, &admin.admin_token, &i.mattermost_id);
            let deleted = match i.kind.as_str() {
                SLASH_COMMAND => mm.delete_command(site, token, id).await,
                _ => mm.delete_outgoing_webhook(site, token, id).await,
            };
            if let Err(e) = deleted {
                tracing::warn!(error = %e, "could not remove an integration after a failed install");
                left.push(format!("{} ({e})", describe(&i.kind, &i.name)));
            }
        }
        match (created.is_empty(), left.is_empty()) {
            (true, _) => "nothing was created in Mattermost".into(),
            (false, true) => "what had been created in Mattermost was removed again".into(),
            (false, false) => format!(
                "remove by hand in Mattermost what could not be removed: {}",
                left.join(", ")
            ),
        }
    }

    /// Creates the listing's slash commands and outgoing webhooks, pushing each onto `done` as
    /// it is created.
    async fn create_integrations(
        &self,
        tenant: &Tenant,
        listing: &Listing,
        admin: &MattermostAdmin,
        slash_url: &str,
        outgoing_url: &str,
        done: &mut Vec<(RegisteredIntegration, String)>,
    ) -> Result<(), Error> {
        let mm = self.mattermost_client()?;
        let failed = |what: &str, e: crate::mattermost::MattermostError| {
            Error::Dependency(format!("Mattermost refused to create {what}: {e}"))
        };
        for c in &listing.integrations.slash_commands {
            let command = NewCommand {
                team_id: admin.team_id.clone(),
                trigger: c.trigger.clone(),
                method: "P".into(),
                url: slash_url.to_owned(),
                display_name: if c.display_name.is_empty() {
                    listing.display_name.clone()
                } else {
                    c.display_name.clone()
                },
                description: c.description.clone(),
                auto_complete: c.auto_complete,
                auto_complete_desc: c.description.clone(),
                auto_complete_hint: c.hint.clone(),
            };
            let created = mm
                .create_command(&tenant.site_url, &admin.admin_token, &command)
                .await
                .map_err(|e| failed(&describe(SLASH_COMMAND, &c.trigger), e))?;
            let registered = RegisteredIntegration {
                kind: SLASH_COMMAND.into(),
                name: c.trigger.clone(),
                mattermost_id: created.id,
                token: TokenHash::of(&created.token),
            };
            done.push((registered, created.token));
        }
        for w in &listing.integrations.outgoing_webhooks {
            let hook = NewOutgoingWebhook {
                team_id: admin.team_id.clone(),
                display_name: w.name.clone(),
                description: w.description.clone(),
                trigger_words: w.trigger_words.clone(),
                trigger_when: 0,
                callback_urls: vec![outgoing_url.to_owned()],
                content_type: w.content_type.clone(),
            };
            let created = mm
                .create_outgoing_webhook(&tenant.site_url, &admin.admin_token, &hook)
                .await
                .map_err(|e| failed(&describe(OUTGOING_WEBHOOK, &w.name), e))?;
            let registered = RegisteredIntegration {
                kind: OUTGOING_WEBHOOK.into(),
                name: w.name.clone(),
                mattermost_id: created.id,
                token: TokenHash::of(&created.token),
            };
            done.push((registered, created.token));
        }
        Ok(())
    }

    /// Takes the subscriptions a built-in app declares, for the subjects the install was
    /// granted.
    async fn subscribe_app(&self, install: &Install) -> Result<(), Error> {
        for subscription in self.apps.subscriptions(&install.app_id) {
            if subscription
                .subject
                .as_ref()
                .is_some_and(|s| install.granted_subjects.contains(s))
            {
                self.state
                    .subscribe(install, subscription, self.limits.subscriptions_per_install)
                    .await?;
            }
        }
        Ok(())
    }

    /// Calls one of the app's lifecycle calls, if its manifest has it.
    async fn lifecycle(
        &self,
        tenant: &Tenant,
        install: &Install,
        call: Option<&Call>,
        values: Map<String, Value>,
    ) -> Option<CallResponse> {
        let call = call.filter(|c| !c.path.is_empty())?;
        let mut command = Command::internal(&call.path, values);
        command.bind_install(tenant, install);
        self.apps
            .lifecycle(&install.app_id, &command, self, tenant)
            .await
    }

    async fn installed(&self, tenant: &Tenant, app: &str) -> Result<Install, Error> {
        self.state
            .install(&tenant.id, app)
            .await?
            .ok_or_else(|| Error::NotFound(format!("`{app}` is not installed for `{}`", tenant.id)))
    }

    /// Upgrades or downgrades to another listed version.
    pub async fn change_version(
        &self,
        tenant: &Tenant,
        app: &str,
        req: ChangeVersion,
    ) -> Result<Changed, Error> {
        let listing = self.listing(app).await?;
        let target = Self::listed_version(&listing, &req.version)?;
        let current = self.installed(tenant, app).await?;
        if current.version != req.expected_version {
            return Err(stale(app, &current.version, &req.expected_version));
        }
        if current.version == target.version {
            return Ok(Changed {
                previous_version: current.version.clone(),
                install: InstallSummary::from(&current),
                provisioned: Vec::new(),
                message: format!("`{app}` is already at {}", current.version),
            });
        }
        check_consent(
            target,
            &current.granted_permissions,
            &current.granted_locations,
            req.consent.as_ref(),
        )?;
        let previous = current.version.clone();
        let changed = self
            .state
            .modify_install::<Error>(&tenant.id, app, |i| {
                if i.version != req.expected_version {
                    return Err(stale(app, &i.version, &req.expected_version));
                }
                i.version = target.version.clone();
                i.granted_permissions = target.manifest.requested_permissions.clone();
                i.granted_locations = target.manifest.requested_locations.clone();
                i.granted_subjects = target.requested_subjects.clone();
                i.updated_at = auth::now();
                Ok(())
            })
            .await
            .map_err(|e| not_installed(e, app, &tenant.id))?;
        let provisioned = match self.provision(tenant, &changed, Some(&previous)).await {
            Ok(p) => p,
            Err(e) => {
                // Put the install back as it was.
                let restore = self
                    .state
                    .modify_install::<Error>(&tenant.id, app, |i| {
                        i.version = current.version.clone();
                        i.granted_permissions = current.granted_permissions.clone();
                        i.granted_locations = current.granted_locations.clone();
                        i.granted_subjects = current.granted_subjects.clone();
                        Ok(())
                    })
                    .await;
                if let Err(undo) = restore {
                    tracing::warn!(error = %undo, "could not restore the install after failed provisioning");
                }
                return Err(e);
            }
        };
        let mut values = Map::new();
        values.insert("prev_version".into(), previous.clone().into());
        let message = self
            .lifecycle(
                tenant,
                &changed,
                target.manifest.on_version_changed.as_ref(),
                values,
            )
            .await
            .map(|r| r.text)
            .unwrap_or_default();
        Ok(Changed {
            previous_version: previous,
            install: InstallSummary::from(&changed),
            provisioned,
            message,
        })
    }

    /// The app's configuration form, filled with the current values.
    pub async fn config_form(&self, tenant: &Tenant, app: &str) -> Result<Form, Error> {
        let install = self.installed(tenant, app).await?;
        let answer = self
            .lifecycle(
                tenant,
                &install,
                Some(&Call::path(CONFIGURE_PATH)),
                Map::new(),
            )
            .await;
        match answer {
            Some(CallResponse {
                kind: ResponseType::Form,
                form: Some(form),
                ..
            }) => Ok(form),
            _ => Err(Error::NotFound(format!("`{app}` has nothing to configure"))),
        }
    }

    /// Validates a configuration with the app and stores what it accepted.
    pub async fn configure(
        &self,
        tenant: &Tenant,
        app: &str,
        values: Map<String, Value>,
    ) -> Result<InstallSummary, Error> {
        let install = self.installed(tenant, app).await?;
        let answer = self
            .lifecycle(
                tenant,
                &install,
                Some(&Call::path(CONFIGURE_SUBMIT_PATH)),
                values,
            )
            .await
            .ok_or_else(|| Error::NotFound(format!("`{app}` has nothing to configure")))?;
        let accepted = match answer.kind {
            ResponseType::Error => {
                return Err(Error::Invalid {
                    text: answer.text.clone(),
                    errors: answer.errors().cloned().unwrap_or_default(),
                });
            }
            _ => match answer.data {
                Some(Value::Object(config)) => config,
                _ => {
                    return Err(Error::Dependency(format!(
                        "`{app}` accepted the configuration but returned none to store"
                    )));
                }
            },
        };
        let updated = self
            .state
            .modify_install::<Error>(&tenant.id, app, |i| {
                i.config.extend(accepted.clone());
                i.updated_at = auth::now();
                Ok(())
            })
            .await
            .map_err(|e| not_installed(e, app, &tenant.id))?;
        Ok(InstallSummary::from(&updated))
    }

    pub async fn set_enabled(
        &self,
        tenant: &Tenant,
        app: &str,
        enabled: bool,
    ) -> Result<InstallSummary, Error> {
        let listing = self.listing(app).await?;
        let updated = self
            .state
            .modify_install::<Error>(&tenant.id, app, |i| {
                i.enabled = enabled;
                i.updated_at = auth::now();
                Ok(())
            })
            .await
            .map_err(|e| not_installed(e, app, &tenant.id))?;
        // on_enable and on_disable are notices: their failure changes nothing.
        if let Some(v) = listing.version(&updated.version) {
            let call = if enabled {
                &v.manifest.on_enable
            } else {
                &v.manifest.on_disable
            };
            self.lifecycle(tenant, &updated, call.as_ref(), Map::new())
                .await;
        }
        Ok(InstallSummary::from(&updated))
    }

    /// New JWT secret, webhook secret and command token, shown once. The tokens Mattermost
    /// issued for the install's integrations are regenerated through Mattermost when the request
    /// carries an admin's token, else revoked: either way the old ones are refused from now on.
    pub async fn rotate(
        &self,
        tenant: &Tenant,
        app: &str,
        req: RotateRequest,
    ) -> Result<Rotated, Error> {
        let current = self.installed(tenant, app).await?;
        // Mattermost first: if it refuses, nothing here has changed.
        let regenerated = match &req.mattermost {
            Some(admin) => {
                self.regenerate_tokens(tenant, &current.integrations, admin.admin_token.expose())
                    .await?
            }
            None => Vec::new(),
        };
        let new_token = |i: &RegisteredIntegration| {
            regenerated
                .iter()
                .find(|(r, _)| r.kind == i.kind && r.mattermost_id == i.mattermost_id)
                .map(|(_, token)| token.as_str())
        };
        let jwt_secret = auth::generate_secret();
        let clear = ClearTokens::generate();
        let updated = self
            .state
            .modify_install::<Error>(&tenant.id, app, |i| {
                i.jwt_secret = Secret::new(jwt_secret.clone());
                i.webhook_secret = TokenHash::of(&clear.webhook_secret);
                i.command_token = TokenHash::of(&clear.command_token);
                for integration in &mut i.integrations {
                    integration.token = TokenHash::of(new_token(integration).unwrap_or_default());
                }
                i.updated_at = auth::now();
                Ok(())
            })
            .await
            .map_err(|e| not_installed(e, app, &tenant.id))?;
        let mattermost_tokens = updated
            .integrations
            .iter()
            .map(|i| {
                let token = new_token(i).map(str::to_owned);
                RotatedIntegration {
                    kind: i.kind.clone(),
                    name: i.name.clone(),
                    status: if token.is_some() {
                        TokenRotation::Regenerated
                    } else {
                        TokenRotation::Revoked
                    },
                    hint: if token.is_some() {
                        String::new()
                    } else {
                        format!(
                            "the host now refuses the token Mattermost sends with {}: rotate again with {{\"mattermost\": {{\"admin_token\": \"<a Mattermost system admin's token>\"}}}} to have Mattermost regenerate it and the host keep the new one (or, on the local host, regenerate it in Mattermost and start with --command-token {app}=<new token>)",
                            describe(&i.kind, &i.name)
                        )
                    },
                    token,
                }
            })
            .collect();
        Ok(Rotated {
            jwt_secret,
            webhook_secret: clear.webhook_secret,
            command_token: clear.command_token,
            mattermost_tokens,
        })
    }

    /// Has Mattermost issue new tokens for `integrations`; answers each with its new token, in
    /// the clear. A refusal names what Mattermost had already regenerated.
    async fn regenerate_tokens<'a>(
        &self,
        tenant: &Tenant,
        integrations: &'a [RegisteredIntegration],
        admin_token: &str,
    ) -> Result<Vec<(&'a RegisteredIntegration, String)>, Error> {
        if admin_token.is_empty() {
            return Err(Error::BadRequest(
                "mattermost.admin_token is empty: give a Mattermost system admin's token, or leave `mattermost` out to revoke the tokens Mattermost issued".into(),
            ));
        }
        let mm = self.mattermost_client()?;
        let mut done: Vec<(&RegisteredIntegration, String)> = Vec::new();
        for i in integrations {
            let site = tenant.site_url.as_str();
            let answer = match i.kind.as_str() {
                SLASH_COMMAND => {
                    mm.regen_command_token(site, admin_token, &i.mattermost_id)
                        .await
                }
                OUTGOING_WEBHOOK => {
                    mm.regen_outgoing_webhook_token(site, admin_token, &i.mattermost_id)
                        .await
                }
                // Not a kind this host creates: left to be revoked.
                _ => continue,
            };
            match answer {
                Ok(token) => done.push((i, token)),
                Err(e) => {
                    let already = if done.is_empty() {
                        String::new()
                    } else {
                        let names: Vec<String> = done
                            .iter()
                            .map(|(d, _)| describe(&d.kind, &d.name))
                            .collect();
                        format!(
                            " (Mattermost already sends new tokens with {}, which the host refuses until a rotation succeeds)",
                            names.join(", ")
                        )
                    };
                    return Err(Error::Dependency(format!(
                        "Mattermost refused to regenerate the token of {}, so nothing was changed here{already}: {e}",
                        describe(&i.kind, &i.name)
                    )));
                }
            }
        }
        Ok(done)
    }

    /// Removes an install: the app is asked first (its refusal stops it unless `force`), then the
    /// install stops serving, its provisioning, subscriptions and secrets go, and a tombstone
    /// takes its place. Each step is conditional on the install still being the one read, so a
    /// retried uninstall can never remove a re-install. Removing what is not installed is fine.
    pub async fn uninstall(
        &self,
        tenant: &Tenant,
        app: &str,
        force: bool,
    ) -> Result<Uninstalled, Error> {
        let Some(mut install) = self.state.install_or_uninstalling(&tenant.id, app).await? else {
            return Ok(Uninstalled {
                uninstalled: false,
                message: format!("`{app}` is not installed"),
            });
        };
        let changed = |e: StoreError| match e {
            StoreError::Conflict | StoreError::NotFound => Error::Conflict(format!(
                "`{app}` was changed or re-installed while it was being uninstalled; nothing more was removed: reload and retry"
            )),
            other => other.into(),
        };
        let mut message = String::new();
        // A retried uninstall finds the app already stopped and carries on from there.
        if !install.uninstalling {
            let listing = self.state.listing(app).await?;
            let on_uninstall = listing
                .as_ref()
                .and_then(|l| l.version(&install.version))
                .and_then(|v| v.manifest.on_uninstall.clone());
            let answer = self
                .lifecycle(tenant, &install, on_uninstall.as_ref(), Map::new())
                .await;
            message = answer.as_ref().map(|a| a.text.clone()).unwrap_or_default();
            if let Some(refusal) = answer.filter(|a| a.kind == ResponseType::Error) {
                if !force {
                    return Err(Error::Conflict(format!(
                        "`{app}` refused to be uninstalled: {} (uninstall with force=true to override)",
                        refusal.text.trim_end_matches(['.', ' '])
                    )));
                }
                message = format!("forced past the app's refusal: {}", refusal.text);
            }
            install.uninstalling = true;
            install.updated_at = auth::now();
            install = self.state.update_install(&install).await.map_err(changed)?;
        }
        if let Err(e) = self.provisioner.deprovision(&tenant.id, app).await {
            if !force {
                return Err(Error::Dependency(format!(
                    "could not remove `{app}`'s provisioning: {e}; the app is stopped, retry the uninstall to finish it"
                )));
            }
            tracing::warn!(error = %e, "forced uninstall left provisioning behind");
        }
        self.state.unsubscribe_all(&tenant.id, app).await?;
        self.state.delete_app_records(&tenant.id, app).await?;
        self.state.remove_install(&install).await.map_err(changed)?;
        Ok(Uninstalled {
            uninstalled: true,
            message,
        })
    }
}

const SLASH_COMMAND: &str = "slash_command";
const OUTGOING_WEBHOOK: &str = "outgoing_webhook";

/// How an error or a hint names a registered integration.
fn describe(kind: &str, name: &str) -> String {
    match kind {
        SLASH_COMMAND => format!("/{name}"),
        OUTGOING_WEBHOOK => format!("the outgoing webhook {name}"),
        _ => format!("the {kind} {name}"),
    }
}

fn stale(app: &str, installed: &str, expected: &str) -> Error {
    Error::Conflict(format!(
        "`{app}` is at {installed}, not {expected}: someone changed it; reload and retry"
    ))
}

fn not_installed(e: Error, app: &str, tenant: &str) -> Error {
    match e {
        Error::NotFound(_) => Error::NotFound(format!("`{app}` is not installed for `{tenant}`")),
        other => other,
    }
}

/// The permissions and locations `target` requests beyond what is already granted must all be
/// in the admin's consent.
fn check_consent(
    target: &ListingVersion,
    granted_permissions: &[Permission],
    granted_locations: &[String],
    consent: Option<&Consent>,
) -> Result<(), Error> {
    let empty = Consent::default();
    let consent = consent.unwrap_or(&empty);
    let missing_permissions: Vec<String> = target
        .manifest
        .requested_permissions
        .iter()
        .filter(|p| !granted_permissions.contains(p) && !consent.permissions.contains(p))
        .map(|p| {
            serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    let missing_locations: Vec<&str> = target
        .manifest
        .requested_locations
        .iter()
        .filter(|l| !granted_locations.contains(l) && !consent.locations.contains(l))
        .map(String::as_str)
        .collect();
    if missing_permissions.is_empty() && missing_locations.is_empty() {
        return Ok(());
    }
    Err(Error::ConsentRequired(format!(
        "{} {} asks for permissions [{}] and locations [{}]; accept them in `consent`",
        target.manifest.app_id,
        target.version,
        missing_permissions.join(", "),
        missing_locations.join(", ")
    )))
}
