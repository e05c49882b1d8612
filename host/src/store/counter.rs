//! Counter-office clerks (`counter_clerks`).

use sqlx::Row as _;

use super::Db;

/// A registered clerk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clerk {
    pub national_id: String,
    pub office_id: String,
    pub office_name: String,
}

/// Registers (or moves) a clerk.
pub async fn register(db: &Db, clerk: &Clerk, by: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO counter_clerks (national_id, office_id, office_name, created_by, created_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (national_id) DO UPDATE SET office_id = excluded.office_id, office_name = excluded.office_name,
             created_by = excluded.created_by, created_ms = excluded.created_ms",
    )
    .bind(&clerk.national_id)
    .bind(&clerk.office_id)
    .bind(&clerk.office_name)
    .bind(by)
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Removes a clerk; `false` if there was none.
pub async fn remove(db: &Db, national_id: &str) -> sqlx::Result<bool> {
    let done =
        sqlx::query("DELETE FROM counter_clerks WHERE national_id = $1").bind(national_id).execute(db.writer()).await?;
    Ok(done.rows_affected() == 1)
}

/// The clerk with this national ID, if registered.
pub async fn clerk(db: &Db, national_id: &str) -> sqlx::Result<Option<Clerk>> {
    let row = sqlx::query("SELECT national_id, office_id, office_name FROM counter_clerks WHERE national_id = $1")
        .bind(national_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(Clerk {
            national_id: r.try_get("national_id")?,
            office_id: r.try_get("office_id")?,
            office_name: r.try_get("office_name")?,
        })
    })
    .transpose()
}
