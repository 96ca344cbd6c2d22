//! cloudapps: a serverless host for Mattermost Cloud Apps.
//!
//! - [`protocol`]: the wire types (Apps v1.2, classic integrations, the Lambda invoke envelope);
//! - [`command`]: one command model that every kind of request is decoded into, and rendering
//!   of the answer back into the wire format it came in;
//! - [`auth`]: JWTs, command tokens and signed call tokens;
//! - [`store`]: the install-state port with its DynamoDB and SQLite adapters;
//! - [`paths`]: every path the host answers, and the tenant-alias rule;
//! - [`apps`]: the built-in apps;
//! - [`http`]: the axum routers of every area, shared by every Lambda and the local host;
//! - [`functions`]: which Lambda function serves which route;
//! - [`lambda`]: the Lambda entry point;
//! - [`aws`]: the one AWS SDK configuration;
//! - [`outbound`]: the one policy every outbound HTTP request goes through.

pub mod apps;
pub mod auth;
pub mod aws;
pub mod command;
pub mod error;
pub mod events;
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
pub mod provision;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod properties;

pub use error::Error;
