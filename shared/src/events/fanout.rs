//! Fan-out: each accepted event goes to every subscriber entitled to it, at least once and at
//! most once per subscriber as far as this host can tell.
//!
//! For each event: the tenant's subscriptions to its subject, narrowed to its channel or team,
//! minus installs that are gone, disabled, or not granted the subject. Each subscriber gets a
//! POST of an Apps `CallRequest` to its call path, signed with the install's JWT secret, all in
//! parallel and each under a timeout. A delivery record per (event, subscriber) makes a
//! redelivered event skip the subscribers that already have it. An event with any failed
//! subscriber is retried later, with backoff, for those subscribers only; after
//! [`super::queue::MAX_RECEIVES`] attempts the queue dead-letters it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::join_all;
use serde_json::json;

use super::queue::{
    DEAD_LETTER_RETENTION_SECONDS, EventQueue, QUEUE_RETENTION_SECONDS, Received, SqliteQueue,
};
use super::subscriptions::Subscribed;
use super::{Event, EventKind, expand};
use crate::auth::{self, AppClaims};
use crate::mattermost::Mattermost;
use crate::outbound::{OutboundClient, OutboundError, PrivateNetworks};
use crate::paths::app_root;
use crate::protocol::apps::{CallRequest, Context, Permission};
use crate::store::{EXPIRES_AT_FIELD, Install, InstallState, StoreError, Tenant};

/// Each event's delivery records live in its partition `EVENT#<event id>`.
pub const EVENT_PK_PREFIX: &str = "EVENT#";

/// The header that names one delivery, for subscribers that deduplicate themselves.
pub const DELIVERY_ID_HEADER: &str = "X-Cloudapps-Delivery-Id";

/// How long one subscriber may take to answer a delivery (Apps gives 30 s; Lambda bills
/// the wait).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a delivery JWT is valid: long enough for a slow subscriber, short enough to be
/// worthless if logged.
const DELIVERY_JWT_SECONDS: u64 = 300;

/// How long a delivery record is kept (the store's TTL attribute). An event may wait out the
/// queue's retention, then the dead-letter queue's, and be redriven: the record outlives both,
/// so a late redrive skips whoever already has the event. (Capping the dead-letter retention
/// instead would take time from operators to notice and redrive; records are small.)
/// Fan-out drops an event older than this (one redriven more than once, say), which could
/// otherwise reach a subscriber whose record has expired.
pub const DELIVERY_RECORD_SECONDS: u64 = QUEUE_RETENTION_SECONDS + DEAD_LETTER_RETENTION_SECONDS;

/// What a subscriber answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// No answer: refused by the outbound policy, refused connection, reset, or timeout.
    Unreachable(String),
}

/// The transport to subscribers: HTTP in production, in-process for the local host's own apps.
#[async_trait]
pub trait Deliverer: Send + Sync + 'static {
    /// POSTs `body` (a JSON `CallRequest`) to `url` with the app JWT and the delivery id.
    async fn post(&self, url: &str, jwt: &str, delivery_id: &str, body: Bytes) -> Answer;
}

/// The HTTP transport: one pooled client under the [`crate::outbound`] policy, a timeout per
/// delivery.
#[derive(Clone)]
pub struct HttpDeliverer {
    client: OutboundClient,
    timeout: Duration,
}

/// Only a subscriber's status is used; its answer's body is never read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl HttpDeliverer {
    pub fn new(timeout: Duration, private_networks: PrivateNetworks) -> Self {
        HttpDeliverer {
            client: OutboundClient::new(private_networks, timeout, MAX_ANSWER_BYTES),
            timeout,
        }
    }

    /// The deliverer both hosts fan out with: each delivery under [`DELIVERY_TIMEOUT`].
    pub fn for_subscribers(private_networks: PrivateNetworks) -> Self {
        Self::new(DELIVERY_TIMEOUT, private_networks)
    }

    /// How long one delivery may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn send(
        &self,
        url: &str,
        jwt: &str,
        delivery_id: &str,
        body: Bytes,
    ) -> Result<u16, OutboundError> {
        let request = self
            .client
            .post(url)?
            .header("content-type", "application/json")
            .header(auth::APP_AUTH_HEADER, format!("Bearer {jwt}"))
            .header(DELIVERY_ID_HEADER, delivery_id)
            .body(body);
        Ok(self.client.send(request).await?.status().as_u16())
    }
}

#[async_trait]
impl Deliverer for HttpDeliverer {
    async fn post(&self, url: &str, jwt: &str, delivery_id: &str, body: Bytes) -> Answer {
        match self.send(url, jwt, delivery_id, body).await {
            Ok(status) => Answer::Status(status),
            Err(e) => Answer::Unreachable(e.to_string()),
        }
    }
}

/// What became of one event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Subscribers reached this time.
    pub delivered: usize,
    /// Subscribers that already had it from an earlier attempt.
    pub already_delivered: usize,
    /// Subscribers that refused it for good (a 4xx other than 408 and 429): not retried.
    pub refused: usize,
    /// Why each failed subscriber failed; non-empty means the event is retried.
    pub failed: Vec<String>,
    /// The event outlived its delivery records and was dropped undelivered.
    pub expired: bool,
}

/// The fan-out stage, shared by the SQS consumer Lambda and the local host's consumer.
#[derive(Clone)]
pub struct FanOut {
    state: InstallState,
    deliverer: Arc<dyn Deliverer>,
    /// Where this host's own apps are reached (the public URL).
    base_url: String,
    /// The first retry's delay; each later one doubles, up to [`MAX_BACKOFF`].
    backoff: Duration,
    /// The `http.root_url` of each (app, version) hosted elsewhere; a listed version does not
    /// change, so it is read from the catalog once.
    root_urls: Arc<Mutex<RootUrls>>,
    /// Reads the objects a subscription expands beyond their ids.
    mattermost: Option<Arc<dyn Mattermost>>,
}

/// Messages the local consumer takes at once, and how long it hides them: longer than a
/// batch can take, since every delivery has a timeout.
const CONSUMER_BATCH: usize = 32;
const CONSUMER_VISIBILITY: Duration = Duration::from_secs(120);
/// How often an idle local consumer looks for messages whose backoff has passed.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The wait before the first retry; each later one doubles, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// By (app, version): the root URL of an app hosted elsewhere, `None` for this host's own.
type RootUrls = HashMap<(String, String), Option<String>>;

/// One entitled subscriber of one event.
struct Target<'a> {
    subscribed: &'a Subscribed,
    install: &'a Install,
    /// Where to deliver, or why that is unknown for now.
    url: Result<String, String>,
    record_sk: String,
}

impl FanOut {
    pub fn new(state: InstallState, deliverer: Arc<dyn Deliverer>, base_url: &str) -> Self {
        FanOut {
            state,
            deliverer,
            base_url: base_url.trim_end_matches('/').to_owned(),
            backoff: FIRST_BACKOFF,
            root_urls: Arc::default(),
            mattermost: None,
        }
    }

    /// Reads what subscriptions expand beyond ids from the tenants' Mattermost.
    pub fn with_mattermost(mut self, mattermost: Arc<dyn Mattermost>) -> Self {
        self.mattermost = Some(mattermost);
        self
    }

    /// Sets the first retry's delay (tests use a short one).
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    /// The wait before attempt `receive_count + 1`: doubling from the first delay, capped.
    pub fn backoff(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(16);
        (self.backoff * 2u32.pow(doublings)).min(MAX_BACKOFF)
    }

    /// Delivers a batch of queued events concurrently. Each failed message is hidden for its
    /// backoff and its id returned (the SQS consumer reports them as batch item failures); with
    /// `delete_done` the others are deleted here (the local consumer; SQS's event source
    /// mapping deletes them itself).
    pub async fn process_batch(
        &self,
        queue: &dyn EventQueue,
        batch: Vec<Received>,
        delete_done: bool,
    ) -> Vec<String> {
        let results = join_all(batch.iter().map(|m| self.deliver_message(&m.body))).await;
        let failed: Vec<String> = batch
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_err())
            .map(|(m, _)| m.id.clone())
            .collect();
        // Settled concurrently, so the embedded queue commits them together.
        join_all(batch.iter().zip(results).map(|(message, result)| async move {
            let settled = match result {
                Ok(_) if delete_done => queue.delete(&message.receipt).await,
                Ok(_) => Ok(()),
                Err(reason) => {
                    tracing::warn!(message_id = %message.id, attempt = message.receive_count, %reason, "event not fully delivered; retrying later");
                    queue
                        .retry_after(&message.receipt, self.backoff(message.receive_count))
                        .await
                }
            };
            // Not fatal: the message becomes visible again by its visibility timeout.
            if let Err(e) = settled {
                tracing::warn!(message_id = %message.id, error = %e, "could not settle a message");
            }
        }))
        .await;
        failed
    }

    /// The local host's consumer: takes batches from the embedded queue and fans them out,
    /// forever. Several may run at once; each message is hidden while one of them has it.
    pub async fn consume(&self, queue: SqliteQueue) {
        loop {
            match queue.receive(CONSUMER_BATCH, CONSUMER_VISIBILITY).await {
                Ok(batch) if batch.is_empty() => queue.wait_for_message(IDLE_POLL).await,
                Ok(batch) => {
                    self.process_batch(&queue, batch, true).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the event queue failed; trying again shortly");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        }
    }

    /// Delivers one queued message; `Err` says why it must be retried.
    pub async fn deliver_message(&self, body: &str) -> Result<Report, String> {
        let event: Event =
            serde_json::from_str(body).map_err(|e| format!("the message is not an event: {e}"))?;
        let report = self.deliver(&event).await?;
        if report.failed.is_empty() {
            Ok(report)
        } else {
            Err(report.failed.join("; "))
        }
    }

    /// Delivers `event` to every entitled subscriber that does not have it yet. `Err` (an
    /// invalid event, an unknown tenant, a store failure) means nobody was tried.
    pub async fn deliver(&self, event: &Event) -> Result<Report, String> {
        let kind = event.validate()?;
        // Older than its delivery records, it could reach again whoever already had it (an
        // event redriven after its records expired): it is dropped, and said so.
        let age = auth::now().saturating_sub(event.accepted_at);
        if event.accepted_at > 0 && age >= DELIVERY_RECORD_SECONDS {
            tracing::warn!(event_id = %event.id, age_seconds = age, "an event older than its delivery records is dropped, not delivered");
            return Ok(Report {
                expired: true,
                ..Report::default()
            });
        }
        self.deliver_valid(event, kind)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("tenant `{}` is not registered", event.tenant))
    }

    async fn deliver_valid(
        &self,
        event: &Event,
        kind: EventKind,
    ) -> Result<Option<Report>, StoreError> {
        let Some(tenant) = self.state.tenant(&event.tenant).await? else {
            return Ok(None);
        };
        let subject = kind.subject();
        let subscribed: Vec<Subscribed> = self
            .state
            .subscribers(&tenant.id, &subject)
            .await?
            .into_iter()
            .filter(|s| s.subscription.covers(event))
            // What came through one app's own route is for that app alone.
            .filter(|s| event.source_app.is_empty() || s.app_id == event.source_app)
            .collect();
        if subscribed.is_empty() {
            return Ok(Some(Report::default()));
        }
        let installs = self.state.installs(&tenant.id).await?;
        let mut targets = Vec::new();
        for s in &subscribed {
            // The grant is checked again at delivery: it may have narrowed since subscribing.
            let Some(install) = installs.iter().find(|i| {
                i.app_id == s.app_id && i.enabled && i.granted_subjects.contains(&subject)
            }) else {
                continue;
            };
            targets.push(Target {
                subscribed: s,
                install,
                url: self.call_url(install, &s.subscription.call.path).await?,
                record_sk: format!(
                    "DELIVERED#{}",
                    s.subscription.subscriber(&s.app_id, &subject)
                ),
            });
        }
        let pk = format!("{EVENT_PK_PREFIX}{}", event.id);
        let sks: Vec<&str> = targets.iter().map(|t| t.record_sk.as_str()).collect();
        let done = self.state.items().get_many(&pk, &sks).await?;
        let mut report = Report::default();
        let pending: Vec<&Target> = targets
            .iter()
            .zip(done)
            .filter_map(|(t, d)| {
                if d.is_some() {
                    report.already_delivered += 1;
                    None
                } else {
                    Some(t)
                }
            })
            .collect();
        let outcomes = join_all(
            pending
                .iter()
                .map(|t| self.deliver_to(&tenant, kind, event, t, &pk)),
        )
        .await;
        for outcome in outcomes {
            match outcome {
                Delivery::Delivered => report.delivered += 1,
                Delivery::Refused => report.refused += 1,
                Delivery::Failed(why) => report.failed.push(why),
            }
        }
        Ok(Some(report))
    }

    async fn deliver_to(
        &self,
        tenant: &Tenant,
        kind: EventKind,
        event: &Event,
        target: &Target<'_>,
        pk: &str,
    ) -> Delivery {
        let app = &target.install.app_id;
        let request = match self.notification(tenant, kind, event, target).await {
            Ok(request) => request,
            Err(why) => return Delivery::Failed(format!("`{app}`: {why}")),
        };
        let body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
        let jwt = auth::sign_app_jwt(
            &AppClaims {
                exp: auth::now() + DELIVERY_JWT_SECONDS,
                acting_user_id: target.install.bot_user_id.clone(),
                iss: auth::DELIVERY_ISSUER.into(),
            },
            target.install.jwt_secret.expose(),
        );
        let delivery_id = format!("{}/{}", event.id, target.record_sk);
        let url = match &target.url {
            Ok(url) => url,
            Err(why) => return Delivery::Failed(format!("`{app}` cannot be reached: {why}")),
        };
        let outcome = match self.deliverer.post(url, &jwt, &delivery_id, body).await {
            Answer::Status(s) if (200..300).contains(&s) => Delivery::Delivered,
            Answer::Status(s) if (400..500).contains(&s) && s != 408 && s != 429 => {
                tracing::warn!(app = %app, status = s, "a subscriber refused an event; not retrying it");
                Delivery::Refused
            }
            Answer::Status(s) => Delivery::Failed(format!("`{app}` answered {s}")),
            Answer::Unreachable(e) => Delivery::Failed(format!("`{app}` unreachable: {e}")),
        };
        if matches!(outcome, Delivery::Failed(_)) {
            return outcome;
        }
        let record = json!({
            "outcome": if outcome == Delivery::Delivered { "delivered" } else { "refused" },
            "at": auth::now(),
            EXPIRES_AT_FIELD: auth::now() + DELIVERY_RECORD_SECONDS,
        });
        match self
            .state
            .items()
            .create(pk, &target.record_sk, &record)
            .await
        {
            Ok(_) | Err(StoreError::Conflict) => outcome,
            // Delivered but not recorded: a retry may deliver again, which the delivery id
            // lets the subscriber recognise.
            Err(e) => Delivery::Failed(format!("delivered to `{app}` but not recorded: {e}")),
        }
    }

    /// Where an install's call path is reached: this host's own routes for its built-in apps,
    /// the manifest's `http.root_url` for apps hosted elsewhere. `Err` (inside `Ok`) when the
    /// installed version is no longer listed: that subscriber is retried, not given up on, and
    /// the answer is not remembered, so a listing that comes back is found.
    async fn call_url(
        &self,
        install: &Install,
        path: &str,
    ) -> Result<Result<String, String>, StoreError> {
        let key = (install.app_id.clone(), install.version.clone());
        let cached = self
            .root_urls
            .lock()
            .ok()
            .and_then(|c| c.get(&key).cloned());
        let external = match cached {
            Some(url) => url,
            None => {
                let Some(version) = self
                    .state
                    .listing(&install.app_id)
                    .await?
                    .and_then(|l| l.version(&install.version).cloned())
                else {
                    return Ok(Err(format!(
                        "version {} is not listed, so where it runs is unknown",
                        install.version
                    )));
                };
                let url = version
                    .manifest
                    .http
                    .map(|h| h.root_url)
                    .filter(|u| !u.is_empty());
                if let Ok(mut c) = self.root_urls.lock() {
                    c.insert(key, url.clone());
                }
                url
            }
        };
        Ok(Ok(match external {
            Some(root) => format!("{}{path}", root.trim_end_matches('/')),
            None => format!(
                "{}{}{path}",
                self.base_url,
                app_root(&install.tenant_id, &install.app_id)
            ),
        }))
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    Delivered,
    Refused,
    Failed(String),
}

impl FanOut {
    /// The `CallRequest` a subscriber receives, as the Apps plugin builds one: the
    /// subscription's call, the subject, the bot's token when the install may act as its bot,
    /// and the objects the subscription's `expand` asks for (the acting user is the install's
    /// bot; the subject user is `user`), with no plain ids (v1.2 clears them). An object the
    /// subscription requires (`+`) that cannot be read fails the delivery, to be retried.
    async fn notification(
        &self,
        tenant: &Tenant,
        kind: EventKind,
        event: &Event,
        target: &Target<'_>,
    ) -> Result<CallRequest, String> {
        let install = target.install;
        let call = &target.subscribed.subscription.call;
        let may_act_as_bot = install.granted_permissions.contains(&Permission::ActAsBot);
        let bot_token = if may_act_as_bot {
            install.bot_access_token.expose()
        } else {
            ""
        };
        let known = expand::Known {
            bot_user_id: &install.bot_user_id,
            user_id: &event.user_id,
            channel_id: &event.channel_id,
            team_id: &event.team_id,
            post_id: &event.post_id,
            message: &event.text,
        };
        let source = expand::Source {
            mattermost: self.mattermost.as_deref(),
            site_url: &tenant.site_url,
            bot_token: install.bot_access_token.expose(),
        };
        let expanded = expand::expand(call.expand.as_deref(), &known, &source).await?;
        let context = Context {
            subject: Some(kind.subject()),
            app_id: install.app_id.clone(),
            mattermost_site_url: tenant.site_url.clone(),
            bot_user_id: install.bot_user_id.clone(),
            bot_access_token: bot_token.to_owned(),
            acting_user: expanded.acting_user,
            user: expanded.user,
            channel: expanded.channel,
            team: expanded.team,
            post: expanded.post,
            ..Default::default()
        };
        Ok(CallRequest {
            path: call.path.clone(),
            expand: call.expand.clone(),
            state: call.state.clone(),
            context,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout() -> FanOut {
        let items = crate::store::sqlite::SqliteStore::open_in_memory().unwrap();
        FanOut::new(
            InstallState::new(Arc::new(items)),
            Arc::new(HttpDeliverer::for_subscribers(PrivateNetworks::Refused)),
            "http://localhost",
        )
    }

    #[tokio::test]
    async fn backoff_doubles_from_10_s_up_to_15_min() {
        let fanout = fanout();
        let waits: Vec<u64> = (1..=10).map(|n| fanout.backoff(n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 900, 900, 900]);
        assert_eq!(fanout.backoff(u32::MAX), Duration::from_secs(900));
        // SQS reports a first receive as 1; a 0 never waits less than the first delay.
        assert_eq!(fanout.backoff(0), Duration::from_secs(10));
        assert_eq!(
            (FIRST_BACKOFF, MAX_BACKOFF),
            (Duration::from_secs(10), Duration::from_secs(900))
        );
    }

    /// A transport that answers only once `expected` deliveries are in flight together (or
    /// gives up after a generous deadline): one delivery at a time could never satisfy it.
    struct Together {
        barrier: tokio::sync::Barrier,
        seen: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl Deliverer for Together {
        async fn post(&self, _: &str, _: &str, _: &str, _: Bytes) -> Answer {
            self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match tokio::time::timeout(Duration::from_secs(5), self.barrier.wait()).await {
                Ok(_) => Answer::Status(200),
                Err(_) => {
                    Answer::Unreachable("delivered alone, not with the rest of its batch".into())
                }
            }
        }
    }

    #[tokio::test]
    async fn the_events_of_a_batch_are_delivered_concurrently() {
        let state = InstallState::new(Arc::new(
            crate::store::sqlite::SqliteStore::open_in_memory().unwrap(),
        ));
        crate::first_run::ensure_tenant_with_apps(
            &state,
            "acme",
            "https://mm.acme.test",
            &crate::apps::BuiltinApps::all(),
        )
        .await
        .unwrap();
        let subscribers = state
            .subscribers("acme", &crate::protocol::apps::Subject::UserJoinedChannel)
            .await
            .unwrap()
            .len();
        assert!(subscribers > 0, "a built-in app takes user_joined_channel");
        let events = 3;
        let transport = Arc::new(Together {
            barrier: tokio::sync::Barrier::new(events * subscribers),
            seen: Default::default(),
        });
        let fanout = FanOut::new(state, transport.clone(), "http://localhost");
        let queue = SqliteQueue::open_in_memory().unwrap();
        for n in 0..events {
            let event = Event {
                id: format!("e{n}"),
                tenant: "acme".into(),
                kind: Some(EventKind::UserJoinedChannel),
                user_id: format!("u{n}"),
                channel_id: "c1".into(),
                ..Default::default()
            };
            queue
                .send(&serde_json::to_string(&event).unwrap())
                .await
                .unwrap();
        }
        let batch = queue.receive(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(batch.len(), events);
        let failed = fanout.process_batch(&queue, batch, true).await;
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            transport.seen.load(std::sync::atomic::Ordering::SeqCst),
            events * subscribers
        );
    }

    #[test]
    fn both_hosts_deliver_under_the_10_s_timeout() {
        assert_eq!(DELIVERY_TIMEOUT, Duration::from_secs(10));
        for networks in [PrivateNetworks::Refused, PrivateNetworks::Allowed] {
            assert_eq!(
                HttpDeliverer::for_subscribers(networks).timeout(),
                DELIVERY_TIMEOUT
            );
        }
    }
}
