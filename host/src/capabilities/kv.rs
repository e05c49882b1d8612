//! `kv`: durable storage private to each adapter, in the host's database.
//!
//! Keys are namespaced by adapter id, so no adapter can name another's keys. Each adapter
//! has a byte quota (keys and values); a write that would exceed it changes nothing. The
//! queries live in [`crate::store::kv`].
//!
//! A call's writes are staged in its store ([`Staged`]) and commit together, as the
//! storage of a durable object does behind its output gate: before anything leaves the
//! sandbox (an outbound request, a message to a citizen) and, at the latest, with the
//! call's outcome, before its answer is used. A submit's writes commit in the transaction
//! that files the application, so the adapter's record of a case exists exactly when the
//! application does. A call stopped before its end (a trap, a timeout) loses the writes
//! it staged since it last reached outside; the call reads its own writes meanwhile.

use crate::runtime::CallState;
use crate::runtime::bindings::kv::{Host, KvError};
use crate::store::Db;
use crate::store::kv::{self as store, KvStoreError, Staged};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Most keys one `list-keys` returns.
pub const MAX_LIST: u32 = 1000;

/// Checks a key (or, with `allow_empty`, a prefix): 1..=256 bytes, no NUL.
fn check_key(key: &str, allow_empty: bool) -> Result<(), KvError> {
    if key.is_empty() && !allow_empty {
        return Err(KvError::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KvError::InvalidKey(format!(
            "the key is {} bytes; at most {MAX_KEY_BYTES} are allowed",
            key.len()
        )));
    }
    if key.contains('\0') {
        return Err(KvError::InvalidKey("the key contains a NUL character".into()));
    }
    Ok(())
}

impl CallState {
    /// The grant check, then the database and the quota.
    fn kv_access(&self) -> Result<(Db, u64), KvError> {
        let quota = self.caps.check_kv().map_err(|denied| KvError::NotGranted(denied.message))?;
        let db = self.caps.db.clone().ok_or_else(|| KvError::Other("storage is not available on this host".into()))?;
        Ok((db, quota))
    }

    /// Turns a storage failure into the adapter's error; database details stay in the log.
    fn kv_failed(&self, error: KvStoreError) -> KvError {
        match error {
            KvStoreError::Quota { quota, needed } => KvError::QuotaExceeded(format!(
                "the write needs {needed} bytes of the adapter's {quota}-byte quota; nothing was written"
            )),
            KvStoreError::Database(error) => {
                tracing::error!(
                    adapter = %self.caps.adapter, request_id = %self.request_id, %error, "key-value storage failed"
                );
                KvError::Other("storage failed; try again later".into())
            }
        }
    }

    /// Commits the writes staged so far, before something leaves the sandbox: what the
    /// adapter stored before a request or a message is durable when it goes out.
    pub(crate) async fn commit_staged(&mut self) -> Result<(), KvError> {
        let Some(db) = self.caps.db.clone().filter(|_| !self.kv.is_empty()) else { return Ok(()) };
        let committed = self.kv.commit(&db).await;
        committed.map_err(|e| self.kv_failed(e.into()))
    }

    /// The writes the call staged and did not commit yet, for its outcome to commit.
    pub(crate) fn take_staged(&mut self) -> Staged {
        std::mem::take(&mut self.kv)
    }
}

impl Host for CallState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let (db, _) = self.kv_access()?;
        check_key(&key, false)?;
        if let Some(own) = self.kv.get(&key) {
            return Ok(own.map(<[u8]>::to_vec));
        }
        store::get(&db, &self.caps.adapter, &key).await.map_err(|e| self.kv_failed(e))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        let (db, quota) = self.kv_access()?;
        check_key(&key, false)?;
        let staged = self.kv.set(&db, &self.caps.adapter, key, value, quota).await;
        staged.map_err(|e| self.kv_failed(e))
    }

    async fn delete(&mut self, key: String) -> Result<(), KvError> {
        let (db, quota) = self.kv_access()?;
        check_key(&key, false)?;
        let staged = self.kv.delete(&db, &self.caps.adapter, key, quota).await;
        staged.map_err(|e| self.kv_failed(e))
    }

    async fn list_keys(&mut self, prefix: String) -> Result<Vec<String>, KvError> {
        let (db, _) = self.kv_access()?;
        check_key(&prefix, true)?;
        self.kv.list_keys(&db, &self.caps.adapter, &prefix, MAX_LIST).await.map_err(|e| self.kv_failed(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a", false).is_ok());
        assert!(check_key(&"k".repeat(256), false).is_ok());
        assert!(matches!(check_key(&"k".repeat(257), false), Err(KvError::InvalidKey(_))));
        assert!(matches!(check_key("", false), Err(KvError::InvalidKey(_))));
        assert!(check_key("", true).is_ok());
        assert!(matches!(check_key("a\0b", false), Err(KvError::InvalidKey(_))));
        // 256 bytes, not characters: 129 two-byte letters are too many.
        assert!(matches!(check_key(&"ک".repeat(129), false), Err(KvError::InvalidKey(_))));
    }
}
