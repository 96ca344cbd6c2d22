//! The Lambda function for `POST /t/{tenant}/apps/notices/on-message-posted`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::paths::AppRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cloudapps::lambda::run_app(cloudapps::apps::notices::APP, AppRoute::Call("/on-message-posted")).await
}
