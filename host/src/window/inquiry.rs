//! Asking an agency: the host validates the form, hands the adapter the normalized values
//! (and, when granted, the citizen's identity), and answers with the agency's document.

use std::collections::BTreeMap;

use super::ServiceError;
use super::call::{AdapterCall, input_hash, once_recorded};
use super::views::{DocumentView, InquiryAnswer};
use crate::app::App;
use crate::auth::Citizen;
use crate::plugins::Operation;
use crate::runtime::bindings::ServiceKind;
use crate::text::Lang;

/// Runs an inquiry of `agency`'s `service` for `citizen` (or anonymously): the agency's
/// answer, recorded as evidence either way.
pub async fn inquiry(
    app: &App,
    lang: Lang,
    (agency, service): (&str, &str),
    citizen: Option<&Citizen>,
    input: &BTreeMap<String, serde_json::Value>,
) -> Result<InquiryAnswer, ServiceError> {
    let (call, input) = AdapterCall::admit(app, lang, (agency, service), ServiceKind::Inquiry, citizen, input)?;
    let request_hash = input_hash(&input);
    let answer = async {
        let ctx = call.context().await?;
        let document = call.settle(call.adapter.inquire(ctx, input).await)?;
        Ok(InquiryAnswer { request_id: call.request_id.clone(), document: DocumentView::new(lang, &document) })
    }
    .await;
    let recorded = call.record(Operation::Inquire, service, request_hash, answer.as_ref()).await;
    once_recorded(answer, recorded)
}
