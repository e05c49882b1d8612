//! Status that follows the agency: the host asks an adapter's `status` where an open
//! application stands, and a change goes into its history and the citizen's inbox. The
//! background worker runs this on a schedule; a failing poll is retried with back-off and
//! never shown to the citizen as a status.

use serde::Serialize;

use super::ServiceError;
use super::call::{AdapterCall, enabled_agency};
use crate::app::App;
use crate::plugins::Operation;
use crate::runtime::bindings::{Status, Text};
use crate::store::applications::{self, ApplicationRow, EventRow};
use crate::store::now_ms;

/// What asking the agency found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Nothing more to follow: the application is gone, has no agency reference yet, or is
    /// decided.
    Done,
    /// Where it was.
    Unchanged,
    /// It moved; `Status::is_final` says whether to keep following.
    Moved(Status),
}

#[derive(Serialize)]
struct StatusEvidence {
    status: &'static str,
}

/// Asks the agency about an application once.
pub async fn follow(app: &App, row: &ApplicationRow) -> Result<Followed, ServiceError> {
    let decided = row.status.parse::<Status>().is_ok_and(Status::is_final);
    let (Some(reference), false) = (row.agency_reference.clone(), decided) else {
        return Ok(Followed::Done);
    };
    let call = AdapterCall::of_adapter(app, enabled_agency(&app.registry, &row.agency)?);
    let mut ctx = call.context().await?;
    ctx.service.clone_from(&row.service);
    let update = call.settle(call.adapter.status(ctx, reference).await);
    let evidence = update.as_ref().map(|u| StatusEvidence { status: u.status.as_str() });
    let request_hash = crate::audit::sha256_hex(row.tracking_code.as_bytes());
    let recorded = call.record(Operation::Status, &row.service, request_hash, evidence.as_ref().map_err(|e| *e)).await;
    let update = super::call::once_recorded(update, recorded)?;
    if update.status.as_str() == row.status {
        return Ok(Followed::Unchanged);
    }
    moved(&call, row, update.status, update.message, "status followed at the agency").await?;
    Ok(Followed::Moved(update.status))
}

/// Appends a status change the agency reported (by a poll or a callback) to the
/// application's history, and tells the citizen.
pub(super) async fn moved(
    call: &AdapterCall<'_>,
    row: &ApplicationRow,
    status: Status,
    message: Text,
    how: &'static str,
) -> Result<EventRow, ServiceError> {
    let app = call.app;
    let event = EventRow {
        status: status.to_string(),
        message_fa: message.fa,
        message_en: message.en,
        actor: "agency".to_owned(),
        at_ms: now_ms(),
    };
    applications::append_event(&app.db, &row.id, &event).await?;
    tracing::info!(tracking_code = %row.tracking_code, agency = %row.agency, status = %event.status, request_id = %call.request_id, "{how}");
    crate::background::status_changed(
        app,
        &row.citizen_id,
        &row.tracking_code,
        &event.status,
        &event.message_fa,
        &event.message_en,
    )
    .await?;
    Ok(event)
}
