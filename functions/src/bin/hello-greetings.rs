//! The Lambda function for `POST /t/{tenant}/apps/hello/greetings`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::apps::hello;
use cloudapps::lambda;
use cloudapps::paths::AppRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_app(hello::APP, AppRoute::Call("/greetings")).await
}
