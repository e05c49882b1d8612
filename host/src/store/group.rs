//! Group commit for the writes that must be durable before an answer.
//!
//! SQLite has one writer, and under `synchronous = FULL` each commit pays its own fsync:
//! requests that each commit a small transaction wait on one another's fsyncs. Through
//! [`Db::write`](super::Db::write), concurrent callers' work instead goes to one task that
//! runs whatever has queued in one transaction, each caller's work in its own savepoint, and
//! commits once. Every caller is answered after that commit: its work is durable, or it
//! failed alone (its savepoint is rolled back, the others' work stays), or the commit failed
//! for all of them.
//!
//! The group runs on a thread of its own, straight on a SQLite connection of its own
//! ([`super::sql::Direct`]): one hand-off for the whole group instead of two for each of
//! its statements through sqlx's worker. Meanwhile the task holds the writer pool's one
//! connection, unused, as the write lock: the host's other writers wait for it in the pool's
//! queue, in order, as they wait for each other, never in SQLite's busy handler.
//!
//! PostgreSQL needs none of this: its connections commit in parallel and its WAL writer
//! flushes concurrent commits together, so there `Db::write` runs the work in a
//! transaction of its own.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::sql::{Direct, Tx, into_sqlx};

/// Units of work one transaction takes at most.
const MAX_UNITS: usize = 256;

/// Least time between two checkpoints of the WAL while writes keep coming: about the
/// time the host takes to write SQLite's default of 1000 pages under load.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Groups committed in a row while holding the write lock, when more keep queuing.
const GROUPS_PER_LOCK: u32 = 8;

/// Ends a unit's savepoint keeping its writes, or undoing them.
const KEEP: &str = "RELEASE unit; ";
const UNDO: &str = "ROLLBACK TO unit; RELEASE unit; ";

/// Work a caller hands the committer, run on the transaction's connection.
pub(super) type Work<T> = Box<dyn for<'c> FnOnce(&'c mut dyn Tx) -> BoxFuture<'c, sqlx::Result<T>> + Send>;

/// A caller's work and its answer, whatever the work's result type.
trait Unit: Send {
    /// Runs the work; the result is kept until the transaction's fate is known.
    fn run<'c>(self: Box<Self>, tx: &'c mut dyn Tx) -> BoxFuture<'c, Ran>;

    /// Answers the caller without running: the transaction failed before reaching it.
    fn refuse(self: Box<Self>, why: &str);
}

/// Answers a caller once the transaction has committed (`Ok`) or not (`Err`, why).
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// What running a unit gave: whether its savepoint stays, and how to answer its caller.
struct Ran {
    ok: bool,
    answer: Answer,
}

struct Pending<T> {
    work: Work<T>,
    answer: oneshot::Sender<sqlx::Result<T>>,
}

impl<T: Send + 'static> Unit for Pending<T> {
    fn run<'c>(self: Box<Self>, tx: &'c mut dyn Tx) -> BoxFuture<'c, Ran> {
        let Pending { work, answer } = *self;
        Box::pin(async move {
            let result = work(tx).await;
            let ok = result.is_ok();
            let answer = Box::new(move |committed: Result<(), &str>| {
                let _ = answer.send(committed.map_err(not_committed).and(result));
            });
            Ran { ok, answer }
        })
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self.answer.send(Err(not_committed(why)));
    }
}

/// The handle callers queue work through; the committer stops when every handle is gone.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    tx: mpsc::Sender<Box<dyn Unit>>,
    counts: Arc<Counts>,
}

/// How many transactions the committer committed, and how many callers' work they held.
#[derive(Debug, Default)]
struct Counts {
    transactions: AtomicU64,
    units: AtomicU64,
}

impl Committer {
    /// Starts the committer for the SQLite file at `path`, whose pool `writer` holds its
    /// one writer connection.
    pub(super) fn start(writer: AnyPool, path: &str) -> anyhow::Result<Committer> {
        let connection = open(path)?;
        // Another thread checkpoints the WAL beside the commits, so that groups do not wait
        // on copying pages to the database file. A checkpoint beside a writer that never
        // pauses never catches up with it, and the WAL only starts over once one has: past
        // four times SQLite's default size, the committer finishes the checkpoint itself.
        connection.execute_batch("PRAGMA wal_autocheckpoint = 4000;")?;
        let written = checkpointer(path)?;
        let (tx, rx) = mpsc::channel(4096);
        let (groups, thread_rx) = std::sync::mpsc::channel::<Group>();
        let counts = Arc::new(Counts::default());
        let runtime = tokio::runtime::Handle::current();
        let thread_counts = counts.clone();
        std::thread::Builder::new().name("panjereh-commit".into()).spawn(move || {
            let _runtime = runtime.enter();
            let mut connection = connection;
            for group in thread_rx {
                group.run(&mut connection, &thread_counts);
                // Full: a checkpoint is already due.
                let _ = written.try_send(());
            }
        })?;
        tokio::spawn(run(writer, rx, groups));
        Ok(Committer { tx, counts })
    }

    /// Transactions committed and the units they held, so far.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.counts.transactions.load(Ordering::Relaxed), self.counts.units.load(Ordering::Relaxed))
    }

    /// Runs `work` in the next transaction and answers once it has committed.
    pub(super) async fn write<T: Send + 'static>(&self, work: Work<T>) -> sqlx::Result<T> {
        if IN_GROUP.try_with(|_| ()).is_ok() {
            return Err(not_committed("a group commit's work may not queue writes of its own"));
        }
        let (answer, answered) = oneshot::channel();
        self.tx.send(Box::new(Pending { work, answer })).await.map_err(|_| stopped())?;
        // Dropped unanswered only if the work panicked, or the committer stopped.
        answered.await.map_err(|_| stopped())?
    }
}

fn not_committed(why: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("the write was not committed: {why}")))
}

fn stopped() -> sqlx::Error {
    not_committed("the group committer stopped, or the work panicked")
}

tokio::task_local! {
    /// Set while the committer runs units. A unit that queued a write of its own would wait
    /// for the very task that runs it, and with it every durable write of the host.
    static IN_GROUP: ();
}

/// The committer's own connection to the database file, set as the pool's connections are.
fn open(path: &str) -> anyhow::Result<rusqlite::Connection> {
    use anyhow::Context as _;
    let connection = rusqlite::Connection::open(path)
        .with_context(|| format!("failed to open the SQLite database {path} for the group commit"))?;
    // Each unit's savepoint journals the pages it changes that the group changed before
    // it; in memory, not in a temporary file, as the group is one transaction's worth.
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY;",
    )?;
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

/// Checkpoints the WAL of the file at `path` on a thread of its own, when told it was
/// written to, at most once per [`CHECKPOINT_EVERY`]. Passive: it copies what no reader
/// still needs and never waits for the writer, which restarts the WAL from its beginning
/// once all of it is copied.
fn checkpointer(path: &str) -> anyhow::Result<std::sync::mpsc::SyncSender<()>> {
    let connection = open(path)?;
    let (written, signals) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new().name("panjereh-checkpoint".into()).spawn(move || {
        for () in signals {
            let checkpoint = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            if let Err(error) = checkpoint {
                tracing::warn!(%error, "the WAL checkpoint failed; the next write tries again");
            }
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    })?;
    Ok(written)
}

/// Units the thread runs in one transaction, and how to tell the task it is done.
struct Group {
    units: Vec<Box<dyn Unit>>,
    done: oneshot::Sender<()>,
}

impl Group {
    /// Runs the group, commits, and answers every caller (on the committer's thread).
    fn run(self, connection: &mut rusqlite::Connection, counts: &Counts) {
        let Group { mut units, done } = self;
        let queued = units.len() as u64;
        let mut answers = Vec::with_capacity(units.len());
        let committed = commit(connection, &mut units, &mut answers).map_err(|e| e.to_string());
        match &committed {
            Ok(()) => {
                counts.transactions.fetch_add(1, Ordering::Relaxed);
                counts.units.fetch_add(queued, Ordering::Relaxed);
            }
            Err(why) => tracing::error!(error = %why, units = queued, "a group of writes was not committed"),
        }
        let outcome = committed.as_ref().map(|_| ()).map_err(String::as_str);
        for answer in answers {
            answer(outcome);
        }
        // Units the failed transaction never reached.
        for unit in units {
            unit.refuse(outcome.err().unwrap_or("the transaction ended before this write"));
        }
        let _ = done.send(());
    }
}

/// Takes what has queued, holds the writer pool's connection as the write lock, and has
/// the thread run it as one group.
async fn run(writer: AnyPool, mut rx: mpsc::Receiver<Box<dyn Unit>>, groups: std::sync::mpsc::Sender<Group>) {
    let mut units = Vec::with_capacity(MAX_UNITS);
    let mut lock = None;
    let mut held = 0;
    while rx.recv_many(&mut units, MAX_UNITS).await > 0 {
        if lock.is_none() {
            match writer.acquire().await {
                Ok(connection) => (lock, held) = (Some(connection), 0),
                Err(error) => {
                    let why = format!("the writer connection is not available: {error}");
                    tracing::error!(error = %why, units = units.len(), "a group of writes was not committed");
                    units.drain(..).for_each(|unit| unit.refuse(&why));
                    continue;
                }
            }
        }
        let (done, finished) = oneshot::channel();
        let group = Group { units: std::mem::take(&mut units), done };
        if let Err(std::sync::mpsc::SendError(group)) = groups.send(group) {
            group.units.into_iter().for_each(|unit| unit.refuse("the group committer's thread has stopped"));
            continue;
        }
        // Dropped unanswered only if the thread died; its callers then hear it from theirs.
        let _ = finished.await;
        // The lock is kept for the next group if one has queued meanwhile, up to a few
        // groups: the host's other writers then wait at most that long for their turn.
        held += 1;
        if rx.is_empty() || held >= GROUPS_PER_LOCK {
            lock = None;
        }
    }
}

/// Runs `units` in one transaction and commits; each unit run leaves its answer in
/// `answers`, and the units not reached stay in `units`. Whatever a failure left (SQLite
/// rolls back by itself on a full disk or an I/O error), it ends with no transaction open.
fn commit(
    connection: &mut rusqlite::Connection,
    units: &mut Vec<Box<dyn Unit>>,
    answers: &mut Vec<Answer>,
) -> sqlx::Result<()> {
    let ended = run_units(connection, units, answers);
    if ended.is_err() && !connection.is_autocommit() {
        let _ = connection.execute_batch("ROLLBACK");
    }
    ended
}

/// Runs the units in order, each in a savepoint of its own, and commits: `BEGIN` goes with
/// the first savepoint, the end of each savepoint with the next, the last with `COMMIT`.
fn run_units(
    connection: &mut rusqlite::Connection,
    units: &mut Vec<Box<dyn Unit>>,
    answers: &mut Vec<Answer>,
) -> sqlx::Result<()> {
    // From the end of the vector; what is not reached stays in `units`.
    units.reverse();
    let mut end = "BEGIN IMMEDIATE; ";
    while let Some(unit) = units.pop() {
        connection.execute_batch(&format!("{end}SAVEPOINT unit")).map_err(into_sqlx)?;
        // Work runs only statements, which `Direct` runs when called: its future is ready
        // at once. One that waits on anything else is stopped, not waited for (the whole
        // group would wait with it).
        let mut tx = Direct(connection);
        let ran = AssertUnwindSafe(IN_GROUP.scope((), unit.run(&mut tx))).catch_unwind().now_or_never();
        let kept = match ran {
            Some(Ok(ran)) => {
                answers.push(ran.answer);
                ran.ok
            }
            Some(Err(_)) => {
                tracing::error!("a unit of a group commit panicked; its writes are undone");
                false
            }
            None => {
                tracing::error!("a unit of a group commit waited on something other than its statements; it is undone");
                false
            }
        };
        end = if kept { KEEP } else { UNDO };
    }
    connection.execute_batch(&format!("{end}COMMIT")).map_err(into_sqlx)
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;

    use crate::store::{Db, is_unique_violation};

    async fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("group.db").display())).await.unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)").execute(db.writer()).await.unwrap();
        (db, dir)
    }

    async fn insert(db: &Db, keys: &[&str]) -> sqlx::Result<()> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        db.write(move |conn| {
            Box::pin(async move {
                for k in &keys {
                    crate::store::sql::query("INSERT INTO t (k) VALUES ($1)").bind(k).execute(conn).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn keys(db: &Db) -> Vec<String> {
        let rows = sqlx::query("SELECT k FROM t ORDER BY k").fetch_all(db.pool()).await.unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    }

    /// The checkpointer copies the WAL to the database file beside the commits: after a
    /// pause, writes start the WAL over instead of growing it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_checkpointed_beside_the_commits() {
        let (db, dir) = db().await;
        let wal = || std::fs::metadata(dir.path().join("group.db-wal")).unwrap().len();
        let value = "v".repeat(1000);
        let write = |from: usize| {
            let (db, value) = (db.clone(), value.clone());
            async move {
                for i in from..from + 300 {
                    insert(&db, &[&format!("{i:05}{value}")]).await.unwrap();
                }
            }
        };
        write(0).await;
        let first = wal();
        tokio::time::sleep(3 * super::CHECKPOINT_EVERY).await;
        write(300).await;
        let second = wal();
        assert!(second < first + first / 2, "the WAL grew from {first} to {second} bytes: it was not checkpointed");
        assert_eq!(keys(&db).await.len(), 600);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_a_commit_and_a_failing_one_is_undone_alone() {
        let (db, _dir) = db().await;
        let (transactions_before, _) = db.group_commits().unwrap();
        // The writer connection is busy, so every write below queues behind it.
        let busy = db.begin_write().await.unwrap();
        let mut writes = Vec::new();
        for i in 0..20 {
            let db = db.clone();
            // Write 7 inserts "a07" then collides with write 3's key: all of it is undone.
            let own = format!("a{i:02}");
            writes.push(tokio::spawn(async move {
                if i == 7 { insert(&db, &[&own, "a03"]).await } else { insert(&db, &[&own]).await }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(busy);
        let mut failed = Vec::new();
        for (i, write) in writes.into_iter().enumerate() {
            if let Err(e) = write.await.unwrap() {
                assert!(is_unique_violation(&e), "{e}");
                failed.push(i);
            }
        }
        assert_eq!(failed.len(), 1, "one of the colliding writes fails");
        let expected: Vec<String> = (0..20).filter(|i| *i != 7).map(|i| format!("a{i:02}")).collect();
        // Write 7 may run before write 3: then write 3 is the one refused, and "a07" stays.
        let stored = keys(&db).await;
        if failed == [7] {
            assert_eq!(stored, expected, "the failing write left nothing, every other write is stored");
        } else {
            assert_eq!(failed, [3]);
            assert_eq!(stored.len(), 20, "{stored:?}");
        }
        let (transactions, units) = db.group_commits().unwrap();
        assert!(
            transactions - transactions_before <= 2,
            "20 writes took {} transactions",
            transactions - transactions_before
        );
        assert!(units >= 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_alone_leaves_nothing_and_the_next_one_commits() {
        let (db, _dir) = db().await;
        let error = insert(&db, &["x", "x"]).await.unwrap_err();
        assert!(is_unique_violation(&error), "{error}");
        assert!(keys(&db).await.is_empty(), "the first insert of the failed write is undone");
        insert(&db, &["y"]).await.unwrap();
        assert_eq!(keys(&db).await, ["y"], "no transaction was left open by the failure");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_durable_when_it_returns() {
        let (db, dir) = db().await;
        insert(&db, &["kept"]).await.unwrap();
        // Another connection, opened after the answer, sees it.
        let other = Db::connect(&format!("sqlite://{}", dir.path().join("group.db").display())).await.unwrap();
        assert_eq!(keys(&other).await, ["kept"]);
    }
}
