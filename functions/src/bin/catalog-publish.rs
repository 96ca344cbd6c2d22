//! The Lambda function for CloudFormation's catalog-publish custom resource.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_catalog_publish().await
}
