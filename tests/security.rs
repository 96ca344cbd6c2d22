//! Attacks, run as an attacker would: against the local host as a separate process over HTTP,
//! by a tenant admin, by an app holding its own install's secret, and by anyone who can reach
//! the host. Each case is one finding of the security review; each must stay refused.

use cloudapps::auth::{AppClaims, DELIVERY_ISSUER, now, sign_app_jwt};
use cloudapps_tests::mattermost_standin::StandIn;
use cloudapps_tests::{LocalHost, http_client};
use serde_json::{Value, json};

const OPERATOR: &str = "operator-secret";

fn bearer_jwt(secret: &str, claims: AppClaims) -> String {
    format!("Bearer {}", sign_app_jwt(&claims, secret))
}

fn app_jwt(secret: &str) -> String {
    bearer_jwt(
        secret,
        AppClaims {
            exp: now() + 600,
            ..Default::default()
        },
    )
}

/// Status, `Retry-After` and the JSON body (every answer must be JSON, refusals included).
async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = req.send().await.expect("the host answers");
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, resp.json().await.expect("a JSON body"))
}

/// The local host with its first tenant `local`; returns it with hello's JWT secret and the
/// tenant admin token.
fn start(dir: &std::path::Path, args: &[&str]) -> (LocalHost, String, String) {
    let host = LocalHost::start(dir, &[&["--operator-token", OPERATOR][..], args].concat());
    let secret = host.printed("JWT secret:").expect("hello's JWT secret");
    let admin = host
        .printed("tenant admin token:")
        .expect("the tenant admin token");
    (host, secret, admin)
}

#[tokio::test]
async fn a_subscription_cannot_point_back_into_the_host_nor_carry_bad_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (host, secret, _) = start(dir.path(), &["--max-subscriptions-per-install", "3"]);
    let http = http_client();
    let subscribe = format!("{}/t/local/apps/hello/v1/subscribe", host.url);
    let attempt = |body: Value| {
        http.post(&subscribe)
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", app_jwt(&secret))
            .body(body.to_string())
    };
    // Finding 1: each of these was accepted, and the first made one event loop forever.
    for body in [
        json!({"subject": "user_joined_channel", "call": {"path": "/v1/notify"}}),
        json!({"subject": "user_joined_channel", "call": {"path": "/v1/events"}}),
        json!({"subject": "user_joined_channel", "call": {"path": "/../../../events/t/local"}}),
        json!({"subject": "user_joined_channel", "channel_id": "c".repeat(5000), "call": {"path": "/x"}}),
        json!({"subject": "user_joined_channel", "channel_id": "c\n1", "call": {"path": "/x"}}),
    ] {
        let (status, _, answer) = send(attempt(body.clone())).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }
    // Finding 5: at most the operator's limit per install.
    for channel in ["c1", "c2", "c3"] {
        let body =
            json!({"subject": "user_joined_channel", "channel_id": channel, "call": "/on-join"});
        assert_eq!(send(attempt(body)).await.0, 200);
    }
    let (status, _, answer) = send(attempt(
        json!({"subject": "user_joined_channel", "channel_id": "c4", "call": "/on-join"}),
    ))
    .await;
    assert_eq!(status, 429, "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("limit of 3"));
    host.stop();
}

#[tokio::test]
async fn what_the_host_delivers_never_comes_back_in_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let (host, secret, _) = start(dir.path(), &[]);
    let notify = format!("{}/t/local/apps/hello/v1/notify", host.url);
    let notification = json!({"path": "/v1/notify", "context": {
        "subject": "user_joined_channel", "mattermost_site_url": "http://localhost:8065",
        "user": {"id": "joiner"}, "channel": {"id": "c1"}}});
    let post = |claims: AppClaims| {
        http_client()
            .post(&notify)
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", bearer_jwt(&secret, claims))
            .body(notification.to_string())
    };
    // A delivery's JWT (as fan-out signs it) forwarded to the ingest route, by whatever path.
    let delivery = AppClaims {
        exp: now() + 300,
        iss: DELIVERY_ISSUER.into(),
        ..Default::default()
    };
    let (status, _, answer) = send(post(delivery)).await;
    assert_eq!(status, 403, "{answer}");
    // The same notification as Mattermost signs it is accepted.
    let mattermost = AppClaims {
        exp: now() + 300,
        ..Default::default()
    };
    assert_eq!(send(post(mattermost)).await.0, 202);
    host.stop();
}

#[tokio::test]
async fn a_tenant_over_its_event_rate_is_told_to_wait_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _, admin) = start(
        dir.path(),
        &["--max-events-per-second", "2", "--fanout-workers", "0"],
    );
    let http = http_client();
    let event = json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "c1"});
    let ingest = |tenant: &str, token: &str| {
        http.post(format!("{}/events/t/{tenant}", host.url))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {token}"))
            .body(event.to_string())
    };
    let mut refused = None;
    for _ in 0..20 {
        let (status, retry_after, answer) = send(ingest("local", &admin)).await;
        if status == 429 {
            refused = Some((retry_after, answer));
            break;
        }
        assert_eq!(status, 202, "{answer}");
    }
    let (retry_after, answer) = refused.expect("20 events at once exceed 2 per second");
    let seconds: u64 = retry_after
        .expect("a Retry-After header")
        .parse()
        .expect("whole seconds");
    assert!(seconds >= 1, "{seconds}");
    assert_eq!(answer["code"], "too_many_requests");
    // Another tenant is not held back by the noisy one.
    let (_, registered) = register(&host, "quiet", "https://mm.quiet.example").await;
    let quiet_admin = registered["admin_token"].as_str().unwrap();
    assert_eq!(send(ingest("quiet", quiet_admin)).await.0, 202);
    host.stop();
}

#[tokio::test]
async fn ids_are_held_to_one_rule_and_tenants_cannot_be_probed() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _, admin) = start(dir.path(), &["--fanout-workers", "0"]);
    let http = http_client();
    // Finding 7: these were registered (201).
    for id in [".", "..", "a.b", "Acme", "-a", &"a".repeat(33)] {
        let (status, answer) = register(&host, id, "https://mm.example.com").await;
        assert_eq!(status, 400, "{id:?}: {answer}");
    }
    // Ids that would be posted on to Mattermost: a newline, a NUL.
    for (field, bad) in [("channel_id", "c\n1"), ("user_id", "u\u{0}1")] {
        let mut event = json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "c1"});
        event[field] = json!(bad);
        let (status, _, answer) = send(
            http.post(format!("{}/events/t/local", host.url))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {admin}"))
                .body(event.to_string()),
        )
        .await;
        assert_eq!(status, 400, "{field}: {answer}");
        assert!(answer["text"].as_str().unwrap().contains(field), "{answer}");
    }
    // Which tenants exist is not told to anyone without their token: the same answer for an
    // unknown tenant as for a wrong token.
    let probe = |tenant: &str, token: &str| {
        http.get(format!("{}/marketplace/t/{tenant}/apps", host.url))
            .header("authorization", format!("Bearer {token}"))
    };
    let (unknown, _, a) = send(probe("nobody", "nobody.guess")).await;
    let (wrong, _, b) = send(probe("local", "local.guess")).await;
    assert_eq!((unknown, wrong), (401, 401), "{a} {b}");
    assert_eq!(a["code"], b["code"]);
    let (status, _, _) = send(probe("nobody", &admin)).await;
    assert_eq!(status, 401, "a valid token of another tenant");
    let (status, _, answer) = send(
        http.post(format!("{}/events/t/nobody", host.url))
            .header("content-type", "application/json")
            .header("authorization", "Bearer nobody.guess")
            .body("{}"),
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    host.stop();
}

#[tokio::test]
async fn calls_without_the_tenants_site_are_refused_except_the_install_ping() {
    let dir = tempfile::tempdir().unwrap();
    let (host, secret, _) = start(dir.path(), &["--fanout-workers", "0"]);
    let call = |path: &str, body: Value| {
        http_client()
            .post(format!("{}/t/local/apps/hello{path}", host.url))
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", app_jwt(&secret))
            .body(body.to_string())
    };
    // Finding 6: a leaked secret used without naming a site was answered 200.
    let (status, _, answer) = send(call(
        "/send",
        json!({"path": "/send", "values": {"message": "hi"}, "context": {"acting_user": {"id": "u1"}}}),
    ))
    .await;
    assert_eq!(status, 403, "{answer}");
    let (status, _, answer) = send(call(
        "/send",
        json!({"path": "/send", "values": {"message": "hi"}, "context": {"mattermost_site_url": "https://evil.example"}}),
    ))
    .await;
    assert_eq!(status, 403, "{answer}");
    // The Apps plugin's install ping: an empty context, and it must keep answering.
    let (status, _, answer) = send(call(
        "/ping",
        json!({"path": "/ping", "context": {"app_id": "", "mattermost_site_url": ""}}),
    ))
    .await;
    assert_eq!((status, answer["text"].as_str()), (200, Some("PONG")));
    host.stop();
}

#[tokio::test]
async fn operations_on_apps_that_are_not_installed_are_404s() {
    let dir = tempfile::tempdir().unwrap();
    let (host, _, admin) = start(dir.path(), &["--fanout-workers", "0"]);
    let http = http_client();
    // Finding 8: these answered 503 and logged a store failure.
    for op in [
        "apps/nope/rotate",
        "apps/jitsi/enable",
        "apps/jitsi/disable",
    ] {
        let (status, _, answer) = send(
            http.post(format!("{}/marketplace/t/local/{op}", host.url))
                .header("authorization", format!("Bearer {admin}")),
        )
        .await;
        assert_eq!(status, 404, "{op}: {answer}");
    }
    assert!(
        !host.logs().contains("ERROR"),
        "no failure is logged for a caller's mistake"
    );
    host.stop();
}

#[tokio::test]
async fn an_apps_own_notifications_reach_that_app_alone() {
    // Finding 4: hello holds its own JWT secret; what it sends to its notification route must
    // not reach the tenant's other apps (here the notices welcome bot, which would post it on).
    let (standin, site) = StandIn::start("notices-bot-token").await;
    let dir = tempfile::tempdir().unwrap();
    let (host, secret, admin) = start(
        dir.path(),
        &[
            "--site-url",
            &site,
            "--bot-token",
            "notices=notices-bot-token",
            "--fanout-workers",
            "1",
        ],
    );
    let http = http_client();
    let forged = json!({"path": "/v1/notify", "context": {
        "subject": "user_joined_channel", "mattermost_site_url": site,
        "user": {"id": "forged"}, "channel": {"id": "0000000000000000000secret1"}}});
    let (status, _, answer) = send(
        http.post(format!("{}/t/local/apps/hello/v1/notify", host.url))
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", app_jwt(&secret))
            .body(forged.to_string()),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    // With one consumer, a batch is settled before the next is taken: the admin's first event
    // (sent after the forged one) is in the forged one's batch or a later one, and the second
    // is sent only once the first was posted, so by its post every earlier event had its turn.
    for channel in ["000000000000000000000open1", "000000000000000000000open2"] {
        let (status, _, answer) = send(
            http.post(format!("{}/events/t/local", host.url))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {admin}"))
                .body(
                    json!({"kind": "user_joined_channel", "user_id": "real", "channel_id": channel})
                        .to_string(),
                ),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        standin.wait_for_post_in(channel).await;
    }
    let posted = standin.posts.lock().unwrap().clone();
    let channels: Vec<&str> = posted
        .iter()
        .map(|p| p["channel_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        channels,
        ["000000000000000000000open1", "000000000000000000000open2"],
        "{posted:?}"
    );
    host.stop();
}

/// A listener that records every request that reaches it (the "internal" target of an SSRF).
async fn internal_target() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::HeaderMap;
    let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            seen.lock().unwrap().push(auth);
            "internal-admin-answer"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A "Mattermost" that answers everything with a redirect to `target`.
async fn redirecting_mattermost(target: &str) -> String {
    let location = format!("{target}/internal-admin");
    let app = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn register(host: &LocalHost, id: &str, site_url: &str) -> (u16, Value) {
    let (status, _, body) = send(
        http_client()
            .post(format!("{}/marketplace/tenants", host.url))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {OPERATOR}"))
            .body(json!({"id": id, "site_url": site_url}).to_string()),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn a_tenants_mattermost_cannot_redirect_the_host_and_its_admin_token_elsewhere() {
    // Finding 2: the install's POST /api/v4/commands followed a 307 to an internal address with
    // the Mattermost admin token, and the target's answer came back in the 502's text. Even
    // with private networks allowed (the local host here), redirects are never followed.
    let (target, hits) = internal_target().await;
    let site = redirecting_mattermost(&target).await;
    let dir = tempfile::tempdir().unwrap();
    let (host, _, _) = start(dir.path(), &["--fanout-workers", "0"]);
    let (status, registered) = register(&host, "victim", &site).await;
    assert_eq!(status, 201, "{registered}");
    let admin = registered["admin_token"].as_str().unwrap();
    let (status, _, answer) = send(
        http_client()
            .post(format!("{}/marketplace/t/victim/apps/hello/install", host.url))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {admin}"))
            .body(
                json!({
                    "consent": {"permissions": ["act_as_bot", "act_as_user", "user_joined_channel_notification"],
                                "locations": ["/command", "/post_menu"]},
                    "mattermost": {"admin_token": "mm-admin-secret", "team_id": "team1"}
                })
                .to_string(),
            ),
    )
    .await;
    assert_eq!(status, 502, "{answer}");
    let text = answer["text"].as_str().unwrap();
    assert!(
        !text.contains("internal-admin") && !text.contains("mm-admin-secret"),
        "{text}"
    );
    assert!(
        hits.lock().unwrap().is_empty(),
        "the redirect target was called: {:?}",
        hits.lock().unwrap()
    );
    host.stop();
}

#[tokio::test]
async fn as_deployed_no_tenant_can_name_a_private_or_metadata_address() {
    let (target, hits) = internal_target().await;
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start_public_only(dir.path(), &["--operator-token", OPERATOR]);
    for site in [
        "http://169.254.169.254",
        "http://[fd00:ec2::254]",
        "http://10.0.0.1:8065",
        "http://localhost:8065",
        "http://[::ffff:127.0.0.1]:8065",
        target.as_str(),
        "http://user:pass@mm.example.com",
    ] {
        let (status, answer) = register(&host, "probe", site).await;
        assert_eq!(status, 400, "{site}: {answer}");
    }
    assert!(hits.lock().unwrap().is_empty());
    host.stop();
}
