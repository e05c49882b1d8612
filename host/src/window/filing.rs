//! Applications with tracking codes: filing one (the adapter's `submit`), with an
//! idempotency key that makes a retry return the same application, and reading the
//! citizen's own applications back. Anyone else's tracking code is answered exactly like
//! an unknown one.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ServiceError;
use super::call::{AdapterCall, input_hash};
use super::views::BillView;
use crate::app::App;
use crate::audit::Entry;
use crate::auth::Citizen;
use crate::plugins::Operation;
use crate::runtime::bindings::{CallContext, ServiceKind, Value};
use crate::store::applications::{self, ApplicationRow, EventRow, PENDING, Reservation, StoredBill};
use crate::store::data_usage::Usage;
use crate::store::kv::Staged;
use crate::store::sql::Tx;
use crate::store::{now_ms, random_id};
use crate::text::{Lang, rfc3339};
use crate::tracking;

/// A reservation older than this is from a submit that never finished (the host died).
const STALE_PENDING_MS: i64 = 5 * 60 * 1000;
/// Most applications listed.
const LIST_LIMIT: i64 = 200;

/// One entry of an application's history.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// `submitted`, `in-review`, `action-required`, `approved`, `rejected`, `completed` or
    /// `cancelled`.
    pub status: String,
    pub message: String,
    /// `citizen`, `agency` or `operator`.
    pub actor: String,
    pub at: String,
}

/// An application as its citizen sees it.
#[derive(Serialize, ToSchema)]
pub struct ApplicationView {
    /// `PJ-XXXX-XXXX-XXXX-X`: what the citizen quotes to follow the application.
    #[schema(example = "PJ-7KQM-3WXR-9HTN-C")]
    pub tracking_code: String,
    pub agency: String,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_title: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency_reference: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub href: String,
    /// The pseudonym of who filed it, when someone filed it for the citizen (a company's
    /// signatory, a parent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filed_by: Option<String>,
    /// Every status change, oldest first (absent from lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<EventView>>,
    /// What the agency asks the citizen to pay for the application (a filing fee on its
    /// receipt, a later charge); absent when nothing was billed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bills: Vec<BillView>,
}

impl ApplicationView {
    fn new(app: &App, lang: Lang, row: ApplicationRow, history: Option<Vec<EventRow>>) -> Self {
        let service_title = app.registry.get(&row.agency).and_then(|slot| {
            slot.adapter
                .agency
                .services
                .iter()
                .find(|s| s.id == row.service)
                .map(|s| lang.pick(&s.title.fa, &s.title.en).to_owned())
        });
        ApplicationView {
            href: format!("/api/v1/applications/{}", row.tracking_code),
            tracking_code: row.tracking_code,
            agency: row.agency,
            service: row.service,
            service_title,
            status: row.status,
            agency_reference: row.agency_reference,
            created_at: rfc3339(row.created_ms),
            updated_at: rfc3339(row.updated_ms),
            filed_by: row.actor_id,
            history: history.map(|events| {
                events
                    .into_iter()
                    .map(|e| EventView {
                        status: e.status,
                        message: lang.pick(&e.message_fa, &e.message_en).to_owned(),
                        actor: e.actor,
                        at: rfc3339(e.at_ms),
                    })
                    .collect()
            }),
            bills: row
                .bills
                .iter()
                .map(|b| BillView {
                    bill_id: b.bill_id.clone(),
                    payment_id: b.payment_id.clone(),
                    amount_rial: b.amount_rial,
                    title: lang.pick(&b.title_fa, &b.title_en).to_owned(),
                })
                .collect(),
        }
    }
}

/// A filed application, and whether it was filed earlier under the same idempotency key.
pub struct Filed {
    pub view: ApplicationView,
    pub replayed: bool,
}

/// Files an application of `agency`'s `service` for the citizen (or finds the one filed
/// earlier under the same idempotency key). The representation behind an acting session is
/// asked again first, without its cache.
pub async fn file(
    app: &App,
    lang: Lang,
    (agency, service): (&str, &str),
    citizen: Option<&Citizen>,
    input: &BTreeMap<String, serde_json::Value>,
    key: Option<String>,
) -> Result<Filed, ServiceError> {
    let (call, input) = AdapterCall::admit(app, lang, (agency, service), ServiceKind::Application, citizen, input)?;
    // An application is always someone's: even a service open to anonymous use needs a
    // signed-in citizen to file (and later find) an application.
    let citizen = citizen.ok_or(ServiceError::SignInRequired { needed: None })?;
    crate::window::acting::recheck(app, citizen).await?;
    let hash = request_hash(agency, service, &input);
    // The hand-over's data-usage entries commit with the reservation: both are written
    // before the call, and neither when the key names an earlier application.
    let (ctx, handover) = call.handover();
    let (row, history, replayed) = match reserve(app, citizen, &call, key, hash, &handover).await? {
        Reserved::Earlier(row) => {
            let history = applications::events(&app.db, &row.id).await?;
            (row, history, true)
        }
        // A new application's history is the one event its filing just stored.
        Reserved::Fresh(row) => {
            let (row, first) = submit(&call, citizen, ctx, input, row).await?;
            (row, vec![first], false)
        }
    };
    Ok(Filed { view: ApplicationView::new(app, lang, row, Some(history)), replayed })
}

/// What identifies a submission for idempotency: the service and the normalized form.
fn request_hash(agency: &str, service: &str, input: &[Value]) -> String {
    let pairs: Vec<(&str, &str)> = input.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
    let canonical = serde_json::to_string(&(agency, service, pairs)).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Where a submission goes: a new pending row to file, or an earlier application.
enum Reserved {
    Fresh(ApplicationRow),
    Earlier(ApplicationRow),
}

/// Reserves a pending application for this submission, unless the citizen's idempotency
/// key already names one: that one is answered if it was filed, refused if its form
/// differs, and removed and filed anew if it was abandoned mid-way.
async fn reserve(
    app: &App,
    citizen: &Citizen,
    call: &AdapterCall<'_>,
    key: Option<String>,
    hash: String,
    handover: &[Usage],
) -> Result<Reserved, ServiceError> {
    let service = call.service().expect("a filing calls a service");
    // A few rounds: a key's abandoned reservation is removed and retried, and a (2^-60)
    // tracking-code collision just draws another code.
    for _ in 0..4 {
        if let Some(key) = &key
            && let Some(existing) = applications::by_idempotency_key(&app.db, &citizen.subject, key).await?
        {
            if existing.request_hash != hash {
                return Err(ServiceError::IdempotencyKeyReused);
            }
            if existing.status != PENDING {
                return Ok(Reserved::Earlier(existing));
            }
            if now_ms() - existing.created_ms <= STALE_PENDING_MS {
                return Err(ServiceError::ApplicationInProgress);
            }
            applications::discard(&app.db, &existing.id).await?;
            continue;
        }
        let now = now_ms();
        let row = ApplicationRow {
            id: random_id(),
            tracking_code: tracking::generate(),
            citizen_id: citizen.subject.clone(),
            agency: call.adapter.agency.id.clone(),
            service: service.id.clone(),
            adapter_id: call.adapter.manifest.id.clone(),
            adapter_version: call.adapter.manifest.version.to_string(),
            agency_reference: None,
            status: PENDING.to_owned(),
            idempotency_key: key.clone(),
            request_hash: hash.clone(),
            created_ms: now,
            updated_ms: now,
            actor_id: citizen.actor_id(),
            bills: Vec::new(),
        };
        if let Reservation::Reserved = applications::reserve(&app.db, &row, handover).await? {
            return Ok(Reserved::Fresh(row));
        }
    }
    Err(ServiceError::Store(sqlx::Error::Protocol("could not reserve an application row after retries".into())))
}

/// What the evidence of a submit keeps of the receipt.
#[derive(Serialize)]
struct ReceiptEvidence<'a> {
    agency_reference: &'a str,
    status: &'static str,
}

/// Calls the adapter's `submit` for a reserved application and stores the receipt with
/// the first event and its bills: the application as stored, and that event. On any
/// failure the reservation is removed. What is stored of the outcome commits in one
/// transaction with the call's evidence and the adapter's `kv` writes: an application is
/// filed exactly when its evidence and the adapter's record of it are written.
async fn submit(
    call: &AdapterCall<'_>,
    citizen: &Citizen,
    ctx: CallContext,
    input: Vec<Value>,
    mut row: ApplicationRow,
) -> Result<(ApplicationRow, EventRow), ServiceError> {
    let app = call.app;
    let request_hash = input_hash(&input);
    let (outcome, staged) = call.adapter.submit(ctx, input).await;
    let submitted = call.settle(outcome);
    let evidence = submitted
        .as_ref()
        .map(|r| ReceiptEvidence { agency_reference: &r.agency_reference, status: r.status.as_str() });
    let entry = call.evidence(Operation::Submit, &row.service, request_hash, evidence.as_ref().map_err(|e| *e));
    let id = row.id.clone();
    let receipt = match submitted {
        Ok(receipt) => receipt,
        // A refusal stays the refusal; if it could not be stored, the reservation is left
        // to go stale and be removed by the next submission under its key.
        Err(error) => {
            if let Err(failure) = store_outcome(call, staged, entry, move |tx| {
                Box::pin(async move { applications::discard_on(tx, &id).await })
            })
            .await
            {
                tracing::error!(%failure, request_id = %call.request_id, "a refused application and its evidence were not stored");
            }
            return Err(error);
        }
    };
    let event = EventRow {
        status: receipt.status.to_string(),
        message_fa: receipt.message.fa,
        message_en: receipt.message.en,
        actor: "citizen".to_owned(),
        at_ms: now_ms(),
    };
    let bills: Vec<StoredBill> = receipt.bills.iter().map(StoredBill::from).collect();
    let follow = (!receipt.status.is_final()).then(|| crate::background::follow(app, &row.id, &row.agency));
    let (reference, first, stored_bills) = (receipt.agency_reference.clone(), event.clone(), bills.clone());
    // No filed application without its evidence: the answer is withheld.
    store_outcome(call, staged, entry, move |tx| {
        Box::pin(
            async move { applications::complete_on(tx, &id, &reference, &first, &stored_bills, follow.as_ref()).await },
        )
    })
    .await
    .map_err(|failure| ServiceError::Evidence(format!("{failure:#}")))?;
    tracing::info!(tracking_code = %row.tracking_code, agency = %row.agency, service = %row.service, request_id = %call.request_id, actor = ?citizen.actor_id(), "application filed");
    row.agency_reference = Some(receipt.agency_reference);
    row.status.clone_from(&event.status);
    row.updated_ms = event.at_ms;
    row.bills = bills;
    Ok((row, event))
}

/// Stores what a submit's outcome changes (the statements of `outcome`) in one transaction
/// with the adapter's `kv` writes and the submit's evidence. Then it gives back the quota
/// the writes held and did not use, and waits for the evidence to be chained.
async fn store_outcome<F>(call: &AdapterCall<'_>, staged: Staged, entry: Entry, outcome: F) -> sqlx::Result<()>
where
    F: for<'c> FnOnce(&'c mut dyn Tx) -> BoxFuture<'c, sqlx::Result<()>> + Send + 'static,
{
    let app = call.app;
    // The bytes the writes add, taken from the adapter's quota before the transaction.
    let held = staged.hold(&app.db).await?;
    let (writes, audit) = (held.clone(), app.audit.clone());
    let stored = app
        .db
        .write(move |tx| {
            Box::pin(async move {
                writes.commit_on(tx).await?;
                outcome(tx).await?;
                audit.append_in(tx, &entry).await
            })
        })
        .await;
    held.settle(&app.db, stored.is_ok()).await;
    stored?;
    chain_pending(app, call).await;
    Ok(())
}

/// Waits for the submit's evidence, committed with its outcome, to be chained into the log
/// (on PostgreSQL; see [`crate::audit::Audit::chain_pending`]), so that the log shows it
/// when the citizen has the answer. It is durable already: failing to chain it now does
/// not withhold the answer.
async fn chain_pending(app: &App, call: &AdapterCall<'_>) {
    if let Err(error) = app.audit.chain_pending().await {
        tracing::warn!(%error, request_id = %call.request_id, "the evidence of a submit waits in audit_pending to be chained");
    }
}

/// The citizen's applications, newest first, without their histories.
pub async fn list(app: &App, lang: Lang, citizen: &Citizen) -> Result<Vec<ApplicationView>, ServiceError> {
    let rows = applications::list_for(&app.db, &citizen.subject, LIST_LIMIT).await?;
    Ok(rows.into_iter().map(|r| ApplicationView::new(app, lang, r, None)).collect())
}

/// One of the citizen's applications by tracking code (as typed), with its history.
pub async fn application(
    app: &App,
    lang: Lang,
    citizen: &Citizen,
    code: &str,
) -> Result<ApplicationView, ServiceError> {
    let code = tracking::parse(code).map_err(|e| ServiceError::ApplicationNotFound(Some(e)))?;
    let row = applications::by_tracking_code(&app.db, &citizen.subject, &code)
        .await?
        .ok_or(ServiceError::ApplicationNotFound(None))?;
    let history = applications::events(&app.db, &row.id).await?;
    Ok(ApplicationView::new(app, lang, row, Some(history)))
}
