//! The data-usage log: one row each time the host hands a citizen's identity attribute
//! to an adapter. Written before the adapter runs, so a hand-over is recorded even when
//! the call then fails. Citizens read it through `GET /api/v1/me/data-usage`.

use crate::names::Purpose;
use crate::runtime::bindings::IdentityAttribute;
use sqlx::Row as _;

use super::Db;
use super::sql::{Query, Tx, placeholders, query};

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

/// Records hand-overs, all or none (one statement), durably (group-committed with
/// concurrent writes on SQLite).
pub async fn record(db: &Db, entries: Vec<Usage>) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let statement = insert_statement(entries.len());
    db.write_one(bind_all(query(&statement), &entries)).await.map(drop)
}

/// Records hand-overs in the caller's transaction (the work of a [`Db::write`]).
pub async fn record_on(conn: &mut dyn Tx, entries: &[Usage]) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let statement = insert_statement(entries.len());
    bind_all(query(&statement), entries).execute(conn).await.map(drop)
}

/// Columns of a `data_usage` row as inserted.
const COLUMNS: usize = 9;

/// One `INSERT` of `rows` rows (a call hands over a few attributes, far below the
/// databases' parameter limits).
fn insert_statement(rows: usize) -> String {
    format!(
        "INSERT INTO data_usage (citizen_id, adapter_id, agency, service, attribute, purpose, request_id, at_ms, actor_id) VALUES {}",
        placeholders(rows, COLUMNS)
    )
}

fn bind_all<'q>(mut statement: Query<'q>, entries: &[Usage]) -> Query<'q> {
    for e in entries {
        statement = statement
            .bind(&e.citizen_id)
            .bind(&e.adapter_id)
            .bind(&e.agency)
            .bind(&e.service)
            .bind(e.attribute.as_str())
            .bind(e.purpose.as_str())
            .bind(&e.request_id)
            .bind(e.at_ms)
            .bind(&e.actor_id);
    }
    statement
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
