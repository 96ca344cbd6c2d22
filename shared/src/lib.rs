//! cloudapps: a serverless host for Mattermost Cloud Apps.
//!
//! Modules, lowest layer first; each uses only those above it in this list (held by the
//! `layers` test):
//!
//! - [`protocol`]: the wire types (Apps v1.2, classic integrations, the Lambda invoke envelope);
//! - [`ids`], [`paths`]: ids, every path the host answers, and the tenant-alias rule;
//! - [`auth`]: JWTs, command tokens and signed call tokens;
//! - [`outbound`]: the one policy every outbound HTTP request goes through;
//! - [`aws`]: the one AWS SDK configuration;
//! - [`store`]: the install-state port with its DynamoDB and SQLite adapters;
//! - [`error`], [`limits`]: the one error type, per-tenant limits;
//! - [`command`]: one command model that every kind of request is decoded into, and rendering
//!   of the answer back into the wire format it came in;
//! - [`mattermost`]: the Mattermost REST port;
//! - [`events`]: events, subscriptions, the queue port and fan-out;
//! - [`marketplace`]: listings, tenants and installs, over its app and provisioning ports;
//! - [`apps`]: the built-in apps;
//! - [`functions`]: which Lambda function serves which route;
//! - [`provisioners`]: the provisioning adapters (Lambda aliases, or the local record);
//! - [`first_run`]: the local host's first start;
//! - [`http`]: the axum routers of every area, shared by every Lambda and the local host;
//! - [`lambda`]: the Lambda entry point, wiring each function to only what it serves.

pub mod apps;
pub mod auth;
pub mod aws;
pub mod command;
pub mod error;
pub mod events;
pub mod first_run;
pub mod functions;
mod group_commit;
pub mod http;
pub mod ids;
pub mod lambda;
pub mod limits;
pub mod marketplace;
pub mod mattermost;
pub mod outbound;
pub mod paths;
pub mod protocol;
pub mod provisioners;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod properties;

pub use error::Error;
