//! Queries of the adapters' key-value storage (`kv_entries`, `kv_usage`).
//!
//! Every query names the adapter, so one adapter's keys are invisible to another. Writes
//! run in a transaction that first writes the adapter's `kv_usage` row: that row lock
//! serializes concurrent writers of one adapter on both back-ends (on SQLite the first
//! statement being a write also avoids the shared-to-reserved lock upgrade deadlock), so
//! the quota holds under concurrency.

use std::collections::BTreeMap;

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

/// Bytes a key takes with `value` (`None`: removed, nothing).
fn size(key: &str, value: Option<&[u8]>) -> i64 {
    value.map_or(0, |v| (key.len() + v.len()) as i64)
}

/// Writes `writes` (a value to set, or `None` to remove), in the caller's transaction,
/// unless together they would take the adapter past `quota` bytes: then nothing is written.
async fn apply_on(
    conn: &mut dyn Tx,
    adapter: &str,
    writes: &BTreeMap<String, Option<Vec<u8>>>,
    quota: u64,
) -> sqlx::Result<Result<()>> {
    let used = lock_usage(conn, adapter).await?;
    let mut next = used;
    for (key, value) in writes {
        next += size(key, value.as_deref()) - stored_bytes(conn, adapter, key).await?.unwrap_or(0);
    }
    if next > used && next as u64 > quota {
        return Ok(Err(KvStoreError::Quota { quota, needed: next as u64 }));
    }
    let now = now_ms();
    for (key, value) in writes {
        match value {
            Some(value) => query(
                "INSERT INTO kv_entries (adapter, key, value, bytes, updated_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (adapter, key) DO UPDATE \
                 SET value = excluded.value, bytes = excluded.bytes, updated_ms = excluded.updated_ms",
            )
            .bind(adapter)
            .bind(key)
            .bind(value)
            .bind(size(key, Some(value)))
            .bind(now),
            None => query("DELETE FROM kv_entries WHERE adapter = $1 AND key = $2").bind(adapter).bind(key),
        }
        .execute(conn)
        .await?;
    }
    if next != used {
        query("UPDATE kv_usage SET bytes = $2 WHERE adapter = $1").bind(adapter).bind(next).execute(conn).await?;
    }
    Ok(Ok(()))
}

/// The bytes `key` takes as stored, in the caller's transaction.
async fn stored_bytes(conn: &mut dyn Tx, adapter: &str, key: &str) -> sqlx::Result<Option<i64>> {
    query("SELECT bytes FROM kv_entries WHERE adapter = $1 AND key = $2")
        .bind(adapter)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .map(|r| r.int(0))
        .transpose()
}

/// One call's storage writes, kept by the host until the call's outcome commits (see
/// [`crate::capabilities::kv`]): the call reads its own writes, the quota counts them, and
/// they commit together, in the outcome's transaction or in their own, or not at all.
#[derive(Debug, Default, Clone)]
pub struct Staged {
    /// Each key written: its new value (`None`: removed) and the bytes it took as stored
    /// when the call first wrote it.
    writes: BTreeMap<String, (Option<Vec<u8>>, i64)>,
    /// The adapter and its quota, from the first write.
    owner: Option<(String, u64)>,
}

impl Staged {
    /// Whether the call wrote nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// What the call itself wrote of `key`: `Some(None)` when it removed it, `None` when it
    /// did not write it.
    pub fn get(&self, key: &str) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(|(value, _)| value.as_deref())
    }

    /// Stages setting `key`, unless the adapter's usage as stored, with this call's writes,
    /// would pass `quota`. A write that does not grow the usage is always allowed, so an
    /// adapter over a lowered quota can still shrink its data.
    pub async fn set(&mut self, db: &Db, adapter: &str, key: String, value: Vec<u8>, quota: u64) -> Result<()> {
        let (used, stored) = self.usage_with(db, adapter, &key).await?;
        let before = self.writes.get(&key).map_or(stored, |(value, _)| size(&key, value.as_deref()));
        let next = used - before + size(&key, Some(&value));
        if next > used && next as u64 > quota {
            return Err(KvStoreError::Quota { quota, needed: next as u64 });
        }
        self.stage(adapter, quota, key, Some(value), stored);
        Ok(())
    }

    /// Stages removing `key`.
    pub async fn delete(&mut self, db: &Db, adapter: &str, key: String, quota: u64) -> Result<()> {
        let (_, stored) = self.usage_with(db, adapter, &key).await?;
        self.stage(adapter, quota, key, None, stored);
        Ok(())
    }

    fn stage(&mut self, adapter: &str, quota: u64, key: String, value: Option<Vec<u8>>, stored: i64) {
        self.owner.get_or_insert_with(|| (adapter.to_owned(), quota));
        self.writes.entry(key).and_modify(|(old, _)| old.clone_from(&value)).or_insert((value, stored));
    }

    /// The adapter's usage as stored plus this call's writes, and the bytes `key` takes
    /// as stored (when the call first wrote it, if it did).
    async fn usage_with(&self, db: &Db, adapter: &str, key: &str) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT bytes FROM kv_usage WHERE adapter = $1), \
                    (SELECT bytes FROM kv_entries WHERE adapter = $1 AND key = $2)",
        )
        .bind(adapter)
        .bind(key)
        .fetch_one(db.pool())
        .await?;
        let used = row.try_get::<Option<i64>, _>(0)?.unwrap_or(0);
        let stored = match self.writes.get(key) {
            Some((_, stored)) => *stored,
            None => row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
        };
        let staged: i64 = self.writes.iter().map(|(k, (value, was))| size(k, value.as_deref()) - was).sum();
        Ok((used + staged, stored))
    }

    /// Keys starting with `prefix`, in byte order, at most `limit`: those stored, with this
    /// call's writes.
    pub async fn list_keys(&self, db: &Db, adapter: &str, prefix: &str, limit: u32) -> Result<Vec<String>> {
        let under = |key: &&String| key.starts_with(prefix);
        let removed = self.writes.iter().filter(|(k, (v, _))| v.is_none() && under(k)).count() as u32;
        let mut keys: std::collections::BTreeSet<String> =
            list_keys(db, adapter, prefix, limit.saturating_add(removed)).await?.into_iter().collect();
        for (key, (value, _)) in self.writes.iter().filter(|(k, _)| under(k)) {
            match value {
                Some(_) => keys.insert(key.clone()),
                None => keys.remove(key),
            };
        }
        Ok(keys.into_iter().take(limit as usize).collect())
    }

    /// Commits the call's writes, durably (nothing to do when it wrote nothing). When the
    /// commit fails they stay staged, for the call's outcome to try again or fail with.
    pub async fn commit(&mut self, db: &Db) -> sqlx::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let writes = self.clone();
        db.write(move |tx| Box::pin(writes.commit_on(tx))).await?;
        *self = Staged::default();
        Ok(())
    }

    /// Writes the call's writes in the caller's transaction. Concurrent calls may together
    /// have passed the quota that each was checked against: then this fails, and the
    /// caller's transaction with it.
    pub async fn commit_on(self, tx: &mut dyn Tx) -> sqlx::Result<()> {
        let Some((adapter, quota)) = self.owner else { return Ok(()) };
        let writes = self.writes.into_iter().map(|(key, (value, _))| (key, value)).collect();
        apply_on(tx, &adapter, &writes, quota).await?.map_err(|error| {
            sqlx::Error::Protocol(format!("the adapter `{adapter}`'s storage writes were not committed: {error}"))
        })
    }
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

    /// One call that sets `key` and commits.
    async fn set(db: &Db, adapter: &str, key: String, value: Vec<u8>, quota: u64) -> Result<()> {
        let mut call = Staged::default();
        call.set(db, adapter, key, value, quota).await?;
        Ok(call.commit(db).await?)
    }

    /// One call that removes `key` and commits.
    async fn delete(db: &Db, adapter: &str, key: String) -> Result<()> {
        let mut call = Staged::default();
        call.delete(db, adapter, key, 1024).await?;
        Ok(call.commit(db).await?)
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

        // A call's staged writes: read back by the call, counted against the quota, and
        // stored only when committed.
        let mut call = Staged::default();
        call.set(db, "stager", "a".into(), vec![1; 98], 300).await.unwrap();
        call.set(db, "stager", "b".into(), vec![2; 99], 300).await.unwrap();
        assert_eq!(call.get("a"), Some(Some(&[1; 98][..])));
        assert_eq!(call.get("c"), None);
        assert_eq!(get(db, "stager", "a").await.unwrap(), None, "staged, not stored");
        let error = call.set(db, "stager", "c".into(), vec![3; 200], 300).await.unwrap_err();
        assert!(matches!(error, KvStoreError::Quota { quota: 300, needed: 400 }), "{error}");
        call.set(db, "stager", "a".into(), vec![1; 9], 300).await.unwrap();
        call.set(db, "stager", "c".into(), vec![3; 150], 300).await.unwrap();
        call.delete(db, "stager", "b".into(), 300).await.unwrap();
        assert_eq!(call.get("b"), Some(None));
        assert_eq!(call.list_keys(db, "stager", "", 1000).await.unwrap(), ["a", "c"]);
        call.commit(db).await.unwrap();
        assert_eq!(usage(db, "stager").await.unwrap(), 10 + 151);
        assert_eq!(list_keys(db, "stager", "", 1000).await.unwrap(), ["a", "c"]);

        // The next call lists what is stored with its own writes, and removes a stored key.
        let mut next = Staged::default();
        next.delete(db, "stager", "a".into(), 300).await.unwrap();
        next.set(db, "stager", "d".into(), Vec::new(), 300).await.unwrap();
        assert_eq!(next.list_keys(db, "stager", "", 1).await.unwrap(), ["c"]);
        assert_eq!(next.list_keys(db, "stager", "", 1000).await.unwrap(), ["c", "d"]);
        // Two calls each within the quota, together past it: the second to commit fails
        // whole, nothing of it stored.
        let mut other = Staged::default();
        other.set(db, "stager", "e".into(), vec![5; 129], 300).await.unwrap();
        next.set(db, "stager", "f".into(), vec![6; 129], 300).await.unwrap();
        other.commit(db).await.unwrap();
        let error = next.commit(db).await.unwrap_err();
        assert!(error.to_string().contains("storage writes were not committed"), "{error}");
        assert_eq!(list_keys(db, "stager", "", 1000).await.unwrap(), ["a", "c", "e"]);
        assert_eq!(usage(db, "stager").await.unwrap(), 10 + 151 + 130);

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
