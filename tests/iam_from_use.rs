//! IAM from use. Every function is started as its binary starts it (its `lambda` router, with
//! the settings its `template.yaml` resource gives it) over moto server, behind a dispatcher that
//! routes as the HTTP API does, and a scenario drives every route through its successes and its
//! failure paths (undo, restore, retry, redrive). Each function's AWS clients record every call
//! they make; mapped to IAM actions and resources, that must be exactly what the template grants
//! the function: nothing it uses is missing, nothing it never uses is granted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use cloudapps::auth::{self, AppClaims, sign_app_jwt};
use cloudapps::events::fanout::EVENT_PK_PREFIX;
use cloudapps::functions::{self, Function, Serves};
use cloudapps::http::testing::{Handle, request};
use cloudapps::lambda::{self, Aws, AwsClients, Settings};
use cloudapps::marketplace::catalog::{CATALOG_PK, CATALOG_SNAPSHOT_PK_PREFIX};
use cloudapps::marketplace::catalog_publish::{self, CustomResourceRequest};
use cloudapps::outbound::PrivateNetworks;
use cloudapps::store::TENANT_PK_PREFIX;
use cloudapps::store::dynamo::DynamoStore;
use cloudapps_tests::mattermost_standin::StandIn;
use cloudapps_tests::template::{function_resources, sub_text, template};
use cloudapps_tests::{
    consent, deploy_app_functions_on_moto, http_client, moto_config, moto_dynamodb, moto_lambda,
    moto_sqs,
};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

/// What an IAM statement names: a partition pattern of the table (`dynamodb:LeadingKeys`), a
/// queue, or the app functions or their tenants' aliases. The provisioner treats every app
/// function alike, so a grant on them names them all (checked on its own).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resource {
    Table(String),
    EventsQueue,
    DeadLetterQueue,
    AppFunctions,
    AppAliases,
}

type Grants = BTreeSet<(Resource, String)>;

/// The partition pattern a key falls under, by the key schema's prefixes (longest first).
fn partition(pk: &str) -> String {
    if pk == CATALOG_PK {
        CATALOG_PK.to_owned()
    } else {
        [
            CATALOG_SNAPSHOT_PK_PREFIX,
            TENANT_PK_PREFIX,
            EVENT_PK_PREFIX,
        ]
        .into_iter()
        .find(|prefix| pk.starts_with(prefix))
        .map(|prefix| format!("{prefix}*"))
        .unwrap_or_else(|| format!("unknown partition {pk}"))
    }
}

/// Where the recorded calls of one function go, and how to name what they touch.
#[derive(Debug, Clone)]
struct Recorder {
    calls: Arc<Mutex<Grants>>,
    queue_url: String,
    dead_letter_queue_url: String,
    /// The deployed names of the app functions.
    app_functions: BTreeSet<String>,
}

impl Recorder {
    fn resources(
        &self,
        service: &str,
        input: &BeforeSerializationInterceptorContextRef<'_>,
    ) -> Vec<Resource> {
        use aws_sdk_dynamodb::operation as ddb;
        use aws_sdk_lambda::operation as lam;
        use aws_sdk_sqs::operation as sqs;
        let input = input.input();
        let pk = |key: Option<&std::collections::HashMap<String, AttributeValue>>| {
            key.and_then(|k| k.get("pk"))
                .and_then(|v| v.as_s().ok())
                .map(|s| Resource::Table(partition(s)))
        };
        let mut out = Vec::new();
        match service {
            "dynamodb" => {
                if let Some(i) = input.downcast_ref::<ddb::get_item::GetItemInput>() {
                    out.extend(pk(i.key()));
                } else if let Some(i) = input.downcast_ref::<ddb::put_item::PutItemInput>() {
                    out.extend(pk(i.item()));
                } else if let Some(i) = input.downcast_ref::<ddb::delete_item::DeleteItemInput>() {
                    out.extend(pk(i.key()));
                } else if let Some(i) =
                    input.downcast_ref::<ddb::batch_get_item::BatchGetItemInput>()
                {
                    for keys in i.request_items().into_iter().flat_map(|m| m.values()) {
                        out.extend(keys.keys().iter().filter_map(|k| pk(Some(k))));
                    }
                } else if let Some(i) = input.downcast_ref::<ddb::query::QueryInput>() {
                    let pk = i.expression_attribute_values().and_then(|v| v.get(":pk"));
                    out.extend(
                        pk.and_then(|v| v.as_s().ok())
                            .map(|s| Resource::Table(partition(s))),
                    );
                }
            }
            "sqs" => {
                let url = if let Some(i) =
                    input.downcast_ref::<sqs::send_message::SendMessageInput>()
                {
                    i.queue_url()
                } else if let Some(i) =
                    input.downcast_ref::<sqs::receive_message::ReceiveMessageInput>()
                {
                    i.queue_url()
                } else if let Some(i) =
                    input.downcast_ref::<sqs::delete_message::DeleteMessageInput>()
                {
                    i.queue_url()
                } else if let Some(i) = input
                    .downcast_ref::<sqs::change_message_visibility::ChangeMessageVisibilityInput>(
                ) {
                    i.queue_url()
                } else {
                    None
                };
                match url {
                    Some(u) if u == self.queue_url => out.push(Resource::EventsQueue),
                    Some(u) if u == self.dead_letter_queue_url => {
                        out.push(Resource::DeadLetterQueue)
                    }
                    _ => {}
                }
            }
            "lambda" => {
                let (name, qualifier) = if let Some(i) =
                    input.downcast_ref::<lam::publish_version::PublishVersionInput>()
                {
                    (i.function_name(), None)
                } else if let Some(i) = input.downcast_ref::<lam::create_alias::CreateAliasInput>()
                {
                    (i.function_name(), None)
                } else if let Some(i) = input.downcast_ref::<lam::update_alias::UpdateAliasInput>()
                {
                    (i.function_name(), None)
                } else if let Some(i) = input.downcast_ref::<lam::delete_alias::DeleteAliasInput>()
                {
                    (i.function_name(), None)
                } else if let Some(i) =
                    input.downcast_ref::<lam::add_permission::AddPermissionInput>()
                {
                    (i.function_name(), i.qualifier())
                } else if let Some(i) =
                    input.downcast_ref::<lam::remove_permission::RemovePermissionInput>()
                {
                    (i.function_name(), i.qualifier())
                } else {
                    (None, None)
                };
                if name.is_some_and(|n| self.app_functions.contains(n)) {
                    // A call with a qualifier acts on that version or alias's ARN.
                    out.push(match qualifier {
                        Some(_) => Resource::AppAliases,
                        None => Resource::AppFunctions,
                    });
                }
            }
            _ => {}
        }
        out
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "iam-recorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let metadata = cfg.load::<Metadata>().ok_or("no operation metadata")?;
        let service = metadata.service().to_ascii_lowercase();
        // IAM names Lambda's Invoke `lambda:InvokeFunction`; the others as their operation.
        let operation = match metadata.name() {
            "Invoke" => "InvokeFunction",
            other => other,
        };
        let action = format!("{service}:{operation}");
        let resources = self.resources(&service, context);
        let mut calls = self.calls.lock().unwrap();
        if resources.is_empty() {
            // An operation this test cannot attribute fails the comparison, visibly.
            calls.insert((
                Resource::Table(format!("unattributed call to {service}")),
                action.clone(),
            ));
        }
        for r in resources {
            calls.insert((r, action.clone()));
        }
        Ok(())
    }
}

/// A function's AWS clients, each recording its calls.
fn recording_clients(config: &aws_config::SdkConfig, recorder: &Recorder) -> AwsClients {
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
    }
}

// --- The template ---------------------------------------------------------------------------

/// The app functions are named as the Apps plugin invokes them, `<app>_<version>_<function>`,
/// one set per account and region: a grant names them by their app's prefix.
const FUNCTION_ARN: &str =
    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:";

/// What a function's policies grant, statement by statement, as (resource, action) pairs.
fn granted(name: &str, r: &Yaml) -> Grants {
    let mut g = Grants::new();
    for policy in r["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{name}: explicit policies"))
    {
        for statement in policy["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: inline statements only"))
        {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{name}");
            let resource = serde_yaml::to_string(&statement["Resource"]).unwrap();
            let actions: Vec<String> = statement["Action"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name}: a list of actions"))
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            let resources: Vec<Resource> = if resource.contains("InstallTable.Arn") {
                assert!(!resource.contains('*'), "{name}: {resource}");
                assert_eq!(
                    statement["Condition"].as_mapping().map(|m| m.len()),
                    Some(1),
                    "{name}: one condition"
                );
                statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{name}: table statements name their partitions"))
                    .iter()
                    .map(|p| Resource::Table(p.as_str().unwrap().to_owned()))
                    .collect()
            } else if resource.contains("EventsQueue.Arn") {
                vec![Resource::EventsQueue]
            } else if resource.contains("EventsDeadLetterQueue.Arn") {
                vec![Resource::DeadLetterQueue]
            } else {
                statement["Resource"]
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{name}: a list of ARNs"))
                    .iter()
                    .map(|arn| {
                        let arn = sub_text(arn);
                        let function = arn.strip_prefix(FUNCTION_ARN).unwrap_or_else(|| {
                            panic!("{name}: Lambda actions only on functions of this account and region: {arn}")
                        });
                        let (resource, prefix) = match function.strip_suffix(":t-*") {
                            Some(f) => (Resource::AppAliases, f),
                            None => (Resource::AppFunctions, function),
                        };
                        let app = prefix.strip_suffix("_*").unwrap_or_else(|| {
                            panic!("{name}: an app's functions by its prefix `<app>_*`: {arn}")
                        });
                        assert!(!app.contains(['*', ':', '_']), "{name}: {arn}");
                        (resource, app.to_owned())
                    })
                    .fold(
                        BTreeMap::<Resource, BTreeSet<String>>::new(),
                        |mut m, (r, f)| {
                            m.entry(r).or_default().insert(f);
                            m
                        },
                    )
                    .into_iter()
                    .map(|(r, apps)| {
                        assert_eq!(
                            apps,
                            apps_with_functions(),
                            "{name}: {r:?} on the functions of every app"
                        );
                        r
                    })
                    .collect()
            };
            for r in resources {
                for a in &actions {
                    g.insert((r.clone(), a.clone()));
                }
            }
        }
    }
    g
}

/// The apps that have functions of their own.
fn apps_with_functions() -> BTreeSet<String> {
    functions::all()
        .iter()
        .filter_map(|f| f.app())
        .map(str::to_owned)
        .collect()
}

/// The names of the environment variables a function gets (its own and the globals).
fn environment(t: &Yaml, r: &Yaml) -> BTreeSet<String> {
    [
        &t["Globals"]["Function"]["Environment"]["Variables"],
        &r["Properties"]["Environment"]["Variables"],
    ]
    .into_iter()
    .filter_map(Yaml::as_mapping)
    .flat_map(|m| m.keys())
    .map(|k| k.as_str().unwrap().to_owned())
    .collect()
}

// --- The deployment on moto ------------------------------------------------------------------

const OPERATOR: &str = "operator-secret";
const BOT_TOKEN: &str = "bot-token";
// The stand-in accepts one token, for the bot and the admin alike.
const MM_ADMIN: &str = BOT_TOKEN;

/// One function as deployed: what it is, how it is configured, and what it called.
struct Deployed {
    function: &'static Function,
    settings: Settings,
    aws: AwsClients,
    calls: Arc<Mutex<Grants>>,
}

struct Stack {
    functions: BTreeMap<&'static str, Deployed>,
    /// Request functions, started as their binaries start them.
    routers: BTreeMap<&'static str, axum::Router>,
    /// The ESM's and the operator's view of the queues: not any function's.
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_queue_url: String,
    lambda: aws_sdk_lambda::Client,
    public_url: String,
    /// The test's own view of the table: not any function's.
    state: cloudapps::store::InstallState,
}

impl Stack {
    /// The function that serves `method path`, as the HTTP API routes: the most specific of
    /// the route templates that match.
    fn route(&self, method: &str, path: &str) -> Option<&'static str> {
        let segments: Vec<&str> = path.split('/').collect();
        functions::all()
            .iter()
            .flat_map(|f| f.http_routes().into_iter().map(move |r| (f, r)))
            .filter(|(_, (m, template))| {
                let t: Vec<&str> = template.split('/').collect();
                *m == method
                    && t.len() == segments.len()
                    && t.iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .min_by_key(|(_, (_, template))| template.matches('{').count())
            .map(|(f, _)| f.name)
    }
}

/// The HTTP API: each request goes to the function that serves its route. A route no
/// function serves answers 503, as API Gateway does for a throttled function, so the scenario
/// can make a delivery fail and be retried.
async fn serve_api(stack: Arc<Mutex<Option<Arc<Stack>>>>) -> String {
    use axum::body::Body;
    use axum::response::Response;
    let app = axum::Router::new().fallback(move |req: http::Request<Body>| {
        let stack = stack.lock().unwrap().clone().expect("the stack is up");
        async move {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let path = parts.uri.path().to_owned();
            let Some(name) = stack.route(parts.method.as_str(), &path) else {
                return Response::builder()
                    .status(503)
                    .body(Body::from(r#"{"message":"Service Unavailable"}"#))
                    .unwrap();
            };
            let out = stack.routers[name]
                .handle(request(
                    parts.method,
                    parts.uri.to_string(),
                    parts.headers,
                    bytes,
                ))
                .await;
            Response::builder()
                .status(out.status)
                .header("content-type", "application/json")
                .body(Body::from(out.body))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn deploy() -> (Arc<Stack>, StandIn, String) {
    let unique = auth::generate_secret()[..8]
        .to_lowercase()
        .replace(['_', '-'], "x");
    let table = format!("iam-{unique}");
    let store = DynamoStore::new(moto_dynamodb().await, &table);
    store.create_table().await.unwrap();
    let state = cloudapps::store::InstallState::new(Arc::new(store));
    let sqs = moto_sqs().await;
    let mut urls = Vec::new();
    for q in ["events", "dead-letters"] {
        let created = sqs
            .create_queue()
            .queue_name(format!("iam-{unique}-{q}"))
            .send()
            .await
            .unwrap();
        urls.push(created.queue_url().unwrap().to_owned());
    }
    let (queue_url, dead_letter_queue_url) = (urls[0].clone(), urls[1].clone());
    let app_functions = deploy_app_functions_on_moto().await;
    let (standin, site_url) = StandIn::start(BOT_TOKEN).await;

    let slot = Arc::new(Mutex::new(None));
    let public_url = serve_api(slot.clone()).await;
    let t = template();
    let resources = function_resources(&t);
    let config = moto_config().await;
    let mut functions = BTreeMap::new();
    let mut routers = BTreeMap::new();
    for f in functions::all() {
        let env = environment(&t, &resources[f.name]);
        let has = |v: &str| env.contains(v);
        let settings = Settings {
            table: table.clone(),
            events_queue_url: has("EVENTS_QUEUE_URL").then(|| queue_url.clone()),
            dead_letter_queue_url: has("EVENTS_DLQ_URL").then(|| dead_letter_queue_url.clone()),
            // The template gives every function the public URL when the operator sets one.
            public_url: has("CLOUDAPPS_PUBLIC_URL").then(|| public_url.clone()),
            provisions_lambda: has("CLOUDAPPS_PROVISIONER"),
            operator_token_sha256: has("CLOUDAPPS_OPERATOR_TOKEN_SHA256")
                .then(|| auth::hash_token(OPERATOR)),
            limits: cloudapps::limits::Limits::default(),
            // The Mattermost stand-in listens on loopback.
            private_networks: PrivateNetworks::Allowed,
        };
        let calls = Arc::new(Mutex::new(Grants::new()));
        let recorder = Recorder {
            calls: calls.clone(),
            queue_url: queue_url.clone(),
            dead_letter_queue_url: dead_letter_queue_url.clone(),
            app_functions: app_functions.clone(),
        };
        let aws = recording_clients(&config, &recorder);
        if !matches!(f.serves, Serves::FanOut | Serves::CatalogPublish) {
            let router = lambda::function_router(f, &settings, &aws).await.unwrap();
            routers.insert(f.name, router);
        }
        functions.insert(
            f.name,
            Deployed {
                function: f,
                settings,
                aws,
                calls,
            },
        );
    }
    let stack = Arc::new(Stack {
        functions,
        routers,
        sqs,
        queue_url,
        dead_letter_queue_url,
        lambda: moto_lambda().await,
        public_url,
        state,
    });
    *slot.lock().unwrap() = Some(stack.clone());
    (stack, standin, site_url)
}

// --- The scenario -----------------------------------------------------------------------------

struct Client {
    stack: Arc<Stack>,
    http: reqwest::Client,
    site_url: String,
    admin: String,
}

/// The body of an answer that must have status `want`.
#[track_caller]
fn expect(want: u16, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, want, "{body}");
    body
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            method.parse().unwrap(),
            format!("{}{path}", self.stack.public_url),
        );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.admin);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.send(
            method,
            &format!("/marketplace/t/acme{path}"),
            &headers,
            body,
        )
        .await
    }

    /// An Apps call as Mattermost sends it, signed with the install's secret.
    async fn call(&self, app: &str, secret: &str, path: &str, mut body: Value) -> (u16, Value) {
        body["context"]["mattermost_site_url"] = json!(self.site_url);
        body["context"]["acting_user"] =
            json!({"id": "admin-user", "username": "admin", "roles": "system_user system_admin"});
        body["path"] = json!(path);
        let claims = AppClaims {
            exp: auth::now() + 600,
            acting_user_id: "admin-user".into(),
            ..Default::default()
        };
        let jwt = format!("Bearer {}", sign_app_jwt(&claims, secret));
        self.send(
            "POST",
            &format!("/t/acme/apps/{app}{path}"),
            &[
                ("content-type", "application/json"),
                (auth::APP_AUTH_HEADER, &jwt),
            ],
            body.to_string(),
        )
        .await
    }

    async fn form(&self, path: &str, form: &str) -> (u16, Value) {
        self.send(
            "POST",
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            form.to_owned(),
        )
        .await
    }

    /// Takes what the event source mapping would hand the fan-out, and runs the batch.
    async fn fan_out(&self) -> usize {
        let f = &self.stack.functions["events-fanout"];
        let (fanout, queue) = lambda::fanout(&f.settings, &f.aws).unwrap();
        let received = self
            .stack
            .sqs
            .receive_message()
            .queue_url(&self.stack.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
            )
            .send()
            .await
            .unwrap();
        let mut event = SqsEvent::default();
        for m in received.messages() {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id().map(str::to_owned);
            message.receipt_handle = m.receipt_handle().map(str::to_owned);
            message.body = m.body().map(str::to_owned);
            message.attributes = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            event.records.push(message);
        }
        let n = event.records.len();
        let failed = lambda::fanout_batch(&fanout, &queue, event).await;
        // The event source mapping deletes what succeeded, with the fan-out's role.
        let failed: BTreeSet<String> = failed
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        for m in received.messages() {
            if !failed.contains(m.message_id().unwrap()) {
                self.stack
                    .sqs
                    .delete_message()
                    .queue_url(&self.stack.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        n
    }
}

/// Runs every function through what it does, successes and failures.
async fn scenario(stack: Arc<Stack>, standin: &StandIn, site_url: String) {
    // The deploy step publishes the catalog, then CloudFormation updates it with the same one.
    let publisher = &stack.functions["catalog-publish"];
    let state = publisher.aws.state(&publisher.settings);
    for request_type in ["Create", "Update", "Delete"] {
        let req = CustomResourceRequest {
            request_type: request_type.into(),
            response_url: "https://cloudformation.example/response".into(),
            stack_id: "stack".into(),
            request_id: request_type.into(),
            logical_resource_id: "Catalog".into(),
            physical_resource_id: None,
        };
        let answer = catalog_publish::respond_to(&state, &req).await;
        assert_eq!(answer.status, "SUCCESS", "{answer:?}");
    }

    let mut c = Client {
        stack: stack.clone(),
        http: http_client(),
        site_url: site_url.clone(),
        admin: String::new(),
    };
    // Its Mattermost invokes its aliases with its own AWS role.
    let registration = json!({"id": "acme", "site_url": site_url,
                              "aws_principal": "arn:aws:iam::210987654321:role/acme-mattermost"})
    .to_string();
    let operator = format!("Bearer {OPERATOR}");
    let json_auth = [
        ("content-type", "application/json"),
        ("authorization", operator.as_str()),
    ];
    let (status, tenant) = c
        .send(
            "POST",
            "/marketplace/tenants",
            &json_auth,
            registration.clone(),
        )
        .await;
    assert_eq!(status, 201, "{tenant}");
    c.admin = tenant["admin_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.send("POST", "/marketplace/tenants", &json_auth, registration)
            .await
            .0,
        409
    );

    // The marketplace's operations.
    assert_eq!(c.admin("GET", "/apps", None).await.0, 200);
    assert_eq!(c.admin("GET", "/apps/hello", None).await.0, 200);
    let bot = json!({"user_id": "bot-user", "access_token": BOT_TOKEN});
    let mattermost = json!({"admin_token": MM_ADMIN, "team_id": "team0000000000000000000001"});
    let (status, hello) = c
        .admin(
            "POST",
            "/apps/hello/install",
            Some(json!({"version": "v1.0.0", "consent": consent("hello", "v1.0.0"), "bot": bot, "mattermost": mattermost})),
        )
        .await;
    assert_eq!(status, 201, "{hello}");
    let (status, notices) = c
        .admin(
            "POST",
            "/apps/notices/install",
            Some(json!({"consent": consent("notices", "v1.0.0"), "bot": bot})),
        )
        .await;
    assert_eq!(status, 201, "{notices}");
    let (status, market) = c
        .admin(
            "POST",
            "/apps/marketplace/install",
            Some(json!({"consent": consent("marketplace", "v1.0.0")})),
        )
        .await;
    assert_eq!(status, 201, "{market}");
    assert_eq!(c.admin("GET", "/apps/notices/config", None).await.0, 200);
    expect(200, c.admin("POST", "/apps/notices/config", Some(json!({"values": {"keywords": "help", "keyword_reply": "See the wiki.", "welcome_message": "Welcome!"}}))).await);
    assert_eq!(c.admin("POST", "/apps/hello/disable", None).await.0, 200);
    assert_eq!(c.admin("POST", "/apps/hello/enable", None).await.0, 200);
    let (status, rotated) = c.admin("POST", "/apps/hello/rotate", None).await;
    assert_eq!(status, 200, "{rotated}");
    let hello_secret = rotated["jwt_secret"]
        .as_str()
        .unwrap_or_else(|| hello["jwt_secret"].as_str().unwrap())
        .to_owned();
    let command_token = rotated["command_token"]
        .as_str()
        .unwrap_or_else(|| hello["command_token"].as_str().unwrap())
        .to_owned();
    // The new version's functions have no alias for the tenant yet: upgrading creates them.
    expect(200, c.admin("POST", "/apps/hello/version", Some(json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": consent("hello", "v1.1.0")}))).await);

    // The apps' endpoints.
    let secret = hello_secret.as_str();
    let (status, _) = c
        .send(
            "GET",
            "/t/acme/apps/hello/manifest.json",
            &[],
            String::new(),
        )
        .await;
    assert_eq!(status, 200);
    for path in ["/ping", "/bindings", "/send-form", "/greetings"] {
        let (status, body) = c.call("hello", secret, path, json!({})).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    expect(
        200,
        c.call(
            "hello",
            secret,
            "/send",
            json!({"values": {"message": "hi"}}),
        )
        .await,
    );
    expect(
        200,
        c.form(
            "/t/acme/apps/hello/v1/command",
            &format!(
                "token={command_token}&command=%2Fhello&text=send+hi&user_id=u1&user_name=alice"
            ),
        )
        .await,
    );
    expect(200, c.form("/t/acme/apps/hello/v1/outgoing", &format!("token={command_token}&user_id=u1&user_name=alice&text=hello+send+hi&trigger_word=hello")).await);
    let install = stack.state.install("acme", "hello").await.unwrap().unwrap();
    let integration =
        cloudapps::http::apps::action_integration(&stack.public_url, &install, "/send", None);
    let click = json!({"user_id": "u1", "user_name": "alice", "channel_id": "c1", "post_id": "p1", "context": integration.context});
    expect(
        200,
        c.send(
            "POST",
            "/t/acme/apps/hello/v1/action",
            &[("content-type", "application/json")],
            click.to_string(),
        )
        .await,
    );
    // A dialog submission whose state is not this install's: refused, after the same reads.
    let dialog =
        json!({"type": "dialog_submission", "state": "forged", "user_id": "u1", "submission": {}});
    let (status, _) = c
        .send(
            "POST",
            "/t/acme/apps/hello/v1/dialog",
            &[("content-type", "application/json")],
            dialog.to_string(),
        )
        .await;
    assert_eq!(status, 401);
    let market_secret = market["jwt_secret"].as_str().unwrap().to_owned();
    let (status, _) = c
        .send(
            "GET",
            "/t/acme/apps/marketplace/manifest.json",
            &[],
            String::new(),
        )
        .await;
    assert_eq!(status, 200);
    for path in ["/ping", "/bindings", "/list"] {
        let (status, body) = c.call("marketplace", &market_secret, path, json!({})).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // Subscriptions, events and their delivery.
    let jwt = format!(
        "Bearer {}",
        sign_app_jwt(
            &AppClaims {
                exp: auth::now() + 600,
                ..Default::default()
            },
            secret
        )
    );
    let app_json = [
        ("content-type", "application/json"),
        (auth::APP_AUTH_HEADER, jwt.as_str()),
    ];
    // hello's subscription to a path nothing serves: its deliveries fail and are retried.
    let subscribe =
        json!({"subject": "user_joined_channel", "call": {"path": "/retried"}}).to_string();
    expect(
        200,
        c.send(
            "POST",
            "/t/acme/apps/hello/v1/subscribe",
            &app_json,
            subscribe.clone(),
        )
        .await,
    );
    assert_eq!(
        c.send(
            "GET",
            "/t/acme/apps/hello/v1/subscriptions",
            &app_json,
            String::new()
        )
        .await
        .0,
        200
    );
    let admin_json = format!("Bearer {}", c.admin);
    let ingest = [
        ("content-type", "application/json"),
        ("authorization", admin_json.as_str()),
    ];
    for event in [
        json!({"kind": "user_joined_channel", "user_id": "000000000000000000000user1", "channel_id": "0000000000000000townsquare", "team_id": "000000000000000000000team1"}),
        json!({"kind": "channel_created", "user_id": "000000000000000000000user1", "channel_id": "0000000000000000newchannel", "team_id": "000000000000000000000team1"}),
        json!({"kind": "message_posted", "user_id": "000000000000000000000user1", "channel_id": "0000000000000000townsquare", "team_id": "000000000000000000000team1", "post_id": "00000000000000000000post01", "text": "can someone help me"}),
    ] {
        expect(
            202,
            c.send("POST", "/events/t/acme", &ingest, event.to_string())
                .await,
        );
    }
    // Mattermost's own notification, and a classic outgoing webhook.
    expect(202, c.call("hello", secret, "/v1/notify", json!({"context": {"subject": "user_joined_channel", "channel": {"id": "0000000000000000townsquare"}, "user": {"id": "000000000000000000000user1"}}})).await);
    let (status, body) = c
        .form(
            "/t/acme/apps/hello/v1/events",
            &format!("token={command_token}&user_id=000000000000000000000user1&channel_id=0000000000000000townsquare&text=help&post_id=00000000000000000000post02"),
        )
        .await;
    assert!(status == 200 || status == 202, "{status}: {body}");
    let mut delivered = 0;
    for _ in 0..5 {
        delivered += c.fan_out().await;
    }
    assert!(delivered >= 5, "the fan-out took {delivered} messages");
    assert!(!standin.posts.lock().unwrap().is_empty(), "notices posted");
    expect(
        200,
        c.send(
            "POST",
            "/t/acme/apps/hello/v1/unsubscribe",
            &app_json,
            subscribe.clone(),
        )
        .await,
    );

    // The operator's dead letters: listed, then redriven.
    stack
        .sqs
        .send_message()
        .queue_url(&stack.dead_letter_queue_url)
        .message_body("a dead letter")
        .send()
        .await
        .unwrap();
    let op = [("authorization", operator.as_str())];
    assert_eq!(
        c.send("GET", "/events/dead-letters", &op, String::new())
            .await
            .0,
        200
    );
    expect(
        200,
        c.send("POST", "/events/dead-letters/redrive", &op, String::new())
            .await,
    );

    // The marketplace app installs, upgrades, configures and uninstalls as the operations do.
    let admin_call = |path: &'static str, values: Value, state: Value| {
        let (c, secret) = (&c, market_secret.clone());
        async move {
            let (status, body) = c
                .call(
                    "marketplace",
                    &secret,
                    path,
                    json!({"values": values, "state": state}),
                )
                .await;
            assert_eq!(status, 200, "{path}: {body}");
            assert_ne!(body["type"], "error", "{path}: {body}");
            body
        }
    };
    // hello still holds a subscription: uninstalling removes it.
    expect(
        200,
        c.send(
            "POST",
            "/t/acme/apps/hello/v1/subscribe",
            &app_json,
            subscribe.clone(),
        )
        .await,
    );
    admin_call("/uninstall", json!({"app": "hello"}), Value::Null).await;
    admin_call(
        "/install",
        json!({"app": "hello", "version": "v1.0.0", "accept": true}),
        Value::Null,
    )
    .await;
    admin_call(
        "/upgrade",
        json!({"app": "hello", "version": "v1.1.0", "accept": true}),
        Value::Null,
    )
    .await;
    admin_call("/configure-app", json!({"app": "notices"}), Value::Null).await;
    admin_call(
        "/configure-app/submit",
        json!({"keywords": "help", "keyword_reply": "See the wiki."}),
        json!({"app": "notices"}),
    )
    .await;

    // Failures undo what was done: Mattermost refusing the outgoing webhook undoes an install.
    let (status, _) = c.admin("DELETE", "/apps/hello", None).await;
    assert_eq!(status, 200);
    standin
        .refuse_hooks
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = c
        .admin("POST", "/apps/hello/install", Some(json!({"version": "v1.1.0", "consent": consent("hello", "v1.1.0"), "mattermost": mattermost})))
        .await;
    assert!(status >= 400, "{status}: {body}");
    standin
        .refuse_hooks
        .store(false, std::sync::atomic::Ordering::SeqCst);
    expect(
        201,
        c.admin(
            "POST",
            "/apps/hello/install",
            Some(json!({"version": "v1.0.0", "consent": consent("hello", "v1.0.0")})),
        )
        .await,
    );
    // A function of v1.1.0 gone from Lambda: an upgrade to it is restored, an install of it
    // undone.
    stack
        .lambda
        .delete_function()
        .function_name("hello_v1-1-0_send")
        .send()
        .await
        .unwrap();
    let (status, body) = c
        .admin("POST", "/apps/hello/version", Some(json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": consent("hello", "v1.1.0")})))
        .await;
    assert!(status >= 500, "{status}: {body}");
    let (status, _) = c.admin("DELETE", "/apps/hello", None).await;
    assert_eq!(status, 200);
    let (status, body) = c
        .admin(
            "POST",
            "/apps/hello/install",
            Some(json!({"version": "v1.1.0", "consent": consent("hello", "v1.1.0")})),
        )
        .await;
    assert!(status >= 500, "{status}: {body}");
    let (_, body) = c
        .call(
            "marketplace",
            &market_secret,
            "/install",
            json!({"values": {"app": "hello", "version": "v1.1.0", "accept": true}}),
        )
        .await;
    assert_eq!(body["type"], "error", "{body}");
    // Put it back for the tests that come after.
    deploy_app_functions_on_moto().await;
    for app in ["notices", "marketplace"] {
        let (status, body) = c.admin("DELETE", &format!("/apps/{app}"), None).await;
        assert_eq!(status, 200, "{app}: {body}");
    }
}

/// What the event source mapping polls the queue with, with the fan-out's role (AWS: "Lambda
/// execution role permissions" of an SQS event source).
const EVENT_SOURCE_MAPPING: &[&str] = &[
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];

#[tokio::test]
async fn every_function_is_granted_exactly_what_it_calls() {
    let (stack, standin, site_url) = deploy().await;
    scenario(stack.clone(), &standin, site_url).await;

    let resources = function_resources(&template());
    let mut wrong = Vec::new();
    for (name, f) in &stack.functions {
        let mut used = f.calls.lock().unwrap().clone();
        if f.function.serves == Serves::FanOut {
            used.extend(
                EVENT_SOURCE_MAPPING
                    .iter()
                    .map(|a| (Resource::EventsQueue, (*a).to_owned())),
            );
        }
        let granted = granted(name, &resources[*name]);
        let show = |pairs: Vec<&(Resource, String)>| {
            pairs
                .into_iter()
                .map(|(r, a)| format!("{a} on {r:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let missing = show(used.difference(&granted).collect());
        let unused = show(granted.difference(&used).collect());
        if !missing.is_empty() || !unused.is_empty() {
            wrong.push(format!(
                "{name}:\n  used but not granted: {missing}\n  granted but never used: {unused}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn no_function_may_write_the_catalog_but_the_deploy_step() {
    let resources = function_resources(&template());
    for f in functions::all() {
        let writes = granted(f.name, &resources[f.name])
            .into_iter()
            .any(|(r, a)| {
                matches!(r, Resource::Table(ref p) if p.starts_with(CATALOG_PK))
                    && a != "dynamodb:GetItem"
                    && a != "dynamodb:Query"
            });
        assert_eq!(writes, f.serves == Serves::CatalogPublish, "{}", f.name);
    }
}
