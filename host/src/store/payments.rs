//! Payment orders (`payment_orders`). Every change of state is one `UPDATE ... WHERE id = $1
//! AND state = $old`, so two replicas, or a callback racing the reconciler, cannot both
//! move an order; the unique index on paid bills makes "paid twice" a constraint violation.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use super::Db;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Stored; the PSP has not given a token yet.
    Created,
    /// The PSP gave a token; the citizen was sent to its payment page.
    Redirected,
    /// The PSP sent the citizen back (a claim the host does not trust until it verifies).
    Returned,
    /// The PSP confirmed the payment to the host; not settled yet.
    Verified,
    /// Done: the money goes to the agency.
    Settled,
    /// Not paid (canceled, declined, refused by the PSP).
    Failed,
    /// Paid, then given back (amount mismatch, paid twice, settling refused).
    Reversed,
    /// Never paid, and the PSP's token has run out.
    Expired,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Redirected => "redirected",
            State::Returned => "returned",
            State::Verified => "verified",
            State::Settled => "settled",
            State::Failed => "failed",
            State::Reversed => "reversed",
            State::Expired => "expired",
        }
    }

    pub fn from_name(name: &str) -> Option<State> {
        Some(match name {
            "created" => State::Created,
            "redirected" => State::Redirected,
            "returned" => State::Returned,
            "verified" => State::Verified,
            "settled" => State::Settled,
            "failed" => State::Failed,
            "reversed" => State::Reversed,
            "expired" => State::Expired,
            _ => return None,
        })
    }

    /// Whether the order can still move.
    pub fn is_open(self) -> bool {
        matches!(self, State::Created | State::Redirected | State::Returned | State::Verified)
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub citizen_id: Option<String>,
    pub item_key: String,
    /// `bill` or `fee`.
    pub kind: String,
    pub bill_id: String,
    pub payment_id: String,
    pub tracking_code: Option<String>,
    pub agency: Option<String>,
    pub amount_rial: i64,
    pub state: State,
    pub psp_token: Option<String>,
    pub rrn: Option<String>,
    pub trace: Option<String>,
    pub masked_card: Option<String>,
    pub failure: Option<String>,
    /// An operator's note when the order is marked for manual review.
    pub review: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub settled_ms: Option<i64>,
    pub next_check_ms: i64,
    pub checks: i64,
    pub notified_ms: Option<i64>,
    pub notify_attempts: i64,
    pub notify_error: Option<String>,
    /// Who paid, when someone paid for the citizen (a signatory, a parent).
    pub actor_id: Option<String>,
}

const COLUMNS: &str = "id, citizen_id, item_key, kind, bill_id, payment_id, tracking_code, agency, amount_rial, \
    state, psp_token, rrn, trace, masked_card, failure, review, created_ms, updated_ms, settled_ms, next_check_ms, \
    checks, notified_ms, notify_attempts, notify_error, actor_id";

fn from_row(row: &AnyRow) -> sqlx::Result<Order> {
    let state: String = row.try_get("state")?;
    Ok(Order {
        id: row.try_get("id")?,
        citizen_id: row.try_get("citizen_id")?,
        item_key: row.try_get("item_key")?,
        kind: row.try_get("kind")?,
        bill_id: row.try_get("bill_id")?,
        payment_id: row.try_get("payment_id")?,
        tracking_code: row.try_get("tracking_code")?,
        agency: row.try_get("agency")?,
        amount_rial: row.try_get("amount_rial")?,
        state: State::from_name(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown payment state {state}").into()))?,
        psp_token: row.try_get("psp_token")?,
        rrn: row.try_get("rrn")?,
        trace: row.try_get("trace")?,
        masked_card: row.try_get("masked_card")?,
        failure: row.try_get("failure")?,
        review: row.try_get("review")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
        settled_ms: row.try_get("settled_ms")?,
        next_check_ms: row.try_get("next_check_ms")?,
        checks: row.try_get("checks")?,
        notified_ms: row.try_get("notified_ms")?,
        notify_attempts: row.try_get("notify_attempts")?,
        notify_error: row.try_get("notify_error")?,
        actor_id: row.try_get("actor_id")?,
    })
}

/// Stores a new order (state `created`).
pub async fn create(db: &Db, order: &Order) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO payment_orders (id, citizen_id, item_key, kind, bill_id, payment_id, tracking_code, agency,
             amount_rial, state, created_ms, updated_ms, next_check_ms, actor_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13)",
    )
    .bind(&order.id)
    .bind(&order.citizen_id)
    .bind(&order.item_key)
    .bind(&order.kind)
    .bind(&order.bill_id)
    .bind(&order.payment_id)
    .bind(&order.tracking_code)
    .bind(&order.agency)
    .bind(order.amount_rial)
    .bind(order.state.name())
    .bind(order.created_ms)
    .bind(order.next_check_ms)
    .bind(&order.actor_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> sqlx::Result<Option<Order>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payment_orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The order a PSP token belongs to.
pub async fn by_token(db: &Db, token: &str) -> sqlx::Result<Option<Order>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payment_orders WHERE psp_token = $1"))
        .bind(token)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The verified or settled order of an item, if it was paid.
pub async fn paid(db: &Db, item_key: &str) -> sqlx::Result<Option<Order>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_orders WHERE item_key = $1 AND state IN ('verified', 'settled')"
    ))
    .bind(item_key)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A citizen's orders, newest first.
pub async fn of_citizen(db: &Db, citizen_id: &str, limit: i64) -> sqlx::Result<Vec<Order>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_orders WHERE citizen_id = $1 ORDER BY created_ms DESC, id LIMIT $2"
    ))
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Orders someone paid for others, newest first.
pub async fn paid_by(db: &Db, actor_id: &str, limit: i64) -> sqlx::Result<Vec<Order>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_orders WHERE actor_id = $1 ORDER BY created_ms DESC, id LIMIT $2"
    ))
    .bind(actor_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Orders for operators, newest first, optionally of one state.
pub async fn list(db: &Db, state: Option<State>, limit: i64) -> sqlx::Result<Vec<Order>> {
    let rows = match state {
        Some(state) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM payment_orders WHERE state = $1 ORDER BY created_ms DESC, id LIMIT $2"
            ))
            .bind(state.name())
            .bind(limit)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM payment_orders ORDER BY created_ms DESC, id LIMIT $1"))
                .bind(limit)
                .fetch_all(db.pool())
                .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// What a move writes besides the state.
#[derive(Debug, Default, Clone)]
pub struct Change {
    pub psp_token: Option<String>,
    pub rrn: Option<String>,
    pub trace: Option<String>,
    pub masked_card: Option<String>,
    pub failure: Option<String>,
    pub settled_ms: Option<i64>,
}

/// Moves the order from `from` to `to` if it is still in `from`; `false` when another
/// request moved it first. A move to `verified` fails with a unique violation when the
/// item is already paid by another order.
pub async fn transition(db: &Db, id: &str, from: State, to: State, change: &Change, now_ms: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payment_orders SET state = $3, updated_ms = $4,
             psp_token = COALESCE($5, psp_token), rrn = COALESCE($6, rrn), trace = COALESCE($7, trace),
             masked_card = COALESCE($8, masked_card), failure = COALESCE($9, failure),
             settled_ms = COALESCE($10, settled_ms), next_check_ms = $4
         WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(from.name())
    .bind(to.name())
    .bind(now_ms)
    .bind(&change.psp_token)
    .bind(&change.rrn)
    .bind(&change.trace)
    .bind(&change.masked_card)
    .bind(&change.failure)
    .bind(change.settled_ms)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the order for `owner` until `until_ms`, unless someone else holds it.
pub async fn lease(db: &Db, id: &str, owner: &str, now_ms: i64, until_ms: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE payment_orders SET lease_owner = $2, lease_until_ms = $4
         WHERE id = $1 AND (lease_until_ms < $3 OR lease_owner = $2)",
    )
    .bind(id)
    .bind(owner)
    .bind(now_ms)
    .bind(until_ms)
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets go of the order and says when to look at it next.
pub async fn release(db: &Db, id: &str, owner: &str, next_check_ms: i64, checked: bool) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payment_orders SET lease_until_ms = 0, lease_owner = NULL, next_check_ms = $3,
             checks = checks + $4
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(next_check_ms)
    .bind(i64::from(checked))
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Claims up to `limit` orders that are due (open ones, and settled ones whose agency has
/// not heard yet) for `owner`: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so replicas
/// reconciling at once take different orders; on SQLite through the single writer.
pub async fn claim_due(db: &Db, owner: &str, now_ms: i64, until_ms: i64, limit: i64) -> sqlx::Result<Vec<Order>> {
    let due = "(state IN ('created', 'redirected', 'returned', 'verified')
                OR (state = 'settled' AND notified_ms IS NULL AND agency IS NOT NULL))
               AND next_check_ms <= $3 AND lease_until_ms < $3 AND review IS NULL";
    let lock = super::skip_locked(db);
    let rows = sqlx::query(&format!(
        "UPDATE payment_orders SET lease_owner = $1, lease_until_ms = $2
         WHERE id IN (SELECT id FROM payment_orders WHERE {due} ORDER BY next_check_ms LIMIT $4 {lock})
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

/// Records that the agency heard of the settled payment, or why not (tried again later).
pub async fn notified(db: &Db, id: &str, at_ms: Option<i64>, error: Option<&str>) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE payment_orders SET notified_ms = $2, notify_error = $3, notify_attempts = notify_attempts + 1
         WHERE id = $1",
    )
    .bind(id)
    .bind(at_ms)
    .bind(error)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Marks an order for manual review (the reconciler leaves it alone).
pub async fn mark_review(db: &Db, id: &str, note: &str) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE payment_orders SET review = $2 WHERE id = $1")
        .bind(id)
        .bind(note)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}
