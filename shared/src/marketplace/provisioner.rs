//! The provisioning port: each tenant's install runs on its own pinned version of the app's
//! functions. Its adapters ([`crate::provisioners`]) pin them as a Lambda alias per tenant, or
//! record the same for the local host.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::paths::TENANT_ALIAS_PREFIX;
use crate::store::{StoreError, Tenant};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("`{app}` {version} is not deployed on this host")]
    NotDeployed { app: String, version: String },
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
    /// Points the tenant's alias of every function of `app` at `version` at the code deployed
    /// now, invocable by the tenant's registered AWS principal only (by nobody outside the
    /// account without one), and takes the tenant's aliases off the functions of `previous`.
    async fn provision(
        &self,
        tenant: &Tenant,
        app: &str,
        version: &str,
        previous: Option<&str>,
    ) -> Result<Vec<Pinned>, ProvisionError>;

    /// Removes the tenant's aliases of `app`'s functions, of every version, and who may invoke
    /// them; absent ones are fine.
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
        _: Option<&str>,
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
