//! Adapter packages: components stored content-addressed, every uploaded version, the
//! desired state (active version, enabled) that replicas converge to, and which agency
//! each adapter id belongs to.

use sqlx::Row;

use super::{Db, now_ms};

/// One stored version of an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub adapter_id: String,
    pub version: String,
    pub digest: String,
    pub agency: String,
    pub manifest: String,
    pub signed_by: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

/// The desired state of one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredState {
    pub id: String,
    pub agency: String,
    pub active_version: String,
    pub previous_version: Option<String>,
    pub enabled: bool,
    pub updated_at: i64,
}

fn version_from(row: &sqlx::any::AnyRow) -> Result<StoredVersion, sqlx::Error> {
    Ok(StoredVersion {
        adapter_id: row.try_get("adapter_id")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        agency: row.try_get("agency")?,
        manifest: row.try_get("manifest")?,
        signed_by: row.try_get("signed_by")?,
        uploaded_by: row.try_get("uploaded_by")?,
        uploaded_at: row.try_get("uploaded_at")?,
    })
}

fn state_from(row: &sqlx::any::AnyRow) -> Result<DesiredState, sqlx::Error> {
    Ok(DesiredState {
        id: row.try_get("id")?,
        agency: row.try_get("agency")?,
        active_version: row.try_get("active_version")?,
        previous_version: row.try_get("previous_version")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Entries of an adapter's activation history kept.
const MAX_HISTORY: i64 = 100;

const VERSION_COLUMNS: &str = "adapter_id, version, digest, agency, manifest, signed_by, uploaded_by, uploaded_at";
const STATE_COLUMNS: &str = "id, agency, active_version, previous_version, enabled, updated_at";

impl Db {
    /// Stores a component (idempotent: the digest is its identity).
    pub async fn put_component(&self, digest: &str, wasm: &[u8]) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO components (digest, wasm, size, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(wasm)
        .bind(wasm.len() as i64)
        .bind(now_ms())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A stored component's bytes.
    pub async fn component(&self, digest: &str) -> sqlx::Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT wasm FROM components WHERE digest = $1")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get("wasm")).transpose()
    }

    /// Records a new version; fails if `(adapter_id, version)` already exists.
    pub async fn insert_version(&self, v: &StoredVersion) -> sqlx::Result<()> {
        sqlx::query(&format!(
            "INSERT INTO adapter_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&v.adapter_id)
        .bind(&v.version)
        .bind(&v.digest)
        .bind(&v.agency)
        .bind(&v.manifest)
        .bind(&v.signed_by)
        .bind(&v.uploaded_by)
        .bind(v.uploaded_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Replaces a version's component (only for packages from the local plugins folder,
    /// which a developer rebuilds in place).
    pub async fn replace_local_version(&self, v: &StoredVersion) -> sqlx::Result<()> {
        sqlx::query("UPDATE adapter_versions SET digest = $1, manifest = $2, uploaded_at = $3, signed_by = $6 WHERE adapter_id = $4 AND version = $5")
            .bind(&v.digest)
            .bind(&v.manifest)
            .bind(v.uploaded_at)
            .bind(&v.adapter_id)
            .bind(&v.version)
            .bind(&v.signed_by)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Records who signed a stored version (the same package installed again, signed).
    pub async fn set_signed_by(&self, adapter_id: &str, version: &str, signed_by: Option<&str>) -> sqlx::Result<()> {
        sqlx::query("UPDATE adapter_versions SET signed_by = $1 WHERE adapter_id = $2 AND version = $3")
            .bind(signed_by)
            .bind(adapter_id)
            .bind(version)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// One version.
    pub async fn version(&self, adapter_id: &str, version: &str) -> sqlx::Result<Option<StoredVersion>> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM adapter_versions WHERE adapter_id = $1 AND version = $2"
        ))
        .bind(adapter_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version_from).transpose()
    }

    /// Every version of an adapter, oldest first.
    pub async fn versions(&self, adapter_id: &str) -> sqlx::Result<Vec<StoredVersion>> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM adapter_versions WHERE adapter_id = $1 ORDER BY uploaded_at"
        ))
        .bind(adapter_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from).collect()
    }

    /// The desired state of every adapter.
    pub async fn desired_states(&self) -> sqlx::Result<Vec<DesiredState>> {
        let rows =
            sqlx::query(&format!("SELECT {STATE_COLUMNS} FROM adapters ORDER BY id")).fetch_all(self.pool()).await?;
        rows.iter().map(state_from).collect()
    }

    /// The desired state of one adapter.
    pub async fn desired_state(&self, id: &str) -> sqlx::Result<Option<DesiredState>> {
        let row = sqlx::query(&format!("SELECT {STATE_COLUMNS} FROM adapters WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(state_from).transpose()
    }

    /// Makes `version` the active one, enabled, and adds it to the adapter's activation
    /// history (unless it is active already); `previous_version` becomes what a rollback
    /// would return to.
    pub async fn activate_version(&self, id: &str, agency: &str, version: &str) -> sqlx::Result<()> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        // The upsert also takes the adapter's row lock (PostgreSQL) for the history below.
        sqlx::query(
            "INSERT INTO adapters (id, agency, active_version, previous_version, enabled, updated_at) VALUES ($1, $2, $3, NULL, 1, $4) \
             ON CONFLICT (id) DO UPDATE SET \
               active_version = excluded.active_version, agency = excluded.agency, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(agency)
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let history = history_in(&mut tx, id).await?;
        if history.last().is_none_or(|(_, v)| v != version) {
            let seq = history.last().map_or(1, |(seq, _)| seq + 1);
            sqlx::query("INSERT INTO adapter_activations (adapter_id, seq, version, at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(seq)
                .bind(version)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // A bounded history: the oldest entries go.
            sqlx::query("DELETE FROM adapter_activations WHERE adapter_id = $1 AND seq <= $2")
                .bind(id)
                .bind(seq - MAX_HISTORY)
                .execute(&mut *tx)
                .await?;
        }
        set_previous(&mut tx, id).await?;
        tx.commit().await
    }

    /// The versions an adapter was switched to, oldest first; the last is the active one.
    pub async fn activation_history(&self, id: &str) -> sqlx::Result<Vec<String>> {
        let rows = sqlx::query("SELECT version FROM adapter_activations WHERE adapter_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get("version")).collect()
    }

    /// Steps back one version in the activation history: from `active` (which must still be
    /// active) to `target` (which must still be the version before it). Answers false, and
    /// changes nothing, when another change came first.
    pub async fn roll_back(&self, id: &str, active: &str, target: &str) -> sqlx::Result<bool> {
        let mut tx = self.begin_write().await?;
        let locked = sqlx::query("UPDATE adapters SET updated_at = $1 WHERE id = $2 AND active_version = $3")
            .bind(now_ms())
            .bind(id)
            .bind(active)
            .execute(&mut *tx)
            .await?;
        if locked.rows_affected() == 0 {
            return Ok(false);
        }
        let history = history_in(&mut tx, id).await?;
        let versions: Vec<&str> = history.iter().map(|(_, v)| v.as_str()).collect();
        let Some(index) = rollback_index(&versions).filter(|&i| versions[i] == target) else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM adapter_activations WHERE adapter_id = $1 AND seq > $2")
            .bind(id)
            .bind(history[index].0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE adapters SET active_version = $1 WHERE id = $2")
            .bind(target)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        set_previous(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes one stored version that is not the active one (its component stays: it is
    /// shared by digest), and its entries in the activation history. Answers whether there
    /// was such a version; the caller checks that it is not active.
    pub async fn remove_version(&self, id: &str, version: &str) -> sqlx::Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM adapter_versions WHERE adapter_id = $1 AND version = $2 \
             AND NOT EXISTS (SELECT 1 FROM adapters WHERE id = $1 AND active_version = $2)",
        )
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM adapter_activations WHERE adapter_id = $1 AND version = $2")
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        set_previous(&mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Enables or disables an adapter; false when there is no such adapter.
    pub async fn set_enabled(&self, id: &str, enabled: bool) -> sqlx::Result<bool> {
        let done = sqlx::query("UPDATE adapters SET enabled = $1, updated_at = $2 WHERE id = $3")
            .bind(enabled as i64)
            .bind(now_ms())
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The agency an adapter id is bound to, if it was ever installed.
    pub async fn adapter_owner(&self, adapter_id: &str) -> sqlx::Result<Option<String>> {
        let row = sqlx::query("SELECT agency FROM adapter_owners WHERE adapter_id = $1")
            .bind(adapter_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get("agency")).transpose()
    }

    /// Binds an adapter id to `agency` unless it is bound already; answers the agency it
    /// is bound to now (another agency's when the id was taken, even by a racing install).
    pub async fn bind_adapter_owner(&self, adapter_id: &str, agency: &str) -> sqlx::Result<String> {
        let row = sqlx::query(
            "INSERT INTO adapter_owners (adapter_id, agency, bound_at) VALUES ($1, $2, $3) \
             ON CONFLICT (adapter_id) DO UPDATE SET agency = adapter_owners.agency RETURNING agency",
        )
        .bind(adapter_id)
        .bind(agency)
        .bind(now_ms())
        .fetch_one(self.writer())
        .await?;
        row.try_get("agency")
    }

    /// Removes an adapter and its versions (components stay: they are shared by digest).
    /// Its kv data stays, so that a reinstall finds it, unless `purge` erases it. The binding
    /// of its id to its agency always stays: no other agency can ever take the id (and
    /// with it the operator's grants and secrets for the id). Nothing is found when there
    /// is no such adapter and, for a purge, the id was never installed.
    pub async fn remove_adapter(&self, id: &str, purge: bool) -> sqlx::Result<Removed> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM adapters WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM adapter_versions WHERE adapter_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM adapter_activations WHERE adapter_id = $1").bind(id).execute(&mut *tx).await?;
        let mut removed = Removed { found: done.rows_affected() > 0, kv_keys_erased: 0 };
        if purge {
            let keys = sqlx::query("DELETE FROM kv_entries WHERE adapter = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM kv_usage WHERE adapter = $1").bind(id).execute(&mut *tx).await?;
            let bound = sqlx::query("SELECT agency FROM adapter_owners WHERE adapter_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            removed.kv_keys_erased = keys.rows_affected();
            removed.found |= keys.rows_affected() > 0 || bound.is_some();
        }
        tx.commit().await?;
        Ok(removed)
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The activation history inside a transaction: (seq, version), oldest first.
async fn history_in(tx: &mut Tx, id: &str) -> sqlx::Result<Vec<(i64, String)>> {
    let rows = sqlx::query("SELECT seq, version FROM adapter_activations WHERE adapter_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("seq")?, r.try_get("version")?))).collect()
}

/// Keeps `adapters.previous_version` equal to the version a rollback would return to.
async fn set_previous(tx: &mut Tx, id: &str) -> sqlx::Result<()> {
    let history = history_in(tx, id).await?;
    let versions: Vec<&str> = history.iter().map(|(_, v)| v.as_str()).collect();
    let previous = rollback_index(&versions).map(|i| versions[i]);
    sqlx::query("UPDATE adapters SET previous_version = $1 WHERE id = $2")
        .bind(previous)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where a rollback goes in an activation history whose last entry is the active version:
/// the newest earlier entry of another version.
pub fn rollback_index(history: &[&str]) -> Option<usize> {
    let (active, earlier) = history.split_last()?;
    earlier.iter().rposition(|v| v != active)
}

/// What [`Db::remove_adapter`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// There was something to remove.
    pub found: bool,
    /// Keys of the adapter's kv storage erased by a purge.
    pub kv_keys_erased: u64,
}

#[cfg(test)]
mod tests {
    use super::rollback_index;

    #[test]
    fn a_rollback_steps_back_through_history_not_back_and_forth() {
        assert_eq!(rollback_index(&[]), None);
        assert_eq!(rollback_index(&["1"]), None);
        assert_eq!(rollback_index(&["1", "2"]), Some(0));
        assert_eq!(rollback_index(&["1", "2", "3"]), Some(1));
        // After a removal left the same version twice in a row, it is skipped.
        assert_eq!(rollback_index(&["1", "2", "2"]), Some(0));
        assert_eq!(rollback_index(&["2", "2"]), None);
    }
}
