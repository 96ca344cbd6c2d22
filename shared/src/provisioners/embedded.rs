//! The local host's provisioner: every tenant runs on the code in this process; what AWS would
//! have pinned is recorded in the store.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::marketplace::provisioner::{Pinned, ProvisionError, Provisioner, tenant_alias};
use crate::store::{InstallState, StoreError, Tenant};

/// The local host's adapter: it runs every tenant on the code in this process, and records
/// what AWS would have pinned.
pub struct EmbeddedProvisioner {
    state: InstallState,
}

#[derive(Serialize, Deserialize)]
struct ProvisionRecord {
    app: String,
    version: String,
    functions: Vec<Pinned>,
}

impl EmbeddedProvisioner {
    pub fn new(state: InstallState) -> Self {
        EmbeddedProvisioner { state }
    }

    /// What is recorded for a tenant's app: its version and pinned functions.
    pub async fn recorded(
        &self,
        tenant: &str,
        app: &str,
    ) -> Result<Option<(String, Vec<Pinned>)>, StoreError> {
        let item = self
            .state
            .items()
            .get(&format!("TENANT#{tenant}"), &format!("PROVISION#{app}"))
            .await?;
        Ok(item
            .and_then(|i| serde_json::from_value::<ProvisionRecord>(i.body).ok())
            .map(|r| (r.version, r.functions)))
    }
}

#[async_trait]
impl Provisioner for EmbeddedProvisioner {
    async fn provision(
        &self,
        tenant: &Tenant,
        app: &str,
        version: &str,
        _previous: Option<&str>,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let tenant = tenant.id.as_str();
        // What AWS would have pinned.
        let functions: Vec<Pinned> = super::deployed(app, version)?
            .into_iter()
            .map(|function| Pinned {
                function,
                alias: tenant_alias(tenant),
                function_version: "embedded".into(),
            })
            .collect();
        let record = ProvisionRecord {
            app: app.into(),
            version: version.into(),
            functions: functions.clone(),
        };
        let body = serde_json::to_value(&record).expect("records serialise");
        let (pk, sk) = (format!("TENANT#{tenant}"), format!("PROVISION#{app}"));
        let items = self.state.items();
        match items.get(&pk, &sk).await? {
            None => items.create(&pk, &sk, &body).await.map(|_| ())?,
            Some(old) => items
                .replace(&pk, &sk, old.revision, &body)
                .await
                .map(|_| ())?,
        }
        Ok(functions)
    }

    async fn deprovision(&self, tenant: &str, app: &str) -> Result<(), ProvisionError> {
        self.state
            .items()
            .delete(&format!("TENANT#{tenant}"), &format!("PROVISION#{app}"))
            .await?;
        Ok(())
    }
}
