//! `/api/v1/me`: who the citizen is to the window, and who used their data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::store::data_usage;
use crate::text::rfc3339;

/// Most data-usage entries returned.
const USAGE_LIMIT: i64 = 500;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(me)).routes(routes!(data_usage))
}

/// The signed-in citizen and their session.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    /// The citizen's pseudonymous id in the window.
    pub subject: String,
    pub national_id: String,
    pub mobile: String,
    /// The session's assurance level: `low`, `substantial` or `high`.
    #[schema(value_type = String, example = "substantial")]
    pub assurance: &'static str,
    /// How the citizen signed in: `otp` or `oidc`.
    pub source: &'static str,
    pub session_expires_at: String,
}

/// Who the window knows the citizen as.
#[utoipa::path(
    get, path = "/me", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The citizen and their session", body = MeView),
        (status = 401, description = "Not signed in, or the token is not valid"),
    ),
)]
async fn me(citizen: Citizen) -> Json<MeView> {
    Json(MeView {
        assurance: citizen.assurance.as_str(),
        session_expires_at: rfc3339(citizen.expires_ms),
        subject: citizen.subject,
        national_id: citizen.national_id,
        mobile: citizen.mobile,
        source: citizen.source.as_str(),
    })
}

/// `GET /api/v1/me/data-usage`.
#[derive(Serialize, ToSchema)]
pub struct UsageList {
    pub count: usize,
    /// Newest first.
    pub entries: Vec<UsageView>,
}

/// One hand-over of an identity attribute, as the citizen reads it.
#[derive(Serialize, ToSchema)]
pub struct UsageView {
    pub agency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency_name: Option<String>,
    pub service: String,
    pub adapter: String,
    /// `national-id` or `mobile`.
    pub attribute: &'static str,
    /// `inquiry` or `application`.
    pub purpose: &'static str,
    pub request_id: String,
    pub at: String,
}

/// Every time the window handed the citizen's national ID or mobile to an agency: which
/// agency and service, for what, and when.
#[utoipa::path(
    get, path = "/me/data-usage", tag = "citizen", params(Lang),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Who used the citizen's data", body = UsageList),
        (status = 401, description = "Not signed in, or the token is not valid"),
    ),
)]
async fn data_usage(State(app): State<Arc<App>>, lang: Lang, citizen: Citizen) -> Result<Json<UsageList>, Problem> {
    let entries = usage(&app, lang, &citizen).await?;
    Ok(Json(UsageList { count: entries.len(), entries }))
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
            attribute: u.attribute.as_str(),
            purpose: u.purpose.as_str(),
            request_id: u.request_id,
            at: rfc3339(u.at_ms),
        })
        .collect())
}
