//! A Lambda function; `cloudapps::host::FUNCTIONS` says which route its name serves.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cloudapps::lambda::run(env!("CARGO_BIN_NAME")).await
}
