//! Queries of the adapters' key-value storage (`kv_entries`, `kv_usage`).
//!
//! Every query names the adapter, so one adapter's keys are invisible to another. The
//! quota holds under concurrency: the bytes a call's writes add are counted in the
//! adapter's `kv_usage` row, conditionally, before any of them is stored.
//! - On SQLite, the writes' transaction writes that row first (the group commit runs one
//!   writer at a time anyway, and a first statement that writes avoids the
//!   shared-to-reserved lock upgrade deadlock).
//! - On PostgreSQL, a row lock held through a durable commit would make every writing call
//!   of an adapter commit one after another. So [`Staged::hold`] takes the bytes the writes
//!   should add in a short transaction of its own that does not wait for its WAL flush (a
//!   later durable commit flushes it too), and the writes' transaction locks only the rows
//!   of its keys; it takes more from the usage only when another call changed one of its
//!   keys meanwhile. What was taken and not used is given back after the commit
//!   ([`Held::settle`]). A host that dies between the two leaves the usage counting more
//!   than is stored, never less.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::Row as _;

use super::sql::{Query, Tx, query};
use super::{Backend, Db, now_ms};

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

/// Each key written: its new value (`None`: removed) and the bytes it took as stored when
/// the call first wrote it.
type Writes = BTreeMap<String, (Option<Vec<u8>>, i64)>;

/// Writes `writes` in the caller's transaction, unless together they would take the
/// adapter past `quota` bytes: then nothing is written. With `taken` (PostgreSQL), that
/// many bytes were counted for them beforehand ([`Staged::hold`]); the answer is the part
/// of it they did not use.
async fn apply_on(
    conn: &mut dyn Tx,
    adapter: &str,
    writes: &Writes,
    quota: u64,
    taken: Option<i64>,
) -> sqlx::Result<Result<i64>> {
    // On SQLite the usage row is written first; on PostgreSQL only the keys' rows are locked.
    let used = if taken.is_none() { lock_usage(conn, adapter).await? } else { 0 };
    let mut growth = 0;
    for (key, (value, _)) in writes {
        growth += size(key, value.as_deref()) - stored_bytes(conn, adapter, key, taken.is_some()).await?.unwrap_or(0);
    }
    let unused = match taken {
        None => {
            let next = used + growth;
            if growth > 0 && next as u64 > quota {
                return Ok(Err(KvStoreError::Quota { quota, needed: next as u64 }));
            }
            if growth != 0 {
                query("UPDATE kv_usage SET bytes = $2 WHERE adapter = $1")
                    .bind(adapter)
                    .bind(next)
                    .execute(conn)
                    .await?;
            }
            0
        }
        // Another call changed one of these keys since this call read it.
        Some(taken) if growth > taken => {
            if let Err(error) = take_on(conn, adapter, growth - taken, quota).await? {
                return Ok(Err(error));
            }
            0
        }
        Some(taken) => taken - growth,
    };
    let now = now_ms();
    for (key, (value, _)) in writes {
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
    Ok(Ok(unused))
}

/// Counts `bytes` more in the adapter's usage, unless that passes `quota`, in the caller's
/// transaction.
async fn take_on(conn: &mut dyn Tx, adapter: &str, bytes: i64, quota: u64) -> sqlx::Result<Result<()>> {
    if take(adapter, bytes, quota).execute(conn).await? == 1 {
        return Ok(Ok(()));
    }
    let used = query("SELECT bytes FROM kv_usage WHERE adapter = $1").bind(adapter).fetch_optional(conn).await?;
    let used = used.map(|row| row.int(0)).transpose()?.unwrap_or(0);
    Ok(Err(KvStoreError::Quota { quota, needed: (used + bytes) as u64 }))
}

/// The statement that counts `bytes` more in the adapter's usage unless that passes
/// `quota`: it changes one row when they are taken, none when they are not.
fn take(adapter: &str, bytes: i64, quota: u64) -> Query<'static> {
    query(
        "INSERT INTO kv_usage (adapter, bytes) SELECT $1, $2 WHERE $2 <= $3 \
         ON CONFLICT (adapter) DO UPDATE SET bytes = kv_usage.bytes + excluded.bytes \
         WHERE kv_usage.bytes + excluded.bytes <= $3",
    )
    .bind(adapter)
    .bind(bytes)
    .bind(i64::try_from(quota).unwrap_or(i64::MAX))
}

/// The bytes `key` takes as stored, in the caller's transaction; with `lock`, its row is
/// locked until the transaction ends (PostgreSQL).
async fn stored_bytes(conn: &mut dyn Tx, adapter: &str, key: &str, lock: bool) -> sqlx::Result<Option<i64>> {
    let sql = if lock {
        "SELECT bytes FROM kv_entries WHERE adapter = $1 AND key = $2 FOR UPDATE"
    } else {
        "SELECT bytes FROM kv_entries WHERE adapter = $1 AND key = $2"
    };
    query(sql).bind(adapter).bind(key).fetch_optional(conn).await?.map(|r| r.int(0)).transpose()
}

/// One call's storage writes, kept by the host until the call's outcome commits (see
/// [`crate::capabilities::kv`]): the call reads its own writes, the quota counts them, and
/// they commit together, in the outcome's transaction or in their own, or not at all.
#[derive(Debug, Default, Clone)]
pub struct Staged {
    writes: Writes,
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
        let held = self.clone().hold(db).await?;
        let work = held.clone();
        let committed = db.write(move |tx| Box::pin(async move { work.commit_on(tx).await })).await;
        held.settle(db, committed.is_ok()).await;
        committed?;
        *self = Staged::default();
        Ok(())
    }

    /// Takes the bytes these writes add from the adapter's quota before their transaction
    /// (PostgreSQL; on SQLite their transaction does it). Fails, with nothing written,
    /// when the quota does not have them.
    pub async fn hold(self, db: &Db) -> sqlx::Result<Held> {
        let taken = match db.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let growth: i64 = self.writes.iter().map(|(k, (value, was))| size(k, value.as_deref()) - was).sum();
                let growth = growth.max(0);
                // On its own, committed without waiting for its flush: the usage row is
                // free again at once, and the writes' durable commit flushes this too.
                if let Some((adapter, quota)) = self.owner.as_ref().filter(|_| growth > 0)
                    && db.write_unflushed(take(adapter, growth, *quota)).await? != 1
                {
                    let used = usage(db, adapter).await.map_err(|e| not_committed(adapter, &e))?;
                    let refused = KvStoreError::Quota { quota: *quota, needed: used + growth as u64 };
                    return Err(not_committed(adapter, &refused));
                }
                Some(growth)
            }
        };
        Ok(Held { writes: Arc::new(self), taken, unused: Arc::new(AtomicI64::new(0)) })
    }
}

/// The error of writes that were not committed.
fn not_committed(adapter: &str, error: &KvStoreError) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the adapter `{adapter}`'s storage writes were not committed: {error}"))
}

/// A call's writes, with the bytes they add taken from the quota ([`Staged::hold`]).
#[derive(Debug, Clone)]
pub struct Held {
    writes: Arc<Staged>,
    /// Bytes taken before the transaction (PostgreSQL); `None` on SQLite.
    taken: Option<i64>,
    /// Of those, the bytes the transaction did not use, to give back once it committed.
    unused: Arc<AtomicI64>,
}

impl Held {
    /// Writes the call's writes in the caller's transaction. Concurrent calls may together
    /// have passed the quota that each was checked against: then this fails, and the
    /// caller's transaction with it.
    pub async fn commit_on(&self, tx: &mut dyn Tx) -> sqlx::Result<()> {
        let Some((adapter, quota)) = &self.writes.owner else { return Ok(()) };
        let unused = apply_on(tx, adapter, &self.writes.writes, *quota, self.taken)
            .await?
            .map_err(|error| not_committed(adapter, &error))?;
        self.unused.store(unused, Ordering::Relaxed);
        Ok(())
    }

    /// Once the transaction of [`Held::commit_on`] is over: gives back what was taken for
    /// the writes and not used (all of it when `committed` is false). A failure here only
    /// leaves the usage counting more than is stored; it is logged.
    pub async fn settle(self, db: &Db, committed: bool) {
        let (Some(taken), Some((adapter, _))) = (self.taken, &self.writes.owner) else { return };
        let back = if committed { self.unused.load(Ordering::Relaxed) } else { taken };
        if back <= 0 {
            return;
        }
        let give = query("UPDATE kv_usage SET bytes = bytes - $2 WHERE adapter = $1").bind(adapter).bind(back);
        let given = db.write_unflushed(give).await;
        if let Err(error) = given {
            tracing::warn!(adapter, bytes = back, %error, "storage usage counts bytes that are not stored");
        }
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

        // Calls whose key another call changed after they read it: the usage is what is
        // stored, and the quota holds.
        set(db, "keyrace", "k".into(), vec![0; 97], 200).await.unwrap();
        let mut stale = Staged::default();
        stale.set(db, "keyrace", "k".into(), vec![1; 97], 200).await.unwrap();
        delete(db, "keyrace", "k".into()).await.unwrap();
        stale.commit(db).await.unwrap();
        assert_eq!(usage(db, "keyrace").await.unwrap(), 98);
        let mut shrinking = Staged::default();
        shrinking.set(db, "keyrace", "k".into(), vec![1; 9], 200).await.unwrap();
        set(db, "keyrace", "k".into(), vec![2; 47], 200).await.unwrap();
        shrinking.commit(db).await.unwrap();
        assert_eq!(usage(db, "keyrace").await.unwrap(), 10);
        let mut growing = Staged::default();
        growing.set(db, "keyrace", "k".into(), vec![3; 9], 200).await.unwrap();
        set(db, "keyrace", "other".into(), vec![4; 95], 200).await.unwrap();
        delete(db, "keyrace", "k".into()).await.unwrap();
        set(db, "keyrace", "more".into(), vec![5; 96], 200).await.unwrap();
        // Counted as unchanged when read, it now adds 10 bytes to 200: refused whole.
        let error = growing.commit(db).await.unwrap_err();
        assert!(error.to_string().contains("storage writes were not committed"), "{error}");
        assert_eq!(get(db, "keyrace", "k").await.unwrap(), None);

        // After all of the above, each adapter's usage is the bytes it stores.
        for adapter in ["alpha", "beta", "stager", "racer", "keyrace"] {
            let stored: i64 =
                sqlx::query_scalar("SELECT CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM kv_entries WHERE adapter = $1")
                    .bind(adapter)
                    .fetch_one(db.pool())
                    .await
                    .unwrap();
            assert_eq!(usage(db, adapter).await.unwrap() as i64, stored, "{adapter}");
        }
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
        let Some(pg) = crate::store::testing::Postgres::create("kv").await else { return };
        exercise(&pg.db).await;
        pg.drop().await;
    }
}
