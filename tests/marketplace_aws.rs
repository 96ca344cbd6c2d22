//! The marketplace on its AWS adapters: per-tenant aliases through aws-sdk-lambda and install
//! state in DynamoDB, both on moto server.

use std::sync::Arc;

use bytes::Bytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::http::Host;
use cloudapps::http::testing::{Handle, request};
use cloudapps::marketplace::catalog;
use cloudapps::marketplace::catalog_publish::{self, CustomResourceRequest};
use cloudapps::marketplace::provisioner::{ProvisionError, Provisioner};
use cloudapps::provisioners::{LambdaProvisioner, invoke_statement_id};
use cloudapps::store::dynamo::DynamoStore;
use cloudapps::store::{InstallState, Tenant};
use cloudapps_tests::apps_plugin::{plugin_lambda_name, plugin_match};
use cloudapps_tests::{deploy_app_functions_on_moto, moto_dynamodb, moto_lambda};
use http::{HeaderMap, Method};
use serde_json::{Value, json};

fn tenant(id: &str, aws_principal: Option<&str>) -> Tenant {
    Tenant {
        id: id.into(),
        aws_principal: aws_principal.map(str::to_owned),
        ..Default::default()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &cloudapps::auth::generate_secret()[..8])
        .to_lowercase()
        .replace('_', "x")
}

/// A published version's number: never `$LATEST`, which would run whatever is deployed next.
fn version_number(v: &str) -> u64 {
    v.parse()
        .unwrap_or_else(|_| panic!("{v:?} is not a published version's number"))
}

#[tokio::test]
async fn each_tenant_gets_an_alias_per_app_function_pinned_to_a_published_version() {
    deploy_app_functions_on_moto().await;
    let lambda = moto_lambda().await;
    let provisioner = LambdaProvisioner::new(lambda.clone());
    // The functions are one set per account, shared by the tests: each uses its own tenants.
    let (acme, globex) = (unique("acme"), unique("globex"));
    let acme_alias = format!("t-{acme}");

    let pinned = provisioner
        .provision(&tenant(&acme, None), "hello", "v1.0.0", None)
        .await
        .unwrap();
    let pinned_names: Vec<&str> = pinned.iter().map(|p| p.function.as_str()).collect();
    assert_eq!(
        pinned_names,
        cloudapps::functions::invoked_functions("hello", "v1.0.0").unwrap()
    );
    for p in &pinned {
        version_number(&p.function_version);
        assert!(p.function.starts_with("hello_v1-0-0_"), "{}", p.function);
        let alias = lambda
            .get_alias()
            .function_name(&p.function)
            .name(&acme_alias)
            .send()
            .await
            .unwrap();
        assert_eq!(alias.function_version(), Some(p.function_version.as_str()));
        assert_eq!(alias.description(), Some("hello v1.0.0"));
    }
    // A deploy changes every function (PublishVersion publishes only a changed one); pinning
    // again re-points the same aliases at the newly published versions.
    for p in &pinned {
        lambda
            .update_function_configuration()
            .function_name(&p.function)
            .description("the next deploy")
            .send()
            .await
            .unwrap();
    }
    let again = provisioner
        .provision(&tenant(&acme, None), "hello", "v1.0.0", Some("v1.0.0"))
        .await
        .unwrap();
    for (old, new) in pinned.iter().zip(&again) {
        assert_eq!(old.function, new.function);
        assert!(
            version_number(&new.function_version) > version_number(&old.function_version),
            "{} stayed on {}",
            new.function,
            old.function_version
        );
    }
    // Another version runs on its own functions, which the plugin names after the version;
    // the old version's lose the tenant's aliases.
    let upgraded = provisioner
        .provision(&tenant(&acme, None), "hello", "v1.1.0", Some("v1.0.0"))
        .await
        .unwrap();
    assert_eq!(upgraded.len(), pinned.len());
    for (old, new) in pinned.iter().zip(&upgraded) {
        assert_eq!(
            new.function,
            old.function.replace("hello_v1-0-0_", "hello_v1-1-0_")
        );
        let alias = lambda
            .get_alias()
            .function_name(&new.function)
            .name(&acme_alias)
            .send()
            .await
            .unwrap();
        assert_eq!(
            alias.function_version(),
            Some(new.function_version.as_str())
        );
        assert_eq!(alias.description(), Some("hello v1.1.0"));
        assert!(
            alias_gone(&lambda, &old.function, &acme_alias).await,
            "{} keeps {acme_alias}",
            old.function
        );
    }
    // Tenants do not share aliases.
    provisioner
        .provision(&tenant(&globex, None), "hello", "v1.1.0", None)
        .await
        .unwrap();
    let send = "hello_v1-1-0_send";
    let globex_alias = format!("t-{globex}");
    let theirs = lambda
        .get_alias()
        .function_name(send)
        .name(&globex_alias)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.description(), Some("hello v1.1.0"));

    provisioner.deprovision(&acme, "hello").await.unwrap();
    assert!(alias_gone(&lambda, send, &acme_alias).await);
    provisioner.deprovision(&acme, "hello").await.unwrap();
    assert!(
        !alias_gone(&lambda, send, &globex_alias).await,
        "other tenants keep theirs"
    );
    // A version this deploy does not carry has no functions to pin.
    let err = provisioner
        .provision(&tenant(&acme, None), "hello", "v9.9.9", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::NotDeployed { ref version, .. } if version == "v9.9.9"),
        "{err}"
    );
}

/// Whether `function` has no alias `alias` (any other error fails the test).
async fn alias_gone(lambda: &aws_sdk_lambda::Client, function: &str, alias: &str) -> bool {
    match lambda
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
    {
        Ok(_) => false,
        Err(e) => {
            assert!(
                e.into_service_error().is_resource_not_found_exception(),
                "only ResourceNotFound means gone"
            );
            true
        }
    }
}

/// A Lambda endpoint that refuses everything with `status` and AWS's error `kind`.
async fn failing_lambda(status: u16, kind: &'static str) -> aws_sdk_lambda::Client {
    let app = axum::Router::new().fallback(move || async move {
        (
            http::StatusCode::from_u16(status).unwrap(),
            [("x-amzn-errortype", kind)],
            r#"{"Type":"User","Message":"refused"}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = moto_lambda()
        .await
        .config()
        .to_builder()
        .endpoint_url(format!("http://{addr}"))
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

#[tokio::test]
async fn removing_an_alias_tolerates_only_its_absence() {
    // Denied: the alias may well still be there and invocable.
    for (status, kind) in [
        (403, "AccessDeniedException"),
        (400, "InvalidParameterValueException"),
        (429, "TooManyRequestsException"),
    ] {
        let failing = LambdaProvisioner::new(failing_lambda(status, kind).await);
        let err = failing.deprovision("acme", "hello").await.unwrap_err();
        assert!(
            matches!(err, ProvisionError::Backend(ref e) if e.contains(kind)),
            "{kind}: {err}"
        );
    }
    // Absent aliases have nothing left to remove.
    deploy_app_functions_on_moto().await;
    let moto = LambdaProvisioner::new(moto_lambda().await);
    moto.deprovision(&unique("absent"), "hello").await.unwrap();
}

async fn aws_host() -> Host {
    let table = unique("market");
    let store = DynamoStore::new(moto_dynamodb().await, &table);
    store.create_table().await.unwrap();
    let state = InstallState::new(Arc::new(store));
    state
        .publish_catalog(catalog::GENERATION, &catalog::shipped().unwrap())
        .await
        .unwrap();
    deploy_app_functions_on_moto().await;
    Host::new(state, BuiltinApps::all())
        .with_public_url(Some("https://api.example".into()))
        .with_operator_token_hash(Some(cloudapps::auth::hash_token("op")))
        .with_max_tenant_id_len(cloudapps::functions::longest_tenant_id_on_lambda())
        .with_provisioner(Arc::new(LambdaProvisioner::new(moto_lambda().await)))
}

async fn send(
    host: &impl Handle,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let out = host
        .handle(request(
            method,
            path,
            headers,
            Bytes::from(body.to_string()),
        ))
        .await;
    (out.status, serde_json::from_slice(&out.body).unwrap())
}

/// A marketplace function's settings as the template gives them (no provisioning, the
/// operator credential `op`) over `table`, and its clients on moto.
async fn marketplace_function(
    table: String,
    public_url: Option<&str>,
) -> (cloudapps::lambda::Settings, cloudapps::lambda::AwsClients) {
    let settings = cloudapps::lambda::Settings {
        table,
        events_queue_url: None,
        dead_letter_queue_url: None,
        public_url: public_url.map(str::to_owned),
        provisions_lambda: false,
        operator_token_sha256: Some(cloudapps::auth::hash_token("op")),
        limits: cloudapps::limits::Limits::default(),
        private_networks: cloudapps::outbound::PrivateNetworks::Refused,
    };
    let aws = cloudapps::lambda::AwsClients {
        dynamodb: moto_dynamodb().await,
        sqs: cloudapps_tests::moto_sqs().await,
        lambda: moto_lambda().await,
    };
    (settings, aws)
}

/// Registers tenant `id` with the operator credential; its admin token.
async fn register(host: &Host, id: &str, principal: Value) -> String {
    let (status, registered) = send(
        host,
        Method::POST,
        "/marketplace/tenants",
        "op",
        json!({"id": id, "site_url": format!("https://mm.{id}.test"), "aws_principal": principal}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    registered["admin_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn install_upgrade_and_uninstall_on_dynamodb_and_lambda() {
    let host = Arc::new(aws_host().await);
    let acme = unique("acme");
    let alias = format!("t-{acme}");
    let token = register(&host, &acme, Value::Null).await;
    let consent = json!({"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]});

    // Concurrent installs: exactly one wins, on DynamoDB's conditional writes.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (host, token, acme) = (host.clone(), token.clone(), acme.clone());
            let body = json!({"version": "v1.0.0", "consent": consent});
            tokio::spawn(async move {
                send(
                    &host,
                    Method::POST,
                    &format!("/marketplace/t/{acme}/apps/hello/install"),
                    &token,
                    body,
                )
                .await
                .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);

    let lambda = moto_lambda().await;
    let pinned = lambda
        .get_alias()
        .function_name("hello_v1-0-0_send")
        .name(&alias)
        .send()
        .await
        .unwrap();
    assert_eq!(pinned.description(), Some("hello v1.0.0"));

    let up = json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": {"permissions": ["act_as_user", "user_joined_channel_notification"]}});
    let version_path = format!("/marketplace/t/{acme}/apps/hello/version");
    let (status, changed) = send(&host, Method::POST, &version_path, &token, up.clone()).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        lambda
            .get_alias()
            .function_name("hello_v1-1-0_send")
            .name(&alias)
            .send()
            .await
            .unwrap()
            .description(),
        Some("hello v1.1.0")
    );
    assert!(alias_gone(&lambda, "hello_v1-0-0_send", &alias).await);
    assert_eq!(
        send(&host, Method::POST, &version_path, &token, up).await.0,
        409,
        "stale"
    );

    let (status, gone) = send(
        &host,
        Method::DELETE,
        &format!("/marketplace/t/{acme}/apps/hello"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!((status, gone["uninstalled"].as_bool()), (200, Some(true)));
    for name in cloudapps::functions::invoked_names() {
        assert!(alias_gone(&lambda, &name, &alias).await, "{name}");
    }
}

/// The statements of the resource policy on a tenant's alias; none when it has none. moto
/// keeps one policy per function, shared by its versions and aliases (AWS keeps one per
/// alias): the statements are picked by the id the provisioner gives each alias's.
async fn alias_policy(lambda: &aws_sdk_lambda::Client, function: &str, alias: &str) -> Vec<Value> {
    match lambda
        .get_policy()
        .function_name(function)
        .qualifier(alias)
        .send()
        .await
    {
        Ok(p) => {
            let policy: Value = serde_json::from_str(p.policy().unwrap()).unwrap();
            let sid = invoke_statement_id(alias);
            policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["Sid"] == sid.as_str())
                .cloned()
                .collect()
        }
        Err(e) => {
            assert!(
                e.into_service_error().is_resource_not_found_exception(),
                "no policy is the only expected error"
            );
            Vec::new()
        }
    }
}

#[tokio::test]
async fn a_tenant_alias_may_be_invoked_by_the_tenants_principal_only() {
    const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/acme-mattermost";
    deploy_app_functions_on_moto().await;
    let lambda = moto_lambda().await;
    let provisioner = LambdaProvisioner::new(lambda.clone());
    let acme = unique("acme");
    let alias = format!("t-{acme}");
    let pinned = provisioner
        .provision(&tenant(&acme, Some(PRINCIPAL)), "hello", "v1.0.0", None)
        .await
        .unwrap();
    for p in &pinned {
        let statements = alias_policy(&lambda, &p.function, &alias).await;
        assert_eq!(statements.len(), 1, "{}: {statements:?}", p.function);
        let s = &statements[0];
        assert_eq!(s["Action"], "lambda:InvokeFunction");
        assert_eq!(s["Effect"], "Allow");
        assert!(
            serde_json::to_string(&s["Principal"])
                .unwrap()
                .contains(PRINCIPAL),
            "{s}"
        );
        assert!(
            s["Resource"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{}:{alias}", p.function)),
            "{s}"
        );
    }
    // Provisioning again leaves one statement, naming the same principal.
    provisioner
        .provision(
            &tenant(&acme, Some(PRINCIPAL)),
            "hello",
            "v1.0.0",
            Some("v1.0.0"),
        )
        .await
        .unwrap();
    assert_eq!(
        alias_policy(&lambda, "hello_v1-0-0_send", &alias)
            .await
            .len(),
        1
    );
    provisioner.deprovision(&acme, "hello").await.unwrap();
    assert_eq!(
        alias_policy(&lambda, "hello_v1-0-0_send", &alias).await,
        Vec::<Value>::new()
    );

    // Without a registered principal the alias gets no policy: nobody outside the account.
    let globex = unique("globex");
    provisioner
        .provision(&tenant(&globex, None), "hello", "v1.0.0", None)
        .await
        .unwrap();
    assert_eq!(
        alias_policy(&lambda, "hello_v1-0-0_send", &format!("t-{globex}")).await,
        Vec::<Value>::new()
    );
    provisioner.deprovision(&globex, "hello").await.unwrap();
}

fn alias_invoke(
    function: &str,
    tenant: &str,
    jwt: Option<&str>,
) -> lambda_runtime::LambdaEvent<Value> {
    let mut envelope = json!({"path": "/ping", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"}, "body": "{}"});
    if let Some(jwt) = jwt {
        envelope["headers"]["Mattermost-App-Authorization"] = json!(format!("Bearer {jwt}"));
    }
    let mut context = lambda_runtime::Context::default();
    context.invoked_function_arn =
        format!("arn:aws:lambda:us-east-1:123456789012:function:{function}:t-{tenant}");
    lambda_runtime::LambdaEvent::new(envelope, context)
}

#[tokio::test]
async fn an_alias_invoke_without_a_jwt_is_trusted_only_for_a_tenant_with_a_principal() {
    let host = aws_host().await;
    let consent = json!({"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]});
    let (status, refused) = send(
        &host,
        Method::POST,
        "/marketplace/tenants",
        "op",
        json!({"id": "bad", "site_url": "https://mm.bad.test", "aws_principal": "*"}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["text"].as_str().unwrap().contains("aws_principal"));

    let (acme, globex) = (unique("acme"), unique("globex"));
    for (id, principal) in [(&globex, Value::Null), (&acme, json!("123456789012"))] {
        let token = register(&host, id, principal).await;
        let (status, installed) = send(
            &host,
            Method::POST,
            &format!("/marketplace/t/{id}/apps/hello/install"),
            &token,
            json!({"version": "v1.0.0", "consent": consent}),
        )
        .await;
        assert_eq!(status, 201, "{installed}");
    }
    let lambda = moto_lambda().await;
    let ping = "hello_v1-0-0_ping";
    let statements = alias_policy(&lambda, ping, &format!("t-{acme}")).await;
    assert_eq!(statements.len(), 1, "{statements:?}");

    let function = cloudapps::functions::Function::by_name("hello-ping").unwrap();
    let router = host.function_router(function).unwrap();
    let invoke = |tenant: &str, jwt: Option<&str>| {
        cloudapps::lambda::handle_event(&router, function.app(), alias_invoke(ping, tenant, jwt))
    };
    let accepted = invoke(&acme, None).await;
    assert_eq!(accepted.status_code, 200, "{}", accepted.body);
    let refused = invoke(&globex, None).await;
    assert_eq!(refused.status_code, 401, "{}", refused.body);
    // IAM vouches for the caller, not for a JWT it sends: a bad one is refused even so.
    let forged = cloudapps::auth::sign_app_jwt(
        &cloudapps::auth::AppClaims {
            exp: cloudapps::auth::now() + 60,
            ..Default::default()
        },
        "not the install's secret",
    );
    for jwt in [forged.as_str(), "not-a-jwt"] {
        let refused = invoke(&acme, Some(jwt)).await;
        assert_eq!(refused.status_code, 401, "{jwt}: {}", refused.body);
    }
}

#[tokio::test]
async fn the_catalog_never_goes_back_on_dynamodb() {
    let store = DynamoStore::new(moto_dynamodb().await, unique("catalog"));
    store.create_table().await.unwrap();
    catalog::publish_contract(&InstallState::new(Arc::new(store))).await;
}

#[tokio::test]
async fn a_cold_start_reads_a_newer_catalog_and_leaves_it_as_it_is() {
    let table = unique("catalog");
    let store = DynamoStore::new(moto_dynamodb().await, &table);
    store.create_table().await.unwrap();
    let state = InstallState::new(Arc::new(store));
    let mut newer = catalog::shipped().unwrap();
    newer[0].description = "from a newer deploy".into();
    state
        .publish_catalog(catalog::GENERATION + 1, &newer)
        .await
        .unwrap();
    let stored = state.catalog_version().await.unwrap();

    let (settings, aws) = marketplace_function(table, None).await;
    let function = cloudapps::functions::Function::by_name("marketplace-list").unwrap();
    let router = cloudapps::lambda::function_router(function, &settings, &aws)
        .await
        .unwrap();
    assert_eq!(state.catalog_version().await.unwrap(), stored, "unchanged");

    // Its requests are served from the newer catalog.
    let registered = Host::new(state.clone(), BuiltinApps::all())
        .marketplace()
        .create_tenant(
            &cloudapps::marketplace::service::RegisterTenant {
                id: "acme".into(),
                site_url: "https://mm.acme.test".into(),
                aws_principal: None,
            },
            "https://api.example",
        )
        .await
        .unwrap();
    let (status, list) = send(
        &router,
        Method::GET,
        "/marketplace/t/acme/apps",
        &registered.admin_token,
        json!(null),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert!(list.to_string().contains("from a newer deploy"), "{list}");

    // The deploy step of the older build answers CloudFormation and keeps the newer catalog.
    let req: CustomResourceRequest = serde_json::from_value(json!({
        "RequestType": "Update", "ResponseURL": "https://example.invalid/x", "StackId": "s",
        "RequestId": "r", "LogicalResourceId": "Catalog", "PhysicalResourceId": "catalog",
        "ResourceType": "AWS::CloudFormation::CustomResource", "ResourceProperties": {}
    }))
    .unwrap();
    let answer = catalog_publish::respond_to(&state, &req).await;
    assert_eq!(answer.status, "SUCCESS", "{answer:?}");
    assert_eq!(answer.data["Written"], "false");
    assert_eq!(state.catalog_version().await.unwrap(), stored, "unchanged");
}

#[tokio::test]
async fn the_deploy_step_publishes_and_answers_cloudformation_at_its_response_url() {
    use std::sync::Mutex;
    let got: Arc<Mutex<Option<(HeaderMap, Value)>>> = Arc::default();
    let app = axum::Router::new().route(
        "/response",
        axum::routing::put({
            let got = got.clone();
            move |headers: HeaderMap, body: Bytes| async move {
                *got.lock().unwrap() = Some((headers, serde_json::from_slice(&body).unwrap()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = DynamoStore::new(moto_dynamodb().await, unique("catalog"));
    store.create_table().await.unwrap();
    let state = InstallState::new(Arc::new(store));
    let req: CustomResourceRequest = serde_json::from_value(json!({
        "RequestType": "Create", "ResponseURL": format!("http://{addr}/response"),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1", "RequestId": "r1",
        "LogicalResourceId": "Catalog", "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": {"ServiceToken": "x", "Generation": "1"}
    }))
    .unwrap();
    let answer = catalog_publish::respond_to(&state, &req).await;
    catalog_publish::send(&catalog_publish::http_client(), &req, &answer)
        .await
        .unwrap();
    let (headers, body) = got.lock().unwrap().take().expect("answered");
    assert!(
        headers.get("content-type").is_none(),
        "the pre-signed URL is signed without one"
    );
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], "catalog");
    assert_eq!(body["RequestId"], "r1");
    assert_eq!(body["LogicalResourceId"], "Catalog");
    assert_eq!(body["Data"]["Written"], "true");
    assert_eq!(
        state.catalog_version().await.unwrap().unwrap().generation,
        catalog::GENERATION
    );
    assert_eq!(state.listings().await.unwrap(), catalog::shipped().unwrap());
}

// --- The Apps plugin on AWS -------------------------------------------------------------------

#[test]
fn the_plugins_name_rule_gives_its_own_fixtures() {
    // `upstream/upaws/upstream_test.go`, TestMatch.
    let manifest = json!({"app_id": "testID", "version": "v00.00.000", "aws_lambda": {"functions": [
        {"path": "/topic", "name": "topic"}, {"path": "/topic/subtopic/", "name": "subtopic"},
        {"path": "/other", "name": "other"}, {"path": "/", "name": "main"}]}});
    for (call, name) in [
        ("/different", "testID_v00-00-000_main"),
        (
            "/topic/subtopic/and-then-some",
            "testID_v00-00-000_subtopic",
        ),
        ("/topic/other/and-then-some", "testID_v00-00-000_topic"),
        ("/other/and-then-some", "testID_v00-00-000_other"),
    ] {
        assert_eq!(
            plugin_match(call, &manifest).as_deref(),
            Some(name),
            "{call}"
        );
    }
    // `upstream/upaws/provision_data_test.go`, TestGetDeployData (its bundle's manifest).
    for (function, name) in [
        ("function1", "com-mattermost-servicenow_0-1-0_function1"),
        (
            "function with spaces",
            "com-mattermost-servicenow_0-1-0_function-with-spaces",
        ),
        (
            "function-with-very-very-very-very-very-very-very-long-name",
            "com.mattermost.servicenow_0.1.0_95f51579baba92ea2a0a3ad98c24fcbc",
        ),
    ] {
        assert_eq!(
            plugin_lambda_name("com.mattermost.servicenow", "0.1.0", function),
            name
        );
    }
}

/// The Apps plugin, given a tenant's manifest as the host serves it, invokes for every call
/// path Mattermost makes a name that Lambda resolves to the tenant's alias of the function
/// serving it, of the installed version; the invoke reaches that function's handler for that
/// tenant. The longest tenant id the host accepts still fits; a longer one is refused.
#[tokio::test]
async fn the_apps_plugin_invokes_the_tenants_alias_of_each_call_paths_function() {
    const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/acme-mattermost-apps";
    let host = aws_host().await;
    let longest = cloudapps::functions::longest_tenant_id_on_lambda();
    let prefix = unique("p");
    let id = format!("{prefix}{}", "x".repeat(longest - prefix.len()));
    // The registration function, as the template configures it, refuses one character more.
    let table = unique("register");
    DynamoStore::new(moto_dynamodb().await, &table)
        .create_table()
        .await
        .unwrap();
    let (settings, aws) = marketplace_function(table, Some("https://api.example")).await;
    let register_fn =
        cloudapps::functions::Function::by_name("marketplace-register-tenant").unwrap();
    let registration = cloudapps::lambda::function_router(register_fn, &settings, &aws)
        .await
        .unwrap();
    let (status, refused) = send(
        &registration,
        Method::POST,
        "/marketplace/tenants",
        "op",
        json!({"id": format!("{id}x"), "site_url": "https://mm.long.test"}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .contains(&format!("at most {longest} characters")),
        "{refused}"
    );
    let (status, registered) = send(
        &registration,
        Method::POST,
        "/marketplace/tenants",
        "op",
        json!({"id": id, "site_url": "https://mm.long.test"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let token = register(&host, &id, json!(PRINCIPAL)).await;
    let lambda = moto_lambda().await;
    let apps = BuiltinApps::all();
    for (app_id, version) in [
        ("hello", "v0.9.0"),
        ("hello", "v1.1.0"),
        ("notices", "v1.0.0"),
        ("marketplace", "v1.0.0"),
    ] {
        let path = format!("/marketplace/t/{id}/apps/{app_id}");
        let (status, body) = if app_id == "hello" && version == "v1.1.0" {
            let change = json!({"version": version, "expected_version": "v0.9.0", "consent": cloudapps_tests::consent(app_id, version)});
            send(
                &host,
                Method::POST,
                &format!("{path}/version"),
                &token,
                change,
            )
            .await
        } else {
            let install =
                json!({"version": version, "consent": cloudapps_tests::consent(app_id, version)});
            send(
                &host,
                Method::POST,
                &format!("{path}/install"),
                &token,
                install,
            )
            .await
        };
        assert!(status == 200 || status == 201, "{app_id} {version}: {body}");

        let manifest = host
            .handle(request(
                Method::GET,
                &format!("/t/{id}/apps/{app_id}/manifest.json"),
                HeaderMap::new(),
                Bytes::new(),
            ))
            .await;
        assert_eq!(manifest.status, 200);
        let manifest: Value = serde_json::from_slice(&manifest.body).unwrap();
        assert_eq!(manifest["version"], version);
        let app = apps.get(app_id).unwrap();
        let listed: cloudapps::protocol::apps::Manifest =
            serde_json::from_value(manifest.clone()).unwrap();
        for call_path in cloudapps_tests::call_paths(app.as_ref(), &[listed]) {
            let name = plugin_match(&call_path, &manifest)
                .unwrap_or_else(|| panic!("{app_id}: no function for {call_path}"));
            let (function, alias) = name
                .split_once(':')
                .unwrap_or_else(|| panic!("{app_id} {call_path}: {name} names no alias (hashed?)"));
            assert_eq!(alias, format!("t-{id}"), "{name}");
            // What Lambda's Invoke resolves the plugin's name to: the tenant's alias.
            let resolved = lambda
                .get_function()
                .function_name(&name)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("{name}: {}", aws_sdk_lambda::error::DisplayErrorContext(e))
                });
            let pinned = lambda
                .get_alias()
                .function_name(function)
                .name(alias)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resolved.configuration().unwrap().version(),
                pinned.function_version(),
                "{name}"
            );
            assert_eq!(
                pinned.description(),
                Some(format!("{app_id} {version}").as_str())
            );
            let statements = alias_policy(&lambda, function, alias).await;
            assert_eq!(statements.len(), 1, "{name}: {statements:?}");
            assert!(statements[0]["Principal"].to_string().contains(PRINCIPAL));

            // The function deployed under that name serves the call path, for this tenant.
            let served = cloudapps::functions::all()
                .iter()
                .find(|f| f.deployed_name(version).as_deref() == Some(function))
                .unwrap_or_else(|| panic!("{function} is no function of this host"));
            assert_eq!(served.app(), Some(app_id));
            assert!(
                call_path.starts_with(served.call_path().unwrap()),
                "{call_path} went to {}",
                served.name
            );
            if call_path == cloudapps::apps::PING_PATH {
                let router = host.function_router(served).unwrap();
                let mut context = lambda_runtime::Context::default();
                context.invoked_function_arn =
                    format!("arn:aws:lambda:us-east-1:123456789012:function:{name}");
                // The envelope as `apps/http_call_request.go` builds it: no JWT on Lambda.
                let envelope = json!({"path": call_path, "httpMethod": "POST",
                    "headers": {"Content-Type": "application/json"}, "body": "{\"path\":\"/ping\"}"});
                let answer = cloudapps::lambda::handle_event(
                    &router,
                    served.app(),
                    lambda_runtime::LambdaEvent::new(envelope, context),
                )
                .await;
                assert_eq!(answer.status_code, 200, "{name}: {}", answer.body);
            }
        }
    }
    // Moving to another version took the tenant's aliases off the old one's functions.
    for name in cloudapps::functions::invoked_functions("hello", "v0.9.0").unwrap() {
        assert!(
            alias_gone(&lambda, &name, &format!("t-{id}")).await,
            "{name}"
        );
    }
}
