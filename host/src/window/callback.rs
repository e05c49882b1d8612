//! An agency pushes a status change: the host checks the signature (HMAC-SHA256 under the
//! operator-configured `callback-secret` of its adapter, over a timestamp and the body),
//! refuses a timestamp more than [`CALLBACK_WINDOW_SECS`] away and a delivery accepted
//! before (a replay), then lets the adapter's `on-callback` read the agency's format and
//! appends the change to the application's history.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::ServiceError;
use super::call::{AdapterCall, enabled_agency};
use crate::app::App;
use crate::plugins::Operation;
use crate::runtime::bindings::StatusUpdate;
use crate::store::applications;
use crate::store::{callback_receipts, now_ms};

/// How far a callback's timestamp may be from the host's clock.
pub const CALLBACK_WINDOW_SECS: i64 = 300;
/// Adapter configuration key holding the callback secret (never handed to the adapter
/// unless the operator also grants it as a config key).
pub const CALLBACK_SECRET_KEY: &str = "callback-secret";
/// Length of an HMAC-SHA256.
pub const MAC_LEN: usize = 32;

/// A callback's signature as the agency sent it: `t` and the MAC of `<t>.<body>`.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    pub timestamp: i64,
    pub mac: [u8; MAC_LEN],
}

/// What an agency's callback changed.
#[derive(Serialize, ToSchema)]
pub struct CallbackAnswer {
    pub agency_reference: String,
    /// The application's new status.
    pub status: String,
    pub request_id: String,
}

/// Applies a signed callback of `agency` (`signature` is `None` when the header was missing
/// or malformed). A callback that fails after its signature was accepted may be delivered
/// again.
pub async fn callback(
    app: &App,
    agency: &str,
    signature: Option<Signature>,
    body: &[u8],
) -> Result<CallbackAnswer, ServiceError> {
    let adapter = enabled_agency(&app.registry, agency)?;
    let receipt = authenticate(app, agency, &adapter.manifest.id, signature, body).await?;
    let call = AdapterCall::of_adapter(app, adapter);
    let applied = async {
        let update = call.settle(call.adapter.on_callback(&call.request_id, body.to_vec()).await)?;
        apply(&call, update).await
    }
    .await;
    let service = applied.as_ref().map_or("", |(service, _)| service.as_str());
    let answer = applied.as_ref().map(|(_, answer)| answer);
    let recorded = call.record(Operation::OnCallback, service, crate::audit::sha256_hex(body), answer).await;
    if applied.is_err() {
        // Not applied: the agency may deliver the same callback again.
        callback_receipts::forget(&app.db, &receipt).await?;
    }
    super::call::once_recorded(applied.map(|(_, answer)| answer), recorded)
}

/// Refused, with the reason logged for the operator.
fn refused(agency: &str, reason: &'static str) -> ServiceError {
    tracing::warn!(agency, reason, "callback refused");
    ServiceError::CallbackSignature(reason)
}

/// What makes a delivery the same delivery: the agency, the timestamp and the MAC's bytes,
/// never the header's text, which has more than one spelling of the same signature (hex
/// case, field order). Each part has a fixed length or a length prefix.
fn receipt_id(agency: &str, signature: &Signature) -> String {
    let mut h = Sha256::new();
    h.update((agency.len() as u64).to_be_bytes());
    h.update(agency.as_bytes());
    h.update(signature.timestamp.to_be_bytes());
    h.update(signature.mac);
    hex::encode(h.finalize())
}

/// Checks a callback's signature and freshness, and records it so that it works once.
/// Answers the receipt to forget if the callback then fails.
async fn authenticate(
    app: &App,
    agency: &str,
    adapter_id: &str,
    signature: Option<Signature>,
    body: &[u8],
) -> Result<String, ServiceError> {
    let secret = app
        .config
        .adapters
        .get(adapter_id)
        .and_then(|s| s.config.get(CALLBACK_SECRET_KEY))
        .filter(|s| !s.value.is_empty())
        .ok_or_else(|| refused(agency, "no callback-secret is configured for the adapter"))?;
    let signature = signature.ok_or_else(|| refused(agency, "missing or malformed signature header"))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.value.as_bytes())
        .map_err(|_| refused(agency, "unusable secret"))?;
    mac.update(format!("{}.", signature.timestamp).as_bytes());
    mac.update(body);
    mac.verify_slice(&signature.mac).map_err(|_| refused(agency, "signature mismatch"))?;
    let now = now_ms();
    if (now / 1000 - signature.timestamp).abs() > CALLBACK_WINDOW_SECS {
        return Err(refused(agency, "timestamp outside the window (a clock off, or an old callback replayed)"));
    }
    let receipt = receipt_id(agency, &signature);
    let expires = (signature.timestamp + CALLBACK_WINDOW_SECS) * 1000 + 1000;
    if !callback_receipts::record(&app.db, &receipt, agency, now, expires).await? {
        tracing::warn!(agency, "callback replayed");
        return Err(ServiceError::CallbackReplayed);
    }
    Ok(receipt)
}

/// Appends the status change an adapter read from a callback to its application's
/// history: the application's service, and the answer.
async fn apply(call: &AdapterCall<'_>, update: StatusUpdate) -> Result<(String, CallbackAnswer), ServiceError> {
    let app = call.app;
    let agency = &call.adapter.agency.id;
    let row = applications::by_agency_reference(&app.db, agency, &update.agency_reference).await?.ok_or_else(|| {
        ServiceError::UnknownReference { agency: agency.clone(), reference: update.agency_reference.clone() }
    })?;
    let event = super::follow::moved(call, &row, update.status, update.message, "status updated by agency").await?;
    let answer = CallbackAnswer {
        agency_reference: update.agency_reference,
        status: event.status,
        request_id: call.request_id.clone(),
    };
    Ok((row.service, answer))
}
