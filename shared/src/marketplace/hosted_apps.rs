//! The port through which the marketplace reaches the apps this host runs: whether it runs an
//! app, what the app subscribes to on install, and its lifecycle calls. The built-in apps
//! implement it ([`crate::apps::BuiltinApps`]); the marketplace knows no app by name.

use async_trait::async_trait;

use super::Marketplace;
use crate::command::Command;
use crate::events::subscriptions::Subscription;
use crate::protocol::apps::CallResponse;
use crate::store::Tenant;

#[async_trait]
pub trait HostedApps: Send + Sync + 'static {
    /// Whether this host runs `app_id`'s code (an app hosted elsewhere names its root URL).
    fn hosts(&self, app_id: &str) -> bool;

    /// The subscriptions the app takes on install, for the subjects the install was granted.
    fn subscriptions(&self, app_id: &str) -> Vec<Subscription>;

    /// Runs a lifecycle call of the app (install, configure, version change, uninstall);
    /// `None` when the app has no handler for its path. A failure is an error answer.
    async fn lifecycle(
        &self,
        app_id: &str,
        command: &Command,
        marketplace: &Marketplace,
        tenant: &Tenant,
    ) -> Option<CallResponse>;
}
