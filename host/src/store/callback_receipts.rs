//! Agency callbacks already accepted, so that a captured callback cannot be delivered again
//! while its timestamp is still fresh.

use super::{Db, is_unique_violation};

/// Records a callback's signature; `false` when it was recorded before (a replay). Drops
/// receipts whose window has passed.
pub async fn record(db: &Db, signature_hash: &str, agency: &str, now_ms: i64, expires_ms: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM callback_receipts WHERE expires_ms < $1").bind(now_ms).execute(db.writer()).await?;
    let inserted =
        sqlx::query("INSERT INTO callback_receipts (signature_hash, agency, expires_ms) VALUES ($1, $2, $3)")
            .bind(signature_hash)
            .bind(agency)
            .bind(expires_ms)
            .execute(db.writer())
            .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Forgets a receipt: the callback failed and the agency may deliver it again.
pub async fn forget(db: &Db, signature_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM callback_receipts WHERE signature_hash = $1")
        .bind(signature_hash)
        .execute(db.writer())
        .await?;
    Ok(())
}
