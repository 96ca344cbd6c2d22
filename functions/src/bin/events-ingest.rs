//! The Lambda function for `POST /events/t/{tenant}` and `POST /t/{tenant}/apps/{app}/v1/notify` and `POST /t/{tenant}/apps/{app}/v1/events`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::EventRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_events(EventRoute::Ingest).await
}
