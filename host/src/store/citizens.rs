//! Citizens: one row per person who ever signed in, keyed by a random pseudonymous
//! subject. The national ID is an attribute, never the key, so nothing downstream (sessions,
//! applications, the data-usage log) repeats it.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::{Db, now_ms, random_id};

/// A stored citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRow {
    /// The pseudonymous subject (random, 128 bits).
    pub id: String,
    pub national_id: String,
    /// The last mobile number the citizen proved to hold.
    pub mobile: String,
    pub created_ms: i64,
}

pub(crate) fn from_row(row: &AnyRow) -> sqlx::Result<CitizenRow> {
    Ok(CitizenRow {
        id: row.try_get("id")?,
        national_id: row.try_get("national_id")?,
        mobile: row.try_get("mobile")?,
        created_ms: row.try_get("created_ms")?,
    })
}

/// The citizen with this national ID, created on first sign-in; the mobile is updated to
/// the one just verified.
pub async fn upsert(db: &Db, national_id: &str, mobile: &str) -> sqlx::Result<CitizenRow> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO citizens (id, national_id, mobile, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (national_id) DO UPDATE SET mobile = excluded.mobile, updated_ms = excluded.updated_ms
         RETURNING id, national_id, mobile, created_ms",
    )
    .bind(random_id())
    .bind(national_id)
    .bind(mobile)
    .bind(now)
    .fetch_one(db.writer())
    .await?;
    from_row(&row)
}

/// The citizen with this national ID, created with `mobile` on first sign-in; a citizen
/// already known keeps the mobile stored for them. For a sign-in whose mobile nobody
/// vouched for (`otp = "development"`).
pub async fn upsert_keeping_known_mobile(db: &Db, national_id: &str, mobile: &str) -> sqlx::Result<CitizenRow> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO citizens (id, national_id, mobile, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4)
         ON CONFLICT (national_id) DO UPDATE SET updated_ms = excluded.updated_ms
         RETURNING id, national_id, mobile, created_ms",
    )
    .bind(random_id())
    .bind(national_id)
    .bind(mobile)
    .bind(now)
    .fetch_one(db.writer())
    .await?;
    from_row(&row)
}

/// The citizen with this national ID, created on first sign-in, for an identity source
/// that may not vouch for a mobile: the stored mobile is replaced only when one is given
/// (a citizen first seen without one has an empty mobile).
pub async fn upsert_keeping_mobile(db: &Db, national_id: &str, mobile: Option<&str>) -> sqlx::Result<CitizenRow> {
    match mobile {
        Some(mobile) => upsert(db, national_id, mobile).await,
        None => upsert_keeping_known_mobile(db, national_id, "").await,
    }
}

/// The row of a subject someone acts for: a minor (by national ID) or a legal entity (by
/// national legal ID), created the first time anyone acts for it. A minor known already
/// keeps the mobile they proved.
pub async fn subject(db: &Db, id_number: &str, kind: &str) -> sqlx::Result<CitizenRow> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO citizens (id, national_id, mobile, created_ms, updated_ms, kind) VALUES ($1, $2, '', $3, $3, $4)
         ON CONFLICT (national_id) DO UPDATE SET updated_ms = excluded.updated_ms
         RETURNING id, national_id, mobile, created_ms",
    )
    .bind(random_id())
    .bind(id_number)
    .bind(now)
    .bind(kind)
    .fetch_one(db.writer())
    .await?;
    from_row(&row)
}

/// The citizen with this subject.
pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<CitizenRow>> {
    let row = sqlx::query("SELECT id, national_id, mobile, created_ms FROM citizens WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// How a citizen wants to hear from the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub email: Option<String>,
    /// `sms`, `email`: channels besides the inbox, which is always on.
    pub channels: Vec<String>,
    /// `fa` or `en`.
    pub language: String,
}

/// A citizen's preferences (defaults for one never set: SMS, Persian).
pub async fn preferences(db: &Db, id: &str) -> sqlx::Result<Preferences> {
    let row = sqlx::query("SELECT email, channels, language FROM citizens WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(row) => Preferences {
            email: row.try_get("email")?,
            channels: row
                .try_get::<String, _>("channels")?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            language: row.try_get("language")?,
        },
        None => Preferences { email: None, channels: vec!["sms".into()], language: "fa".into() },
    })
}

/// Stores a citizen's preferences.
pub async fn set_preferences(db: &Db, id: &str, p: &Preferences) -> sqlx::Result<()> {
    sqlx::query("UPDATE citizens SET email = $2, channels = $3, language = $4 WHERE id = $1")
        .bind(id)
        .bind(&p.email)
        .bind(p.channels.join(","))
        .bind(&p.language)
        .execute(db.writer())
        .await?;
    Ok(())
}
