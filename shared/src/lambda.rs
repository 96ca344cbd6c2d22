//! The Lambda entry: each function's binary names what it serves ([`run_app`],
//! [`run_marketplace_app`], [`run_marketplace`], [`run_events`], [`run_fanout`],
//! [`run_catalog_publish`]), and is wired
//! with only the clients that needs. Request functions serve one [`axum::Router`], the same
//! the local host serves: both events that reach them, API Gateway HTTP API requests (payload
//! 2.0) and the Apps plugin's direct `lambda:Invoke` envelope, become an [`http::Request`] for
//! it, and its answer the same result shape.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use axum::Router;
use axum::body::Body;
use base64::Engine;
use http_body_util::BodyExt;
use lambda_runtime::{Context, LambdaEvent, service_fn};
use serde_json::Value;

use crate::apps::{App, BuiltinApps};
use crate::error::Error;
use crate::events::fanout::{FanOut, HttpDeliverer};
use crate::events::queue::{EventQueue, Received, SqsQueue};
use crate::functions::{Function, Serves};
use crate::http::{Host, InvokedForTenant, RequestId};
use crate::marketplace::catalog_publish::{self, CustomResourceRequest};
use crate::marketplace::provisioner::{NotProvisioning, Provisioner};
use crate::outbound::PrivateNetworks;
use crate::paths::{AppRoute, EventRoute, Op, TENANT_ALIAS_PREFIX, app_root};
use crate::protocol::invoke::{InvokeRequest, InvokeResponse};
use crate::provisioners::LambdaProvisioner;
use crate::store::InstallState;
use crate::store::dynamo::DynamoStore;

/// What every function does first: JSON logs, its settings, the AWS config (loaded once).
async fn init() -> Result<(Settings, aws_config::SdkConfig), lambda_runtime::Error> {
    crate::telemetry::init_json();
    let settings = Settings::from_env()?;
    let config = crate::aws::load().await;
    Ok((settings, config))
}

/// Runs a function serving `route` of the built-in app `app`.
pub async fn run_app(app: impl App, route: AppRoute) -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    let app_id = app.id();
    let router = app_router(Arc::new(app), route, &settings, &config).await;
    serve(router, Some(app_id)).await
}

/// Runs a function serving `route` of the marketplace app.
pub async fn run_marketplace_app(route: AppRoute) -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    let router = marketplace_app_router(route, &settings, &config).await;
    serve(router, Some(crate::apps::marketplace::APP_ID)).await
}

/// Runs a function serving one marketplace operation.
pub async fn run_marketplace(op: Op) -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    serve(marketplace_router(op, &settings, &config).await, None).await
}

/// Runs a function serving event routes.
pub async fn run_events(route: EventRoute) -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    serve(events_router(route, &settings, &config).await?, None).await
}

/// Answers each event with `router`; a bare path in an invoke envelope is below the root of
/// `app` for the tenant whose alias was invoked.
pub async fn serve(router: Router, app: Option<&'static str>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let router = &router;
        async move { Ok::<_, std::convert::Infallible>(handle_event(router, app, event).await) }
    }))
    .await
}

/// What a function is configured with: the template sets it in the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TABLE_NAME`: the install-state table.
    pub table: String,
    /// `EVENTS_QUEUE_URL` and `EVENTS_DLQ_URL`.
    pub events_queue_url: Option<String>,
    pub dead_letter_queue_url: Option<String>,
    /// `CLOUDAPPS_PUBLIC_URL`: where the host (and so every built-in app) is reached.
    pub public_url: Option<String>,
    /// `CLOUDAPPS_PROVISIONER=lambda`: this function provisions the apps' functions per
    /// tenant (the marketplace's functions).
    pub provisions_lambda: bool,
    /// `CLOUDAPPS_OPERATOR_TOKEN_SHA256`.
    pub operator_token_sha256: Option<String>,
    pub limits: crate::limits::Limits,
    /// Always refused in Lambda; only tests on loopback allow them.
    pub private_networks: PrivateNetworks,
}

impl Settings {
    pub fn from_env() -> Result<Self, lambda_runtime::Error> {
        let var = |name: &str| std::env::var(name).ok();
        Ok(Settings {
            table: var("TABLE_NAME")
                .ok_or("TABLE_NAME is not set: point it at the install-state table")?,
            events_queue_url: var("EVENTS_QUEUE_URL"),
            dead_letter_queue_url: var("EVENTS_DLQ_URL"),
            public_url: var("CLOUDAPPS_PUBLIC_URL"),
            provisions_lambda: match var("CLOUDAPPS_PROVISIONER").as_deref() {
                None => false,
                Some("lambda") => true,
                Some(other) => {
                    return Err(format!(
                        "CLOUDAPPS_PROVISIONER is {other:?}: set it to `lambda` or leave it unset"
                    )
                    .into());
                }
            },
            operator_token_sha256: var("CLOUDAPPS_OPERATOR_TOKEN_SHA256"),
            limits: crate::limits::Limits::from_env(),
            // Lambda functions never call private networks, nor register tenants on one.
            private_networks: PrivateNetworks::Refused,
        })
    }
}

/// Where a function gets its AWS clients: from the SDK config loaded at init (each client
/// built only by the functions that use it, so the others are not linked in), or, in tests,
/// from clients built elsewhere.
pub trait Aws {
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client;
    fn sqs(&self) -> aws_sdk_sqs::Client;
    fn lambda(&self) -> aws_sdk_lambda::Client;

    /// The install state in the table `settings` names.
    fn state(&self, settings: &Settings) -> InstallState {
        InstallState::new(Arc::new(DynamoStore::new(self.dynamodb(), &settings.table)))
    }

    /// The events queue and its dead-letter queue, when configured.
    fn events_queue(&self, settings: &Settings) -> Option<SqsQueue> {
        let queue = SqsQueue::new(self.sqs(), settings.events_queue_url.clone()?);
        Some(match &settings.dead_letter_queue_url {
            Some(dlq) => queue.with_dead_letter_queue(dlq),
            None => queue,
        })
    }
}

impl Aws for aws_config::SdkConfig {
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(self)
    }
    fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self)
    }
    fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(self)
    }
}

/// Clients built elsewhere (tests give them interceptors).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub lambda: aws_sdk_lambda::Client,
}

impl Aws for AwsClients {
    fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.dynamodb.clone()
    }
    fn sqs(&self) -> aws_sdk_sqs::Client {
        self.sqs.clone()
    }
    fn lambda(&self) -> aws_sdk_lambda::Client {
        self.lambda.clone()
    }
}

/// The install state, its connection to the table warmed by one read while init is free.
async fn warm_state(settings: &Settings, aws: &impl Aws) -> InstallState {
    let state = aws.state(settings);
    if let Err(e) = state.tenant("__warm-up__").await {
        tracing::warn!(error = %e, "warm-up read of the install store failed");
    }
    state
}

/// What every request function's host has: the public URL, the outbound policy, the limits.
/// It provisions with `provisioner`: none but the marketplace's functions do.
fn host(
    state: InstallState,
    apps: BuiltinApps,
    provisioner: Arc<dyn Provisioner>,
    settings: &Settings,
) -> Host {
    Host::provisioning_with(state, apps, provisioner)
        .with_public_url(settings.public_url.clone())
        .with_private_networks(settings.private_networks)
        .with_limits(settings.limits)
}

/// The Mattermost REST client, through the outbound policy.
fn mattermost(settings: &Settings) -> Arc<dyn crate::mattermost::Mattermost> {
    Arc::new(crate::mattermost::HttpMattermost::new(
        settings.private_networks,
    ))
}

/// The Lambda provisioner, when the template says this function provisions; otherwise the
/// function does not provision.
fn provisioner(settings: &Settings, aws: &impl Aws) -> Arc<dyn Provisioner> {
    if settings.provisions_lambda {
        Arc::new(LambdaProvisioner::new(aws.lambda()))
    } else {
        Arc::new(NotProvisioning)
    }
}

/// The router of a function serving `route` of `app`: it reads install state and, for
/// classic requests that open dialogs, calls Mattermost.
pub async fn app_router(
    app: Arc<dyn App>,
    route: AppRoute,
    settings: &Settings,
    aws: &impl Aws,
) -> Router {
    let app_id = app.id();
    let state = warm_state(settings, aws).await;
    let host = host(
        state,
        BuiltinApps::of(vec![app]),
        Arc::new(NotProvisioning),
        settings,
    )
    .with_mattermost(mattermost(settings));
    crate::http::finish(host.apps_router(app_id, &[route]))
}

/// What the marketplace's functions share: every built-in app, the provisioner, Mattermost (to
/// register an install's integrations) and the operator credential.
async fn marketplace_host(settings: &Settings, aws: &impl Aws) -> Host {
    let state = warm_state(settings, aws).await;
    host(
        state,
        BuiltinApps::all(),
        provisioner(settings, aws),
        settings,
    )
    .with_mattermost(mattermost(settings))
    .with_operator_token_hash(settings.operator_token_sha256.clone())
    // Deployed, the apps' functions are named as the Apps plugin invokes them.
    .with_max_tenant_id_len(crate::functions::longest_tenant_id_on_lambda())
}

/// The router of a function serving `route` of the marketplace app, whose calls manage the
/// tenant's apps.
pub async fn marketplace_app_router(
    route: AppRoute,
    settings: &Settings,
    aws: &impl Aws,
) -> Router {
    let host = marketplace_host(settings, aws).await;
    crate::http::finish(host.apps_router(crate::apps::marketplace::APP_ID, &[route]))
}

/// The router of a function serving the marketplace operation `op`.
pub async fn marketplace_router(op: Op, settings: &Settings, aws: &impl Aws) -> Router {
    let host = marketplace_host(settings, aws).await;
    crate::http::finish(host.marketplace_router(&[op]))
}

/// The router of a function serving event routes: ingest and the dead letters need the
/// events queue, the subscription API does not. The dead letters' function never reads the
/// table, and may not.
pub async fn events_router(
    route: EventRoute,
    settings: &Settings,
    aws: &impl Aws,
) -> Result<Router, lambda_runtime::Error> {
    let state = match route {
        EventRoute::DeadLetters => aws.state(settings),
        _ => warm_state(settings, aws).await,
    };
    let mut host = host(
        state,
        BuiltinApps::of(Vec::new()),
        Arc::new(NotProvisioning),
        settings,
    )
    .with_operator_token_hash(settings.operator_token_sha256.clone());
    if route != EventRoute::Subscriptions {
        let queue = aws
            .events_queue(settings)
            .ok_or("EVENTS_QUEUE_URL is not set: point it at the events queue")?;
        host = host.with_queue(Arc::new(queue));
    }
    Ok(crate::http::finish(host.events_router(&[route])))
}

/// The router of any request function, by its entry in the function list: what tests start.
/// A binary names its own router instead, so that it links only what that needs.
pub async fn function_router(
    function: &Function,
    settings: &Settings,
    aws: &impl Aws,
) -> Result<Router, lambda_runtime::Error> {
    Ok(match function.serves {
        Serves::App { app, route } if app == crate::apps::marketplace::APP_ID => {
            marketplace_app_router(route, settings, aws).await
        }
        Serves::App { app, route } => {
            let app = BuiltinApps::all()
                .get(app)
                .cloned()
                .ok_or_else(|| format!("no built-in app {app}"))?;
            app_router(app, route, settings, aws).await
        }
        Serves::Marketplace(op) => marketplace_router(op, settings, aws).await,
        Serves::Events(route) => events_router(route, settings, aws).await?,
        Serves::FanOut | Serves::CatalogPublish => {
            return Err(format!("{} serves no HTTP route", function.name).into());
        }
    })
}

/// The SQS consumer: each batch is fanned out, failed messages get their backoff and are
/// reported as batch item failures, so the event source mapping deletes only the others.
pub async fn run_fanout() -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    let (fanout, queue) = fanout(&settings, &config)?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (fanout, queue) = (&fanout, &queue);
        async move {
            Ok::<_, std::convert::Infallible>(fanout_batch(fanout, queue, event.payload).await)
        }
    }))
    .await
}

/// The fan-out function's init: the consumer and the queue it settles messages on.
pub fn fanout(
    settings: &Settings,
    aws: &impl Aws,
) -> Result<(FanOut, SqsQueue), lambda_runtime::Error> {
    let queue = aws
        .events_queue(settings)
        .ok_or("EVENTS_QUEUE_URL is not set: point it at the events queue")?;
    let public_url = settings
        .public_url
        .as_deref()
        .ok_or("CLOUDAPPS_PUBLIC_URL is not set: built-in apps are reached there")?;
    let fanout = FanOut::new(
        aws.state(settings),
        Arc::new(HttpDeliverer::for_subscribers(settings.private_networks)),
        public_url,
    )
    .with_mattermost(mattermost(settings));
    Ok((fanout, queue))
}

/// One batch from the event source mapping: the ids of the messages to retry, which SQS keeps
/// (each hidden for its backoff); it deletes the rest.
pub async fn fanout_batch(
    fanout: &FanOut,
    queue: &dyn EventQueue,
    event: SqsEvent,
) -> SqsBatchResponse {
    let batch = event.records.into_iter().map(received).collect();
    let failed = fanout.process_batch(queue, batch, false).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

fn received(m: SqsMessage) -> Received {
    Received {
        receive_count: m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
        id: m.message_id.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
    }
}

/// The deploy step: answers each CloudFormation custom-resource request, whatever happens,
/// since CloudFormation otherwise waits an hour for it.
pub async fn run_catalog_publish() -> Result<(), lambda_runtime::Error> {
    let (settings, config) = init().await?;
    let state = config.state(&settings);
    let client = catalog_publish::http_client();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (state, client) = (&state, &client);
        async move {
            let req: CustomResourceRequest = serde_json::from_value(event.payload)
                .map_err(|e| format!("not a CloudFormation custom-resource request: {e}"))?;
            let response = catalog_publish::respond_to(state, &req).await;
            catalog_publish::send(client, &req, &response).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(&response)?)
        }
    }))
    .await
}

/// Decodes the event into a request for `router`, and encodes its answer.
pub async fn handle_event(
    router: &Router,
    app: Option<&'static str>,
    event: LambdaEvent<Value>,
) -> InvokeResponse {
    let (payload, context) = event.into_parts();
    let resp = match decode_event(payload, &context, app) {
        Ok(req) => crate::http::send(router, req).await,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut headers = BTreeMap::from([(
        "Content-Type".to_owned(),
        crate::http::CONTENT_TYPE.to_owned(),
    )]);
    if let Some(seconds) = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        headers.insert("Retry-After".to_owned(), seconds.to_owned());
    }
    InvokeResponse {
        status_code: parts.status.as_u16(),
        headers,
        is_base64_encoded: false,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn decode_event(
    payload: Value,
    context: &Context,
    app: Option<&'static str>,
) -> Result<http::Request<Body>, Error> {
    let is_http_api = payload.get("requestContext").is_some() && payload.get("rawPath").is_some();
    let is_envelope = payload.get("httpMethod").is_some() && payload.get("path").is_some();
    let mut req = if is_http_api {
        from_http_api(payload)?
    } else if is_envelope {
        from_envelope(payload, tenant_of_alias(&context.invoked_function_arn), app)?
    } else {
        return Err(Error::BadRequest(
            "unrecognised event: expected an API Gateway HTTP API request or an Apps invoke envelope {path, httpMethod, headers, body}".into(),
        ));
    };
    req.extensions_mut()
        .insert(RequestId(context.request_id.clone()));
    Ok(req)
}

/// A request for `path_and_query` with `headers`, refused as a 400 when the event's parts
/// cannot make one.
fn request(
    method: &str,
    path_and_query: &str,
    headers: http::HeaderMap,
    body: Vec<u8>,
) -> Result<http::Request<Body>, Error> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| Error::BadRequest(format!("`{method}` is not an HTTP method")))?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(Body::from(body))
        .map_err(|e| Error::BadRequest(format!("the event is not a valid request: {e}")))?;
    *req.headers_mut() = headers;
    Ok(req)
}

/// The envelope's headers, which are text.
fn header_map(headers: BTreeMap<String, String>) -> Result<http::HeaderMap, Error> {
    headers
        .into_iter()
        .map(|(name, value)| {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::BadRequest(format!("bad header name `{name}`")))?;
            let value = http::HeaderValue::from_str(&value)
                .map_err(|_| Error::BadRequest(format!("bad value for header `{name}`")))?;
            Ok((name, value))
        })
        .collect()
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

fn from_http_api(payload: Value) -> Result<http::Request<Body>, Error> {
    let req: ApiGatewayV2httpRequest = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("malformed HTTP API event: {e}")))?;
    let body = match (req.body, req.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(b), false) => b.into_bytes(),
        (Some(b), true) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| Error::BadRequest("the body is marked base64 but is not".into()))?,
    };
    let path = with_query(
        &req.raw_path.unwrap_or_default(),
        &req.raw_query_string.unwrap_or_default(),
    );
    request(
        req.request_context.http.method.as_str(),
        &path,
        req.headers,
        body,
    )
}

/// The Apps plugin invokes with the bare call path (`/send`); a tenant alias says whose it is.
fn from_envelope(
    payload: Value,
    alias_tenant: Option<String>,
    app: Option<&'static str>,
) -> Result<http::Request<Body>, Error> {
    let req: InvokeRequest = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("malformed invoke envelope: {e}")))?;
    let path = if req.path.starts_with("/t/") {
        req.path
    } else {
        let tenant = alias_tenant.as_deref().ok_or_else(|| {
            Error::BadRequest(format!(
                "a direct invocation with a bare path needs the tenant's alias ({TENANT_ALIAS_PREFIX}<tenant>) or a /t/<tenant>/apps/<app>/... path"
            ))
        })?;
        let app = app.ok_or_else(|| {
            Error::BadRequest("this function serves no app's call path: send the full path".into())
        })?;
        format!("{}{}", app_root(tenant, app), req.path)
    };
    let mut request = request(
        &req.http_method,
        &with_query(&path, &req.raw_query),
        header_map(req.headers)?,
        req.body.into_bytes(),
    )?;
    if let Some(tenant) = alias_tenant {
        request.extensions_mut().insert(InvokedForTenant(tenant));
    }
    Ok(request)
}

/// `arn:aws:lambda:<region>:<account>:function:<name>:t-<tenant>` → `<tenant>`.
pub fn tenant_of_alias(invoked_arn: &str) -> Option<String> {
    let qualifier = invoked_arn.split(':').nth(7)?;
    qualifier
        .strip_prefix(TENANT_ALIAS_PREFIX)
        .filter(|t| crate::ids::valid_id(t))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
