//! The event pipeline end to end, with faults injected: events ingested through the host's
//! HTTP routes onto the durable SQLite queue, fanned out to the built-in `notices` handlers
//! (posting to a Mattermost stand-in) and to external apps on loopback that check every
//! delivery's JWT and record what they received: one healthy, one that answers 500 twice, one
//! that times out, one that is down, one whose grant narrowed after it subscribed, one that
//! refuses (404), two that answer 408 and 429 until they recover, one subscribed to a single
//! channel and team; a store that fails in the middle of a batch; a consumer that crashes
//! between delivery and acknowledgement; a poison message.
//!
//! The assertions: every accepted event reaches every entitled subscriber, none twice, none
//! reaches a subscriber outside its grant, and what cannot be delivered lands in the
//! dead-letter queue, from where a redrive delivers it once the subscriber recovers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use bytes::Bytes as RawBytes;
use cloudapps::apps::BuiltinApps;
use cloudapps::auth::{self, sign_app_jwt};
use cloudapps::events::fanout::{
    Answer, DELIVERY_ID_HEADER, DELIVERY_TIMEOUT, Deliverer, FanOut, HttpDeliverer,
};
use cloudapps::events::queue::{EventQueue, SqliteQueue, SqsQueue};
use cloudapps::http::Host;
use cloudapps::http::events::InProcessDeliverer;
use cloudapps::http::testing::{self, Handle};
use cloudapps::marketplace::catalog;
use cloudapps::marketplace::service::RegisterTenant;
use cloudapps::mattermost::HttpMattermost;
use cloudapps::outbound::PrivateNetworks;
use cloudapps::store::sqlite::SqliteStore;
use cloudapps::store::{InstallState, Item, ItemStore, StoreError, TokenHash};
use cloudapps_tests::mattermost_standin::StandIn;
use http::Method;
use serde_json::{Value, json};

const TENANT: &str = "acme";
const OPERATOR: &str = "operator-secret";
const BOT_TOKEN: &str = "bot-token-of-acme";
const MAX_RECEIVES: u32 = 3;

/// How an external subscriber behaves.
#[derive(Default)]
struct Behaviour {
    /// Answer `fail_status` (500 when unset) to this many requests first; `usize::MAX` means
    /// until the test changes it.
    fail_first: AtomicUsize,
    fail_status: AtomicU16,
    /// Take longer than the delivery timeout.
    slow: AtomicBool,
}

/// One request a subscriber took (its JWT checked out) and what it answered.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    delivery_id: String,
    acting_user_id: String,
    body: Value,
    status: u16,
}

impl Got {
    /// The event id, the delivery id's part before `/`.
    fn event_id(&self) -> &str {
        self.delivery_id.split_once('/').map_or("", |(e, _)| e)
    }
}

/// An external app on loopback: checks the JWT of each delivery against its install's secret
/// and records every delivery it took, with what it answered.
#[derive(Clone)]
struct Subscriber {
    secret: Arc<Mutex<String>>,
    behaviour: Arc<Behaviour>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Subscriber {
    fn new() -> Self {
        Subscriber {
            secret: Arc::default(),
            behaviour: Arc::default(),
            got: Arc::default(),
        }
    }

    /// Answers `status` to every delivery until [`Subscriber::recover`].
    fn failing_with(self, status: u16) -> Self {
        self.behaviour.fail_status.store(status, Ordering::SeqCst);
        self.behaviour
            .fail_first
            .store(usize::MAX, Ordering::SeqCst);
        self
    }

    fn recover(&self) {
        self.behaviour.fail_first.store(0, Ordering::SeqCst);
        self.behaviour.slow.store(false, Ordering::SeqCst);
    }

    async fn serve_on(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// By event id: what it answered to each delivery of that event, in order.
    fn answers(&self) -> BTreeMap<String, Vec<u16>> {
        let mut answers: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for got in self.got() {
            answers
                .entry(got.event_id().to_owned())
                .or_default()
                .push(got.status);
        }
        answers
    }

    /// Event ids it accepted (answered 200), with how many times each.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for got in self.got().iter().filter(|g| g.status == 200) {
            let id = got.body["context"]["post"]["id"]
                .as_str()
                .or(got.body["context"]["user"]["id"].as_str())
                .unwrap_or_default()
                .to_owned();
            *counts.entry(id).or_insert(0) += 1;
        }
        counts
    }
}

async fn receive(
    State(s): State<Subscriber>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let jwt = headers
        .get(auth::APP_AUTH_HEADER)
        .and_then(|v| v.to_str().ok());
    let secret = s.secret.lock().unwrap().clone();
    let Ok(claims) = auth::verify_app_jwt(jwt, &secret) else {
        return StatusCode::UNAUTHORIZED;
    };
    if s.behaviour.slow.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        return StatusCode::OK;
    }
    let status = if s
        .behaviour
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        match s.behaviour.fail_status.load(Ordering::SeqCst) {
            0 => StatusCode::INTERNAL_SERVER_ERROR,
            n => StatusCode::from_u16(n).unwrap(),
        }
    } else {
        StatusCode::OK
    };
    let delivery_id = headers
        .get(DELIVERY_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    s.got.lock().unwrap().push(Got {
        path: uri.path().to_owned(),
        delivery_id,
        acting_user_id: claims.acting_user_id,
        body: serde_json::from_slice(&body).unwrap_or_default(),
        status: status.as_u16(),
    });
    status
}

/// The production timeout for every subscriber but `ext-slow`, which is slow on purpose and
/// gets a short one: a slow moment of a healthy loopback subscriber must not become a retry.
struct Timeouts {
    /// `http://<ext-slow's address>/`
    slow_root: String,
    slow: HttpDeliverer,
    rest: InProcessDeliverer,
}

#[async_trait]
impl Deliverer for Timeouts {
    async fn post(&self, url: &str, jwt: &str, delivery_id: &str, body: RawBytes) -> Answer {
        if url.starts_with(&self.slow_root) {
            self.slow.post(url, jwt, delivery_id, body).await
        } else {
            self.rest.post(url, jwt, delivery_id, body).await
        }
    }
}

/// A store that fails `get_many` (the fan-out's delivery-record read) while armed, to put a
/// store error in the middle of a batch.
struct FaultyStore {
    inner: SqliteStore,
    fail_next_reads: AtomicUsize,
}

#[async_trait]
impl ItemStore for FaultyStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.inner.get(pk, sk).await
    }
    async fn get_many(&self, pk: &str, sks: &[&str]) -> Result<Vec<Option<Item>>, StoreError> {
        if pk.starts_with("EVENT#")
            && self
                .fail_next_reads
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::Backend(
                "injected: the store is unavailable".into(),
            ));
        }
        self.inner.get_many(pk, sks).await
    }
    async fn create(&self, pk: &str, sk: &str, body: &Value) -> Result<Item, StoreError> {
        self.inner.create(pk, sk, body).await
    }
    async fn replace(
        &self,
        pk: &str,
        sk: &str,
        expected: u64,
        body: &Value,
    ) -> Result<Item, StoreError> {
        self.inner.replace(pk, sk, expected, body).await
    }
    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        self.inner.delete(pk, sk).await
    }
    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.inner.query(pk, sk_prefix).await
    }
}

struct World {
    host: Host,
    queue: SqliteQueue,
    fanout: FanOut,
    deliverer: Arc<dyn Deliverer>,
    /// `ext-down`'s bound, not yet listening socket.
    down: Mutex<Option<tokio::net::TcpSocket>>,
    store: Arc<FaultyStore>,
    admin_token: String,
    /// The tenant's Mattermost (the stand-in).
    site_url: String,
    standin: StandIn,
    apps: BTreeMap<&'static str, (Subscriber, String)>,
    _dir: tempfile::TempDir,
}

async fn request(
    host: &Host,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let out = host
        .handle(testing::request(
            method,
            path,
            map,
            RawBytes::from(body.to_owned()),
        ))
        .await;
    (
        out.status,
        serde_json::from_slice(&out.body).unwrap_or_default(),
    )
}

/// `Bearer <JWT>` signed with an install's secret, as Mattermost or the app itself sends it.
fn bearer_jwt(secret: &str) -> String {
    let claims = auth::AppClaims {
        exp: auth::now() + 60,
        acting_user_id: "bot-user".into(),
        ..Default::default()
    };
    format!("Bearer {}", sign_app_jwt(&claims, secret))
}

fn external_listing(id: &str, root_url: &str) -> catalog::Listing {
    let text = json!({
        "id": id,
        "display_name": id,
        "description": "An app hosted elsewhere that subscribes to events.",
        "categories": ["developer"],
        "versions": [{
            "version": "v1.0.0",
            "release_notes": "First.",
            "requested_subjects": ["post_created", "user_joined_channel", "channel_created"],
            "manifest": {
                "app_id": id, "version": "v1.0.0", "display_name": id,
                "description": "Listens.", "homepage_url": "https://example.test/",
                "requested_permissions": ["act_as_bot"],
                "http": {"root_url": root_url, "use_jwt": true}
            }
        }]
    });
    catalog::parse(&format!("{id}.json"), &text.to_string()).unwrap()
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (standin, site_url) = StandIn::start(BOT_TOKEN).await;
    let store = Arc::new(FaultyStore {
        inner: SqliteStore::open_in_memory().unwrap(),
        fail_next_reads: AtomicUsize::new(0),
    });
    let state = InstallState::new(store.clone());
    let queue = SqliteQueue::open(&dir.path().join("events.db"))
        .unwrap()
        .with_max_receives(MAX_RECEIVES);
    let base = "http://cloudapps.test";
    let host = Host::new(state.clone(), BuiltinApps::all())
        .with_public_url(Some(base.into()))
        .with_queue(Arc::new(queue.clone()))
        // The Mattermost stand-in and the external apps listen on loopback.
        .with_private_networks(PrivateNetworks::Allowed)
        .with_mattermost(Arc::new(HttpMattermost::new(PrivateNetworks::Allowed)))
        .with_operator_token_hash(Some(auth::hash_token(OPERATOR)));

    // External apps, each behind its own loopback server, listed next to the shipped ones as an
    // operator's catalog directory adds them. `ext-down` refuses connections, deterministically:
    // its address is a socket bound (so no other test can take the port) but not listening,
    // which the kernel answers with a reset; it listens once the app comes up, on the same
    // socket, so no released port is ever bound again. `ext-404` refuses every event;
    // `ext-408` and `ext-429` fail with that status until they recover.
    let mut apps = BTreeMap::new();
    let mut down = None;
    let mut listings = catalog::shipped().unwrap();
    for id in [
        "ext-ok",
        "ext-flaky",
        "ext-slow",
        "ext-down",
        "ext-narrowed",
        "ext-404",
        "ext-408",
        "ext-429",
        "ext-scoped",
    ] {
        let sub = match id {
            "ext-404" => Subscriber::new().failing_with(404),
            "ext-408" => Subscriber::new().failing_with(408),
            "ext-429" => Subscriber::new().failing_with(429),
            _ => Subscriber::new(),
        };
        let addr: SocketAddr = if id == "ext-down" {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = socket.local_addr().unwrap();
            down = Some(socket);
            addr
        } else {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            sub.serve_on(listener).await;
            addr
        };
        listings.push(external_listing(id, &format!("http://{addr}")));
        apps.insert(id, (sub, addr.to_string()));
    }
    state
        .publish_catalog(catalog::GENERATION, &listings)
        .await
        .unwrap();

    let m = host.marketplace();
    let registration = RegisterTenant {
        id: TENANT.into(),
        site_url: site_url.clone(),
        aws_principal: None,
    };
    let registered = m.create_tenant(&registration, base).await.unwrap();
    let tenant = state.tenant(TENANT).await.unwrap().unwrap();
    let consent = json!({"permissions": ["act_as_bot", "user_joined_channel_notification"]});
    let bot = json!({"user_id": "bot-user", "access_token": BOT_TOKEN});
    let installed = m
        .install(
            &tenant,
            "notices",
            serde_json::from_value(json!({"consent": consent, "bot": bot})).unwrap(),
            base,
        )
        .await
        .unwrap();
    assert_eq!(installed.app_id, "notices");
    m.configure(
        &tenant,
        "notices",
        json!({"keywords": "help", "keyword_reply": "See the wiki.", "welcome_message": "Welcome!"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .await
    .unwrap();
    for (id, (sub, _)) in &apps {
        let installed = m
            .install(
                &tenant,
                id,
                serde_json::from_value(json!({"consent": consent, "bot": bot})).unwrap(),
                base,
            )
            .await
            .unwrap();
        *sub.secret.lock().unwrap() = installed.jwt_secret.clone();
        // Each subscribes through the subscription API, with a JWT signed by its secret.
        let auth_header = bearer_jwt(&installed.jwt_secret);
        // `ext-scoped` takes one channel's posts and one team's new channels; the others all.
        let subscriptions = if *id == "ext-scoped" {
            [
                json!({"subject": "post_created", "channel_id": "000000000000000000000chan1",
                       "call": {"path": "/posts-in-chan1"}}),
                json!({"subject": "channel_created", "team_id": "000000000000000000000team1",
                       "call": {"path": "/channels-in-team1"}}),
            ]
        } else {
            // The ids come as expanded objects only, as the Apps plugin sends them.
            let expand = json!({"user": "id", "channel": "id", "team": "id", "post": "summary",
                                "acting_user": "id"});
            [
                json!({"subject": "post_created", "call": {"path": "/on-post", "expand": expand}}),
                json!({"subject": "user_joined_channel", "call": {"path": "/on-join", "expand": expand}}),
            ]
        };
        for subscription in subscriptions {
            let (status, body) = request(
                &host,
                Method::POST,
                &format!("/t/{TENANT}/apps/{id}/v1/subscribe"),
                &[
                    ("content-type", "application/json"),
                    ("mattermost-app-authorization", &auth_header),
                ],
                &subscription.to_string(),
            )
            .await;
            assert_eq!(status, 200, "{id} subscribes: {subscription}: {body}");
        }
    }
    // ext-narrowed loses post_created from its grant after subscribing.
    state
        .modify_install::<StoreError>(TENANT, "ext-narrowed", |i| {
            i.granted_subjects
                .retain(|s| *s != cloudapps::protocol::apps::Subject::PostCreated);
            Ok(())
        })
        .await
        .unwrap();

    let deliverer: Arc<dyn Deliverer> = Arc::new(Timeouts {
        slow_root: format!("http://{}/", apps["ext-slow"].1),
        slow: HttpDeliverer::new(Duration::from_millis(300), PrivateNetworks::Allowed),
        rest: InProcessDeliverer::new(
            host.router(),
            base,
            HttpDeliverer::new(DELIVERY_TIMEOUT, PrivateNetworks::Allowed),
        ),
    });
    let fanout =
        FanOut::new(state.clone(), deliverer.clone(), base).with_backoff(Duration::from_millis(5));
    World {
        host,
        queue,
        fanout,
        deliverer,
        down: Mutex::new(down),
        store,
        admin_token: registered.admin_token,
        site_url,
        standin,
        apps,
        _dir: dir,
    }
}

impl World {
    async fn ingest(&self, event: Value) -> String {
        let (status, body) = request(
            &self.host,
            Method::POST,
            &format!("/events/t/{TENANT}"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", self.admin_token)),
            ],
            &event.to_string(),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        body["event_id"].as_str().unwrap().to_owned()
    }

    /// Runs the consumer until the queue has stayed empty for a while (every backoff passed).
    async fn drain(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut idle = 0;
        while idle < 40 {
            assert!(
                Instant::now() < deadline,
                "the queue was still busy after 120 s"
            );
            let batch = self
                .queue
                .receive(8, Duration::from_secs(30))
                .await
                .unwrap();
            if batch.is_empty() {
                idle += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            } else {
                idle = 0;
                self.fanout.process_batch(&self.queue, batch, true).await;
            }
        }
    }

    /// `ext-down` comes up: its socket starts listening.
    async fn bring_up_down(&self) {
        let socket = self.down.lock().unwrap().take().expect("ext-down is down");
        let listener = socket.listen(64).unwrap();
        self.apps["ext-down"].0.serve_on(listener).await;
    }

    fn sub(&self, id: &str) -> &Subscriber {
        &self.apps[id].0
    }

    fn posts(&self) -> Vec<Value> {
        self.standin.posts.lock().unwrap().clone()
    }
}

fn message(n: usize) -> Value {
    json!({"kind": "message_posted", "user_id": format!("user{n}"), "channel_id": "0000000000000000townsquare",
           "team_id": "000000000000000000000team1", "post_id": format!("{:0>26}", format!("post{n}")),
           "text": if n.is_multiple_of(2) { "can someone help me" } else { "just saying hi" }})
}

#[tokio::test]
async fn every_entitled_subscriber_gets_every_event_once_despite_faults() {
    let w = world().await;
    w.sub("ext-flaky")
        .behaviour
        .fail_first
        .store(2, Ordering::SeqCst);
    w.sub("ext-slow")
        .behaviour
        .slow
        .store(true, Ordering::SeqCst);

    let mut posts = Vec::new();
    for n in 0..6 {
        w.ingest(message(n)).await;
        posts.push(format!("{:0>26}", format!("post{n}")));
    }
    w.ingest(
        json!({"kind": "user_joined_channel", "user_id": "newbie", "channel_id": "0000000000000000townsquare"}),
    )
    .await;
    w.ingest(json!({"kind": "channel_created", "user_id": "founder", "channel_id": "0000000000000000newchannel", "team_id": "000000000000000000000team1"}))
        .await;
    w.queue.send("this is not an event").await.unwrap();

    // A consumer takes a batch, delivers it, and crashes before acknowledging anything.
    let batch = w.queue.receive(3, Duration::ZERO).await.unwrap();
    for m in &batch {
        let _ = w.fanout.deliver_message(&m.body).await;
    }
    // A store outage in the middle of the next batch.
    w.store.fail_next_reads.store(2, Ordering::SeqCst);
    w.drain().await;

    let every_event: BTreeMap<String, usize> = posts
        .iter()
        .map(|p| (p.clone(), 1))
        .chain([("newbie".to_owned(), 1)])
        .collect();
    assert_eq!(
        w.sub("ext-ok").counts(),
        every_event,
        "healthy: each once, despite the crash and the store outage"
    );
    assert_eq!(
        w.sub("ext-flaky").counts(),
        every_event,
        "after its 500s, each once"
    );
    assert_eq!(
        w.sub("ext-narrowed").counts(),
        BTreeMap::from([("newbie".to_owned(), 1)]),
        "only the subject still granted"
    );
    assert!(w.sub("ext-slow").counts().is_empty());
    assert!(w.sub("ext-down").counts().is_empty());
    // 408 and 429 are retried: every event asked again on later attempts (one attempt of an
    // event may have been lost to the store outage), and never taken.
    for (id, status) in [("ext-408", 408), ("ext-429", 429)] {
        let answers = w.sub(id).answers();
        assert_eq!(answers.len(), every_event.len(), "{id}: {answers:?}");
        assert!(
            answers
                .values()
                .all(|a| a.len() >= 2 && a.iter().all(|s| *s == status)),
            "{id}: every event retried: {answers:?}"
        );
    }

    // The built-in handlers posted through Mattermost as the bot: one welcome, one channel
    // notice, a threaded reply to each message with the keyword.
    let posted = w.posts();
    let count = |pred: &dyn Fn(&Value) -> bool| posted.iter().filter(|p| pred(p)).count();
    assert_eq!(
        count(&|p| p["message"] == "Welcome!" && p["channel_id"] == "0000000000000000townsquare"),
        1
    );
    assert_eq!(
        count(&|p| p["channel_id"] == "0000000000000000newchannel"),
        1
    );
    assert_eq!(count(&|p| p["message"] == "See the wiki."), 3, "{posted:?}");
    assert!(
        posted
            .iter()
            .filter(|p| p["message"] == "See the wiki.")
            .all(|p| ["post0", "post2", "post4"]
                .map(|id| format!("{id:0>26}"))
                .contains(&p["root_id"].as_str().unwrap_or_default().to_owned()))
    );

    // What could not be delivered is in the dead-letter queue: the poison message and every
    // event the slow and down apps subscribe to.
    let dead = w.queue.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 8, "{dead:?}");
    assert!(dead.iter().any(|d| d.body == "this is not an event"));
    let (status, listed) = request(
        &w.host,
        Method::GET,
        "/events/dead-letters",
        &[("authorization", &format!("Bearer {OPERATOR}"))],
        "",
    )
    .await;
    assert_eq!(
        (status, listed["dead_letters"].as_array().map(Vec::len)),
        (200, Some(8))
    );
    let (status, _) = request(
        &w.host,
        Method::GET,
        "/events/dead-letters",
        &[("authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(status, 401);

    // The subscribers recover; a redrive delivers to them, and to nobody twice.
    for id in ["ext-slow", "ext-408", "ext-429"] {
        w.sub(id).recover();
    }
    w.bring_up_down().await;
    let (status, moved) = request(
        &w.host,
        Method::POST,
        "/events/dead-letters/redrive",
        &[("authorization", &format!("Bearer {OPERATOR}"))],
        "",
    )
    .await;
    assert_eq!((status, moved["redriven"].as_u64()), (200, Some(8)));
    w.drain().await;
    for id in [
        "ext-ok",
        "ext-flaky",
        "ext-slow",
        "ext-down",
        "ext-408",
        "ext-429",
    ] {
        assert_eq!(w.sub(id).counts(), every_event, "{id}");
    }
    // The refusing app was asked once per event, before and after the redrive.
    let refused = w.sub("ext-404").answers();
    assert_eq!(refused.len(), every_event.len(), "{refused:?}");
    assert!(
        refused.values().all(|a| a == &[404]),
        "ext-404: each event once, never retried: {refused:?}"
    );
    assert_eq!(
        w.posts().len(),
        posted.len(),
        "the built-in handlers were not run again"
    );
    let dead = w.queue.dead_letters(100).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
        ["this is not an event"],
        "only the poison message is left"
    );
}

#[tokio::test]
async fn events_arrive_as_apps_notifications_and_outgoing_webhooks() {
    let w = world().await;
    // Installs keep only their command token's hash: give ext-ok one this test knows.
    const HOOK_TOKEN: &str = "hook-token";
    let tenant = w
        .host
        .state()
        .modify_install::<StoreError>(TENANT, "ext-ok", |i| {
            i.command_token = TokenHash::of(HOOK_TOKEN);
            Ok(())
        })
        .await
        .unwrap();
    let auth_header = bearer_jwt(tenant.jwt_secret.expose());
    let path = format!("/t/{TENANT}/apps/ext-ok/v1/notify");
    // An Apps notification as Mattermost sends it: ids only in the expanded objects.
    let notification = json!({"path": "/v1/notify", "context": {
        "subject": "user_joined_channel", "app_id": "", "mattermost_site_url": w.site_url,
        "user": {"id": "joiner"}, "channel": {"id": "c1", "team_id": "t1"}, "oauth2": {}}});
    let json_headers = [
        ("content-type", "application/json"),
        ("mattermost-app-authorization", auth_header.as_str()),
    ];
    let (status, body) = request(
        &w.host,
        Method::POST,
        &path,
        &json_headers,
        &notification.to_string(),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // Bad JWT, unknown subject, missing ids: refused, nothing queued.
    let (status, _) = request(
        &w.host,
        Method::POST,
        &path,
        &[
            ("content-type", "application/json"),
            ("mattermost-app-authorization", "Bearer x.y.z"),
        ],
        &notification.to_string(),
    )
    .await;
    assert_eq!(status, 401);
    let mut bad = notification.clone();
    bad["context"]["subject"] = json!("bot_mentioned");
    let (status, body) = request(
        &w.host,
        Method::POST,
        &path,
        &json_headers,
        &bad.to_string(),
    )
    .await;
    assert_eq!(
        (
            status,
            body["text"]
                .as_str()
                .unwrap_or_default()
                .contains("bot_mentioned")
        ),
        (400, true),
        "{body}"
    );
    let mut bad = notification.clone();
    bad["context"]["channel"] = Value::Null;
    let (status, body) = request(
        &w.host,
        Method::POST,
        &path,
        &json_headers,
        &bad.to_string(),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Classic outgoing webhooks: seconds when form-encoded, milliseconds when JSON.
    let hook_path = format!("/t/{TENANT}/apps/ext-ok/v1/events");
    let form = format!(
        "token={}&team_id=t1&channel_id=c1&user_id=u1&post_id=pform&text=hi&timestamp=1700000000&trigger_word=",
        HOOK_TOKEN
    );
    let (status, _) = request(
        &w.host,
        Method::POST,
        &hook_path,
        &[("content-type", "application/x-www-form-urlencoded")],
        &form,
    )
    .await;
    assert_eq!(status, 202);
    let hook = json!({"token": HOOK_TOKEN, "team_id": "t1", "channel_id": "c1",
                      "user_id": "u1", "post_id": "pjson", "text": "hi", "timestamp": 1700000000123i64});
    let (status, _) = request(
        &w.host,
        Method::POST,
        &hook_path,
        &[("content-type", "application/json")],
        &hook.to_string(),
    )
    .await;
    assert_eq!(status, 202);
    let (status, _) = request(
        &w.host,
        Method::POST,
        &hook_path,
        &[("content-type", "application/json")],
        &json!({"token": "wrong", "post_id": "p"}).to_string(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = request(
        &w.host,
        Method::POST,
        &hook_path,
        &[("content-type", "text/plain")],
        "hi",
    )
    .await;
    assert_eq!(status, 415);

    let got = w.queue.receive(10, Duration::from_secs(30)).await.unwrap();
    let events: Vec<Value> = got
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "only the accepted ones: {events:?}");
    assert_eq!(
        (
            events[0]["kind"].as_str(),
            events[0]["user_id"].as_str(),
            events[0]["channel_id"].as_str(),
            events[0]["team_id"].as_str()
        ),
        (
            Some("user_joined_channel"),
            Some("joiner"),
            Some("c1"),
            Some("t1")
        )
    );
    assert_eq!(
        (events[1]["post_id"].as_str(), events[1]["at_ms"].as_i64()),
        (Some("pform"), Some(1_700_000_000_000))
    );
    assert_eq!(
        (events[2]["post_id"].as_str(), events[2]["at_ms"].as_i64()),
        (Some("pjson"), Some(1_700_000_000_123))
    );
    // Each came through the app's own routes, so each is for that app alone.
    for event in &events {
        assert_eq!(event["source_app"], "ext-ok", "{event}");
    }
}

#[tokio::test]
async fn subscriptions_are_scoped_by_the_grant_and_listed() {
    let w = world().await;
    let install = w
        .host
        .state()
        .install(TENANT, "ext-narrowed")
        .await
        .unwrap()
        .unwrap();
    let jwt = bearer_jwt(install.jwt_secret.expose());
    let headers = [
        ("content-type", "application/json"),
        ("authorization", jwt.as_str()),
    ];
    let base = format!("/t/{TENANT}/apps/ext-narrowed/v1");
    let json_only = [("content-type", "application/json")];
    for (subject, headers, status, why) in [
        ("post_created", &headers[..], 403, "outside the grant"),
        ("user_danced", &headers[..], 400, "unknown subject"),
        ("channel_created", &json_only[..], 401, "no JWT"),
    ] {
        let (got, body) = request(
            &w.host,
            Method::POST,
            &format!("{base}/subscribe"),
            headers,
            &json!({"subject": subject, "call": "/x"}).to_string(),
        )
        .await;
        assert_eq!(got, status, "{why}: {body}");
    }
    let (status, list) = request(
        &w.host,
        Method::GET,
        &format!("{base}/subscriptions"),
        &headers,
        "",
    )
    .await;
    assert_eq!(status, 200);
    let subjects: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["post_created", "user_joined_channel"],
        "stored before the grant narrowed"
    );
    let (status, body) = request(
        &w.host,
        Method::POST,
        &format!("{base}/unsubscribe"),
        &headers,
        &json!({"subject": "post_created"}).to_string(),
    )
    .await;
    assert_eq!((status, &body["data"]["removed"]), (200, &json!(true)));
    // Another app's JWT does not manage this app's subscriptions.
    let other = w
        .host
        .state()
        .install(TENANT, "ext-ok")
        .await
        .unwrap()
        .unwrap();
    let other_jwt = bearer_jwt(other.jwt_secret.expose());
    let (status, _) = request(
        &w.host,
        Method::GET,
        &format!("{base}/subscriptions"),
        &[("authorization", other_jwt.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401);
}

/// An app written for the Apps plugin, calling the plugin's subscription API the way its Go
/// client does (`apps/appclient/mattermost_client_pp.go` of v1.2.2: `Authorization: Bearer`
/// with the bot token from the call's context, no content type, the whole subscription as the
/// unsubscribe body) at the plugin's paths below the app's root, gets the answers the plugin
/// gives (`server/httpin/subscribe.go`): an empty 200, a bare list, and refusals with the
/// plugin's status, whose body the client returns as its error when the status is 300 or more.
#[tokio::test]
async fn an_app_written_for_the_apps_plugin_manages_its_subscriptions_with_the_plugins_shapes() {
    let w = world().await;
    let base = format!("/t/{TENANT}/apps/ext-ok/plugins/com.mattermost.apps/api/v1");
    let bot = format!("Bearer {BOT_TOKEN}");
    let call = |method: Method, path: &str, headers: Vec<(&'static str, String)>, body: String| {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(k, v.parse().unwrap());
        }
        let req = testing::request(method, format!("{base}{path}"), map, RawBytes::from(body));
        let host = w.host.clone();
        async move {
            let out = host.handle(req).await;
            let content_type = out
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (
                out.status,
                content_type,
                String::from_utf8(out.body.to_vec()).unwrap(),
            )
        }
    };
    let channel_created = json!({"subject": "channel_created", "team_id": "000000000000000000000team1",
                                 "call": {"path": "/on-channel", "expand": {"channel": "all"}}});

    let subscribe = call(
        Method::POST,
        "/subscribe",
        vec![("authorization", bot.clone())],
        channel_created.to_string(),
    )
    .await;
    assert_eq!(
        (subscribe.0, subscribe.2.as_str()),
        (200, ""),
        "{subscribe:?}"
    );
    // Again, with another call: the same subject and scope is replaced, as the plugin does.
    let mut moved = channel_created.clone();
    moved["call"]["path"] = json!("/on-channel-2");
    let again = call(
        Method::POST,
        "/subscribe",
        vec![("authorization", bot.clone())],
        moved.to_string(),
    )
    .await;
    assert_eq!(again.0, 200, "{again:?}");

    let listed = call(
        Method::GET,
        "/subscribe",
        vec![("authorization", bot.clone())],
        String::new(),
    )
    .await;
    assert_eq!((listed.0, listed.1.as_str()), (200, "application/json"));
    let list: Vec<Value> = serde_json::from_str(&listed.2).expect("a bare JSON list");
    let mine: Vec<&Value> = list
        .iter()
        .filter(|s| s["subject"] == "channel_created")
        .collect();
    assert_eq!(mine, [&moved], "one, with the latest call: {list:?}");
    assert!(
        list.iter().any(|s| s["subject"] == "post_created"),
        "the subscriptions it took through the host's own API are the same ones: {list:?}"
    );

    // A JWT signed with the install's secret is accepted too; the unsubscribe body is the
    // whole subscription, as the plugin's client sends it.
    let install = w
        .host
        .state()
        .install(TENANT, "ext-ok")
        .await
        .unwrap()
        .unwrap();
    let jwt = bearer_jwt(install.jwt_secret.expose());
    let gone = call(
        Method::POST,
        "/unsubscribe",
        vec![("authorization", jwt)],
        moved.to_string(),
    )
    .await;
    assert_eq!((gone.0, gone.2.as_str()), (200, ""), "{gone:?}");
    let none = call(
        Method::POST,
        "/unsubscribe",
        vec![("authorization", bot.clone())],
        moved.to_string(),
    )
    .await;
    let error: Value = serde_json::from_str(&none.2).unwrap();
    assert_eq!(
        (none.0, none.1.as_str(), error["text"].as_str()),
        (
            404,
            "application/json",
            Some("You are not subscribed to this notification: not found")
        )
    );

    for (headers, body, status, why) in [
        (
            vec![("authorization", "Bearer not-the-bot-token".to_owned())],
            channel_created.to_string(),
            401,
            "a token that is not the app's",
        ),
        (
            vec![("authorization", "Bearer ".to_owned())],
            channel_created.to_string(),
            401,
            "an empty token",
        ),
        (vec![], channel_created.to_string(), 401, "no token"),
        (
            vec![
                ("authorization", bot.clone()),
                ("content-type", "text/html".to_owned()),
            ],
            channel_created.to_string(),
            415,
            "not JSON",
        ),
        (
            vec![("authorization", bot.clone())],
            "{\"subject\": 7".to_owned(),
            400,
            "malformed",
        ),
        (
            vec![("authorization", bot.clone())],
            json!({"subject": "post_created", "call": {"path": "/v1/notify"}}).to_string(),
            400,
            "a host route",
        ),
    ] {
        let (got, content_type, text) = call(Method::POST, "/subscribe", headers, body).await;
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (got, content_type.as_str()),
            (status, "application/json"),
            "{why}: {text}"
        );
        assert!(
            !error["text"].as_str().unwrap().is_empty() && !text.contains(BOT_TOKEN),
            "{why}: {text}"
        );
    }
}

/// The Lambda consumer's batch handler over SQS on moto: it reports exactly the messages to
/// retry, hides each for its backoff, and leaves the delivered ones to the event source
/// mapping to delete.
#[tokio::test]
async fn the_lambda_consumer_reports_only_failed_messages_and_backs_them_off() {
    let w = world().await;
    let client = cloudapps_tests::moto_sqs().await;
    let name = format!("fanout-{}", &auth::generate_secret()[..8]).replace(['_', '-'], "x");
    let url = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sqs = SqsQueue::new(client, url);
    let base = "http://cloudapps.test";
    let fanout = FanOut::new(w.host.state().clone(), w.deliverer.clone(), base)
        .with_backoff(Duration::from_secs(60));
    let event = |id: &str, body: Value| {
        let mut body = body;
        body["id"] = json!(id);
        body["tenant"] = json!(TENANT);
        body.to_string()
    };
    sqs.send(&event(
        "created",
        json!({"kind": "channel_created", "user_id": "u1", "channel_id": "0000000000000000000000cnew", "team_id": "t1"}),
    ))
    .await
    .unwrap();
    // ext-down subscribes to posts and is down.
    sqs.send(&event("posted", message(1))).await.unwrap();
    sqs.send("not an event").await.unwrap();

    let received = sqs.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(received.len(), 3);
    let records: Vec<Value> = received
        .iter()
        .map(|m| {
            json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body,
                   "attributes": {"ApproximateReceiveCount": m.receive_count.to_string()},
                   "messageAttributes": {}, "eventSource": "aws:sqs"})
        })
        .collect();
    let batch: aws_lambda_events::sqs::SqsEvent =
        serde_json::from_value(json!({ "Records": records })).unwrap();
    let response = cloudapps::lambda::fanout_batch(&fanout, &sqs, batch).await;
    let mut failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    failed.sort();
    let mut expected: Vec<&str> = received
        .iter()
        .filter(|m| !m.body.contains("channel_created"))
        .map(|m| m.id.as_str())
        .collect();
    expected.sort();
    assert_eq!(
        failed, expected,
        "the post (a subscriber is down) and the poison message"
    );

    // The failed ones are hidden for their backoff; the delivered one is left for the event
    // source mapping to delete.
    let visible = sqs.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(
        visible
            .iter()
            .map(|m| m.body.contains("channel_created"))
            .collect::<Vec<_>>(),
        [true]
    );
    assert_eq!(
        w.posts()
            .iter()
            .filter(|p| p["channel_id"] == "0000000000000000000000cnew")
            .count(),
        1,
        "the channel notice was posted"
    );
}

#[tokio::test]
async fn a_subscriber_whose_version_is_no_longer_listed_is_retried_not_given_up_on() {
    let w = world().await;
    // ext-ok's installed version disappears from the catalog (a listing withdrawn, a bad deploy):
    // where it runs is unknown, which is not the subscriber refusing the event.
    w.host
        .state()
        .modify_install::<StoreError>(TENANT, "ext-ok", |i| {
            i.version = "v9.9.9".into();
            Ok(())
        })
        .await
        .unwrap();
    let event: cloudapps::events::Event = serde_json::from_value(json!({
        "id": "eunlisted", "tenant": TENANT, "kind": "user_joined_channel",
        "user_id": "unlisted", "channel_id": "c1"}))
    .unwrap();
    let report = w.fanout.deliver(&event).await.unwrap();
    assert_eq!(
        report.refused, 1,
        "only ext-404 refuses; an unlisted version is not a refusal: {report:?}"
    );
    assert!(
        report
            .failed
            .iter()
            .any(|f| f.contains("ext-ok") && f.contains("not listed")),
        "{report:?}"
    );
    assert!(
        w.sub("ext-ok").counts().is_empty(),
        "nothing was sent anywhere"
    );
    // Listed again (the version comes back), the retry reaches it.
    w.host
        .state()
        .modify_install::<StoreError>(TENANT, "ext-ok", |i| {
            i.version = "v1.0.0".into();
            Ok(())
        })
        .await
        .unwrap();
    let report = w.fanout.deliver(&event).await.unwrap();
    assert!(
        !report.failed.iter().any(|f| f.contains("ext-ok")),
        "only the apps that are down or failing may still fail: {report:?}"
    );
    assert_eq!(w.sub("ext-ok").counts().get("unlisted"), Some(&1));
}

#[tokio::test]
async fn an_event_older_than_its_delivery_records_is_dropped_not_delivered_again() {
    let w = world().await;
    let accepted_at = auth::now() - cloudapps::events::fanout::DELIVERY_RECORD_SECONDS - 1;
    let event: cloudapps::events::Event = serde_json::from_value(json!({
        "id": "eold", "tenant": TENANT, "kind": "user_joined_channel",
        "user_id": "old", "channel_id": "c1", "accepted_at": accepted_at}))
    .unwrap();
    let report = w.fanout.deliver(&event).await.unwrap();
    assert!(report.expired && report.delivered == 0, "{report:?}");
    assert!(w.sub("ext-ok").counts().is_empty());
    // A day younger, it is delivered.
    let fresh = cloudapps::events::Event {
        id: "efresh".into(),
        accepted_at: accepted_at + 24 * 3600,
        ..event
    };
    let report = w.fanout.deliver(&fresh).await.unwrap();
    assert!(!report.expired && report.delivered > 0, "{report:?}");
}

/// A 4xx other than 408 and 429 is a refusal: recorded once, never retried, never a reason to
/// dead-letter. 408 and 429 are retried: until the event dead-letters if they never recover,
/// and delivered once they do.
#[tokio::test]
async fn a_refusal_is_final_while_408_and_429_are_retried() {
    let w = world().await;
    w.bring_up_down().await;

    // 408 and 429 never recover: the event is retried for them until it dead-letters.
    let stuck = w.ingest(message(1)).await;
    w.drain().await;
    let dead = w.queue.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].body.contains(&stuck), "{dead:?}");
    assert_eq!(w.sub("ext-404").answers()[&stuck], [404], "asked once");
    for (id, status) in [("ext-408", 408), ("ext-429", 429)] {
        assert_eq!(
            w.sub(id).answers()[&stuck],
            [status; MAX_RECEIVES as usize],
            "{id}: asked on every attempt"
        );
    }

    // They recover; the redrive reaches them, and not the app that refused.
    w.sub("ext-408").recover();
    w.sub("ext-429").recover();
    let (status, moved) = request(
        &w.host,
        Method::POST,
        "/events/dead-letters/redrive",
        &[("authorization", &format!("Bearer {OPERATOR}"))],
        "",
    )
    .await;
    assert_eq!((status, moved["redriven"].as_u64()), (200, Some(1)));
    w.drain().await;
    assert!(w.queue.dead_letters(100).await.unwrap().is_empty());
    for id in ["ext-408", "ext-429"] {
        assert_eq!(
            w.sub(id).answers()[&stuck].last(),
            Some(&200),
            "{id}: delivered once recovered"
        );
    }
    assert_eq!(
        w.sub("ext-404").answers()[&stuck],
        [404],
        "the refusal is not retried by a redrive"
    );

    // Each fails once and then takes it: the event is delivered on its second attempt, and
    // the app that refused it neither is asked again nor makes it dead-letter.
    for id in ["ext-408", "ext-429"] {
        w.sub(id).behaviour.fail_first.store(1, Ordering::SeqCst);
    }
    let passing = w.ingest(message(2)).await;
    w.drain().await;
    assert!(w.queue.dead_letters(100).await.unwrap().is_empty());
    assert_eq!(w.sub("ext-404").answers()[&passing], [404]);
    assert_eq!(w.sub("ext-408").answers()[&passing], [408, 200]);
    assert_eq!(w.sub("ext-429").answers()[&passing], [429, 200]);
    assert_eq!(w.sub("ext-ok").answers()[&passing], [200]);
}

/// What a subscriber receives: its subscription's call path, the subject, plain and expanded
/// ids, the bot token only when the install may act as its bot, a JWT acting as the bot, and
/// a delivery id naming the event and the subscriber; and nothing outside its scope.
#[tokio::test]
async fn a_subscriber_receives_its_call_with_the_event_and_nothing_outside_its_scope() {
    let w = world().await;
    // ext-flaky may no longer act as its bot.
    w.host
        .state()
        .modify_install::<StoreError>(TENANT, "ext-flaky", |i| {
            i.granted_permissions
                .retain(|p| *p != cloudapps::protocol::apps::Permission::ActAsBot);
            Ok(())
        })
        .await
        .unwrap();

    let post = w.ingest(message(1)).await;
    let join = w
        .ingest(
            json!({"kind": "user_joined_channel", "user_id": "newbie", "channel_id": "0000000000000000townsquare"}),
        )
        .await;
    // For ext-scoped: a post and a new channel outside its channel and team, then inside.
    let post_elsewhere = w
        .ingest(
            json!({"kind": "message_posted", "user_id": "u2", "channel_id": "000000000000000000000chan2",
                       "team_id": "000000000000000000000team1", "post_id": "00000000000000000elsewhere", "text": "hi"}),
        )
        .await;
    let channel_elsewhere = w
        .ingest(
            json!({"kind": "channel_created", "user_id": "u2", "channel_id": "000000000000000000000000c2",
                       "team_id": "000000000000000000000team2"}),
        )
        .await;
    let post_inside = w
        .ingest(
            json!({"kind": "message_posted", "user_id": "u3", "channel_id": "000000000000000000000chan1",
                       "team_id": "000000000000000000000team1", "post_id": "00000000000000000000inside", "text": "hi"}),
        )
        .await;
    let channel_inside = w
        .ingest(
            json!({"kind": "channel_created", "user_id": "u3", "channel_id": "000000000000000000000000c3",
                       "team_id": "000000000000000000000team1"}),
        )
        .await;
    w.drain().await;

    let delivery = |app: &str, event: &str| -> Got {
        let got: Vec<Got> = w
            .sub(app)
            .got()
            .into_iter()
            .filter(|g| g.event_id() == event && g.status == 200)
            .collect();
        assert_eq!(got.len(), 1, "{app} took {event} once: {got:?}");
        got[0].clone()
    };

    let got = delivery("ext-ok", &post);
    let context = &got.body["context"];
    assert_eq!(got.path, "/on-post");
    assert_eq!(got.body["path"], "/on-post");
    assert_eq!(
        got.delivery_id,
        format!("{post}/DELIVERED#ext-ok#post_created#-")
    );
    assert_eq!(got.acting_user_id, "bot-user", "the JWT acts as the bot");
    assert_eq!(context["subject"], "post_created");
    // No plain ids (v1.2 clears them once expanded); the acting user is the app's bot.
    assert_eq!(
        (
            context.get("channel_id"),
            context.get("team_id"),
            context.get("post_id"),
            context.get("user_id")
        ),
        (None, None, None, None),
        "{context}"
    );
    assert_eq!(context["acting_user"], json!({"id": "bot-user"}));
    assert_eq!(
        context["channel"],
        json!({"id": "0000000000000000townsquare", "team_id": "000000000000000000000team1"}),
        "the id level of a channel names its team"
    );
    assert_eq!(context["team"], json!({"id": "000000000000000000000team1"}));
    assert_eq!(
        (
            &context["user"]["id"],
            &context["channel"]["id"],
            &context["team"]["id"],
            &context["post"]["id"],
            &context["post"]["message"]
        ),
        (
            &json!("user1"),
            &json!("0000000000000000townsquare"),
            &json!("000000000000000000000team1"),
            &json!("000000000000000000000post1"),
            &json!("just saying hi")
        ),
        "{context}"
    );
    assert_eq!(context["bot_user_id"], "bot-user");
    assert_eq!(context["bot_access_token"], BOT_TOKEN, "granted act_as_bot");

    let got = delivery("ext-ok", &join);
    assert_eq!(got.path, "/on-join");
    assert_eq!(
        got.delivery_id,
        format!("{join}/DELIVERED#ext-ok#user_joined_channel#-")
    );
    assert_eq!(got.body["context"]["subject"], "user_joined_channel");
    assert_eq!(
        (
            &got.body["context"]["user"]["id"],
            &got.body["context"]["channel"]["id"]
        ),
        (&json!("newbie"), &json!("0000000000000000townsquare"))
    );

    let got = delivery("ext-flaky", &post);
    assert_eq!(got.acting_user_id, "bot-user");
    assert_eq!(
        got.body["context"].get("bot_access_token"),
        None,
        "not granted act_as_bot: no bot token"
    );

    // ext-scoped runs and records: it took what is in its channel and team, under each
    // subscription's own path and subscriber, and nothing else, though the events outside
    // its scope were delivered to others.
    let got = delivery("ext-scoped", &post_inside);
    assert_eq!(
        (got.path.as_str(), got.delivery_id),
        (
            "/posts-in-chan1",
            format!("{post_inside}/DELIVERED#ext-scoped#post_created#c:000000000000000000000chan1")
        )
    );
    let got = delivery("ext-scoped", &channel_inside);
    assert_eq!(
        (got.path.as_str(), got.delivery_id),
        (
            "/channels-in-team1",
            format!(
                "{channel_inside}/DELIVERED#ext-scoped#channel_created#t:000000000000000000000team1"
            )
        )
    );
    let scoped = w.sub("ext-scoped").answers();
    assert_eq!(
        scoped.keys().collect::<Vec<_>>(),
        {
            let mut inside = vec![&post_inside, &channel_inside];
            inside.sort();
            inside
        },
        "nothing outside its channel or team: {scoped:?}"
    );
    delivery("ext-ok", &post_elsewhere);
    assert_eq!(
        w.posts()
            .iter()
            .filter(|p| p["channel_id"] == "000000000000000000000000c2")
            .count(),
        1,
        "the new channel outside ext-scoped's team was handled (the notices app's notice)"
    );
    assert!(!scoped.contains_key(&post_elsewhere) && !scoped.contains_key(&channel_elsewhere));
}
