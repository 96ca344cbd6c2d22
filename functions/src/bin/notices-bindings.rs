//! The Lambda function for `POST /t/{tenant}/apps/notices/bindings`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::apps::notices;
use cloudapps::lambda;
use cloudapps::paths::AppRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_app(notices::APP, AppRoute::Call("/bindings")).await
}
