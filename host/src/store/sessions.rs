//! Sessions: whichever identity source signed the citizen in (the built-in OTP provider
//! or an OpenID Connect provider), the result is one row here. The bearer token is
//! stored only as its SHA-256, so a copy of the database signs nobody in.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::citizens::{self, CitizenRow};
use super::{Db, random_id};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id: String,
    pub citizen_id: String,
    /// Wire name of the assurance level (`substantial`, ...).
    pub assurance: String,
    /// `otp` or `oidc`.
    pub source: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// The subject the session acts for (a citizens row), and on what basis.
    pub acting_for: Option<(String, String)>,
    /// When acting for the subject ends by itself (a counter consent).
    pub acting_until_ms: Option<i64>,
    /// What the session may use for the subject, when the right itself says so (the
    /// services a citizen at a counter consented to); `None`: whatever the basis allows.
    pub acting_scope: Option<Vec<String>>,
}

/// Whom a session acts for, from now on.
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    /// The subject's citizens row.
    pub subject: &'a str,
    /// The wire name of the basis.
    pub basis: &'a str,
    /// When it ends by itself, if it does.
    pub until_ms: Option<i64>,
    /// The services it is limited to, if the right itself limits them.
    pub scope: Option<&'a [String]>,
}

/// What a new session needs.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub citizen_id: &'a str,
    pub assurance: &'a str,
    pub source: &'a str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

fn from_row(row: &AnyRow) -> sqlx::Result<SessionRow> {
    Ok(SessionRow {
        id: row.try_get("session_id")?,
        citizen_id: row.try_get("citizen_id")?,
        assurance: row.try_get("assurance")?,
        source: row.try_get("source")?,
        created_ms: row.try_get("session_created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        acting_for: match (row.try_get::<Option<String>, _>("acting_for")?, row.try_get("acting_basis")?) {
            (Some(subject), Some(basis)) => Some((subject, basis)),
            _ => None,
        },
        acting_until_ms: row.try_get("acting_until_ms")?,
        acting_scope: super::json_list(row, "acting_scope")?,
    })
}

/// Stores a session.
pub async fn create(db: &Db, new: &NewSession<'_>) -> sqlx::Result<SessionRow> {
    let id = random_id();
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, citizen_id, assurance, source, created_ms, expires_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(new.token_hash)
    .bind(new.citizen_id)
    .bind(new.assurance)
    .bind(new.source)
    .bind(new.created_ms)
    .bind(new.expires_ms)
    .execute(db.writer())
    .await?;
    Ok(SessionRow {
        id,
        citizen_id: new.citizen_id.to_owned(),
        assurance: new.assurance.to_owned(),
        source: new.source.to_owned(),
        created_ms: new.created_ms,
        expires_ms: new.expires_ms,
        acting_for: None,
        acting_until_ms: None,
        acting_scope: None,
    })
}

/// The live (unexpired, unrevoked) session with this token hash, and its citizen.
pub async fn find_active(db: &Db, token_hash: &str, now_ms: i64) -> sqlx::Result<Option<(SessionRow, CitizenRow)>> {
    let row = sqlx::query(
        "SELECT s.id AS session_id, s.citizen_id, s.assurance, s.source, s.created_ms AS session_created_ms,
                s.expires_ms, s.acting_for, s.acting_basis, s.acting_until_ms, s.acting_scope, c.id, c.national_id, c.mobile, c.created_ms
         FROM sessions s JOIN citizens c ON c.id = s.citizen_id
         WHERE s.token_hash = $1 AND s.revoked_ms IS NULL AND s.expires_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    row.map(|row| Ok((from_row(&row)?, citizens::from_row(&row)?))).transpose()
}

/// Makes the session act for someone (`Some`), or for its own citizen again (`None`).
pub async fn set_acting(db: &Db, id: &str, acting: Option<Acting<'_>>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sessions SET acting_for = $2, acting_basis = $3, acting_until_ms = $4, acting_scope = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(acting.map(|a| a.subject))
    .bind(acting.map(|a| a.basis))
    .bind(acting.and_then(|a| a.until_ms))
    .bind(acting.and_then(|a| super::json_list_text(a.scope)))
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Revokes a session; `false` if it was already revoked.
pub async fn revoke(db: &Db, id: &str, now_ms: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL")
        .bind(id)
        .bind(now_ms)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}
