//! Per-tenant provisioning: each tenant's install runs on its own pinned version of the app's
//! functions. In AWS that is an alias `t-<tenant>` per app function, pointing at a published
//! version; the embedded adapter records the same in the store for the local host.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::host::Function;
use crate::lambda::TENANT_ALIAS_PREFIX;
use crate::store::{InstallState, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no deployed function is known for `{0}`; set it in CLOUDAPPS_FUNCTIONS")]
    UnknownFunction(String),
    #[error("provisioning failed: {0}")]
    Backend(String),
}

impl From<StoreError> for ProvisionError {
    fn from(e: StoreError) -> Self {
        ProvisionError::Backend(e.to_string())
    }
}

/// What one function of an install runs as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pinned {
    pub function: String,
    pub alias: String,
    /// The function version the alias points at (`embedded` for the local host).
    pub function_version: String,
}

#[async_trait]
pub trait Provisioner: Send + Sync + 'static {
    /// Points the tenant's alias of every function of `app` at code for `version`.
    async fn provision(
        &self,
        tenant: &str,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError>;

    /// Removes the tenant's aliases of `app`'s functions; absent ones are fine.
    async fn deprovision(&self, tenant: &str, app: &str) -> Result<(), ProvisionError>;
}

/// The alias naming a tenant's pinned version.
pub fn tenant_alias(tenant: &str) -> String {
    format!("{TENANT_ALIAS_PREFIX}{tenant}")
}

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
        tenant: &str,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let functions: Vec<Pinned> = Function::of_app(app)
            .map(|f| Pinned {
                function: f.name.into(),
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

/// The AWS adapter: `PublishVersion` of each app function, then `CreateAlias`/`UpdateAlias`
/// `t-<tenant>` to it; `DeleteAlias` on removal. Physical function names come from a map of
/// binary name → deployed name (the template passes it as `CLOUDAPPS_FUNCTIONS`).
pub struct LambdaProvisioner {
    client: aws_sdk_lambda::Client,
    names: BTreeMap<String, String>,
}

impl LambdaProvisioner {
    pub fn new(client: aws_sdk_lambda::Client, names: BTreeMap<String, String>) -> Self {
        LambdaProvisioner { client, names }
    }

    /// `CLOUDAPPS_FUNCTIONS` as `binary=deployed-name,binary=deployed-name,...`.
    pub fn parse_names(spec: &str) -> BTreeMap<String, String> {
        spec.split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .collect()
    }

    fn deployed(&self, binary: &str) -> Result<&str, ProvisionError> {
        self.names
            .get(binary)
            .map(String::as_str)
            .ok_or_else(|| ProvisionError::UnknownFunction(binary.into()))
    }
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_lambda::error::SdkError<E, R>,
) -> ProvisionError {
    ProvisionError::Backend(aws_sdk_lambda::error::DisplayErrorContext(e).to_string())
}

#[async_trait]
impl Provisioner for LambdaProvisioner {
    async fn provision(
        &self,
        tenant: &str,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let alias = tenant_alias(tenant);
        let description = format!("{app} {version}");
        let mut pinned = Vec::new();
        for f in Function::of_app(app) {
            let name = self.deployed(f.name)?;
            let published = self
                .client
                .publish_version()
                .function_name(name)
                .description(&description)
                .send()
                .await
                .map_err(backend)?;
            let function_version = published.version.unwrap_or_default();
            let updated = self
                .client
                .update_alias()
                .function_name(name)
                .name(&alias)
                .function_version(&function_version)
                .description(&description)
                .send()
                .await;
            match updated {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    self.client
                        .create_alias()
                        .function_name(name)
                        .name(&alias)
                        .function_version(&function_version)
                        .description(&description)
                        .send()
                        .await
                        .map_err(backend)?;
                }
                Err(e) => return Err(backend(e)),
            }
            pinned.push(Pinned {
                function: name.into(),
                alias: alias.clone(),
                function_version,
            });
        }
        Ok(pinned)
    }

    async fn deprovision(&self, tenant: &str, app: &str) -> Result<(), ProvisionError> {
        let alias = tenant_alias(tenant);
        for f in Function::of_app(app) {
            let name = self.deployed(f.name)?;
            match self
                .client
                .delete_alias()
                .function_name(name)
                .name(&alias)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }
}
