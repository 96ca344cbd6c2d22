//! The Lambda function for `GET /events/dead-letters` and `POST /events/dead-letters/redrive`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::EventRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_events(EventRoute::DeadLetters).await
}
