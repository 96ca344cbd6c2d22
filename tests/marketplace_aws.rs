//! The marketplace on its AWS adapters: per-tenant aliases through aws-sdk-lambda and install
//! state in DynamoDB, both on moto server.

use std::sync::Arc;

use bytes::Bytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::host::{Host, Inbound};
use cloudapps::marketplace::catalog;
use cloudapps::marketplace::provisioner::{LambdaProvisioner, ProvisionError, Provisioner};
use cloudapps::store::InstallState;
use cloudapps::store::dynamo::DynamoStore;
use cloudapps_tests::{deploy_app_functions_on_moto, moto_dynamodb, moto_lambda};
use http::{HeaderMap, Method};
use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &cloudapps::auth::generate_secret()[..8])
        .to_lowercase()
        .replace('_', "x")
}

#[tokio::test]
async fn each_tenant_gets_an_alias_per_app_function_pinned_to_a_published_version() {
    let names = deploy_app_functions_on_moto(&unique("stack")).await;
    let lambda = moto_lambda().await;
    let provisioner = LambdaProvisioner::new(lambda.clone(), names.clone());

    let pinned = provisioner
        .provision("acme", "hello", "v1.0.0")
        .await
        .unwrap();
    assert_eq!(
        pinned.len(),
        cloudapps::host::Function::of_app("hello").count()
    );
    for p in &pinned {
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
    // Another version re-points the same aliases.
    provisioner
        .provision("acme", "hello", "v1.1.0")
        .await
        .unwrap();
    let send = &names["hello-send"];
    let alias = lambda
        .get_alias()
        .function_name(send)
        .name("t-acme")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.description(), Some("hello v1.1.0"));
    // Tenants do not share aliases.
    provisioner
        .provision("globex", "hello", "v0.9.0")
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

#[tokio::test]
async fn an_unknown_function_is_a_clear_error() {
    let provisioner = LambdaProvisioner::new(
        moto_lambda().await,
        LambdaProvisioner::parse_names("hello-ping=x"),
    );
    let err = provisioner
        .provision("acme", "hello", "v1.0.0")
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

async fn send(host: &Host, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    let out = host
        .handle(Inbound::new(
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
