//! The built-in apps. An app is a manifest, its bindings and a set of command handlers; the host
//! does routing, auth, decoding and rendering around it, so handlers see only [`Command`]s.

pub mod hello;
pub mod marketplace;
pub mod notices;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::command::Command;
use crate::error::Error;
use crate::events::subscriptions::Subscription;
use crate::marketplace::Marketplace;
use crate::marketplace::hosted_apps::HostedApps;
use crate::mattermost::Mattermost;
use crate::paths::AppRoute;
use crate::protocol::apps::{Binding, CallResponse, Manifest};
use crate::store::Tenant;

/// A route of an app, and the Lambda function that serves it on AWS (`None`: only the local
/// host serves it, or the app's classic routes, which run any of its commands). The HTTP
/// routes, the function list, the manifest's `aws_lambda` block and the template's functions
/// are all built from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub route: AppRoute,
    pub function: Option<&'static str>,
}

impl Endpoint {
    /// A call path served by its own function.
    pub const fn call(path: &'static str, function: &'static str) -> Self {
        Self::served(AppRoute::Call(path), function)
    }

    /// A call path only the local host and the app's classic routes reach.
    pub const fn local_call(path: &'static str) -> Self {
        Endpoint {
            route: AppRoute::Call(path),
            function: None,
        }
    }

    pub const fn served(route: AppRoute, function: &'static str) -> Self {
        Endpoint {
            route,
            function: Some(function),
        }
    }
}

#[async_trait]
pub trait App: Send + Sync + 'static {
    /// The app's id, as in its manifest.
    fn id(&self) -> &'static str;

    /// The manifest without deploy blocks; the host adds `http` (this tenant's root URL) and
    /// `aws_lambda` (the functions serving the app) when it serves `/manifest.json`.
    fn manifest(&self) -> Manifest;

    /// Every call path the app answers (`/ping` and the bindings call included), and each
    /// route a function of its own serves.
    fn endpoints(&self) -> &'static [Endpoint];

    /// Every route of the app: the fixed ones every app has, and each of its call paths.
    fn routes(&self) -> Vec<AppRoute> {
        let calls = self
            .endpoints()
            .iter()
            .map(|e| e.route)
            .filter(|r| matches!(r, AppRoute::Call(_)));
        AppRoute::FIXED.into_iter().chain(calls).collect()
    }

    /// Every binding the app offers, one per top-level location; the host drops what the
    /// install was not granted.
    fn bindings(&self) -> Vec<Binding>;

    /// Handles a command; `None` when the app has no handler for `command.path`. `/ping` and
    /// the bindings call are answered by the host.
    async fn call(&self, command: &Command) -> Option<CallResponse>;

    /// Handles a command that manages the tenant's apps; only the built-in marketplace app
    /// does. `base_url` is where Mattermost reaches this host. `None` passes the command on to
    /// [`App::call`].
    async fn call_marketplace(
        &self,
        _command: &Command,
        _market: &Marketplace,
        _tenant: &Tenant,
        _base_url: &str,
    ) -> Option<CallResponse> {
        None
    }

    /// The subscriptions the app takes on install (those whose subject the install was
    /// granted); uninstall removes them.
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
    }

    /// Handles a post-event notification (a call with `context.subject`); `mattermost` posts
    /// as the bot whose token the notification carries. `None` passes it on to [`App::call`].
    async fn notify(
        &self,
        _command: &Command,
        _mattermost: &dyn Mattermost,
    ) -> Option<Result<CallResponse, Error>> {
        None
    }
}

/// The apps this host runs in-process, by app id.
#[derive(Clone)]
pub struct BuiltinApps {
    /// Shared: the host, and so this, is cloned for every request.
    apps: Arc<BTreeMap<String, Arc<dyn App>>>,
}

impl BuiltinApps {
    /// Every built-in app.
    pub fn all() -> Self {
        Self::of(vec![
            Arc::new(hello::Hello),
            Arc::new(marketplace::MarketplaceApp),
            Arc::new(notices::Notices),
        ])
    }

    pub fn of(apps: Vec<Arc<dyn App>>) -> Self {
        BuiltinApps {
            apps: Arc::new(apps.into_iter().map(|a| (a.id().to_owned(), a)).collect()),
        }
    }

    pub fn get(&self, app_id: &str) -> Option<&Arc<dyn App>> {
        self.apps.get(app_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn App>)> {
        self.apps.iter().map(|(id, app)| (id.as_str(), app))
    }
}

#[async_trait]
impl HostedApps for BuiltinApps {
    fn hosts(&self, app_id: &str) -> bool {
        self.get(app_id).is_some()
    }

    fn subscriptions(&self, app_id: &str) -> Vec<Subscription> {
        self.get(app_id)
            .map(|a| a.subscriptions())
            .unwrap_or_default()
    }

    async fn call(&self, app_id: &str, command: &Command) -> Option<CallResponse> {
        self.get(app_id)?.call(command).await
    }
}
