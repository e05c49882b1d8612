//! Storage with sqlx on two real back-ends: SQLite (WAL, the embedded default) and
//! PostgreSQL (production, several replicas).
//!
//! One SQL text serves both through sqlx's `Any` driver: queries use `$1, $2, ...`
//! placeholders (SQLite accepts them too), integers are `BIGINT`, times are milliseconds
//! since the Unix epoch, booleans are integers 0/1, and binary data is `BLOB`/`BYTEA` in
//! each back-end's migrations. Migrations live in `migrations/{sqlite,postgres}`, one
//! file per aggregate, and run at start.
//!
//! Each aggregate has its own file under `store/` with the queries that touch it.
//!
//! Statements that write go through [`Db::writer`]. On SQLite that is a pool of one
//! connection, so the host's writers queue in order inside the process instead of
//! polling SQLite's lock with growing sleeps (the busy handler), which gave writes under
//! load a tail of hundreds of milliseconds; readers use the other pool, concurrently with
//! the writer thanks to WAL. On PostgreSQL both are the same pool.
//!
//! The writes a request must see durable before it is answered (data-usage entries, an
//! application's rows, an adapter's `kv`, the evidence log) go through [`Db::write`], which
//! on SQLite commits concurrent requests' writes together: one fsync for all of them.

pub mod kv;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub mod operators;
pub mod packages;

use anyhow::Context as _;
use futures::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use self::sql::Tx;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The host's database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    writer: AnyPool,
    /// On PostgreSQL, connections whose commits do not wait for their WAL flush
    /// ([`Db::write_unflushed`]); opened when first used.
    unflushed: Option<AnyPool>,
    /// On PostgreSQL, the task that inserts concurrent callers' rows together ([`Db::append`]).
    appender: Option<append::Appender>,
    backend: Backend,
    /// On SQLite, the task that commits concurrent [`Db::write`]s together.
    group: Option<group::Committer>,
}

/// How long a PostgreSQL connection may sit idle in the pool and still be handed out
/// without a ping.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Connects (creating a SQLite file and its folder if needed) and runs migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL `{url}`: use sqlite://PATH or postgres://...");
        };
        let mut file = None;
        let mut unflushed = None;
        let (pool, writer) = match backend {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                if let Some(parent) = Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("failed to create the database folder {}", parent.display()))?;
                }
                let options = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=rwc"))?;
                let sqlite_pool = |connections: u32| {
                    AnyPoolOptions::new()
                        .max_connections(connections)
                        .acquire_timeout(Duration::from_secs(10))
                        // A file on this machine does not go stale the way a server
                        // connection does: no ping (one more thread hand-off) per acquire.
                        .test_before_acquire(false)
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                // WAL for concurrent readers; FULL so an acknowledged write
                                // survives a crash right after the answer; wait on other
                                // processes' locks (the CLI writing beside a running host).
                                conn.execute("PRAGMA journal_mode = WAL").await?;
                                conn.execute("PRAGMA synchronous = FULL").await?;
                                conn.execute("PRAGMA busy_timeout = 5000").await?;
                                conn.execute("PRAGMA foreign_keys = ON").await?;
                                Ok(())
                            })
                        })
                        .connect_with(options.clone())
                };
                let open = |e| anyhow::Error::new(e).context(format!("failed to open the SQLite database {path}"));
                // The writer first: it creates the file and turns WAL on.
                let writer = sqlite_pool(1).await.map_err(open)?;
                file = Some(path.to_owned());
                (sqlite_pool(8).await.map_err(open)?, writer)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    // A connection in steady use was just shown alive by its last statement;
                    // only one that sat idle (the server may have restarted since) pays a
                    // ping, a round trip, before it is handed out. A broken one is closed,
                    // and the pool hands out another.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for < IDLE_BEFORE_PING {
                                return Ok(true);
                            }
                            sqlx::Connection::ping(conn).await.map(|()| true)
                        })
                    })
                    .connect(url)
                    .await
                    .context("failed to connect to PostgreSQL")?;
                unflushed = Some(
                    AnyPoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move { conn.execute("SET synchronous_commit = off").await.map(drop) })
                        })
                        .connect_lazy(url)?,
                );
                (pool.clone(), pool)
            }
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&writer).await.context("failed to apply database migrations")?;
        let group = file.map(|path| group::Committer::start(writer.clone(), &path)).transpose()?;
        let appender = (backend == Backend::Postgres).then(|| append::Appender::start(writer.clone()));
        Ok(Db { pool, writer, unflushed, appender, backend, group })
    }

    /// The pool for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for statements that write (one connection on SQLite).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        if let Some(unflushed) = &self.unflushed {
            unflushed.close().await;
        }
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Which back-end this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction that will write, on the writer. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), waiting up to the busy timeout for another
    /// process: a deferred transaction that reads first would instead fail with "database
    /// is locked" when another connection wrote in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// Runs `work` in a write transaction and answers once it has committed: the writes
    /// that must be durable before an answer. On SQLite, the work of concurrent callers
    /// shares one transaction and one fsync (see [`group`]), each in its own savepoint, so
    /// work whose statement fails is undone alone. `work` only runs statements on the
    /// [`Tx`] it is given ([`sql::query`]): it must not wait on anything else, the others in
    /// its group wait on it (on SQLite, work that waits is stopped and undone, and a
    /// `Db::write` inside it is refused). A caller that stops waiting does
    /// not stop its work on SQLite: queued, it commits with its group (on PostgreSQL, the
    /// dropped transaction rolls back).
    pub async fn write<T, F>(&self, work: F) -> sqlx::Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut dyn Tx) -> BoxFuture<'c, sqlx::Result<T>> + Send + 'static,
    {
        match &self.group {
            Some(committer) => committer.write(Box::new(work)).await,
            None => {
                let mut tx = self.begin_write().await?;
                let value = work(&mut *tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// Inserts rows and answers once they are committed: on PostgreSQL together with the
    /// rows that other callers insert meanwhile, in one statement (see [`append`]); on
    /// SQLite in the group commit of [`Db::write`].
    pub async fn append(&self, rows: append::Rows) -> sqlx::Result<()> {
        match &self.appender {
            Some(appender) => appender.append(rows).await,
            None => self.write(move |tx| Box::pin(async move { rows.insert_on(tx).await })).await,
        }
    }

    /// Runs one statement and answers once it has committed, the rows it changed: on
    /// PostgreSQL on its own (one round trip, no `BEGIN` or `COMMIT`) and without waiting
    /// for its WAL to be flushed, for a change that may be lost in a crash, such as a count
    /// that the next durable commit makes durable with it (a flush covers all the WAL
    /// before it); the rows it locks are free again at once. On SQLite, in the group commit
    /// of [`Db::write`].
    pub async fn write_unflushed(&self, query: sql::Query<'_>) -> sqlx::Result<u64> {
        if let Some(pool) = &self.unflushed {
            return query.execute(&mut *pool.acquire().await?).await;
        }
        let (statement, args) = query.into_parts();
        let statement = statement.to_owned();
        self.write(move |tx| Box::pin(async move { tx.run_statement(&statement, args).await })).await
    }

    /// On SQLite, how many group transactions [`Db::write`] has committed, and how many
    /// writes they held (their ratio is the writes a fsync served); `None` on PostgreSQL.
    pub fn group_commits(&self) -> Option<(u64, u64)> {
        self.group.as_ref().map(group::Committer::counts)
    }
}

/// Milliseconds since the Unix epoch, the time format of every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub mod append;
pub mod applications;
pub mod callback_receipts;
pub mod citizens;
pub mod counter;
pub mod data_usage;
mod group;
pub mod jobs;
pub mod mandates;
pub mod messages;
pub mod oidc_logins;
pub mod otp;
pub mod payments;
pub mod sessions;
pub mod sign_in_counters;
pub mod sql;

/// What a claiming `SELECT` adds so that replicas claiming at once take different rows:
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite, whose single writer already
/// runs one claim at a time.
pub(crate) fn skip_locked(db: &Db) -> &'static str {
    match db.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    }
}

/// A list of names kept as a JSON array in a nullable text column (`None`: no list).
pub(crate) fn json_list(row: &sqlx::any::AnyRow, column: &str) -> sqlx::Result<Option<Vec<String>>> {
    use sqlx::Row as _;
    row.try_get::<Option<String>, _>(column)?
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode { index: column.into(), source: Box::new(e) })
}

/// The JSON text [`json_list`] reads back.
pub(crate) fn json_list_text(list: Option<&[String]>) -> Option<String> {
    list.map(|names| serde_json::json!(names).to_string())
}

/// A random identifier: 128 bits from the OS CSPRNG, as 32 hex digits.
pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether an error is the violation of a unique constraint (on either back-end).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[cfg(test)]
pub(crate) mod testing {
    use super::Db;

    /// A fresh PostgreSQL database, when the server of `.ci/run` is there.
    pub struct Postgres {
        pub db: Db,
        pub url: String,
        name: String,
        admin: sqlx::PgPool,
    }

    impl Postgres {
        /// Creates `panjereh_{prefix}_…`; `None` (the PostgreSQL half of a test is skipped)
        /// when no server answers.
        pub async fn create(prefix: &str) -> Option<Postgres> {
            let admin_url = std::env::var("PANJEREH_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
            let admin = match sqlx::postgres::PgPoolOptions::new()
                .acquire_timeout(std::time::Duration::from_secs(2))
                .connect(&admin_url)
                .await
            {
                Ok(pool) => pool,
                Err(error) => {
                    eprintln!("skipping the PostgreSQL half: {error}");
                    return None;
                }
            };
            let name = format!("panjereh_{prefix}_{}", rand::random::<u32>());
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            let url = format!("{base}/{name}");
            let db = Db::connect(&url).await.unwrap();
            Some(Postgres { db, url, name, admin })
        }

        /// Closes the pool and drops the database.
        pub async fn drop(self) {
            self.db.close().await;
            sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name)).execute(&self.admin).await.unwrap();
        }
    }
}
