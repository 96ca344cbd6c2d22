//! Per-tenant provisioning: each tenant's install runs on its own pinned version of the app's
//! functions. In AWS that is an alias `t-<tenant>` per app function, pointing at a published
//! version; the embedded adapter records the same in the store for the local host.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::functions::Function;
use crate::paths::TENANT_ALIAS_PREFIX;
use crate::store::{InstallState, StoreError, Tenant};

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
    /// Points the tenant's alias of every function of `app` at code for `version`, invocable by
    /// the tenant's registered AWS principal only (by nobody outside the account without one).
    async fn provision(
        &self,
        tenant: &Tenant,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError>;

    /// Removes the tenant's aliases of `app`'s functions and who may invoke them; absent ones
    /// are fine.
    async fn deprovision(&self, tenant: &str, app: &str) -> Result<(), ProvisionError>;
}

/// The provisioner of a function that never provisions (an app's endpoint, an event route):
/// a call is a wiring mistake, refused. Keeping the embedded one out keeps the function list,
/// and with it every app, out of those binaries.
pub struct NotProvisioning;

#[async_trait]
impl Provisioner for NotProvisioning {
    async fn provision(
        &self,
        _: &Tenant,
        app: &str,
        _: &str,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        Err(ProvisionError::Backend(format!(
            "this function does not provision apps (asked for `{app}`)"
        )))
    }

    async fn deprovision(&self, _: &str, app: &str) -> Result<(), ProvisionError> {
        Err(ProvisionError::Backend(format!(
            "this function does not provision apps (asked for `{app}`)"
        )))
    }
}

/// The alias naming a tenant's pinned version.
pub fn tenant_alias(tenant: &str) -> String {
    format!("{TENANT_ALIAS_PREFIX}{tenant}")
}

/// The statement of an alias's resource policy that lets the tenant's Mattermost invoke it.
pub const INVOKE_STATEMENT_ID: &str = "tenant-mattermost-invoke";

/// Checks an AWS principal a tenant's aliases may be invoked by: an account id (12 digits) or
/// the ARN of one IAM role or user (`arn:aws:iam::123456789012:role/path/name`). Nothing
/// broader: no `*`, no service principal, no assumed-role session.
pub fn check_principal(principal: &str) -> Result<(), String> {
    let refused = || {
        Err(format!(
            "aws_principal {principal:?} is not an AWS account id (12 digits) or an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)"
        ))
    };
    let account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    if account(principal) {
        return Ok(());
    }
    let parts: Vec<&str> = principal.split(':').collect();
    let [arn, partition, service, region, owner, resource] = parts[..] else {
        return refused();
    };
    let Some((kind, path_and_name)) = resource.split_once('/') else {
        return refused();
    };
    // IAM names and paths: letters, digits and `+=,.@_-`; a name is at most 64 characters.
    let segments: Vec<&str> = path_and_name.split('/').collect();
    let name_ok = segments.last().is_some_and(|n| n.len() <= 64);
    let segments_ok = segments.iter().all(|seg| {
        !seg.is_empty()
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    });
    if arn == "arn"
        && ["aws", "aws-cn", "aws-us-gov"].contains(&partition)
        && service == "iam"
        && region.is_empty()
        && account(owner)
        && ["role", "user"].contains(&kind)
        && path_and_name.len() <= 512 + 64
        && name_ok
        && segments_ok
    {
        Ok(())
    } else {
        refused()
    }
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
        tenant: &Tenant,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let tenant = tenant.id.as_str();
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
/// `t-<tenant>` to it and `AddPermission` on the alias for the tenant's principal;
/// `RemovePermission` and `DeleteAlias` on removal. Physical function names come from a map of
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

impl LambdaProvisioner {
    /// Makes `principal` the only one the alias's resource policy lets invoke it (none: no
    /// one). The statement is replaced rather than kept, so it always names the registered one.
    async fn allow_invoke(
        &self,
        function: &str,
        alias: &str,
        principal: Option<&str>,
    ) -> Result<(), ProvisionError> {
        let removed = self
            .client
            .remove_permission()
            .function_name(function)
            .qualifier(alias)
            .statement_id(INVOKE_STATEMENT_ID)
            .send()
            .await;
        already_gone_is_fine(removed)?;
        if let Some(principal) = principal {
            self.client
                .add_permission()
                .function_name(function)
                .qualifier(alias)
                .statement_id(INVOKE_STATEMENT_ID)
                .action("lambda:InvokeFunction")
                .principal(principal)
                .send()
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}

fn backend<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_lambda::error::SdkError<E, R>,
) -> ProvisionError {
    ProvisionError::Backend(aws_sdk_lambda::error::DisplayErrorContext(e).to_string())
}

/// A removal whose target is already gone has done its job.
fn already_gone_is_fine<T, E, R>(
    result: Result<T, aws_sdk_lambda::error::SdkError<E, R>>,
) -> Result<(), ProvisionError>
where
    E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if aws_sdk_lambda::error::ProvideErrorMetadata::code(&e)
                == Some("ResourceNotFoundException") =>
        {
            Ok(())
        }
        Err(e) => Err(backend(e)),
    }
}

#[async_trait]
impl Provisioner for LambdaProvisioner {
    async fn provision(
        &self,
        tenant: &Tenant,
        app: &str,
        version: &str,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let alias = tenant_alias(&tenant.id);
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
            self.allow_invoke(name, &alias, tenant.aws_principal.as_deref())
                .await?;
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
            self.allow_invoke(name, &alias, None).await?;
            let deleted = self
                .client
                .delete_alias()
                .function_name(name)
                .name(&alias)
                .send()
                .await;
            already_gone_is_fine(deleted)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_principal;

    #[test]
    fn only_one_account_role_or_user_may_be_a_tenants_principal() {
        for ok in [
            "123456789012",
            "arn:aws:iam::123456789012:role/mattermost",
            "arn:aws:iam::123456789012:role/apps/mattermost-apps_plugin",
            "arn:aws-us-gov:iam::123456789012:user/mm+bot=x,y.z@acme",
        ] {
            assert_eq!(check_principal(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "*",
            "12345678901",
            "1234567890123",
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role//x",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:sts::123456789012:assumed-role/x/session",
            "arn:aws:iam::*:role/x",
            "arn:other:iam::123456789012:role/x",
            "arn:aws:iam::123456789012:role/x:y",
            "lambda.amazonaws.com",
            &format!("arn:aws:iam::123456789012:role/{}", "n".repeat(65)),
        ] {
            let e = check_principal(bad).unwrap_err();
            assert!(e.contains("is not an AWS account id"), "{bad}: {e}");
        }
    }
}
