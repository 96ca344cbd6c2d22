//! The pipeline in-process, on the SQLite adapter: every wire format in, every error out.

use std::sync::Arc;

use async_trait::async_trait;
use http::header::HOST;
use serde_json::{Value, json};

use http::{HeaderMap, Method};

use super::apps::{DIALOG_TTL_SECONDS, action_integration};
use super::*;
use crate::auth;
use crate::auth::{AppClaims, sign_app_jwt};
use crate::first_run::ensure_tenant_with_apps;
use crate::mattermost::recording::RecordingMattermost;
use crate::paths::AppRoute;
use crate::store::Install;
use crate::store::sqlite::SqliteStore;

const SITE: &str = "https://mm.acme.test";

/// A request as a test writes it, made into an `http::Request` when sent.
#[derive(Debug, Clone)]
struct TestRequest {
    method: Method,
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
    /// As the Lambda adapter marks a direct invoke of a tenant's alias.
    invoked_for_tenant: Option<String>,
}

impl TestRequest {
    fn new(method: Method, path: &str, headers: http::HeaderMap, body: Bytes) -> Self {
        TestRequest {
            method,
            path: path.to_owned(),
            headers,
            body,
            invoked_for_tenant: None,
        }
    }

    fn into_request(self) -> http::Request<Body> {
        let mut req = testing::request(self.method, &self.path, self.headers, self.body);
        if let Some(t) = self.invoked_for_tenant {
            req.extensions_mut().insert(InvokedForTenant(t));
        }
        req
    }
}

struct Fixture {
    host: Host,
    install: Install,
    /// The install's command token, in the clear only in the install's answer.
    command_token: String,
}

async fn fixture() -> Fixture {
    let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let apps = BuiltinApps::all();
    let mut installs = ensure_tenant_with_apps(&state, "acme", SITE, &apps)
        .await
        .unwrap();
    ensure_tenant_with_apps(&state, "globex", "https://mm.globex.test", &apps)
        .await
        .unwrap();
    let hello = installs.remove(0);
    Fixture {
        host: Host::new(state, apps),
        command_token: hello.installed.unwrap().command_token,
        install: hello.install,
    }
}

/// The fixture with a recording Mattermost, and a bot token for hello to reach it with.
async fn fixture_with_mattermost() -> (Fixture, Arc<RecordingMattermost>) {
    let f = fixture().await;
    let mm = Arc::new(RecordingMattermost::default());
    let host = f.host.clone().with_mattermost(mm.clone());
    host.state()
        .modify_install::<crate::store::StoreError>("acme", "hello", |i| {
            i.bot_access_token = crate::store::Secret::new("bot-token");
            Ok(())
        })
        .await
        .unwrap();
    (Fixture { host, ..f }, mm)
}

impl Fixture {
    fn jwt(&self, user: &str) -> String {
        let claims = AppClaims {
            exp: auth::now() + 900,
            acting_user_id: user.into(),
            ..Default::default()
        };
        format!(
            "Bearer {}",
            sign_app_jwt(&claims, self.install.jwt_secret.expose())
        )
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> TestRequest {
        let mut map = HeaderMap::new();
        map.insert(HOST, "cloudapps.example".parse().unwrap());
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        TestRequest::new(method, path, map, body.into())
    }

    /// An Apps call as Mattermost sends it: the site URL is in every call's context.
    async fn call(&self, path: &str, mut body: Value) -> (u16, Value) {
        if let Some(call) = body.as_object_mut() {
            let context = call.entry("context").or_insert_with(|| json!({}));
            if let Some(context) = context.as_object_mut() {
                context
                    .entry("mattermost_site_url")
                    .or_insert_with(|| SITE.into());
            }
        }
        self.call_as_is(path, body).await
    }

    async fn call_as_is(&self, path: &str, body: Value) -> (u16, Value) {
        let auth = self.jwt("u1");
        let req = self.request(
            Method::POST,
            &format!("/t/acme/apps/hello{path}"),
            &[
                ("content-type", "application/json"),
                (auth::APP_AUTH_HEADER, &auth),
            ],
            body.to_string(),
        );
        send(&self.host, req).await
    }

    async fn slash(&self, text: &str) -> (u16, Value) {
        let form = serde_html_form::to_string([
            ("token", self.command_token.as_str()),
            ("command", "/hello"),
            ("text", text),
            ("user_id", "u1"),
            ("user_name", "alice"),
            ("channel_id", "c1"),
            ("trigger_id", "trig-1"),
        ])
        .unwrap();
        let req = self.request(
            Method::POST,
            "/t/acme/apps/hello/v1/command",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        );
        send(&self.host, req).await
    }
}

async fn send(host: &Host, req: TestRequest) -> (u16, Value) {
    send_to(&host.router(), req).await
}

async fn send_to(router: &Router, req: TestRequest) -> (u16, Value) {
    let out = testing::send(router, req.into_request()).await;
    let body: Value = serde_json::from_slice(&out.body)
        .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&out.body)));
    (out.status, body)
}

fn submit(message: &str) -> Value {
    json!({"path": "/send", "values": {"message": message},
           "context": {"app_id": "", "mattermost_site_url": SITE, "app_path": "", "bot_user_id": "", "oauth2": {},
                       "acting_user": {"id": "u1", "username": "alice"}}})
}

#[tokio::test]
async fn an_apps_call_reaches_the_handler_and_answers_as_a_call_response() {
    let f = fixture().await;
    assert_eq!(
        f.call("/send", submit("hi")).await,
        (
            200,
            json!({"type": "ok", "text": "Hello, @alice! You said: hi"})
        )
    );
    let (status, form) = f.call("/send-form", json!({"context": {}})).await;
    assert_eq!((status, form["type"].as_str()), (200, Some("form")));
    assert_eq!(form["form"]["submit"]["path"], "/send");
    let (_, errors) = f.call("/send", submit("")).await;
    assert_eq!(errors["type"], "error");
    assert!(errors["data"]["errors"]["message"].is_string());
}

#[tokio::test]
async fn ping_and_bindings_are_answered_by_the_host() {
    let f = fixture().await;
    assert_eq!(
        f.call("/ping", json!({"path": "/ping"})).await,
        (200, json!({"type": "ok", "text": "PONG"}))
    );
    // The Apps plugin pings on install with an empty context, and that must keep answering.
    assert_eq!(
        f.call_as_is("/ping", json!({"path": "/ping", "context": {"app_id": ""}}))
            .await,
        (200, json!({"type": "ok", "text": "PONG"}))
    );
    let (_, bindings) = f.call("/bindings", json!({})).await;
    let locations: Vec<&str> = bindings["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["/command", "/post_menu"]);
}

#[tokio::test]
async fn bindings_outside_the_grant_are_dropped() {
    let f = fixture().await;
    f.host
        .state()
        .modify_install::<crate::store::StoreError>("acme", "hello", |i| {
            i.granted_locations = vec!["/post_menu".into()];
            Ok(())
        })
        .await
        .unwrap();
    let (_, bindings) = f.call("/bindings", json!({})).await;
    assert_eq!(bindings["data"].as_array().unwrap().len(), 1);
    assert_eq!(bindings["data"][0]["location"], "/post_menu");
    let (_, answer) = f.slash("send hi").await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("no `/hello` command"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_manifest_points_mattermost_at_this_tenants_routes() {
    let f = fixture().await;
    let (status, m) = send(
        &f.host,
        f.request(Method::GET, "/t/acme/apps/hello/manifest.json", &[], ""),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(m["app_id"], "hello");
    assert_eq!(
        m["http"],
        json!({"root_url": "http://cloudapps.example/t/acme/apps/hello", "use_jwt": true})
    );
    let paths: Vec<&str> = m["aws_lambda"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/ping",
            "/bindings",
            "/send-form",
            "/send",
            "/greetings",
            "/installed",
            "/version-changed",
            "/uninstalling"
        ]
    );
    let https = f.request(
        Method::GET,
        "/t/acme/apps/hello/manifest.json",
        &[("x-forwarded-proto", "https")],
        "",
    );
    assert_eq!(
        send(&f.host, https).await.1["http"]["root_url"],
        "https://cloudapps.example/t/acme/apps/hello"
    );
    let host = Host {
        public_url: Some("https://apps.acme.test".into()),
        ..f.host.clone()
    };
    let (_, m) = send(
        &host,
        f.request(Method::GET, "/t/acme/apps/hello/manifest.json", &[], ""),
    )
    .await;
    assert_eq!(
        m["http"]["root_url"],
        "https://apps.acme.test/t/acme/apps/hello"
    );
}

#[tokio::test]
async fn a_slash_command_becomes_the_same_command_and_answers_slack_style() {
    let f = fixture().await;
    assert_eq!(
        f.slash("send hi there --shout").await,
        (
            200,
            json!({"response_type": "ephemeral", "text": "Hello, @alice! You said: HI THERE"})
        )
    );
    assert_eq!(
        f.slash(r#"send --json '{"message":"encoded"}'"#).await.1["text"],
        "Hello, @alice! You said: encoded"
    );
    let (status, help) = f.slash("").await;
    assert_eq!(status, 200);
    assert!(help["text"].as_str().unwrap().contains("/hello send"));
    // No Mattermost client configured: the form is described as text.
    let (_, needs_input) = f.slash("send").await;
    assert!(
        needs_input["text"].as_str().unwrap().contains("--message"),
        "{needs_input}"
    );
}

#[tokio::test]
async fn the_command_token_also_works_as_an_authorization_header() {
    let f = fixture().await;
    let auth = format!("Token {}", f.command_token.as_str());
    let form = "command=%2Fhello&text=send+hi&user_id=u1&user_name=alice";
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/command",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth),
        ],
        form,
    );
    assert_eq!(
        send(&f.host, req).await.1["text"],
        "Hello, @alice! You said: hi"
    );
    let get = f.request(
        Method::GET,
        &format!(
            "/t/acme/apps/hello/v1/command?{form}&token={}",
            f.command_token.as_str()
        ),
        &[],
        "",
    );
    assert_eq!(
        send(&f.host, get).await.1["text"],
        "Hello, @alice! You said: hi"
    );
}

#[tokio::test]
async fn a_form_opens_as_a_dialog_whose_submission_reaches_the_submit_handler() {
    let (f, mm) = fixture_with_mattermost().await;
    let (_, answer) = f.slash("send --shout").await;
    assert_eq!(
        answer,
        json!({"response_type": "ephemeral"}),
        "nothing to show: the dialog opened"
    );
    let (site, token, open) = mm.opened.lock().unwrap().pop().unwrap();
    assert_eq!(
        (site.as_str(), token.as_str(), open.trigger_id.as_str()),
        (SITE, "bot-token", "trig-1")
    );
    assert_eq!(
        open.url,
        "http://cloudapps.example/t/acme/apps/hello/v1/dialog"
    );
    assert_eq!(
        open.dialog.elements[1].default, "true",
        "what was typed is pre-filled"
    );
    // The dialog may be submitted for an hour, by the user it was opened for.
    let state = auth::verify_call_token(&open.dialog.state, f.install.jwt_secret.expose()).unwrap();
    let exp = state.exp.expect("dialogs expire");
    assert!(
        (auth::now() + DIALOG_TTL_SECONDS - 5..=auth::now() + DIALOG_TTL_SECONDS).contains(&exp),
        "expires in {DIALOG_TTL_SECONDS} s: {exp}"
    );
    assert_eq!(DIALOG_TTL_SECONDS, 3600);
    assert_eq!(state.user_id, "u1");

    let submission = |user: &str, message: &str| {
        json!({"type": "dialog_submission", "callback_id": "", "state": open.dialog.state, "user_id": user,
               "channel_id": "c1", "team_id": "t1", "submission": {"message": message, "shout": true}, "cancelled": false})
    };
    let post = |body: Value| {
        f.request(
            Method::POST,
            "/t/acme/apps/hello/v1/dialog",
            &[("content-type", "application/json")],
            body.to_string(),
        )
    };
    assert_eq!(
        send(&f.host, post(submission("u1", "hey"))).await,
        (200, json!({}))
    );
    // A dialog's answer has no place for text: the user sees it as the bot's ephemeral post.
    let (site, token, user, shown) = mm.ephemeral.lock().unwrap().pop().unwrap();
    assert_eq!(
        (site.as_str(), token.as_str(), user.as_str()),
        (SITE, "bot-token", "u1")
    );
    assert_eq!(
        (shown.channel_id.as_str(), shown.message.as_str()),
        ("c1", "Hello, you! You said: HEY")
    );
    assert_eq!(
        send(&f.host, post(submission("u1", ""))).await,
        (
            200,
            json!({"error": "The message is missing.", "errors": {"message": "Write something to say."}})
        )
    );
    let (status, body) = send(&f.host, post(submission("u2", "hey"))).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let mut forged = submission("u1", "hey");
    forged["state"] = json!("not-a-token");
    assert_eq!(send(&f.host, post(forged)).await.0, 401);
    let mut cancelled = submission("u1", "");
    cancelled["cancelled"] = json!(true);
    assert_eq!(send(&f.host, post(cancelled)).await, (200, json!({})));
}

/// A form's dynamic select becomes a dialog select that Mattermost (11.0 on) looks up through
/// the dialog route, with the body `app.LookupInteractiveDialog` sends; older servers, or one
/// whose version cannot be told, get a text field.
#[tokio::test]
async fn a_dynamic_select_is_looked_up_where_the_server_can_and_typed_where_it_cannot() {
    use crate::mattermost::ServerVersion;
    let (f, mm) = fixture_with_mattermost().await;
    let open = |version: Option<&str>| {
        *mm.version.lock().unwrap() = version.and_then(ServerVersion::parse);
        let f = &f;
        let mm = mm.clone();
        async move {
            f.slash("send").await;
            let (_, _, open) = mm.opened.lock().unwrap().pop().expect("a dialog opened");
            open.dialog
        }
    };
    let greeting = |dialog: &crate::protocol::classic::Dialog| {
        dialog
            .elements
            .iter()
            .find(|e| e.name == "greeting")
            .cloned()
            .expect("the greeting field")
    };
    for old in [None, Some("10.11.3.1.abc.false")] {
        let e = greeting(&open(old).await);
        assert_eq!(
            (
                e.kind.as_str(),
                e.data_source.as_str(),
                e.data_source_url.as_str()
            ),
            ("text", "", ""),
            "{old:?}"
        );
    }
    let dialog = open(Some("11.0.0.17000.abc.true")).await;
    let e = greeting(&dialog);
    assert_eq!(
        (e.kind.as_str(), e.data_source.as_str()),
        ("select", "dynamic")
    );
    let url = url::Url::parse(&e.data_source_url).unwrap();
    assert_eq!(url.path(), "/t/acme/apps/hello/v1/dialog");
    let path_and_query = format!("{}?{}", url.path(), url.query().unwrap());

    // As the server sends it: a SubmitDialogRequest of type dialog_lookup, its URL cleared.
    let lookup = |user: &str, query: &str, target: &str| {
        let body = json!({"type": "dialog_lookup", "callback_id": "", "state": "the dialog's state",
                          "user_id": user, "channel_id": "c1", "team_id": "t1",
                          "submission": {"query": query, "selected_field": "greeting", "message": "hi", "shout": false},
                          "cancelled": false});
        f.request(
            Method::POST,
            target,
            &[("content-type", "application/json")],
            body.to_string(),
        )
    };
    let (status, answer) = send(&f.host, lookup("u1", "LL", &path_and_query)).await;
    assert_eq!(status, 200);
    let decoded: crate::protocol::classic::LookupDialogResponse =
        serde_json::from_value(answer).unwrap();
    let values: Vec<&str> = decoded.items.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(
        values,
        ["Hello", "Hallo"],
        "those containing what was typed"
    );
    assert_eq!(decoded.items[0].text, "Hello");

    // The dialog's own token does not look up, and the lookup's does not submit.
    let submit_token = format!("/t/acme/apps/hello/v1/dialog?lookup={}", dialog.state);
    assert_eq!(send(&f.host, lookup("u1", "", &submit_token)).await.0, 401);
    let lookup_token = url
        .query_pairs()
        .find(|(k, _)| k == "lookup")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let submission = json!({"type": "dialog_submission", "state": lookup_token, "user_id": "u1",
                            "channel_id": "c1", "submission": {"message": "hi"}});
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/dialog",
        &[("content-type", "application/json")],
        submission.to_string(),
    );
    assert_eq!(send(&f.host, req).await.0, 401);
    let (status, body) = send(&f.host, lookup("u2", "", &path_and_query)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "another user"
    );
    for target in [
        "/t/acme/apps/hello/v1/dialog",
        "/t/acme/apps/hello/v1/dialog?lookup=forged",
    ] {
        assert_eq!(
            send(&f.host, lookup("u1", "", target)).await.0,
            401,
            "{target}"
        );
    }
}

#[tokio::test]
async fn a_post_action_click_reaches_its_handler() {
    let f = fixture().await;
    let integration = action_integration("http://cloudapps.example", &f.install, "/send", None);
    assert_eq!(
        integration.url,
        "http://cloudapps.example/t/acme/apps/hello/v1/action"
    );
    let mut context = integration.context.clone();
    context.insert("selected_option".into(), "ignored".into());
    let click = json!({"user_id": "u1", "user_name": "alice", "channel_id": "c1", "post_id": "p1", "trigger_id": "t", "context": context});
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/action",
        &[("content-type", "application/json")],
        click.to_string(),
    );
    // The click carries no message: the handler's field error comes back as ephemeral text.
    let (status, body) = send(&f.host, req).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["ephemeral_text"],
        "The message is missing.\n- `message`: Write something to say."
    );
    let unsigned = json!({"user_id": "u1", "context": {}});
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/action",
        &[("content-type", "application/json")],
        unsigned.to_string(),
    );
    assert_eq!(send(&f.host, req).await.0, 401);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_that_says_what_is_wrong() {
    let f = fixture().await;
    let jwt = f.jwt("u1");
    let json_ct = ("content-type", "application/json");
    let auth = (auth::APP_AUTH_HEADER, jwt.as_str());
    let other_tenant_jwt = {
        let state = f.host.state();
        let globex = state.install("globex", "hello").await.unwrap().unwrap();
        format!(
            "Bearer {}",
            sign_app_jwt(
                &AppClaims {
                    exp: auth::now() + 60,
                    acting_user_id: "u1".into(),
                    ..Default::default()
                },
                globex.jwt_secret.expose()
            )
        )
    };
    let cases: Vec<(&str, TestRequest, u16, &str, &str)> = vec![
        (
            // Authenticated, so answered as the Apps plugin reads an error: 200.
            "malformed json",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, auth],
                "{not json",
            ),
            200,
            "bad_request",
            "not an Apps call request",
        ),
        (
            "wrong content type",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[("content-type", "text/plain"), auth],
                "{}",
            ),
            415,
            "unsupported_media_type",
            "text/plain",
        ),
        (
            "no content type",
            f.request(Method::POST, "/t/acme/apps/hello/send", &[auth], "{}"),
            415,
            "unsupported_media_type",
            "missing Content-Type",
        ),
        (
            "oversize",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, auth],
                vec![b' '; MAX_BODY_BYTES + 1],
            ),
            413,
            "payload_too_large",
            "limit of 1048576 bytes",
        ),
        (
            "unknown tenant",
            f.request(
                Method::POST,
                "/t/nobody/apps/hello/send",
                &[json_ct, auth],
                "{}",
            ),
            404,
            "not_found",
            // Said like an app it has not installed: no tenant oracle.
            "app `hello` is not installed for tenant `nobody`",
        ),
        (
            "unknown app",
            f.request(
                Method::POST,
                "/t/acme/apps/nope/send",
                &[json_ct, auth],
                "{}",
            ),
            404,
            "not_found",
            "no app `nope`",
        ),
        (
            "invalid tenant id",
            f.request(
                Method::POST,
                "/t/ac%20me/apps/hello/send",
                &[json_ct, auth],
                "{}",
            ),
            404,
            "not_found",
            "`ac me` is not a valid tenant id",
        ),
        (
            "unknown route",
            f.request(Method::POST, "/hooks/x", &[json_ct, auth], "{}"),
            404,
            "not_found",
            "no route",
        ),
        (
            "unknown call path",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/nope",
                &[json_ct, auth],
                json!({"context": {"mattermost_site_url": SITE}}).to_string(),
            ),
            404,
            "not_found",
            "no app `hello` with a call path /nope",
        ),
        (
            "missing jwt",
            f.request(Method::POST, "/t/acme/apps/hello/send", &[json_ct], "{}"),
            401,
            "unauthorized",
            "missing Mattermost-App-Authorization",
        ),
        (
            "garbage jwt",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, (auth::APP_AUTH_HEADER, "Bearer x.y.z")],
                "{}",
            ),
            401,
            "unauthorized",
            "malformed",
        ),
        (
            "another tenant's jwt",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, (auth::APP_AUTH_HEADER, &other_tenant_jwt)],
                "{}",
            ),
            401,
            "unauthorized",
            "signature",
        ),
        (
            "wrong method",
            f.request(Method::GET, "/t/acme/apps/hello/send", &[auth], ""),
            405,
            "method_not_allowed",
            "use POST",
        ),
        (
            "manifest by post",
            f.request(Method::POST, "/t/acme/apps/hello/manifest.json", &[], ""),
            405,
            "method_not_allowed",
            "use GET",
        ),
        (
            "another mattermost",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, auth],
                json!({"context": {"mattermost_site_url": "https://evil.test"}}).to_string(),
            ),
            403,
            "forbidden",
            "registered for https://mm.acme.test",
        ),
        (
            "no site url",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, auth],
                json!({"context": {"acting_user": {"id": "u1"}}}).to_string(),
            ),
            403,
            "forbidden",
            "names no Mattermost site",
        ),
        (
            "jwt of another user",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &[json_ct, auth],
                json!({"context": {"mattermost_site_url": SITE, "acting_user": {"id": "u9"}}})
                    .to_string(),
            ),
            401,
            "unauthorized",
            "another acting user",
        ),
        (
            "slash without token",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/v1/command",
                &[("content-type", "application/x-www-form-urlencoded")],
                "command=%2Fhello&text=send+hi",
            ),
            401,
            "unauthorized",
            "missing command token",
        ),
        (
            "slash with bad token",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/v1/command",
                &[("content-type", "application/x-www-form-urlencoded")],
                "token=wrong&command=%2Fhello",
            ),
            401,
            "unauthorized",
            "does not match",
        ),
        (
            "slash as json",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/v1/command",
                &[json_ct],
                "{}",
            ),
            415,
            "unsupported_media_type",
            "application/x-www-form-urlencoded",
        ),
        (
            "malformed form",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/v1/command",
                &[("content-type", "application/x-www-form-urlencoded")],
                "token=a&text=one&text=two",
            ),
            400,
            "bad_request",
            "not a slash command form",
        ),
        (
            "malformed dialog",
            f.request(
                Method::POST,
                "/t/acme/apps/hello/v1/dialog",
                &[json_ct],
                r#"{"submission": 5}"#,
            ),
            400,
            "bad_request",
            "not a dialog submission",
        ),
    ];
    for (name, req, status, code, text) in cases {
        let (got_status, body) = send(&f.host, req).await;
        assert_eq!(
            (got_status, body["type"].as_str(), body["code"].as_str()),
            (status, Some("error"), Some(code)),
            "{name}: {body}"
        );
        let message = body["text"].as_str().unwrap();
        assert!(message.contains(text), "{name}: {message}");
        assert!(
            !message.contains(f.install.jwt_secret.expose())
                && !message.contains(f.command_token.as_str()),
            "{name} leaks a secret"
        );
    }
}

#[tokio::test]
async fn a_disabled_app_is_refused() {
    let f = fixture().await;
    f.host
        .state()
        .modify_install::<crate::store::StoreError>("acme", "hello", |i| {
            i.enabled = false;
            Ok(())
        })
        .await
        .unwrap();
    let (status, body) = f.call("/send", submit("hi")).await;
    assert_eq!(
        (status, body["text"].as_str()),
        (403, Some("app `hello` is disabled for tenant `acme`"))
    );
}

#[tokio::test]
async fn a_function_serves_only_its_route_and_an_alias_only_its_tenant() {
    let f = fixture().await;
    let host = finish(f.host.apps_router("hello", &[AppRoute::Call("/send")]));
    let jwt = f.jwt("u1");
    let headers = [
        ("content-type", "application/json"),
        (auth::APP_AUTH_HEADER, jwt.as_str()),
    ];
    assert_eq!(
        send_to(
            &host,
            f.request(
                Method::POST,
                "/t/acme/apps/hello/send",
                &headers,
                submit("x").to_string()
            )
        )
        .await
        .0,
        200
    );
    let (status, body) = send_to(
        &host,
        f.request(Method::POST, "/t/acme/apps/hello/send-form", &headers, "{}"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("no route for /t/acme/apps/hello/send-form")
    );

    // A direct invoke of the tenant's alias needs no JWT once only the tenant's registered
    // principal may invoke it, and stays within its tenant.
    let mut trusted = f.request(
        Method::POST,
        "/t/acme/apps/hello/send",
        &[("content-type", "application/json")],
        submit("x").to_string(),
    );
    trusted.invoked_for_tenant = Some("acme".into());
    assert_eq!(
        send_to(&host, trusted.clone()).await.0,
        401,
        "no principal yet"
    );
    f.host
        .state()
        .set_aws_principal("acme", "123456789012")
        .await;
    assert_eq!(send_to(&host, trusted.clone()).await.0, 200);
    trusted.invoked_for_tenant = Some("globex".into());
    assert_eq!(send_to(&host, trusted).await.0, 403);
}

#[tokio::test]
async fn a_store_outage_is_a_503_not_a_panic() {
    struct Down;
    #[async_trait]
    impl crate::store::ItemStore for Down {
        async fn get(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Option<crate::store::Item>, crate::store::StoreError> {
            Err(crate::store::StoreError::Backend(
                "connection refused".into(),
            ))
        }
        async fn get_many(
            &self,
            _: &str,
            _: &[&str],
        ) -> Result<Vec<Option<crate::store::Item>>, crate::store::StoreError> {
            store_down()
        }
        async fn create(
            &self,
            _: &str,
            _: &str,
            _: &Value,
        ) -> Result<crate::store::Item, crate::store::StoreError> {
            store_down()
        }
        async fn replace(
            &self,
            _: &str,
            _: &str,
            _: u64,
            _: &Value,
        ) -> Result<crate::store::Item, crate::store::StoreError> {
            store_down()
        }
        async fn delete(&self, _: &str, _: &str) -> Result<bool, crate::store::StoreError> {
            store_down()
        }
        async fn query(
            &self,
            _: &str,
            _: &str,
        ) -> Result<Vec<crate::store::Item>, crate::store::StoreError> {
            store_down()
        }
    }
    fn store_down<T>() -> Result<T, crate::store::StoreError> {
        Err(crate::store::StoreError::Backend("down".into()))
    }
    let f = fixture().await;
    let host = Host::new(InstallState::new(Arc::new(Down)), BuiltinApps::all());
    let (status, body) = send(
        &host,
        f.request(Method::GET, "/t/acme/apps/hello/manifest.json", &[], ""),
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (503, Some("unavailable")));
}

#[tokio::test]
async fn an_outgoing_webhook_runs_the_rest_of_the_message_as_the_command() {
    let f = fixture().await;
    let token = f.command_token.as_str();
    let json_hook = json!({"token": token, "team_id": "t1", "channel_id": "c1", "user_id": "u1", "user_name": "alice",
                           "post_id": "p1", "text": "hello send from a message", "trigger_word": "hello", "timestamp": 1700000000123i64});
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/outgoing",
        &[("content-type", "application/json")],
        json_hook.to_string(),
    );
    assert_eq!(
        send(&f.host, req).await,
        (
            200,
            json!({"text": "Hello, @alice! You said: from a message", "response_type": "comment"})
        )
    );
    let form = format!(
        "token={token}&user_id=u1&user_name=alice&text=hello+send+hi+--shout&trigger_word=hello&timestamp=1700000000"
    );
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/outgoing",
        &[("content-type", "application/x-www-form-urlencoded")],
        form,
    );
    assert_eq!(
        send(&f.host, req).await.1["text"],
        "Hello, @alice! You said: HI"
    );
    let forged = json!({"token": "nope", "text": "hello send x", "trigger_word": "hello"});
    let req = f.request(
        Method::POST,
        "/t/acme/apps/hello/v1/outgoing",
        &[("content-type", "application/json")],
        forged.to_string(),
    );
    // Mattermost decodes any answer as a post, whatever the status: the refusal is a reply
    // that says what went wrong, never an error object (a post of type `error`).
    let (status, reply) = send(&f.host, req).await;
    assert_eq!(status, 401);
    assert_eq!(reply["response_type"], "comment", "{reply}");
    assert!(reply["text"].as_str().unwrap().contains("token"), "{reply}");
    assert_eq!(reply.get("type"), None, "{reply}");
}

/// A notification reaches the handler bound to its path, which says what to post; the host
/// posts it as the install's bot, never answers its own bot's activity, and refuses a call
/// that is not a notification.
#[tokio::test]
async fn a_notification_is_posted_as_the_bot_and_the_bots_own_activity_is_ignored() {
    let f = fixture().await;
    let mm = Arc::new(RecordingMattermost::default());
    let host = f.host.clone().with_mattermost(mm.clone());
    let notices = host
        .state()
        .modify_install::<crate::store::StoreError>("acme", "notices", |i| {
            i.bot_user_id = "notices-bot".into();
            i.config.insert("keywords".into(), "help".into());
            i.config
                .insert("keyword_reply".into(), "Ask in ~support".into());
            Ok(())
        })
        .await
        .unwrap();
    let claims = AppClaims {
        exp: auth::now() + 900,
        ..Default::default()
    };
    let jwt = format!(
        "Bearer {}",
        sign_app_jwt(&claims, notices.jwt_secret.expose())
    );
    let notify = |user: &str, subject: Option<&str>| {
        let mut context = json!({"mattermost_site_url": SITE, "channel": {"id": "c1"},
            "bot_access_token": "notices-bot-token",
            "user": {"id": user}, "post": {"id": "p1", "message": "I need HELP"}});
        if let Some(subject) = subject {
            context["subject"] = subject.into();
        }
        let body = json!({"path": "/on-message-posted", "context": context});
        let req = f.request(
            Method::POST,
            "/t/acme/apps/notices/on-message-posted",
            &[
                ("content-type", "application/json"),
                (auth::APP_AUTH_HEADER, &jwt),
            ],
            body.to_string(),
        );
        send(&host, req)
    };

    let (status, answer) = notify("u1", Some("post_created")).await;
    assert_eq!(
        (status, answer["text"].as_str()),
        (200, Some("posted")),
        "{answer}"
    );
    let (site, token, post) = mm.posts.lock().unwrap().pop().unwrap();
    assert_eq!((site.as_str(), token.as_str()), (SITE, "notices-bot-token"));
    assert_eq!(
        (
            post.channel_id.as_str(),
            post.root_id.as_str(),
            post.message.as_str()
        ),
        ("c1", "p1", "Ask in ~support")
    );

    let (status, _) = notify("notices-bot", Some("post_created")).await;
    assert_eq!(status, 200);
    assert!(
        mm.posts.lock().unwrap().is_empty(),
        "its own bot's post is not answered"
    );

    // Not a notification, so an ordinary call's refusal: 200 with an error CallResponse.
    let (status, answer) = notify("u1", None).await;
    assert_eq!(
        (status, answer["type"].as_str(), answer["code"].as_str()),
        (200, Some("error"), Some("bad_request"))
    );
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("post-event notifications only"),
        "{answer}"
    );
    assert!(mm.posts.lock().unwrap().is_empty());
}
