//! The marketplace through the host's HTTP pipeline, on the SQLite adapter.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::catalog;
use crate::apps::BuiltinApps;
use crate::auth::{self, AppClaims, sign_app_jwt};
use crate::http::Host;
use crate::http::testing::{Handle, request};
use crate::outbound::PrivateNetworks;
use crate::provisioners::EmbeddedProvisioner;
use crate::store::InstallState;
use crate::store::sqlite::SqliteStore;

const OPERATOR: &str = "operator-credential";

struct Market {
    host: Host,
    state: InstallState,
}

async fn market() -> Market {
    let state = InstallState::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    state
        .publish_catalog(catalog::GENERATION, &catalog::shipped().unwrap())
        .await
        .unwrap();
    let host = Host::new(state.clone(), BuiltinApps::all())
        .with_public_url(Some("https://apps.example".into()))
        .with_operator_token_hash(Some(auth::hash_token(OPERATOR)));
    Market { host, state }
}

impl Market {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut headers = HeaderMap::new();
        if let Some(t) = token {
            headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        let body = match body {
            Some(b) => {
                headers.insert("content-type", "application/json".parse().unwrap());
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let out = self.host.handle(request(method, path, headers, body)).await;
        (out.status, serde_json::from_slice(&out.body).unwrap())
    }

    async fn register(&self, id: &str) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/marketplace/tenants",
                Some(OPERATOR),
                Some(json!({"id": id, "site_url": format!("https://mm.{id}.test")})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["admin_token"].as_str().unwrap().to_owned()
    }

    /// Installs the newest hello with full consent; returns its JWT secret.
    async fn install_latest(&self, tenant: &str, token: &str) -> String {
        let (status, installed) = self
            .install(tenant, token, json!({"consent": consent_all()}))
            .await;
        assert_eq!(status, 201, "{installed}");
        installed["jwt_secret"].as_str().unwrap().to_owned()
    }

    async fn install(&self, tenant: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(
            Method::POST,
            &format!("/marketplace/t/{tenant}/apps/hello/install"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// An Apps call to the installed hello app, signed with `secret`.
    async fn hello_call(
        &self,
        tenant: &str,
        secret: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        self.app_call(tenant, "hello", secret, path, body).await
    }

    /// An Apps call to an installed app, signed with its JWT secret.
    async fn app_call(
        &self,
        tenant: &str,
        app: &str,
        secret: &str,
        path: &str,
        mut body: Value,
    ) -> (u16, Value) {
        // As Mattermost sends it: its site URL is in every call's context.
        if let Some(context) = body
            .as_object_mut()
            .map(|b| b.entry("context").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            context
                .entry("mattermost_site_url")
                .or_insert_with(|| format!("https://mm.{tenant}.test").into());
        }
        let jwt = sign_app_jwt(
            &AppClaims {
                exp: auth::now() + 60,
                acting_user_id: "u1".into(),
                ..Default::default()
            },
            secret,
        );
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert(
            "mattermost-app-authorization",
            format!("Bearer {jwt}").parse().unwrap(),
        );
        let req = request(
            Method::POST,
            format!("/t/{tenant}/apps/{app}{path}"),
            headers,
            Bytes::from(body.to_string()),
        );
        let out = self.host.handle(req).await;
        (out.status, serde_json::from_slice(&out.body).unwrap())
    }
}

fn consent_all() -> Value {
    json!({"permissions": ["act_as_bot", "act_as_user", "user_joined_channel_notification"], "locations": ["/command", "/post_menu"]})
}

fn send_body(message: &str) -> Value {
    json!({"values": {"message": message}, "context": {"acting_user": {"id": "u1", "username": "alice"}}})
}

#[tokio::test]
async fn registering_a_tenant_needs_the_operator_credential() {
    let m = market().await;
    let body = json!({"id": "acme", "site_url": "https://mm.acme.test"});
    assert_eq!(
        m.send(
            Method::POST,
            "/marketplace/tenants",
            None,
            Some(body.clone())
        )
        .await
        .0,
        401
    );
    assert_eq!(
        m.send(
            Method::POST,
            "/marketplace/tenants",
            Some("guess"),
            Some(body.clone())
        )
        .await
        .0,
        401
    );
    let (status, registered) = m
        .send(
            Method::POST,
            "/marketplace/tenants",
            Some(OPERATOR),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 201);
    assert!(
        registered["admin_token"]
            .as_str()
            .unwrap()
            .starts_with("acme.")
    );
    assert_eq!(
        registered["marketplace_url"],
        "https://apps.example/marketplace/t/acme/apps"
    );
    let stored = m.state.tenant("acme").await.unwrap().unwrap();
    assert!(
        !serde_json::to_string(&stored).unwrap().contains(
            registered["admin_token"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap()
        ),
        "only the hash is kept"
    );
    assert_eq!(
        m.send(
            Method::POST,
            "/marketplace/tenants",
            Some(OPERATOR),
            Some(body)
        )
        .await
        .0,
        409
    );
    let (status, bad) = m
        .send(
            Method::POST,
            "/marketplace/tenants",
            Some(OPERATOR),
            Some(json!({"id": "x", "site_url": "ftp://x"})),
        )
        .await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("bad_request")));
    let closed = Host::new(m.state.clone(), BuiltinApps::all());
    let out = closed
        .handle(request(
            Method::POST,
            "/marketplace/tenants",
            HeaderMap::new(),
            Bytes::new(),
        ))
        .await;
    assert_eq!(out.status, 403);
}

#[tokio::test]
async fn a_site_url_on_a_private_network_is_refused_unless_allowed() {
    let m = market().await;
    let register = |host: Host, site: &'static str| {
        let m = Market {
            host,
            state: m.state.clone(),
        };
        async move {
            m.send(
                Method::POST,
                "/marketplace/tenants",
                Some(OPERATOR),
                Some(json!({"id": "x", "site_url": site})),
            )
            .await
        }
    };
    for (site, rule) in [
        (
            "http://169.254.169.254",
            "`169.254.169.254` is a link-local address",
        ),
        ("http://127.0.0.1:8065", "loopback address"),
        ("http://10.0.0.5/mattermost", "private address"),
        ("http://[::ffff:192.168.0.1]", "private address"),
        ("http://[fd00:ec2::254]", "unique-local"),
        ("http://localhost:8065", "`localhost` is a loopback name"),
        ("https://admin:pw@mm.example.com", "user name or password"),
        ("https://mm.example.com/?token=t", "no query"),
        ("ftp://mm.example.com", "only http and https"),
    ] {
        let (status, bad) = register(m.host.clone(), site).await;
        assert_eq!(
            (status, bad["code"].as_str()),
            (400, Some("bad_request")),
            "{site}: {bad}"
        );
        let text = bad["text"].as_str().unwrap();
        assert!(
            text.starts_with("site_url: ") && text.contains(rule),
            "{site}: {text}"
        );
        assert!(!text.contains("pw@"), "{text}");
    }
    assert!(m.state.tenant("x").await.unwrap().is_none());

    let allowed = m
        .host
        .clone()
        .with_private_networks(PrivateNetworks::Allowed);
    let (status, body) = register(allowed, "http://localhost:8065/").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["site_url"], "http://localhost:8065");
}

#[tokio::test]
async fn one_tenants_token_never_reaches_another_tenants_data() {
    let m = market().await;
    let acme = m.register("acme").await;
    let globex = m.register("globex").await;
    assert_eq!(
        m.install("acme", &acme, json!({"consent": consent_all()}))
            .await
            .0,
        201
    );
    for (token, expect) in [
        (Some(acme.as_str()), 401),
        (None, 401),
        (Some("globex.not-the-secret"), 401),
        (Some("garbage"), 401),
    ] {
        let (status, body) = m
            .send(Method::GET, "/marketplace/t/globex/apps/hello", token, None)
            .await;
        assert_eq!(status, expect, "{token:?}: {body}");
    }
    // Whether a tenant exists is not told to a token that is not its own.
    for token in [acme.as_str(), "nobody.guess"] {
        let (status, body) = m
            .send(Method::GET, "/marketplace/t/nobody/apps", Some(token), None)
            .await;
        assert_eq!(status, 401, "{token}: {body}");
        assert!(
            !body["text"].as_str().unwrap().contains("unknown"),
            "{body}"
        );
    }
    // Globex sees its own (empty) installs, not acme's.
    let (_, listed) = m
        .send(
            Method::GET,
            "/marketplace/t/globex/apps?installed=true",
            Some(&globex),
            None,
        )
        .await;
    assert_eq!(listed["apps"], json!([]));
}

#[tokio::test]
async fn listings_with_search_and_filters() {
    let m = market().await;
    let token = m.register("acme").await;
    let ids = |body: &Value| {
        body["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let get = |q: &'static str| {
        let token = token.clone();
        let m = &m;
        async move {
            m.send(
                Method::GET,
                &format!("/marketplace/t/acme/apps{q}"),
                Some(&token),
                None,
            )
            .await
        }
    };
    assert_eq!(
        ids(&get("").await.1),
        ["hello", "jitsi", "marketplace", "notices"]
    );
    assert_eq!(ids(&get("?q=VIDEO").await.1), ["jitsi"]);
    assert_eq!(ids(&get("?type=plugin").await.1), ["jitsi"]);
    assert_eq!(
        ids(&get("?type=integration&category=developer").await.1),
        ["hello"]
    );
    assert_eq!(ids(&get("?installed=true").await.1), Vec::<String>::new());
    let (status, bad) = get("?type=widget").await;
    assert_eq!((status, bad["code"].as_str()), (400, Some("bad_request")));
    assert_eq!(
        m.install("acme", &token, json!({"consent": consent_all()}))
            .await
            .0,
        201
    );
    let (_, installed) = get("?installed=true").await;
    assert_eq!(ids(&installed), ["hello"]);
    assert_eq!(installed["apps"][0]["installed"]["version"], "v1.1.0");
    assert_eq!(
        ids(&get("?installed=false").await.1),
        ["jitsi", "marketplace", "notices"]
    );

    let (status, hello) = m
        .send(
            Method::GET,
            "/marketplace/t/acme/apps/hello",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let versions: Vec<&str> = hello["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["v1.1.0", "v1.0.0", "v0.9.0"]);
    assert_eq!(
        hello["versions"][0]["manifest"]["requested_permissions"][1],
        "act_as_user"
    );
    assert_eq!(
        hello["versions"][0]["requested_subjects"],
        json!(["user_joined_channel"])
    );
    assert_eq!(
        hello["integrations"]["slash_commands"][0]["trigger"],
        "hello"
    );
    assert_eq!(
        m.send(
            Method::GET,
            "/marketplace/t/acme/apps/nope",
            Some(&token),
            None
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn install_needs_consent_answers_once_and_then_serves_the_app() {
    let m = market().await;
    let token = m.register("acme").await;
    let (status, refused) = m.install("acme", &token, json!({})).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("consent_required"))
    );
    assert!(
        refused["text"].as_str().unwrap().contains("act_as_user"),
        "{refused}"
    );
    let partial = json!({"consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]}});
    assert_eq!(m.install("acme", &token, partial).await.0, 400);
    assert!(
        m.state.install("acme", "hello").await.unwrap().is_none(),
        "refusals leave nothing behind"
    );
    assert_eq!(
        m.install(
            "acme",
            &token,
            json!({"version": "v9.9.9", "consent": consent_all()})
        )
        .await
        .0,
        400
    );
    let (status, plugin) = m
        .send(
            Method::POST,
            "/marketplace/t/acme/apps/jitsi/install",
            Some(&token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        plugin["text"]
            .as_str()
            .unwrap()
            .contains("jitsi-2.1.0.tar.gz")
    );

    let (status, installed) = m.install("acme", &token, json!({"consent": consent_all(), "bot": {"user_id": "b1", "access_token": "bot-token"}})).await;
    assert_eq!(status, 201, "{installed}");
    assert_eq!(
        installed["manifest_url"],
        "https://apps.example/t/acme/apps/hello/manifest.json"
    );
    assert_eq!(
        installed["slash_commands"][0],
        json!({"name": "hello", "url": "https://apps.example/t/acme/apps/hello/v1/command", "token": installed["command_token"], "registered": false})
    );
    assert_eq!(
        installed["message"],
        "Hello is installed. Try `/hello send hi`."
    );
    let provisioned: Vec<&str> = installed["provisioned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["function"].as_str().unwrap())
        .collect();
    let version = installed["version"].as_str().unwrap();
    assert_eq!(
        provisioned,
        crate::functions::invoked_functions("hello", version).unwrap(),
        "what AWS would have pinned: the functions the Apps plugin invokes"
    );
    let secret = installed["jwt_secret"].as_str().unwrap();

    // Secrets are never shown again.
    let (_, shown) = m
        .send(
            Method::GET,
            "/marketplace/t/acme/apps/hello",
            Some(&token),
            None,
        )
        .await;
    assert!(!shown.to_string().contains(secret));
    assert_eq!(
        m.install("acme", &token, json!({"consent": consent_all()}))
            .await
            .0,
        409
    );
    assert_eq!(
        m.hello_call("acme", secret, "/send", send_body("hi")).await,
        (
            200,
            json!({"type": "ok", "text": "Hello, @alice! You said: hi"})
        )
    );
    let (_, manifest) = m
        .send(Method::GET, "/t/acme/apps/hello/manifest.json", None, None)
        .await;
    assert_eq!(
        manifest["http"]["root_url"],
        "https://apps.example/t/acme/apps/hello"
    );
}

#[tokio::test]
async fn concurrent_installs_have_exactly_one_winner() {
    let m = Arc::new(market().await);
    let token = m.register("acme").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (m, token) = (m.clone(), token.clone());
            tokio::spawn(async move {
                m.install("acme", &token, json!({"consent": consent_all()}))
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
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
}

#[tokio::test]
async fn upgrade_and_downgrade_move_between_listed_versions() {
    let m = market().await;
    let token = m.register("acme").await;
    let old = json!({"version": "v0.9.0", "consent": {"permissions": ["act_as_bot"], "locations": ["/command"]}});
    let (status, installed) = m.install("acme", &token, old).await;
    assert_eq!(status, 201);
    assert_eq!(installed["message"], "", "v0.9.0 has no on_install");
    let path = "/marketplace/t/acme/apps/hello/version";
    let (status, refused) = m
        .send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"version": "v1.1.0", "expected_version": "v0.9.0"})),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("consent_required"))
    );
    assert!(
        refused["text"].as_str().unwrap().contains("/post_menu")
            && !refused["text"].as_str().unwrap().contains("act_as_bot"),
        "only what is new needs consent: {refused}"
    );

    let upgrade =
        json!({"version": "v1.1.0", "expected_version": "v0.9.0", "consent": consent_all()});
    let (status, changed) = m
        .send(Method::POST, path, Some(&token), Some(upgrade.clone()))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["previous_version"], "v0.9.0");
    assert_eq!(changed["message"], "Hello moved from v0.9.0 to v1.1.0.");
    assert_eq!(
        changed["install"]["granted_locations"],
        json!(["/command", "/post_menu"])
    );
    let (status, stale) = m
        .send(Method::POST, path, Some(&token), Some(upgrade))
        .await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (409, Some("conflict")),
        "an upgrade against a stale version"
    );

    let (status, down) = m
        .send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"version": "v1.0.0", "expected_version": "v1.1.0"})),
        )
        .await;
    assert_eq!(
        status, 200,
        "a downgrade asks for less and needs no new consent: {down}"
    );
    assert_eq!(
        down["install"]["granted_permissions"],
        json!(["act_as_bot"])
    );
    let recorded = EmbeddedProvisioner::new(m.state.clone())
        .recorded("acme", "hello")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.0, "v1.0.0", "re-provisioned at the new version");
    let (_, manifest) = m
        .send(Method::GET, "/t/acme/apps/hello/manifest.json", None, None)
        .await;
    assert_eq!(
        manifest["version"], "v1.0.0",
        "Mattermost sees the installed version's manifest"
    );
    assert_eq!(
        m.send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"version": "v7", "expected_version": "v1.0.0"}))
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn user_tokens_need_act_as_user() {
    let m = market().await;
    let token = m.register("acme").await;
    let v1 = json!({"version": "v1.0.0", "consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]}});
    let secret = m.install("acme", &token, v1).await.1["jwt_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = send_body("hi");
    body["expand"] = json!({"acting_user_access_token": "all"});
    let (status, refused) = m.hello_call("acme", &secret, "/send", body.clone()).await;
    assert_eq!(
        (status, refused["type"].as_str(), refused["code"].as_str()),
        (200, Some("error"), Some("forbidden")),
        "{refused}"
    );
    assert!(refused["text"].as_str().unwrap().contains("act_as_user"));
    assert_eq!(
        m.hello_call("acme", &secret, "/send", send_body("hi"))
            .await
            .0,
        200
    );
    let up = json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": consent_all()});
    assert_eq!(
        m.send(
            Method::POST,
            "/marketplace/t/acme/apps/hello/version",
            Some(&token),
            Some(up)
        )
        .await
        .0,
        200
    );
    assert_eq!(m.hello_call("acme", &secret, "/send", body).await.0, 200);
}

#[tokio::test]
async fn configure_in_place_validates_and_stores_per_tenant() {
    let m = market().await;
    let token = m.register("acme").await;
    let secret = m.install_latest("acme", &token).await;
    let path = "/marketplace/t/acme/apps/hello/config";
    let (status, form) = m.send(Method::GET, path, Some(&token), None).await;
    assert_eq!((status, form["type"].as_str()), (200, Some("form")));
    assert_eq!(form["form"]["fields"][0]["value"], "Hello");
    let (status, invalid) = m
        .send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"values": {"greeting": ""}})),
        )
        .await;
    assert_eq!((status, invalid["code"].as_str()), (400, Some("invalid")));
    assert_eq!(
        invalid["data"]["errors"]["greeting"],
        "Say how Hello should greet."
    );
    assert_eq!(
        m.send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"values": {"greeting": "Howdy"}}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        m.hello_call("acme", &secret, "/send", send_body("hi"))
            .await
            .1["text"],
        "Howdy, @alice! You said: hi"
    );
    assert_eq!(
        m.send(Method::GET, path, Some(&token), None).await.1["form"]["fields"][0]["value"],
        "Howdy"
    );
    assert_eq!(
        m.send(
            Method::POST,
            path,
            Some(&token),
            Some(json!({"greeting": "no values key"}))
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn parallel_configure_and_upgrade_lose_no_update() {
    let m = Arc::new(market().await);
    let token = m.register("acme").await;
    let old = json!({"version": "v1.0.0", "consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]}});
    assert_eq!(m.install("acme", &token, old).await.0, 201);
    let configure = {
        let (m, token) = (m.clone(), token.clone());
        tokio::spawn(async move {
            m.send(
                Method::POST,
                "/marketplace/t/acme/apps/hello/config",
                Some(&token),
                Some(json!({"values": {"greeting": "Hi"}})),
            )
            .await
            .0
        })
    };
    let upgrade = {
        let (m, token) = (m.clone(), token.clone());
        let body =
            json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": consent_all()});
        tokio::spawn(async move {
            m.send(
                Method::POST,
                "/marketplace/t/acme/apps/hello/version",
                Some(&token),
                Some(body),
            )
            .await
            .0
        })
    };
    assert_eq!(
        (configure.await.unwrap(), upgrade.await.unwrap()),
        (200, 200)
    );
    let install = m.state.install("acme", "hello").await.unwrap().unwrap();
    assert_eq!(
        (
            install.version.as_str(),
            install.config["greeting"].as_str()
        ),
        ("v1.1.0", Some("Hi"))
    );
}

#[tokio::test]
async fn disable_enable_rotate_and_uninstall() {
    let m = market().await;
    let token = m.register("acme").await;
    let secret = m.install_latest("acme", &token).await;
    let app = "/marketplace/t/acme/apps/hello";
    assert_eq!(
        m.send(Method::POST, &format!("{app}/disable"), Some(&token), None)
            .await
            .1["enabled"],
        false
    );
    assert_eq!(
        m.hello_call("acme", &secret, "/send", send_body("hi"))
            .await
            .0,
        403
    );
    assert_eq!(
        m.send(Method::POST, &format!("{app}/enable"), Some(&token), None)
            .await
            .1["enabled"],
        true
    );
    assert_eq!(
        m.hello_call("acme", &secret, "/send", send_body("hi"))
            .await
            .0,
        200
    );

    let (status, rotated) = m
        .send(Method::POST, &format!("{app}/rotate"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let new_secret = rotated["jwt_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        m.hello_call("acme", &secret, "/send", send_body("hi"))
            .await
            .0,
        401,
        "the old secret is gone"
    );
    assert_eq!(
        m.hello_call("acme", new_secret, "/send", send_body("hi"))
            .await
            .0,
        200
    );

    // Locked: the app refuses, and only force overrides it.
    let config = json!({"values": {"greeting": "Hello", "locked": true}});
    assert_eq!(
        m.send(
            Method::POST,
            &format!("{app}/config"),
            Some(&token),
            Some(config)
        )
        .await
        .0,
        200
    );
    let (status, refused) = m.send(Method::DELETE, app, Some(&token), None).await;
    assert_eq!((status, refused["code"].as_str()), (409, Some("conflict")));
    assert_eq!(
        refused["text"],
        "`hello` refused to be uninstalled: Hello is locked against removal: unlock it in its \
         configuration, or force the uninstall (uninstall with force=true to override)",
        "the app's sentence and the host's hint, each punctuated once"
    );
    assert!(
        m.state.install("acme", "hello").await.unwrap().is_some(),
        "a refused uninstall leaves the install"
    );
    let (status, forced) = m
        .send(
            Method::DELETE,
            &format!("{app}?force=true"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, forced["uninstalled"].as_bool()),
        (200, Some(true)),
        "{forced}"
    );
    assert!(m.state.install("acme", "hello").await.unwrap().is_none());
    assert!(
        EmbeddedProvisioner::new(m.state.clone())
            .recorded("acme", "hello")
            .await
            .unwrap()
            .is_none(),
        "provisioning removed"
    );
    let (status, again) = m.send(Method::DELETE, app, Some(&token), None).await;
    assert_eq!(
        (status, again["uninstalled"].as_bool()),
        (200, Some(false)),
        "uninstall is idempotent"
    );
    assert_eq!(
        m.hello_call("acme", new_secret, "/send", send_body("hi"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn system_admins_manage_apps_in_place_through_the_marketplace_app() {
    let m = market().await;
    let token = m.register("acme").await;
    let consent = json!({"consent": {"permissions": ["act_as_bot"], "locations": ["/command"]}});
    let (status, installed) = m
        .send(
            Method::POST,
            "/marketplace/t/acme/apps/marketplace/install",
            Some(&token),
            Some(consent),
        )
        .await;
    assert_eq!(status, 201, "{installed}");
    let secret = installed["jwt_secret"].as_str().unwrap().to_owned();
    let call = |path: &'static str, values: Value, roles: &'static str, state: Value| {
        let (m, secret) = (&m, secret.clone());
        async move {
            let body = json!({"path": path, "values": values, "state": state,
                              "context": {"acting_user": {"id": "u1", "username": "admin", "roles": roles}}});
            m.app_call("acme", "marketplace", &secret, path, body)
                .await
                .1
        }
    };
    let admin = "system_user system_admin";
    let refused = call("/list", json!({}), "system_user", Value::Null).await;
    assert_eq!(
        (refused["type"].as_str(), refused["text"].as_str()),
        (Some("error"), Some("Only system admins can manage apps."))
    );
    let listed = call("/list", json!({}), admin, Value::Null).await;
    assert!(
        listed["text"]
            .as_str()
            .unwrap()
            .contains("| **Hello** `hello` |"),
        "{listed}"
    );

    let unaccepted = call("/install", json!({"app": "hello"}), admin, Value::Null).await;
    assert!(
        unaccepted["data"]["errors"]["accept"]
            .as_str()
            .unwrap()
            .contains("act_as_user"),
        "{unaccepted}"
    );
    let done = call(
        "/install",
        json!({"app": "hello", "accept": true}),
        admin,
        Value::Null,
    )
    .await;
    assert!(
        done["text"]
            .as_str()
            .unwrap()
            .starts_with("Installed **hello** v1.1.0"),
        "{done}"
    );
    assert!(
        done["text"]
            .as_str()
            .unwrap()
            .contains("https://apps.example/t/acme/apps/hello/manifest.json")
    );

    let form = call(
        "/configure-app",
        json!({"app": "hello"}),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(form["type"], "form");
    assert_eq!(form["form"]["submit"]["path"], "/configure-app/submit");
    let saved = call(
        "/configure-app/submit",
        json!({"greeting": "Yo"}),
        admin,
        form["form"]["submit"]["state"].clone(),
    )
    .await;
    assert_eq!(saved["text"], "Saved the configuration of **hello**.");
    assert_eq!(
        m.state
            .install("acme", "hello")
            .await
            .unwrap()
            .unwrap()
            .config["greeting"],
        "Yo"
    );

    let down = call(
        "/upgrade",
        json!({"app": "hello", "version": "v1.0.0", "accept": true}),
        admin,
        Value::Null,
    )
    .await;
    assert!(
        down["text"]
            .as_str()
            .unwrap()
            .starts_with("**hello** moved from v1.1.0 to v1.0.0"),
        "{down}"
    );
    let gone = call("/uninstall", json!({"app": "hello"}), admin, Value::Null).await;
    assert!(
        gone["text"]
            .as_str()
            .unwrap()
            .starts_with("Uninstalled **hello**"),
        "{gone}"
    );
    let unknown = call(
        "/install",
        json!({"app": "nope", "accept": true}),
        admin,
        Value::Null,
    )
    .await;
    assert_eq!(
        (unknown["type"].as_str(), unknown["text"].as_str()),
        (Some("error"), Some("no app `nope` in the catalog"))
    );
}

#[tokio::test]
async fn events_are_accepted_only_once_durably_queued_and_valid() {
    use crate::events::queue::{EventQueue, SqliteQueue};
    let m = market().await;
    let token = m.register("acme").await;
    let queue = Arc::new(SqliteQueue::open_in_memory().unwrap());
    let host = m.host.clone().with_queue(queue.clone());
    let post = |body: Value, token: Option<&str>| {
        let host = host.clone();
        let token = token.map(str::to_owned);
        async move {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "application/json".parse().unwrap());
            if let Some(t) = token {
                headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            let out = host
                .handle(request(
                    Method::POST,
                    "/events/t/acme",
                    headers,
                    Bytes::from(body.to_string()),
                ))
                .await;
            (
                out.status,
                serde_json::from_slice::<Value>(&out.body).unwrap(),
            )
        }
    };
    let joined = json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "c1"});
    let (status, accepted) = post(joined.clone(), Some(&token)).await;
    assert_eq!(status, 202, "{accepted}");
    let queued = queue
        .receive(10, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let event: Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(
        (
            event["id"].clone(),
            event["tenant"].as_str(),
            event["kind"].as_str()
        ),
        (
            accepted["event_id"].clone(),
            Some("acme"),
            Some("user_joined_channel")
        )
    );

    for (body, token, status) in [
        (
            json!({"kind": "user_joined_channel", "user_id": "u1"}),
            Some(token.as_str()),
            400,
        ),
        (
            json!({"kind": "user_danced", "user_id": "u1"}),
            Some(token.as_str()),
            400,
        ),
        (joined.clone(), None, 401),
        (joined.clone(), Some("acme.forged"), 401),
        (
            json!({"kind": "message_posted", "user_id": "u1", "channel_id": "c1", "post_id": "p1",
                   "text": "x".repeat(crate::http::MAX_BODY_BYTES)}),
            Some(token.as_str()),
            413,
        ),
    ] {
        let (got, err) = post(body.clone(), token).await;
        assert_eq!(
            (got, err["type"].as_str()),
            (status, Some("error")),
            "{body}: {err}"
        );
    }
    assert!(
        queue
            .receive(10, std::time::Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "nothing enqueued for refused events"
    );
    let no_queue = m
        .host
        .handle(request(
            Method::POST,
            "/events/t/acme",
            HeaderMap::new(),
            Bytes::new(),
        ))
        .await;
    assert_eq!(no_queue.status, 401, "auth comes before anything else");
}

/// The embedded provisioner, failing on demand: a Lambda API outage in the middle of an install
/// or an upgrade.
struct FlakyProvisioner {
    inner: EmbeddedProvisioner,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl super::provisioner::Provisioner for FlakyProvisioner {
    async fn provision(
        &self,
        tenant: &crate::store::Tenant,
        app: &str,
        version: &str,
        previous: Option<&str>,
    ) -> Result<Vec<super::provisioner::Pinned>, super::provisioner::ProvisionError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(super::provisioner::ProvisionError::Backend(
                "the Lambda API is down".into(),
            ));
        }
        self.inner.provision(tenant, app, version, previous).await
    }

    async fn deprovision(
        &self,
        tenant: &str,
        app: &str,
    ) -> Result<(), super::provisioner::ProvisionError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(super::provisioner::ProvisionError::Backend(
                "the Lambda API is down".into(),
            ));
        }
        self.inner.deprovision(tenant, app).await
    }
}

#[tokio::test]
async fn a_failed_provisioning_undoes_the_install_and_restores_the_upgrade() {
    let m = market().await;
    let flaky = Arc::new(FlakyProvisioner {
        inner: EmbeddedProvisioner::new(m.state.clone()),
        failing: true.into(),
    });
    let m = Market {
        host: m.host.clone().with_provisioner(flaky.clone()),
        ..m
    };
    let token = m.register("acme").await;
    let old = json!({"version": "v1.0.0", "consent": consent_all()});
    let (status, body) = m.install("acme", &token, old.clone()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        m.state.install("acme", "hello").await.unwrap(),
        None,
        "nothing stays installed"
    );
    flaky
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = m.install("acme", &token, old).await;
    assert_eq!(
        status, 201,
        "once the Lambda API is back, the same install works: {body}"
    );
    let before = m.state.install("acme", "hello").await.unwrap().unwrap();

    flaky
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = m
        .send(
            Method::POST,
            "/marketplace/t/acme/apps/hello/version",
            Some(&token),
            Some(json!({"version": "v1.1.0", "expected_version": "v1.0.0", "consent": consent_all()})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    let after = m.state.install("acme", "hello").await.unwrap().unwrap();
    assert_eq!(
        (
            &after.version,
            &after.granted_permissions,
            &after.granted_locations,
            &after.granted_subjects
        ),
        (
            &before.version,
            &before.granted_permissions,
            &before.granted_locations,
            &before.granted_subjects
        ),
        "the upgrade is put back as it was"
    );
}

/// A queue that refuses every message: the store behind SQS is down.
struct DownQueue;

#[async_trait::async_trait]
impl crate::events::queue::EventQueue for DownQueue {
    async fn send(&self, _: &str) -> Result<String, crate::events::queue::QueueError> {
        Err(crate::events::queue::QueueError::Backend(
            "SQS is down".into(),
        ))
    }
    async fn receive(
        &self,
        _: usize,
        _: std::time::Duration,
    ) -> Result<Vec<crate::events::queue::Received>, crate::events::queue::QueueError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: &str) -> Result<(), crate::events::queue::QueueError> {
        Ok(())
    }
    async fn retry_after(
        &self,
        _: &str,
        _: std::time::Duration,
    ) -> Result<(), crate::events::queue::QueueError> {
        Ok(())
    }
    async fn dead_letters(
        &self,
        _: usize,
    ) -> Result<Vec<crate::events::queue::DeadLetter>, crate::events::queue::QueueError> {
        Ok(Vec::new())
    }
    async fn redrive(&self, _: usize) -> Result<usize, crate::events::queue::QueueError> {
        Ok(0)
    }
}

#[tokio::test]
async fn an_event_is_202_only_once_the_queue_has_it() {
    let m = market().await;
    let m = Market {
        host: m.host.clone().with_queue(Arc::new(DownQueue)),
        ..m
    };
    let token = m.register("acme").await;
    let (status, body) = m
        .send(
            Method::POST,
            "/events/t/acme",
            Some(&token),
            Some(json!({"kind": "user_joined_channel", "user_id": "u1", "channel_id": "c1"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("dependency_failed")),
        "{body}"
    );
    assert!(
        body.get("event_id").is_none(),
        "no id for an event nobody has"
    );
}

#[tokio::test]
async fn an_uninstall_cut_short_leaves_the_app_stopped_and_a_retry_finishes_it() {
    let m = market().await;
    let flaky = Arc::new(FlakyProvisioner {
        inner: EmbeddedProvisioner::new(m.state.clone()),
        failing: false.into(),
    });
    let m = Market {
        host: m.host.clone().with_provisioner(flaky.clone()),
        ..m
    };
    let token = m.register("acme").await;
    let secret = m.install_latest("acme", &token).await;
    flaky
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let uninstall = || {
        m.send(
            Method::DELETE,
            "/marketplace/t/acme/apps/hello",
            Some(&token),
            None,
        )
    };
    let (status, body) = uninstall().await;
    assert_eq!(status, 502, "{body}");
    // Stopped: it serves nothing and counts as not installed, but the uninstall can resume.
    let (status, _) = m.hello_call("acme", &secret, "/send", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(m.state.install("acme", "hello").await.unwrap(), None);
    let stopped = m
        .state
        .install_or_uninstalling("acme", "hello")
        .await
        .unwrap();
    assert!(stopped.is_some_and(|i| i.uninstalling));
    let (status, body) = m
        .install("acme", &token, json!({"consent": consent_all()}))
        .await;
    assert_eq!(
        status, 409,
        "not re-installed over an unfinished uninstall: {body}"
    );

    flaky
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = uninstall().await;
    assert_eq!(
        (status, &body["uninstalled"]),
        (200, &json!(true)),
        "{body}"
    );
    assert_eq!(
        m.state
            .install_or_uninstalling("acme", "hello")
            .await
            .unwrap(),
        None
    );
    m.install_latest("acme", &token).await;
}
