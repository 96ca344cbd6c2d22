//! Rotating an install's tokens, those Mattermost issued included, through the host's pipeline
//! with the real REST client against the validating Mattermost stand-in; and what the store keeps
//! of tokens that are only ever compared.

use std::sync::Arc;

use bytes::Bytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::auth::{self, AppClaims, sign_app_jwt};
use cloudapps::http::Host;
use cloudapps::http::testing::{Handle, request};
use cloudapps::marketplace::catalog;
use cloudapps::mattermost::HttpMattermost;
use cloudapps::outbound::PrivateNetworks;
use cloudapps::store::sqlite::SqliteStore;
use cloudapps::store::{InstallState, ItemStore};
use cloudapps_tests::mattermost_standin::StandIn;
use http::{HeaderMap, Method};
use serde_json::{Value, json};

const OPERATOR: &str = "operator-credential";
const MM_ADMIN: &str = "mm-admin-token";
const APP: &str = "/marketplace/t/acme/apps/hello";

struct World {
    host: Host,
    items: Arc<SqliteStore>,
    standin: StandIn,
    /// The tenant's Mattermost (the stand-in).
    site: String,
    admin: String,
}

impl World {
    async fn start() -> World {
        let (standin, site) = StandIn::start(MM_ADMIN).await;
        let items = Arc::new(SqliteStore::open_in_memory().unwrap());
        let state = InstallState::new(items.clone());
        state
            .publish_catalog(catalog::GENERATION, &catalog::shipped().unwrap())
            .await
            .unwrap();
        let host = Host::new(state, BuiltinApps::all())
            .with_public_url(Some("https://apps.example".into()))
            // The stand-in is on loopback.
            .with_private_networks(PrivateNetworks::Allowed)
            .with_mattermost(Arc::new(HttpMattermost::new(PrivateNetworks::Allowed)))
            .with_operator_token_hash(Some(auth::hash_token(OPERATOR)));
        let mut w = World {
            host,
            items,
            standin,
            site: site.clone(),
            admin: String::new(),
        };
        let (status, tenant) = w
            .json(
                "/marketplace/tenants",
                OPERATOR,
                json!({"id": "acme", "site_url": site}),
            )
            .await;
        assert_eq!(status, 201, "{tenant}");
        w.admin = tenant["admin_token"].as_str().unwrap().to_owned();
        w
    }

    async fn send(&self, path: &str, headers: &[(&str, &str)], body: String) -> (u16, Value) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let out = self
            .host
            .handle(request(Method::POST, path, map, Bytes::from(body)))
            .await;
        (out.status, serde_json::from_slice(&out.body).unwrap())
    }

    async fn json(&self, path: &str, bearer: &str, body: Value) -> (u16, Value) {
        let auth = format!("Bearer {bearer}");
        self.send(
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            body.to_string(),
        )
        .await
    }

    /// Installs hello v1.0.0 with its slash command and outgoing webhook created in Mattermost.
    async fn install(&self) -> Value {
        let (status, installed) = self
            .json(
                &format!("{APP}/install"),
                &self.admin,
                json!({
                    "version": "v1.0.0",
                    "consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]},
                    "mattermost": {"admin_token": MM_ADMIN, "team_id": "team0000000000000000000001"}
                }),
            )
            .await;
        assert_eq!(status, 201, "{installed}");
        installed
    }

    async fn rotate(&self, body: Option<Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.admin);
        let (headers, body) = match body {
            Some(b) => (
                vec![
                    ("content-type", "application/json"),
                    ("authorization", &*auth),
                ],
                b.to_string(),
            ),
            None => (vec![("authorization", &*auth)], String::new()),
        };
        self.send(&format!("{APP}/rotate"), &headers, body).await
    }

    /// `/hello send hi` as a classic slash command with `token`: the status.
    async fn command(&self, token: &str) -> u16 {
        // Tokens here are letters, digits, `-` and `_`: nothing to escape.
        let form =
            format!("token={token}&command=%2Fhello&text=send+hi&user_id=u1&user_name=alice");
        self.send(
            "/t/acme/apps/hello/v1/command",
            &[("content-type", "application/x-www-form-urlencoded")],
            form,
        )
        .await
        .0
    }

    /// `hello send hi` through the outgoing webhook with `token`: the status.
    async fn outgoing(&self, token: &str) -> u16 {
        let hook = json!({"token": token, "text": "hello send hi", "trigger_word": "hello",
                          "user_id": "u1", "user_name": "alice"});
        self.send(
            "/t/acme/apps/hello/v1/outgoing",
            &[("content-type", "application/json")],
            hook.to_string(),
        )
        .await
        .0
    }

    /// An Apps call signed with `jwt_secret`: the status.
    async fn call(&self, jwt_secret: &str) -> u16 {
        let claims = AppClaims {
            exp: auth::now() + 60,
            acting_user_id: "u1".into(),
            ..Default::default()
        };
        let auth = format!("Bearer {}", sign_app_jwt(&claims, jwt_secret));
        let body = json!({"values": {"message": "hi"}, "context": {"mattermost_site_url": self.site, "acting_user": {"id": "u1", "username": "alice"}}});
        self.send(
            "/t/acme/apps/hello/send",
            &[
                ("content-type", "application/json"),
                ("mattermost-app-authorization", &auth),
            ],
            body.to_string(),
        )
        .await
        .0
    }

    /// The install as the store holds it, unparsed.
    async fn raw_install(&self) -> (u64, String) {
        let item = self
            .items
            .get("TENANT#acme", "INSTALL#hello")
            .await
            .unwrap()
            .unwrap();
        (item.revision, item.body.to_string())
    }

    /// The tokens the stand-in now holds for the command and the hook.
    fn mattermost_tokens(&self) -> (String, String) {
        let token = |list: &std::sync::Mutex<Vec<Value>>| {
            list.lock().unwrap()[0]["token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        (token(&self.standin.commands), token(&self.standin.hooks))
    }
}

fn token_of(list: &Value) -> String {
    list[0]["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_store_keeps_only_hashes_of_tokens_it_compares() {
    let w = World::start().await;
    let installed = w.install().await;
    let (_, raw) = w.raw_install().await;
    for field in ["command_token", "webhook_secret"] {
        let token = installed[field].as_str().unwrap();
        assert!(
            !raw.contains(token),
            "{field} is stored in the clear: {raw}"
        );
    }
    for list in ["slash_commands", "outgoing_webhooks"] {
        let token = token_of(&installed[list]);
        assert!(
            !raw.contains(&token),
            "a {list} token is in the clear: {raw}"
        );
    }
    let stored: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        stored["command_token"],
        format!(
            "sha256:{}",
            auth::hash_token(installed["command_token"].as_str().unwrap())
        )
    );
    // What is used as a key stays usable.
    assert_eq!(stored["jwt_secret"], installed["jwt_secret"]);

    // Compared against the hashes, every token still works.
    assert_eq!(
        w.command(installed["command_token"].as_str().unwrap())
            .await,
        200
    );
    assert_eq!(
        w.command(&token_of(&installed["slash_commands"])).await,
        200
    );
    assert_eq!(
        w.outgoing(&token_of(&installed["outgoing_webhooks"])).await,
        200
    );
    assert_eq!(w.command("guess").await, 401);

    // So does a rotation's answer, and the store still holds no token in the clear.
    let (status, rotated) = w
        .rotate(Some(json!({"mattermost": {"admin_token": MM_ADMIN}})))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let (_, raw) = w.raw_install().await;
    let mut shown = vec![
        rotated["command_token"].as_str().unwrap().to_owned(),
        rotated["webhook_secret"].as_str().unwrap().to_owned(),
    ];
    shown.extend(
        rotated["mattermost_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["token"].as_str().unwrap().to_owned()),
    );
    assert_eq!(shown.len(), 4, "{rotated}");
    for token in shown {
        assert!(
            !raw.contains(&token),
            "{token} is stored in the clear: {raw}"
        );
    }
}

#[tokio::test]
async fn rotate_with_an_admin_token_regenerates_mattermosts_tokens() {
    let w = World::start().await;
    let installed = w.install().await;
    let (old_command, old_hook) = w.mattermost_tokens();
    assert_eq!(w.command(&old_command).await, 200);
    assert_eq!(w.outgoing(&old_hook).await, 200);

    let (status, rotated) = w
        .rotate(Some(json!({"mattermost": {"admin_token": MM_ADMIN}})))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let (new_command, new_hook) = w.mattermost_tokens();
    assert_eq!(
        rotated["mattermost_tokens"],
        json!([
            {"kind": "slash_command", "name": "hello", "status": "regenerated", "token": new_command},
            {"kind": "outgoing_webhook", "name": "hello-trigger", "status": "regenerated", "token": new_hook},
        ])
    );
    let ids: Vec<Value> = w
        .standin
        .regenerated
        .lock()
        .unwrap()
        .iter()
        .map(|r| json!([r["kind"], r["id"]]))
        .collect();
    assert_eq!(
        ids,
        [
            json!(["command", w.standin.commands.lock().unwrap()[0]["id"]]),
            json!(["outgoing_hook", w.standin.hooks.lock().unwrap()[0]["id"]]),
        ],
        "each integration regenerated by its own id"
    );

    assert_eq!(w.command(&old_command).await, 401, "the old command token");
    assert_eq!(w.outgoing(&old_hook).await, 401, "the old hook token");
    assert_eq!(
        w.command(installed["command_token"].as_str().unwrap())
            .await,
        401,
        "the install's old command token"
    );
    assert_eq!(w.command(&new_command).await, 200);
    assert_eq!(w.outgoing(&new_hook).await, 200);
    assert_eq!(
        w.command(rotated["command_token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(w.call(installed["jwt_secret"].as_str().unwrap()).await, 401);
    assert_eq!(w.call(rotated["jwt_secret"].as_str().unwrap()).await, 200);
}

#[tokio::test]
async fn rotate_without_an_admin_token_revokes_mattermosts_tokens() {
    let w = World::start().await;
    w.install().await;
    let (old_command, old_hook) = w.mattermost_tokens();

    let (status, rotated) = w.rotate(None).await;
    assert_eq!(status, 200, "{rotated}");
    let statuses: Vec<(&str, &str)> = rotated["mattermost_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [("hello", "revoked"), ("hello-trigger", "revoked")]
    );
    assert!(
        rotated["mattermost_tokens"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("admin_token"),
        "{rotated}"
    );
    assert!(w.standin.regenerated.lock().unwrap().is_empty());
    assert_eq!(w.command(&old_command).await, 401);
    assert_eq!(w.outgoing(&old_hook).await, 401);
    assert_eq!(
        w.command(rotated["command_token"].as_str().unwrap()).await,
        200
    );

    // A later rotation with an admin token brings them back, regenerated.
    let (status, again) = w
        .rotate(Some(json!({"mattermost": {"admin_token": MM_ADMIN}})))
        .await;
    assert_eq!(status, 200, "{again}");
    let (new_command, new_hook) = w.mattermost_tokens();
    assert_eq!(again["mattermost_tokens"][0]["status"], "regenerated");
    assert_eq!(w.command(&new_command).await, 200);
    assert_eq!(w.outgoing(&new_hook).await, 200);
}

#[tokio::test]
async fn a_mattermost_refusal_during_rotate_changes_nothing() {
    let w = World::start().await;
    let installed = w.install().await;
    let (old_command, old_hook) = w.mattermost_tokens();
    let before = w.raw_install().await;

    let (status, refused) = w
        .rotate(Some(json!({"mattermost": {"admin_token": "not-an-admin"}})))
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (502, Some("dependency_failed")),
        "{refused}"
    );
    assert!(
        refused["text"].as_str().unwrap().contains("/hello"),
        "{refused}"
    );
    assert!(!refused.to_string().contains("not-an-admin"), "{refused}");
    assert_eq!(
        w.raw_install().await,
        before,
        "the stored install is as it was"
    );
    assert_eq!(w.command(&old_command).await, 200);
    assert_eq!(w.outgoing(&old_hook).await, 200);
    assert_eq!(
        w.command(installed["command_token"].as_str().unwrap())
            .await,
        200
    );
    assert_eq!(w.call(installed["jwt_secret"].as_str().unwrap()).await, 200);

    // Bad rotate requests are 400s that say what is wrong.
    for (body, says) in [
        (json!({"mattermost": {"admin_token": ""}}), "admin_token"),
        (json!({"mattermost": {"token": MM_ADMIN}}), "token"),
        (json!({"admin_token": MM_ADMIN}), "admin_token"),
    ] {
        let (status, bad) = w.rotate(Some(body)).await;
        assert_eq!((status, bad["code"].as_str()), (400, Some("bad_request")));
        assert!(bad["text"].as_str().unwrap().contains(says), "{bad}");
    }
    assert_eq!(w.raw_install().await, before);
}

#[tokio::test]
async fn an_install_that_mattermost_refuses_halfway_leaves_nothing_behind_in_mattermost() {
    let w = World::start().await;
    // Mattermost creates the slash command, then refuses the outgoing webhook.
    w.standin
        .refuse_hooks
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, answer) = w
        .json(
            &format!("{APP}/install"),
            &w.admin,
            json!({
                "version": "v1.0.0",
                "consent": {"permissions": ["act_as_bot"], "locations": ["/command", "/post_menu"]},
                "mattermost": {"admin_token": MM_ADMIN, "team_id": "team0000000000000000000001"}
            }),
        )
        .await;
    assert_eq!(status, 502, "{answer}");
    assert!(
        answer["text"].as_str().unwrap().contains("removed again"),
        "{answer}"
    );
    assert!(
        w.standin.commands.lock().unwrap().is_empty(),
        "the slash command it had created is deleted: {:?}",
        w.standin.commands.lock().unwrap()
    );
    assert_eq!(w.standin.deleted.lock().unwrap().len(), 1);
    // And nothing is installed here: a second try, once Mattermost agrees, succeeds.
    w.standin
        .refuse_hooks
        .store(false, std::sync::atomic::Ordering::SeqCst);
    w.install().await;
    assert_eq!(w.standin.commands.lock().unwrap().len(), 1);
}
