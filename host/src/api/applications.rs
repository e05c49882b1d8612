//! Applications with tracking codes, and the agencies' signed status callbacks.
//!
//! - `POST /api/v1/services/{agency}/{service}/applications`: validate, call the adapter's
//!   `submit`, store the application and its first event, answer 201 with a tracking code.
//!   `Idempotency-Key` makes a retry return the same application.
//! - `GET /api/v1/applications`, `GET /api/v1/applications/{tracking_code}`: the citizen's
//!   own applications only; anyone else's code is answered exactly like an unknown one.
//! - `POST /api/v1/callbacks/{agency}`: the agency pushes a status change, signed with
//!   HMAC-SHA256 under the operator-configured `callback-secret` of its adapter, over a
//!   timestamp and the body: `X-Panjereh-Signature: t=<unix seconds>,sha256=<hex>`. A
//!   timestamp more than [`CALLBACK_WINDOW_SECS`] away is refused, and so is a delivery
//!   with the timestamp and MAC of one accepted before (a replay), however its header is
//!   spelled.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::citizen::{ApiJson, ApiPath, CallRecord, ServicePath, Submission, find, input_hash, new_request_id, settle};
use super::problem::{Bilingual, Lang, Problem};
use super::views::{BillView, status_name};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::access::{self, Purpose};
use crate::auth::session::sign_in_required;
use crate::forms;
use crate::plugins::Adapter;
use crate::runtime::CallError;
use crate::runtime::bindings::{AdapterError, Bill, CallContext, Service, ServiceKind, StatusUpdate, Value};
use crate::store::applications::{self, ApplicationRow, EventRow, PENDING, Reservation};
use crate::store::callback_receipts;
use crate::store::{now_ms, random_id};
use crate::tracking;

/// Header carrying the agency's signature of a callback: `t=<unix seconds>,sha256=<hex>`,
/// the HMAC-SHA256 of `<t>.<body>`.
pub const SIGNATURE_HEADER: &str = "x-panjereh-signature";
/// How far a callback's timestamp may be from the host's clock.
pub const CALLBACK_WINDOW_SECS: i64 = 300;
/// Adapter configuration key holding the callback secret (never handed to the adapter
/// unless the operator also grants it as a config key).
pub const CALLBACK_SECRET_KEY: &str = "callback-secret";
/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;
/// A reservation older than this is from a submit that never finished (the host died).
const STALE_PENDING_MS: i64 = 5 * 60 * 1000;
/// Most applications listed.
const LIST_LIMIT: i64 = 200;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(apply)).routes(routes!(list)).routes(routes!(show)).routes(routes!(callback))
}

/// Raw bodies whose rejections are problem documents.
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = Problem;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiBytes(Bytes::from_request(request, state).await?))
    }
}

impl From<BytesRejection> for Problem {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                Bilingual::new("حجم درخواست بیش از حد مجاز است", "The request body is too large"),
            )
        } else {
            Problem::bad_request(Bilingual::new("بدنه درخواست خوانده نشد", "the request body could not be read"))
        }
    }
}

/// RFC 3339 in UTC with exactly three fractional digits (`2026-11-28T10:15:30.042Z`), so
/// times also sort correctly as strings.
pub fn rfc3339(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(FORMAT).ok())
        .unwrap_or_default()
}

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

/// `GET /api/v1/applications`.
#[derive(Serialize, ToSchema)]
pub struct ApplicationList {
    pub count: usize,
    /// Newest first, without their histories.
    pub applications: Vec<ApplicationView>,
}

/// `Idempotency-Key` of a submit, as described to clients.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IdempotencyHeader {
    /// Up to 255 visible ASCII characters. Sending the same key again returns the
    /// application filed the first time (`Idempotent-Replayed: true`), never a second one.
    #[serde(rename = "Idempotency-Key")]
    #[param(max_length = 255)]
    idempotency_key: Option<String>,
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

/// Reads `Idempotency-Key`: visible ASCII, 1 to 255 characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::bad_request(Bilingual::new(
            "سرآیند Idempotency-Key باید ۱ تا ۲۵۵ نویسه قابل‌چاپ ASCII باشد",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ))),
    }
}

/// What identifies a submission for idempotency: the service and the normalized form.
fn request_hash(agency: &str, service: &str, input: &[Value]) -> String {
    let pairs: Vec<(&str, &str)> = input.iter().map(|v| (v.name.as_str(), v.value.as_str())).collect();
    let canonical = serde_json::to_string(&(agency, service, pairs)).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// What to do with an earlier application under the same idempotency key.
enum Earlier {
    /// Answer with it.
    Replay(Box<ApplicationRow>),
    /// It was abandoned: file anew.
    Retry,
}

async fn earlier(app: &App, existing: ApplicationRow, hash: &str) -> Result<Earlier, Problem> {
    if existing.request_hash != hash {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            Bilingual::new("این کلید تکرار برای درخواست دیگری به کار رفته است", "Idempotency-Key reused"),
        )
        .detail(Bilingual::new(
            "برای درخواستی با اطلاعات متفاوت، کلید تازه‌ای بفرستید.",
            "this key was used for a different submission; send a new key for new input",
        )));
    }
    if existing.status != PENDING {
        return Ok(Earlier::Replay(Box::new(existing)));
    }
    if now_ms() - existing.created_ms > STALE_PENDING_MS {
        applications::discard(&app.db, &existing.id).await?;
        return Ok(Earlier::Retry);
    }
    Err(Problem::new(
        StatusCode::CONFLICT,
        "application-in-progress",
        Bilingual::new("همین درخواست در حال ثبت است", "This application is being filed"),
    )
    .detail(Bilingual::new(
        "درخواست قبلی با همین کلید هنوز پاسخ نگرفته است؛ چند لحظه دیگر دوباره بفرستید.",
        "an earlier request with this Idempotency-Key is still running; retry in a moment",
    ))
    .retry_after(2))
}

/// Where a submission goes: a new pending row to file, or an earlier application.
enum Filing {
    Fresh(ApplicationRow),
    Replay(ApplicationRow),
}

/// Reserves a pending application for this submission, unless the citizen's
/// idempotency key already names one.
async fn reserve(
    app: &App,
    citizen: &Citizen,
    adapter: &Adapter,
    service: &Service,
    key: Option<String>,
    hash: String,
) -> Result<Filing, Problem> {
    // A few rounds: a key's abandoned reservation is removed and retried, and a (2^-60)
    // tracking-code collision just draws another code.
    for _ in 0..4 {
        if let Some(key) = &key
            && let Some(existing) = applications::by_idempotency_key(&app.db, &citizen.subject, key).await?
        {
            match earlier(app, existing, &hash).await? {
                Earlier::Replay(row) => return Ok(Filing::Replay(*row)),
                Earlier::Retry => continue,
            }
        }
        let now = now_ms();
        let row = ApplicationRow {
            id: random_id(),
            tracking_code: tracking::generate(),
            citizen_id: citizen.subject.clone(),
            agency: adapter.agency.id.clone(),
            service: service.id.clone(),
            adapter_id: adapter.manifest.id.clone(),
            adapter_version: adapter.manifest.version.to_string(),
            agency_reference: None,
            status: PENDING.to_owned(),
            idempotency_key: key.clone(),
            request_hash: hash.clone(),
            created_ms: now,
            updated_ms: now,
            actor_id: citizen.actor_id(),
            bills: Vec::new(),
        };
        if let Reservation::Reserved = applications::reserve(&app.db, &row).await? {
            return Ok(Filing::Fresh(row));
        }
    }
    Err(Problem::internal(&"could not reserve an application row after retries"))
}

/// Calls the adapter's `submit` for a reserved application and stores the receipt with
/// the first event and its bills; on any failure the reservation is removed.
async fn file(
    app: &App,
    lang: Lang,
    citizen: &Citizen,
    adapter: &Adapter,
    service: &Service,
    input: Vec<Value>,
    mut row: ApplicationRow,
) -> Result<ApplicationRow, Problem> {
    let request_id = new_request_id();
    let request_hash = input_hash(&input);
    let submitted = async {
        let who = access::disclose(&app.db, adapter, service, Some(citizen), Purpose::Application, &request_id).await?;
        let ctx = CallContext {
            request_id: request_id.clone(),
            service: service.id.clone(),
            citizen: who,
            locale: lang.code().to_owned(),
        };
        settle(adapter, &request_id, adapter.submit(ctx, input).await)
    };
    let submitted = submitted.await;
    let evidence =
        submitted.as_ref().map(|r| json!({"agency_reference": r.agency_reference, "status": status_name(r.status)}));
    CallRecord {
        kind: "call.submit",
        service: &service.id,
        request_id: &request_id,
        citizen: Some(citizen.acting_person()),
        on_behalf_of: citizen.actor.as_ref().map(|_| citizen.subject.as_str()),
        request_hash,
    }
    .append(app, adapter, &evidence.map_err(Problem::clone))
    .await;
    let receipt = match submitted {
        Ok(receipt) => receipt,
        Err(problem) => {
            applications::discard(&app.db, &row.id).await?;
            return Err(problem);
        }
    };
    let event = EventRow {
        status: status_name(receipt.status).to_owned(),
        message_fa: receipt.message.fa,
        message_en: receipt.message.en,
        actor: "citizen".to_owned(),
        at_ms: now_ms(),
    };
    applications::complete(&app.db, &row.id, &receipt.agency_reference, &event).await?;
    applications::add_bills(&app.db, &row.id, &stored_bills(&receipt.bills)).await?;
    tracing::info!(tracking_code = %row.tracking_code, agency = %row.agency, service = %row.service, request_id, "application filed");
    if !matches!(
        receipt.status,
        crate::runtime::bindings::Status::Approved
            | crate::runtime::bindings::Status::Rejected
            | crate::runtime::bindings::Status::Completed
            | crate::runtime::bindings::Status::Cancelled
    ) {
        crate::background::follow(app, &row.id).await?;
    }
    row.agency_reference = Some(receipt.agency_reference);
    row.status = event.status;
    row.updated_ms = event.at_ms;
    row.bills = stored_bills(&receipt.bills);
    Ok(row)
}

/// Bills as an application keeps them.
pub fn stored_bills(bills: &[Bill]) -> Vec<applications::StoredBill> {
    bills
        .iter()
        .map(|b| applications::StoredBill {
            bill_id: b.bill_id.clone(),
            payment_id: b.payment_id.clone(),
            amount_rial: b.amount_rial,
            title_fa: b.title.fa.clone(),
            title_en: b.title.en.clone(),
        })
        .collect()
}

/// Files an application: the host validates the form, the agency's adapter accepts it, and
/// the host answers with a tracking code and the first entry of its history.
#[utoipa::path(
    post, path = "/services/{agency}/{service}/applications", tag = "applications",
    params(ServicePath, IdempotencyHeader, Lang),
    request_body = Submission,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 201, description = "Filed (or, with a replayed Idempotency-Key, filed before)", body = ApplicationView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the earlier application"))),
        (status = 400, description = "A malformed Idempotency-Key"),
        (status = 401, description = "Not signed in, or the token is not valid"),
        (status = 403, description = "The session's assurance is below the service's, or the agency refused"),
        (status = 404, description = "No such service"),
        (status = 409, description = "The service is an inquiry, or the key was used with a different form"),
        (status = 422, description = "Fields the host or the agency refused, each with its reason"),
        (status = 502, description = "The adapter failed, exceeded its memory, or answered past the host's caps"),
        (status = 503, description = "The adapter is disabled, busy, or the agency's system is down"),
        (status = 504, description = "The adapter or the agency ran out of time"),
    ),
)]
async fn apply(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    lang: Lang,
    ApiPath(path): ApiPath<ServicePath>,
    citizen: Option<Citizen>,
    ApiJson(body): ApiJson<Submission>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let (view, replayed) =
        file_application(&app, lang, &path.agency, &path.service, citizen.as_ref(), &body.input, key).await?;
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Files an application (or finds the one filed earlier under the same idempotency key):
/// the view with its history, and whether it was a replay. Shared by the API and the portal.
pub async fn file_application(
    app: &App,
    lang: Lang,
    agency: &str,
    service: &str,
    citizen: Option<&Citizen>,
    input: &std::collections::BTreeMap<String, serde_json::Value>,
    key: Option<String>,
) -> Result<(ApplicationView, bool), Problem> {
    let (adapter, index) = find(app, agency, service)?;
    let descriptor = &adapter.agency.services[index];
    if descriptor.kind != ServiceKind::Application {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "wrong-service-kind",
            Bilingual::new("این خدمت درخواست نیست؛ استعلام کنید", "this service is an inquiry, not an application"),
        ));
    }
    access::admit(descriptor, citizen)?;
    if let Some(citizen) = citizen {
        super::representation::recheck(app, citizen).await?;
    }
    // An application is always someone's: even a service open to anonymous use needs a
    // signed-in citizen to file (and later find) an application.
    let citizen = citizen.ok_or_else(|| {
        sign_in_required(Bilingual::new("برای ثبت درخواست باید وارد شوید.", "sign in to file an application"))
    })?;
    let input = forms::validate(&descriptor.fields, input).map_err(Problem::invalid_input)?;
    let hash = request_hash(&adapter.agency.id, &descriptor.id, &input);
    let (row, replayed) = match reserve(app, citizen, &adapter, descriptor, key, hash).await? {
        Filing::Replay(row) => (row, true),
        Filing::Fresh(row) => (file(app, lang, citizen, &adapter, descriptor, input, row).await?, false),
    };
    let history = applications::events(&app.db, &row.id).await?;
    let view = ApplicationView::new(app, lang, row, Some(history));
    Ok((view, replayed))
}

/// The signed-in citizen's applications, newest first.
#[utoipa::path(
    get, path = "/applications", tag = "applications", params(Lang),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The citizen's applications", body = ApplicationList),
        (status = 401, description = "Not signed in, or the token is not valid"),
    ),
)]
async fn list(State(app): State<Arc<App>>, lang: Lang, citizen: Citizen) -> Result<Json<ApplicationList>, Problem> {
    let applications = list_applications(&app, lang, &citizen).await?;
    Ok(Json(ApplicationList { count: applications.len(), applications }))
}

/// The citizen's applications, newest first, without their histories.
pub async fn list_applications(app: &App, lang: Lang, citizen: &Citizen) -> Result<Vec<ApplicationView>, Problem> {
    let rows = applications::list_for(&app.db, &citizen.subject, LIST_LIMIT).await?;
    Ok(rows.into_iter().map(|r| ApplicationView::new(app, lang, r, None)).collect())
}

fn no_application(hint: Option<Bilingual>) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "application-not-found",
        Bilingual::new("درخواستی با این کد پیگیری یافت نشد", "No application with this tracking code"),
    )
    .detail(hint.unwrap_or_else(|| {
        Bilingual::new(
            "کد پیگیری را با آنچه هنگام ثبت دریافت کردید مقایسه کنید.",
            "compare the tracking code with the one you received when you applied",
        )
    }))
}

/// One of the citizen's applications with its full status history. Another citizen's
/// tracking code is answered exactly like an unknown one.
#[utoipa::path(
    get, path = "/applications/{code}", tag = "applications",
    params(("code" = String, Path, description = "The tracking code, as typed (case, dashes and Persian digits are forgiven)"), Lang),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The application and its history", body = ApplicationView),
        (status = 401, description = "Not signed in, or the token is not valid"),
        (status = 404, description = "No application of this citizen has the code (a mistyped character is named)"),
    ),
)]
async fn show(
    State(app): State<Arc<App>>,
    lang: Lang,
    ApiPath(code): ApiPath<String>,
    citizen: Citizen,
) -> Result<Json<ApplicationView>, Problem> {
    Ok(Json(application(&app, lang, &citizen, &code).await?))
}

/// One of the citizen's applications by tracking code (as typed), with its history.
pub async fn application(app: &App, lang: Lang, citizen: &Citizen, code: &str) -> Result<ApplicationView, Problem> {
    let code = tracking::parse(code).map_err(|error| {
        no_application(Some(match error {
            tracking::TrackingCodeError::Check => Bilingual::new(
                "نویسه کنترلی کد پیگیری نمی‌خواند؛ احتمالاً یکی از نویسه‌ها اشتباه وارد شده است.",
                "the tracking code's check character does not match: a character is probably mistyped",
            ),
            _ => Bilingual::new(
                "کد پیگیری به شکل PJ-XXXX-XXXX-XXXX-X است.",
                "a tracking code looks like PJ-XXXX-XXXX-XXXX-X",
            ),
        }))
    })?;
    let row =
        applications::by_tracking_code(&app.db, &citizen.subject, &code).await?.ok_or_else(|| no_application(None))?;
    let history = applications::events(&app.db, &row.id).await?;
    Ok(ApplicationView::new(app, lang, row, Some(history)))
}

/// A 401 for callbacks; the precise reason is logged, not sent.
fn bad_signature(agency: &str, reason: &str) -> Problem {
    tracing::warn!(agency, reason, "callback refused");
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "callback-signature",
        Bilingual::new("امضای فراخوان معتبر نیست", "The callback signature is not valid"),
    )
    .detail(Bilingual::new(
        "زمان کنونی (ثانیه‌های یونیکس) و بدنه را به شکل <t>.<body> با HMAC-SHA256 و کلید مشترک امضا کنید و در سرآیند X-Panjereh-Signature به شکل t=<t>,sha256=<hex> بفرستید؛ ساعت شما باید با ساعت سامانه حداکثر پنج دقیقه فاصله داشته باشد.",
        "sign `<t>.<body>`, where t is the current Unix time in seconds, with HMAC-SHA256 under the shared secret and send X-Panjereh-Signature: t=<t>,sha256=<hex>; your clock must be within five minutes of the host's",
    ))
}

/// Length of an HMAC-SHA256.
const MAC_LEN: usize = 32;

/// The timestamp and MAC of a callback's signature header, read strictly: exactly one `t`
/// and one `sha256`, in either order, joined by a comma with no white space; `t` in
/// canonical decimal (no sign, no leading zero), so that one timestamp has one spelling;
/// the MAC 64 hex digits of either case. Anything else is refused rather than guessed at.
fn parse_signature(header: &str) -> Option<(i64, [u8; MAC_LEN])> {
    let (mut timestamp, mut mac) = (None, None);
    for part in header.split(',') {
        match part.split_once('=')? {
            ("t", t) if timestamp.is_none() => {
                let canonical = !t.is_empty()
                    && t.len() <= 18
                    && t.bytes().all(|b| b.is_ascii_digit())
                    && (t == "0" || !t.starts_with('0'));
                timestamp = Some(t.parse::<i64>().ok().filter(|_| canonical)?);
            }
            ("sha256", hex_mac) if mac.is_none() => {
                let mut bytes = [0u8; MAC_LEN];
                hex::decode_to_slice(hex_mac, &mut bytes).ok()?;
                mac = Some(bytes);
            }
            _ => return None,
        }
    }
    Some((timestamp?, mac?))
}

/// What makes a delivery the same delivery: the agency, the timestamp and the MAC's bytes,
/// never the header's text, which has more than one spelling of the same signature (hex
/// case, field order). Each part has a fixed length or a length prefix.
fn callback_receipt(agency: &str, timestamp: i64, mac: &[u8; MAC_LEN]) -> String {
    let mut h = Sha256::new();
    h.update((agency.len() as u64).to_be_bytes());
    h.update(agency.as_bytes());
    h.update(timestamp.to_be_bytes());
    h.update(mac);
    hex::encode(h.finalize())
}

/// Checks a callback's signature and freshness, and records it so that it works once.
/// Answers the receipt to forget if the callback then fails.
async fn authenticate_callback(
    app: &App,
    agency: &str,
    adapter_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, Problem> {
    let secret = app
        .config
        .adapters
        .get(adapter_id)
        .and_then(|s| s.config.get(CALLBACK_SECRET_KEY))
        .filter(|s| !s.value.is_empty())
        .ok_or_else(|| bad_signature(agency, "no callback-secret is configured for the adapter"))?;
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (timestamp, signature) =
        parse_signature(header).ok_or_else(|| bad_signature(agency, "missing or malformed signature header"))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.value.as_bytes())
        .map_err(|_| bad_signature(agency, "unusable secret"))?;
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&signature).map_err(|_| bad_signature(agency, "signature mismatch"))?;
    let now = now_ms();
    if (now / 1000 - timestamp).abs() > CALLBACK_WINDOW_SECS {
        return Err(bad_signature(agency, "timestamp outside the window (a clock off, or an old callback replayed)"));
    }
    let receipt = callback_receipt(agency, timestamp, &signature);
    let expires = (timestamp + CALLBACK_WINDOW_SECS) * 1000 + 1000;
    if !callback_receipts::record(&app.db, &receipt, agency, now, expires).await? {
        tracing::warn!(agency, "callback replayed");
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "callback-replayed",
            Bilingual::new("این فراخوان پیش‌تر پذیرفته شده است", "This callback was already accepted"),
        )
        .detail(Bilingual::new(
            "هر فراخوان یک بار پذیرفته می‌شود؛ برای ارسال دوباره، آن را با زمان تازه امضا کنید.",
            "each delivery is accepted once; to send again, sign it with a fresh timestamp",
        )));
    }
    Ok(receipt)
}

/// What an agency's callback changed.
#[derive(Serialize, ToSchema)]
pub struct CallbackAnswer {
    pub agency_reference: String,
    /// The application's new status.
    pub status: String,
    pub request_id: String,
}

/// An agency pushes a status change. The body is the agency's own format, read by its
/// adapter's `on-callback`; the host checks the signature first.
#[utoipa::path(
    post, path = "/callbacks/{agency}", tag = "agencies",
    params(
        ("agency" = String, Path, description = "The agency's id"),
        ("X-Panjereh-Signature" = String, Header,
            description = "`t=<unix seconds>,sha256=<hex>`: HMAC-SHA256 of `<t>.<body>` under the adapter's \
                `callback-secret`; t within five minutes of the host's clock"),
    ),
    request_body(content = Vec<u8>, content_type = "application/json", description = "The agency's message, as its adapter reads it"),
    responses(
        (status = 200, description = "The application's history has the new status", body = CallbackAnswer),
        (status = 401, description = "A missing, malformed or wrong signature, or a stale timestamp"),
        (status = 409, description = "This delivery was accepted before (a replay)"),
        (status = 404, description = "No such agency, or no application with the reference"),
        (status = 422, description = "The adapter could not read the message"),
        (status = 502, description = "The adapter failed, or answered past the host's caps"),
        (status = 503, description = "The adapter is disabled for maintenance; retry later"),
    ),
)]
async fn callback(
    State(app): State<Arc<App>>,
    ApiPath(agency): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<CallbackAnswer>, Problem> {
    // The agency's adapter, unless an operator has disabled it (the agency retries later).
    let slot = app.registry.get(&agency).ok_or_else(|| {
        Problem::not_found(Bilingual::new(format!("دستگاه «{agency}» یافت نشد"), format!("no agency `{agency}`")))
    })?;
    if !slot.enabled {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            Bilingual::new("این دستگاه موقتاً در دست تعمیر است", "This agency is temporarily down for maintenance"),
        )
        .adapter(slot.adapter.manifest.id.clone())
        .retry_after(300));
    }
    let adapter = slot.adapter;
    let receipt = authenticate_callback(&app, &agency, &adapter.manifest.id, &headers, &body).await?;

    let request_id = new_request_id();
    let outcome = adapter.on_callback(&request_id, body.to_vec()).await;
    let mut service = String::new();
    let result = apply_update(&app, &adapter, &request_id, outcome, &mut service).await;
    CallRecord {
        kind: "call.callback",
        service: &service,
        request_id: &request_id,
        citizen: None,
        on_behalf_of: None,
        request_hash: crate::audit::sha256_hex(&body),
    }
    .append(&app, &adapter, &result)
    .await;
    if result.is_err() {
        // Not applied: the agency may deliver the same callback again.
        callback_receipts::forget(&app.db, &receipt).await?;
    }
    result.map(Json)
}

/// Appends the status change an adapter read from a callback to its application's
/// history; `service` is set to the application's service once it is found.
async fn apply_update(
    app: &App,
    adapter: &Adapter,
    request_id: &str,
    outcome: Result<Result<StatusUpdate, AdapterError>, CallError>,
    service: &mut String,
) -> Result<CallbackAnswer, Problem> {
    let update = settle(adapter, request_id, outcome)?;
    let agency = &adapter.agency.id;
    let row = applications::by_agency_reference(&app.db, agency, &update.agency_reference).await?.ok_or_else(|| {
        Problem::not_found(Bilingual::new(
            format!("درخواستی با شماره «{}» از این دستگاه یافت نشد", update.agency_reference),
            format!("no application of agency `{agency}` has reference `{}`", update.agency_reference),
        ))
    })?;
    service.clone_from(&row.service);
    let event = EventRow {
        status: status_name(update.status).to_owned(),
        message_fa: update.message.fa,
        message_en: update.message.en,
        actor: "agency".to_owned(),
        at_ms: now_ms(),
    };
    applications::append_event(&app.db, &row.id, &event).await?;
    tracing::info!(tracking_code = %row.tracking_code, agency, status = %event.status, request_id, "status updated by agency");
    crate::background::status_changed(
        app,
        &row.citizen_id,
        &row.tracking_code,
        &event.status,
        &event.message_fa,
        &event.message_en,
    )
    .await?;
    Ok(CallbackAnswer {
        agency_reference: update.agency_reference,
        status: event.status,
        request_id: request_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_have_a_fixed_width() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_764_324_930_042), "2025-11-28T10:15:30.042Z");
        assert!(super::rfc3339(1_000) > super::rfc3339(999));
    }
}
