//! First-run set-up for the local host (and the tests and benchmarks that drive it): publish
//! the catalog, register one tenant and install every built-in app for it through the
//! marketplace, with the consent their manifests ask for.

use std::sync::Arc;

use crate::apps::BuiltinApps;
use crate::error::Error;
use crate::marketplace::Marketplace;
use crate::marketplace::catalog;
use crate::marketplace::service::{Consent, InstallRequest, Installed, RegisterTenant};
use crate::provisioners::EmbeddedProvisioner;
use crate::store::{Install, InstallState};

/// An install, and the marketplace's answer when this call created it: its secrets, in the clear
/// only there, to be shown once.
pub struct Provisioned {
    pub install: Install,
    pub installed: Option<Installed>,
}

pub struct Bootstrapped {
    /// The tenant admin token, when this call registered the tenant.
    pub admin_token: Option<String>,
    pub installs: Vec<Provisioned>,
}

/// Publishes `listings` as this build's catalog generation (the local host is its own deploy;
/// a newer stored catalog is kept), makes sure `tenant_id` exists for `site_url`, and every
/// built-in app is installed for it. Existing records are left as they are, so a restart keeps
/// its secrets.
pub async fn bootstrap(
    market: &Marketplace,
    apps: &BuiltinApps,
    listings: &[catalog::Listing],
    tenant_id: &str,
    site_url: &str,
    base_url: &str,
) -> Result<Bootstrapped, Error> {
    let state = market.state();
    state.publish_catalog(catalog::GENERATION, listings).await?;
    let registration = RegisterTenant {
        id: tenant_id.to_owned(),
        site_url: site_url.to_owned(),
        aws_principal: None,
    };
    let admin_token = match market.create_tenant(&registration, base_url).await {
        Ok(registered) => Some(registered.admin_token),
        Err(Error::Conflict(_)) => None,
        Err(e) => return Err(e),
    };
    let tenant = state
        .tenant(tenant_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("unknown tenant `{tenant_id}`")))?;
    let mut installs = Vec::new();
    for (app_id, app) in apps.iter() {
        let installed = match state.install(tenant_id, app_id).await? {
            Some(_) => None,
            None => {
                let manifest = app.manifest();
                let consent = Consent {
                    permissions: manifest.requested_permissions,
                    locations: manifest.requested_locations,
                };
                let req = InstallRequest {
                    version: Some(manifest.version),
                    consent: Some(consent),
                    ..Default::default()
                };
                match market.install(&tenant, app_id, req, base_url).await {
                    Ok(done) => Some(done),
                    Err(Error::Conflict(_)) => None,
                    Err(e) => return Err(e),
                }
            }
        };
        let install = state
            .install(tenant_id, app_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("`{app_id}` vanished")))?;
        installs.push(Provisioned { install, installed });
    }
    Ok(Bootstrapped {
        admin_token,
        installs,
    })
}

/// [`bootstrap`] on an embedded marketplace over `state`: a tenant with every built-in app.
pub async fn ensure_tenant_with_apps(
    state: &InstallState,
    tenant_id: &str,
    site_url: &str,
    apps: &BuiltinApps,
) -> Result<Vec<Provisioned>, Error> {
    let market = Marketplace::new(
        state.clone(),
        Arc::new(apps.clone()),
        Arc::new(EmbeddedProvisioner::new(state.clone())),
    );
    let listings = catalog::shipped()
        .map_err(|e| Error::BadRequest(format!("the shipped catalog does not load: {e}")))?;
    Ok(bootstrap(
        &market,
        apps,
        &listings,
        tenant_id,
        site_url,
        "http://localhost",
    )
    .await?
    .installs)
}
