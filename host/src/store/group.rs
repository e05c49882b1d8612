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
//! PostgreSQL needs none of this: its connections commit in parallel and its WAL writer
//! flushes concurrent commits together, so there `Db::write` runs the work in a
//! transaction of its own.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

/// Units of work one transaction takes at most.
const MAX_UNITS: usize = 256;

/// Ends a unit's savepoint keeping its writes, or undoing them.
const KEEP: &str = "RELEASE unit; ";
const UNDO: &str = "ROLLBACK TO unit; RELEASE unit; ";

/// Work a caller hands the committer, run on the transaction's connection.
pub(super) type Work<T> = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> BoxFuture<'c, sqlx::Result<T>> + Send>;

/// A caller's work and its answer, whatever the work's result type.
trait Unit: Send {
    /// Runs the work; the result is kept until the transaction's fate is known.
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, Ran>;

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
    fn run<'c>(self: Box<Self>, conn: &'c mut AnyConnection) -> BoxFuture<'c, Ran> {
        let Pending { work, answer } = *self;
        Box::pin(async move {
            let result = work(conn).await;
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
    /// Starts the committer on `writer` (SQLite's one writer connection).
    pub(super) fn start(writer: AnyPool) -> Committer {
        let (tx, rx) = mpsc::channel(4096);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(writer, rx, counts.clone()));
        Committer { tx, counts }
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

async fn run(writer: AnyPool, mut rx: mpsc::Receiver<Box<dyn Unit>>, counts: Arc<Counts>) {
    let mut units = Vec::with_capacity(MAX_UNITS);
    let mut answers = Vec::with_capacity(MAX_UNITS);
    while rx.recv_many(&mut units, MAX_UNITS).await > 0 {
        let queued = units.len() as u64;
        let committed = IN_GROUP.scope((), commit(&writer, &mut units, &mut answers)).await.map_err(|e| e.to_string());
        match &committed {
            Ok(()) => {
                counts.transactions.fetch_add(1, Ordering::Relaxed);
                counts.units.fetch_add(queued, Ordering::Relaxed);
            }
            Err(why) => tracing::error!(error = %why, units = queued, "a group of writes was not committed"),
        }
        let outcome = committed.as_ref().map(|_| ()).map_err(String::as_str);
        for answer in answers.drain(..) {
            answer(outcome);
        }
        // Units the failed transaction never reached.
        for unit in units.drain(..) {
            unit.refuse(outcome.err().unwrap_or("the transaction ended before this write"));
        }
    }
}

/// Runs `units` in one transaction and commits; each unit run leaves its answer in
/// `answers`, and the units not reached stay in `units`. The transaction is begun and ended
/// by statements on a connection of its own, so that whatever a failure left (SQLite rolls
/// back by itself on a full disk or an I/O error) it ends with no transaction open.
async fn commit(writer: &AnyPool, units: &mut Vec<Box<dyn Unit>>, answers: &mut Vec<Answer>) -> sqlx::Result<()> {
    let mut conn = writer.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let ended = run_units(&mut conn, units, answers).await;
    if ended.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    ended
}

/// Runs the units, each in a savepoint unless it is alone, and ends the transaction.
async fn run_units(
    conn: &mut AnyConnection,
    units: &mut Vec<Box<dyn Unit>>,
    answers: &mut Vec<Answer>,
) -> sqlx::Result<()> {
    /// Runs one unit: whether its writes stay.
    async fn one(conn: &mut AnyConnection, unit: Box<dyn Unit>, answers: &mut Vec<Answer>) -> bool {
        match AssertUnwindSafe(unit.run(conn)).catch_unwind().await {
            Ok(ran) => {
                answers.push(ran.answer);
                ran.ok
            }
            Err(_) => {
                tracing::error!("a unit of a group commit panicked; its writes are undone");
                false
            }
        }
    }
    if units.len() == 1 {
        // Alone in its transaction, a unit needs no savepoint: it commits or rolls back.
        let unit = units.pop().expect("one unit");
        let end = if one(conn, unit, answers).await { "COMMIT" } else { "ROLLBACK" };
        return sqlx::query(end).execute(conn).await.map(drop);
    }
    // In order, from the end of the vector; what is not reached stays in `units`. How the
    // previous unit's savepoint ends goes with the next statement, in one hand-off to the
    // connection (SQLite runs every statement of a query's text).
    units.reverse();
    let mut end = "";
    while let Some(unit) = units.pop() {
        sqlx::query(&format!("{end}SAVEPOINT unit")).execute(&mut *conn).await?;
        end = if one(conn, unit, answers).await { KEEP } else { UNDO };
    }
    sqlx::query(&format!("{end}COMMIT")).execute(conn).await.map(drop)
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
                    sqlx::query("INSERT INTO t (k) VALUES ($1)").bind(k).execute(&mut *conn).await?;
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
    async fn a_write_is_durable_when_it_returns() {
        let (db, dir) = db().await;
        insert(&db, &["kept"]).await.unwrap();
        // Another connection, opened after the answer, sees it.
        let other = Db::connect(&format!("sqlite://{}", dir.path().join("group.db").display())).await.unwrap();
        assert_eq!(keys(&other).await, ["kept"]);
    }
}
