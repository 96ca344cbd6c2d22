//! The Lambda function for batches of the events queue.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_fanout().await
}
