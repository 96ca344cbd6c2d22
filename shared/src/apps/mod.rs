//! The built-in apps. An app is a manifest, its bindings and a set of command handlers; the host
//! does routing, auth, decoding and rendering around it, so handlers see only [`Command`]s.

pub mod hello;
pub mod marketplace;
pub mod notices;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::command::Command;
use crate::error::Error;
use crate::events::subscriptions::Subscription;
use crate::marketplace::Marketplace;
use crate::marketplace::hosted_apps::HostedApps;
use crate::mattermost::NewPost;
use crate::paths::AppRoute;
use crate::protocol::apps::{Binding, CallResponse, Manifest};
use crate::store::Tenant;

/// The call path Mattermost pings an app on at install, with an empty context.
pub const PING_PATH: &str = "/ping";

/// What answers a call path: the app's handler, bound to its path once in the app's
/// [`Endpoint`]s.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A fixed route (the manifest, the classic routes): the host answers it, not a call.
    Host,
    /// `/ping`: the host answers PONG.
    Ping,
    /// The bindings call: the host answers the app's bindings, less what was not granted.
    Bindings,
    /// Answers from the command alone.
    Reply(fn(&Command) -> CallResponse),
    /// Answers a post-event notification (a call with `context.subject`) with the post to
    /// make as the app's bot, if any; the host posts it.
    Notify(fn(&Command) -> Option<NewPost>),
    /// Answers with the host's services (see [`Services`]).
    Run(for<'a> fn(&'a Command, &'a Services<'a>) -> Answer<'a>),
}

impl Handler {
    /// Runs a `Reply` or `Run` handler; `None` for what the host answers itself. A failure of
    /// `Run` is an error answer, as the Apps convention has it.
    pub async fn answer(self, command: &Command, services: &Services<'_>) -> Option<CallResponse> {
        match self {
            Handler::Reply(reply) => Some(reply(command)),
            Handler::Run(run) => Some(
                run(command, services)
                    .await
                    .unwrap_or_else(|e| e.to_call_response()),
            ),
            Handler::Host | Handler::Ping | Handler::Bindings | Handler::Notify(_) => None,
        }
    }
}

/// What a [`Handler::Run`] returns.
pub type Answer<'a> = BoxFuture<'a, Result<CallResponse, Error>>;

/// What a handler may use besides its command.
pub struct Services<'a> {
    pub tenant: &'a Tenant,
    pub marketplace: &'a Marketplace,
    /// Where Mattermost reaches this host; `None` in a lifecycle call the marketplace makes.
    pub base_url: Option<&'a str>,
}

/// A route of an app, the Lambda function that serves it on AWS (`None`: only the local host
/// serves it, or the app's classic routes, which run any of its commands), and, for a call
/// path, its handler. The HTTP routes, the dispatch, the function list, the manifest's
/// `aws_lambda` block and the template's functions are all built from these.
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub route: AppRoute,
    pub function: Option<&'static str>,
    pub handler: Handler,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("route", &self.route)
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A call path served by its own function.
    pub const fn call(path: &'static str, function: &'static str, handler: Handler) -> Self {
        Endpoint {
            route: AppRoute::Call(path),
            function: Some(function),
            handler,
        }
    }

    /// A call path no manifest names, which only the marketplace calls, in-process (the
    /// configuration calls); the local host and the app's classic routes reach it too.
    pub const fn local_call(path: &'static str, handler: Handler) -> Self {
        Endpoint {
            route: AppRoute::Call(path),
            function: None,
            handler,
        }
    }

    /// A fixed route (the manifest, the classic routes), served by `function`.
    pub const fn served(route: AppRoute, function: &'static str) -> Self {
        Endpoint {
            route,
            function: Some(function),
            handler: Handler::Host,
        }
    }

    /// `/ping`, answered by the host, served by `function`.
    pub const fn ping(function: &'static str) -> Self {
        Self::call(PING_PATH, function, Handler::Ping)
    }

    /// The bindings call, answered by the host, served by `function`.
    pub const fn bindings(function: &'static str) -> Self {
        Self::call("/bindings", function, Handler::Bindings)
    }
}

pub trait App: Send + Sync + 'static {
    /// The app's id, as in its manifest.
    fn id(&self) -> &'static str;

    /// The manifest without deploy blocks; the host adds `http` (this tenant's root URL) and
    /// `aws_lambda` (the functions serving the app) when it serves `/manifest.json`.
    fn manifest(&self) -> Manifest;

    /// Every call path the app answers (`/ping` and the bindings call included) with its
    /// handler, and each route a function of its own serves.
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

    /// The handler bound to a call path.
    fn handler(&self, path: &str) -> Option<Handler> {
        self.endpoints()
            .iter()
            .find(|e| matches!(e.route, AppRoute::Call(p) if p == path))
            .map(|e| e.handler)
    }

    /// Every binding the app offers, one per top-level location; the host drops what the
    /// install was not granted.
    fn bindings(&self) -> Vec<Binding>;

    /// The subscriptions the app takes on install (those whose subject the install was
    /// granted); uninstall removes them.
    fn subscriptions(&self) -> Vec<Subscription> {
        Vec::new()
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

    async fn lifecycle(
        &self,
        app_id: &str,
        command: &Command,
        marketplace: &Marketplace,
        tenant: &Tenant,
    ) -> Option<CallResponse> {
        let services = Services {
            tenant,
            marketplace,
            base_url: None,
        };
        let handler = self.get(app_id)?.handler(&command.path)?;
        handler.answer(command, &services).await
    }
}
