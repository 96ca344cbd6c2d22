//! The AWS provisioner: a Lambda alias per tenant and app function, invocable by the tenant's
//! registered principal only.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::functions::Function;
use crate::marketplace::provisioner::{Pinned, ProvisionError, Provisioner, tenant_alias};
use crate::store::Tenant;

/// The statement of an alias's resource policy that lets the tenant's Mattermost invoke it.
pub const INVOKE_STATEMENT_ID: &str = "tenant-mattermost-invoke";

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
