//! The HTTP layer: one axum [`Router`] per area ([`apps`], [`marketplace`], [`events`]). The
//! local host merges them all; each Lambda function serves the router of its one route,
//! through the Lambda adapter ([`crate::lambda`]). Routing happens here once: a request that
//! reaches a handler is for that handler's route.
//!
//! [`Host`] holds what the areas need (the install state and the ports) and builds their
//! routers. Every area takes the whole `Host`; a Lambda function's is built with only the
//! ports its area uses ([`crate::lambda`]), the others left as inert defaults.

pub mod apps;
pub mod events;
pub mod marketplace;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use tracing::Instrument;

use crate::apps::BuiltinApps;
use crate::error::Error;
use crate::events::queue::EventQueue;
use crate::limits::{EventRate, Limits};
use crate::marketplace::Marketplace;
use crate::marketplace::provisioner::Provisioner;
use crate::mattermost::Mattermost;
use crate::outbound::PrivateNetworks;
use crate::provisioners::EmbeddedProvisioner;
use crate::store::InstallState;

/// Bodies larger than this are refused before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Past this, an oversize body is no longer read to its end: the connection is dropped.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// A request id for log correlation, set by the transport (Lambda's, or one per local request).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Set when the request came by direct `lambda:Invoke` of a tenant's function alias: IAM
/// already authenticated the caller for this tenant, so an app JWT is optional.
#[derive(Debug, Clone)]
pub struct InvokedForTenant(pub String);

/// What the areas' routers are built from, once per process. The install state and the
/// Mattermost client are the marketplace's; the routers share one `Arc` of it, so a request
/// clones a pointer, not the host.
#[derive(Clone)]
pub struct Host {
    marketplace: Marketplace,
    /// The apps routed to; the marketplace reaches the same ones through its port.
    apps: BuiltinApps,
    /// The URL Mattermost reaches this host at; derived from each request when unset.
    public_url: Option<String>,
    /// Where accepted events wait for fan-out.
    queue: Option<Arc<dyn EventQueue>>,
    /// Events per second per tenant.
    event_rate: EventRate,
}

impl Host {
    /// A host over `state`, provisioning tenants with the embedded adapter.
    pub fn new(state: InstallState, apps: BuiltinApps) -> Self {
        let provisioner = Arc::new(EmbeddedProvisioner::new(state.clone()));
        Self::provisioning_with(state, apps, provisioner)
    }

    /// A host over `state`, provisioning tenants with `provisioner`.
    pub fn provisioning_with(
        state: InstallState,
        apps: BuiltinApps,
        provisioner: Arc<dyn Provisioner>,
    ) -> Self {
        Host {
            marketplace: Marketplace::new(state, Arc::new(apps.clone()), provisioner),
            apps,
            public_url: None,
            queue: None,
            event_rate: EventRate::new(Limits::default().events_per_second),
        }
    }

    /// Holds every tenant to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.marketplace = self.marketplace.with_limits(limits);
        self.event_rate = EventRate::new(limits.events_per_second);
        self
    }

    /// Provisions tenants with `provisioner` (the Lambda adapter in AWS).
    pub fn with_provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.marketplace = self.marketplace.with_provisioner(provisioner);
        self
    }

    /// Lets holders of the operator credential with this SHA-256 register tenants.
    pub fn with_operator_token_hash(mut self, hash: Option<String>) -> Self {
        self.marketplace = self.marketplace.with_operator_token_hash(hash);
        self
    }

    /// Registers tenant ids of at most `len` characters.
    pub fn with_max_tenant_id_len(mut self, len: usize) -> Self {
        self.marketplace = self.marketplace.with_max_tenant_id_len(len);
        self
    }

    /// Accepts events onto `queue`.
    pub fn with_queue(mut self, queue: Arc<dyn EventQueue>) -> Self {
        self.queue = Some(queue);
        self
    }

    pub fn with_public_url(mut self, url: Option<String>) -> Self {
        self.public_url = url
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty());
        self
    }

    /// Lets tenants register a Mattermost on a private network; give the outbound clients the
    /// same setting.
    pub fn with_private_networks(mut self, private_networks: PrivateNetworks) -> Self {
        self.marketplace = self.marketplace.with_private_networks(private_networks);
        self
    }

    /// The Mattermost REST client classic commands open dialogs with.
    pub fn with_mattermost(mut self, client: Arc<dyn Mattermost>) -> Self {
        self.marketplace = self.marketplace.with_mattermost(client);
        self
    }

    pub fn marketplace(&self) -> &Marketplace {
        &self.marketplace
    }

    pub fn state(&self) -> &InstallState {
        self.marketplace.state()
    }

    pub fn apps(&self) -> &BuiltinApps {
        &self.apps
    }

    fn mattermost(&self) -> Option<&Arc<dyn Mattermost>> {
        self.marketplace.mattermost()
    }

    /// Every route of every area: the local host.
    pub fn router(&self) -> Router {
        let mut router = Router::new()
            .merge(self.marketplace_router(&crate::paths::Op::ALL))
            .merge(self.events_router(&crate::paths::EventRoute::ALL));
        for (app_id, app) in self.apps().iter() {
            router = router.merge(self.apps_router(app_id, &app.routes()));
        }
        finish(router)
    }

    /// The routes one Lambda function serves (none for the fan-out and the deploy step).
    pub fn function_router(&self, function: &crate::functions::Function) -> Option<Router> {
        use crate::functions::Serves;
        let router = match function.serves {
            Serves::App { app, route } => self.apps_router(app, &[route]),
            Serves::Marketplace(op) => self.marketplace_router(&[op]),
            Serves::Events(route) => self.events_router(&[route]),
            Serves::FanOut | Serves::CatalogPublish => return None,
        };
        Some(finish(router))
    }

    /// Where Mattermost reaches this host: the configured URL, else the request's own.
    fn base_url(&self, req: &Req) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let proto = match header_str(req, "x-forwarded-proto") {
            Some("https") => "https",
            _ => "http",
        };
        // Only a plausible host name goes into URLs handed out (no header injection).
        let host = header_str(req, "host")
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{proto}://{host}")
    }
}

/// The layers every router gets once it is complete: a request span, JSON for every refusal
/// axum answers itself (unknown route, wrong method), and the fallback.
pub fn finish(router: Router) -> Router {
    router
        .fallback(no_route)
        .layer(axum::middleware::from_fn(in_request_span))
}

/// A request as the handlers see it: the body read up to [`MAX_BODY_BYTES`].
pub type Req = http::Request<Bytes>;

/// Extracts the whole request, refusing a body over [`MAX_BODY_BYTES`] with a 413. A larger
/// one is read on (and dropped) to its end, within reason, so the client gets the 413 instead
/// of a reset connection.
pub struct Incoming(pub Req);

impl<S: Send + Sync> FromRequest<S> for Incoming {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Error> {
        let (parts, mut body) = req.into_parts();
        let mut buf = BytesMut::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|e| Error::BadRequest(format!("could not read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen += data.len();
            if seen <= MAX_BODY_BYTES {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                break;
            }
        }
        if seen > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        Ok(Incoming(http::Request::from_parts(parts, buf.freeze())))
    }
}

/// The `{tenant}` and `{app}` of the path (empty where the route has none), read once. Every
/// parameter of our paths is an id: one that is not valid is no route of ours.
pub struct PathIds {
    pub tenant: String,
    pub app: String,
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| no_route_for(parts.uri.path()))?;
        let mut ids = PathIds {
            tenant: String::new(),
            app: String::new(),
        };
        let span = tracing::Span::current();
        for (name, value) in &params {
            if !crate::ids::valid_id(value) {
                return Err(Error::NotFound(format!(
                    "no route for {}: `{value}` is not a valid {name} id",
                    parts.uri.path()
                )));
            }
            span.record(name, value);
            match name {
                "tenant" => ids.tenant = value.to_owned(),
                "app" => ids.app = value.to_owned(),
                _ => {}
            }
        }
        Ok(ids)
    }
}

fn no_route_for(path: &str) -> Error {
    let under_app = path
        .strip_prefix("/t/")
        .and_then(|p| p.split_once("/apps/"))
        .and_then(|(_, p)| p.split_once('/'));
    Error::NotFound(match under_app {
        Some((app, rest)) => {
            format!("no route for {path}: no app `{app}` with a call path /{rest} runs here")
        }
        None => {
            format!("no route for {path}; app routes look like /t/<tenant>/apps/<app>/<call path>")
        }
    })
}

async fn no_route(uri: http::Uri) -> Error {
    no_route_for(uri.path())
}

/// Request ids for log correlation where the transport gives none: unique within the process.
static NEXT_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Runs the request in a span named by its request id: the transport's (Lambda's), else one
/// numbered in this process (`local-<n>`).
async fn in_request_span(req: Request, next: Next) -> Response {
    let request_id = match req.extensions().get::<RequestId>() {
        Some(RequestId(id)) => tracing::field::display(id.clone()),
        None => tracing::field::display(format!(
            "local-{}",
            NEXT_REQUEST.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )),
    };
    let span = tracing::info_span!(
        "request",
        request_id = request_id,
        tenant = tracing::field::Empty,
        app = tracing::field::Empty,
        command = tracing::field::Empty,
    );
    async move {
        let resp = next.run(req).await;
        tracing::debug!(status = resp.status().as_u16(), "answered");
        resp
    }
    .instrument(span)
    .await
}

/// The filter for an HTTP method the paths name (`GET`, `POST`, `DELETE`): they are written
/// in code, so one that is not a method is a bug every router build (and test) shows at once.
fn method_filter(method: &str) -> axum::routing::MethodFilter {
    http::Method::from_bytes(method.as_bytes())
        .ok()
        .and_then(|m| axum::routing::MethodFilter::try_from(m).ok())
        .unwrap_or_else(|| panic!("`{method}` is not an HTTP method a route can have"))
}

/// `router` answering a method it has no handler for with the JSON error that names the
/// methods it has.
fn refusing_other_methods<S: Clone + Send + Sync + 'static>(
    router: MethodRouter<S>,
    allowed: Vec<&'static str>,
) -> MethodRouter<S> {
    router.fallback(move |method: http::Method| {
        let allowed = allowed.join(" or ");
        async move {
            Error::MethodNotAllowed {
                method: method.to_string(),
                allowed,
            }
        }
    })
}

/// Every error is answered as JSON with its status, and logged: refusals at info, failures of
/// this host or what it depends on at error.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        log(&self);
        let mut resp = json(self.status(), &self.body());
        if let Some(seconds) = self.retry_after_seconds() {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        resp
    }
}

fn log(e: &Error) {
    if e.status() >= 500 {
        tracing::error!(status = e.status(), code = e.code(), error = %e, cause = ?std::error::Error::source(e), "failed");
    } else {
        tracing::info!(status = e.status(), code = e.code(), error = %e, "refused");
    }
}

/// A refusal answered with status 200 and an error CallResponse (`{"type":"error","text":…}`
/// with its `code`), as the Apps plugin reads one: it shows any other status as "upstream call
/// failed" with the raw body.
pub(crate) fn error_call_response(e: Error) -> Response {
    log(&e);
    json(200, &e.body())
}

/// A refusal answered to an outgoing webhook: its status, and a body Mattermost reads as the
/// reply to post (it decodes the body as a post whatever the status, so an error object would
/// become a post of type `error`, which it refuses).
pub(crate) fn error_as_reply(e: Error) -> Response {
    log(&e);
    let reply = crate::protocol::classic::OutgoingWebhookResponse {
        text: e.to_string(),
        response_type: "comment".into(),
        attachments: Vec::new(),
    };
    json(e.status(), &reply)
}

/// A JSON answer with `status`.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match serde_json::to_vec(value) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            format!(
                r#"{{"type":"error","code":"internal","text":"cannot encode the answer: {e}"}}"#
            ),
        )
            .into_response(),
    }
}

/// Every answer is JSON.
pub const CONTENT_TYPE: &str = "application/json";

/// Sends one request through `router` in-process: what the Lambda adapter, the local host's
/// in-process deliveries, tests and benchmarks do.
pub async fn send(router: &Router, req: http::Request<Body>) -> Response {
    use tower::ServiceExt;
    match router.clone().oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// A header's value, when it is text.
pub fn header_str<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The query string, without the `?`.
fn query(req: &Req) -> &str {
    req.uri().query().unwrap_or_default()
}

/// `Authorization: Bearer <token>`, the scheme in any case.
fn bearer(req: &Req) -> Option<&str> {
    header_str(req, "authorization").and_then(crate::auth::bearer_token)
}

/// The body of a request, which must be JSON.
fn json_body<T: serde::de::DeserializeOwned>(req: &Req, what: &str) -> Result<T, Error> {
    require_content_type(req, "application/json")?;
    parse_json(req, what)
}

/// The body as JSON, whatever its content type says.
fn parse_json<T: serde::de::DeserializeOwned>(req: &Req, what: &str) -> Result<T, Error> {
    serde_json::from_slice(req.body())
        .map_err(|e| Error::BadRequest(format!("the body is not a valid {what}: {e}")))
}

/// Like [`json_body`], but an empty body means the defaults.
fn json_body_or_default<T: serde::de::DeserializeOwned + Default>(
    req: &Req,
    what: &str,
) -> Result<T, Error> {
    if req.body().iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json_body(req, what)
    }
}

fn require_content_type(req: &Req, expected: &str) -> Result<(), Error> {
    let given = header_str(req, "content-type").unwrap_or_default();
    let essence = given.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else if given.is_empty() {
        Err(Error::UnsupportedMediaType(format!(
            "missing Content-Type; send {expected}"
        )))
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "Content-Type is {essence}; send {expected}"
        )))
    }
}

#[cfg(test)]
mod tests;

/// Driving a host in-process, as tests and benchmarks do: a request from its parts, and the
/// answer collected.
pub mod testing {
    use axum::Router;
    use axum::body::Body;
    use bytes::Bytes;
    use http::{HeaderMap, Method};
    use http_body_util::BodyExt;

    /// An answer: status, headers and the whole body.
    #[derive(Debug, Clone)]
    pub struct Answer {
        pub status: u16,
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    /// A request for `path_and_query`.
    pub fn request(
        method: Method,
        path_and_query: impl AsRef<str>,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> http::Request<Body> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path_and_query.as_ref())
            .body(Body::from(body.into()))
            .expect("a valid request");
        *req.headers_mut() = headers;
        req
    }

    /// Sends a request through every route of a host.
    pub trait Handle {
        fn handle(&self, req: http::Request<Body>) -> impl Future<Output = Answer> + Send;
    }

    impl Handle for super::Host {
        async fn handle(&self, req: http::Request<Body>) -> Answer {
            send(&self.router(), req).await
        }
    }

    impl Handle for Router {
        async fn handle(&self, req: http::Request<Body>) -> Answer {
            send(self, req).await
        }
    }

    impl<T: Handle + Send + Sync> Handle for std::sync::Arc<T> {
        fn handle(&self, req: http::Request<Body>) -> impl Future<Output = Answer> + Send {
            T::handle(self, req)
        }
    }

    /// Sends `req` through `router`.
    pub async fn send(router: &Router, req: http::Request<Body>) -> Answer {
        let (parts, body) = super::send(router, req).await.into_parts();
        Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default(),
        }
    }
}
