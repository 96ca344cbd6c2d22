//! The whole request pipeline, `Host::handle` and the Lambda adapter in front of it, over an
//! in-memory SQLite store and queue with the built-in apps installed for two tenants. Requests
//! aim at every route with random methods, content types, credentials (valid or not) and
//! bodies; every answer must be a JSON body with a status below 500.

use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use lambda_runtime::{Context as LambdaContext, LambdaEvent};
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use super::text::{SLASH_KEYS, WEBHOOK_KEYS, command_text};
use super::wire::{CALL_KEYS, CLASSIC_KEYS, EVENT_KEYS, call_request, event, subscription};
use super::{config, form_text, json_object, json_text, json_value, nasty_string};
use crate::apps::BuiltinApps;
use crate::auth::{AppClaims, CallToken, hash_token, now, sign_app_jwt, sign_call_token};
use crate::events::queue::SqliteQueue;
use crate::first_run::bootstrap;
use crate::functions::{self, Function};
use crate::http::Host;
use crate::http::testing::{self, Handle};
use crate::lambda::handle_event;
use crate::marketplace::catalog;
use crate::store::sqlite::SqliteStore;
use crate::store::{InstallState, TokenHash};

const SITE: &str = "https://mm.acme.test";
const OPERATOR: &str = "operator-credential";
/// Stand-ins in generated bodies for the secrets of the install a request is aimed at.
const COMMAND_TOKEN: &str = "XCOMMANDTOKENX";
const CALL_TOKEN: &str = "XCALLTOKENX";

const MARKET_KEYS: &[&str] = &[
    "id",
    "site_url",
    "version",
    "expected_version",
    "consent",
    "permissions",
    "locations",
    "bot",
    "user_id",
    "access_token",
    "mattermost",
    "admin_token",
    "values",
    "welcome_message",
    "keywords",
];

/// What a request carries to prove who sent it.
#[derive(Debug, Clone)]
enum Credential {
    /// An app JWT signed with the secret of the install the path names (or acme's hello).
    Jwt(String),
    /// An app JWT signed with a secret no install has.
    ForeignJwt,
    /// An app JWT that expired an hour ago.
    ExpiredJwt,
    AdminToken,
    /// Acme's admin token with its tenant part swapped for another tenant's.
    AdminTokenOfAcmeFor(String),
    OperatorToken,
    CommandToken,
    Text(String),
}

/// One generated request, before the fixture's secrets are filled in.
#[derive(Debug, Clone)]
struct Spec {
    method: String,
    path: String,
    query: String,
    content_type: Option<String>,
    credentials: Vec<(&'static str, &'static str, Credential)>,
    host: Option<String>,
    body: Vec<u8>,
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    host: Host,
    admin_token: String,
    listings: Vec<catalog::Listing>,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let apps = BuiltinApps::all();
    let host = Host::new(state, apps.clone())
        .with_queue(Arc::new(SqliteQueue::open_in_memory().unwrap()))
        .with_operator_token_hash(Some(hash_token(OPERATOR)));
    let listings = catalog::shipped().unwrap();
    let admin_token = rt.block_on(async {
        let market = host.marketplace();
        let globex = "https://mm.globex.test";
        bootstrap(market, &apps, &listings, "globex", globex, "http://h")
            .await
            .unwrap();
        bootstrap(market, &apps, &listings, "acme", SITE, "http://h")
            .await
            .unwrap()
            .admin_token
            .unwrap()
    });
    let f = Fixture {
        rt,
        host,
        admin_token,
        listings,
    };
    f.repair();
    f
}

/// The command token the fixture gives every install (only its hash is stored).
fn command_token_of(tenant: &str, app: &str) -> String {
    format!("command-token-{tenant}-{app}")
}

impl Fixture {
    /// Undoes what earlier cases did to the installs (uninstall, disable, rotate), so that later
    /// cases still reach the handlers with the credentials the fixture knows.
    fn repair(&self) {
        self.rt.block_on(async {
            let (market, state) = (self.host.marketplace(), self.host.state());
            for (tenant, site) in [("acme", SITE), ("globex", "https://mm.globex.test")] {
                bootstrap(
                    market,
                    self.host.apps(),
                    &self.listings,
                    tenant,
                    site,
                    "http://h",
                )
                .await
                .unwrap();
                for install in state.installs(tenant).await.unwrap() {
                    let token = TokenHash::of(&command_token_of(tenant, &install.app_id));
                    if !install.enabled || install.command_token != token {
                        let repaired = crate::store::Install {
                            enabled: true,
                            command_token: token,
                            ..install
                        };
                        state.update_install(&repaired).await.unwrap();
                    }
                }
            }
        });
    }

    /// The request `spec` describes, with the secrets of the install its path names.
    fn request(&self, spec: &Spec) -> TestRequest {
        let (tenant, app) =
            tenant_and_app(&spec.path).unwrap_or_else(|| ("acme".to_owned(), "hello".to_owned()));
        let install = self
            .rt
            .block_on(self.host.state().install(&tenant, &app))
            .ok()
            .flatten();
        let jwt_secret = install
            .as_ref()
            .map(|i| i.jwt_secret.expose().to_owned())
            .unwrap_or_default();
        let command_token = command_token_of(&tenant, &app);
        let jwt = |user: &str, exp: u64, secret: &str| {
            let claims = AppClaims {
                exp,
                acting_user_id: user.to_owned(),
                ..Default::default()
            };
            sign_app_jwt(&claims, secret)
        };
        let call_token = sign_call_token(
            &CallToken {
                path: "/send".into(),
                user_id: "u1".into(),
                exp: Some(now() + 600),
                state: None,
                lookup: false,
            },
            &jwt_secret,
        );
        let mut headers = HeaderMap::new();
        for (name, scheme, credential) in &spec.credentials {
            let secret = match credential {
                Credential::Jwt(user) => jwt(user, now() + 600, &jwt_secret),
                Credential::ForeignJwt => jwt("u1", now() + 600, "not-the-secret"),
                Credential::ExpiredJwt => jwt("u1", now() - 3600, &jwt_secret),
                Credential::AdminToken => self.admin_token.clone(),
                Credential::AdminTokenOfAcmeFor(tenant) => {
                    let secret = self.admin_token.split_once('.').unwrap().1;
                    format!("{tenant}.{secret}")
                }
                Credential::OperatorToken => OPERATOR.to_owned(),
                Credential::CommandToken => command_token.clone(),
                Credential::Text(text) => text.clone(),
            };
            if let Ok(value) = HeaderValue::from_str(&format!("{scheme}{secret}")) {
                headers.insert(*name, value);
            }
        }
        if let Some(ct) = spec
            .content_type
            .as_deref()
            .and_then(|ct| HeaderValue::from_str(ct).ok())
        {
            headers.insert(http::header::CONTENT_TYPE, ct);
        }
        if let Some(host) = spec
            .host
            .as_deref()
            .and_then(|h| HeaderValue::from_str(h).ok())
        {
            headers.insert(http::header::HOST, host);
        }
        let body = replace(&spec.body, COMMAND_TOKEN, &command_token);
        let body = replace(&body, CALL_TOKEN, &call_token);
        let method = Method::from_bytes(spec.method.as_bytes()).unwrap_or(Method::POST);
        TestRequest {
            method,
            path: spec.path.clone(),
            query: spec.query.clone(),
            headers,
            body: Bytes::from(body),
        }
    }

    /// Sends `req` to every route of the host, as the local server does. A path that is not
    /// a URI never reaches it (the server refuses it first): `None`.
    fn handle(&self, req: &TestRequest) -> Option<testing::Answer> {
        let req = req.to_request()?;
        Some(self.rt.block_on(self.host.handle(req)))
    }
}

/// A request as the strategies make it.
struct TestRequest {
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl TestRequest {
    fn to_request(&self) -> Option<http::Request<axum::body::Body>> {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let uri: http::Uri = uri.parse().ok()?;
        let mut req = http::Request::new(axum::body::Body::from(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        Some(req)
    }
}

/// The tenant and app of an app route, `/t/<tenant>/apps/<app>/...`.
fn tenant_and_app(path: &str) -> Option<(String, String)> {
    let mut parts = path.strip_prefix("/t/")?.split('/');
    let tenant = parts.next()?.to_owned();
    (parts.next()? == "apps").then_some(())?;
    Some((tenant, parts.next()?.to_owned()))
}

fn replace(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    match std::str::from_utf8(body) {
        Ok(text) => text.replace(from, to).into_bytes(),
        Err(_) => body.to_vec(),
    }
}

/// Checks one answer: JSON, and not a server error.
fn check(out: &testing::Answer, what: &str) -> Result<(), TestCaseError> {
    let body: Result<Value, _> = serde_json::from_slice(&out.body);
    // The answer to a HEAD has no body.
    prop_assert!(
        body.is_ok() || (what.starts_with("HEAD ") && out.body.is_empty()),
        "{what}: not JSON: {}",
        String::from_utf8_lossy(&out.body)
    );
    prop_assert!(
        out.status < 500,
        "{what}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.body)
    );
    Ok(())
}

fn tenant() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("acme".to_owned()),
        2 => Just("globex".to_owned()),
        1 => Just("initech".to_owned()),
        1 => nasty_string(),
    ]
}

fn app() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("hello".to_owned()),
        3 => Just("notices".to_owned()),
        3 => Just("marketplace".to_owned()),
        1 => Just("jitsi".to_owned()),
        1 => nasty_string(),
    ]
}

fn app_path(sub: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    (tenant(), app(), sub).prop_map(|(t, a, sub)| format!("/t/{t}/apps/{a}{sub}"))
}

fn call_sub() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "/send", "/send-form", "/ping", "/bindings", "/configure", "/configure/submit",
            "/install", "/list", "/on-user-joined-channel", "/on-channel-created",
            "/on-message-posted", "/", "",
        ])
        .prop_map(str::to_owned),
        1 => nasty_string().prop_map(|s| format!("/{s}")),
    ]
}

fn jwt_credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        12 => prop_oneof![4 => Just("u1".to_owned()), 1 => Just(String::new()), 1 => nasty_string()]
            .prop_map(Credential::Jwt),
        1 => Just(Credential::ForeignJwt),
        1 => Just(Credential::ExpiredJwt),
        1 => nasty_string().prop_map(Credential::Text),
    ]
}

fn any_credential() -> impl Strategy<Value = Credential> {
    prop_oneof![
        jwt_credential(),
        Just(Credential::AdminToken),
        tenant().prop_map(Credential::AdminTokenOfAcmeFor),
        Just(Credential::OperatorToken),
        Just(Credential::CommandToken),
        nasty_string().prop_map(Credential::Text),
    ]
}

/// Headers that carry a credential: the right one most of the time, any of them now and then.
fn credentials(
    usual: &'static str,
    scheme: &'static str,
    credential: impl Strategy<Value = Credential> + 'static,
) -> impl Strategy<Value = Vec<(&'static str, &'static str, Credential)>> {
    let header = prop::sample::select(vec![
        "authorization",
        crate::auth::APP_AUTH_HEADER,
        "x-other",
    ]);
    let scheme_of_any = prop::sample::select(vec!["Bearer ", "bearer ", "Token ", "", "Basic "]);
    prop_oneof![
        12 => credential.prop_map(move |c| vec![(usual, scheme, c)]),
        1 => Just(vec![]),
        2 => prop::collection::vec((header, scheme_of_any, any_credential()), 1..3),
    ]
}

fn content_type(usual: &'static str) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        16 => Just(Some(usual.to_owned())),
        1 => Just(Some(format!("{usual}; charset=utf-8"))),
        1 => Just(Some(usual.to_uppercase())),
        1 => Just(None),
        1 => prop::sample::select(vec![
            "application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data",
            "application/json-patch+json", ";", "",
        ])
        .prop_map(|ct| Some(ct.to_owned())),
        1 => nasty_string().prop_map(Some),
    ]
}

fn method(usual: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        16 => Just(usual.to_owned()),
        2 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"])
            .prop_map(str::to_owned),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        1 => prop::sample::select(vec![
            "force=true", "force=1", "max=2", "max=0", "max=-1", "max=99999999999999999999",
            "q=hello", "installed=true", "installed=maybe", "type=app", "category=x&q=%ff", "%",
        ])
        .prop_map(str::to_owned),
        1 => form_text(&["q", "type", "category", "installed", "max", "force"])
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A slash command form: the command token most of the time, text that walks the built-in
/// apps' commands, each key once (a repeated key is refused before anything else is read).
fn slash_form() -> impl Strategy<Value = Vec<u8>> {
    let vocabulary: Vec<String> = [
        "hello",
        "send",
        "--shout",
        "--message",
        "--json",
        "help",
        "config",
        "install",
        "list",
        "notices",
        "marketplace",
    ]
    .map(str::to_owned)
    .to_vec();
    let maybe = |s: BoxedStrategy<String>| prop_oneof![6 => s.prop_map(Some), 1 => Just(None)];
    let form = (
        maybe(prop_oneof![6 => Just(COMMAND_TOKEN.to_owned()), 1 => nasty_string()].boxed()),
        maybe(
            prop_oneof![
                6 => prop::sample::select(vec!["/hello", "/marketplace", "/notices"]).prop_map(str::to_owned),
                1 => nasty_string(),
            ]
            .boxed(),
        ),
        maybe(command_text(vocabulary).boxed()),
        maybe(prop_oneof![Just("u1".to_owned()), nasty_string()].boxed()),
        maybe(prop_oneof![Just("trigger".to_owned()), nasty_string()].boxed()),
        prop::collection::vec((prop::sample::select(SLASH_KEYS), nasty_string()), 0..2),
    )
        .prop_map(|(token, command, text, user_id, trigger_id, more)| {
            let mut pairs: std::collections::BTreeMap<String, String> = more
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            for (key, value) in [
                ("token", token),
                ("command", command),
                ("text", text),
                ("user_id", user_id),
                ("trigger_id", trigger_id),
            ] {
                if let Some(value) = value {
                    pairs.insert(key.into(), value);
                }
            }
            serde_html_form::to_string(pairs)
                .unwrap_or_default()
                .into_bytes()
        });
    prop_oneof![6 => form, 1 => form_text(SLASH_KEYS)]
}

fn webhook_body() -> impl Strategy<Value = (Option<String>, Vec<u8>)> {
    let vocabulary: Vec<String> = ["hello", "send", "--shout", "--message", "help"]
        .map(str::to_owned)
        .to_vec();
    let hook = (
        prop::sample::select(vec!["hello", "", "notices", "hello send"]),
        command_text(vocabulary),
        prop_oneof![Just(COMMAND_TOKEN.to_owned()), nasty_string()],
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(|(trigger, text, token, timestamp, as_json)| {
            let fields = json!({"token": token, "trigger_word": trigger, "text": format!("{trigger} {text}"),
                                "user_id": "u1", "channel_id": "c1", "post_id": "p1", "team_id": "t1",
                                "timestamp": timestamp});
            if as_json {
                (Some("application/json".to_owned()), fields.to_string().into_bytes())
            } else {
                let pairs: Vec<(String, String)> = fields
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or(v.to_string())))
                    .collect();
                (
                    Some("application/x-www-form-urlencoded".to_owned()),
                    serde_html_form::to_string(pairs).unwrap_or_default().into_bytes(),
                )
            }
        });
    prop_oneof![
        4 => hook,
        1 => (content_type("application/json"), json_text(WEBHOOK_KEYS)),
        1 => (content_type("application/x-www-form-urlencoded"), form_text(WEBHOOK_KEYS)),
    ]
}

/// A call request as Mattermost sends one (from the tenant's site, for the JWT's user), any
/// call request, or any near-valid JSON.
fn call_body() -> impl Strategy<Value = Vec<u8>> {
    let usual = (
        prop::sample::select(vec!["/send", "/ping", "/bindings", "/configure", "/list", ""]),
        json_object(&["message", "shout", "welcome_message", "keywords", "app", "version"]),
        prop_oneof![3 => Just(json!({"id": "u1"})), 1 => Just(json!({})), 1 => Just(json!({"id": "u2"}))],
        prop_oneof![3 => Just(SITE), 1 => Just(""), 1 => Just("https://mm.globex.test")],
    )
        .prop_map(|(path, values, acting_user, site)| {
            json!({"path": path, "values": values,
                   "context": {"acting_user": acting_user, "mattermost_site_url": site,
                               "subject": "user_joined_channel", "channel": {"id": "c1"},
                               "user": {"id": "u1"}}})
            .to_string()
            .into_bytes()
        });
    prop_oneof![
        8 => usual,
        2 => (call_request(), any::<bool>()).prop_map(|(mut call, ours)| {
            if ours {
                call.context.mattermost_site_url = SITE.into();
            }
            serde_json::to_vec(&call).unwrap()
        }),
        1 => json_text(CALL_KEYS),
        1 => Just(Vec::new()),
    ]
}

/// The signed call token in a field most of the time, any JSON value now and then.
fn call_token_value() -> impl Strategy<Value = Value> {
    prop_oneof![3 => Just(json!(CALL_TOKEN)), 1 => json_value(&[])]
}

fn post_action_body() -> impl Strategy<Value = Vec<u8>> {
    let user = prop_oneof![3 => Just(json!("u1")), 1 => json_value(&[])];
    let usual =
        (json_object(CLASSIC_KEYS), call_token_value(), user).prop_map(|(mut v, token, user)| {
            v["context"] = json!({"cloudapps_call": token});
            v["user_id"] = user;
            v.to_string().into_bytes()
        });
    prop_oneof![3 => usual, 1 => json_text(CLASSIC_KEYS)]
}

fn dialog_body() -> impl Strategy<Value = Vec<u8>> {
    let usual = (
        json_object(&["message", "shout"]),
        any::<bool>(),
        call_token_value(),
    )
        .prop_map(|(submission, cancelled, state)| {
            let body = json!({"type": "dialog_submission", "callback_id": "cb", "state": state,
                              "user_id": "u1", "submission": submission, "cancelled": cancelled});
            body.to_string().into_bytes()
        });
    prop_oneof![3 => usual, 1 => json_text(CLASSIC_KEYS)]
}

fn marketplace_path() -> impl Strategy<Value = (String, String)> {
    let op = prop::sample::select(crate::paths::Op::ALL.to_vec());
    (
        op,
        tenant(),
        app(),
        prop_oneof![6 => Just(String::new()), 1 => nasty_string()],
    )
        .prop_map(|(op, tenant, app, junk)| {
            let path = op
                .path()
                .replace("{tenant}", &tenant)
                .replace("{app}", &app);
            (op.method().to_owned(), format!("{path}{junk}"))
        })
}

/// Requests aimed at every route, each with what it usually carries, often perturbed.
fn spec() -> impl Strategy<Value = Spec> {
    type Parts = (
        String,
        String,
        Option<String>,
        Vec<(&'static str, &'static str, Credential)>,
        Vec<u8>,
    );
    let json = "application/json";
    let form = "application/x-www-form-urlencoded";
    let app_jwt = || credentials(crate::auth::APP_AUTH_HEADER, "Bearer ", jwt_credential());
    let admin = || {
        credentials(
            "authorization",
            "Bearer ",
            prop_oneof![
                4 => Just(Credential::AdminToken),
                1 => tenant().prop_map(Credential::AdminTokenOfAcmeFor),
                1 => Just(Credential::OperatorToken),
                1 => nasty_string().prop_map(Credential::Text),
            ],
        )
    };
    let operator = || credentials("authorization", "Bearer ", Just(Credential::OperatorToken));
    let call = (
        method("POST"),
        app_path(call_sub()),
        content_type(json),
        app_jwt(),
        call_body(),
    );
    let manifest = (
        method("GET"),
        app_path(Just("/manifest.json".to_owned())),
        content_type(json),
        Just(vec![]),
        Just(vec![]),
    );
    let command_token = prop_oneof![
        3 => Just(vec![]),
        1 => credentials("authorization", "Token ", Just(Credential::CommandToken)),
    ];
    let slash = (
        method("POST"),
        app_path(Just("/v1/command".to_owned())),
        content_type(form),
        command_token,
        slash_form(),
    );
    let action = (
        method("POST"),
        app_path(Just("/v1/action".to_owned())),
        content_type(json),
        Just(vec![]),
        post_action_body(),
    );
    let dialog = (
        method("POST"),
        app_path(Just("/v1/dialog".to_owned())),
        content_type(json),
        Just(vec![]),
        dialog_body(),
    );
    let webhook = (
        method("POST"),
        app_path(prop::sample::select(vec![
            "/v1/outgoing".to_owned(),
            "/v1/events".to_owned(),
        ])),
        webhook_body(),
    )
        .prop_map(|(m, p, (ct, body))| (m, p, ct, vec![], body));
    let notify = (
        method("POST"),
        app_path(Just("/v1/notify".to_owned())),
        content_type(json),
        app_jwt(),
        call_body(),
    );
    let subscribe = (
        method("POST"),
        app_path(prop::sample::select(vec![
            "/v1/subscribe".to_owned(),
            "/v1/unsubscribe".to_owned(),
        ])),
        content_type(json),
        app_jwt(),
        prop_oneof![
            3 => subscription().prop_map(|s| serde_json::to_vec(&s).unwrap()),
            1 => json_text(EVENT_KEYS),
        ],
    );
    let subscriptions = (
        method("GET"),
        app_path(Just("/v1/subscriptions".to_owned())),
        content_type(json),
        app_jwt(),
        Just(vec![]),
    );
    let marketplace = (
        marketplace_path(),
        content_type(json),
        admin(),
        prop_oneof![json_text(MARKET_KEYS), Just(vec![])],
    )
        .prop_map(|((m, p), ct, c, b)| (m, p, ct, c, b));
    let ingest = (
        method("POST"),
        tenant().prop_map(|t| format!("/events/t/{t}")),
        content_type(json),
        admin(),
        prop_oneof![
            3 => event().prop_map(|e| serde_json::to_vec(&e).unwrap()),
            1 => json_text(EVENT_KEYS),
        ],
    );
    let dead_letters = (
        prop::sample::select(vec!["GET".to_owned(), "POST".to_owned()]),
        prop::sample::select(vec![
            "/events/dead-letters".to_owned(),
            "/events/dead-letters/redrive".to_owned(),
            "/events/dead-letters/".to_owned(),
        ]),
        content_type(json),
        operator(),
        Just(vec![]),
    );
    let anywhere = (
        method("POST"),
        prop_oneof![
            nasty_string(),
            nasty_string().prop_map(|s| format!("/{s}")),
            Just("/marketplace".to_owned()),
            Just("/events/".to_owned()),
        ],
        content_type(json),
        credentials("authorization", "Bearer ", any_credential()),
        prop_oneof![json_text(CALL_KEYS), form_text(SLASH_KEYS)],
    );
    let targets: Vec<(u32, BoxedStrategy<Parts>)> = vec![
        (6, call.boxed()),
        (1, manifest.boxed()),
        (4, slash.boxed()),
        (2, action.boxed()),
        (2, dialog.boxed()),
        (2, webhook.boxed()),
        (2, notify.boxed()),
        (2, subscribe.boxed()),
        (1, subscriptions.boxed()),
        (3, marketplace.boxed()),
        (2, ingest.boxed()),
        (1, dead_letters.boxed()),
        (2, anywhere.boxed()),
    ];
    let host_header = prop_oneof![
        4 => Just(None),
        1 => Just(Some("cloudapps.example".to_owned())),
        1 => nasty_string().prop_map(Some),
    ];
    let body_size = prop_oneof![
        100 => Just(None),
        1 => Just(Some(crate::http::MAX_BODY_BYTES + 1)),
    ];
    (
        Union::new_weighted(targets),
        query(),
        host_header,
        body_size,
    )
        .prop_map(
            |((method, path, content_type, credentials, body), query, host, oversize)| Spec {
                method,
                path,
                query,
                content_type,
                credentials,
                host,
                body: match oversize {
                    Some(n) => vec![b' '; n],
                    None => body,
                },
            },
        )
}

#[test]
fn the_host_answers_every_request_with_json_below_500() {
    let f = fixture();
    let mut runner = TestRunner::new(config());
    runner
        .run(&spec(), |spec| {
            let Some(out) = f.handle(&f.request(&spec)) else {
                return Ok(());
            };
            f.repair();
            check(&out, &format!("{} {}", spec.method, spec.path))
        })
        .unwrap();
}

/// A Lambda event carrying `req`: an API Gateway HTTP API request (`flag`: its body
/// base64-encoded), or an Apps invoke envelope (`flag`: with the bare call path).
fn lambda_payload(req: TestRequest, http_api: bool, flag: bool) -> Value {
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), Value::from(v.to_str().ok()?))))
        .collect();
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let method = req.method.as_str();
    if http_api {
        let (b64, body) = (flag, body);
        let body = if b64 {
            base64::engine::general_purpose::STANDARD.encode(&body)
        } else {
            body
        };
        json!({"rawPath": req.path, "rawQueryString": req.query, "headers": headers,
               "requestContext": {"http": {"method": method, "path": req.path}, "requestId": "r1"},
               "body": body, "isBase64Encoded": b64})
    } else {
        // The Apps plugin sends the bare call path to a tenant's alias.
        let bare = flag;
        let path = match req.path.splitn(6, '/').nth(5) {
            Some(call) if bare => format!("/{call}"),
            _ => req.path.clone(),
        };
        json!({"path": path, "httpMethod": method, "headers": headers, "rawQuery": req.query,
               "body": body})
    }
}

/// A request as an HTTP API event or envelope (see [`lambda_payload`]), or a raw event.
type LambdaCase = Result<(Spec, bool, bool), Value>;

/// The Lambda adapter in front of the host: API Gateway HTTP API events and Apps invoke
/// envelopes made from the same requests, and near-valid events of neither shape, to every
/// function through each kind of alias.
#[test]
fn every_lambda_event_is_answered_with_json_below_500() {
    const EVENT_KEYS: &[&str] = &[
        "path",
        "httpMethod",
        "headers",
        "body",
        "rawPath",
        "requestContext",
        "http",
        "method",
        "isBase64Encoded",
        "rawQueryString",
        "rawQuery",
    ];
    let f = fixture();
    let event = prop_oneof![
        4 => (spec(), any::<bool>(), any::<bool>()).prop_map(Ok),
        1 => json_text(EVENT_KEYS)
            .prop_map(|text| Err(serde_json::from_slice(&text).unwrap_or(Value::Null))),
    ];
    let function = prop::sample::select(
        functions::all()
            .iter()
            .filter(|f| f.http_routes().len() > 0)
            .collect::<Vec<_>>(),
    );
    let alias = prop::sample::select(vec!["", ":t-acme", ":t-globex", ":live", ":t-"]);
    let mut runner = TestRunner::new(config());
    let run = |(event, function, alias): (LambdaCase, &'static Function, &str)| {
        let head = matches!(&event, Ok((spec, ..)) if spec.method == "HEAD");
        let payload = match event {
            Ok((spec, http_api, flag)) => lambda_payload(f.request(&spec), http_api, flag),
            Err(raw) => raw,
        };
        let mut context = LambdaContext::default();
        context.invoked_function_arn = format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}{alias}",
            function.name
        );
        context.request_id = "r1".into();
        let router = f.host.function_router(function).expect("an HTTP function");
        let event = LambdaEvent::new(payload, context);
        let resp = f.rt.block_on(handle_event(&router, function.app(), event));
        f.repair();
        let out = testing::Answer {
            status: resp.status_code,
            headers: HeaderMap::new(),
            body: resp.body.into(),
        };
        let head = if head { "HEAD " } else { "" };
        check(&out, &format!("{head}{}", function.name))
    };
    runner.run(&(event, function, alias), run).unwrap();
}

#[test]
fn the_pipeline_strategy_reaches_the_handlers() {
    // Not a property: a check that the generated requests get past auth often enough to test
    // the decoders behind it, so the properties above mean something.
    let f = fixture();
    let mut runner = TestRunner::deterministic();
    let mut ok = 0;
    for _ in 0..300 {
        let spec = spec().new_tree(&mut runner).unwrap().current();
        let Some(out) = f.handle(&f.request(&spec)) else {
            continue;
        };
        f.repair();
        ok += usize::from(out.status < 300);
    }
    assert!(
        ok >= 30,
        "only {ok} of 300 generated requests were answered 2xx"
    );
}
