//! The durable job queue (`jobs`): enqueue, claim with a lease, finish, retry with
//! back-off, dead letters.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::sql::Tx;
use super::{Db, random_id};

/// A job as claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub payload: serde_json::Value,
    /// `queued`, `done` or `dead`.
    pub state: String,
    pub due_ms: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const COLUMNS: &str = "id, kind, payload, state, due_ms, attempts, last_error, created_ms, updated_ms";

fn from_row(row: &AnyRow) -> sqlx::Result<Job> {
    let payload: String = row.try_get("payload")?;
    Ok(Job {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(e.into()))?,
        state: row.try_get("state")?,
        due_ms: row.try_get("due_ms")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

/// The kind of a job the `notify` capability queues (a message an agency's adapter sends
/// the citizen of one of its applications); the background worker runs it.
pub const AGENCY_MESSAGE: &str = "message.agency";

/// Queues a job; with a `dedupe` key, nothing is queued while a job of that key is.
/// Answers whether a job was queued.
pub async fn enqueue(
    db: &Db,
    kind: &str,
    payload: &serde_json::Value,
    due_ms: i64,
    dedupe: Option<&str>,
    now_ms: i64,
) -> sqlx::Result<bool> {
    let job = NewJob { kind, payload: payload.clone(), due_ms, dedupe: dedupe.map(str::to_owned) };
    let mut conn = db.writer().acquire().await?;
    enqueue_in(&mut *conn, &job, now_ms).await
}

/// A job to queue in the same transaction as the writes it follows from.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: serde_json::Value,
    pub due_ms: i64,
    pub dedupe: Option<String>,
}

/// Queues `job` on `conn` (a transaction's, typically); `false` when a job with its dedupe
/// key is already queued.
pub async fn enqueue_in(conn: &mut dyn Tx, job: &NewJob<'_>, now_ms: i64) -> sqlx::Result<bool> {
    let (kind, payload, due_ms, dedupe) = (job.kind, &job.payload, job.due_ms, job.dedupe.as_deref());
    let changed = super::sql::query(
        "INSERT INTO jobs (id, kind, payload, state, due_ms, dedupe_key, created_ms, updated_ms)
         VALUES ($1, $2, $3, 'queued', $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(random_id())
    .bind(kind)
    .bind(payload.to_string())
    .bind(due_ms)
    .bind(dedupe)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(changed == 1)
}

/// Claims up to `limit` due jobs for `owner` until `until_ms`.
pub async fn claim(db: &Db, owner: &str, now_ms: i64, until_ms: i64, limit: i64) -> sqlx::Result<Vec<Job>> {
    let lock = super::skip_locked(db);
    let rows = sqlx::query(&format!(
        "UPDATE jobs SET lease_owner = $1, lease_until_ms = $2
         WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND due_ms <= $3 AND lease_until_ms < $3
                      ORDER BY due_ms LIMIT $4 {lock})
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(until_ms)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.writer())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The job is finished; its dedupe key is free again.
pub async fn done(db: &Db, id: &str, owner: &str, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'done', dedupe_key = NULL, lease_until_ms = 0, updated_ms = $3
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Runs the job again at `due_ms` (periodic work), without counting a failure.
pub async fn again_at(db: &Db, id: &str, owner: &str, due_ms: i64, now_ms: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET due_ms = $3, attempts = 0, last_error = NULL, lease_until_ms = 0, updated_ms = $4
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(due_ms)
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Counts a failure: the job runs again at `due_ms`, or becomes a dead letter when this was
/// its last attempt.
pub async fn failed(
    db: &Db,
    id: &str,
    owner: &str,
    error: &str,
    due_ms: i64,
    dead: bool,
    now_ms: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET attempts = attempts + 1, last_error = $3, due_ms = $4, lease_until_ms = 0, updated_ms = $6,
             state = CASE WHEN $5 = 1 THEN 'dead' ELSE state END,
             dedupe_key = CASE WHEN $5 = 1 THEN NULL ELSE dedupe_key END
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(error)
    .bind(due_ms)
    .bind(i64::from(dead))
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Jobs in a state (`queued`, `done`, `dead`), newest first.
pub async fn list(db: &Db, state: &str, limit: i64) -> sqlx::Result<Vec<Job>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE state = $1 ORDER BY updated_ms DESC LIMIT $2"))
        .bind(state)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Puts a dead letter back in the queue, due now, with its attempts reset.
pub async fn revive(db: &Db, id: &str, now_ms: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = 0, due_ms = $2, lease_until_ms = 0, updated_ms = $2
         WHERE id = $1 AND state = 'dead'",
    )
    .bind(id)
    .bind(now_ms)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}
