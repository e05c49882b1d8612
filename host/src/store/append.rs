//! Rows that concurrent callers only insert, inserted together on PostgreSQL.
//!
//! On PostgreSQL each commit pays a WAL flush of its own, and under load the flushes, not
//! the statements, were what the server spent its time on: the data-usage entry that an
//! identity-bearing call writes before it runs halved the rate of the traffic police's
//! inquiry. [`Db::append`](super::Db::append) instead queues the caller's rows for one task
//! that, on a connection of its own, inserts whatever rows of one table have queued in one
//! statement (one round trip, one commit, one flush), and answers each caller once that
//! committed. Should that statement fail, each caller's rows are inserted on their own, so
//! that a caller's bad row fails only that caller.
//!
//! On SQLite the group commit ([`super::group`]) already shares commits; `Db::append` runs
//! there in the group commit of [`Db::write`](super::Db::write).

use sqlx::{AnyConnection, AnyPool};
use tokio::sync::{mpsc, oneshot};

use super::sql::{Arg, Tx, placeholders};

/// Rows to append to one table: `insert` is the statement's head up to `VALUES`, with
/// `columns` values a row, and `values` the rows' values one after another.
#[derive(Debug, Clone)]
pub struct Rows {
    pub insert: &'static str,
    pub columns: usize,
    pub values: Vec<Arg>,
}

impl Rows {
    /// How many rows these are.
    fn len(&self) -> usize {
        self.values.len() / self.columns
    }

    /// Inserts these rows in one statement, in the caller's transaction (or on its own).
    pub async fn insert_on(self, tx: &mut dyn Tx) -> sqlx::Result<()> {
        let statement = format!("{} VALUES {}", self.insert, placeholders(self.len(), self.columns));
        tx.run_statement(&statement, self.values).await.map(drop)
    }
}

/// Values one statement may bind (PostgreSQL's limit); a batch with more is inserted one
/// caller at a time.
const MAX_VALUES: usize = 65535;

struct Queued {
    rows: Rows,
    answer: oneshot::Sender<sqlx::Result<()>>,
}

/// The task that inserts queued rows on PostgreSQL.
#[derive(Debug, Clone)]
pub(super) struct Appender {
    tx: mpsc::Sender<Queued>,
}

impl Appender {
    /// Starts the task; it takes a connection of `pool` when it first has rows.
    pub(super) fn start(pool: AnyPool) -> Appender {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(pool, rx));
        Appender { tx }
    }

    /// Appends `rows` and answers once they are committed.
    pub(super) async fn append(&self, rows: Rows) -> sqlx::Result<()> {
        let (answer, answered) = oneshot::channel();
        self.tx.send(Queued { rows, answer }).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn stopped() -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other("the rows were not committed: the appender stopped"))
}

async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Queued>) {
    let mut conn: Option<AnyConnection> = None;
    let mut queued = Vec::with_capacity(256);
    while rx.recv_many(&mut queued, 256).await > 0 {
        // Each table's rows together, the tables in the order they first came.
        while let Some(first) = queued.first() {
            let insert = first.rows.insert;
            let (batch, rest): (Vec<_>, Vec<_>) = queued.drain(..).partition(|q| q.rows.insert == insert);
            queued = rest;
            insert_together(&pool, &mut conn, batch).await;
        }
    }
}

/// Inserts the rows of `batch` (one table's) in one statement; if that fails, each caller's
/// on their own, so each gets its own answer.
async fn insert_together(pool: &AnyPool, conn: &mut Option<AnyConnection>, batch: Vec<Queued>) {
    let values: usize = batch.iter().map(|q| q.rows.values.len()).sum();
    if batch.len() > 1 && values <= MAX_VALUES {
        let first = &batch[0].rows;
        // Copied: each caller's own rows are kept in case they must go in alone.
        let values = batch.iter().flat_map(|q| q.rows.values.iter().cloned()).collect();
        let together = Rows { insert: first.insert, columns: first.columns, values };
        if execute(pool, conn, together).await.is_ok() {
            for one in batch {
                let _ = one.answer.send(Ok(()));
            }
            return;
        }
    }
    for one in batch {
        let alone = execute(pool, conn, one.rows).await;
        let _ = one.answer.send(alone);
    }
}

/// Runs the statement that inserts `rows` on the task's connection (taken anew after an
/// error), on its own: committed when it returns.
async fn execute(pool: &AnyPool, conn: &mut Option<AnyConnection>, rows: Rows) -> sqlx::Result<()> {
    let connection = match conn {
        Some(connection) => connection,
        None => conn.insert(pool.acquire().await?.detach()),
    };
    let result = rows.insert_on(connection).await;
    // A statement the database refused leaves the connection as it was; any other error
    // may have broken it.
    if let Err(error) = &result
        && !matches!(error, sqlx::Error::Database(_))
    {
        *conn = None;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::Postgres;

    fn row(n: i64) -> Rows {
        Rows { insert: "INSERT INTO appended (n)", columns: 1, values: vec![Arg::Int(n)] }
    }

    /// Concurrent callers' rows go in together; a caller whose row the database refuses
    /// fails alone, and every other row is committed once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rows_commit_together_and_a_bad_one_fails_alone() {
        let Some(pg) = Postgres::create("append").await else { return };
        sqlx::query("CREATE TABLE appended (n BIGINT PRIMARY KEY)").execute(pg.db.pool()).await.unwrap();
        pg.db.append(row(7)).await.unwrap();
        // 200 callers at once; number 7 is there already.
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let db = pg.db.clone();
                tokio::spawn(async move { (n, db.append(row(n)).await) })
            })
            .collect();
        for task in tasks {
            let (n, result) = task.await.unwrap();
            match result {
                Ok(()) => assert_ne!(n, 7),
                Err(error) => {
                    assert_eq!(n, 7, "{error}");
                    assert!(crate::store::is_unique_violation(&error), "{error}");
                }
            }
        }
        let (rows, distinct): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(DISTINCT n) FROM appended").fetch_one(pg.db.pool()).await.unwrap();
        assert_eq!((rows, distinct), (200, 200));
        pg.drop().await;
    }
}
