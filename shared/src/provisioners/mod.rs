//! The adapters of the provisioning port ([`crate::marketplace::provisioner`]): each pins an
//! install's functions, as listed in [`crate::functions`], for its tenant.

mod embedded;
mod lambda;

pub use embedded::EmbeddedProvisioner;
pub use lambda::{LambdaProvisioner, invoke_statement_id};
