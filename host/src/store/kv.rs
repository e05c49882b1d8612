//! Queries of the adapters' key-value storage (`kv_entries`, `kv_usage`).
//!
//! Every query names the adapter, so one adapter's keys are invisible to another. Writes
//! run in a transaction that first writes the adapter's `kv_usage` row: that row lock
//! serializes concurrent writers of one adapter on both back-ends (on SQLite the first
//! statement being a write also avoids the shared-to-reserved lock upgrade deadlock), so
//! the quota holds under concurrency.

use sqlx::Row as _;

use super::sql::{Tx, query};
use super::{Db, now_ms};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KvStoreError {
    /// The write would take the adapter past its quota; nothing was written.
    #[error("the write needs {needed} bytes of a {quota}-byte quota")]
    Quota { quota: u64, needed: u64 },
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// `Result` of this module.
pub type Result<T, E = KvStoreError> = std::result::Result<T, E>;

/// Locks the adapter's usage row (creating it) and returns the bytes in use.
async fn lock_usage(conn: &mut dyn Tx, adapter: &str) -> sqlx::Result<i64> {
    let row = query(
        "INSERT INTO kv_usage (adapter, bytes) VALUES ($1, 0) \
         ON CONFLICT (adapter) DO UPDATE SET bytes = kv_usage.bytes RETURNING bytes",
    )
    .bind(adapter)
    .fetch_one(conn)
    .await?;
    row.int(0)
}

/// The value of `key`, if set.
pub async fn get(db: &Db, adapter: &str, key: &str) -> Result<Option<Vec<u8>>> {
    let row = sqlx::query("SELECT value FROM kv_entries WHERE adapter = $1 AND key = $2")
        .bind(adapter)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
}

/// Creates or replaces `key`, unless that would take the adapter past `quota` bytes;
/// durable when it returns. A write that does not grow the adapter's usage is always
/// allowed, so an adapter over a lowered quota can still shrink its data.
pub async fn set(db: &Db, adapter: &str, key: String, value: Vec<u8>, quota: u64) -> Result<()> {
    let adapter = adapter.to_owned();
    let size = (key.len() + value.len()) as i64;
    db.write(move |conn| {
        Box::pin(async move {
            let used = lock_usage(conn, &adapter).await?;
            let old = query("SELECT bytes FROM kv_entries WHERE adapter = $1 AND key = $2")
                .bind(&adapter)
                .bind(&key)
                .fetch_optional(conn)
                .await?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            let next = used - old + size;
            if next > used && next as u64 > quota {
                return Ok(Err(KvStoreError::Quota { quota, needed: next as u64 }));
            }
            query(
                "INSERT INTO kv_entries (adapter, key, value, bytes, updated_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (adapter, key) DO UPDATE \
                 SET value = excluded.value, bytes = excluded.bytes, updated_ms = excluded.updated_ms",
            )
            .bind(&adapter)
            .bind(&key)
            .bind(&value)
            .bind(size)
            .bind(now_ms())
            .execute(conn)
            .await?;
            query("UPDATE kv_usage SET bytes = $2 WHERE adapter = $1").bind(&adapter).bind(next).execute(conn).await?;
            Ok(Ok(()))
        })
    })
    .await?
}

/// Removes `key`, durably; a missing key is not an error.
pub async fn delete(db: &Db, adapter: &str, key: String) -> Result<()> {
    let adapter = adapter.to_owned();
    db.write(move |conn| {
        Box::pin(async move {
            lock_usage(conn, &adapter).await?;
            let removed = query("DELETE FROM kv_entries WHERE adapter = $1 AND key = $2 RETURNING bytes")
                .bind(&adapter)
                .bind(&key)
                .fetch_optional(conn)
                .await?
                .map(|r| r.int(0))
                .transpose()?;
            if let Some(bytes) = removed {
                query("UPDATE kv_usage SET bytes = bytes - $2 WHERE adapter = $1")
                    .bind(&adapter)
                    .bind(bytes)
                    .execute(conn)
                    .await?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(())
}

/// Keys starting with `prefix`, in byte order, at most `limit`.
pub async fn list_keys(db: &Db, adapter: &str, prefix: &str, limit: u32) -> Result<Vec<String>> {
    // `substr` on characters rather than `LIKE`: no escaping of `%` and `_`, and the same
    // case-sensitive meaning on both back-ends.
    let rows = sqlx::query(
        "SELECT key FROM kv_entries WHERE adapter = $1 AND substr(key, 1, length($2)) = $2 ORDER BY key LIMIT $3",
    )
    .bind(adapter)
    .bind(prefix)
    .bind(i64::from(limit))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>()?)
}

/// Bytes the adapter uses (keys and values).
pub async fn usage(db: &Db, adapter: &str) -> Result<u64> {
    let row =
        sqlx::query("SELECT bytes FROM kv_usage WHERE adapter = $1").bind(adapter).fetch_optional(db.pool()).await?;
    Ok(row.map(|r| r.try_get::<i64, _>(0)).transpose()?.unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh SQLite database in a temporary folder.
    async fn sqlite() -> (Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("panjereh-kv-{}", rand::random::<u64>()));
        let db = Db::connect(&format!("sqlite://{}", dir.join("kv.db").display())).await.unwrap();
        (db, dir)
    }

    /// A fresh PostgreSQL database when the server of `.ci/run` is there, dropped after.
    async fn postgres() -> Option<(Db, String, sqlx::PgPool)> {
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
        let name = format!("panjereh_kv_{}", rand::random::<u32>());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        let (base, _) = admin_url.rsplit_once('/').unwrap();
        let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
        Some((db, name, admin))
    }

    async fn exercise(db: &Db) {
        // Namespaced: the same key in two adapters holds two values.
        set(db, "alpha", "note".into(), b"from alpha".to_vec(), 1024).await.unwrap();
        set(db, "beta", "note".into(), b"from beta".to_vec(), 1024).await.unwrap();
        assert_eq!(get(db, "alpha", "note").await.unwrap().as_deref(), Some(&b"from alpha"[..]));
        assert_eq!(get(db, "beta", "note").await.unwrap().as_deref(), Some(&b"from beta"[..]));
        assert_eq!(get(db, "gamma", "note").await.unwrap(), None);

        // Prefix listing in byte order, literal `%` and `_`, case-sensitive, limited.
        for key in ["user:2", "user:10", "user:1", "user_x", "User:3", "user%", "visit:1"] {
            set(db, "alpha", key.into(), Vec::new(), 1024).await.unwrap();
        }
        assert_eq!(list_keys(db, "alpha", "user:", 1000).await.unwrap(), ["user:1", "user:10", "user:2"]);
        assert_eq!(list_keys(db, "alpha", "user_", 1000).await.unwrap(), ["user_x"]);
        assert_eq!(list_keys(db, "alpha", "user%", 1000).await.unwrap(), ["user%"]);
        assert_eq!(list_keys(db, "alpha", "", 2).await.unwrap(), ["User:3", "note"]);
        assert!(list_keys(db, "beta", "user", 1000).await.unwrap().is_empty());

        // Usage is key + value bytes; replacing a value replaces its bytes.
        let base = usage(db, "alpha").await.unwrap();
        set(db, "alpha", "big".into(), vec![7; 100], 1024).await.unwrap();
        assert_eq!(usage(db, "alpha").await.unwrap(), base + 103);
        set(db, "alpha", "big".into(), vec![7; 10], 1024).await.unwrap();
        assert_eq!(usage(db, "alpha").await.unwrap(), base + 13);

        // Over the quota: refused, nothing written, the old value kept.
        let error = set(db, "alpha", "big".into(), vec![1; 2000], 1024).await.unwrap_err();
        assert!(matches!(error, KvStoreError::Quota { quota: 1024, .. }), "{error}");
        assert_eq!(get(db, "alpha", "big").await.unwrap().unwrap().len(), 10);
        assert_eq!(usage(db, "alpha").await.unwrap(), base + 13);

        // Deleting frees the bytes; deleting again is fine.
        delete(db, "alpha", "big".into()).await.unwrap();
        delete(db, "alpha", "big".into()).await.unwrap();
        assert_eq!(usage(db, "alpha").await.unwrap(), base);
        assert_eq!(get(db, "alpha", "big").await.unwrap(), None);
        // Beta's key is untouched by alpha's deletes.
        delete(db, "alpha", "note".into()).await.unwrap();
        assert!(get(db, "beta", "note").await.unwrap().is_some());

        // Concurrent writers cannot together pass the quota.
        let writes = (0..8).map(|i| {
            let db = db.clone();
            async move { set(&db, "racer", format!("k{i}"), vec![0; 98], 500).await }
        });
        let results = futures_join_all(writes).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(ok, 5, "{results:?}");
        assert_eq!(usage(db, "racer").await.unwrap(), 500);
    }

    async fn futures_join_all<F: std::future::Future + Send + 'static>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<F::Output>
    where
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.map(tokio::spawn).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_is_namespaced_listed_and_bounded_on_sqlite() {
        let (db, dir) = sqlite().await;
        exercise(&db).await;
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_is_namespaced_listed_and_bounded_on_postgres() {
        let Some((db, name, admin)) = postgres().await else { return };
        exercise(&db).await;
        db.close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await.unwrap();
    }
}
