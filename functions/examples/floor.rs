//! The cold-start floor: the least a function that reads the install table can do, to compare
//! the real binaries with (`scripts/cold_start.py`). At init it loads the AWS configuration,
//! builds a DynamoDB client and makes the one read every function's cold start makes (the
//! tenant lookup every function warms the store with at init: `GetItem` on
//! `pk = TENANT#__warm-up__`, `sk = TENANT`, consistent); whether the item exists does not
//! matter. Then it answers every event with an empty 200. No tracing subscriber, no host.
//!
//! Build: `cargo build --release --example floor` (binary: target/release/examples/floor).

use std::convert::Infallible;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    // The same configuration (and HTTPS client) the functions load.
    let config = cloudapps::aws::load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    // A failed read fails init (the real functions only log it): a floor that never reached
    // DynamoDB would not be a floor.
    dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("TENANT#__warm-up__".into()))
        .key("sk", AttributeValue::S("TENANT".into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("GetItem on {table}: {}", DisplayErrorContext(&e)))?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Infallible>(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": "{}",
        }))
    }))
    .await
}
