//! First-run set-up of a tenant with the built-in apps installed, for the local host (and the
//! tests and benchmarks that drive it). Marketplace installs with consent come on top of this.

use crate::apps::{App, BuiltinApps};
use crate::auth;
use crate::store::{Install, InstallState, Secret, StoreError, Tenant};

/// An install and whether this call created it (its secrets are then new and worth showing).
pub struct Provisioned {
    pub install: Install,
    pub created: bool,
}

/// Makes sure `tenant_id` exists (for `site_url`) and has every built-in app installed with the
/// permissions and locations it requests. Existing records are left as they are, so a restart
/// keeps its secrets.
pub async fn ensure_tenant_with_apps(
    state: &InstallState,
    tenant_id: &str,
    site_url: &str,
    apps: &BuiltinApps,
) -> Result<Vec<Provisioned>, StoreError> {
    let tenant = Tenant {
        admin_token_hash: String::new(),
        id: tenant_id.to_owned(),
        site_url: site_url.to_owned(),
        created_at: auth::now(),
        revision: 0,
    };
    match state.create_tenant(&tenant).await {
        Ok(_) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    for (_, app) in apps.iter() {
        let fresh = new_install(tenant_id, app.as_ref());
        match state.create_install(&fresh).await {
            Ok(install) => out.push(Provisioned {
                install,
                created: true,
            }),
            Err(StoreError::Conflict) => {
                let install = state
                    .install(tenant_id, &fresh.app_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                out.push(Provisioned {
                    install,
                    created: false,
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A new install of `app` with fresh secrets, granted what its manifest requests.
pub fn new_install(tenant_id: &str, app: &dyn App) -> Install {
    let manifest = app.manifest();
    let now = auth::now();
    Install {
        tenant_id: tenant_id.to_owned(),
        app_id: manifest.app_id,
        version: manifest.version,
        enabled: true,
        jwt_secret: Secret::new(auth::generate_secret()),
        command_token: Secret::new(auth::generate_secret()),
        webhook_secret: Secret::new(auth::generate_secret()),
        granted_permissions: manifest.requested_permissions,
        granted_locations: manifest.requested_locations,
        installed_at: now,
        updated_at: now,
        ..Default::default()
    }
}
