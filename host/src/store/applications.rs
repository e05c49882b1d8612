//! Applications and their status history.
//!
//! Filing is two steps so that an `Idempotency-Key` can never produce two applications:
//! [`reserve`] inserts a `pending` row (the unique `(citizen_id, idempotency_key)` makes a
//! concurrent replay find it), the adapter's `submit` runs, then [`complete`] stores the
//! agency's receipt and the first event in one transaction, or [`discard`] removes the
//! reservation when the agency refused.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::append::Rows;
use super::data_usage::Usage;
use super::sql::{Arg, Tx, query};
use super::{Db, is_unique_violation};

/// Status of a reservation whose `submit` has not returned yet.
pub const PENDING: &str = "pending";

/// A stored application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRow {
    pub id: String,
    pub tracking_code: String,
    pub citizen_id: String,
    pub agency: String,
    pub service: String,
    pub adapter_id: String,
    pub adapter_version: String,
    pub agency_reference: Option<String>,
    /// Wire name of the status, or [`PENDING`].
    pub status: String,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the submitted form, to refuse a key reused for different input.
    pub request_hash: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Who filed it, when someone filed it for the citizen (a signatory, a parent).
    pub actor_id: Option<String>,
    /// Bills the agency attached (a fee, a later charge).
    pub bills: Vec<StoredBill>,
}

/// A bill attached to an application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredBill {
    pub bill_id: String,
    pub payment_id: String,
    pub amount_rial: u64,
    pub title_fa: String,
    pub title_en: String,
}

impl From<&crate::runtime::bindings::Bill> for StoredBill {
    fn from(bill: &crate::runtime::bindings::Bill) -> Self {
        StoredBill {
            bill_id: bill.bill_id.clone(),
            payment_id: bill.payment_id.clone(),
            amount_rial: bill.amount_rial,
            title_fa: bill.title.fa.clone(),
            title_en: bill.title.en.clone(),
        }
    }
}

/// One entry of the status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub status: String,
    pub message_fa: String,
    pub message_en: String,
    /// `citizen`, `agency` or `operator`.
    pub actor: String,
    pub at_ms: i64,
}

const COLUMNS: &str = "id, tracking_code, citizen_id, agency, service, adapter_id, adapter_version, \
                       agency_reference, status, idempotency_key, request_hash, created_ms, updated_ms, actor_id, bills";

fn from_row(row: &AnyRow) -> sqlx::Result<ApplicationRow> {
    Ok(ApplicationRow {
        id: row.try_get("id")?,
        tracking_code: row.try_get("tracking_code")?,
        citizen_id: row.try_get("citizen_id")?,
        agency: row.try_get("agency")?,
        service: row.try_get("service")?,
        adapter_id: row.try_get("adapter_id")?,
        adapter_version: row.try_get("adapter_version")?,
        agency_reference: row.try_get("agency_reference")?,
        status: row.try_get("status")?,
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        actor_id: row.try_get("actor_id")?,
        bills: serde_json::from_str(&row.try_get::<String, _>("bills")?).unwrap_or_default(),
    })
}

/// The outcome of [`reserve`].
#[derive(Debug)]
pub enum Reservation {
    /// The pending row was inserted.
    Reserved,
    /// This citizen already used the idempotency key (or the tracking code collided).
    Conflict,
}

/// Inserts `application` as pending, durably, with the data-usage entries of the hand-over
/// its submit will make: both or neither (a conflict writes neither).
pub async fn reserve(db: &Db, application: &ApplicationRow, handover: &[Usage]) -> sqlx::Result<Reservation> {
    let row = insert(application);
    let inserted = if handover.is_empty() {
        // With the reservations of concurrent filings, in one statement on PostgreSQL.
        db.append(row).await
    } else {
        let handover = handover.to_vec();
        db.write(move |conn| {
            Box::pin(async move {
                row.insert_on(conn).await?;
                super::data_usage::record_on(conn, &handover).await
            })
        })
        .await
    };
    match inserted {
        Ok(()) => Ok(Reservation::Reserved),
        Err(e) if is_unique_violation(&e) => Ok(Reservation::Conflict),
        Err(e) => Err(e),
    }
}

/// The `INSERT` of an application row.
fn insert(a: &ApplicationRow) -> Rows {
    static INSERT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("INSERT INTO applications ({COLUMNS})"));
    let values = vec![
        Arg::from(&a.id),
        Arg::from(&a.tracking_code),
        Arg::from(&a.citizen_id),
        Arg::from(&a.agency),
        Arg::from(&a.service),
        Arg::from(&a.adapter_id),
        Arg::from(&a.adapter_version),
        Arg::from(&a.agency_reference),
        Arg::from(&a.status),
        Arg::from(&a.idempotency_key),
        Arg::from(&a.request_hash),
        Arg::from(a.created_ms),
        Arg::from(a.updated_ms),
        Arg::from(&a.actor_id),
        Arg::from(serde_json::to_string(&a.bills).unwrap_or_else(|_| "[]".into())),
    ];
    Rows { insert: &INSERT, columns: 15, values }
}

/// Stores the agency's receipt on a pending application, its first event and the job
/// that follows it, in the caller's transaction (the work of a [`Db::write`]).
pub async fn complete_on(
    conn: &mut dyn Tx,
    id: &str,
    agency_reference: &str,
    event: &EventRow,
    bills: &[StoredBill],
    then: Option<&super::jobs::NewJob<'static>>,
) -> sqlx::Result<()> {
    let bills = serde_json::to_string(bills).unwrap_or_else(|_| "[]".into());
    query("UPDATE applications SET agency_reference = $2, status = $3, updated_ms = $4, bills = $5 WHERE id = $1")
        .bind(id)
        .bind(agency_reference)
        .bind(&event.status)
        .bind(event.at_ms)
        .bind(&bills)
        .execute(conn)
        .await?;
    insert_event(conn, id, event).await?;
    if let Some(job) = then {
        super::jobs::enqueue_in(conn, job, event.at_ms).await?;
    }
    Ok(())
}

/// Removes a pending reservation (the agency refused the application), in the caller's
/// transaction.
pub async fn discard_on(conn: &mut dyn Tx, id: &str) -> sqlx::Result<()> {
    query("DELETE FROM applications WHERE id = $1 AND status = $2").bind(id).bind(PENDING).execute(conn).await.map(drop)
}

/// Removes a pending reservation abandoned mid-way, durably.
pub async fn discard(db: &Db, id: &str) -> sqlx::Result<()> {
    let id = id.to_owned();
    db.write(move |conn| Box::pin(async move { discard_on(conn, &id).await })).await
}

/// Records a status change and makes it the application's current status, atomically.
pub async fn append_event(db: &Db, id: &str, event: &EventRow) -> sqlx::Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE applications SET status = $2, updated_ms = $3 WHERE id = $1")
        .bind(id)
        .bind(&event.status)
        .bind(event.at_ms)
        .execute(&mut *tx)
        .await?;
    insert_event(&mut *tx, id, event).await?;
    tx.commit().await
}

async fn insert_event(conn: &mut dyn Tx, id: &str, event: &EventRow) -> sqlx::Result<()> {
    query(
        "INSERT INTO application_events (application_id, status, message_fa, message_en, actor, at_ms)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&event.status)
    .bind(&event.message_fa)
    .bind(&event.message_en)
    .bind(&event.actor)
    .bind(event.at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A citizen's application under an idempotency key (pending or not).
pub async fn by_idempotency_key(db: &Db, citizen_id: &str, key: &str) -> sqlx::Result<Option<ApplicationRow>> {
    let row =
        sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE citizen_id = $1 AND idempotency_key = $2"))
            .bind(citizen_id)
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    row.as_ref().map(from_row).transpose()
}

/// A citizen's filed application by tracking code; another citizen's code finds nothing.
pub async fn by_tracking_code(db: &Db, citizen_id: &str, code: &str) -> sqlx::Result<Option<ApplicationRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM applications WHERE tracking_code = $1 AND citizen_id = $2 AND status <> $3"
    ))
    .bind(code)
    .bind(citizen_id)
    .bind(PENDING)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Adds bills to an application (those it has already are kept once).
pub async fn add_bills(db: &Db, id: &str, bills: &[StoredBill]) -> sqlx::Result<()> {
    if bills.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    let current: Option<String> =
        sqlx::query_scalar("SELECT bills FROM applications WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let mut all: Vec<StoredBill> = current.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
    for bill in bills {
        if !all.iter().any(|b| b.bill_id == bill.bill_id && b.payment_id == bill.payment_id) {
            all.push(bill.clone());
        }
    }
    sqlx::query("UPDATE applications SET bills = $2 WHERE id = $1")
        .bind(id)
        .bind(serde_json::to_string(&all).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// The filed application with an agency reference, whoever's it is (payments of fees).
pub async fn by_reference(db: &Db, agency: &str, reference: &str) -> sqlx::Result<Option<ApplicationRow>> {
    by_agency_reference(db, agency, reference).await
}

/// Applications someone filed for others, newest first.
pub async fn filed_by(db: &Db, actor_id: &str, limit: i64) -> sqlx::Result<Vec<ApplicationRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM applications WHERE actor_id = $1 AND status <> $2 ORDER BY created_ms DESC LIMIT $3"
    ))
    .bind(actor_id)
    .bind(PENDING)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A filed application by its row id.
pub async fn by_id(db: &Db, id: &str) -> sqlx::Result<Option<ApplicationRow>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1 AND status <> $2"))
        .bind(id)
        .bind(PENDING)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The filed application an agency knows by its own reference.
pub async fn by_agency_reference(db: &Db, agency: &str, reference: &str) -> sqlx::Result<Option<ApplicationRow>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM applications WHERE agency = $1 AND agency_reference = $2 AND status <> $3"
    ))
    .bind(agency)
    .bind(reference)
    .bind(PENDING)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A citizen's filed applications, newest first.
pub async fn list_for(db: &Db, citizen_id: &str, limit: i64) -> sqlx::Result<Vec<ApplicationRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM applications WHERE citizen_id = $1 AND status <> $2
         ORDER BY created_ms DESC, id DESC LIMIT $3"
    ))
    .bind(citizen_id)
    .bind(PENDING)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// The status history of an application, oldest first.
pub async fn events(db: &Db, id: &str) -> sqlx::Result<Vec<EventRow>> {
    let rows = sqlx::query(
        "SELECT status, message_fa, message_en, actor, at_ms FROM application_events
         WHERE application_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                status: r.try_get("status")?,
                message_fa: r.try_get("message_fa")?,
                message_en: r.try_get("message_en")?,
                actor: r.try_get("actor")?,
                at_ms: r.try_get("at_ms")?,
            })
        })
        .collect()
}
