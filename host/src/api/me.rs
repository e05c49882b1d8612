//! `/api/v1/me`: who the citizen is to the window, and who used their data.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::json;

use super::applications::rfc3339;
use super::problem::{Lang, Problem};
use crate::app::App;
use crate::auth::{Citizen, assurance_name};
use crate::store::data_usage;

/// Most data-usage entries returned.
const USAGE_LIMIT: i64 = 500;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/me", get(me)).route("/me/data-usage", get(data_usage))
}

async fn me(citizen: Citizen) -> Json<serde_json::Value> {
    Json(json!({
        "subject": citizen.subject,
        "national_id": citizen.national_id,
        "mobile": citizen.mobile,
        "assurance": assurance_name(citizen.assurance),
        "source": citizen.source,
        "session_expires_at": rfc3339(citizen.expires_ms),
    }))
}

/// One hand-over of an identity attribute, as the citizen reads it.
#[derive(Serialize)]
pub struct UsageView {
    pub agency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency_name: Option<String>,
    pub service: String,
    pub adapter: String,
    /// `national-id` or `mobile`.
    pub attribute: String,
    /// `inquiry` or `application`.
    pub purpose: String,
    pub request_id: String,
    pub at: String,
}

async fn data_usage(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    citizen: Citizen,
) -> Result<Json<serde_json::Value>, Problem> {
    let entries = usage(&app, Lang::from_headers(&headers), &citizen).await?;
    Ok(Json(json!({ "count": entries.len(), "entries": entries })))
}

/// Who received the citizen's identity attributes, newest first.
pub async fn usage(app: &App, lang: Lang, citizen: &Citizen) -> Result<Vec<UsageView>, Problem> {
    let adapters = app.registry.snapshot();
    Ok(data_usage::list(&app.db, &citizen.subject, USAGE_LIMIT)
        .await?
        .into_iter()
        .map(|u| UsageView {
            agency_name: adapters
                .get(&u.agency)
                .map(|slot| lang.pick(&slot.adapter.agency.name.fa, &slot.adapter.agency.name.en).to_owned()),
            agency: u.agency,
            service: u.service,
            adapter: u.adapter_id,
            attribute: u.attribute,
            purpose: u.purpose,
            request_id: u.request_id,
            at: rfc3339(u.at_ms),
        })
        .collect())
}
