//! Routes: every URL an install hands out is `/t/{tenant}/apps/{app}/...`, so the tenant and
//! app of a request are known before anything else is read.

use crate::error::Error;
use crate::ids::valid_id;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub tenant: String,
    pub app: String,
    pub kind: Kind,
    /// For [`Kind::Call`], the call path (`/send`); otherwise the fixed path.
    pub path: String,
}

/// The root of an app's routes for a tenant, relative to the host's public URL.
pub fn app_root(tenant: &str, app: &str) -> String {
    format!("/t/{tenant}/apps/{app}")
}

pub fn parse(path: &str) -> Result<Route, Error> {
    let not_found = || {
        Error::NotFound(format!(
            "no route for {path}; app routes look like /t/<tenant>/apps/<app>/<call path>"
        ))
    };
    let rest = path.strip_prefix("/t/").ok_or_else(not_found)?;
    let (tenant, rest) = rest.split_once('/').ok_or_else(not_found)?;
    let rest = rest.strip_prefix("apps/").ok_or_else(not_found)?;
    let (app, call) = rest.split_once('/').ok_or_else(not_found)?;
    let call = format!("/{}", call.trim_end_matches('/'));
    let clean = call
        .split('/')
        .skip(1)
        .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if !valid_id(tenant) || !valid_id(app) || !clean {
        return Err(not_found());
    }
    let kind = Kind::FIXED
        .into_iter()
        .find(|k| k.fixed_path() == Some(call.as_str()))
        .unwrap_or(Kind::Call);
    Ok(Route {
        tenant: tenant.to_owned(),
        app: app.to_owned(),
        kind,
        path: call,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let r = parse("/t/acme/apps/hello/send").unwrap();
        assert_eq!(
            (r.tenant.as_str(), r.app.as_str(), r.kind, r.path.as_str()),
            ("acme", "hello", Kind::Call, "/send")
        );
        assert_eq!(
            parse("/t/acme/apps/hello/manifest.json").unwrap().kind,
            Kind::Manifest
        );
        assert_eq!(
            parse("/t/acme/apps/hello/v1/command").unwrap().kind,
            Kind::SlashCommand
        );
        assert_eq!(
            parse("/t/acme/apps/hello/v1/action").unwrap().kind,
            Kind::PostAction
        );
        assert_eq!(
            parse("/t/acme/apps/hello/v1/dialog").unwrap().kind,
            Kind::Dialog
        );
        assert_eq!(
            parse("/t/acme/apps/ext/v1/subscribe").unwrap().kind,
            Kind::Subscribe
        );
        assert_eq!(parse("/t/acme/apps/hello/a/b/").unwrap().path, "/a/b");
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "/",
            "/t/acme",
            "/t/acme/apps/hello",
            "/t/acme/apps/hello/",
            "/x/acme/apps/hello/send",
            "/t/ac me/apps/hello/send",
            "/t/acme/apps/hello/../other/send",
            "/t/acme/apps/hello/a//b",
            "/t//apps/hello/send",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.status(), 404, "{bad}");
        }
    }
}
