//! The App Marketplace: listings, tenants and their admin tokens, and per-tenant installs that
//! can be upgraded, downgraded, configured, enabled, disabled and removed.

pub mod catalog;
pub mod catalog_publish;
pub mod hosted_apps;
pub mod provisioner;
pub mod service;

pub use service::Marketplace;

#[cfg(test)]
mod tests;
