//! Verified sessions kept in memory for a short time, so that a signed-in request does not
//! go to the database to find its session.
//!
//! An entry is the session row and its citizen as the database had them, keyed by the
//! token's hash, believed for at most [`SessionCache::ttl`] and never past the session's own
//! expiry. Whatever changes a session on this replica (sign-out, acting for someone, its
//! end) forgets it here at once; another replica believes its copy for at most the TTL,
//! so a revoked session stops working everywhere within that bound
//! (`[auth] session-cache-ms`, 2000 by default; 0 turns the cache off).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::citizens::CitizenRow;
use crate::store::sessions::SessionRow;

/// Entries kept at most; a full cache forgets everything it holds (a rare, cheap reset).
const CAPACITY: usize = 16_384;

/// The cache of one replica.
#[derive(Debug)]
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    at: Instant,
    session: SessionRow,
    citizen: CitizenRow,
}

impl SessionCache {
    /// A cache believing entries for `ttl`; a zero `ttl` keeps nothing.
    pub fn new(ttl: Duration) -> SessionCache {
        SessionCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// How long an entry is believed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The session with this token hash, if one was found less than the TTL ago and has
    /// not expired by `now_ms`.
    pub fn get(&self, token_hash: &str, now_ms: i64) -> Option<(SessionRow, CitizenRow)> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(token_hash) {
            Some(e) if e.at.elapsed() < self.ttl && e.session.expires_ms > now_ms => {
                Some((e.session.clone(), e.citizen.clone()))
            }
            Some(_) => {
                entries.remove(token_hash);
                None
            }
            None => None,
        }
    }

    /// Keeps a session the database just returned.
    pub fn put(&self, token_hash: &str, session: &SessionRow, citizen: &CitizenRow) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        let entry = Entry { at: Instant::now(), session: session.clone(), citizen: citizen.clone() };
        entries.insert(token_hash.to_owned(), entry);
    }

    /// Forgets a session that changed (signed out, started or stopped acting for someone).
    pub fn forget(&self, session_id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, e| e.session.id != session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(id: &str, expires_ms: i64) -> (SessionRow, CitizenRow) {
        let session = SessionRow {
            id: id.into(),
            citizen_id: "c".into(),
            assurance: "substantial".into(),
            source: "otp".into(),
            created_ms: 0,
            expires_ms,
            acting_for: None,
            acting_until_ms: None,
            acting_scope: None,
        };
        let citizen =
            CitizenRow { id: "c".into(), national_id: "0499370899".into(), mobile: String::new(), created_ms: 0 };
        (session, citizen)
    }

    #[test]
    fn an_entry_is_believed_for_the_ttl_only_and_never_past_its_expiry() {
        let cache = SessionCache::new(Duration::from_millis(50));
        let (session, citizen) = rows("s1", 1_000);
        cache.put("h1", &session, &citizen);
        assert!(cache.get("h1", 999).is_some());
        assert!(cache.get("h1", 1_000).is_none(), "expired sessions are not served");
        cache.put("h1", &session, &citizen);
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("h1", 0).is_none(), "past the TTL the database is asked again");
    }

    #[test]
    fn a_changed_session_is_forgotten_and_a_zero_ttl_keeps_nothing() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (session, citizen) = rows("s1", i64::MAX);
        cache.put("h1", &session, &citizen);
        cache.forget("s1");
        assert!(cache.get("h1", 0).is_none());
        let off = SessionCache::new(Duration::ZERO);
        off.put("h1", &session, &citizen);
        assert!(off.get("h1", 0).is_none());
    }
}
