//! The AWS provisioner: a Lambda alias per tenant and app function, invocable by the tenant's
//! registered principal only.

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};

use crate::functions;
use crate::marketplace::provisioner::{Pinned, ProvisionError, Provisioner, tenant_alias};
use crate::store::Tenant;

/// The statement of an alias's resource policy that lets the tenant's Mattermost invoke it:
/// named after the alias, so that no tenant's statement can stand for another's.
pub fn invoke_statement_id(alias: &str) -> String {
    format!("{alias}-mattermost-invoke")
}

/// How many functions a provisioning step works on at once (each is a few Lambda
/// control-plane calls in a row).
const CONCURRENT_FUNCTIONS: usize = 4;

/// The AWS adapter: `PublishVersion` of each function of the app's version, then
/// `CreateAlias`/`UpdateAlias` `t-<tenant>` to it and `AddPermission` on the alias for the
/// tenant's principal; `RemovePermission` and `DeleteAlias` on removal. The functions are
/// named as the Apps plugin invokes them ([`functions::Function::deployed_name`]), one set
/// per version of each built-in app, so the names need no configuration.
pub struct LambdaProvisioner {
    client: aws_sdk_lambda::Client,
}

impl LambdaProvisioner {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        LambdaProvisioner { client }
    }

    /// Pins the tenant's alias of one function at a newly published version.
    async fn pin(
        &self,
        name: &str,
        alias: &str,
        description: &str,
        principal: Option<&str>,
    ) -> Result<Pinned, ProvisionError> {
        let published = self
            .client
            .publish_version()
            .function_name(name)
            .description(description)
            .send()
            .await
            .map_err(backend)?;
        let function_version = published.version.unwrap_or_default();
        let updated = self
            .client
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(&function_version)
            .description(description)
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
                    .name(alias)
                    .function_version(&function_version)
                    .description(description)
                    .send()
                    .await
                    .map_err(backend)?;
            }
            Err(e) => return Err(backend(e)),
        }
        self.allow_invoke(name, alias, principal).await?;
        Ok(Pinned {
            function: name.into(),
            alias: alias.into(),
            function_version,
        })
    }

    /// Takes the alias (and who may invoke it) off one function; an absent one is fine.
    async fn unpin(&self, name: &str, alias: &str) -> Result<(), ProvisionError> {
        self.allow_invoke(name, alias, None).await?;
        let deleted = self
            .client
            .delete_alias()
            .function_name(name)
            .name(alias)
            .send()
            .await;
        already_gone_is_fine(deleted)
    }

    /// Unpins the alias from every function named, a few at a time.
    async fn unpin_all(&self, names: Vec<String>, alias: &str) -> Result<(), ProvisionError> {
        futures::stream::iter(names)
            .map(|name| async move { self.unpin(&name, alias).await })
            .buffer_unordered(CONCURRENT_FUNCTIONS)
            .try_collect()
            .await
    }

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
            .statement_id(invoke_statement_id(alias))
            .send()
            .await;
        already_gone_is_fine(removed)?;
        if let Some(principal) = principal {
            self.client
                .add_permission()
                .function_name(function)
                .qualifier(alias)
                .statement_id(invoke_statement_id(alias))
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
        previous: Option<&str>,
    ) -> Result<Vec<Pinned>, ProvisionError> {
        let alias = tenant_alias(&tenant.id);
        let description = format!("{app} {version}");
        let principal = tenant.aws_principal.as_deref();
        let (alias, description) = (&alias, &description);
        let pinned: Vec<Pinned> = futures::stream::iter(super::deployed(app, version)?)
            .map(|name| async move { self.pin(&name, alias, description, principal).await })
            .buffered(CONCURRENT_FUNCTIONS)
            .try_collect()
            .await?;
        // The tenant now runs on `version`; what it ran on before is no longer its to invoke.
        // A failure leaves an alias to old code behind, which the uninstall removes.
        if let Some(previous) = previous.filter(|p| *p != version) {
            let old = super::deployed(app, previous).unwrap_or_default();
            if let Err(e) = self.unpin_all(old, alias).await {
                tracing::warn!(error = %e, app, previous, "could not remove the aliases of the previous version");
            }
        }
        Ok(pinned)
    }

    async fn deprovision(&self, tenant: &str, app: &str) -> Result<(), ProvisionError> {
        let alias = tenant_alias(tenant);
        self.unpin_all(functions::every_invoked_function(app), &alias)
            .await
    }
}
