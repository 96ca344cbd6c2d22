//! The embedded adapter: one SQLite file (WAL, fsync on commit) for the local default. It
//! survives restarts; revisions make its writes conditional exactly like the DynamoDB ones.
//! Concurrent writes share a commit (group commit), so each still waits for its fsync but they
//! do not queue behind one another's. Items whose `expires_at` (seconds since the epoch) has
//! passed are deleted by a periodic sweep, as DynamoDB's TTL deletes them; like DynamoDB, reads
//! may still return an expired item the sweep has not reached yet.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use super::{Item, ItemStore, StoreError};
use crate::group_commit::{GroupWriter, SWEEP_BATCH, SWEEP_EVERY, WriteFailed, open_file};

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    CREATE TABLE IF NOT EXISTS items (
        pk       TEXT    NOT NULL,
        sk       TEXT    NOT NULL,
        revision INTEGER NOT NULL,
        body     TEXT    NOT NULL,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS items_expiry ON items (json_extract(body, '$.expires_at'))
        WHERE json_extract(body, '$.expires_at') IS NOT NULL;
";

/// Deletes up to `max` items that expired by `now` (seconds since the epoch); returns how many.
/// As with DynamoDB's TTL, only a number counts as an expiry time (SQLite orders any text
/// after every number). The partial index holds only the items that have one.
fn delete_expired(c: &Connection, now: u64, max: usize) -> rusqlite::Result<usize> {
    c.prepare_cached(DELETE_EXPIRED)?
        .execute(params![now as i64, max as i64])
}

const DELETE_EXPIRED: &str = "DELETE FROM items WHERE (pk, sk) IN (
    SELECT pk, sk FROM items WHERE json_extract(body, '$.expires_at') <= ?1 LIMIT ?2)";

/// The SQLite adapter. Writes go to one writer thread that commits them in groups; reads by key
/// run inline on pooled read connections, which WAL lets proceed while a write is in flight.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: GroupWriter,
    /// The writer's connection, which an in-memory store also reads through (no fsync there,
    /// so it is never held long).
    conn: Arc<Mutex<Connection>>,
    /// The file's path, for opening read connections; `None` for an in-memory store.
    path: Option<PathBuf>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let (conn, checkpointer) = open_file(path).map_err(StoreError::Backend)?;
        Self::init(conn, Some((path.to_path_buf(), checkpointer)), SWEEP_EVERY)
    }

    /// A throwaway store for tests and benchmarks.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory().map_err(backend)?,
            None,
            SWEEP_EVERY,
        )
    }

    /// `file`: the path, for read connections, and a connection for background checkpoints.
    /// `sweep_every`: how often expired items are deleted.
    fn init(
        conn: Connection,
        file: Option<(PathBuf, Connection)>,
        sweep_every: Duration,
    ) -> Result<Self, StoreError> {
        let (path, checkpointer) = file.unzip();
        conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
        conn.execute_batch(SCHEMA).map_err(backend)?;
        let conn = Arc::new(Mutex::new(conn));
        let writer = GroupWriter::spawn(conn.clone(), checkpointer, "sqlite-store-writer")
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        writer
            .every("sqlite-store-sweep", sweep_every, |c| {
                let deleted = delete_expired(c, crate::auth::now(), SWEEP_BATCH)
                    .map_err(|e| format!("could not delete expired items: {e}"))?;
                Ok(deleted == SWEEP_BATCH)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the sweep thread: {e}")))?;
        let inner = Inner {
            writer,
            conn,
            path,
            readers: Mutex::new(Vec::new()),
        };
        Ok(SqliteStore {
            inner: Arc::new(inner),
        })
    }

    /// `Err` with the reason while the store cannot write (its writer thread is down).
    pub fn health(&self) -> Result<(), String> {
        self.inner.writer.health()
    }

    /// Runs a write on the writer thread; answers once its group is committed.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.inner.writer.write(f).await
    }

    /// Runs a read inline: a keyed read takes microseconds, less than a hop to another thread.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(path) = &self.inner.path else {
            return f(&lock(&self.inner.conn));
        };
        let pooled = lock(&self.inner.readers).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
                conn
            }
        };
        let result = f(&conn);
        lock(&self.inner.readers).push(conn);
        result
    }
}

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl From<WriteFailed> for StoreError {
    fn from(e: WriteFailed) -> Self {
        StoreError::Backend(format!("the write was not committed: {}", e.0))
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn row_item(pk: String, sk: String, revision: i64, body: String) -> Result<Item, StoreError> {
    let body = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        pk: pk.clone(),
        sk: sk.clone(),
        reason: e.to_string(),
    })?;
    Ok(Item {
        pk,
        sk,
        revision: revision as u64,
        body,
    })
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read(|c| {
            let row = c
                .prepare_cached("SELECT revision, body FROM items WHERE pk = ?1 AND sk = ?2")
                .map_err(backend)?
                .query_row(params![pk, sk], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()
                .map_err(backend)?;
            row.map(|(rev, body)| row_item(pk.to_owned(), sk.to_owned(), rev, body))
                .transpose()
        })
    }

    async fn get_many(&self, pk: &str, sks: &[&str]) -> Result<Vec<Option<Item>>, StoreError> {
        self.read(|c| {
            // One read transaction: one lock cycle, and a consistent view of all the items.
            c.execute_batch("BEGIN").map_err(backend)?;
            let result = sks
                .iter()
                .map(|sk| {
                    c.prepare_cached("SELECT revision, body FROM items WHERE pk = ?1 AND sk = ?2")
                        .map_err(backend)?
                        .query_row(params![pk, sk], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                        })
                        .optional()
                        .map_err(backend)?
                        .map(|(rev, body)| row_item(pk.to_owned(), (*sk).to_owned(), rev, body))
                        .transpose()
                })
                .collect();
            c.execute_batch("COMMIT").map_err(backend)?;
            result
        })
    }

    async fn create(&self, pk: &str, sk: &str, body: &Value) -> Result<Item, StoreError> {
        let item = Item {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            revision: 1,
            body: body.clone(),
        };
        let text = body.to_string();
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        self.write(move |c| {
            let inserted = c
                .prepare_cached("INSERT INTO items (pk, sk, revision, body) VALUES (?1, ?2, 1, ?3) ON CONFLICT DO NOTHING")
                .map_err(backend)?
                .execute(params![pk, sk, text])
                .map_err(backend)?;
            if inserted == 1 { Ok(()) } else { Err(StoreError::Conflict) }
        })
        .await?;
        Ok(item)
    }

    async fn replace(
        &self,
        pk: &str,
        sk: &str,
        expected: u64,
        body: &Value,
    ) -> Result<Item, StoreError> {
        let item = Item {
            pk: pk.to_owned(),
            sk: sk.to_owned(),
            revision: expected + 1,
            body: body.clone(),
        };
        let text = body.to_string();
        let (pk, sk) = (item.pk.clone(), item.sk.clone());
        self.write(move |c| {
            let updated = c
                .prepare_cached("UPDATE items SET revision = revision + 1, body = ?4 WHERE pk = ?1 AND sk = ?2 AND revision = ?3")
                .map_err(backend)?
                .execute(params![pk, sk, expected as i64, text])
                .map_err(backend)?;
            if updated == 0 {
                let exists = c
                    .prepare_cached("SELECT 1 FROM items WHERE pk = ?1 AND sk = ?2")
                    .map_err(backend)?
                    .exists(params![pk, sk])
                    .map_err(backend)?;
                return Err(if exists { StoreError::Conflict } else { StoreError::NotFound });
            }
            Ok(())
        })
        .await?;
        Ok(item)
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                .map_err(backend)?
                .execute(params![pk, sk])
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn query(&self, pk: &str, sk_prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.read(|c| {
            // substr() rather than LIKE: sort keys may contain `%` and `_`.
            let mut stmt = c
                .prepare_cached(
                    "SELECT sk, revision, body FROM items WHERE pk = ?1 AND substr(sk, 1, length(?2)) = ?2 ORDER BY sk",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![pk, sk_prefix], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))
                .map_err(backend)?;
            let mut items = Vec::new();
            for row in rows {
                let (sk, rev, body) = row.map_err(backend)?;
                items.push(row_item(pk.to_owned(), sk, rev, body)?);
            }
            Ok(items)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::contract_tests!(SqliteStore::open_in_memory().unwrap());

    /// The file-backed store reads through its own connections: the contract again.
    mod file {
        use super::*;

        fn store() -> SqliteStore {
            let dir = tempfile::tempdir().unwrap().keep();
            SqliteStore::open(&dir.join("contract.db")).unwrap()
        }

        crate::contract_tests!(store());
    }

    #[tokio::test]
    async fn state_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .create("p", "s", &serde_json::json!({"a": 1}))
            .await
            .unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.get("p", "s").await.unwrap().unwrap().body["a"], 1);
    }

    fn store_sweeping_every(period: Duration) -> SqliteStore {
        SqliteStore::init(Connection::open_in_memory().unwrap(), None, period).unwrap()
    }

    #[tokio::test]
    async fn expired_items_are_swept_in_the_background_and_only_they() {
        let store = store_sweeping_every(Duration::from_millis(5));
        let now = crate::auth::now();
        for (sk, expires_at) in [
            ("expired", serde_json::json!(now - 1)),
            ("live", serde_json::json!(now + 3600)),
            ("text", serde_json::json!("1")),
            ("none", serde_json::Value::Null),
        ] {
            let body = match expires_at {
                serde_json::Value::Null => serde_json::json!({}),
                at => serde_json::json!({ super::super::EXPIRES_AT_FIELD: at }),
            };
            store.create("p", sk, &body).await.unwrap();
        }
        store
            .inner
            .writer
            .wait_until("the expired item to be swept", || async {
                store.get("p", "expired").await.unwrap().is_none()
            })
            .await;
        let left: Vec<String> = store
            .query("p", "")
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.sk)
            .collect();
        assert_eq!(left, ["live", "none", "text"]);
    }

    #[test]
    fn the_sweep_reads_the_expiry_index_not_every_item() {
        let store = store_sweeping_every(SWEEP_EVERY);
        let conn = lock(&store.inner.conn);
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {DELETE_EXPIRED}"))
            .unwrap()
            .query_map(params![0, 5], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("items_expiry")), "{plan:?}");
    }

    #[tokio::test]
    async fn a_dead_writer_shows_in_health_until_the_next_write_restarts_it() {
        let store = SqliteStore::open_in_memory().unwrap();
        assert_eq!(store.health(), Ok(()));
        store.inner.writer.crash_for_test();
        assert!(store.health().unwrap_err().contains("sqlite-store-writer"));
        store
            .create("p", "s", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(store.health(), Ok(()));
    }

    #[test]
    fn an_unwritable_path_is_a_clear_error() {
        let err = SqliteStore::open(Path::new("/proc/no/such/dir/state.db"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("/proc/no/such/dir"), "{err}");
    }
}
