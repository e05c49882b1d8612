//! Mandates a citizen gives another person (`mandates`).

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Db;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mandate {
    pub id: String,
    /// The grantor's pseudonym.
    pub grantor_id: String,
    pub grantor_nid: String,
    pub delegate_nid: String,
    pub created_ms: i64,
    pub valid_until_ms: i64,
    pub revoked_ms: Option<i64>,
    /// What the mandate covers: `agency` or `agency/service` names; `None` is every service.
    pub scope: Option<Vec<String>>,
    /// Whether the delegate may pass it on (never for one that was passed on itself).
    pub may_pass_on: bool,
    /// The mandate a delegate passed this one on from: it is in force only while that is.
    pub parent_id: Option<String>,
}

impl Mandate {
    /// Whether the mandate covers `agency`'s `service`.
    pub fn covers(&self, agency: &str, service: &str) -> bool {
        covers(self.scope.as_deref(), agency, service)
    }
}

/// Whether a scope (`None`: everything) covers any service of `agency`: a plain bill of
/// the agency may be paid under it.
pub fn covers_agency(scope: Option<&[String]>, agency: &str) -> bool {
    scope.is_none_or(|names| names.iter().any(|name| name.split_once('/').map_or(name.as_str(), |(a, _)| a) == agency))
}

/// Whether a scope (`None`: everything) covers `agency`'s `service`.
pub fn covers(scope: Option<&[String]>, agency: &str, service: &str) -> bool {
    scope.is_none_or(|names| {
        names.iter().any(|name| match name.split_once('/') {
            Some((a, s)) => a == agency && s == service,
            None => name == agency,
        })
    })
}

const COLUMNS: &str =
    "id, grantor_id, grantor_nid, delegate_nid, created_ms, valid_until_ms, revoked_ms, scope, may_pass_on, parent_id";

fn from_row(r: &AnyRow) -> sqlx::Result<Mandate> {
    Ok(Mandate {
        id: r.try_get("id")?,
        grantor_id: r.try_get("grantor_id")?,
        grantor_nid: r.try_get("grantor_nid")?,
        delegate_nid: r.try_get("delegate_nid")?,
        created_ms: r.try_get("created_ms")?,
        valid_until_ms: r.try_get("valid_until_ms")?,
        revoked_ms: r.try_get("revoked_ms")?,
        scope: super::json_list(r, "scope")?,
        may_pass_on: r.try_get::<i64, _>("may_pass_on")? != 0,
        parent_id: r.try_get("parent_id")?,
    })
}

pub async fn create(db: &Db, m: &Mandate) -> sqlx::Result<()> {
    sqlx::query(&format!("INSERT INTO mandates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(&m.id)
        .bind(&m.grantor_id)
        .bind(&m.grantor_nid)
        .bind(&m.delegate_nid)
        .bind(m.created_ms)
        .bind(m.valid_until_ms)
        .bind(m.revoked_ms)
        .bind(super::json_list_text(m.scope.as_deref()))
        .bind(i64::from(m.may_pass_on))
        .bind(&m.parent_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Mandates in force for `delegate_nid` at `now_ms`: unrevoked, unexpired, and, if passed
/// on, from a mandate still in force.
pub async fn in_force_for(db: &Db, delegate_nid: &str, now_ms: i64) -> sqlx::Result<Vec<Mandate>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM mandates m
         WHERE delegate_nid = $1 AND revoked_ms IS NULL AND valid_until_ms > $2
           AND (parent_id IS NULL OR EXISTS (SELECT 1 FROM mandates p WHERE p.id = m.parent_id
                                             AND p.revoked_ms IS NULL AND p.valid_until_ms > $2))
         ORDER BY created_ms"
    ))
    .bind(delegate_nid)
    .bind(now_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Mandates a citizen gave, newest first.
pub async fn given_by(db: &Db, grantor_id: &str) -> sqlx::Result<Vec<Mandate>> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM mandates WHERE grantor_id = $1 ORDER BY created_ms DESC"))
        .bind(grantor_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes one of the grantor's mandates; `false` if it is not theirs or already revoked.
pub async fn revoke(db: &Db, grantor_id: &str, id: &str, now_ms: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE mandates SET revoked_ms = $3 WHERE id = $1 AND grantor_id = $2 AND revoked_ms IS NULL")
            .bind(id)
            .bind(grantor_id)
            .bind(now_ms)
            .execute(db.writer())
            .await?;
    Ok(done.rows_affected() == 1)
}
