//! The citizen's inbox (`messages`).

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Db;

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub citizen_id: String,
    /// `application-status` or `payment-receipt`.
    pub kind: String,
    pub title_fa: String,
    pub title_en: String,
    pub body_fa: String,
    pub body_en: String,
    /// A page of the portal the message is about.
    pub link: Option<String>,
    pub created_ms: i64,
    pub read_ms: Option<i64>,
    /// `none`, `queued`, `sent`, `delivered`, `failed-temporarily`, `failed-permanently`.
    pub sms_state: String,
    pub sms_id: Option<String>,
    pub sms_segments: i64,
    /// `none`, `queued`, `sent`, `failed-temporarily`, `failed-permanently`.
    pub email_state: String,
}

const COLUMNS: &str = "id, citizen_id, kind, title_fa, title_en, body_fa, body_en, link, created_ms, read_ms, \
                       sms_state, sms_id, sms_segments, email_state";

fn from_row(row: &AnyRow) -> sqlx::Result<Message> {
    Ok(Message {
        id: row.try_get("id")?,
        citizen_id: row.try_get("citizen_id")?,
        kind: row.try_get("kind")?,
        title_fa: row.try_get("title_fa")?,
        title_en: row.try_get("title_en")?,
        body_fa: row.try_get("body_fa")?,
        body_en: row.try_get("body_en")?,
        link: row.try_get("link")?,
        created_ms: row.try_get("created_ms")?,
        read_ms: row.try_get("read_ms")?,
        sms_state: row.try_get("sms_state")?,
        sms_id: row.try_get("sms_id")?,
        sms_segments: row.try_get("sms_segments")?,
        email_state: row.try_get("email_state")?,
    })
}

pub async fn insert(db: &Db, m: &Message) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "INSERT INTO messages ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    ))
    .bind(&m.id)
    .bind(&m.citizen_id)
    .bind(&m.kind)
    .bind(&m.title_fa)
    .bind(&m.title_en)
    .bind(&m.body_fa)
    .bind(&m.body_en)
    .bind(&m.link)
    .bind(m.created_ms)
    .bind(m.read_ms)
    .bind(&m.sms_state)
    .bind(&m.sms_id)
    .bind(m.sms_segments)
    .bind(&m.email_state)
    .execute(db.writer())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Message>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A citizen's messages, newest first.
pub async fn of_citizen(db: &Db, citizen_id: &str, limit: i64) -> sqlx::Result<Vec<Message>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM messages WHERE citizen_id = $1 ORDER BY created_ms DESC, id LIMIT $2"
    ))
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Marks one of the citizen's messages read; `false` when it is not theirs.
pub async fn mark_read(db: &Db, citizen_id: &str, id: &str, now_ms: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE messages SET read_ms = COALESCE(read_ms, $3) WHERE id = $1 AND citizen_id = $2")
        .bind(id)
        .bind(citizen_id)
        .bind(now_ms)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records how the message's e-mail fared.
pub async fn set_email(db: &Db, id: &str, state: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET email_state = $2 WHERE id = $1").bind(id).bind(state).execute(db.writer()).await?;
    Ok(())
}

/// How the message's e-mail fared (`none`, `queued`, `sent`, `failed-temporarily`,
/// `failed-permanently`).
pub async fn email_state(db: &Db, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT email_state FROM messages WHERE id = $1").bind(id).fetch_optional(db.pool()).await
}

/// Records how the message's SMS fared.
pub async fn set_sms(db: &Db, id: &str, state: &str, sms_id: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET sms_state = $2, sms_id = COALESCE($3, sms_id) WHERE id = $1")
        .bind(id)
        .bind(state)
        .bind(sms_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// How many messages are unread in the inbox of whom the live session with this token hash
/// acts for (its own citizen, or the subject it acts for); `None` without such a session.
pub async fn unread_for_session(db: &Db, token_hash: &str, now_ms: i64) -> sqlx::Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM messages m
                 WHERE m.citizen_id = COALESCE(s.acting_for, s.citizen_id) AND m.read_ms IS NULL) AS unread
         FROM sessions s WHERE s.token_hash = $1 AND s.revoked_ms IS NULL AND s.expires_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| r.try_get::<i64, _>("unread")).transpose()
}
