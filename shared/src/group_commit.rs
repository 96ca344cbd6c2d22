//! Group commit for the embedded SQLite files (install state, the event queue). One writer
//! thread per file takes every write waiting for it, runs them in one transaction, so that one
//! fsync covers them all, and answers each only once that commit is durable. Each write runs in
//! its own savepoint: one that fails (a conflict, say) is rolled back alone. For a file, WAL
//! checkpoints run on their own connection in the background, not inside a commit, where they
//! would stall every write waiting behind it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

/// A write the commit failed under, or that could not reach the writer.
#[derive(Debug, Clone)]
pub struct WriteFailed(pub String);

type Completer = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs on the writer thread (given the connection, or why the transaction could not start);
/// says whether to keep its changes, and how to answer once the commit is known.
type Job = Box<dyn FnOnce(Result<&Connection, String>) -> (bool, Completer) + Send>;

/// At most this many writes per transaction, so a flood of writes still commits regularly.
const MAX_GROUP: usize = 256;

pub struct GroupWriter {
    jobs: mpsc::Sender<Job>,
    /// Tells the checkpointer to stop with the writer.
    stopped: Arc<AtomicBool>,
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl Drop for GroupWriter {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl GroupWriter {
    /// Starts the writer thread for `conn`; it stops when the last handle is dropped. With
    /// `checkpointer`, a second connection to the same file, WAL checkpoints move off the
    /// commit path onto a background thread.
    pub fn spawn(
        conn: Arc<Mutex<Connection>>,
        checkpointer: Option<Connection>,
        name: &str,
    ) -> std::io::Result<Self> {
        let stopped = Arc::new(AtomicBool::new(false));
        if let Some(checkpointer) = checkpointer {
            let auto_off = conn
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .execute_batch("PRAGMA wal_autocheckpoint = 0");
            if auto_off.is_ok() {
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-checkpoint"))
                    .spawn(move || {
                        while !stopped.load(Ordering::Relaxed) {
                            std::thread::sleep(CHECKPOINT_EVERY);
                            if let Err(e) =
                                checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE)")
                            {
                                tracing::warn!(error = %e, "a WAL checkpoint failed; retrying");
                            }
                        }
                    })?;
            }
        }
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&conn, batch);
                }
            })?;
        Ok(GroupWriter { jobs, stopped })
    }

    /// Runs `f` in the next group's transaction and answers once it is committed. An `Err`
    /// from `f` rolls back what `f` did, and only that.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WriteFailed> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Ok(c) => f(c),
                Err(why) => Err(E::from(WriteFailed(why))),
            };
            let keep = result.is_ok();
            let complete: Completer = Box::new(move |commit| {
                let result = match commit {
                    Ok(()) => result,
                    Err(why) => result.and(Err(E::from(WriteFailed(why)))),
                };
                let _ = answer.send(result);
            });
            (keep, complete)
        });
        let stopped = || E::from(WriteFailed("the SQLite writer thread stopped".into()));
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Opens a database file for a [`GroupWriter`], creating its directory if needed: the writer's
/// connection and the checkpointer's.
pub fn open_file(path: &std::path::Path) -> Result<(Connection, Connection), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let open =
        || Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()));
    Ok((open()?, open()?))
}

fn run_batch(conn: &Mutex<Connection>, batch: Vec<Job>) {
    let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    // Statements prepared once: parsing them for every write was a visible share of the
    // writer's time.
    let run =
        |sql: &str| -> rusqlite::Result<()> { conn.prepare_cached(sql)?.execute([]).map(|_| ()) };
    let begun = run("BEGIN IMMEDIATE").map_err(|e| e.to_string());
    let mut completers = Vec::with_capacity(batch.len());
    for job in batch {
        let complete = match &begun {
            Err(why) => job(Err(why.clone())).1,
            Ok(()) => match run("SAVEPOINT job") {
                Err(e) => job(Err(e.to_string())).1,
                Ok(()) => {
                    let (keep, complete) = job(Ok(&conn));
                    let end = if keep {
                        run("RELEASE job")
                    } else {
                        run("ROLLBACK TO job").and_then(|()| run("RELEASE job"))
                    };
                    if let Err(e) = end {
                        tracing::error!(error = %e, "could not end a write's savepoint");
                    }
                    complete
                }
            },
        };
        completers.push(complete);
    }
    let outcome = begun.and_then(|()| run("COMMIT").map_err(|e| e.to_string()));
    if outcome.is_err() {
        let _ = run("ROLLBACK");
    }
    drop(conn);
    for complete in completers {
        complete(outcome.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (GroupWriter, Arc<Mutex<Connection>>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .unwrap();
        let conn = Arc::new(Mutex::new(conn));
        (
            GroupWriter::spawn(conn.clone(), None, "test-writer").unwrap(),
            conn,
        )
    }

    #[derive(Debug)]
    struct E(String);
    impl From<WriteFailed> for E {
        fn from(w: WriteFailed) -> Self {
            E(w.0)
        }
    }

    #[tokio::test]
    async fn concurrent_writes_commit_together_and_a_failing_one_alone_rolls_back() {
        let (w, conn) = writer();
        let w = Arc::new(w);
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.write(move |c| {
                        c.execute("INSERT INTO t VALUES (?1)", [format!("k{i}")])
                            .map_err(|e| E(e.to_string()))?;
                        if i % 10 == 0 {
                            return Err(E("refused".into()));
                        }
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(E(why)) => assert_eq!(why, "refused"),
            }
        }
        assert_eq!(ok, 45);
        let n: i64 = conn
            .lock()
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 45, "the refused writes left nothing behind");
    }
}
