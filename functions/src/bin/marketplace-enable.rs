//! The Lambda function for `POST /marketplace/t/{tenant}/apps/{app}/enable`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::Op;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_marketplace(Op::Enable).await
}
