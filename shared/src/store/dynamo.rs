//! The production adapter: one DynamoDB table with single-table keys (`pk` hash, `sk` range).
//! Bodies are stored as native attributes through serde_dynamo, next to `pk`, `sk` and `_rev`;
//! every write carries a condition on `_rev`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ReturnValue, ScalarAttributeType,
};
use serde_json::Value;

use super::{Item, ItemStore, StoreError};

const PK: &str = "pk";
const SK: &str = "sk";
const REV: &str = "_rev";
/// DynamoDB's limit on keys in one BatchGetItem.
pub const BATCH_GET_KEYS: usize = 100;
/// How many batch reads in a row may leave every key they asked for unprocessed before a read
/// gives up.
pub const BATCH_STALLS: u32 = 5;
/// The backoff cap before the first retry of unprocessed keys; it doubles per stalled round.
const BATCH_BACKOFF: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// `client` is built once per process (connections are reused across requests).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// Connects with the default AWS configuration (environment, profile, or the Lambda role;
    /// `AWS_ENDPOINT_URL` points it elsewhere, e.g. at moto server).
    pub async fn connect(table: impl Into<String>) -> Self {
        let config = crate::aws::load().await;
        Self::new(Client::new(&config), table)
    }

    /// Creates the table with the adapter's key schema (tests and first-run set-up; SAM creates
    /// it in the cloud). An existing table is fine.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attr(PK).map_err(build_error)?)
            .attribute_definitions(attr(SK).map_err(build_error)?)
            .key_schema(key(PK, KeyType::Hash).map_err(build_error)?)
            .key_schema(key(SK, KeyType::Range).map_err(build_error)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    /// One BatchGetItem of at most [`BATCH_GET_KEYS`] distinct keys into `found`. DynamoDB may
    /// leave keys unprocessed (throttling, or a response over its 16 MB cap): those are asked
    /// for again after a jittered exponential backoff. The SDK's own retries cover only failed
    /// requests, not this partial success. Rounds that process some keys are progress; the read
    /// fails once [`BATCH_STALLS`] rounds in a row process none.
    async fn batch_get(
        &self,
        pk: &str,
        sks: &[&str],
        found: &mut HashMap<String, Item>,
    ) -> Result<(), StoreError> {
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            sks.iter().map(|sk| Self::key(pk, sk)).collect();
        let mut stalls = 0;
        loop {
            let asked = pending.len();
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(build_error)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(sdk_error)?;
            for attrs in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let item = Self::from_attributes(attrs)?;
                found.insert(item.sk.clone(), item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            stalls = if pending.len() < asked { 0 } else { stalls + 1 };
            if stalls >= BATCH_STALLS {
                return Err(StoreError::Backend(format!(
                    "DynamoDB left {} of {} keys unprocessed in {BATCH_STALLS} batch reads in a row (throttled)",
                    pending.len(),
                    sks.len()
                )));
            }
            // Full jitter: concurrent readers throttled together do not retry together.
            let cap = BATCH_BACKOFF * 2u32.pow(stalls);
            tokio::time::sleep(cap.mul_f64(rand::random::<f64>())).await;
        }
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }

    fn to_attributes(
        pk: &str,
        sk: &str,
        revision: u64,
        body: &Value,
    ) -> Result<HashMap<String, AttributeValue>, StoreError> {
        if !body.is_object() {
            return Err(StoreError::Backend(
                "item bodies must be JSON objects".into(),
            ));
        }
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(body)
            .map_err(|e| StoreError::Backend(format!("cannot marshal item: {e}")))?;
        item.extend(Self::key(pk, sk));
        item.insert(REV.to_owned(), AttributeValue::N(revision.to_string()));
        Ok(item)
    }

    fn from_attributes(mut attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
        let mut take_s = |name: &str| match attrs.remove(name) {
            Some(AttributeValue::S(s)) => Ok(s),
            _ => Err(StoreError::Backend(format!(
                "item without a string `{name}`"
            ))),
        };
        let (pk, sk) = (take_s(PK)?, take_s(SK)?);
        let corrupt = |reason: String| StoreError::Corrupt {
            pk: pk.clone(),
            sk: sk.clone(),
            reason,
        };
        let revision = match attrs.remove(REV) {
            Some(AttributeValue::N(n)) => n
                .parse()
                .map_err(|_| corrupt(format!("`{REV}` is not a number")))?,
            _ => return Err(corrupt(format!("`{REV}` is missing"))),
        };
        let body: Value = serde_dynamo::from_item(attrs).map_err(|e| corrupt(e.to_string()))?;
        Ok(Item {
            pk,
            sk,
            revision,
            body,
        })
    }
}

fn sdk_error<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(DisplayErrorContext(e).to_string())
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        out.item.map(Self::from_attributes).transpose()
    }

    async fn get_many(&self, pk: &str, sks: &[&str]) -> Result<Vec<Option<Item>>, StoreError> {
        // DynamoDB refuses a batch that names a key twice: ask for each key once, map back after.
        let mut seen = HashSet::new();
        let unique: Vec<&str> = sks.iter().copied().filter(|sk| seen.insert(*sk)).collect();
        let mut found: HashMap<String, Item> = HashMap::new();
        for chunk in unique.chunks(BATCH_GET_KEYS) {
            self.batch_get(pk, chunk, &mut found).await?;
        }
        Ok(sks.iter().map(|sk| found.get(*sk).cloned()).collect())
    }

    async fn create(&self, pk: &str, sk: &str, body: &Value) -> Result<Item, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::to_attributes(pk, sk, 1, body)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Item {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
                revision: 1,
                body: body.clone(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn replace(
        &self,
        pk: &str,
        sk: &str,
        expected: u64,
        body: &Value,
    ) -> Result<Item, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::to_attributes(pk, sk, expected + 1, body)?))
            .condition_expression("#rev = :expected")
            .expression_attribute_names("#rev", REV)
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Item {
                pk: pk.to_owned(),
                sk: sk.to_owned(),
                revision: expected + 1,
                body: body.clone(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                // The condition fails both for a newer revision and for a deleted item.
                Err(if self.get(pk, sk).await?.is_some() {
                    StoreError::Conflict
                } else {
                    StoreError::NotFound
                })
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true);
        // DynamoDB refuses an empty key value, so an empty prefix means the whole partition.
        query = if sk_prefix.is_empty() {
            query.key_condition_expression("#pk = :pk")
        } else {
            query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
        };
        let mut pages = query.into_paginator().send();
        let mut items = Vec::new();
        while let Some(page) = pages.next().await {
            for attrs in page.map_err(sdk_error)?.items.unwrap_or_default() {
                items.push(Self::from_attributes(attrs)?);
            }
        }
        Ok(items)
    }
}
