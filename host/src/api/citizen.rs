//! The citizen API: the catalogue and calls to services.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{Bilingual, FieldProblem, Lang, Problem};
use super::views::{AgencyList, AgencyView, DocumentView, InquiryAnswer, ServiceDetail, ServiceList, ServiceSummary};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::access::{self, Purpose};
use crate::auth::throttle::ClientAddr;
use crate::forms;
use crate::plugins::catalogue::Entry;
use crate::plugins::{Adapter, Slot};
use crate::runtime::CallError;
use crate::runtime::bindings::{AdapterError, CallContext, Scope, ServiceKind, Text};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(agencies))
        .routes(routes!(services))
        .routes(routes!(service))
        .routes(routes!(inquire))
}

/// JSON bodies whose rejections are problem documents.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejections are problem documents.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct ApiPath<T>(pub T);

/// Query strings whose rejections are problem documents.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct ApiQuery<T>(pub T);

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

fn matches(query: &CatalogueQuery, entry: &Entry, needle: Option<&str>) -> bool {
    let service = entry.service();
    if query.agency.as_deref().is_some_and(|a| a != entry.adapter.agency.id) {
        return false;
    }
    if query.category.as_deref().is_some_and(|c| c != service.category.id) {
        return false;
    }
    if let Some(kind) = query.kind.as_deref() {
        let is = match service.kind {
            ServiceKind::Inquiry => "inquiry",
            ServiceKind::Application => "application",
        };
        if kind != is {
            return false;
        }
    }
    if let Scope::Province(p) = &service.scope
        && query.province.as_deref().is_some_and(|q| q != p)
    {
        return false;
    }
    needle.is_none_or(|needle| entry.mentions(needle))
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
    let services = catalogue(&app, lang, &query)?;
    Ok(Json(ServiceList { count: services.len(), services }))
}

/// The services matching `query`, in catalogue order (shared by the API and the portal).
pub fn catalogue(app: &App, lang: Lang, query: &CatalogueQuery) -> Result<Vec<ServiceSummary>, Problem> {
    if let Some(kind) = query.kind.as_deref()
        && !matches!(kind, "inquiry" | "application")
    {
        return Err(Problem::bad_request(Bilingual::new(
            "نوع خدمت باید inquiry یا application باشد",
            "kind must be `inquiry` or `application`",
        )));
    }
    let needle = query.q.as_deref().map(panjereh_formats::text::search_key).filter(|n| !n.is_empty());
    Ok(app
        .registry
        .catalogue()
        .entries
        .iter()
        .filter(|entry| matches(query, entry, needle.as_deref()))
        .map(|entry| ServiceSummary::new(lang, &entry.adapter.agency, entry.service(), entry.enabled))
        .collect())
}

/// The adapter and service index for a path, whether or not the adapter is enabled.
fn find_any(app: &App, agency: &str, service: &str) -> Result<(Slot, usize), Problem> {
    let slot = app.registry.get(agency).ok_or_else(|| {
        Problem::not_found(Bilingual::new(format!("دستگاه «{agency}» یافت نشد"), format!("no agency `{agency}`")))
    })?;
    let index = slot.adapter.agency.services.iter().position(|s| s.id == service).ok_or_else(|| {
        Problem::not_found(Bilingual::new(
            format!("خدمت «{service}» در این دستگاه یافت نشد"),
            format!("agency `{agency}` has no service `{service}`"),
        ))
    })?;
    Ok((slot, index))
}

/// The adapter to call for a path: 404 when unknown, 503 while an operator has it disabled.
pub fn find(app: &App, agency: &str, service: &str) -> Result<(Arc<Adapter>, usize), Problem> {
    let (slot, index) = find_any(app, agency, service)?;
    if !slot.enabled {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            Bilingual::new("این خدمت موقتاً در دست تعمیر است", "This service is temporarily down for maintenance"),
        )
        .detail(Bilingual::new(
            "دستگاه ارائه‌دهنده این خدمت را موقتاً غیرفعال کرده است. لطفاً بعداً دوباره تلاش کنید.",
            "The agency's adapter has been disabled by an operator for maintenance. Please try again later.",
        ))
        .adapter(slot.adapter.manifest.id.clone())
        .retry_after(300));
    }
    Ok((slot.adapter, index))
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
    Ok(Json(service_detail(&app, lang, &path.agency, &path.service)?))
}

/// One service's description and form, whether or not its adapter is enabled.
pub fn service_detail(app: &App, lang: Lang, agency: &str, service: &str) -> Result<ServiceDetail, Problem> {
    let (slot, index) = find_any(app, agency, service)?;
    Ok(ServiceDetail::new(lang, &slot.adapter.agency, &slot.adapter.agency.services[index], slot.enabled))
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

/// Asks an agency: the host validates the form, hands the adapter the normalized values
/// (and, when granted, the citizen's identity) and answers with the agency's document.
#[utoipa::path(
    post, path = "/services/{agency}/{service}/inquiries", tag = "inquiries", params(ServicePath, Lang),
    request_body = Submission,
    security((), ("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The agency's answer", body = InquiryAnswer),
        (status = 401, description = "The service needs a signed-in citizen, or the token is not valid"),
        (status = 403, description = "The session's assurance is below the service's, or the agency refused"),
        (status = 404, description = "No such service, or the agency found nothing"),
        (status = 409, description = "The service is an application, not an inquiry"),
        (status = 422, description = "Fields the host or the agency refused, each with its reason"),
        (status = 429, description = "Too many inquiries without a session from this client; see Retry-After"),
        (status = 502, description = "The adapter failed, exceeded its memory, or answered past the host's caps"),
        (status = 503, description = "The adapter is disabled, busy, or the agency's system is down"),
        (status = 504, description = "The adapter or the agency ran out of time"),
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
    inquiry(&app, lang, &path.agency, &path.service, client, citizen.as_ref(), &body.input).await.map(Json)
}

/// Runs an inquiry: admission, host validation, the adapter call and its evidence record
/// (shared by the API and the portal). Without a session, `client` must be within its
/// per-client limit first.
pub async fn inquiry(
    app: &App,
    lang: Lang,
    agency: &str,
    service: &str,
    client: std::net::IpAddr,
    citizen: Option<&Citizen>,
    input: &BTreeMap<String, serde_json::Value>,
) -> Result<InquiryAnswer, Problem> {
    if citizen.is_none() {
        app.limits
            .anonymous_inquiries
            .admit(client, Bilingual::new("استعلام بدون ورود", "inquiries without sign-in"))?;
    }
    let (adapter, index) = find(app, agency, service)?;
    let descriptor = &adapter.agency.services[index];
    if descriptor.kind != ServiceKind::Inquiry {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "wrong-service-kind",
            Bilingual::new("این خدمت استعلام نیست؛ درخواست ثبت کنید", "this service is an application, not an inquiry"),
        ));
    }
    access::admit(descriptor, citizen)?;
    let input = forms::validate(&descriptor.fields, input).map_err(Problem::invalid_input)?;
    let request_id = new_request_id();
    let request_hash = input_hash(&input);
    let who = access::disclose(&app.db, &adapter, descriptor, citizen, Purpose::Inquiry, &request_id).await?;
    let ctx = CallContext {
        request_id: request_id.clone(),
        service: service.to_owned(),
        citizen: who,
        locale: lang.code().to_owned(),
    };
    let outcome = adapter.inquire(ctx, input).await;
    let result = settle(&adapter, &request_id, outcome)
        .map(|document| InquiryAnswer { request_id: request_id.clone(), document: DocumentView::new(lang, &document) });
    CallRecord {
        kind: "call.inquire",
        service,
        request_id: &request_id,
        citizen: citizen.map(Citizen::acting_person),
        on_behalf_of: citizen.and_then(|c| c.actor.as_ref().map(|_| c.subject.as_str())),
        request_hash,
    }
    .append(app, &adapter, &result)
    .await;
    result
}

/// Hash of a call's normalized input, for the evidence log (the input itself is never logged).
pub fn input_hash(input: &[crate::runtime::bindings::Value]) -> String {
    let mut bytes = Vec::new();
    for v in input {
        for part in [v.name.as_bytes(), v.value.as_bytes()] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
    }
    crate::audit::sha256_hex(&bytes)
}

/// What the evidence log keeps of one adapter call: metadata and hashes, never payloads.
pub struct CallRecord<'a> {
    /// `call.inquire`, `call.submit`, `call.status`, `call.callback`.
    pub kind: &'static str,
    pub service: &'a str,
    pub request_id: &'a str,
    /// The citizen's pseudonym, when signed in: who acted.
    pub citizen: Option<&'a str>,
    /// Whom they acted for, when not for themselves (a legal entity, a minor).
    pub on_behalf_of: Option<&'a str>,
    /// [`input_hash`] of the request.
    pub request_hash: String,
}

impl CallRecord<'_> {
    /// Appends the call, with the hash of the answer the caller got, to the evidence log.
    pub async fn append(self, app: &App, adapter: &Adapter, result: &Result<impl Serialize, Problem>) {
        let (status, response_hash) = match result {
            Ok(body) => (200, crate::audit::sha256_hex(&serde_json::to_vec(body).unwrap_or_default())),
            Err(problem) => {
                (problem.status.as_u16(), crate::audit::sha256_hex(problem.body(Lang::En).to_string().as_bytes()))
            }
        };
        app.audit
            .record_later(crate::audit::Entry {
                kind: self.kind.to_owned(),
                actor: self.citizen.unwrap_or("anonymous").to_owned(),
                subject: adapter.manifest.id.clone(),
                data: json!({
                    "request_id": self.request_id,
                    "agency": adapter.agency.id,
                    "service": self.service,
                    "adapter_version": adapter.manifest.version.to_string(),
                    "adapter_digest": adapter.digest,
                    "request_hash": self.request_hash,
                    "response_hash": response_hash,
                    "status": status,
                    "on_behalf_of": self.on_behalf_of,
                }),
            })
            .await;
    }
}

/// A random request id (64 bits, hex).
pub fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Turns an adapter call's outcome into the answer or a problem naming the adapter.
pub fn settle<T>(
    adapter: &Adapter,
    request_id: &str,
    outcome: Result<Result<T, AdapterError>, CallError>,
) -> Result<T, Problem> {
    let id = adapter.manifest.id.clone();
    let text = |t: Text| Bilingual::new(t.fa, t.en);
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(AdapterError::InvalidInput(errors))) => Err(Problem::invalid_input(
            errors.into_iter().map(|e| FieldProblem { field: e.field, message: text(e.message) }).collect(),
        )
        .adapter(id)),
        Ok(Err(AdapterError::NotFound(message))) => Err(Problem::not_found(text(message)).adapter(id)),
        Ok(Err(AdapterError::Forbidden(message))) => {
            Err(Problem::new(StatusCode::FORBIDDEN, "forbidden", Bilingual::new("دسترسی مجاز نیست", "Forbidden"))
                .detail(text(message))
                .adapter(id))
        }
        Ok(Err(AdapterError::Unavailable(message))) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "agency-unavailable",
            Bilingual::new("سامانه دستگاه در دسترس نیست", "The agency's system is unavailable"),
        )
        .detail(text(message))
        .adapter(id)
        .retry_after(30)),
        Ok(Err(AdapterError::Other(reason))) => {
            let reason = adapter.capabilities().redact(&reason);
            tracing::warn!(adapter = %id, request_id, %reason, "adapter returned an error");
            Err(Problem::new(
                StatusCode::BAD_GATEWAY,
                "adapter-error",
                Bilingual::new("سامانه دستگاه خطا داد", "The agency's adapter reported an error"),
            )
            .detail(Bilingual::new(
                format!("شناسه پیگیری خطا: {request_id}"),
                format!("reference for support: {request_id}"),
            ))
            .adapter(id))
        }
        Err(error) => Err(call_failure(&id, request_id, &error)),
    }
}

fn call_failure(adapter: &str, request_id: &str, error: &CallError) -> Problem {
    let reference =
        Bilingual::new(format!("شناسه پیگیری خطا: {request_id}"), format!("reference for support: {request_id}"));
    match error {
        CallError::CpuBudget(budget) => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "adapter-cpu-budget",
            Bilingual::new("پاسخ دستگاه از زمان مجاز طول کشید", "The agency's adapter used up its time budget"),
        )
        .detail(Bilingual::new(
            format!(
                "افزونه «{adapter}» بیش از {} میلی‌ثانیه پردازش کرد و متوقف شد. {}",
                budget.as_millis(),
                reference.fa
            ),
            format!(
                "adapter `{adapter}` ran longer than its {} ms CPU budget and was stopped; {}",
                budget.as_millis(),
                reference.en
            ),
        )),
        CallError::Timeout(limit) => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "adapter-timeout",
            Bilingual::new("دستگاه به موقع پاسخ نداد", "The agency did not answer in time"),
        )
        .detail(Bilingual::new(
            format!("افزونه «{adapter}» در {} ثانیه پاسخ نداد. {}", limit.as_secs(), reference.fa),
            format!("adapter `{adapter}` did not answer within {} s; {}", limit.as_secs(), reference.en),
        )),
        CallError::Memory(limit) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "adapter-memory-limit",
            Bilingual::new("افزونه دستگاه از حافظه مجاز فراتر رفت", "The agency's adapter exceeded its memory limit"),
        )
        .detail(Bilingual::new(
            format!("افزونه «{adapter}» بیش از {} مگابایت حافظه خواست و متوقف شد. {}", limit >> 20, reference.fa),
            format!("adapter `{adapter}` asked for more than {} MiB and was stopped; {}", limit >> 20, reference.en),
        )),
        CallError::Trap(_) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "adapter-failed",
            Bilingual::new("افزونه دستگاه با خطا متوقف شد", "The agency's adapter failed"),
        )
        .detail(Bilingual::new(
            format!("افزونه «{adapter}» با خطا متوقف شد. {}", reference.fa),
            format!("adapter `{adapter}` crashed while handling the request; {}", reference.en),
        )),
        CallError::Oversized(reason) => Problem::new(
            StatusCode::BAD_GATEWAY,
            "adapter-answer-too-large",
            Bilingual::new(
                "پاسخ افزونه دستگاه از اندازه مجاز بزرگ‌تر بود",
                "The agency's adapter answered with too much",
            ),
        )
        .detail(Bilingual::new(
            format!("پاسخ افزونه «{adapter}» از سقف‌های پنجره فراتر رفت و پذیرفته نشد. {}", reference.fa),
            format!("adapter `{adapter}` answered past the host's caps ({reason}) and was refused; {}", reference.en),
        )),
        CallError::Busy => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "adapter-busy",
            Bilingual::new("این خدمت اکنون پرمشغله است", "This service is busy right now"),
        )
        .detail(Bilingual::new("چند لحظه دیگر دوباره تلاش کنید.", "Please try again in a moment."))
        .retry_after(1),
    }
    .adapter(adapter)
}
