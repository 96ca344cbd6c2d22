//! The Lambda entry point every function binary calls. One function accepts both events that
//! reach it: API Gateway HTTP API requests (payload 2.0) and the Apps plugin's direct
//! `lambda:Invoke` envelope. Both are answered with the same result shape.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use lambda_runtime::{Context, LambdaEvent, service_fn};
use serde_json::Value;

use crate::apps::BuiltinApps;
use crate::error::Error;
use crate::events::fanout::{FanOut, HttpDeliverer};
use crate::events::queue::{EventQueue, Received, SqsQueue};
use crate::host::functions::Serves;
use crate::host::route::app_root;
use crate::host::{Function, Host, Inbound, Outbound};
use crate::marketplace::catalog_publish::{self, CustomResourceRequest};
use crate::marketplace::provisioner::LambdaProvisioner;
use crate::outbound::PrivateNetworks;
use crate::protocol::invoke::{InvokeRequest, InvokeResponse};
use crate::store::InstallState;
use crate::store::dynamo::DynamoStore;

/// Function aliases named `t-<tenant>` pin a tenant's version; invoking one identifies the tenant.
pub const TENANT_ALIAS_PREFIX: &str = "t-";

/// Runs the function `name` (one of [`crate::host::FUNCTIONS`]) in the Lambda runtime.
pub async fn run(name: &str) -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init_json();
    let function = Function::by_name(name)
        .ok_or_else(|| format!("no function named `{name}` in cloudapps::host::FUNCTIONS"))?;
    let settings = Settings::from_env()?;
    let aws = AwsClients::from_env().await;
    match function.serves {
        Serves::FanOut => return run_fanout(&settings, &aws).await,
        Serves::CatalogPublish => return run_catalog_publish(&settings, &aws).await,
        _ => {}
    }
    let host = cold_start(function, &settings, &aws).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let host = &host;
        async move { Ok::<_, std::convert::Infallible>(handle_event(host, function, event).await) }
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
    /// `CLOUDAPPS_FUNCTIONS`: binary → deployed name of the app functions, for provisioning.
    pub functions: Option<BTreeMap<String, String>>,
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
            functions: var("CLOUDAPPS_FUNCTIONS").map(|s| LambdaProvisioner::parse_names(&s)),
            operator_token_sha256: var("CLOUDAPPS_OPERATOR_TOKEN_SHA256"),
            limits: crate::limits::Limits::from_env(),
            // Lambda functions never call private networks, nor register tenants on one.
            private_networks: PrivateNetworks::Refused,
        })
    }
}

/// The AWS clients a function may use, all from one SDK configuration, built once at init.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub lambda: aws_sdk_lambda::Client,
}

impl AwsClients {
    /// From the environment, a profile or the function's role (`AWS_ENDPOINT_URL` points them
    /// elsewhere, e.g. at moto server).
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            lambda: aws_sdk_lambda::Client::new(&config),
        }
    }

    /// The install state in the table `settings` names.
    pub fn state(&self, settings: &Settings) -> InstallState {
        InstallState::new(Arc::new(DynamoStore::new(
            self.dynamodb.clone(),
            &settings.table,
        )))
    }

    /// The events queue and its dead-letter queue, when configured.
    fn events_queue(&self, settings: &Settings) -> Option<SqsQueue> {
        let queue = SqsQueue::new(self.sqs.clone(), settings.events_queue_url.clone()?);
        Some(match &settings.dead_letter_queue_url {
            Some(dlq) => queue.with_dead_letter_queue(dlq),
            None => queue,
        })
    }
}

/// The SQS consumer: each batch is fanned out, failed messages get their backoff and are
/// reported as batch item failures, so the event source mapping deletes only the others.
async fn run_fanout(settings: &Settings, aws: &AwsClients) -> Result<(), lambda_runtime::Error> {
    let (fanout, queue) = fanout(settings, aws)?;
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
    aws: &AwsClients,
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
    );
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
async fn run_catalog_publish(
    settings: &Settings,
    aws: &AwsClients,
) -> Result<(), lambda_runtime::Error> {
    let state = aws.state(settings);
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

/// What a request function does at init: its clients are built once and the connection to
/// the table warmed while init is free (the dead letters' function never reads the table, and
/// may not).
pub async fn cold_start(
    function: &'static Function,
    settings: &Settings,
    aws: &AwsClients,
) -> Host {
    let state = aws.state(settings);
    // Functions only read the catalog, whatever its generation: the deploy step
    // (`catalog-publish`) writes it, so a version pinned for a tenant never takes it back.
    if function.serves != Serves::DeadLetters
        && let Err(e) = state.tenant("__warm-up__").await
    {
        tracing::warn!(error = %e, "warm-up read of the install store failed");
    }
    let mut host = Host::new(state, BuiltinApps::all())
        .with_public_url(settings.public_url.clone())
        .with_private_networks(settings.private_networks)
        .with_mattermost(Arc::new(crate::mattermost::HttpMattermost::new(
            settings.private_networks,
        )))
        .with_operator_token_hash(settings.operator_token_sha256.clone())
        .with_limits(settings.limits);
    if let Some(queue) = aws.events_queue(settings) {
        host = host.with_queue(Arc::new(queue));
    }
    if let Some(names) = &settings.functions {
        host = host.with_provisioner(Arc::new(LambdaProvisioner::new(
            aws.lambda.clone(),
            names.clone(),
        )));
    }
    host.only(function)
}

/// Decodes the event, runs it through the host, and encodes the result.
pub async fn handle_event(
    host: &Host,
    function: &Function,
    event: LambdaEvent<Value>,
) -> InvokeResponse {
    let (payload, context) = event.into_parts();
    let out = match decode_event(payload, &context, function) {
        Ok(inbound) => host.handle(inbound).await,
        Err(e) => {
            tracing::info!(status = e.status(), code = e.code(), error = %e, "refused event");
            Outbound::error(&e)
        }
    };
    let mut headers =
        BTreeMap::from([("Content-Type".to_owned(), Outbound::CONTENT_TYPE.to_owned())]);
    if let Some(seconds) = out.retry_after {
        headers.insert("Retry-After".to_owned(), seconds.to_string());
    }
    InvokeResponse {
        status_code: out.status,
        headers,
        is_base64_encoded: false,
        body: String::from_utf8_lossy(&out.body).into_owned(),
    }
}

fn decode_event(payload: Value, context: &Context, function: &Function) -> Result<Inbound, Error> {
    let is_http_api = payload.get("requestContext").is_some() && payload.get("rawPath").is_some();
    let is_envelope = payload.get("httpMethod").is_some() && payload.get("path").is_some();
    let mut inbound = if is_http_api {
        from_http_api(payload)?
    } else if is_envelope {
        from_envelope(
            payload,
            tenant_of_alias(&context.invoked_function_arn),
            function,
        )?
    } else {
        return Err(Error::BadRequest(
            "unrecognised event: expected an API Gateway HTTP API request or an Apps invoke envelope {path, httpMethod, headers, body}".into(),
        ));
    };
    inbound.request_id = context.request_id.clone();
    Ok(inbound)
}

fn from_http_api(payload: Value) -> Result<Inbound, Error> {
    let req: ApiGatewayV2httpRequest = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("malformed HTTP API event: {e}")))?;
    let body = match (req.body, req.is_base64_encoded) {
        (None, _) => Bytes::new(),
        (Some(b), false) => Bytes::from(b),
        (Some(b), true) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(Bytes::from)
            .map_err(|_| Error::BadRequest("the body is marked base64 but is not".into()))?,
    };
    let mut inbound = Inbound::new(
        req.request_context.http.method,
        req.raw_path.unwrap_or_default(),
        req.headers,
        body,
    );
    inbound.query = req.raw_query_string.unwrap_or_default();
    Ok(inbound)
}

/// The Apps plugin invokes with the bare call path (`/send`); a tenant alias says whose it is.
fn from_envelope(
    payload: Value,
    alias_tenant: Option<String>,
    function: &Function,
) -> Result<Inbound, Error> {
    let req: InvokeRequest = serde_json::from_value(payload)
        .map_err(|e| Error::BadRequest(format!("malformed invoke envelope: {e}")))?;
    let method = Method::from_bytes(req.http_method.as_bytes())
        .map_err(|_| Error::BadRequest(format!("`{}` is not an HTTP method", req.http_method)))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::BadRequest(format!("bad header name `{name}`")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::BadRequest(format!("bad value for header `{name}`")))?;
        headers.insert(name, value);
    }
    let path = if req.path.starts_with("/t/") {
        req.path
    } else {
        let tenant = alias_tenant.as_deref().ok_or_else(|| {
            Error::BadRequest(format!(
                "a direct invocation with a bare path needs the tenant's alias ({TENANT_ALIAS_PREFIX}<tenant>) or a /t/<tenant>/apps/<app>/... path"
            ))
        })?;
        let app = function.app().ok_or_else(|| {
            Error::BadRequest(format!(
                "function {} serves {}: send the full path",
                function.name,
                function.describe()
            ))
        })?;
        format!("{}{}", app_root(tenant, app), req.path)
    };
    let mut inbound = Inbound::new(method, path, headers, Bytes::from(req.body));
    inbound.query = req.raw_query;
    inbound.invoked_for_tenant = alias_tenant;
    Ok(inbound)
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
