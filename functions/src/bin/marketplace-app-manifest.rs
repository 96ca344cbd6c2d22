//! The Lambda function for `GET /t/{tenant}/apps/marketplace/manifest.json`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::AppRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_marketplace_app(AppRoute::Manifest).await
}
