//! The data-usage log: one row each time the host hands a citizen's identity attribute
//! to an adapter. Written before the adapter runs, so a hand-over is recorded even when
//! the call then fails. Citizens read it through `GET /api/v1/me/data-usage`.

use crate::names::Purpose;
use crate::runtime::bindings::IdentityAttribute;
use sqlx::Row as _;

use super::Db;
use super::append::Rows;
use super::sql::{Arg, Tx};

/// One hand-over of one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub citizen_id: String,
    pub adapter_id: String,
    pub agency: String,
    pub service: String,
    pub attribute: IdentityAttribute,
    pub purpose: Purpose,
    pub request_id: String,
    pub at_ms: i64,
    /// Who acted, when someone acted for the citizen.
    pub actor_id: Option<String>,
}

/// Records hand-overs, all or none, durably: with concurrent callers' in one statement on
/// PostgreSQL ([`Db::append`]), group-committed on SQLite.
pub async fn record(db: &Db, entries: Vec<Usage>) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    db.append(rows(&entries)).await
}

/// Records hand-overs in the caller's transaction (the work of a [`Db::write`]).
pub async fn record_on(conn: &mut dyn Tx, entries: &[Usage]) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    rows(entries).insert_on(conn).await
}

/// The rows of `entries`, as inserted.
fn rows(entries: &[Usage]) -> Rows {
    let mut values = Vec::with_capacity(entries.len() * 9);
    for e in entries {
        values.extend([
            Arg::from(&e.citizen_id),
            Arg::from(&e.adapter_id),
            Arg::from(&e.agency),
            Arg::from(&e.service),
            Arg::from(e.attribute.as_str()),
            Arg::from(e.purpose.as_str()),
            Arg::from(&e.request_id),
            Arg::from(e.at_ms),
            Arg::from(&e.actor_id),
        ]);
    }
    Rows {
        insert: "INSERT INTO data_usage (citizen_id, adapter_id, agency, service, attribute, purpose, request_id, at_ms, actor_id)",
        columns: 9,
        values,
    }
}

/// A column holding a wire name (`crate::names`).
fn name<T>(row: &sqlx::any::AnyRow, column: &str) -> sqlx::Result<T>
where
    T: std::str::FromStr<Err = crate::names::UnknownName>,
{
    let text: String = row.try_get(column)?;
    text.parse().map_err(|e| sqlx::Error::ColumnDecode { index: column.to_owned(), source: Box::new(e) })
}

/// A citizen's most recent hand-overs, newest first.
pub async fn list(db: &Db, citizen_id: &str, limit: i64) -> sqlx::Result<Vec<Usage>> {
    let rows = sqlx::query(
        "SELECT citizen_id, adapter_id, agency, service, attribute, purpose, request_id, at_ms, actor_id
         FROM data_usage WHERE citizen_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Usage {
                citizen_id: r.try_get("citizen_id")?,
                adapter_id: r.try_get("adapter_id")?,
                agency: r.try_get("agency")?,
                service: r.try_get("service")?,
                attribute: name(r, "attribute")?,
                purpose: name(r, "purpose")?,
                request_id: r.try_get("request_id")?,
                at_ms: r.try_get("at_ms")?,
                actor_id: r.try_get("actor_id")?,
            })
        })
        .collect()
}
