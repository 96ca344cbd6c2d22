//! The events area: ingest from every source (normalized JSON with the tenant admin token,
//! Apps subscription notifications with the install's JWT, classic outgoing webhooks with their
//! token), the subscription API apps call with their JWT, and the operator's view of the
//! dead-letter queue. An event is answered 202 only once the queue has it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use http::request::Parts;

use super::{
    Host, Incoming, PathIds, Req, bearer, header_str, json, json_body, parse_json, query,
    refusing_other_methods, require_content_type,
};
use crate::auth;
use crate::error::Error;
use crate::events::fanout::{Answer, Deliverer, HttpDeliverer};
use crate::events::subscriptions::Subscription;
use crate::events::{Event, EventKind};
use crate::paths::{DEAD_LETTERS_PATH, EventRoute, INGEST_PATH, Kind, REDRIVE_PATH};
use crate::protocol::apps::CallRequest;
use crate::protocol::classic::OutgoingWebhookRequest;
use crate::store::{Install, Tenant};

/// How many dead letters one request lists or moves, at most.
const DEAD_LETTERS_MAX: usize = 100;

impl Host {
    /// The router for the event routes `routes`.
    pub fn events_router(&self, routes: &[EventRoute]) -> Router {
        let mut router = Router::new();
        for route in routes {
            router = match route {
                EventRoute::Ingest => router
                    .route(INGEST_PATH, only_post(post(ingest)))
                    .route(
                        &Kind::under_any_app(Kind::Notification),
                        only_post(post(notification)),
                    )
                    .route(
                        &Kind::under_any_app(Kind::WebhookEvent),
                        only_post(post(webhook_event)),
                    ),
                EventRoute::Subscriptions => router
                    .route(
                        &Kind::under_any_app(Kind::Subscribe),
                        only_post(post(subscribe)),
                    )
                    .route(
                        &Kind::under_any_app(Kind::Unsubscribe),
                        only_post(post(unsubscribe)),
                    )
                    .route(
                        &Kind::under_any_app(Kind::Subscriptions),
                        refusing_other_methods(get(subscriptions), vec!["GET"]),
                    )
                    .route(
                        &Kind::under_any_app(Kind::PluginSubscribe),
                        refusing_other_methods(
                            get(plugin::subscriptions).post(plugin::subscribe),
                            vec!["GET", "POST"],
                        ),
                    )
                    .route(
                        &Kind::under_any_app(Kind::PluginUnsubscribe),
                        only_post(post(plugin::unsubscribe)),
                    ),
                EventRoute::DeadLetters => router
                    .route(
                        DEAD_LETTERS_PATH,
                        refusing_other_methods(get(dead_letters), vec!["GET"]),
                    )
                    .route(REDRIVE_PATH, only_post(post(redrive))),
            };
        }
        router.with_state(Arc::new(self.clone()))
    }
}

fn only_post(router: MethodRouter<Arc<Host>>) -> MethodRouter<Arc<Host>> {
    refusing_other_methods(router, vec!["POST"])
}

/// `POST /events/t/{tenant}`: a normalized event, with the tenant admin's token.
async fn ingest(
    State(host): State<Arc<Host>>,
    PathIds { tenant, .. }: PathIds,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    host.marketplace
        .authorize_admin(&tenant, bearer(&req))
        .await?;
    let event: Event = json_body(&req, "event")?;
    host.enqueue(&tenant, None, event).await
}

/// The tenant of the path and its enabled install of the path's `{app}`.
struct Installed {
    tenant: Tenant,
    install: Install,
}

impl FromRequestParts<Arc<Host>> for Installed {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, host: &Arc<Host>) -> Result<Self, Error> {
        let PathIds { tenant, app } = PathIds::from_request_parts(parts, host).await?;
        let (tenant, install) = host.enabled_install(&tenant, &app).await?;
        Ok(Installed { tenant, install })
    }
}

/// An app calling the subscription API: its install, whose secret signed the JWT it sent in
/// `Mattermost-App-Authorization` or `Authorization`, or whose bot access token (which the app
/// gets in every call's context) it sent as `Authorization: Bearer`, as an app written for the
/// Apps plugin does.
struct CallingApp(Install);

impl FromRequestParts<Arc<Host>> for CallingApp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, host: &Arc<Host>) -> Result<Self, Error> {
        let Installed { install, .. } = Installed::from_request_parts(parts, host).await?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let jwt = auth::verify_app_jwt(
            header(auth::APP_AUTH_HEADER).or_else(|| header("authorization")),
            install.jwt_secret.expose(),
        );
        if let Err(e) = jwt {
            let bot_token = header("authorization").and_then(auth::bearer_token);
            // An install without a bot token accepts none.
            let bot = Some(install.bot_access_token.expose())
                .filter(|t| !t.is_empty())
                .map(auth::hash_token);
            auth::verify_command_token(bot_token, bot.as_deref())
                .map_err(|_| {
                    Error::Unauthorized(format!(
                        "the subscription API takes a JWT signed with the install's secret, or the install's bot access token as a bearer token: {e}"
                    ))
                })?;
        }
        Ok(CallingApp(install))
    }
}

async fn notification(
    State(host): State<Arc<Host>>,
    Installed { tenant, install }: Installed,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    host.notification(&req, &tenant, &install).await
}

/// A classic outgoing webhook, ingested as `message_posted`.
async fn webhook_event(
    State(host): State<Arc<Host>>,
    Installed { tenant, install }: Installed,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    let (hook, is_json) = outgoing_webhook_body(&req)?;
    install
        .accepts_command_token(Some(hook.token.as_str()))
        .map_err(|e| Error::Unauthorized(e.to_string()))?;
    let event = Event::from_outgoing_webhook(&hook, is_json);
    host.enqueue(&tenant.id, Some(&install.app_id), event).await
}

async fn subscribe(
    State(host): State<Arc<Host>>,
    CallingApp(install): CallingApp,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    let subscription: Subscription = json_body(&req, "subscription")?;
    let max = host.marketplace.limits().subscriptions_per_install;
    host.state().subscribe(&install, subscription, max).await?;
    Ok(json(200, &serde_json::json!({"type": "ok"})))
}

async fn unsubscribe(
    State(host): State<Arc<Host>>,
    CallingApp(install): CallingApp,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    let subscription: Subscription = json_body(&req, "subscription")?;
    let removed = host.state().unsubscribe(&install, &subscription).await?;
    Ok(json(
        200,
        &serde_json::json!({"type": "ok", "data": {"removed": removed}}),
    ))
}

async fn subscriptions(
    State(host): State<Arc<Host>>,
    CallingApp(install): CallingApp,
) -> Result<Response, Error> {
    let list = host.state().subscriptions_of(&install).await?;
    Ok(json(200, &serde_json::json!({"type": "ok", "data": list})))
}

/// The subscription API in the Apps plugin's shapes (`server/httpin/subscribe.go` and
/// `server/appservices/subscriptions.go` of v1.2.2): an empty 200 on success and a bare list
/// of subscriptions. A refusal has the plugin's status with this host's JSON error, whose body
/// the plugin's Go client returns as its error text. That client sends no content type.
mod plugin {
    use axum::response::IntoResponse;

    use super::*;

    pub(super) async fn subscribe(
        State(host): State<Arc<Host>>,
        CallingApp(install): CallingApp,
        Incoming(req): Incoming,
    ) -> Result<Response, Error> {
        let subscription: Subscription = body(&req, "subscription")?;
        let max = host.marketplace.limits().subscriptions_per_install;
        host.state().subscribe(&install, subscription, max).await?;
        Ok(http::StatusCode::OK.into_response())
    }

    /// The body is an `apps.Event` (the plugin's client sends the whole subscription; its
    /// `call` is ignored). None to remove is the plugin's 404.
    pub(super) async fn unsubscribe(
        State(host): State<Arc<Host>>,
        CallingApp(install): CallingApp,
        Incoming(req): Incoming,
    ) -> Result<Response, Error> {
        let event: Subscription = body(&req, "event")?;
        if host.state().unsubscribe(&install, &event).await? {
            Ok(http::StatusCode::OK.into_response())
        } else {
            Err(Error::NotFound(
                "You are not subscribed to this notification: not found".into(),
            ))
        }
    }

    pub(super) async fn subscriptions(
        State(host): State<Arc<Host>>,
        CallingApp(install): CallingApp,
    ) -> Result<Response, Error> {
        let list: Vec<Subscription> = host.state().subscriptions_of(&install).await?;
        Ok(json(200, &list))
    }

    /// A JSON body, with or without a JSON content type.
    fn body<T: serde::de::DeserializeOwned>(req: &Req, what: &str) -> Result<T, Error> {
        if req.headers().contains_key(http::header::CONTENT_TYPE) {
            json_body(req, what)
        } else {
            parse_json(req, what)
        }
    }
}

/// `GET /events/dead-letters`: lists them; takes `?max=N` and the operator credential.
async fn dead_letters(
    State(host): State<Arc<Host>>,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    host.dead_letters(&req, false).await
}

/// `POST /events/dead-letters/redrive`: moves them back onto the events queue.
async fn redrive(
    State(host): State<Arc<Host>>,
    Incoming(req): Incoming,
) -> Result<Response, Error> {
    host.dead_letters(&req, true).await
}

impl Host {
    /// An Apps subscription notification Mattermost sent to this install.
    async fn notification(
        &self,
        req: &Req,
        tenant: &Tenant,
        install: &Install,
    ) -> Result<Response, Error> {
        require_content_type(req, "application/json")?;
        let claims = auth::verify_app_jwt(
            header_str(req, auth::APP_AUTH_HEADER),
            install.jwt_secret.expose(),
        )
        .map_err(|e| Error::Unauthorized(e.to_string()))?;
        if claims.iss == auth::DELIVERY_ISSUER {
            return Err(Error::Forbidden(
                "this is a delivery this host sent, not a notification from Mattermost: deliveries never become events again".into(),
            ));
        }
        let call: CallRequest = serde_json::from_slice(req.body())
            .map_err(|e| Error::BadRequest(format!("the body is not an Apps call request: {e}")))?;
        super::apps::check_site(&call.path, &call.context.mattermost_site_url, tenant)?;
        let event = Event::from_notification(&call.context).map_err(Error::BadRequest)?;
        if let Some(subject) = event
            .kind
            .map(EventKind::subject)
            .filter(|s| !install.granted_subjects.contains(s))
        {
            return Err(Error::Forbidden(format!(
                "`{}` was not granted the subject {subject}",
                install.app_id
            )));
        }
        self.enqueue(&tenant.id, Some(&install.app_id), event).await
    }

    /// Validates the event, gives it an id, and answers 202 once the queue has it. `via_app`
    /// names the install whose own route it came through (then only that install receives it);
    /// `None` for the tenant admin's route. What the sender said of id, tenant and source is
    /// replaced by what the host knows.
    async fn enqueue(
        &self,
        tenant: &str,
        via_app: Option<&str>,
        mut event: Event,
    ) -> Result<Response, Error> {
        event.validate().map_err(Error::BadRequest)?;
        self.event_rate.admit(tenant)?;
        event.id = auth::generate_secret();
        event.tenant = tenant.to_owned();
        event.source_app = via_app.unwrap_or_default().to_owned();
        event.accepted_at = auth::now();
        if event.at_ms == 0 {
            event.at_ms = (auth::now() * 1000) as i64;
        }
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| Error::Dependency("this host has no event queue configured".into()))?;
        let body = serde_json::to_string(&event).map_err(|e| Error::BadRequest(e.to_string()))?;
        queue
            .send(&body)
            .await
            .map_err(|e| Error::Dependency(format!("the event was not accepted: {e}")))?;
        Ok(json(202, &serde_json::json!({ "event_id": event.id })))
    }

    /// `GET /events/dead-letters` lists, `POST /events/dead-letters/redrive` moves them back;
    /// both take `?max=N` and the operator credential.
    async fn dead_letters(&self, req: &Req, redrive: bool) -> Result<Response, Error> {
        self.marketplace.authorize_operator(bearer(req))?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Query {
            max: Option<usize>,
        }
        let query: Query = serde_html_form::from_str(query(req))
            .map_err(|e| Error::BadRequest(format!("bad query: {e}; use max=<count>")))?;
        let max = query
            .max
            .unwrap_or(DEAD_LETTERS_MAX)
            .clamp(1, DEAD_LETTERS_MAX);
        let queue = self
            .queue
            .as_ref()
            .ok_or_else(|| Error::Dependency("this host has no event queue configured".into()))?;
        let failed = |e: crate::events::queue::QueueError| Error::Dependency(e.to_string());
        Ok(if redrive {
            let moved = queue.redrive(max).await.map_err(failed)?;
            tracing::info!(moved, "redrove dead letters");
            json(200, &serde_json::json!({ "redriven": moved }))
        } else {
            let letters = queue.dead_letters(max).await.map_err(failed)?;
            let letters: Vec<serde_json::Value> = letters
                .into_iter()
                .map(|d| {
                    let event = serde_json::from_str::<serde_json::Value>(&d.body)
                        .unwrap_or(serde_json::Value::String(d.body));
                    serde_json::json!({ "message_id": d.id, "event": event })
                })
                .collect();
            json(200, &serde_json::json!({ "dead_letters": letters }))
        })
    }
}

/// A classic outgoing webhook, form-encoded or JSON; `true` when JSON (its timestamp is in
/// milliseconds, the form's in seconds).
pub(super) fn outgoing_webhook_body(req: &Req) -> Result<(OutgoingWebhookRequest, bool), Error> {
    let content_type = header_str(req, "content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let hook = serde_html_form::from_bytes(req.body()).map_err(|e| {
            Error::BadRequest(format!("the body is not an outgoing webhook form: {e}"))
        })?;
        Ok((hook, false))
    } else {
        require_content_type(req, "application/json")?;
        let hook = serde_json::from_slice(req.body()).map_err(|e| {
            Error::BadRequest(format!("the body is not an outgoing webhook payload: {e}"))
        })?;
        Ok((hook, true))
    }
}

/// The local host's transport: its own apps are called in-process, through the same pipeline
/// (routing, JWT, handler) an HTTP request takes; other apps over HTTP.
pub struct InProcessDeliverer {
    router: Router,
    base_url: String,
    http: HttpDeliverer,
}

impl InProcessDeliverer {
    /// Delivers to `router` what is addressed to `base_url`.
    pub fn new(router: Router, base_url: &str, http: HttpDeliverer) -> Self {
        InProcessDeliverer {
            router,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }
}

#[async_trait::async_trait]
impl Deliverer for InProcessDeliverer {
    async fn post(&self, url: &str, jwt: &str, delivery_id: &str, body: bytes::Bytes) -> Answer {
        let Some(path) = url
            .strip_prefix(&self.base_url)
            .filter(|p| p.starts_with('/'))
        else {
            return self.http.post(url, jwt, delivery_id, body).await;
        };
        let req = http::Request::post(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(auth::APP_AUTH_HEADER, format!("Bearer {jwt}"))
            .extension(super::RequestId(delivery_id.to_owned()))
            .body(axum::body::Body::from(body));
        match req {
            Ok(req) => Answer::Status(super::send(&self.router, req).await.status().as_u16()),
            // A JWT is text; a header it cannot be is a delivery that cannot be made.
            Err(e) => Answer::Unreachable(format!("cannot build the request: {e}")),
        }
    }
}
