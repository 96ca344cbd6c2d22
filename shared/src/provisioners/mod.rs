//! The adapters of the provisioning port ([`crate::marketplace::provisioner`]): each pins an
//! install's functions, as listed in [`crate::functions`], for its tenant.

mod embedded;
mod lambda;

pub use embedded::EmbeddedProvisioner;
pub use lambda::{LambdaProvisioner, invoke_statement_id};

use crate::marketplace::provisioner::ProvisionError;

/// The deployed names of `app`'s functions at `version`, which every adapter pins.
fn deployed(app: &str, version: &str) -> Result<Vec<String>, ProvisionError> {
    crate::functions::invoked_functions(app, version).ok_or_else(|| ProvisionError::NotDeployed {
        app: app.into(),
        version: version.into(),
    })
}
