//! Fixed-window counters behind the sign-in limits, shared by every replica on one
//! database.
//!
//! A hit is one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING`: the row lock of the
//! upsert (PostgreSQL) or the single writer (SQLite) orders concurrent hits, so N requests
//! racing for the last slot of a window get exactly one "yes" between them, whichever
//! replica they reach. Keys are hashed: the table never holds a national ID, a mobile
//! number or an address.

use sha2::{Digest, Sha256};
use sqlx::Row as _;

use super::Db;

/// What is counted.
#[derive(Debug, Clone, Copy)]
pub enum Counter<'a> {
    /// Sign-in requests (`/auth/otp/*`, the portal's sign-in forms) from one client bucket.
    Client(std::net::IpAddr),
    /// Codes sent for one (national ID, mobile) pair the registry confirmed.
    Pair { national_id: &'a str, mobile: &'a str },
    /// Codes sent to one mobile, whoever asked (no one floods a phone).
    Mobile(&'a str),
}

impl Counter<'_> {
    fn key(&self) -> String {
        let text = match self {
            Counter::Client(ip) => format!("client:{ip}"),
            Counter::Pair { national_id, mobile } => format!("pair:{national_id}:{mobile}"),
            Counter::Mobile(mobile) => format!("mobile:{mobile}"),
        };
        hex::encode(Sha256::digest(text))
    }
}

/// A counted hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Hits in the current window, this one included.
    pub count: i64,
    /// When the current window ends.
    pub window_end_ms: i64,
}

/// Counts a hit on `counter` in its current window: `window_ms` from the window's first
/// hit; a hit after that opens a new window.
pub async fn hit(db: &Db, counter: Counter<'_>, window_ms: i64, now_ms: i64) -> sqlx::Result<Hit> {
    let row = sqlx::query(
        "INSERT INTO sign_in_counters (key, window_start_ms, hits) VALUES ($1, $2, 1)
         ON CONFLICT (key) DO UPDATE SET
             hits = CASE WHEN sign_in_counters.window_start_ms <= $3 THEN 1 ELSE sign_in_counters.hits + 1 END,
             window_start_ms = CASE WHEN sign_in_counters.window_start_ms <= $3 THEN $2
                                    ELSE sign_in_counters.window_start_ms END
         RETURNING hits, window_start_ms",
    )
    .bind(counter.key())
    .bind(now_ms)
    .bind(now_ms - window_ms)
    .fetch_one(db.writer())
    .await?;
    let start: i64 = row.try_get("window_start_ms")?;
    Ok(Hit { count: row.try_get("hits")?, window_end_ms: start + window_ms })
}

/// Forgets counters whose window ended before `before_ms`.
pub async fn sweep(db: &Db, before_ms: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("DELETE FROM sign_in_counters WHERE window_start_ms < $1")
        .bind(before_ms)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}
