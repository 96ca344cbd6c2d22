//! The event queue port: at-least-once delivery with a visibility timeout, as SQS gives it.
//! Adapters: SQS (aws-sdk-sqs) for Lambda, a durable SQLite queue for the local host. One
//! contract suite runs against both.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};

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
}

/// The local host's queue: a table in a SQLite file, committed with fsync.
#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                QueueError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        Self::init(
            Connection::open(path)
                .map_err(|e| QueueError::Backend(format!("cannot open {}: {e}", path.display())))?,
        )
    }

    pub fn open_in_memory() -> Result<Self, QueueError> {
        Self::init(Connection::open_in_memory().map_err(backend)?)
    }

    fn init(conn: Connection) -> Result<Self, QueueError> {
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
             );",
        )
        .map_err(backend)?;
        Ok(SqliteQueue {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut conn.lock().unwrap_or_else(|p| p.into_inner())))
            .await
            .map_err(|e| QueueError::Backend(format!("queue task failed: {e}")))?
    }
}

#[async_trait]
impl EventQueue for SqliteQueue {
    async fn send(&self, body: &str) -> Result<String, QueueError> {
        let id = crate::auth::generate_secret();
        let (body, id2) = (body.to_owned(), id.clone());
        self.with(move |c| {
            c.execute(
                "INSERT INTO queue (id, body, visible_at) VALUES (?1, ?2, 0)",
                params![id2, body],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await?;
        Ok(id)
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, QueueError> {
        self.with(move |c| {
            let now = now_ms();
            let tx = c.transaction().map_err(backend)?;
            let mut out = Vec::new();
            {
                let mut pick = tx
                    .prepare("SELECT seq, id, body, receive_count FROM queue WHERE visible_at <= ?1 ORDER BY seq LIMIT ?2")
                    .map_err(backend)?;
                let rows = pick
                    .query_map(params![now, max as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, u32>(3)?)))
                    .map_err(backend)?;
                for row in rows {
                    let (seq, id, body, count) = row.map_err(backend)?;
                    out.push((seq, Received { id, body, receipt: crate::auth::generate_secret(), receive_count: count + 1 }));
                }
            }
            let hide_until = now + visibility.as_millis() as i64;
            for (seq, m) in &out {
                tx.execute(
                    "UPDATE queue SET visible_at = ?1, receive_count = ?2, receipt = ?3 WHERE seq = ?4",
                    params![hide_until, m.receive_count, m.receipt, seq],
                )
                .map_err(backend)?;
            }
            tx.commit().map_err(backend)?;
            Ok(out.into_iter().map(|(_, m)| m).collect())
        })
        .await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.with(move |c| {
            c.execute("DELETE FROM queue WHERE receipt = ?1", params![receipt])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}

/// The SQS adapter: one queue URL, a client built once per process.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
        }
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
        use aws_sdk_sqs::types::MessageSystemAttributeName;
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(visibility.as_secs() as i32)
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

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_queue_meets_the_contract() {
        contract::at_least_once_with_visibility(&SqliteQueue::open_in_memory().unwrap()).await;
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
}
