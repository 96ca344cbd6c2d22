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
use cloudapps::provisioners::LambdaProvisioner;
use cloudapps::store::dynamo::DynamoStore;
use cloudapps::store::{InstallState, Tenant};
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
    let names = deploy_app_functions_on_moto(&unique("stack")).await;
    let lambda = moto_lambda().await;
    let provisioner = LambdaProvisioner::new(lambda.clone(), names.clone());

    let pinned = provisioner
        .provision(&tenant("acme", None), "hello", "v1.0.0")
        .await
        .unwrap();
    assert_eq!(
        pinned.len(),
        cloudapps::functions::Function::of_app("hello").count()
    );
    for p in &pinned {
        version_number(&p.function_version);
        let alias = lambda
            .get_alias()
            .function_name(&p.function)
            .name("t-acme")
            .send()
            .await
            .unwrap();
        assert_eq!(alias.function_version(), Some(p.function_version.as_str()));
        assert_eq!(alias.description(), Some("hello v1.0.0"));
    }
    // A deploy changes every function (PublishVersion publishes only a changed one); another
    // version then re-points the same aliases at the newly published versions.
    for p in &pinned {
        lambda
            .update_function_configuration()
            .function_name(&p.function)
            .description("the next deploy")
            .send()
            .await
            .unwrap();
    }
    let upgraded = provisioner
        .provision(&tenant("acme", None), "hello", "v1.1.0")
        .await
        .unwrap();
    for (old, new) in pinned.iter().zip(&upgraded) {
        assert_eq!(old.function, new.function);
        assert!(
            version_number(&new.function_version) > version_number(&old.function_version),
            "{} stayed on {}",
            new.function,
            old.function_version
        );
        let alias = lambda
            .get_alias()
            .function_name(&new.function)
            .name("t-acme")
            .send()
            .await
            .unwrap();
        assert_eq!(
            alias.function_version(),
            Some(new.function_version.as_str())
        );
        assert_eq!(alias.description(), Some("hello v1.1.0"));
    }
    let send = &names["hello-send"];
    // Tenants do not share aliases.
    provisioner
        .provision(&tenant("globex", None), "hello", "v0.9.0")
        .await
        .unwrap();
    let globex = lambda
        .get_alias()
        .function_name(send)
        .name("t-globex")
        .send()
        .await
        .unwrap();
    assert_eq!(globex.description(), Some("hello v0.9.0"));

    provisioner.deprovision("acme", "hello").await.unwrap();
    let gone = lambda
        .get_alias()
        .function_name(send)
        .name("t-acme")
        .send()
        .await;
    assert!(
        gone.unwrap_err()
            .into_service_error()
            .is_resource_not_found_exception()
    );
    provisioner.deprovision("acme", "hello").await.unwrap();
    assert!(
        lambda
            .get_alias()
            .function_name(send)
            .name("t-globex")
            .send()
            .await
            .is_ok(),
        "other tenants keep theirs"
    );
}

/// A Lambda endpoint that refuses everything as AWS does a caller without the permission.
async fn access_denied_lambda() -> aws_sdk_lambda::Client {
    let app = axum::Router::new().fallback(|| async {
        (
            http::StatusCode::FORBIDDEN,
            [("x-amzn-errortype", "AccessDeniedException")],
            r#"{"Type":"User","Message":"not authorized to perform this operation"}"#,
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
    let all = |name: &str| {
        cloudapps::functions::Function::of_app("hello")
            .map(|f| (f.name.to_owned(), name.to_owned()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // Denied: the alias may well still be there and invocable.
    let denied = LambdaProvisioner::new(access_denied_lambda().await, all("x-hello"));
    let err = denied.deprovision("acme", "hello").await.unwrap_err();
    assert!(
        matches!(err, ProvisionError::Backend(ref e) if e.contains("AccessDenied")),
        "{err}"
    );
    // moto answers a name it cannot route with an error that is not ResourceNotFound.
    let invalid = LambdaProvisioner::new(moto_lambda().await, all("not a function name!"));
    let err = invalid.deprovision("acme", "hello").await.unwrap_err();
    assert!(matches!(err, ProvisionError::Backend(_)), "{err}");
    // An absent function or alias has nothing left to remove.
    let absent = LambdaProvisioner::new(moto_lambda().await, all(&unique("absent")));
    absent.deprovision("acme", "hello").await.unwrap();
}

#[tokio::test]
async fn an_unknown_function_is_a_clear_error() {
    let provisioner = LambdaProvisioner::new(
        moto_lambda().await,
        LambdaProvisioner::parse_names("hello-ping=x"),
    );
    let err = provisioner
        .provision(&tenant("acme", None), "hello", "v1.0.0")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProvisionError::UnknownFunction(ref f) if f == "hello-manifest"),
        "{err}"
    );
    assert_eq!(
        LambdaProvisioner::parse_names(" a=b ,bad, c = d ,e=").len(),
        2
    );
}

async fn aws_host(stack: &str) -> Host {
    let table = unique("market");
    let store = DynamoStore::new(moto_dynamodb().await, &table);
    store.create_table().await.unwrap();
    let state = InstallState::new(Arc::new(store));
    state
        .publish_catalog(catalog::GENERATION, &catalog::shipped().unwrap())
        .await
        .unwrap();
    let names = deploy_app_functions_on_moto(stack).await;
    Host::new(state, BuiltinApps::all())
        .with_public_url(Some("https://api.example".into()))
        .with_operator_token_hash(Some(cloudapps::auth::hash_token("op")))
        .with_provisioner(Arc::new(LambdaProvisioner::new(moto_lambda().await, names)))
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

#[tokio::test]
async fn install_upgrade_and_uninstall_on_dynamodb_and_lambda() {
    let stack = unique("stack");
    let host = Arc::new(aws_host(&stack).await);
    let (status, tenant) = send(
        &host,
        Method::POST,
        "/marketplace/tenants",
        "op",
        json!({"id": "acme", "site_url": "https://mm.acme.test"}),
    )
    .await;
    assert_eq!(status, 201);
    let token = tenant["admin_token"].as_str().unwrap().to_owned();
    let consent = json!({"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]});

    // Concurrent installs: exactly one wins, on DynamoDB's conditional writes.
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (host, token) = (host.clone(), token.clone());
            let body = json!({"version": "v1.0.0", "consent": consent});
            tokio::spawn(async move {
                send(
                    &host,
                    Method::POST,
                    "/marketplace/t/acme/apps/hello/install",
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
    let send_fn = format!("{stack}-hello-send");
    let alias = lambda
        .get_alias()
        .function_name(&send_fn)
        .name("t-acme")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.description(), Some("hello v1.0.0"));

    let up = json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": {"permissions": ["act_as_user", "user_joined_channel_notification"]}});
    let (status, changed) = send(
        &host,
        Method::POST,
        "/marketplace/t/acme/apps/hello/version",
        &token,
        up.clone(),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        lambda
            .get_alias()
            .function_name(&send_fn)
            .name("t-acme")
            .send()
            .await
            .unwrap()
            .description(),
        Some("hello v1.1.0")
    );
    assert_eq!(
        send(
            &host,
            Method::POST,
            "/marketplace/t/acme/apps/hello/version",
            &token,
            up
        )
        .await
        .0,
        409,
        "stale"
    );

    let (status, gone) = send(
        &host,
        Method::DELETE,
        "/marketplace/t/acme/apps/hello",
        &token,
        json!({}),
    )
    .await;
    assert_eq!((status, gone["uninstalled"].as_bool()), (200, Some(true)));
    assert!(
        lambda
            .get_alias()
            .function_name(&send_fn)
            .name("t-acme")
            .send()
            .await
            .is_err()
    );
}

/// The statements of the resource policy on a tenant's alias; none when it has no policy.
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
            policy["Statement"].as_array().unwrap().clone()
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
    const PRINCIPAL: &str = "arn:aws:iam::210987654321:role/acme-mattermost";
    let names = deploy_app_functions_on_moto(&unique("stack")).await;
    let lambda = moto_lambda().await;
    let provisioner = LambdaProvisioner::new(lambda.clone(), names.clone());
    provisioner
        .provision(&tenant("acme", Some(PRINCIPAL)), "hello", "v1.0.0")
        .await
        .unwrap();
    for f in cloudapps::functions::Function::of_app("hello") {
        let statements = alias_policy(&lambda, &names[f.name], "t-acme").await;
        assert_eq!(statements.len(), 1, "{}: {statements:?}", f.name);
        let s = &statements[0];
        assert_eq!(s["Sid"], "tenant-mattermost-invoke");
        assert_eq!(s["Action"], "lambda:InvokeFunction");
        assert_eq!(s["Effect"], "Allow");
        assert!(
            serde_json::to_string(&s["Principal"])
                .unwrap()
                .contains(PRINCIPAL),
            "{s}"
        );
        assert!(s["Resource"].as_str().unwrap().ends_with(":t-acme"), "{s}");
    }
    // Provisioning again (an upgrade) leaves one statement, naming the same principal.
    provisioner
        .provision(&tenant("acme", Some(PRINCIPAL)), "hello", "v1.1.0")
        .await
        .unwrap();
    assert_eq!(
        alias_policy(&lambda, &names["hello-send"], "t-acme")
            .await
            .len(),
        1
    );
    provisioner.deprovision("acme", "hello").await.unwrap();

    // Without a registered principal the alias gets no policy: nobody outside the account.
    let names = deploy_app_functions_on_moto(&unique("stack")).await;
    let provisioner = LambdaProvisioner::new(lambda.clone(), names.clone());
    provisioner
        .provision(&tenant("globex", None), "hello", "v1.0.0")
        .await
        .unwrap();
    assert_eq!(
        alias_policy(&lambda, &names["hello-send"], "t-globex").await,
        Vec::<Value>::new()
    );
}

fn alias_invoke(tenant: &str, jwt: Option<&str>) -> lambda_runtime::LambdaEvent<Value> {
    let mut envelope = json!({"path": "/ping", "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"}, "body": "{}"});
    if let Some(jwt) = jwt {
        envelope["headers"]["Mattermost-App-Authorization"] = json!(format!("Bearer {jwt}"));
    }
    let mut context = lambda_runtime::Context::default();
    context.invoked_function_arn =
        format!("arn:aws:lambda:us-east-1:123456789012:function:x-hello-ping:t-{tenant}");
    lambda_runtime::LambdaEvent::new(envelope, context)
}

#[tokio::test]
async fn an_alias_invoke_without_a_jwt_is_trusted_only_for_a_tenant_with_a_principal() {
    let stack = unique("stack");
    let host = aws_host(&stack).await;
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

    // globex first: moto keeps one policy per function, shared by its versions and aliases,
    // so provisioning globex (which clears its aliases' statement) would clear acme's too.
    for (id, principal) in [("globex", Value::Null), ("acme", json!("210987654321"))] {
        let (status, registered) = send(
            &host,
            Method::POST,
            "/marketplace/tenants",
            "op",
            json!({"id": id, "site_url": format!("https://mm.{id}.test"), "aws_principal": principal}),
        )
        .await;
        assert_eq!(status, 201, "{registered}");
        let token = registered["admin_token"].as_str().unwrap();
        let (status, installed) = send(
            &host,
            Method::POST,
            &format!("/marketplace/t/{id}/apps/hello/install"),
            token,
            json!({"version": "v1.0.0", "consent": consent}),
        )
        .await;
        assert_eq!(status, 201, "{installed}");
    }
    let lambda = moto_lambda().await;
    let ping = format!("{stack}-hello-ping");
    let statements = alias_policy(&lambda, &ping, "t-acme").await;
    assert_eq!(statements.len(), 1, "{statements:?}");

    let function = cloudapps::functions::Function::by_name("hello-ping").unwrap();
    let host = host.function_router(function).unwrap();
    let accepted =
        cloudapps::lambda::handle_event(&host, function.app(), alias_invoke("acme", None)).await;
    assert_eq!(accepted.status_code, 200, "{}", accepted.body);
    let refused =
        cloudapps::lambda::handle_event(&host, function.app(), alias_invoke("globex", None)).await;
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
        let refused =
            cloudapps::lambda::handle_event(&host, function.app(), alias_invoke("acme", Some(jwt)))
                .await;
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

    let settings = cloudapps::lambda::Settings {
        table,
        events_queue_url: None,
        dead_letter_queue_url: None,
        public_url: None,
        functions: None,
        operator_token_sha256: Some(cloudapps::auth::hash_token("op")),
        limits: cloudapps::limits::Limits::default(),
        private_networks: cloudapps::outbound::PrivateNetworks::Refused,
    };
    let aws = cloudapps::lambda::AwsClients {
        dynamodb: moto_dynamodb().await,
        sqs: cloudapps_tests::moto_sqs().await,
        lambda: moto_lambda().await,
    };
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
