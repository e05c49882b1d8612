//! The citizen API: the catalogue and calls to services.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::errors::{ADAPTER_CALL, problems};
use super::extract::{ApiJson, ApiPath, ApiQuery, ClientAddr};
use super::problem::{Bilingual, Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::runtime::bindings::ServiceKind;
use crate::window::catalogue::{self, Filters};
use crate::window::inquiry::inquiry;
use crate::window::views::{AgencyList, AgencyView, InquiryAnswer, ServiceDetail, ServiceList};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(agencies))
        .routes(routes!(services))
        .routes(routes!(service))
        .routes(routes!(inquire))
}

/// A service's place in the API: its agency and its id there.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ServicePath {
    /// The agency's id, e.g. `traffic-police`.
    pub agency: String,
    /// The service's id within the agency, e.g. `fines`.
    pub service: String,
}

/// The agencies serving now, with how many services each offers.
#[utoipa::path(
    get, path = "/agencies", tag = "catalogue", params(Lang),
    responses((status = 200, description = "The agencies serving now", body = AgencyList)),
)]
async fn agencies(State(app): State<Arc<App>>, lang: Lang) -> Json<AgencyList> {
    let adapters = app.registry.snapshot();
    Json(AgencyList { agencies: adapters.values().map(|slot| AgencyView::new(lang, &slot.adapter.agency)).collect() })
}

/// Catalogue filters.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CatalogueQuery {
    /// Free text, matched against titles and descriptions in both languages.
    pub q: Option<String>,
    pub category: Option<String>,
    pub agency: Option<String>,
    /// National services plus those of this province.
    pub province: Option<String>,
    /// `inquiry` or `application`.
    #[param(pattern = "^(inquiry|application)$")]
    pub kind: Option<String>,
}

impl CatalogueQuery {
    /// The use case's filters; a `kind` that is neither inquiry nor application is refused.
    pub fn filters(&self) -> Result<Filters, Problem> {
        let kind = match self.kind.as_deref() {
            None => None,
            Some(kind) => Some(kind.parse::<ServiceKind>().map_err(|_| {
                Problem::bad_request(Bilingual::new(
                    "نوع خدمت باید inquiry یا application باشد",
                    "kind must be `inquiry` or `application`",
                ))
            })?),
        };
        Ok(Filters {
            text: self.q.clone(),
            category: self.category.clone(),
            agency: self.agency.clone(),
            province: self.province.clone(),
            kind,
        })
    }
}

/// Searches the catalogue. `q` matches Persian and English titles, descriptions and
/// categories with Persian folding (Arabic ي and ك, Persian digits, ZWNJ, diacritics);
/// national services are always listed, provincial ones only for their `province`.
#[utoipa::path(
    get, path = "/services", tag = "catalogue", params(CatalogueQuery, Lang),
    responses(
        (status = 200, description = "The matching services, in catalogue order", body = ServiceList),
        (status = 400, description = "An unknown filter or a `kind` other than inquiry or application"),
    ),
)]
async fn services(
    State(app): State<Arc<App>>,
    lang: Lang,
    ApiQuery(query): ApiQuery<CatalogueQuery>,
) -> Result<Json<ServiceList>, Problem> {
    let services = catalogue::search(&app.registry, lang, &query.filters()?);
    Ok(Json(ServiceList { count: services.len(), services }))
}

/// One service: its description, the fields of its form and the identity attributes it
/// receives.
#[utoipa::path(
    get, path = "/services/{agency}/{service}", tag = "catalogue", params(ServicePath, Lang),
    responses(
        (status = 200, description = "The service and its form", body = ServiceDetail),
        (status = 404, description = "No such agency, or no such service at it"),
    ),
)]
async fn service(
    State(app): State<Arc<App>>,
    lang: Lang,
    ApiPath(path): ApiPath<ServicePath>,
) -> Result<Json<ServiceDetail>, Problem> {
    Ok(Json(catalogue::service(&app.registry, lang, &path.agency, &path.service)?))
}

/// The body of an inquiry or application: the form's values by field name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Values by field name: strings, or numbers for `number` fields. The host normalizes
    /// them (Persian digits, separators) and checks each against its field's type first.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"bill-id": "7748317800142", "payment-id": "1770160"}))]
    pub input: BTreeMap<String, serde_json::Value>,
}

problems!(InquiryProblems: ADAPTER_CALL, ["wrong-service-kind", "sign-in-required", "assurance-too-low", "service-for-persons", "service-for-legal-entities", "outside-mandate", "registry-unavailable"]);

/// Asks an agency: the host validates the form, hands the adapter the normalized values
/// (and, when granted, the citizen's identity) and answers with the agency's document.
/// Without a session, the client must be within its per-client limit first.
#[utoipa::path(
    post, path = "/services/{agency}/{service}/inquiries", tag = "inquiries", params(ServicePath, Lang),
    request_body = Submission,
    security((), ("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The agency's answer", body = InquiryAnswer),
        (status = 429, description = "Too many inquiries without a session from this client; see Retry-After"),
        InquiryProblems,
    ),
)]
async fn inquire(
    State(app): State<Arc<App>>,
    lang: Lang,
    ApiPath(path): ApiPath<ServicePath>,
    ClientAddr(client): ClientAddr,
    citizen: Option<Citizen>,
    ApiJson(body): ApiJson<Submission>,
) -> Result<Json<InquiryAnswer>, Problem> {
    if citizen.is_none() {
        let what = Bilingual::new("استعلام بدون ورود", "inquiries without sign-in");
        super::errors::admit_client(&app.limits.anonymous_inquiries, client, what)?;
    }
    let answer = inquiry(&app, lang, (&path.agency, &path.service), citizen.as_ref(), &body.input).await?;
    Ok(Json(answer))
}
