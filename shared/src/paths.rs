//! The paths an install hands out: every one is `/t/{tenant}/apps/{app}/...`, so the tenant and
//! app of a request are known from its path. The HTTP routers ([`crate::http`]) and the
//! template's API routes ([`crate::functions`]) are both built from these.

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
}

impl Kind {
    pub fn method(self) -> &'static str {
        match self {
            Kind::Manifest | Kind::Subscriptions => "GET",
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
        }
    }

    /// The event routes: served for any installed app, hosted here or not.
    pub fn is_events(self) -> bool {
        matches!(
            self,
            Kind::Notification
                | Kind::WebhookEvent
                | Kind::Subscribe
                | Kind::Unsubscribe
                | Kind::Subscriptions
        )
    }

    /// Every kind with a fixed path.
    pub const FIXED: [Kind; 10] = [
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
