//! A stand-in for the parts of the Mattermost REST API v4 this host calls, since no Mattermost
//! server runs here. It checks every request against the documented shapes and refuses, with a
//! Mattermost-style `AppError`, anything else; what it accepts is recorded for the test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{post, put};
use serde_json::{Value, json};

/// `model.DialogTitleMaxLength` and `DialogElementDisplayNameMaxLength`.
const LABEL_MAX: usize = 24;
const ELEMENT_TYPES: &[&str] = &["text", "textarea", "select", "bool", "radio"];
const TEXT_SUBTYPES: &[&str] = &["", "text", "email", "number", "password", "tel", "url"];
const DIALOG_KEYS: &[&str] = &[
    "callback_id",
    "title",
    "introduction_text",
    "icon_url",
    "elements",
    "submit_label",
    "notify_on_cancel",
    "state",
];
const ELEMENT_KEYS: &[&str] = &[
    "display_name",
    "name",
    "type",
    "subtype",
    "default",
    "placeholder",
    "help_text",
    "optional",
    "min_length",
    "max_length",
    "data_source",
    "data_source_url",
    "options",
];

#[derive(Clone, Default)]
pub struct StandIn {
    /// The server version it says it is (`X-Version-Id` on every answer), by default
    /// [`StandIn::VERSION`]; dialogs are checked by that version's rules.
    pub version: Arc<Mutex<String>>,
    /// The bot token it accepts.
    pub token: String,
    /// Every accepted `dialogs/open` body.
    pub opened: Arc<Mutex<Vec<Value>>>,
    /// Every accepted `POST /commands` body, with the id and token it was given.
    pub commands: Arc<Mutex<Vec<Value>>>,
    /// Every accepted `POST /hooks/outgoing` body, with the id and token it was given.
    pub hooks: Arc<Mutex<Vec<Value>>>,
    /// Every accepted `POST /posts` body, with the id it was given.
    pub posts: Arc<Mutex<Vec<Value>>>,
    /// Every accepted `POST /posts/ephemeral` body (`{user_id, post}`), with the id it was given.
    pub ephemeral: Arc<Mutex<Vec<Value>>>,
    /// Every accepted `regen_token` request: `{"kind": "command" | "outgoing_hook", "id",
    /// "token"}` with the new token (also stored in the command or hook above).
    pub regenerated: Arc<Mutex<Vec<Value>>>,
    /// The ids of every command or hook deleted.
    pub deleted: Arc<Mutex<Vec<String>>>,
    /// While set, `POST /hooks/outgoing` is refused (403), as for an admin without the
    /// permission to manage outgoing webhooks.
    pub refuse_hooks: Arc<std::sync::atomic::AtomicBool>,
    /// Woken whenever something is created, for tests that wait on what Mattermost received.
    changed: Arc<tokio::sync::Notify>,
    /// Numbers ids and tokens, so that no two are alike, as in Mattermost.
    serial: Arc<AtomicUsize>,
}

impl StandIn {
    fn next(&self, what: &str) -> String {
        let n = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{:0>26}", format!("{what}{n}"))
    }
}

/// How long a trigger id is good for (`InteractiveDialogTriggerTimeout`, 3 s by default).
const TRIGGER_ID_VALIDITY_MS: u128 = 3000;

impl StandIn {
    /// A trigger id as Mattermost issues them with a slash command or an action click
    /// (`model.GenerateTriggerId`): base64 of `<client trigger id>:<user id>:<millis>:<signature>`,
    /// signed by the server (here a SHA-256 over the data and this stand-in's token).
    pub fn trigger_id(&self, user_id: &str) -> String {
        self.trigger_id_issued_at(user_id, now_ms())
    }

    /// [`StandIn::trigger_id`] as if issued at `millis` since the epoch.
    pub fn trigger_id_issued_at(&self, user_id: &str, millis: u128) -> String {
        use base64::Engine;
        let data = format!("{}:{user_id}:{millis}:", self.next("trigger"));
        let signature = self.trigger_signature(&data);
        base64::engine::general_purpose::STANDARD.encode(format!("{data}{signature}"))
    }

    fn trigger_signature(&self, data: &str) -> String {
        use base64::Engine;
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{data}{}", self.token));
        base64::engine::general_purpose::STANDARD.encode(digest)
    }

    /// `model.DecodeAndVerifyTriggerId`: issued here, signed, and at most 3 s old.
    fn verify_trigger_id(&self, trigger_id: &str) -> Result<(), String> {
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(trigger_id)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or("trigger_id is not one Mattermost issued (not base64)")?;
        let parts: Vec<&str> = decoded.split(':').collect();
        let [client, user, millis, signature] = parts[..] else {
            return Err("trigger_id is not one Mattermost issued".into());
        };
        let data = format!("{client}:{user}:{millis}:");
        if signature != self.trigger_signature(&data) {
            return Err("trigger_id has a bad signature".into());
        }
        let issued: u128 = millis.parse().map_err(|_| "trigger_id has no time")?;
        if now_ms().saturating_sub(issued) > TRIGGER_ID_VALIDITY_MS {
            return Err("trigger_id has expired".into());
        }
        Ok(())
    }
}

pub fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// How long a test waits for Mattermost to receive what it expects.
const WAIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

impl StandIn {
    /// Waits until a post in `channel` has arrived (woken by each creation, not polled), and
    /// answers every post so far; fails after 10 s, naming what it waited for.
    pub async fn wait_for_post_in(&self, channel: &str) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
        loop {
            // Registered before looking, so a post arriving in between still wakes this.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let posts = self.posts.lock().expect("stand-in lock").clone();
            if posts.iter().any(|p| p["channel_id"] == channel) {
                return posts;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("no post in {channel} within {WAIT_DEADLINE:?}; posts: {posts:?}");
            }
        }
    }

    /// The version a stand-in says it is unless told otherwise: one with dynamic selects.
    pub const VERSION: &str = "11.1.0.17900.5f1ee3c4e3b22f8f5bd1b0c9f3e4a2d1.true";

    /// Serves on a free loopback port; returns the site URL.
    pub async fn start(token: &str) -> (StandIn, String) {
        Self::start_as(token, Self::VERSION).await
    }

    /// [`StandIn::start`], as a server of `version` (an `X-Version-Id`).
    pub async fn start_as(token: &str, version: &str) -> (StandIn, String) {
        let standin = StandIn {
            token: token.to_owned(),
            version: Arc::new(Mutex::new(version.to_owned())),
            ..Default::default()
        };
        let versioned = standin.clone();
        let app = Router::new()
            .route("/api/v4/system/ping", axum::routing::get(ping))
            .route("/api/v4/actions/dialogs/open", post(open_dialog))
            .route("/api/v4/commands", creation(|s| &s.commands, check_command))
            .route(
                "/api/v4/hooks/outgoing",
                creation(|s| &s.hooks, check_outgoing_webhook),
            )
            .route("/api/v4/posts", creation(|s| &s.posts, check_post))
            .route(
                "/api/v4/posts/ephemeral",
                creation(|s| &s.ephemeral, check_ephemeral_post),
            )
            .route("/api/v4/commands/{command_id}", deletion(|s| &s.commands))
            .route("/api/v4/hooks/outgoing/{hook_id}", deletion(|s| &s.hooks))
            .route(
                "/api/v4/commands/{command_id}/regen_token",
                put(regen_command_token),
            )
            .route(
                "/api/v4/hooks/outgoing/{hook_id}/regen_token",
                post(regen_outgoing_webhook_token),
            )
            .with_state(standin.clone())
            .layer(axum::middleware::map_response(
                move |mut resp: axum::response::Response| {
                    let version = versioned.version.lock().expect("stand-in lock").clone();
                    async move {
                        if let Ok(v) = version.parse() {
                            resp.headers_mut().insert("x-version-id", v);
                        }
                        resp
                    }
                },
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stand-in");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("stand-in address")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (standin, url)
    }
}

fn app_error(status: StatusCode, id: &str, message: &str) -> axum::response::Response {
    (status, axum::Json(json!({"id": id, "message": message, "detailed_error": "", "status_code": status.as_u16()}))).into_response()
}

/// The bearer token and a JSON object body, as every v4 call here needs; else the AppError.
fn authorized_json(
    s: &StandIn,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Box<axum::response::Response>> {
    authorized(s, headers)?;
    let json_type =
        headers.get("content-type").and_then(|v| v.to_str().ok()) == Some("application/json");
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if json_type && v.is_object() => Ok(v),
        _ => Err(Box::new(app_error(
            StatusCode::BAD_REQUEST,
            "api.context.invalid_body_param.app_error",
            "Invalid or missing body in request.",
        ))),
    }
}

/// Accepts a valid creation: records the body with a new id and token, answers 201 with both.
fn created(
    s: &StandIn,
    list: &Mutex<Vec<Value>>,
    mut body: Value,
    check: Result<(), String>,
) -> axum::response::Response {
    if let Err(message) = check {
        return app_error(
            StatusCode::BAD_REQUEST,
            "model.is_valid.app_error",
            &message,
        );
    }
    body["id"] = json!(s.next("id"));
    body["token"] = json!(s.next("mmtoken"));
    list.lock().expect("stand-in lock").push(body.clone());
    s.changed.notify_waiters();
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// A `POST` that creates something: the bearer token and a JSON body, checked by `check`,
/// recorded in `list` and answered 201 with an id (and a token, as commands and hooks get).
fn creation(
    list: fn(&StandIn) -> &Mutex<Vec<Value>>,
    check: fn(&Value) -> Result<(), String>,
) -> axum::routing::MethodRouter<StandIn> {
    post(
        move |State(s): State<StandIn>, headers: HeaderMap, body: Bytes| async move {
            let is_hook = std::ptr::eq(list(&s), &*s.hooks);
            if is_hook && s.refuse_hooks.load(Ordering::SeqCst) {
                return app_error(
                    StatusCode::FORBIDDEN,
                    "api.context.permissions.app_error",
                    "You do not have the appropriate permissions.",
                );
            }
            match authorized_json(&s, &headers, &body) {
                Ok(req) => {
                    let checked = check(&req);
                    created(&s, list(&s), req, checked)
                }
                Err(resp) => *resp,
            }
        },
    )
}

/// The bearer token, as every v4 call here needs; else the AppError.
fn authorized(s: &StandIn, headers: &HeaderMap) -> Result<(), Box<axum::response::Response>> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth == format!("Bearer {}", s.token) {
        Ok(())
    } else {
        Err(Box::new(app_error(
            StatusCode::UNAUTHORIZED,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )))
    }
}

/// `PUT /api/v4/commands/{command_id}/regen_token` (no body): `{"token": "<new token>"}`.
async fn regen_command_token(
    State(s): State<StandIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    match regenerate(&s, &s.commands, "command", &id, &headers, &body) {
        Ok(command) => axum::Json(json!({"token": command["token"]})).into_response(),
        Err(resp) => *resp,
    }
}

/// What a request on one command or hook must be: authorized, without a body (the client
/// sends none, the server reads none), on a valid id (`model.IsValidId`, as the router's
/// `{command_id}` / `{hook_id}` check requires).
fn bodiless_on_an_id(
    s: &StandIn,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), Box<axum::response::Response>> {
    authorized(s, headers)?;
    if !body.is_empty() {
        return Err(Box::new(app_error(
            StatusCode::BAD_REQUEST,
            "api.context.invalid_body_param.app_error",
            "This request takes no body.",
        )));
    }
    if id.len() != 26 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Box::new(app_error(
            StatusCode::BAD_REQUEST,
            "api.context.invalid_url_param.app_error",
            "Invalid or missing id parameter in request URL.",
        )));
    }
    Ok(())
}

fn missing() -> axum::response::Response {
    app_error(
        StatusCode::NOT_FOUND,
        "app.command.getbyid.missing.app_error",
        "Unable to find the existing item.",
    )
}

/// `DELETE /api/v4/commands/{command_id}` and `DELETE /api/v4/hooks/outgoing/{hook_id}` (no
/// body): removed, answered `{"status":"OK"}`.
fn deletion(list: fn(&StandIn) -> &Mutex<Vec<Value>>) -> axum::routing::MethodRouter<StandIn> {
    axum::routing::delete(
        move |State(s): State<StandIn>, Path(id): Path<String>, headers: HeaderMap, body: Bytes| async move {
            if let Err(refused) = bodiless_on_an_id(&s, &id, &headers, &body) {
                return *refused;
            }
            let mut items = list(&s).lock().expect("stand-in lock");
            let before = items.len();
            items.retain(|i| i["id"] != id.as_str());
            if items.len() == before {
                return missing();
            }
            s.deleted.lock().expect("stand-in lock").push(id);
            axum::Json(json!({"status": "OK"})).into_response()
        },
    )
}

/// `POST /api/v4/hooks/outgoing/{hook_id}/regen_token` (no body): the `OutgoingWebhook` with
/// its new token.
async fn regen_outgoing_webhook_token(
    State(s): State<StandIn>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    match regenerate(&s, &s.hooks, "outgoing_hook", &id, &headers, &body) {
        Ok(hook) => axum::Json(hook).into_response(),
        Err(resp) => *resp,
    }
}

/// Gives the command or hook `id` (a valid id of one created here) a new token, as
/// `regen_token` does; answers it with the new token.
fn regenerate(
    s: &StandIn,
    list: &Mutex<Vec<Value>>,
    kind: &str,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Box<axum::response::Response>> {
    bodiless_on_an_id(s, id, headers, body)?;
    let mut list = list.lock().expect("stand-in lock");
    let Some(item) = list.iter_mut().find(|i| i["id"] == id) else {
        return Err(Box::new(missing()));
    };
    let token = s.next("regen");
    item["token"] = json!(token);
    s.regenerated
        .lock()
        .expect("stand-in lock")
        .push(json!({"kind": kind, "id": id, "token": token}));
    Ok(item.clone())
}

/// `model.Post.IsValid` for what a client may send to `POST /api/v4/posts`.
pub fn check_post(req: &Value) -> Result<(), String> {
    only_keys(
        req,
        &[
            "channel_id",
            "message",
            "root_id",
            "file_ids",
            "props",
            "metadata",
        ],
    )?;
    id_field(req, "channel_id")?;
    let message = req["message"].as_str().unwrap_or_default();
    // model.PostMessageMaxRunesV2
    if message.chars().count() > 16383 {
        return Err("message is longer than 16383 characters".into());
    }
    if message.is_empty() && req["file_ids"].as_array().is_none_or(Vec::is_empty) {
        return Err("a post needs a message or files".into());
    }
    if req.get("root_id").is_some() {
        id_field(req, "root_id")?;
    }
    Ok(())
}

/// `model.PostEphemeral`: the user who sees it and the post.
pub fn check_ephemeral_post(req: &Value) -> Result<(), String> {
    only_keys(req, &["user_id", "post"])?;
    id_field(req, "user_id")?;
    check_post(&req["post"])
}

/// `model.IsValidId`: what Mattermost takes as an id is 26 letters and digits, so a host that
/// sends a channel's name (`town-square`) or a made-up id is refused as Mattermost would.
fn id_field(req: &Value, field: &str) -> Result<(), String> {
    let id = req[field].as_str().unwrap_or_default();
    if id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "{field} {id:?} is not a Mattermost id (26 letters and digits)"
        ))
    }
}

fn only_keys(obj: &Value, allowed: &[&str]) -> Result<(), String> {
    for key in obj.as_object().into_iter().flat_map(|o| o.keys()) {
        if !allowed.contains(&key.as_str()) {
            return Err(format!("unknown field `{key}`"));
        }
    }
    Ok(())
}

fn absolute_url(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
}

/// `model.Command.IsValid` for what a client may send to `POST /api/v4/commands`.
pub fn check_command(req: &Value) -> Result<(), String> {
    only_keys(
        req,
        &[
            "team_id",
            "trigger",
            "method",
            "username",
            "icon_url",
            "auto_complete",
            "auto_complete_desc",
            "auto_complete_hint",
            "display_name",
            "description",
            "url",
        ],
    )?;
    id_field(req, "team_id")?;
    let trigger = req["trigger"].as_str().unwrap_or_default();
    if trigger.is_empty()
        || trigger.starts_with('/')
        || trigger.contains(' ')
        || trigger.len() > 128
    {
        return Err(format!("invalid trigger {trigger:?}"));
    }
    if !["P", "G"].contains(&req["method"].as_str().unwrap_or_default()) {
        return Err("method must be P or G".into());
    }
    if !absolute_url(&req["url"]) {
        return Err("url must be an absolute http(s) URL".into());
    }
    Ok(())
}

/// `model.OutgoingWebhook.IsValid` for `POST /api/v4/hooks/outgoing`.
pub fn check_outgoing_webhook(req: &Value) -> Result<(), String> {
    only_keys(
        req,
        &[
            "team_id",
            "channel_id",
            "display_name",
            "description",
            "trigger_words",
            "trigger_when",
            "callback_urls",
            "content_type",
            "username",
            "icon_url",
        ],
    )?;
    id_field(req, "team_id")?;
    if req["channel_id"].as_str().is_some_and(|c| !c.is_empty()) {
        id_field(req, "channel_id")?;
    }
    let words = req["trigger_words"].as_array().cloned().unwrap_or_default();
    if words
        .iter()
        .any(|w| w.as_str().is_none_or(|w| w.trim().is_empty()))
    {
        return Err("a trigger word is empty".into());
    }
    if words.is_empty() && req["channel_id"].as_str().is_none_or(str::is_empty) {
        return Err("either trigger_words or channel_id must be set".into());
    }
    if !matches!(req["trigger_when"].as_i64(), Some(0 | 1)) {
        return Err("trigger_when must be 0 or 1".into());
    }
    let urls = req["callback_urls"].as_array().cloned().unwrap_or_default();
    if urls.is_empty() || !urls.iter().all(absolute_url) {
        return Err("callback_urls must be absolute http(s) URLs".into());
    }
    if !["application/json", "application/x-www-form-urlencoded"]
        .contains(&req["content_type"].as_str().unwrap_or_default())
    {
        return Err(
            "content_type must be application/json or application/x-www-form-urlencoded".into(),
        );
    }
    Ok(())
}

async fn open_dialog(
    State(s): State<StandIn>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let req = match authorized_json(&s, &headers, &body) {
        Ok(req) => req,
        Err(resp) => return *resp,
    };
    let trigger = req["trigger_id"].as_str().unwrap_or_default();
    let version = s.version.lock().expect("stand-in lock").clone();
    match s
        .verify_trigger_id(trigger)
        .and_then(|()| check_open_dialog(&req, &version))
    {
        Ok(()) => {
            s.opened.lock().expect("stand-in lock").push(req);
            (StatusCode::OK, axum::Json(json!({"status": "OK"}))).into_response()
        }
        Err(message) => app_error(
            StatusCode::BAD_REQUEST,
            "interactive_message.decode_trigger_id.app_error",
            &message,
        ),
    }
}

/// `GET /api/v4/system/ping`, which takes no token; the version is in the answer's header.
async fn ping() -> axum::response::Response {
    axum::Json(json!({"status": "OK"})).into_response()
}

/// `model.OpenDialogRequest` as documented (`model/integration_action.go`): trigger id,
/// absolute URL, and a dialog valid for a server of `version` (`X-Version-Id`), whose dynamic
/// selects (from 11.0) need a `data_source_url` that is an HTTP(S) URL or a `/plugins/` path
/// (`IsValidLookupURL`) and no options.
pub fn check_open_dialog(req: &Value, version: &str) -> Result<(), String> {
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or(format!("the stand-in's version {version:?} has no major"))?;
    let dynamic_selects = major >= 11;
    let obj = req.as_object().ok_or("body is not an object")?;
    for key in obj.keys() {
        if !["trigger_id", "url", "dialog"].contains(&key.as_str()) {
            return Err(format!("unknown field `{key}`"));
        }
    }
    let nonempty = |v: &Value, what: &str| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(|_| ())
            .ok_or(format!("{what} is required"))
    };
    nonempty(&req["trigger_id"], "trigger_id")?;
    let url = req["url"].as_str().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("url must be absolute, got {url:?}"));
    }
    let dialog = req["dialog"].as_object().ok_or("dialog is required")?;
    for key in dialog.keys() {
        if !DIALOG_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown dialog field `{key}`"));
        }
    }
    let title = dialog
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if title.is_empty() || title.chars().count() > LABEL_MAX {
        return Err(format!("dialog title must be 1 to {LABEL_MAX} characters"));
    }
    let mut names = std::collections::HashSet::new();
    for e in dialog
        .get("elements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let e = e.as_object().ok_or("an element is not an object")?;
        for key in e.keys() {
            if !ELEMENT_KEYS.contains(&key.as_str()) {
                return Err(format!("unknown element field `{key}`"));
            }
        }
        let name = e.get("name").and_then(Value::as_str).unwrap_or_default();
        let label = e
            .get("display_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || !names.insert(name.to_owned()) {
            return Err(format!(
                "element names must be present and unique ({name:?})"
            ));
        }
        if label.is_empty() || label.chars().count() > LABEL_MAX {
            return Err(format!(
                "element {name}: display_name must be 1 to {LABEL_MAX} characters"
            ));
        }
        let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
        if !ELEMENT_TYPES.contains(&kind) {
            return Err(format!("element {name}: unknown type {kind:?}"));
        }
        let subtype = e.get("subtype").and_then(Value::as_str).unwrap_or_default();
        if kind == "text" && !TEXT_SUBTYPES.contains(&subtype) {
            return Err(format!("element {name}: unknown subtype {subtype:?}"));
        }
        if kind == "select" {
            let source = e
                .get("data_source")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let has_options = e
                .get("options")
                .and_then(Value::as_array)
                .is_some_and(|o| !o.is_empty());
            let sources: &[&str] = if dynamic_selects {
                &["", "users", "channels", "dynamic"]
            } else {
                &["", "users", "channels"]
            };
            if !sources.contains(&source) {
                return Err(format!("element {name}: invalid data source {source:?}"));
            }
            if source.is_empty() && !has_options {
                return Err(format!(
                    "element {name}: a select needs options or a data_source"
                ));
            }
            let url = e
                .get("data_source_url")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let lookup_url =
                (url.starts_with("/plugins/") && !url.contains("..") && !url.contains("//"))
                    || url.starts_with("http://")
                    || url.starts_with("https://");
            if source == "dynamic" && (!lookup_url || has_options) {
                return Err(format!(
                    "element {name}: a dynamic select needs a valid data_source_url and no options"
                ));
            }
        }
    }
    Ok(())
}
