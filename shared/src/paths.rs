//! Every path the host answers, and the naming rule of tenant aliases. An install hands out
//! `/t/{tenant}/apps/{app}/...`, so the tenant and app of a request are known from its path;
//! the marketplace is under `/marketplace`, events under `/events`. The HTTP routers and the
//! template's API routes are both built from these.

/// What a route leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET .../manifest.json`: the manifest with this tenant's root URL.
    Manifest,
    /// `POST .../{call path}`: an Apps call (JSON, JWT).
    Call,
    /// `POST .../v1/command`: a classic slash command (form-encoded, command token).
    SlashCommand,
    /// `POST .../v1/action`: a post-action click (JSON, signed call token in its context).
    PostAction,
    /// `POST .../v1/dialog`: a dialog submission (JSON, signed call token in its state).
    Dialog,
    /// `POST .../v1/outgoing`: a classic outgoing webhook (JSON or form, its token).
    OutgoingWebhook,
    /// `POST .../v1/notify`: an Apps subscription notification from Mattermost (JWT), ingested
    /// as an event. Any installed app, built in or not.
    Notification,
    /// `POST .../v1/events`: a classic outgoing webhook ingested as `message_posted` (its token).
    WebhookEvent,
    /// `POST .../v1/subscribe`, `.../v1/unsubscribe`, `GET .../v1/subscriptions`: the app
    /// manages its subscriptions (JWT signed with its install's secret).
    Subscribe,
    Unsubscribe,
    Subscriptions,
    /// The same three in the Apps plugin's shapes, at the plugin's paths below the app's root,
    /// so an app written for the plugin can use them with its Apps client pointed at that root:
    /// `POST` and `GET .../plugins/com.mattermost.apps/api/v1/subscribe`, `POST .../unsubscribe`.
    PluginSubscribe,
    PluginUnsubscribe,
    PluginSubscriptions,
}

impl Kind {
    pub fn method(self) -> &'static str {
        match self {
            Kind::Manifest | Kind::Subscriptions | Kind::PluginSubscriptions => "GET",
            _ => "POST",
        }
    }

    /// The path below the app's root for kinds that have a fixed one.
    pub fn fixed_path(self) -> Option<&'static str> {
        match self {
            Kind::Manifest => Some("/manifest.json"),
            Kind::Call => None,
            Kind::SlashCommand => Some("/v1/command"),
            Kind::PostAction => Some("/v1/action"),
            Kind::Dialog => Some("/v1/dialog"),
            Kind::OutgoingWebhook => Some("/v1/outgoing"),
            Kind::Notification => Some("/v1/notify"),
            Kind::WebhookEvent => Some("/v1/events"),
            Kind::Subscribe => Some("/v1/subscribe"),
            Kind::Unsubscribe => Some("/v1/unsubscribe"),
            Kind::Subscriptions => Some("/v1/subscriptions"),
            Kind::PluginSubscribe | Kind::PluginSubscriptions => {
                Some("/plugins/com.mattermost.apps/api/v1/subscribe")
            }
            Kind::PluginUnsubscribe => Some("/plugins/com.mattermost.apps/api/v1/unsubscribe"),
        }
    }

    /// The path template of a fixed kind under any app's root:
    /// `/t/{tenant}/apps/{app}/v1/notify`.
    pub fn under_any_app(self) -> String {
        format!(
            "{}{}",
            app_root("{tenant}", "{app}"),
            self.fixed_path().unwrap_or_default()
        )
    }

    /// The subscription API, in the host's shapes and in the Apps plugin's.
    pub const SUBSCRIPTION_API: [Kind; 6] = [
        Kind::Subscribe,
        Kind::Unsubscribe,
        Kind::Subscriptions,
        Kind::PluginSubscribe,
        Kind::PluginUnsubscribe,
        Kind::PluginSubscriptions,
    ];

    /// Every kind with a fixed path.
    pub const FIXED: [Kind; 13] = [
        Kind::Manifest,
        Kind::SlashCommand,
        Kind::PostAction,
        Kind::Dialog,
        Kind::OutgoingWebhook,
        Kind::Notification,
        Kind::WebhookEvent,
        Kind::Subscribe,
        Kind::Unsubscribe,
        Kind::Subscriptions,
        Kind::PluginSubscribe,
        Kind::PluginUnsubscribe,
        Kind::PluginSubscriptions,
    ];
}

/// One route of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppRoute {
    /// `GET .../manifest.json`
    Manifest,
    /// `POST .../<call path>`: an Apps call.
    Call(&'static str),
    /// `POST` (or `GET`) `.../v1/command`: a classic slash command.
    SlashCommand,
    /// `POST .../v1/action`: a post-action click.
    PostAction,
    /// `POST .../v1/dialog`: a dialog submission.
    Dialog,
    /// `POST .../v1/outgoing`: a classic outgoing webhook run as a command.
    OutgoingWebhook,
}

impl AppRoute {
    /// The routes every app has, whatever its call paths.
    pub const FIXED: [AppRoute; 5] = [
        AppRoute::Manifest,
        AppRoute::SlashCommand,
        AppRoute::PostAction,
        AppRoute::Dialog,
        AppRoute::OutgoingWebhook,
    ];

    /// The kind of request it takes.
    pub fn kind(self) -> Kind {
        match self {
            AppRoute::Manifest => Kind::Manifest,
            AppRoute::Call(_) => Kind::Call,
            AppRoute::SlashCommand => Kind::SlashCommand,
            AppRoute::PostAction => Kind::PostAction,
            AppRoute::Dialog => Kind::Dialog,
            AppRoute::OutgoingWebhook => Kind::OutgoingWebhook,
        }
    }

    /// The HTTP methods it answers: Mattermost may send a slash command as a GET with the form
    /// in the query.
    pub fn methods(self) -> &'static [&'static str] {
        match self {
            AppRoute::Manifest => &["GET"],
            AppRoute::SlashCommand => &["POST", "GET"],
            _ => &["POST"],
        }
    }

    /// Its path below the app's root.
    pub fn path(self) -> &'static str {
        match self {
            AppRoute::Call(path) => path,
            other => other.kind().fixed_path().unwrap_or_default(),
        }
    }
}

/// The root of an app's routes for a tenant, relative to the host's public URL.
pub fn app_root(tenant: &str, app: &str) -> String {
    format!("/t/{tenant}/apps/{app}")
}

/// Function aliases named `t-<tenant>` pin a tenant's version; invoking one identifies the tenant.
pub const TENANT_ALIAS_PREFIX: &str = "t-";

/// A marketplace operation; each is its own Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    RegisterTenant,
    List,
    Get,
    Install,
    ChangeVersion,
    ConfigForm,
    Configure,
    Enable,
    Disable,
    Rotate,
    Uninstall,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::RegisterTenant,
        Op::List,
        Op::Get,
        Op::Install,
        Op::ChangeVersion,
        Op::ConfigForm,
        Op::Configure,
        Op::Enable,
        Op::Disable,
        Op::Rotate,
        Op::Uninstall,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Op::List | Op::Get | Op::ConfigForm => "GET",
            Op::Uninstall => "DELETE",
            _ => "POST",
        }
    }

    /// The path template, with `{tenant}` and `{app}`.
    pub fn path(self) -> &'static str {
        match self {
            Op::RegisterTenant => "/marketplace/tenants",
            Op::List => "/marketplace/t/{tenant}/apps",
            Op::Get | Op::Uninstall => "/marketplace/t/{tenant}/apps/{app}",
            Op::Install => "/marketplace/t/{tenant}/apps/{app}/install",
            Op::ChangeVersion => "/marketplace/t/{tenant}/apps/{app}/version",
            Op::ConfigForm | Op::Configure => "/marketplace/t/{tenant}/apps/{app}/config",
            Op::Enable => "/marketplace/t/{tenant}/apps/{app}/enable",
            Op::Disable => "/marketplace/t/{tenant}/apps/{app}/disable",
            Op::Rotate => "/marketplace/t/{tenant}/apps/{app}/rotate",
        }
    }
}

/// Where events from sources other than Mattermost's own calls are accepted.
pub const INGEST_PATH: &str = "/events/t/{tenant}";
/// Where the operator inspects and redrives dead letters.
pub const DEAD_LETTERS_PATH: &str = "/events/dead-letters";
pub const REDRIVE_PATH: &str = "/events/dead-letters/redrive";
/// The event routes, as the functions serve them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRoute {
    /// `POST /events/t/{tenant}` and, for any installed app, Apps notifications and outgoing
    /// webhooks under its root.
    Ingest,
    /// The subscription API apps call, for any installed app.
    Subscriptions,
    /// The operator's view of the dead-letter queue, and its redrive.
    DeadLetters,
}

impl EventRoute {
    pub const ALL: [EventRoute; 3] = [
        EventRoute::Ingest,
        EventRoute::Subscriptions,
        EventRoute::DeadLetters,
    ];

    /// Its HTTP routes: method and path template.
    pub fn http_routes(self) -> Vec<(&'static str, String)> {
        let under_app = |kinds: &[Kind]| {
            kinds
                .iter()
                .map(|k| (k.method(), k.under_any_app()))
                .collect::<Vec<_>>()
        };
        match self {
            EventRoute::Ingest => {
                let mut routes = vec![("POST", INGEST_PATH.to_owned())];
                routes.extend(under_app(&[Kind::Notification, Kind::WebhookEvent]));
                routes
            }
            EventRoute::Subscriptions => under_app(&Kind::SUBSCRIPTION_API),
            EventRoute::DeadLetters => vec![
                ("GET", DEAD_LETTERS_PATH.to_owned()),
                ("POST", REDRIVE_PATH.to_owned()),
            ],
        }
    }
}
