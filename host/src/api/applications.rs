//! Applications with tracking codes, and the agencies' signed status callbacks (the use
//! cases are `window::filing` and `window::callback`).
//!
//! - `POST /api/v1/services/{agency}/{service}/applications`: 201 with a tracking code.
//!   `Idempotency-Key` makes a retry return the same application.
//! - `GET /api/v1/applications`, `GET /api/v1/applications/{tracking_code}`: the citizen's
//!   own applications only; anyone else's code is answered exactly like an unknown one.
//! - `POST /api/v1/callbacks/{agency}`: the agency pushes a status change, signed with
//!   HMAC-SHA256 under the operator-configured `callback-secret` of its adapter, over a
//!   timestamp and the body: `X-Panjereh-Signature: t=<unix seconds>,sha256=<hex>`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::citizen::{ServicePath, Submission};
use super::errors::{ADAPTER_CALL, problems};
use super::extract::{ApiBytes, ApiJson, ApiPath};
use super::problem::{Bilingual, Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::window::callback::{CallbackAnswer, MAC_LEN, Signature, callback as apply_callback};
use crate::window::filing::{self, ApplicationView, Filed};

/// Header carrying the agency's signature of a callback: `t=<unix seconds>,sha256=<hex>`,
/// the HMAC-SHA256 of `<t>.<body>`.
pub const SIGNATURE_HEADER: &str = "x-panjereh-signature";
/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(apply)).routes(routes!(list)).routes(routes!(show)).routes(routes!(callback))
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

problems!(FilingProblems: ADAPTER_CALL, ["wrong-service-kind", "sign-in-required", "assurance-too-low", "service-for-persons", "service-for-legal-entities", "outside-mandate", "idempotency-key-reused", "application-in-progress", "representation-refused", "registry-unavailable"]);

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
        FilingProblems,
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
    let Filed { view, replayed } =
        filing::file(&app, lang, (&path.agency, &path.service), citizen.as_ref(), &body.input, key).await?;
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
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
    let applications = filing::list(&app, lang, &citizen).await?;
    Ok(Json(ApplicationList { count: applications.len(), applications }))
}

problems!(ApplicationProblems: ["sign-in-required", "application-not-found"]);

/// One of the citizen's applications with its full status history. Another citizen's
/// tracking code is answered exactly like an unknown one.
#[utoipa::path(
    get, path = "/applications/{code}", tag = "applications",
    params(("code" = String, Path, description = "The tracking code, as typed (case, dashes and Persian digits are forgiven)"), Lang),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The application and its history", body = ApplicationView),
        ApplicationProblems,
    ),
)]
async fn show(
    State(app): State<Arc<App>>,
    lang: Lang,
    ApiPath(code): ApiPath<String>,
    citizen: Citizen,
) -> Result<Json<ApplicationView>, Problem> {
    Ok(Json(filing::application(&app, lang, &citizen, &code).await?))
}

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

problems!(CallbackProblems: ["not-found", "maintenance", "callback-signature", "callback-replayed", "invalid-input", "adapter-error", "adapter-failed", "adapter-answer-too-large", "adapter-timeout", "adapter-busy"]);

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
        CallbackProblems,
    ),
)]
async fn callback(
    State(app): State<Arc<App>>,
    ApiPath(agency): ApiPath<String>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<Json<CallbackAnswer>, Problem> {
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let signature = parse_signature(header).map(|(timestamp, mac)| Signature { timestamp, mac });
    Ok(Json(apply_callback(&app, &agency, signature, &body).await?))
}
