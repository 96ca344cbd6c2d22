//! The Lambda adapter: both event shapes in, the same result shape out.

use std::sync::Arc;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

use super::*;
use crate::auth::{AppClaims, sign_app_jwt};
use crate::first_run::ensure_tenant_with_apps;
use crate::store::sqlite::SqliteStore;

async fn host() -> (Host, crate::store::Install) {
    let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let apps = BuiltinApps::all();
    let install = ensure_tenant_with_apps(&state, "acme", "https://mm.acme.test", &apps)
        .await
        .unwrap()
        .remove(0)
        .install;
    (Host::new(state, apps), install)
}

/// The router a function has, over `host`.
fn router(host: &Host, function: &Function) -> Router {
    host.function_router(function).expect("an HTTP function")
}

fn event(payload: Value, arn: &str) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.invoked_function_arn = arn.into();
    context.request_id = "req-1".into();
    LambdaEvent::new(payload, context)
}

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:hello-ping";

fn body(resp: &InvokeResponse) -> Value {
    serde_json::from_str(&resp.body).unwrap()
}

#[tokio::test]
async fn an_invoke_envelope_to_the_tenant_alias_is_answered_in_kind() {
    let (host, _) = host().await;
    let ping = Function::by_name("hello-ping").unwrap();
    let envelope = json!({"path":"/ping","httpMethod":"POST","headers":{"Content-Type":"application/json"},
                          "body":"{\"path\":\"/ping\",\"context\":{\"app_id\":\"\",\"mattermost_site_url\":\"\",\"app_path\":\"\",\"bot_user_id\":\"\",\"oauth2\":{}}}"});
    // Without a registered principal nothing limits who invokes the alias: the JWT is needed.
    let resp = handle_event(
        &router(&host, ping),
        ping.app(),
        event(envelope.clone(), &format!("{ARN}:t-acme")),
    )
    .await;
    assert_eq!(resp.status_code, 401, "{}", resp.body);
    host.state().set_aws_principal("acme", "123456789012").await;
    let resp = handle_event(
        &router(&host, ping),
        ping.app(),
        event(envelope.clone(), &format!("{ARN}:t-acme")),
    )
    .await;
    assert_eq!(
        serde_json::to_value(&resp).unwrap(),
        json!({"statusCode":200,"headers":{"Content-Type":"application/json"},"isBase64Encoded":false,"body":"{\"type\":\"ok\",\"text\":\"PONG\"}"})
    );
    // Without a tenant alias a bare path cannot be placed.
    let resp = handle_event(&router(&host, ping), ping.app(), event(envelope, ARN)).await;
    assert_eq!(resp.status_code, 400);
    assert!(body(&resp)["text"].as_str().unwrap().contains("t-<tenant>"));
}

#[tokio::test]
async fn an_unqualified_invoke_with_a_full_path_still_needs_the_jwt() {
    let (host, install) = host().await;
    let ping = Function::by_name("hello-ping").unwrap();
    let mut envelope = json!({"path":"/t/acme/apps/hello/ping","httpMethod":"POST","headers":{"Content-Type":"application/json"},"body":"{}"});
    assert_eq!(
        handle_event(
            &router(&host, ping),
            ping.app(),
            event(envelope.clone(), ARN)
        )
        .await
        .status_code,
        401
    );
    let jwt = sign_app_jwt(
        &AppClaims {
            exp: crate::auth::now() + 60,
            acting_user_id: String::new(),
            ..Default::default()
        },
        install.jwt_secret.expose(),
    );
    envelope["headers"]["Mattermost-App-Authorization"] = json!(format!("Bearer {jwt}"));
    assert_eq!(
        handle_event(&router(&host, ping), ping.app(), event(envelope, ARN))
            .await
            .status_code,
        200
    );
}

#[tokio::test]
async fn an_http_api_event_goes_through_the_same_pipeline() {
    let (host, install) = host().await;
    let send = Function::by_name("hello-send").unwrap();
    let jwt = sign_app_jwt(
        &AppClaims {
            exp: crate::auth::now() + 60,
            acting_user_id: "u1".into(),
            ..Default::default()
        },
        install.jwt_secret.expose(),
    );
    let call = json!({"values": {"message": "from API Gateway"}, "context": {"mattermost_site_url": "https://mm.acme.test", "acting_user": {"id": "u1", "username": "alice"}}});
    let payload = json!({
        "version": "2.0", "routeKey": "POST /t/{tenant}/apps/hello/send", "rawPath": "/t/acme/apps/hello/send", "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.us-east-1.amazonaws.com",
                    "x-forwarded-proto": "https", "mattermost-app-authorization": format!("Bearer {jwt}")},
        "requestContext": {"http": {"method": "POST", "path": "/t/acme/apps/hello/send"}, "requestId": "r1"},
        "body": base64::engine::general_purpose::STANDARD.encode(call.to_string()), "isBase64Encoded": true
    });
    let resp = handle_event(&router(&host, send), send.app(), event(payload, ARN)).await;
    assert_eq!(
        (resp.status_code, body(&resp)),
        (
            200,
            json!({"type":"ok","text":"Hello, @alice! You said: from API Gateway"})
        )
    );
}

#[tokio::test]
async fn unrecognised_and_malformed_events_are_400s() {
    let (host, _) = host().await;
    let ping = Function::by_name("hello-ping").unwrap();
    for payload in [
        json!({"Records": []}),
        json!("just a string"),
        json!({"path": "/ping", "httpMethod": "NOT A METHOD", "body": ""}),
        json!({"path": "/ping", "httpMethod": "POST", "headers": {"bad header": "x"}, "body": ""}),
        json!({"rawPath": "/x", "requestContext": {"http": {"method": 5}}}),
    ] {
        let resp = handle_event(
            &router(&host, ping),
            ping.app(),
            event(payload.clone(), &format!("{ARN}:t-acme")),
        )
        .await;
        assert_eq!(resp.status_code, 400, "{payload}");
        assert_eq!(body(&resp)["type"], "error");
    }
}

#[test]
fn tenant_aliases() {
    assert_eq!(
        tenant_of_alias(&format!("{ARN}:t-acme")),
        Some("acme".into())
    );
    assert_eq!(tenant_of_alias(ARN), None);
    assert_eq!(tenant_of_alias(&format!("{ARN}:7")), None);
    assert_eq!(tenant_of_alias(&format!("{ARN}:t-")), None);
}
