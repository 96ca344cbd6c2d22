//! The host's event endpoints: ingest from every source (normalized JSON with the tenant admin
//! token, Apps subscription notifications with the install's JWT, classic outgoing webhooks with
//! their token), the subscription API apps call with their JWT, and the operator's view of the
//! dead-letter queue. An event is answered 202 only once the queue has it.

use http::Method;

use super::route::{Kind, Route};
use super::{Host, Inbound, Outbound, json_body, require_content_type};
use crate::auth;
use crate::error::Error;
use crate::events::fanout::{Answer, Deliverer, HttpDeliverer};
use crate::events::subscriptions::Subscription;
use crate::events::{Event, EventKind};
use crate::protocol::apps::CallRequest;
use crate::protocol::classic::OutgoingWebhookRequest;
use crate::store::{Install, Tenant};

/// Where the operator inspects and redrives dead letters.
pub const DEAD_LETTERS_PATH: &str = "/events/dead-letters";
pub const REDRIVE_PATH: &str = "/events/dead-letters/redrive";
/// How many dead letters one request lists or moves, at most.
const DEAD_LETTERS_MAX: usize = 100;

impl Host {
    /// `POST /events/t/{tenant}` (a normalized event) and the dead-letter routes.
    pub(super) async fn serve_events(&self, req: &Inbound) -> Result<Outbound, Error> {
        let path = req.path.trim_end_matches('/');
        if path == DEAD_LETTERS_PATH || path == REDRIVE_PATH {
            return self.dead_letters(req, path == REDRIVE_PATH).await;
        }
        let tenant = path
            .strip_prefix("/events/t/")
            .filter(|t| crate::ids::valid_id(t))
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no route for {}; events go to POST /events/t/<tenant>",
                    req.path
                ))
            })?;
        tracing::Span::current().record("tenant", tenant);
        if let Some(f) = self.only.filter(|f| !f.serves_ingest()) {
            return Err(f.wrong_route());
        }
        require_method(req, Method::POST)?;
        self.marketplace
            .authorize_admin(tenant, bearer(req, "authorization"))
            .await?;
        let event: Event = json_body(req, "event")?;
        self.enqueue(tenant, None, event).await
    }

    /// The event routes under an app's root, for any installed app.
    pub(super) async fn serve_app_events(
        &self,
        req: &Inbound,
        route: &Route,
    ) -> Result<Outbound, Error> {
        let (tenant, install) = self.enabled_install(route).await?;
        match route.kind {
            Kind::Notification => self.notification(req, &tenant, &install).await,
            Kind::WebhookEvent => {
                let (hook, is_json) = outgoing_webhook_body(req)?;
                install
                    .accepts_command_token(Some(hook.token.as_str()))
                    .map_err(|e| Error::Unauthorized(e.to_string()))?;
                let event = Event::from_outgoing_webhook(&hook, is_json);
                self.enqueue(&tenant.id, Some(&install.app_id), event).await
            }
            Kind::Subscribe => {
                verify_app(req, &install)?;
                let subscription: Subscription = json_body(req, "subscription")?;
                let max = self.marketplace.limits().subscriptions_per_install;
                self.state.subscribe(&install, subscription, max).await?;
                Ok(Outbound::json(200, &serde_json::json!({"type": "ok"})))
            }
            Kind::Unsubscribe => {
                verify_app(req, &install)?;
                let subscription: Subscription = json_body(req, "subscription")?;
                let removed = self.state.unsubscribe(&install, &subscription).await?;
                Ok(Outbound::json(
                    200,
                    &serde_json::json!({"type": "ok", "data": {"removed": removed}}),
                ))
            }
            Kind::Subscriptions => {
                verify_app(req, &install)?;
                let list = self.state.subscriptions_of(&install).await?;
                Ok(Outbound::json(
                    200,
                    &serde_json::json!({"type": "ok", "data": list}),
                ))
            }
            _ => Err(Error::NotFound(format!("no event route {}", route.path))),
        }
    }

    /// An Apps subscription notification Mattermost sent to this install.
    async fn notification(
        &self,
        req: &Inbound,
        tenant: &Tenant,
        install: &Install,
    ) -> Result<Outbound, Error> {
        require_content_type(req, "application/json")?;
        let claims = auth::verify_app_jwt(
            req.header(auth::APP_AUTH_HEADER),
            install.jwt_secret.expose(),
        )
        .map_err(|e| Error::Unauthorized(e.to_string()))?;
        if claims.iss == auth::DELIVERY_ISSUER {
            return Err(Error::Forbidden(
                "this is a delivery this host sent, not a notification from Mattermost: deliveries never become events again".into(),
            ));
        }
        let call: CallRequest = serde_json::from_slice(&req.body)
            .map_err(|e| Error::BadRequest(format!("the body is not an Apps call request: {e}")))?;
        super::check_site(&call.path, &call.context.mattermost_site_url, tenant)?;
        let event = Event::from_notification(&call.context).map_err(Error::BadRequest)?;
        if let Some(subject) = event
            .kind
            .map(EventKind::subject)
            .filter(|s| !install.granted_subjects.contains(s))
        {
            return Err(Error::Forbidden(format!(
                "`{}` was not granted the subject {}",
                install.app_id,
                crate::events::wire(subject)
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
    ) -> Result<Outbound, Error> {
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
        Ok(Outbound::json(
            202,
            &serde_json::json!({ "event_id": event.id }),
        ))
    }

    /// `GET /events/dead-letters` lists, `POST /events/dead-letters/redrive` moves them back;
    /// both take `?max=N` and the operator credential.
    async fn dead_letters(&self, req: &Inbound, redrive: bool) -> Result<Outbound, Error> {
        if let Some(f) = self.only.filter(|f| !f.serves_dead_letters()) {
            return Err(f.wrong_route());
        }
        require_method(req, if redrive { Method::POST } else { Method::GET })?;
        self.marketplace
            .authorize_operator(bearer(req, "authorization"))?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Query {
            max: Option<usize>,
        }
        let query: Query = serde_html_form::from_str(&req.query)
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
            Outbound::json(200, &serde_json::json!({ "redriven": moved }))
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
            Outbound::json(200, &serde_json::json!({ "dead_letters": letters }))
        })
    }
}

fn require_method(req: &Inbound, allowed: Method) -> Result<(), Error> {
    if req.method == allowed {
        Ok(())
    } else {
        Err(Error::MethodNotAllowed {
            method: req.method.to_string(),
            allowed: if allowed == Method::GET {
                "GET"
            } else {
                "POST"
            },
        })
    }
}

fn bearer<'a>(req: &'a Inbound, header: &str) -> Option<&'a str> {
    req.header(header)
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

/// An app calling the subscription API: a JWT signed with its install's secret, in
/// `Mattermost-App-Authorization` or `Authorization`.
fn verify_app(req: &Inbound, install: &Install) -> Result<(), Error> {
    let header = req
        .header(auth::APP_AUTH_HEADER)
        .or_else(|| req.header("authorization"));
    auth::verify_app_jwt(header, install.jwt_secret.expose())
        .map(|_| ())
        .map_err(|e| Error::Unauthorized(e.to_string()))
}

/// A classic outgoing webhook, form-encoded or JSON; `true` when JSON (its timestamp is in
/// milliseconds, the form's in seconds).
pub(super) fn outgoing_webhook_body(
    req: &Inbound,
) -> Result<(OutgoingWebhookRequest, bool), Error> {
    let content_type = req
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let hook = serde_html_form::from_bytes(&req.body).map_err(|e| {
            Error::BadRequest(format!("the body is not an outgoing webhook form: {e}"))
        })?;
        Ok((hook, false))
    } else {
        require_content_type(req, "application/json")?;
        let hook = serde_json::from_slice(&req.body).map_err(|e| {
            Error::BadRequest(format!("the body is not an outgoing webhook payload: {e}"))
        })?;
        Ok((hook, true))
    }
}

/// The local host's transport: its own apps are called in-process, through the same pipeline
/// (routing, JWT, handler) an HTTP request takes; other apps over HTTP.
pub struct InProcessDeliverer {
    host: Host,
    base_url: String,
    http: HttpDeliverer,
}

impl InProcessDeliverer {
    pub fn new(host: Host, base_url: &str, http: HttpDeliverer) -> Self {
        InProcessDeliverer {
            host,
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
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&format!("Bearer {jwt}")) {
            headers.insert(auth::APP_AUTH_HEADER, v);
        }
        let mut req = Inbound::new(Method::POST, path, headers, body);
        req.request_id = delivery_id.to_owned();
        Answer::Status(self.host.handle(req).await.status)
    }
}
