//! The event queue port: at-least-once delivery with a visibility timeout, as SQS gives it,
//! and a dead-letter queue for messages that ran out of attempts. Adapters: SQS (aws-sdk-sqs)
//! for Lambda, a durable SQLite queue for the local host. One contract suite runs against both.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use crate::group_commit::{GroupWriter, SWEEP_BATCH, SWEEP_EVERY, WriteFailed, open_file};

/// A received message: hidden from other receivers until its visibility timeout passes, gone
/// once deleted with its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub body: String,
    /// Changes with every receive; only the latest deletes the message.
    pub receipt: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the queue failed: {0}")]
    Backend(String),
}

#[async_trait]
pub trait EventQueue: Send + Sync + 'static {
    /// Durably enqueues a message; returns its id once it is safe.
    async fn send(&self, body: &str) -> Result<String, QueueError>;

    /// Up to `max` visible messages, each hidden for `visibility`.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError>;

    /// Deletes a received message. A receipt from an earlier receive is ignored.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// Keeps a received message hidden for `delay` from now: the backoff before its next
    /// attempt.
    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;

    /// Up to `max` messages that ran out of attempts, oldest first, left where they are.
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;

    /// Moves up to `max` dead letters back onto the queue with fresh attempts; returns how
    /// many moved.
    async fn redrive(&self, max: usize) -> Result<usize, QueueError>;
}

/// A message in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub body: String,
}

/// Attempts before a message goes to the dead-letter queue: SQS's `maxReceiveCount` in the
/// template, and the local queue's default.
pub const MAX_RECEIVES: u32 = 5;

/// `d` in whole `unit`s, rounded up: a wait is never cut short (1.5 s is 2 s, not 1).
fn whole_units_up(d: Duration, unit: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(unit.as_nanos())).unwrap_or(u64::MAX)
}

/// `d` in milliseconds, rounded up, for the embedded queue's `visible_at`.
fn millis_up(d: Duration) -> i64 {
    i64::try_from(whole_units_up(d, Duration::from_millis(1))).unwrap_or(i64::MAX)
}

/// The longest visibility timeout SQS accepts: 12 hours.
const SQS_MAX_VISIBILITY_SECONDS: u64 = 12 * 3600;

/// `d` as an SQS visibility timeout: whole seconds, rounded up, at most SQS's cap.
fn sqs_visibility_seconds(d: Duration) -> i32 {
    whole_units_up(d, Duration::from_secs(1)).min(SQS_MAX_VISIBILITY_SECONDS) as i32
}

/// How long SQS keeps a message on the events queue (the template's `MessageRetentionPeriod`
/// of `EventsQueue`: SQS's default, made explicit).
pub const QUEUE_RETENTION_SECONDS: u64 = 4 * 24 * 3600;

/// How long a dead letter waits for an operator to inspect and redrive it: the template's
/// `EventsDeadLetterQueue` retention, and the local queue's. Delivery records outlive a
/// message's time on both queues, so that a redriven event skips whoever already has it.
pub const DEAD_LETTER_RETENTION_SECONDS: u64 = 14 * 24 * 3600;

/// The local host's queue: a table in a SQLite file, committed with fsync, concurrent sends
/// sharing a commit.
#[derive(Clone)]
pub struct SqliteQueue {
    writer: Arc<GroupWriter>,
    max_receives: u32,
    /// Wakes a waiting consumer when a message is sent.
    sent: Arc<tokio::sync::Notify>,
}

impl From<WriteFailed> for QueueError {
    fn from(e: WriteFailed) -> Self {
        QueueError::Backend(format!("the queue write was not committed: {}", e.0))
    }
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let (conn, checkpointer) = open_file(path).map_err(QueueError::Backend)?;
        Self::init(conn, Some(checkpointer), SWEEP_EVERY)
    }

    pub fn open_in_memory() -> Result<Self, QueueError> {
        Self::init(
            Connection::open_in_memory().map_err(backend)?,
            None,
            SWEEP_EVERY,
        )
    }

    /// `checkpointer`: a second connection to the file, for background WAL checkpoints.
    /// `sweep_every`: how often expired dead letters are deleted.
    fn init(
        conn: Connection,
        checkpointer: Option<Connection>,
        sweep_every: Duration,
    ) -> Result<Self, QueueError> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(backend)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS queue (
                 seq           INTEGER PRIMARY KEY AUTOINCREMENT,
                 id            TEXT    NOT NULL UNIQUE,
                 body          TEXT    NOT NULL,
                 visible_at    INTEGER NOT NULL,
                 receive_count INTEGER NOT NULL DEFAULT 0,
                 receipt       TEXT
             );
             CREATE INDEX IF NOT EXISTS queue_visible ON queue (visible_at, seq);
             CREATE INDEX IF NOT EXISTS queue_receipt ON queue (receipt);
             CREATE TABLE IF NOT EXISTS dead (
                 seq     INTEGER PRIMARY KEY AUTOINCREMENT,
                 id      TEXT    NOT NULL UNIQUE,
                 body    TEXT    NOT NULL,
                 dead_at INTEGER NOT NULL
             );",
        )
        .map_err(backend)?;
        add_dead_at(&conn).map_err(backend)?;
        conn.execute_batch("CREATE INDEX IF NOT EXISTS dead_expiry ON dead (dead_at);")
            .map_err(backend)?;
        let writer = GroupWriter::spawn(
            Arc::new(Mutex::new(conn)),
            checkpointer,
            "sqlite-queue-writer",
        )
        .map_err(|e| QueueError::Backend(format!("cannot start the writer thread: {e}")))?;
        writer
            .every("sqlite-queue-sweep", sweep_every, |c| {
                let deleted = delete_expired_dead_letters(c, now_ms(), SWEEP_BATCH)
                    .map_err(|e| format!("could not delete expired dead letters: {e}"))?;
                Ok(deleted == SWEEP_BATCH)
            })
            .map_err(|e| QueueError::Backend(format!("cannot start the sweep thread: {e}")))?;
        Ok(SqliteQueue {
            writer: Arc::new(writer),
            max_receives: MAX_RECEIVES,
            sent: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Sets how many receives a message gets before it is dead-lettered.
    pub fn with_max_receives(mut self, max_receives: u32) -> Self {
        self.max_receives = max_receives.max(1);
        self
    }

    /// `Err` with the reason while the queue cannot write (its writer thread is down).
    pub fn health(&self) -> Result<(), String> {
        self.writer.health()
    }

    /// Waits until a message is sent or `timeout` passes: lets a consumer idle without polling.
    pub async fn wait_for_message(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.sent.notified()).await;
    }

    /// Runs `f` on the writer thread, in a transaction it may share with concurrent calls.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        self.writer.write(f).await
    }
}

/// A file from before dead letters expired has no `dead_at`: its dead letters count from now.
fn add_dead_at(conn: &Connection) -> rusqlite::Result<()> {
    let present = conn
        .prepare("SELECT 1 FROM pragma_table_info('dead') WHERE name = 'dead_at'")?
        .exists([])?;
    if !present {
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "ALTER TABLE dead ADD COLUMN dead_at INTEGER NOT NULL DEFAULT 0",
            [],
        )?;
        tx.execute("UPDATE dead SET dead_at = ?1", [now_ms()])?;
        tx.commit()?;
    }
    Ok(())
}

/// Deletes up to `max` dead letters kept [`DEAD_LETTER_RETENTION_SECONDS`] by `now_ms`, counted
/// from when they died (SQS counts from the first send; the difference is the few retries'
/// backoff). Returns how many.
fn delete_expired_dead_letters(c: &Connection, now_ms: i64, max: usize) -> rusqlite::Result<usize> {
    let cutoff = now_ms - (DEAD_LETTER_RETENTION_SECONDS * 1000) as i64;
    c.prepare_cached(
        "DELETE FROM dead WHERE seq IN (SELECT seq FROM dead WHERE dead_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, max as i64])
}

#[async_trait]
impl EventQueue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let id = crate::auth::generate_secret();
        let (body, id2) = (body.to_owned(), id.clone());
        self.with(move |c| {
            c.prepare_cached("INSERT INTO queue (id, body, visible_at) VALUES (?1, ?2, 0)")
                .map_err(backend)?
                .execute(params![id2, body])
                .map_err(backend)?;
            Ok(())
        })
        .await?;
        self.sent.notify_one();
        Ok(id)
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        let max_receives = self.max_receives;
        self.with(move |c| {
            let now = now_ms();
            // Visible messages in index order, until `max` that still have attempts left; as
            // SQS does with a redrive policy, one received max_receives times without being
            // deleted moves to the dead letters instead. Collected first, changed after, so
            // the scan never meets a row it moved.
            let (mut live, mut exhausted) = (Vec::new(), Vec::new());
            {
                let mut pick = c
                    .prepare_cached("SELECT seq, id, body, receive_count FROM queue WHERE visible_at <= ?1 ORDER BY visible_at, seq")
                    .map_err(backend)?;
                let mut rows = pick.query(params![now]).map_err(backend)?;
                while live.len() < max {
                    let Some(row) = rows.next().map_err(backend)? else {
                        break;
                    };
                    let (seq, id, body, count): (i64, String, String, u32) = (
                        row.get(0).map_err(backend)?,
                        row.get(1).map_err(backend)?,
                        row.get(2).map_err(backend)?,
                        row.get(3).map_err(backend)?,
                    );
                    if count >= max_receives {
                        exhausted.push((seq, id, body));
                    } else {
                        let receipt = crate::auth::generate_secret();
                        live.push((seq, Received { id, body, receipt, receive_count: count + 1 }));
                    }
                }
            }
            for (seq, id, body) in exhausted {
                c.execute(
                    "INSERT INTO dead (id, body, dead_at) VALUES (?1, ?2, ?3)",
                    params![id, body, now],
                )
                .map_err(backend)?;
                c.execute("DELETE FROM queue WHERE seq = ?1", params![seq])
                    .map_err(backend)?;
            }
            let hide_until = now.saturating_add(millis_up(visibility));
            for (seq, m) in &live {
                c.prepare_cached(
                    "UPDATE queue SET visible_at = ?1, receive_count = ?2, receipt = ?3 WHERE seq = ?4",
                )
                .map_err(backend)?
                .execute(params![hide_until, m.receive_count, m.receipt, seq])
                .map_err(backend)?;
            }
            Ok(live.into_iter().map(|(_, m)| m).collect())
        })
        .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.with(move |c| {
            c.prepare_cached("DELETE FROM queue WHERE receipt = ?1")
                .map_err(backend)?
                .execute(params![receipt])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET visible_at = ?1 WHERE receipt = ?2",
                params![now_ms().saturating_add(millis_up(delay)), receipt],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        self.with(move |c| {
            let mut stmt = c
                .prepare("SELECT id, body FROM dead ORDER BY seq LIMIT ?1")
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![max as i64], |r| {
                    Ok(DeadLetter {
                        id: r.get(0)?,
                        body: r.get(1)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<_, _>>().map_err(backend)
        })
        .await
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        let moved = self
            .with(move |c| {
                let moved = c
                    .execute(
                        "INSERT INTO queue (id, body, visible_at) SELECT id, body, 0 FROM dead ORDER BY seq LIMIT ?1",
                        params![max as i64],
                    )
                    .map_err(backend)?;
                c.execute("DELETE FROM dead WHERE id IN (SELECT id FROM queue)", [])
                    .map_err(backend)?;
                Ok(moved)
            })
            .await?;
        if moved > 0 {
            self.sent.notify_one();
        }
        Ok(moved)
    }
}

/// The SQS adapter: the queue and its dead-letter queue (SQS moves messages there by the
/// queue's redrive policy), a client built once per process.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    dead_letter_url: Option<String>,
}

/// At most what one SQS receive returns.
const SQS_BATCH: usize = 10;

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
            dead_letter_url: None,
        }
    }

    /// The queue the redrive policy moves exhausted messages to.
    pub fn with_dead_letter_queue(mut self, url: impl Into<String>) -> Self {
        self.dead_letter_url = Some(url.into());
        self
    }

    fn dead_letter_url(&self) -> Result<&str, QueueError> {
        self.dead_letter_url
            .as_deref()
            .ok_or_else(|| QueueError::Backend("no dead-letter queue is configured".into()))
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, SQS_BATCH) as i32)
            .visibility_timeout(sqs_visibility_seconds(visibility))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                receive_count: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1),
                id: m.message_id.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete_from(&self, url: &str, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }
}

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError {
    QueueError::Backend(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}

#[async_trait]
impl EventQueue for SqsQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        self.receive_from(&self.url, max, visibility).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.delete_from(&self.url, receipt).await
    }

    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(sqs_visibility_seconds(delay))
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let url = self.dead_letter_url()?;
        // A peek: received with no visibility timeout, so they stay available; SQS may hand
        // the same message out again, so stop when a receive brings nothing new.
        let mut seen: Vec<DeadLetter> = Vec::new();
        while seen.len() < max {
            let batch = self
                .receive_from(url, max - seen.len(), Duration::ZERO)
                .await?;
            let before = seen.len();
            for m in batch {
                if !seen.iter().any(|d| d.id == m.id) {
                    seen.push(DeadLetter {
                        id: m.id,
                        body: m.body,
                    });
                }
            }
            if seen.len() == before {
                break;
            }
        }
        Ok(seen)
    }

    async fn redrive(&self, max: usize) -> Result<usize, QueueError> {
        let url = self.dead_letter_url()?.to_owned();
        let mut moved = 0;
        while moved < max {
            let batch = self
                .receive_from(&url, max - moved, Duration::from_secs(60))
                .await?;
            if batch.is_empty() {
                break;
            }
            for m in batch {
                // Sent before deleted: a failure in between leaves a copy, never a loss.
                self.send(&m.body).await?;
                self.delete_from(&url, &m.receipt).await?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}

/// The contract every queue adapter meets; `tests/` runs it on SQS (moto), this crate on SQLite.
#[cfg(any(test, feature = "contract"))]
pub mod contract {
    use std::time::Duration;

    use super::EventQueue;

    async fn assert_empty(queue: &dyn EventQueue, visibility: Duration, why: &str) {
        assert!(
            queue.receive(10, visibility).await.unwrap().is_empty(),
            "{why}"
        );
    }

    /// Sends, receives, hides, re-delivers and deletes, on an empty queue.
    pub async fn at_least_once_with_visibility(queue: &dyn EventQueue) {
        assert_empty(queue, Duration::from_secs(30), "starts empty").await;
        let a = queue.send(r#"{"n":1}"#).await.unwrap();
        let b = queue.send(r#"{"n":2}"#).await.unwrap();
        assert_ne!(a, b);
        let got = queue.receive(10, Duration::from_secs(30)).await.unwrap();
        let mut bodies: Vec<&str> = got.iter().map(|m| m.body.as_str()).collect();
        bodies.sort();
        assert_eq!(bodies, [r#"{"n":1}"#, r#"{"n":2}"#]);
        assert!(got.iter().all(|m| m.receive_count == 1));
        assert_empty(queue, Duration::from_secs(30), "hidden while being handled").await;
        for m in &got {
            queue.delete(&m.receipt).await.unwrap();
        }
        assert_empty(queue, Duration::ZERO, "deleted for good").await;

        // Not deleted: it comes back, counted, and only the newest receipt deletes it.
        queue.send("again").await.unwrap();
        let first = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
        let second = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
        assert_eq!(
            (first.id.clone(), second.receive_count),
            (second.id.clone(), 2)
        );
        queue.delete(&second.receipt).await.unwrap();
        assert_empty(queue, Duration::ZERO, "nothing left").await;
    }

    /// On an empty queue whose messages dead-letter after `max_receives` receives: a backoff
    /// hides a message, exhausted messages move to the dead letters (and only they), and a
    /// redrive brings them back with fresh attempts.
    pub async fn retries_then_dead_letters(queue: &dyn EventQueue, max_receives: u32) {
        let hidden = Duration::from_secs(30);
        queue.send("poison").await.unwrap();
        let first = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
        queue.retry_after(&first.receipt, hidden).await.unwrap();
        assert_empty(queue, Duration::ZERO, "backing off").await;
        queue
            .retry_after(&first.receipt, Duration::ZERO)
            .await
            .unwrap();
        for attempt in 2..=max_receives {
            let m = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);
            assert_eq!(m.receive_count, attempt);
        }
        queue.send("healthy").await.unwrap();
        let rest = queue.receive(10, hidden).await.unwrap();
        assert_eq!(
            rest.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
            ["healthy"],
            "the exhausted message is no longer received"
        );
        queue.delete(&rest[0].receipt).await.unwrap();
        let dead = queue.dead_letters(10).await.unwrap();
        assert_eq!(
            dead.iter().map(|d| d.body.as_str()).collect::<Vec<_>>(),
            ["poison"]
        );
        assert_eq!(
            queue.dead_letters(10).await.unwrap(),
            dead,
            "a peek keeps them"
        );
        assert_eq!(queue.redrive(10).await.unwrap(), 1);
        assert!(queue.dead_letters(10).await.unwrap().is_empty());
        let back = queue.receive(10, hidden).await.unwrap();
        assert_eq!(
            (back[0].body.as_str(), back[0].receive_count),
            ("poison", 1),
            "redriven with fresh attempts"
        );
        queue.delete(&back[0].receipt).await.unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_rounded_up_never_cut_short() {
        let s = Duration::from_secs;
        assert_eq!(sqs_visibility_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(sqs_visibility_seconds(Duration::from_millis(1)), 1);
        assert_eq!(sqs_visibility_seconds(s(10)), 10);
        assert_eq!(sqs_visibility_seconds(Duration::ZERO), 0);
        assert_eq!(sqs_visibility_seconds(s(13 * 3600)), 12 * 3600);
        assert_eq!(sqs_visibility_seconds(Duration::MAX), 12 * 3600);
        assert_eq!(millis_up(Duration::from_micros(1_500_500)), 1501);
        assert_eq!(millis_up(Duration::from_millis(1500)), 1500);
        assert_eq!(millis_up(Duration::MAX), i64::MAX);
    }

    #[tokio::test]
    async fn sqlite_queue_meets_the_contract() {
        let queue = SqliteQueue::open_in_memory().unwrap();
        contract::at_least_once_with_visibility(&queue).await;
        contract::retries_then_dead_letters(&queue.with_max_receives(3), 3).await;
    }

    #[tokio::test]
    async fn an_accepted_message_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        SqliteQueue::open(&path)
            .unwrap()
            .send("durable")
            .await
            .unwrap();
        let reopened = SqliteQueue::open(&path).unwrap();
        assert_eq!(
            reopened.receive(10, Duration::from_secs(30)).await.unwrap()[0].body,
            "durable"
        );
    }

    /// A queue whose messages are dead-lettered at their second receive, holding one dead
    /// letter.
    async fn with_a_dead_letter(queue: SqliteQueue) -> SqliteQueue {
        let queue = queue.with_max_receives(1);
        queue.send("poison").await.unwrap();
        queue.receive(1, Duration::ZERO).await.unwrap();
        assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
        assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1);
        queue
    }

    async fn sweep_at(queue: &SqliteQueue, now_ms: i64) -> usize {
        queue
            .with(move |c| delete_expired_dead_letters(c, now_ms, SWEEP_BATCH).map_err(backend))
            .await
            .unwrap()
    }

    const RETENTION_MS: i64 = (DEAD_LETTER_RETENTION_SECONDS * 1000) as i64;

    #[tokio::test]
    async fn dead_letters_expire_after_the_dead_letter_retention() {
        let queue = with_a_dead_letter(SqliteQueue::open_in_memory().unwrap()).await;
        assert_eq!(sweep_at(&queue, now_ms() + RETENTION_MS - 60_000).await, 0);
        assert_eq!(queue.dead_letters(10).await.unwrap().len(), 1, "still kept");
        assert_eq!(sweep_at(&queue, now_ms() + RETENTION_MS + 1_000).await, 1);
        assert!(queue.dead_letters(10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn expired_dead_letters_are_swept_in_the_background() {
        let conn = Connection::open_in_memory().unwrap();
        let queue = SqliteQueue::init(conn, None, Duration::from_millis(5)).unwrap();
        let queue = with_a_dead_letter(queue).await;
        queue
            .with(|c| {
                c.execute("UPDATE dead SET dead_at = ?1", [now_ms() - RETENTION_MS])
                    .map_err(backend)
            })
            .await
            .unwrap();
        queue
            .writer
            .wait_until("the expired dead letter to be swept", || async {
                queue.dead_letters(10).await.unwrap().is_empty()
            })
            .await;
    }

    #[tokio::test]
    async fn a_queue_file_from_before_dead_letters_expired_keeps_them_for_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE dead (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
                 INSERT INTO dead (id, body) VALUES ('m1', 'old');",
            )
            .unwrap();
        let queue = SqliteQueue::open(&path).unwrap();
        assert_eq!(queue.dead_letters(10).await.unwrap()[0].body, "old");
        assert_eq!(sweep_at(&queue, now_ms() + RETENTION_MS - 60_000).await, 0);
        assert_eq!(sweep_at(&queue, now_ms() + RETENTION_MS + 1_000).await, 1);
    }

    #[tokio::test]
    async fn a_dead_writer_shows_in_health_until_the_next_write_restarts_it() {
        let queue = SqliteQueue::open_in_memory().unwrap();
        assert_eq!(queue.health(), Ok(()));
        queue.writer.crash_for_test();
        assert!(queue.health().unwrap_err().contains("sqlite-queue-writer"));
        queue.send("after").await.unwrap();
        assert_eq!(queue.health(), Ok(()));
    }
}
