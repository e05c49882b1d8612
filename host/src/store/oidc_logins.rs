//! Sign-ins in progress with the OpenID Connect provider: one row from `/auth/login` to
//! `/auth/callback`, taken (deleted) by the callback so that a state works once.

use sqlx::Row as _;

use super::Db;

/// A sign-in waiting for the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// SHA-256 of the value in the browser's sign-in cookie.
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to send the citizen afterwards (a same-site path).
    pub return_to: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// Records a started sign-in, dropping those that expired; `false` (nothing recorded)
/// when `max_pending` sign-ins are waiting already. Expired rows go on every call and a
/// row is taken by its callback, so the table holds at most about `max_pending` rows
/// whatever clients do.
pub async fn create(db: &Db, login: &PendingLogin, max_pending: u32) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oidc_logins WHERE expires_ms < $1").bind(login.created_ms).execute(db.writer()).await?;
    // One statement: the count and the insert see the same table. (On PostgreSQL two
    // replicas inserting at the same moment may both pass: the cap holds to within the
    // number of concurrent inserts.)
    let inserted = sqlx::query(
        "INSERT INTO oidc_logins (state_hash, browser_hash, nonce, pkce_verifier, return_to, created_ms, expires_ms)
         SELECT $1, $2, $3, $4, $5, $6, $7 WHERE (SELECT COUNT(*) FROM oidc_logins) < $8",
    )
    .bind(&login.state_hash)
    .bind(&login.browser_hash)
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.return_to)
    .bind(login.created_ms)
    .bind(login.expires_ms)
    .bind(i64::from(max_pending))
    .execute(db.writer())
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Sign-ins waiting for the provider's answer, expired ones included until the next
/// [`create`] drops them.
pub async fn pending(db: &Db) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM oidc_logins").fetch_one(db.pool()).await
}

/// Removes and returns the sign-in with this state, if there is one; a second call with
/// the same state finds nothing.
pub async fn take(db: &Db, state_hash: &str) -> sqlx::Result<Option<PendingLogin>> {
    let row = sqlx::query(
        "DELETE FROM oidc_logins WHERE state_hash = $1
         RETURNING state_hash, browser_hash, nonce, pkce_verifier, return_to, created_ms, expires_ms",
    )
    .bind(state_hash)
    .fetch_optional(db.writer())
    .await?;
    row.map(|row| {
        Ok(PendingLogin {
            state_hash: row.try_get("state_hash")?,
            browser_hash: row.try_get("browser_hash")?,
            nonce: row.try_get("nonce")?,
            pkce_verifier: row.try_get("pkce_verifier")?,
            return_to: row.try_get("return_to")?,
            created_ms: row.try_get("created_ms")?,
            expires_ms: row.try_get("expires_ms")?,
        })
    })
    .transpose()
}
