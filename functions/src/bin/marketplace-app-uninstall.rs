//! The Lambda function for `POST /t/{tenant}/apps/marketplace/uninstall`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::AppRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_marketplace_app(AppRoute::Call("/uninstall")).await
}
