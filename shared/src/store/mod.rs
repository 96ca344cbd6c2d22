//! Install state: the port (a small store of versioned JSON documents under single-table keys),
//! its adapters (DynamoDB for Lambda, SQLite for the local default) and the typed records on top.
//!
//! Every write is conditional on the revision the writer read, so concurrent writers never lose
//! an update: one wins, the others get [`StoreError::Conflict`] and retry from a fresh read.

mod records;
pub use records::{
    Install, InstallState, RegisteredIntegration, Secret, TENANT_PK_PREFIX, Tenant, TokenHash,
};

pub mod dynamo;
pub mod sqlite;

#[cfg(any(test, feature = "contract"))]
pub mod contract;

use async_trait::async_trait;
use serde_json::Value;

/// The body field holding an item's expiry (seconds since the epoch): the table's TTL
/// attribute in the template, and what the SQLite store's sweep reads.
pub const EXPIRES_AT_FIELD: &str = "expires_at";

/// One stored document: its keys, its revision (1 on create, +1 per replace) and its body, a
/// JSON object. Body keys `pk`, `sk` and `_rev` are reserved for the adapters.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub pk: String,
    pub sk: String,
    pub revision: u64,
    pub body: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the item was changed or created concurrently")]
    Conflict,
    #[error("the item does not exist")]
    NotFound,
    #[error("stored item {pk}/{sk} is unreadable: {reason}")]
    Corrupt {
        pk: String,
        sk: String,
        reason: String,
    },
    #[error("the store failed: {0}")]
    Backend(String),
}

/// The install-state port. Adapters: [`dynamo::DynamoStore`], [`sqlite::SqliteStore`].
#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;

    /// Several items of one partition, in the order of `sks` (which may repeat a key), in as
    /// few round trips as the backend allows.
    async fn get_many(&self, pk: &str, sks: &[&str]) -> Result<Vec<Option<Item>>, StoreError>;

    /// Creates the item at revision 1; [`StoreError::Conflict`] if it already exists.
    async fn create(&self, pk: &str, sk: &str, body: &Value) -> Result<Item, StoreError>;

    /// Replaces the item if its revision is still `expected`. [`StoreError::Conflict`] if it
    /// changed since, [`StoreError::NotFound`] if it is gone.
    async fn replace(
        &self,
        pk: &str,
        sk: &str,
        expected: u64,
        body: &Value,
    ) -> Result<Item, StoreError>;

    /// Deletes the item; returns whether it existed.
    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError>;

    /// The items of partition `pk` whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError>;
}
