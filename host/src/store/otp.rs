//! One-time-code challenges of the built-in identity provider.
//!
//! A challenge is only ever changed by conditional `UPDATE`s (`... WHERE consumed_ms IS
//! NULL AND attempts < max`), so two concurrent verifications cannot both use one code,
//! and a wrong guess is always counted.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Db;

/// A stored challenge. The code itself is never stored, only its salted hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: String,
    pub national_id: String,
    pub mobile: String,
    pub code_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// Wrong codes tried so far.
    pub attempts: i64,
    /// No guess is accepted before this time (back-off after a wrong code).
    pub next_attempt_ms: i64,
    /// When the code was used (or `None` while it is still open).
    pub consumed_ms: Option<i64>,
    /// Whether the mobile-ownership registry confirmed the pair before the code was sent.
    pub ownership_checked: bool,
    /// What the code is for (`sign-in`, or `counter:<the clerk's session id>`); a code
    /// answers only its own purpose.
    pub purpose: String,
    /// The services a consent allows (`agency/service` names); `None` for a sign-in.
    pub services: Option<Vec<String>>,
}

const COLUMNS: &str = "id, national_id, mobile, code_hash, created_ms, expires_ms, attempts, next_attempt_ms, \
                       consumed_ms, ownership_checked, purpose, services";

fn from_row(row: &AnyRow) -> sqlx::Result<Challenge> {
    Ok(Challenge {
        id: row.try_get("id")?,
        national_id: row.try_get("national_id")?,
        mobile: row.try_get("mobile")?,
        code_hash: row.try_get("code_hash")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        attempts: row.try_get("attempts")?,
        next_attempt_ms: row.try_get("next_attempt_ms")?,
        consumed_ms: row.try_get("consumed_ms")?,
        ownership_checked: row.try_get::<i64, _>("ownership_checked")? != 0,
        purpose: row.try_get("purpose")?,
        services: super::json_list(row, "services")?,
    })
}

/// Stores a new challenge.
pub async fn create(db: &Db, challenge: &Challenge) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO otp_challenges ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&challenge.id)
    .bind(&challenge.national_id)
    .bind(&challenge.mobile)
    .bind(&challenge.code_hash)
    .bind(challenge.created_ms)
    .bind(challenge.expires_ms)
    .bind(challenge.attempts)
    .bind(challenge.next_attempt_ms)
    .bind(challenge.consumed_ms)
    .bind(i64::from(challenge.ownership_checked))
    .bind(&challenge.purpose)
    .bind(super::json_list_text(challenge.services.as_deref()))
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The newest challenge for a national ID and purpose: the only one that can still be
/// answered for it.
pub async fn latest(db: &Db, national_id: &str, purpose: &str) -> sqlx::Result<Option<Challenge>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM otp_challenges WHERE national_id = $1 AND purpose = $2 ORDER BY seq DESC LIMIT 1"
    ))
    .bind(national_id)
    .bind(purpose)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Counts a wrong code; returns the attempts now used, or `None` when the challenge was
/// already used or dead.
pub async fn record_failure(db: &Db, id: &str, next_attempt_ms: i64, max_attempts: i64) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query(
        "UPDATE otp_challenges SET attempts = attempts + 1, next_attempt_ms = $2
         WHERE id = $1 AND consumed_ms IS NULL AND attempts < $3 RETURNING attempts",
    )
    .bind(id)
    .bind(next_attempt_ms)
    .bind(max_attempts)
    .fetch_optional(db.writer())
    .await?;
    row.map(|r| r.try_get("attempts")).transpose()
}

/// Marks the challenge used if it is still open, unexpired and not locked; `false` when
/// another request got there first.
pub async fn consume(db: &Db, id: &str, now_ms: i64, max_attempts: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE otp_challenges SET consumed_ms = $2
         WHERE id = $1 AND consumed_ms IS NULL AND attempts < $3 AND expires_ms > $2",
    )
    .bind(id)
    .bind(now_ms)
    .bind(max_attempts)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a challenge's expiry (for tests and operators' tooling).
pub async fn set_expiry(db: &Db, id: &str, expires_ms: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE otp_challenges SET expires_ms = $2 WHERE id = $1")
        .bind(id)
        .bind(expires_ms)
        .execute(db.writer())
        .await?;
    Ok(())
}
