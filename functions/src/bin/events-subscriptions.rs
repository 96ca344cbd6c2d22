//! The Lambda function for `POST /t/{tenant}/apps/{app}/v1/subscribe` and `POST /t/{tenant}/apps/{app}/v1/unsubscribe` and `GET /t/{tenant}/apps/{app}/v1/subscriptions` and `POST /t/{tenant}/apps/{app}/plugins/com.mattermost.apps/api/v1/subscribe` and `POST /t/{tenant}/apps/{app}/plugins/com.mattermost.apps/api/v1/unsubscribe` and `GET /t/{tenant}/apps/{app}/plugins/com.mattermost.apps/api/v1/subscribe`.
//! Generated from `cloudapps::functions` by `tests/template.rs`; do not edit.

use cloudapps::lambda;
use cloudapps::paths::EventRoute;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_events(EventRoute::Subscriptions).await
}
