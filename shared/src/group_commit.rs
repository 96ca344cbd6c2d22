//! Group commit for the embedded SQLite files (install state, the event queue). One writer
//! thread per file takes every write waiting for it, runs them in one transaction, so that one
//! fsync covers them all, and answers each only once that commit is durable. Each write runs in
//! its own savepoint: one that fails (a conflict, say) or panics is rolled back alone. For a
//! file, WAL checkpoints run on their own connection in the background, not inside a commit,
//! where they would stall every write waiting behind it.
//!
//! A writer thread that dies all the same (a panic outside any write) is restarted by the next
//! write; until then [`GroupWriter::health`] says it is down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
#[cfg(test)]
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

/// A write the commit failed under, or that could not reach the writer.
#[derive(Debug, Clone)]
pub struct WriteFailed(pub String);

/// At most this many writes per transaction, so a flood of writes still commits regularly.
const MAX_GROUP: usize = 256;

/// How often the embedded stores delete what has expired (see [`GroupWriter::every`]).
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// At most this many rows one sweep deletes: a backlog is worked off in several groups, never
/// holding one commit (and the writes sharing it) for long.
pub const SWEEP_BATCH: usize = 500;

pub struct GroupWriter {
    writer: Arc<Writer>,
    /// Tells the checkpointer to stop with the writer.
    stopped: Arc<AtomicBool>,
    /// Dropped with the writer, which stops the periodic jobs (see [`GroupWriter::every`]).
    periodic: Mutex<Vec<mpsc::Sender<()>>>,
}

/// The writer thread of one connection, restarted when it has died.
struct Writer {
    conn: Arc<Mutex<Connection>>,
    name: String,
    thread: Mutex<WriterThread>,
    /// Counts what changes the writer's state outside a write's answer: its thread ending or
    /// restarting, a periodic job's run. Whoever waits on those waits on this.
    changed: watch::Sender<u64>,
    /// Makes restarting fail, as when the process is out of threads.
    #[cfg(test)]
    refuse_restart: AtomicBool,
}

struct WriterThread {
    jobs: mpsc::Sender<Message>,
    /// Cleared as the thread ends, before waiters are told: `JoinHandle::is_finished` turns
    /// true only later, so a waiter woken by the end could still see it running.
    alive: Arc<AtomicBool>,
    /// Taken only when a test joins the thread it crashed.
    #[cfg(test)]
    handle: Option<JoinHandle<()>>,
}

enum Message {
    Write(Box<dyn Write>),
    /// Makes the writer thread itself panic, as a bug outside any write would.
    #[cfg(test)]
    Crash,
}

/// One write waiting for the writer thread.
trait Write: Send {
    /// Runs on the writer thread, in the write's savepoint; says whether to keep its changes.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's commit is known. `outcome` is `Err` if the write was
    /// not committed for a reason of the writer's (the group failed, or this write panicked).
    fn answer(self: Box<Self>, outcome: Result<(), String>);
}

struct Pending<F, T, E> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    answer: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Write for Pending<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<WriteFailed> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        self.result = self.f.take().map(|f| f(conn));
        matches!(self.result, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, outcome: Result<(), String>) {
        let result = match (self.result, outcome) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(why)) => Err(E::from(WriteFailed(why))),
            (None, Ok(())) => Err(E::from(WriteFailed("the write did not run".into()))),
        };
        let _ = self.answer.send(result);
    }
}

/// How often the background checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

impl Drop for GroupWriter {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            let auto_off = lock(&conn).execute_batch("PRAGMA wal_autocheckpoint = 0");
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
        let changed = watch::Sender::new(0);
        let thread = start_thread(conn.clone(), name, changed.clone())?;
        let writer = Writer {
            conn,
            name: name.to_owned(),
            thread: Mutex::new(thread),
            changed,
            #[cfg(test)]
            refuse_restart: AtomicBool::new(false),
        };
        Ok(GroupWriter {
            writer: Arc::new(writer),
            stopped,
            periodic: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` in the next group's transaction and answers once it is committed. An `Err`
    /// from `f`, or a panic in it, rolls back what `f` did, and only that.
    pub async fn write<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<WriteFailed> + Send + 'static,
    {
        self.writer
            .submit(f)?
            .await
            .map_err(|_| E::from(abandoned()))?
    }

    /// `Err` with the reason while the writer thread is down (it died and no write has
    /// restarted it yet, or restarting it failed).
    pub fn health(&self) -> Result<(), String> {
        self.writer.health()
    }

    /// Runs `job` through the writer every `period` until the writer is dropped, again at once
    /// while it answers `true` (more to do): housekeeping such as deleting expired rows. It
    /// shares the groups of other writes, and restarts a dead writer like any write.
    pub fn every(
        &self,
        name: &str,
        period: Duration,
        job: impl Fn(&Connection) -> Result<bool, String> + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = mpsc::channel::<()>();
        let writer: Weak<Writer> = Arc::downgrade(&self.writer);
        let job = Arc::new(job);
        let job_name = name.to_owned();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    loop {
                        let Some(writer) = writer.upgrade() else {
                            return;
                        };
                        let job = job.clone();
                        let more = writer
                            .submit(move |c| job(c).map_err(WriteFailed))
                            .and_then(|answer| answer.blocking_recv().map_err(|_| abandoned())?);
                        writer.changed.send_modify(|n| *n += 1);
                        match more {
                            Ok(true) => continue,
                            Ok(false) => break,
                            Err(WriteFailed(why)) => {
                                tracing::warn!(job = %job_name, error = %why, "a periodic write failed; trying again next period");
                                break;
                            }
                        }
                    }
                }
            })?;
        lock(&self.periodic).push(stop);
        Ok(())
    }

    /// Makes the writer thread panic outside any write, and joins it.
    #[cfg(test)]
    pub(crate) fn crash_for_test(&self) {
        // Held until the thread has ended, so that no write restarts it in between.
        let mut thread = lock(&self.writer.thread);
        let _ = thread.jobs.send(Message::Crash);
        if let Some(handle) = thread.handle.take() {
            assert!(handle.join().is_err(), "the writer thread panics");
        }
    }

    /// Waits until `done` holds, checking again whenever the writer's state changes (its
    /// thread ends or restarts, a periodic job runs); a minute without it fails the test.
    #[cfg(test)]
    pub(crate) async fn wait_until<F: std::future::Future<Output = bool>>(
        &self,
        what: &str,
        mut done: impl FnMut() -> F,
    ) {
        let mut changed = self.writer.changed.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(60), async {
            while !done().await {
                changed
                    .changed()
                    .await
                    .expect("the writer outlives its handle");
            }
        });
        waited
            .await
            .unwrap_or_else(|_| panic!("waited a minute in vain for {what}"));
    }

    /// Makes every later restart of the writer thread fail (or succeed again).
    #[cfg(test)]
    pub(crate) fn refuse_restart_for_test(&self, refuse: bool) {
        self.writer.refuse_restart.store(refuse, Ordering::Relaxed);
    }
}

/// A write whose answer never came: the writer thread died with it queued or in its group.
fn abandoned() -> WriteFailed {
    WriteFailed("the SQLite writer thread stopped before committing the write".into())
}

impl Writer {
    /// Queues `f` for the writer thread, restarting the thread if it has died; the receiver
    /// gets the answer once the group is committed.
    fn submit<T, E>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, E>>, WriteFailed>
    where
        T: Send + 'static,
        E: From<WriteFailed> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let write = Message::Write(Box::new(Pending {
            f: Some(f),
            result: None,
            answer,
        }));
        let mut thread = lock(&self.thread);
        let Err(mpsc::SendError(write)) = thread.jobs.send(write) else {
            return Ok(answered);
        };
        // The thread is gone: a panic outside any write ended it. A new one takes over the
        // connection (and rolls back what the old one left uncommitted).
        tracing::error!(writer = %self.name, "the SQLite writer thread stopped; restarting it");
        *thread = self.restart().map_err(|e| {
            WriteFailed(format!(
                "the SQLite writer thread stopped and cannot be restarted: {e}"
            ))
        })?;
        self.changed.send_modify(|n| *n += 1);
        thread.jobs.send(write).map_err(|_| abandoned())?;
        Ok(answered)
    }

    fn restart(&self) -> std::io::Result<WriterThread> {
        #[cfg(test)]
        if self.refuse_restart.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("restarting is refused by the test"));
        }
        start_thread(self.conn.clone(), &self.name, self.changed.clone())
    }

    fn health(&self) -> Result<(), String> {
        if !lock(&self.thread).alive.load(Ordering::Acquire) {
            Err(format!("the {} thread has stopped", self.name))
        } else {
            Ok(())
        }
    }
}

fn start_thread(
    conn: Arc<Mutex<Connection>>,
    name: &str,
    changed: watch::Sender<u64>,
) -> std::io::Result<WriterThread> {
    /// Tells whoever waits that the thread has ended, however it ends (a panic included).
    /// Declared before the queue, so dropped after it: a write sent once the thread is seen
    /// ended is refused, not lost in the closing queue.
    struct Ended {
        alive: Arc<AtomicBool>,
        changed: watch::Sender<u64>,
    }
    impl Drop for Ended {
        fn drop(&mut self) {
            self.alive.store(false, Ordering::Release);
            self.changed.send_modify(|n| *n += 1);
        }
    }
    let alive = Arc::new(AtomicBool::new(true));
    let ending = alive.clone();
    let (jobs, queue) = mpsc::channel::<Message>();
    #[cfg_attr(not(test), allow(unused_variables))]
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _ended = Ended {
                alive: ending,
                changed,
            };
            // Moved out of the closure's captures into a local declared after `_ended`.
            #[allow(clippy::redundant_locals)]
            let queue = queue;
            while let Ok(first) = queue.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_GROUP {
                    match queue.try_recv() {
                        Ok(message) => batch.push(message),
                        Err(_) => break,
                    }
                }
                run_batch(&conn, batch);
            }
        })?;
    Ok(WriterThread {
        jobs,
        alive,
        #[cfg(test)]
        handle: Some(handle),
    })
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

fn run_batch(conn: &Mutex<Connection>, batch: Vec<Message>) {
    // A poisoned lock is only a thread that panicked holding it: the connection itself is fine.
    let conn = lock(conn);
    // Statements prepared once: parsing them for every write was a visible share of the
    // writer's time.
    let run =
        |sql: &str| -> rusqlite::Result<()> { conn.prepare_cached(sql)?.execute([]).map(|_| ()) };
    // A writer thread that died mid-group left its transaction open; nobody was told it
    // committed, so it is dropped.
    if !conn.is_autocommit()
        && let Err(e) = run("ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll back a dead writer's transaction");
    }
    // `Err` once the group cannot commit; each write's own failure beside it.
    let mut group = run("BEGIN IMMEDIATE").map_err(|e| e.to_string());
    let mut writes: Vec<(Box<dyn Write>, Option<String>)> = Vec::with_capacity(batch.len());
    for message in batch {
        // One variant outside tests; tests add the one that crashes the thread.
        #[allow(clippy::infallible_destructuring_match)]
        let mut write = match message {
            Message::Write(write) => write,
            #[cfg(test)]
            Message::Crash => panic!("the test crashed the writer thread"),
        };
        if group.is_err() {
            writes.push((write, None));
            continue;
        }
        if let Err(e) = run("SAVEPOINT job") {
            writes.push((write, Some(e.to_string())));
            continue;
        }
        let (keep, own) = match catch_unwind(AssertUnwindSafe(|| write.run(&conn))) {
            Ok(keep) => (keep, None),
            Err(_) => {
                tracing::error!("a write panicked; rolling back its changes");
                let why = "the write failed unexpectedly (it panicked) and was rolled back";
                (false, Some(why.to_owned()))
            }
        };
        let end = if keep {
            run("RELEASE job")
        } else {
            run("ROLLBACK TO job").and_then(|()| run("RELEASE job"))
        };
        // A savepoint that could not be undone may hold a failed write's changes: the whole
        // group is rolled back rather than commit them.
        if let Err(e) = end {
            tracing::error!(error = %e, "could not end a write's savepoint; rolling back its group");
            group = Err(format!("could not end a write's savepoint: {e}"));
        }
        writes.push((write, own));
    }
    let outcome = group.and_then(|()| run("COMMIT").map_err(|e| e.to_string()));
    if outcome.is_err() {
        let _ = run("ROLLBACK");
    }
    drop(conn);
    for (write, own) in writes {
        write.answer(match own {
            Some(why) => Err(why),
            None => outcome.clone(),
        });
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
    async fn concurrent_writes_are_each_answered_and_a_failing_one_alone_rolls_back() {
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

    #[tokio::test]
    async fn writes_waiting_together_share_one_commit() {
        let (w, conn) = writer();
        let commits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = commits.clone();
        lock(&conn).commit_hook(Some(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            false
        }));
        // The first write holds the writer thread until the others are queued behind it.
        let (started, has_started) = std::sync::mpsc::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first = w
            .writer
            .submit(move |c| {
                let _ = started.send(());
                held.recv().map_err(|e| E(e.to_string()))?;
                insert(c, "first")
            })
            .unwrap();
        has_started
            .recv_timeout(Duration::from_secs(10))
            .expect("the first write runs");
        let rest: Vec<_> = (0..20)
            .map(|i| {
                w.writer
                    .submit(move |c| insert(c, &format!("k{i}")))
                    .unwrap()
            })
            .collect();
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        for answered in rest {
            answered.await.unwrap().unwrap();
        }
        assert_eq!(count(&conn), 21);
        assert_eq!(
            commits.load(Ordering::SeqCst),
            2,
            "one commit for the first write, one for the 20 that waited together"
        );
    }

    fn count(conn: &Mutex<Connection>) -> i64 {
        lock(conn)
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    fn insert(c: &Connection, k: &str) -> Result<(), E> {
        c.execute("INSERT INTO t VALUES (?1)", [k])
            .map(|_| ())
            .map_err(|e| E(e.to_string()))
    }

    #[tokio::test]
    async fn a_panicking_write_fails_alone_and_the_writer_keeps_serving() {
        let (w, conn) = writer();
        let w = Arc::new(w);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.write(move |c| {
                        insert(c, &format!("k{i}"))?;
                        assert_ne!(i, 7, "a bug in write 7");
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        let mut failed = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            if let Err(E(why)) = t.await.unwrap() {
                failed.push((i, why));
            }
        }
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, 7);
        assert!(failed[0].1.contains("panicked"), "{}", failed[0].1);
        assert_eq!(count(&conn), 19, "the panicking write left nothing behind");
        w.write(|c| insert(c, "after")).await.unwrap();
        assert_eq!(count(&conn), 20);
        assert!(w.health().is_ok());
    }

    #[tokio::test]
    async fn a_dead_writer_thread_is_down_until_the_next_write_restarts_it() {
        let (w, conn) = writer();
        // Held, so that the write queued next and the crash share a group.
        let held = lock(&conn);
        let first = w.writer.submit(|c| insert(c, "first")).unwrap();
        let lost = w.writer.submit(|c| insert(c, "lost")).unwrap();
        lock(&w.writer.thread).jobs.send(Message::Crash).unwrap();
        drop(held);
        let _ = first.await;
        assert!(lost.await.is_err(), "its group died with the thread");
        w.wait_until("the thread ending", || async { w.health().is_err() })
            .await;
        assert!(w.health().unwrap_err().contains("test-writer"));

        w.write(|c| insert(c, "after")).await.unwrap();
        assert!(w.health().is_ok(), "restarted by the write");
        let lost: i64 = lock(&conn)
            .query_row("SELECT count(*) FROM t WHERE k = 'lost'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            lost, 0,
            "the dead thread's open transaction was rolled back"
        );
    }

    #[tokio::test]
    async fn a_writer_that_cannot_restart_stays_down() {
        let (w, _conn) = writer();
        w.refuse_restart_for_test(true);
        w.crash_for_test();
        let E(why) = w.write(|c| insert(c, "a")).await.unwrap_err();
        assert!(why.contains("cannot be restarted"), "{why}");
        assert!(w.health().is_err());

        w.refuse_restart_for_test(false);
        w.write(|c| insert(c, "b")).await.unwrap();
        assert!(w.health().is_ok());
    }

    #[tokio::test]
    async fn a_periodic_job_runs_through_the_writer_until_it_has_nothing_left() {
        let (w, conn) = writer();
        w.every("test-sweep", Duration::from_millis(5), |c| {
            let n: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            c.execute("INSERT INTO t VALUES (?1)", [format!("p{n}")])
                .map_err(|e| e.to_string())?;
            Ok(n + 1 < 3)
        })
        .unwrap();
        w.wait_until("three runs", || async { count(&conn) >= 3 })
            .await;
        // A periodic job also brings a dead writer back, with no other write needed.
        w.crash_for_test();
        w.wait_until("a restart", || async { w.health().is_ok() })
            .await;
    }
}
