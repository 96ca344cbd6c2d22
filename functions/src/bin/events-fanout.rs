//! The Lambda function for batches of the events queue.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cloudapps::lambda::run_fanout().await
}
