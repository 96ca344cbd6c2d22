//! The local host as a user runs it: a separate process on loopback, spoken to over HTTP in
//! every wire format, restarted on the same data directory.

use cloudapps::auth::{AppClaims, now, sign_app_jwt};
use cloudapps_tests::mattermost_standin::StandIn;
use cloudapps_tests::{LocalHost, http_client, workspace_binary};
use serde_json::{Value, json};

fn jwt_with_exp(secret: &str, exp: u64) -> String {
    format!(
        "Bearer {}",
        sign_app_jwt(
            &AppClaims {
                exp,
                acting_user_id: String::new(),
                ..Default::default()
            },
            secret
        )
    )
}

fn jwt(secret: &str, user: &str) -> String {
    format!(
        "Bearer {}",
        sign_app_jwt(
            &AppClaims {
                exp: now() + 600,
                acting_user_id: user.into(),
                ..Default::default()
            },
            secret
        )
    )
}

async fn json_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(resp.headers()["content-type"], "application/json");
    (status, resp.json().await.expect("a JSON body"))
}

fn submit(message: &str) -> Value {
    json!({"path": "/send", "values": {"message": message},
           "context": {"app_id": "", "mattermost_site_url": "http://localhost:8065", "app_path": "", "bot_user_id": "", "oauth2": {},
                       "acting_user": {"id": "u1", "username": "alice"}}})
}

#[tokio::test]
async fn serves_apps_calls_slash_commands_and_the_manifest_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start(dir.path(), &[]);
    let secret = host
        .printed("JWT secret:")
        .expect("the first start prints the JWT secret");
    let token = host
        .printed("command token:")
        .expect("and the command token");
    let root = format!("{}/t/local/apps/hello", host.url);
    assert!(
        host.setup
            .contains(&format!("manifest URL:      {root}/manifest.json")),
        "{}",
        host.setup
    );
    assert!(
        host.setup
            .contains(&format!("slash command URL: {root}/v1/command")),
        "{}",
        host.setup
    );
    let http = http_client();

    let (status, manifest) = json_of(
        http.get(format!("{root}/manifest.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, manifest["http"]["root_url"].as_str()),
        (200, Some(root.as_str()))
    );

    let resp = http
        .post(format!("{root}/send"))
        .header("content-type", "application/json")
        .header("mattermost-app-authorization", jwt(&secret, "u1"))
        .body(submit("over HTTP").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (
            200,
            json!({"type": "ok", "text": "Hello, @alice! You said: over HTTP"})
        )
    );

    let resp = http
        .post(format!("{root}/v1/command"))
        .form(&[
            ("token", token.as_str()),
            ("command", "/hello"),
            ("text", "send loud --shout"),
            ("user_id", "u1"),
            ("user_name", "alice"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (
            200,
            json!({"response_type": "ephemeral", "text": "Hello, @alice! You said: LOUD"})
        )
    );

    let healthz: Value = http
        .get(format!("{}/healthz", host.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(healthz, json!({"status": "ok"}));
    host.stop();
}

#[tokio::test]
async fn refuses_bad_input_over_http_with_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start(dir.path(), &[]);
    let secret = host.printed("JWT secret:").unwrap();
    let root = format!("{}/t/local/apps/hello", host.url);
    let http = http_client();
    let auth = jwt(&secret, "u1");
    let expired = jwt_with_exp(&secret, now() - 3600);
    let call = |url: String, content_type: &str, auth: Option<&str>, body: &[u8]| {
        let req = http
            .post(url)
            .header("content-type", content_type)
            .body(body.to_vec());
        match auth {
            Some(a) => req.header("mattermost-app-authorization", a),
            None => req,
        }
    };
    let json = "application/json";
    let cases = [
        (
            "oversize body",
            call(
                format!("{root}/send"),
                json,
                Some(&auth),
                &vec![b' '; 2 << 20],
            ),
            413,
        ),
        (
            // Authenticated, so an error CallResponse with 200, as the Apps plugin reads it.
            "malformed json",
            call(format!("{root}/send"), json, Some(&auth), b"{\"values\":"),
            200,
        ),
        (
            "wrong content type",
            call(format!("{root}/send"), "text/xml", Some(&auth), b"<x/>"),
            415,
        ),
        (
            "no jwt",
            call(format!("{root}/send"), json, None, b"{}"),
            401,
        ),
        (
            "expired jwt",
            call(format!("{root}/send"), json, Some(&expired), b"{}"),
            401,
        ),
        (
            "unknown tenant",
            call(
                format!("{}/t/nobody/apps/hello/send", host.url),
                json,
                Some(&auth),
                b"{}",
            ),
            404,
        ),
        (
            "unknown command path",
            call(
                format!("{root}/nope"),
                json,
                Some(&auth),
                br#"{"context":{"mattermost_site_url":"http://localhost:8065"}}"#,
            ),
            404,
        ),
        (
            "bad slash token",
            call(
                format!("{root}/v1/command"),
                "application/x-www-form-urlencoded",
                None,
                b"token=nope&command=%2Fhello",
            ),
            401,
        ),
    ];
    for (name, req, status) in cases {
        let (got, body) = json_of(req.send().await.unwrap()).await;
        assert_eq!(
            (got, body["type"].as_str()),
            (status, Some("error")),
            "{name}: {body}"
        );
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: {body}"
        );
    }
    // It is still serving after all of that.
    let (status, _) = json_of(
        http.get(format!("{root}/manifest.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn state_and_secrets_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalHost::start(dir.path(), &[]);
    let secret = first.printed("JWT secret:").unwrap();
    first.stop();

    let second = LocalHost::start(dir.path(), &[]);
    assert!(
        second.printed("JWT secret:").is_none(),
        "secrets are printed once: {}",
        second.setup
    );
    let resp = http_client()
        .post(format!("{}/t/local/apps/hello/send", second.url))
        .header("content-type", "application/json")
        .header("mattermost-app-authorization", jwt(&secret, "u1"))
        .body(submit("still here").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1["text"],
        "Hello, @alice! You said: still here"
    );
    second.stop();

    let third = LocalHost::start(
        dir.path(),
        &["--show-secrets", "--command-token", "hello=from-mattermost"],
    );
    assert_eq!(
        third.printed("JWT secret:").as_deref(),
        Some(secret.as_str())
    );
    let shown = third.printed("command token:").unwrap_or_default();
    assert!(
        shown.contains("only as a hash")
            && shown.contains("/marketplace/t/local/apps/hello/rotate"),
        "a hashed token cannot be shown again: {}",
        third.setup
    );
    let resp = http_client()
        .post(format!("{}/t/local/apps/hello/v1/command", third.url))
        .form(&[
            ("token", "from-mattermost"),
            ("command", "/hello"),
            ("text", "send hi"),
            ("user_id", "u1"),
            ("user_name", "alice"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1["text"],
        "Hello, @alice! You said: hi",
        "the token given with --command-token is accepted"
    );
}

#[tokio::test]
async fn a_slash_command_opens_a_dialog_in_mattermost_and_its_submission_comes_back() {
    let (standin, site) = StandIn::start("bot-token").await;
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start(
        dir.path(),
        &["--site-url", &site, "--bot-token", "hello=bot-token"],
    );
    let token = host.printed("command token:").unwrap();
    // Issued as Mattermost issues one with the command, good for 3 s.
    let trigger = standin.trigger_id("u1");
    let http = http_client();
    let resp = http
        .post(format!("{}/t/local/apps/hello/v1/command", host.url))
        .form(&[
            ("token", token.as_str()),
            ("command", "/hello"),
            ("text", "send --shout"),
            ("user_id", "u1"),
            ("user_name", "alice"),
            ("trigger_id", trigger.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (200, json!({"response_type": "ephemeral"}))
    );
    let opened = standin
        .opened
        .lock()
        .unwrap()
        .pop()
        .expect("the host opened a dialog");
    assert_eq!(opened["trigger_id"], trigger.as_str());
    assert_eq!(opened["dialog"]["elements"][0]["name"], "message");

    // The stand-in is an 11.x server, so the greeting is a dynamic select; Mattermost looks it
    // up as `app.LookupInteractiveDialog` does: a SubmitDialogRequest of type dialog_lookup,
    // its URL cleared, to the select's data_source_url, and reads `{"items": [...]}` from a 200.
    let greeting = &opened["dialog"]["elements"][2];
    assert_eq!(
        (
            &greeting["name"],
            &greeting["type"],
            &greeting["data_source"]
        ),
        (&json!("greeting"), &json!("select"), &json!("dynamic"))
    );
    let lookup = json!({"type": "dialog_lookup", "callback_id": "", "state": opened["dialog"]["state"],
                        "user_id": "u1", "channel_id": "c1", "team_id": "t1",
                        "submission": {"query": "hol", "selected_field": "greeting", "message": "", "shout": false},
                        "cancelled": false});
    let resp = http
        .post(greeting["data_source_url"].as_str().unwrap())
        .json(&lookup)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (200, json!({"items": [{"text": "Hola", "value": "Hola"}]}))
    );

    let submission = json!({"type": "dialog_submission", "callback_id": "", "state": opened["dialog"]["state"], "user_id": "u1",
                            "channel_id": "c1", "team_id": "t1", "submission": {"message": "from the dialog", "shout": false}, "cancelled": false});
    let resp = http
        .post(opened["url"].as_str().unwrap())
        .json(&submission)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await, (200, json!({})));
    let mut empty = submission.clone();
    empty["submission"]["message"] = json!("");
    let resp = http
        .post(opened["url"].as_str().unwrap())
        .json(&empty)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1["errors"]["message"],
        "Write something to say."
    );
}

#[tokio::test]
async fn runs_on_the_dynamodb_table_of_a_deployed_stack() {
    let table = format!("local-host-{}", &cloudapps::auth::generate_secret()[..8]).to_lowercase();
    cloudapps::store::dynamo::DynamoStore::new(cloudapps_tests::moto_dynamodb().await, &table)
        .create_table()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = format!("dynamodb:{table}");
    let first = LocalHost::start(dir.path(), &["--store", &store, "--tenant", "acme"]);
    assert!(
        first
            .setup
            .contains(&format!("state in DynamoDB table {table}")),
        "{}",
        first.setup
    );
    let secret = first.printed("JWT secret:").unwrap();
    first.stop();
    let second = LocalHost::start(dir.path(), &["--store", &store, "--tenant", "acme"]);
    assert!(
        second.printed("JWT secret:").is_none(),
        "the install was kept in DynamoDB"
    );
    let resp = http_client()
        .post(format!("{}/t/acme/apps/hello/send", second.url))
        .header("content-type", "application/json")
        .header("mattermost-app-authorization", jwt(&secret, "u1"))
        .body(
            json!({"values": {"message": "via DynamoDB"},
                   "context": {"mattermost_site_url": "http://localhost:8065"}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1["text"],
        "Hello, you! You said: via DynamoDB"
    );
}

#[test]
fn refuses_a_bad_store_or_tenant_with_a_clear_message() {
    for (args, expect) in [
        (
            vec!["--store", "postgres"],
            "use `sqlite` or `dynamodb:<table>`",
        ),
        (vec!["--tenant", "no spaces"], "--tenant `no spaces`"),
    ] {
        let out = std::process::Command::new(cloudapps_tests::workspace_binary("cloudapps-local"))
            .args(&args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expect), "{stderr}");
    }
}

#[tokio::test]
async fn logs_never_show_secrets_tokens_or_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start(dir.path(), &["--bot-token", "hello=bot-secret-token"]);
    let secret = host.printed("JWT secret:").unwrap();
    let token = host.printed("command token:").unwrap();
    let root = format!("{}/t/local/apps/hello", host.url);
    let http = http_client();
    let good_jwt = jwt(&secret, "u1");
    let forged = jwt("not-the-secret", "u1");
    for auth in [&good_jwt, &forged] {
        let body = submit("a private message").to_string();
        http.post(format!("{root}/send"))
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", auth)
            .body(body)
            .send()
            .await
            .unwrap();
    }
    for t in [token.as_str(), "wrong-token-value"] {
        http.post(format!("{root}/v1/command"))
            .form(&[
                ("token", t),
                ("command", "/hello"),
                ("text", "send a private message"),
            ])
            .send()
            .await
            .unwrap();
    }
    http.post(format!("{root}/send"))
        .header("content-type", "application/json")
        .header("mattermost-app-authorization", &good_jwt)
        .body("{broken")
        .send()
        .await
        .unwrap();
    host.stop();
    let logs = std::fs::read_to_string(dir.path().join("host.log")).unwrap();
    assert!(
        logs.contains(&format!("{root}/manifest.json")),
        "the URLs are logged: {logs}"
    );
    assert!(logs.contains("refused"), "refusals are logged: {logs}");
    for needle in [
        secret.as_str(),
        token.as_str(),
        "wrong-token-value",
        "bot-secret-token",
        "a private message",
        good_jwt.trim_start_matches("Bearer "),
        forged.trim_start_matches("Bearer "),
    ] {
        assert!(!logs.contains(needle), "the log shows {needle:?}:\n{logs}");
    }
}

#[tokio::test]
async fn the_marketplace_registers_a_tenant_and_creates_its_integrations_in_mattermost() {
    let (standin, site) = StandIn::start("mm-admin").await;
    let dir = tempfile::tempdir().unwrap();
    let host = LocalHost::start(dir.path(), &["--operator-token", "op-secret"]);
    assert!(
        host.printed("tenant admin token:").is_some(),
        "{}",
        host.setup
    );
    let http = http_client();
    let market = format!("{}/marketplace", host.url);

    let resp = http
        .post(format!("{market}/tenants"))
        .bearer_auth("op-secret")
        .json(&json!({"id": "acme", "site_url": site}))
        .send()
        .await
        .unwrap();
    let (status, tenant) = json_of(resp).await;
    assert_eq!(status, 201, "{tenant}");
    let admin = tenant["admin_token"].as_str().unwrap().to_owned();

    let install = json!({
        "version": "v1.0.0",
        "consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]},
        "mattermost": {"admin_token": "mm-admin", "team_id": "team0000000000000000000001"}
    });
    let resp = http
        .post(format!("{market}/t/acme/apps/hello/install"))
        .bearer_auth(&admin)
        .json(&install)
        .send()
        .await
        .unwrap();
    let (status, installed) = json_of(resp).await;
    assert_eq!(status, 201, "{installed}");
    let command = standin.commands.lock().unwrap()[0].clone();
    assert_eq!(
        (command["trigger"].as_str(), command["method"].as_str()),
        (Some("hello"), Some("P"))
    );
    assert_eq!(
        command["url"],
        format!("{}/t/acme/apps/hello/v1/command", host.url)
    );
    assert_eq!(
        installed["slash_commands"][0]["token"], command["token"],
        "the token Mattermost issued is kept"
    );
    assert_eq!(installed["slash_commands"][0]["registered"], true);
    let hook = standin.hooks.lock().unwrap()[0].clone();
    assert_eq!(
        hook["callback_urls"][0],
        format!("{}/t/acme/apps/hello/v1/outgoing", host.url)
    );

    // Mattermost's tokens now authenticate its requests.
    let resp = http
        .post(format!("{}/t/acme/apps/hello/v1/command", host.url))
        .form(&[
            ("token", command["token"].as_str().unwrap()),
            ("command", "/hello"),
            ("text", "send registered"),
            ("user_id", "u1"),
            ("user_name", "alice"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1["text"],
        "Hello, @alice! You said: registered"
    );
    let resp = http
        .post(format!("{}/t/acme/apps/hello/v1/outgoing", host.url))
        .json(&json!({"token": hook["token"], "text": "hello send via hook", "trigger_word": "hello", "user_id": "u1", "user_name": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await.1,
        json!({"text": "Hello, @alice! You said: via hook", "response_type": "comment"})
    );

    // A Mattermost that refuses leaves nothing installed.
    let resp = http
        .post(format!("{market}/tenants"))
        .bearer_auth("op-secret")
        .json(&json!({"id": "globex", "site_url": site}))
        .send()
        .await
        .unwrap();
    let globex = json_of(resp).await.1["admin_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut wrong = install.clone();
    wrong["mattermost"]["admin_token"] = json!("not-an-admin");
    let resp = http
        .post(format!("{market}/t/globex/apps/hello/install"))
        .bearer_auth(&globex)
        .json(&wrong)
        .send()
        .await
        .unwrap();
    let (status, failed) = json_of(resp).await;
    assert_eq!(
        (status, failed["code"].as_str()),
        (502, Some("dependency_failed")),
        "{failed}"
    );
    let resp = http
        .get(format!("{market}/t/globex/apps/hello"))
        .bearer_auth(&globex)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await.1["installed"], Value::Null);
}

/// How many posts the stand-in took in `channel`.
fn posted_in(standin: &StandIn, channel: &str) -> usize {
    standin
        .posts
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p["channel_id"] == channel)
        .count()
}

#[tokio::test]
async fn an_event_accepted_before_a_restart_is_delivered_after_it() {
    let (standin, site) = StandIn::start("notices-bot-token").await;
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--site-url",
        site.as_str(),
        "--bot-token",
        "notices=notices-bot-token",
    ];
    // The first run accepts events but delivers none: it stops with the event still queued.
    let host = LocalHost::start(
        dir.path(),
        &[&args[..], &["--fanout-workers", "0"]].concat(),
    );
    let admin = host
        .printed("tenant admin token:")
        .expect("the first start prints the tenant admin token");
    let resp = http_client()
        .post(format!("{}/events/t/local", host.url))
        .bearer_auth(&admin)
        .json(&json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "0000000000000000townsquare"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(resp).await;
    assert_eq!(status, 202, "{body}");
    host.stop();
    assert!(standin.posts.lock().unwrap().is_empty());

    // One consumer, so a batch is settled before the next is taken.
    let host = LocalHost::start(
        dir.path(),
        &[&args[..], &["--fanout-workers", "1"]].concat(),
    );
    standin.wait_for_post_in("0000000000000000townsquare").await;
    // A second event, sent only now, is delivered in a later batch: once its welcome is
    // posted, a repeat of the first (if any) would have been posted too.
    let resp = http_client()
        .post(format!("{}/events/t/local", host.url))
        .bearer_auth(&admin)
        .json(&json!({"kind": "user_joined_channel", "user_id": "u2", "channel_id": "000000000000000000sentinel"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await.0, 202);
    let posts = standin.wait_for_post_in("000000000000000000sentinel").await;
    assert_eq!(
        posted_in(&standin, "0000000000000000townsquare"),
        1,
        "{posts:?}"
    );
    assert_eq!(posts[0]["channel_id"], "0000000000000000townsquare");
    assert!(
        posts[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Welcome to the channel!")
    );
    host.stop();
}

#[test]
fn a_loopback_mattermost_needs_allow_private_network() {
    let dir = tempfile::tempdir().unwrap();
    // `jwt` exits instead of serving, so nothing here waits on a server.
    let refused = std::process::Command::new(workspace_binary("cloudapps-local"))
        .args(["--port", "0", "--data-dir"])
        .arg(dir.path())
        .arg("jwt")
        .env_remove("CLOUDAPPS_ALLOW_PRIVATE_NETWORK")
        .env_remove("CLOUDAPPS_SITE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("--site-url: `localhost` is a loopback name")
            && stderr.contains("run with --allow-private-network"),
        "{stderr}"
    );

    // The test harness starts it with the flag, and the banner says so.
    let host = LocalHost::start(dir.path(), &[]);
    assert!(
        host.printed("Outbound HTTP:")
            .is_some_and(|p| p.starts_with("private networks allowed")),
        "{}",
        host.setup
    );
}

#[tokio::test]
async fn extra_catalog_listings_are_served_and_the_jwt_helper_signs_for_the_running_host() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap();
    let listing = json!({
        "id": "partner", "display_name": "Partner", "description": "Hosted elsewhere.",
        "categories": ["developer"],
        "versions": [{"version": "v1.0.0", "release_notes": "-", "requested_subjects": [],
            "manifest": {"app_id": "partner", "version": "v1.0.0", "display_name": "Partner",
                "description": "-", "homepage_url": "https://partner.example/",
                "requested_permissions": [], "http": {"root_url": "https://partner.example/app"}}}]
    });
    std::fs::write(catalog.join("partner.json"), listing.to_string()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let host = LocalHost::start(&data, &["--catalog", catalog.to_str().unwrap()]);
    let admin = host.printed("tenant admin token:").unwrap();
    let (status, listed) = json_of(
        http_client()
            .get(format!("{}/marketplace/t/local/apps/partner", host.url))
            .header("authorization", format!("Bearer {admin}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["display_name"], "Partner", "{listed}");

    // `jwt` reads the install's secret from the same data directory, changes nothing, and what
    // it prints is accepted by the running host.
    let printed = std::process::Command::new(workspace_binary("cloudapps-local"))
        .args(["--allow-private-network", "--data-dir"])
        .arg(&data)
        .args(["jwt", "--user", "u1"])
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let token = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    let (status, answer) = json_of(
        http_client()
            .post(format!("{}/t/local/apps/hello/send", host.url))
            .header("content-type", "application/json")
            .header("mattermost-app-authorization", format!("Bearer {token}"))
            .body(submit("signed by the helper").to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, answer["text"].as_str()),
        (200, Some("Hello, @alice! You said: signed by the helper"))
    );
    host.stop();
}
