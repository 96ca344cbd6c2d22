//! Conformance: each request is shaped exactly as the Mattermost Apps plugin (v1.2.2) or the
//! Mattermost server builds it, citing the Go source it comes from, and each answer is read
//! with the rules that Go code reads it with: which statuses it takes, whether it looks at the
//! content type, and the Go types it decodes into (a string where Go has a string, string-only
//! maps). The host is in-process; the tenant's Mattermost is the validating stand-in.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::auth::{self, AppClaims, sign_app_jwt};
use cloudapps::events::queue::{EventQueue, SqliteQueue};
use cloudapps::functions::Function;
use cloudapps::http::Host;
use cloudapps::http::apps::action_integration;
use cloudapps::http::testing::{Handle, request};
use cloudapps::marketplace::catalog;
use cloudapps::marketplace::service::RegisterTenant;
use cloudapps::mattermost::HttpMattermost;
use cloudapps::outbound::PrivateNetworks;
use cloudapps::store::InstallState;
use cloudapps::store::sqlite::SqliteStore;
use cloudapps_tests::apps_plugin::plugin_match;
use cloudapps_tests::consent;
use cloudapps_tests::mattermost_standin::StandIn;
use http::{HeaderMap, Method};
use serde::Deserialize;
use serde_json::{Value, json};

const TENANT: &str = "conf";
const BASE: &str = "http://cloudapps.test";
const ACCOUNT: &str = "123456789012";
const BOT_USER: &str = "000000000000000000000bot01";
const BOT_TOKEN: &str = "bot-token-of-conf";
const USER: &str = "0000000000000000000000user1";
const CHANNEL: &str = "0000000000000000000channel1";
const TEAM: &str = "000000000000000000000team1";
/// The plugin's `app_path` (`server/proxy/expand.go`, `expandContext`).
const APP_PATH: &str = "/plugins/com.mattermost.apps/apps/hello";

struct World {
    host: Host,
    site: String,
    standin: StandIn,
    queue: SqliteQueue,
    hello_secret: String,
    notices_secret: String,
    command_token: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (standin, site) = StandIn::start(BOT_TOKEN).await;
    let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    state
        .publish_catalog(catalog::GENERATION, &catalog::shipped().unwrap())
        .await
        .unwrap();
    let queue = SqliteQueue::open(&dir.path().join("events.db")).unwrap();
    let host = Host::new(state.clone(), BuiltinApps::all())
        .with_public_url(Some(BASE.into()))
        .with_queue(Arc::new(queue.clone()))
        // The stand-in listens on loopback.
        .with_private_networks(PrivateNetworks::Allowed)
        .with_mattermost(Arc::new(HttpMattermost::new(PrivateNetworks::Allowed)));
    let m = host.marketplace();
    let registration = RegisterTenant {
        id: TENANT.into(),
        site_url: site.clone(),
        aws_principal: Some(ACCOUNT.into()),
    };
    m.create_tenant(&registration, BASE).await.unwrap();
    let tenant = state.tenant(TENANT).await.unwrap().unwrap();
    let mut installed = BTreeMap::new();
    for app in ["hello", "notices"] {
        let version = catalog::shipped()
            .unwrap()
            .into_iter()
            .find(|l| l.id == app)
            .and_then(|l| l.latest().map(|v| v.version.clone()))
            .unwrap();
        let install = json!({"consent": consent(app, &version),
                             "bot": {"user_id": BOT_USER, "access_token": BOT_TOKEN}});
        let done = m
            .install(&tenant, app, serde_json::from_value(install).unwrap(), BASE)
            .await
            .unwrap();
        installed.insert(app, done);
    }
    World {
        host,
        site,
        standin,
        queue,
        hello_secret: installed["hello"].jwt_secret.clone(),
        notices_secret: installed["notices"].jwt_secret.clone(),
        command_token: installed["hello"].command_token.clone(),
        _dir: dir,
    }
}

/// What the host answered: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: Bytes,
}

impl World {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut map = HeaderMap::new();
        map.insert(http::header::HOST, "cloudapps.test".parse().unwrap());
        for (k, v) in headers {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let out = self
            .host
            .handle(request(method, path, map, Bytes::from(body.to_owned())))
            .await;
        Answer {
            status: out.status,
            content_type: out
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: out.body,
        }
    }

    /// An Apps call as the plugin's HTTP upstream sends it (`upstream/uphttp/upstream.go`,
    /// `invoke`): JSON, with the JWT `createJWT` signs (15 minutes, `acting_user_id` only when
    /// there is an acting user).
    async fn apps_call(&self, app: &str, secret: &str, body: &Value, acting_user: &str) -> Answer {
        let claims = AppClaims {
            exp: auth::now() + 15 * 60,
            acting_user_id: acting_user.into(),
            ..Default::default()
        };
        let jwt = format!("Bearer {}", sign_app_jwt(&claims, secret));
        let path = format!(
            "/t/{TENANT}/apps/{app}/{}",
            body["path"].as_str().unwrap().trim_start_matches('/')
        );
        self.send(
            Method::POST,
            &path,
            &[
                ("content-type", "application/json"),
                (auth::APP_AUTH_HEADER, &jwt),
            ],
            &body.to_string(),
        )
        .await
    }

    /// The context the plugin sends after expanding (`server/proxy/expand.go`): the expanded
    /// objects, `UserAgentContext` and `user_id` cleared (so `app_id` is an empty string and no
    /// plain channel, team or post id is left), `oauth2` an empty object.
    fn expanded_context(&self, extra: Value) -> Value {
        let mut context = json!({"app_id": "", "mattermost_site_url": self.site, "app_path": APP_PATH,
                                 "bot_user_id": BOT_USER, "bot_access_token": BOT_TOKEN, "oauth2": {}});
        for (k, v) in extra.as_object().unwrap() {
            context[k] = v.clone();
        }
        context
    }
}

// --- How Go reads the answers -----------------------------------------------------------

/// `apps.CallResponse` (`apps/call_response.go`), as `encoding/json` fills it.
#[derive(Debug, Deserialize)]
struct CallResponse {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    form: Option<Value>,
    #[serde(default)]
    navigate_to_url: String,
}

/// The plugin's HTTP upstream (`upstream/uphttp/upstream.go`, `invoke`, then
/// `upstream/wrappers.go`, `Call`): a 404 is "not found", any other status but 200 a failure
/// showing the raw body; a 200 is decoded whatever its content type.
fn plugin_reads(answer: &Answer) -> Result<CallResponse, String> {
    match answer.status {
        200 => serde_json::from_slice(&answer.body).map_err(|e| format!("decode: {e}")),
        404 => Err("not found".into()),
        _ => Err(String::from_utf8_lossy(&answer.body).into_owned()),
    }
}

/// `model.CommandResponse` (`model/command_response.go`).
#[derive(Debug, Deserialize)]
struct CommandResponse {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    goto_location: String,
}

/// The server reads a slash command's answer only from a 200, and as JSON only when the
/// content type says so (`model.CommandResponseFromHTTPBody`); otherwise the body is the text.
fn server_reads_command(answer: &Answer) -> Result<CommandResponse, String> {
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    let media = answer
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if media == "application/json" {
        serde_json::from_slice(&answer.body).map_err(|e| format!("decode: {e}"))
    } else {
        Ok(CommandResponse {
            response_type: String::new(),
            text: String::from_utf8_lossy(&answer.body).into_owned(),
            goto_location: String::new(),
        })
    }
}

/// `model.PostActionIntegrationResponse` (`model/integration_action.go`), read from a 200
/// only (`DoActionRequest`).
#[derive(Debug, Deserialize)]
struct PostActionIntegrationResponse {
    #[serde(default)]
    update: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    ephemeral_text: String,
    #[serde(default)]
    #[allow(dead_code)]
    skip_slack_parsing: bool,
}

/// `model.SubmitDialogResponse`: `errors` is a `map[string]string`, so a value that is not a
/// string fails the whole decode.
#[derive(Debug, Default, Deserialize)]
struct SubmitDialogResponse {
    #[serde(default)]
    error: String,
    #[serde(default)]
    errors: BTreeMap<String, String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    form: Option<Value>,
}

/// `SubmitInteractiveDialog`: a 200 only, an empty body is an empty answer, and the answer must
/// pass `SubmitDialogResponse.IsValid`.
fn server_reads_dialog_answer(answer: &Answer) -> Result<SubmitDialogResponse, String> {
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    if answer.body.is_empty() {
        return Ok(SubmitDialogResponse::default());
    }
    let r: SubmitDialogResponse =
        serde_json::from_slice(&answer.body).map_err(|e| format!("decode: {e}"))?;
    if !r.error.is_empty() || !r.errors.is_empty() {
        return Ok(r);
    }
    match (r.kind.as_str(), &r.form) {
        ("" | "ok" | "navigate", None) | ("form", Some(_)) => Ok(r),
        (kind, form) => Err(format!("invalid: type {kind:?} with form {form:?}")),
    }
}

/// `model.OutgoingWebhookResponse` (`model/outgoing_webhook.go`): `text` is a `*string`. The
/// server decodes any status (`doOutgoingWebhookRequest`), an empty body being no reply.
#[derive(Debug, Deserialize)]
struct OutgoingWebhookResponse {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    response_type: String,
    #[serde(default, rename = "type")]
    kind: String,
}

fn server_reads_webhook_reply(answer: &Answer) -> Result<Option<OutgoingWebhookResponse>, String> {
    if answer.body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&answer.body)
        .map(Some)
        .map_err(|e| format!("decode: {e}"))
}

// --- The Apps plugin's requests -----------------------------------------------------------

/// The install ping (`server/proxy/invoke_static.go`, `pingApp`): `CallRequest{Call:
/// DefaultPing}` with nothing expanded, so the context has only the fields Go always writes,
/// and a JWT without an acting user. The plugin takes anything but a failure.
#[tokio::test]
async fn the_install_ping_with_an_empty_context_is_answered_ok() {
    let w = world().await;
    let ping = json!({"path": "/ping", "context": {"app_id": "", "mattermost_site_url": "",
                      "app_path": "", "bot_user_id": "", "oauth2": {}}});
    let answer = w.apps_call("hello", &w.hello_secret, &ping, "").await;
    let r = plugin_reads(&answer).unwrap();
    assert_eq!((r.kind.as_str(), r.text.as_str()), ("ok", "PONG"));
}

/// A form submit from the user agent (`server/httpin/call.go` then `server/proxy/
/// invoke_call.go`): the submit call's `expand`, the values, `raw_command`, and the expanded,
/// cleaned context. A validation error is a 200 error answer the plugin shows in the form.
#[tokio::test]
async fn a_form_submit_with_expand_and_a_cleaned_context_reaches_its_handler() {
    let w = world().await;
    let acting_user = json!({"id": USER, "username": "alice", "first_name": "Alice",
                             "last_name": "Liddell", "nickname": "", "locale": "en", "roles": "system_user"});
    let submit = |values: Value| {
        json!({"path": "/send", "expand": {"acting_user": "summary"}, "values": values,
               "context": w.expanded_context(json!({"acting_user": acting_user})),
               "raw_command": "/hello send hi"})
    };
    let ok = submit(json!({"message": "hi", "shout": false,
                           "greeting": {"label": "Hoi", "value": "Hoi"}}));
    let r = plugin_reads(&w.apps_call("hello", &w.hello_secret, &ok, USER).await).unwrap();
    assert_eq!(
        (r.kind.as_str(), r.text.as_str()),
        ("ok", "Hoi, @alice! You said: hi")
    );
    let missing = submit(json!({"message": ""}));
    let r = plugin_reads(&w.apps_call("hello", &w.hello_secret, &missing, USER).await).unwrap();
    assert_eq!(r.kind, "error");
    assert_eq!(
        r.data.unwrap()["errors"]["message"],
        "Write something to say."
    );

    // The form's lookup, as the plugin sends it: the field and the query beside the values.
    let lookup = json!({"path": "/greetings", "values": {"message": "hi"},
                        "context": w.expanded_context(json!({"acting_user": acting_user})),
                        "selected_field": "greeting", "query": "hal"});
    let r = plugin_reads(&w.apps_call("hello", &w.hello_secret, &lookup, USER).await).unwrap();
    #[derive(Deserialize)]
    struct Items {
        items: Vec<SelectOption>,
    }
    #[derive(Deserialize)]
    struct SelectOption {
        label: String,
        value: String,
    }
    let items: Items = serde_json::from_value(r.data.unwrap()).unwrap();
    assert_eq!(
        items
            .items
            .iter()
            .map(|o| (o.label.as_str(), o.value.as_str()))
            .collect::<Vec<_>>(),
        [("Hallo", "Hallo")]
    );
    assert!(r.form.is_none() && r.navigate_to_url.is_empty());
}

/// The Lambda invoke of the plugin's AWS upstream (`upstream/upaws/upstream.go`, `match` and
/// `invokeFunction`; `apps/http_call_request.go`): the function named from the manifest the
/// host serves this tenant, the call wrapped by `ToHTTPCallRequestJSON` without a JWT, and the
/// answer read by `HTTPCallResponseFromJSON` (a status other than 200 is a failure) and then as
/// a CallResponse from its `body`.
#[tokio::test]
async fn the_lambda_envelope_under_the_plugin_derived_name_is_answered() {
    let w = world().await;
    let manifest = w
        .send(
            Method::GET,
            &format!("/t/{TENANT}/apps/hello/manifest.json"),
            &[],
            "",
        )
        .await;
    let manifest: Value = serde_json::from_slice(&manifest.body).unwrap();
    let invoked = plugin_match("/send", &manifest).unwrap();
    let (name, alias) = invoked.split_once(':').expect("name:qualifier");
    assert_eq!(alias, format!("t-{TENANT}"));
    let function = cloudapps::functions::all()
        .iter()
        .find(|f: &&Function| f.deployed_names().any(|n| n == name))
        .expect("a function deployed under the name the plugin derives");
    let router = w.host.function_router(function).unwrap();

    let creq = json!({"path": "/send", "expand": {"acting_user": "summary"},
                      "values": {"message": "from Lambda"},
                      "context": w.expanded_context(json!({"acting_user": {"id": USER, "username": "alice"}}))});
    let payload = json!({"path": "/send", "httpMethod": "POST",
                         "headers": {"Content-Type": "application/json"}, "body": creq.to_string()});
    let mut context = lambda_runtime::Context::default();
    context.invoked_function_arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{invoked}");
    context.request_id = "conformance-1".into();
    let out = cloudapps::lambda::handle_event(
        &router,
        function.app(),
        lambda_runtime::LambdaEvent::new(payload, context),
    )
    .await;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct HttpCallResponse {
        status_code: i64,
        #[allow(dead_code)]
        headers: BTreeMap<String, String>,
        #[allow(dead_code)]
        is_base64_encoded: bool,
        body: String,
    }
    let decoded: HttpCallResponse =
        serde_json::from_value(serde_json::to_value(&out).unwrap()).unwrap();
    assert_eq!(decoded.status_code, 200, "{}", decoded.body);
    let r: CallResponse = serde_json::from_str(&decoded.body).unwrap();
    assert_eq!(
        (r.kind.as_str(), r.text.as_str()),
        ("ok", "Hello, @alice! You said: from Lambda")
    );
}

/// A subscription notification (`server/proxy/notify.go`, `invokeNotify`): the subscription's
/// call with the subject in the context and the objects expanded at the levels it asked for;
/// the ids exist only inside them. Sent async: the plugin reads no answer, so the event must
/// be queued with the ids taken from the objects.
#[tokio::test]
async fn a_notification_with_expanded_objects_and_no_plain_ids_is_queued() {
    let w = world().await;
    let notification = json!({"path": "/v1/notify",
        "expand": {"user": "summary", "channel": "summary", "team": "id"},
        "context": {"subject": "user_joined_channel", "app_id": "", "mattermost_site_url": w.site,
                    "app_path": "/plugins/com.mattermost.apps/apps/notices", "bot_user_id": BOT_USER,
                    "bot_access_token": BOT_TOKEN, "oauth2": {},
                    "acting_user": {"id": BOT_USER},
                    "user": {"id": USER, "username": "newbie"},
                    "channel": {"id": CHANNEL, "team_id": TEAM, "name": "town-square", "display_name": "Town Square", "type": "O"},
                    "team": {"id": TEAM}}});
    let answer = w
        .apps_call("notices", &w.notices_secret, &notification, BOT_USER)
        .await;
    assert!(
        answer.status < 300,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let queued = w
        .queue
        .receive(10, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let event: Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(
        (
            &event["kind"],
            &event["user_id"],
            &event["channel_id"],
            &event["team_id"]
        ),
        (
            &json!("user_joined_channel"),
            &json!(USER),
            &json!(CHANNEL),
            &json!(TEAM)
        ),
        "{event}"
    );
}

// --- The Mattermost server's requests -----------------------------------------------------

/// A custom slash command (`app/command.go`, `DoCommandRequest`): the form fields the server
/// sets, each mention repeated in `user_mentions`/`user_mentions_ids` (`model/mention_map.go`),
/// `Accept: application/json` and `Authorization: Token <token>`; a GET carries the form in
/// the query, a POST in a form-encoded body.
#[tokio::test]
async fn a_slash_command_with_mentions_is_answered_by_get_and_post() {
    let w = world().await;
    let form = serde_html_form::to_string([
        ("token", w.command_token.as_str()),
        ("team_id", TEAM),
        ("team_domain", "conf"),
        ("channel_id", CHANNEL),
        ("channel_name", "town-square"),
        ("user_id", USER),
        ("user_name", "alice"),
        ("command", "/hello"),
        ("text", "send hi @bob and @carol"),
        ("trigger_id", ""),
        ("response_url", &format!("{}/hooks/commands/abc", w.site)),
        ("user_mentions", "bob"),
        ("user_mentions", "carol"),
        ("user_mentions_ids", "00000000000000000000000bob"),
        ("user_mentions_ids", "0000000000000000000000carol"),
    ])
    .unwrap();
    let auth = format!("Token {}", w.command_token);
    let path = format!("/t/{TENANT}/apps/hello/v1/command");
    let post = w
        .send(
            Method::POST,
            &path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
                ("authorization", &auth),
            ],
            &form,
        )
        .await;
    let get = w
        .send(
            Method::GET,
            &format!("{path}?{form}"),
            &[("accept", "application/json"), ("authorization", &auth)],
            "",
        )
        .await;
    for answer in [post, get] {
        let r = server_reads_command(&answer).unwrap();
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(r.response_type, "ephemeral");
        assert_eq!(r.text, "Hello, @alice! You said: hi @bob and @carol");
        assert!(r.goto_location.is_empty());
    }
}

/// A post-action click on a select (`app/integration_action.go`, `DoPostActionWithCookie`):
/// `PostActionIntegrationRequest` with `type: select` and the chosen option added to the
/// action's context as `selected_option`; read from a 200 only.
#[tokio::test]
async fn a_post_action_with_a_selected_option_is_answered() {
    let w = world().await;
    let install = w
        .host
        .state()
        .install(TENANT, "hello")
        .await
        .unwrap()
        .unwrap();
    let integration = action_integration(BASE, &install, "/send", None);
    let mut context = integration.context.clone();
    context.insert("selected_option".into(), json!("opt-2"));
    let click = json!({"user_id": USER, "user_name": "alice", "channel_id": CHANNEL,
                       "channel_name": "town-square", "team_id": TEAM, "team_domain": "conf",
                       "post_id": "00000000000000000000post01", "trigger_id": "", "type": "select",
                       "data_source": "", "context": context});
    let answer = w
        .send(
            Method::POST,
            &format!("/t/{TENANT}/apps/hello/v1/action"),
            &[("content-type", "application/json")],
            &click.to_string(),
        )
        .await;
    assert_eq!(answer.status, 200);
    let r: PostActionIntegrationResponse = serde_json::from_slice(&answer.body).unwrap();
    assert!(r.update.is_none());
    assert_eq!(
        r.ephemeral_text,
        "The message is missing.\n- `message`: Write something to say."
    );
}

/// A dialog submission (`app/integration_action.go`, `SubmitInteractiveDialog`): a
/// `SubmitDialogRequest` with `type: dialog_submission`, its URL cleared. A field error answer
/// keeps the dialog open with string-only `errors`; a good one closes it.
#[tokio::test]
async fn a_dialog_submission_with_an_error_answer_keeps_the_dialog_open() {
    let w = world().await;
    // The dialog is opened the way a slash command opens it, with a trigger id Mattermost issued.
    let trigger = w.standin.trigger_id(USER);
    let form = serde_html_form::to_string([
        ("token", w.command_token.as_str()),
        ("command", "/hello"),
        ("text", "send"),
        ("user_id", USER),
        ("user_name", "alice"),
        ("channel_id", CHANNEL),
        ("trigger_id", trigger.as_str()),
    ])
    .unwrap();
    let path = format!("/t/{TENANT}/apps/hello/v1/command");
    let opened = w
        .send(
            Method::POST,
            &path,
            &[("content-type", "application/x-www-form-urlencoded")],
            &form,
        )
        .await;
    assert_eq!(opened.status, 200);
    let dialog = w
        .standin
        .opened
        .lock()
        .unwrap()
        .pop()
        .expect("a dialog opened");
    let submit = |message: &str| {
        json!({"type": "dialog_submission", "callback_id": "", "state": dialog["dialog"]["state"],
               "user_id": USER, "channel_id": CHANNEL, "team_id": TEAM,
               "submission": {"message": message, "shout": "false", "greeting": ""},
               "cancelled": false})
        .to_string()
    };
    let target = dialog["url"]
        .as_str()
        .unwrap()
        .strip_prefix(BASE)
        .unwrap()
        .to_owned();
    let error = w
        .send(
            Method::POST,
            &target,
            &[("content-type", "application/json")],
            &submit(""),
        )
        .await;
    let r = server_reads_dialog_answer(&error).unwrap();
    assert_eq!(r.error, "The message is missing.");
    assert_eq!(r.errors["message"], "Write something to say.");
    let ok = w
        .send(
            Method::POST,
            &target,
            &[("content-type", "application/json")],
            &submit("hi"),
        )
        .await;
    let r = server_reads_dialog_answer(&ok).unwrap();
    assert!(r.error.is_empty() && r.errors.is_empty() && r.form.is_none());
}

/// An outgoing webhook (`app/webhook.go`, `TriggerWebhook` and `doOutgoingWebhookRequest`):
/// `OutgoingWebhookPayload` as JSON (`timestamp` in milliseconds) or as a form (`ToFormValues`:
/// seconds), with `Accept: application/json`. The answer is decoded whatever its status.
#[tokio::test]
async fn an_outgoing_webhook_in_json_and_form_gets_a_reply_post() {
    let w = world().await;
    let payload = |timestamp: i64| {
        json!({"token": w.command_token, "team_id": TEAM, "team_domain": "conf",
               "channel_id": CHANNEL, "channel_name": "town-square", "timestamp": timestamp,
               "user_id": USER, "user_name": "alice", "post_id": "00000000000000000000post01",
               "text": "hello send hi", "trigger_word": "hello", "file_ids": ""})
    };
    let path = format!("/t/{TENANT}/apps/hello/v1/outgoing");
    let as_json = w
        .send(
            Method::POST,
            &path,
            &[
                ("content-type", "application/json"),
                ("accept", "application/json"),
            ],
            &payload(1_700_000_000_123).to_string(),
        )
        .await;
    let form: BTreeMap<String, String> = payload(1_700_000_000)
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), v)
        })
        .collect();
    let as_form = w
        .send(
            Method::POST,
            &path,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ],
            &serde_html_form::to_string(&form).unwrap(),
        )
        .await;
    for answer in [as_json, as_form] {
        let reply = server_reads_webhook_reply(&answer)
            .unwrap()
            .expect("a reply");
        assert_eq!(reply.text.as_deref(), Some("Hello, @alice! You said: hi"));
        assert_eq!(reply.response_type, "comment");
        assert_ne!(reply.kind, "error", "a post of type error is refused");
    }
    // A refused hook still gets a reply the server can post, never an error object.
    let mut forged = payload(1_700_000_000_123);
    forged["token"] = json!("not-the-token");
    let refused = w
        .send(
            Method::POST,
            &path,
            &[("content-type", "application/json")],
            &forged.to_string(),
        )
        .await;
    let reply = server_reads_webhook_reply(&refused)
        .unwrap()
        .expect("a reply");
    assert!(reply.text.is_some_and(|t| !t.is_empty()));
    assert_ne!(reply.kind, "error");
}
