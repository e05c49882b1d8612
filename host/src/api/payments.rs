//! `/api/v1/payments`: citizens pay bills and fees through the card payment gateway; and
//! the operators' view, `/admin/v1/payments`. The state machine is in
//! [`crate::payments`]; this module turns its answers into HTTP.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::OperatorAuth;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::{Bilingual, FieldProblem, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::payments::{Payable, PaymentError, Payments};
use crate::store::payments::{self as orders, Order, State as OrderState};
use crate::text::rfc3339;

/// Orders listed at most.
const LIST_LIMIT: i64 = 200;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(show)).routes(routes!(mine))
}

pub fn admin_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(admin_list)).routes(routes!(admin_review))
}

/// Body of `POST /api/v1/payments`: a bill by its two IDs, optionally the agency that
/// issued it (to be told of the payment), or a fee of one of the citizen's applications.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    #[schema(example = "7748317800142")]
    pub bill_id: Option<String>,
    #[schema(example = "1770160")]
    pub payment_id: Option<String>,
    /// The agency whose bill this is (its adapter hears of the payment).
    pub agency: Option<String>,
    /// Pay a fee of this application (the applicant, signed in).
    pub tracking_code: Option<String>,
}

/// A payment order.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    /// `created`, `redirected`, `returned`, `verified`, `settled`, `failed`, `reversed`, `expired`.
    pub state: &'static str,
    /// `bill` or `fee`.
    pub kind: String,
    pub bill_id: String,
    pub payment_id: String,
    pub amount_rial: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// The bank's reference number, once verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrn: Option<String>,
    /// The trace number, once verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_card: Option<String>,
    /// Why the order failed or was reversed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<String>,
    /// While `redirected`: the payment page to send the citizen to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pay_url: Option<String>,
    /// The receipt page in the portal.
    pub receipt_url: String,
}

impl PaymentView {
    pub fn of(order: &Order, payments: &Payments) -> PaymentView {
        PaymentView {
            id: order.id.clone(),
            state: order.state.name(),
            kind: order.kind.clone(),
            bill_id: order.bill_id.clone(),
            payment_id: order.payment_id.clone(),
            amount_rial: order.amount_rial,
            tracking_code: order.tracking_code.clone(),
            agency: order.agency.clone(),
            rrn: order.rrn.clone(),
            trace: order.trace.clone(),
            masked_card: order.masked_card.clone(),
            failure: order.failure.clone(),
            created_at: rfc3339(order.created_ms),
            settled_at: order.settled_ms.map(rfc3339),
            pay_url: payments.pay_url(order),
            receipt_url: format!("/payments/{}", order.id),
        }
    }
}

/// The payments service, or a 404 on a host that takes no payments.
pub fn service(app: &App) -> Result<&Arc<Payments>, Problem> {
    app.payments.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "payments-off",
            Bilingual::new("پرداخت در این میزبان فعال نیست", "This host takes no payments"),
        )
    })
}

/// What the citizen asked to pay, checked field by field.
pub fn payable(body: &PaymentRequest) -> Result<Payable, Problem> {
    let required = |name: &str, value: &Option<String>, label: (&str, &str)| {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).ok_or_else(|| FieldProblem {
            field: name.to_owned(),
            message: Bilingual::new(format!("«{}» را وارد کنید", label.0), format!("{} is required", label.1)),
        })
    };
    let bill_id = required("bill_id", &body.bill_id, ("شناسه قبض", "bill_id"));
    let payment_id = required("payment_id", &body.payment_id, ("شناسه پرداخت", "payment_id"));
    match (bill_id, payment_id) {
        (Ok(bill_id), Ok(payment_id)) => Ok(match body.tracking_code.clone() {
            Some(tracking_code) => Payable::Fee { tracking_code, bill_id, payment_id },
            None => Payable::Bill { bill_id, payment_id, agency: body.agency.clone() },
        }),
        (bill_id, payment_id) => {
            Err(Problem::invalid_input([bill_id.err(), payment_id.err()].into_iter().flatten().collect()))
        }
    }
}

/// A payment refusal as a problem (shared by the API and the portal).
pub fn payment_problem(error: PaymentError) -> Problem {
    use panjereh_formats::bill::BillError;
    match error {
        PaymentError::InvalidBill(error) => {
            let field = match error {
                BillError::BillId(_) => "bill_id",
                BillError::PaymentId(_) | BillError::Mismatch(_) => "payment_id",
            };
            let invalid = error.invalid();
            Problem::invalid_input(vec![FieldProblem {
                field: field.to_owned(),
                message: Bilingual::new(invalid.fa.clone(), invalid.en.clone()),
            }])
        }
        PaymentError::AmountMismatch { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment-amount-mismatch",
            Bilingual::new("مبلغ با شناسه پرداخت جور نیست", "The amount does not match the payment ID"),
        ),
        PaymentError::AlreadyPaid { .. } => Problem::new(
            StatusCode::CONFLICT,
            "payment-already-paid",
            Bilingual::new("این قبض قبلاً پرداخت شده است", "This bill was already paid"),
        )
        .detail(Bilingual::new(
            "برای این قبض پرداخت موفق ثبت شده است؛ دوباره پرداخت نکنید.",
            "a successful payment of this bill is on record; it is not paid twice",
        )),
        PaymentError::NoApplication => Problem::not_found(Bilingual::new(
            "درخواستی با این کد رهگیری برای شما پیدا نشد",
            "you have no application with this tracking code",
        )),
        PaymentError::NotBilled => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment-not-billed",
            Bilingual::new("این قبض برای این درخواست صادر نشده است", "This bill was not issued for this application"),
        ),
        PaymentError::SignInRequired => Problem::new(
            StatusCode::UNAUTHORIZED,
            "sign-in-required",
            Bilingual::new("ابتدا وارد شوید", "Sign in first"),
        )
        .detail(Bilingual::new(
            "هزینه‌ی درخواست را متقاضی پس از ورود می‌پردازد.",
            "an application's fee is paid by the applicant, signed in",
        )),
        PaymentError::OutsideMandate => crate::window::ServiceError::OutsideMandate.into(),
        PaymentError::Refused(reason) => {
            tracing::warn!(%reason, "payment refused by the gateway");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "payment-gateway-refused",
                Bilingual::new("درگاه پرداخت درخواست را نپذیرفت", "The payment gateway refused"),
            )
            .detail(Bilingual::new(
                "پولی از حساب شما برداشته نشد؛ بعداً دوباره تلاش کنید.",
                "no money was taken; try again later",
            ))
        }
        PaymentError::Unreachable(error) => {
            tracing::warn!(%error, "payment gateway unreachable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-gateway-unavailable",
                Bilingual::new("درگاه پرداخت در دسترس نیست", "The payment gateway is unavailable"),
            )
            .detail(Bilingual::new(
                "چند لحظه دیگر دوباره تلاش کنید. اگر پولی برداشته شده باشد، خودکار پیگیری می‌شود.",
                "try again in a moment; if any money was taken, the window follows it up by itself",
            ))
            .retry_after(10)
        }
        PaymentError::NotFound => {
            Problem::not_found(Bilingual::new("پرداختی با این شناسه پیدا نشد", "no payment with this id"))
        }
        PaymentError::Tampered => Problem::bad_request(Bilingual::new(
            "بازگشت از درگاه با این پرداخت جور نیست",
            "the gateway's callback does not belong to this payment",
        )),
        PaymentError::Store(error) => error.into(),
    }
}

/// Whether `citizen` may see `order`: a signed-in citizen's order is theirs alone; a bill
/// paid without signing in is found by its (unguessable) id.
pub fn may_see(order: &Order, citizen: Option<&Citizen>) -> bool {
    match &order.citizen_id {
        Some(owner) => citizen.is_some_and(|c| &c.subject == owner),
        None => true,
    }
}

/// Opens a payment order and answers where to pay it.
#[utoipa::path(
    post, path = "/payments", tag = "payments", request_body = PaymentRequest,
    security((), ("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 201, description = "The order, redirected: send the citizen to `pay_url`", body = PaymentView,
            headers(("Location" = String, description = "The payment page"))),
        (status = 401, description = "A fee needs the applicant signed in"),
        (status = 403, description = "Whoever acts for the citizen may not pay this: outside their mandate or the citizen's consent"),
        (status = 404, description = "No such application of this citizen, or the host takes no payments"),
        (status = 409, description = "The bill was already paid"),
        (status = 422, description = "The bill ID or payment ID is not valid, or they do not belong together"),
        (status = 502, description = "The payment gateway refused"),
        (status = 503, description = "The payment gateway is unavailable"),
    ),
)]
async fn create(
    State(app): State<Arc<App>>,
    citizen: Option<Citizen>,
    ApiJson(body): ApiJson<PaymentRequest>,
) -> Result<Response, Problem> {
    let payments = service(&app)?;
    let payable = payable(&body)?;
    if let Some(citizen) = &citizen {
        crate::window::acting::recheck(&app, citizen).await.map_err(super::errors::representation_problem)?;
    }
    let (order, pay_url) = payments
        .start(citizen.as_ref().map(|c| c.subject.as_str()), citizen.as_ref().and_then(|c| c.actor.as_ref()), payable)
        .await
        .map_err(payment_problem)?;
    let mut response = (StatusCode::CREATED, Json(PaymentView::of(&order, payments))).into_response();
    if let Ok(location) = HeaderValue::from_str(&pay_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PaymentPath {
    /// The order's id.
    pub id: String,
}

/// One payment order, as it stands now.
#[utoipa::path(
    get, path = "/payments/{id}", tag = "payments", params(PaymentPath),
    security((), ("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The order", body = PaymentView),
        (status = 404, description = "No such order of this citizen"),
    ),
)]
async fn show(
    State(app): State<Arc<App>>,
    citizen: Option<Citizen>,
    ApiPath(path): ApiPath<PaymentPath>,
) -> Result<Json<PaymentView>, Problem> {
    let payments = service(&app)?;
    let order = orders::get(&app.db, &path.id).await?.filter(|o| may_see(o, citizen.as_ref()));
    let order = order.ok_or_else(|| payment_problem(PaymentError::NotFound))?;
    Ok(Json(PaymentView::of(&order, payments)))
}

/// `GET /api/v1/me/payments`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentList {
    pub count: usize,
    /// Newest first.
    pub payments: Vec<PaymentView>,
}

/// The citizen's payment orders, newest first.
#[utoipa::path(
    get, path = "/me/payments", tag = "payments",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The citizen's orders", body = PaymentList),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "The host takes no payments"),
    ),
)]
async fn mine(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Json<PaymentList>, Problem> {
    let payments = service(&app)?;
    let list = orders::of_citizen(&app.db, &citizen.subject, LIST_LIMIT).await?;
    let payments: Vec<_> = list.iter().map(|o| PaymentView::of(o, payments)).collect();
    Ok(Json(PaymentList { count: payments.len(), payments }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminPaymentsQuery {
    /// Only orders in this state.
    pub state: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// An order as operators see it: the citizen's view, who, and whether it is under review.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPaymentView {
    #[serde(flatten)]
    pub order: PaymentView,
    /// The citizen's pseudonym, if they were signed in.
    pub citizen: Option<String>,
    /// The operator's note, when marked for manual review (the reconciler leaves it).
    pub review: Option<String>,
    /// When the agency's adapter heard of the payment.
    pub notified_at: Option<String>,
    pub notify_error: Option<String>,
}

/// `GET /admin/v1/payments`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPaymentList {
    pub count: usize,
    pub payments: Vec<AdminPaymentView>,
}

/// Payment orders, newest first (operators).
#[utoipa::path(
    get, path = "/payments", tag = "operators", params(AdminPaymentsQuery), security(("operator" = [])),
    responses(
        (status = 200, description = "Orders", body = AdminPaymentList),
        (status = 400, description = "An unknown state"),
        (status = 401, description = "No valid operator token"),
        (status = 404, description = "The host takes no payments"),
    ),
)]
async fn admin_list(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    ApiQuery(query): ApiQuery<AdminPaymentsQuery>,
) -> Result<Json<AdminPaymentList>, Problem> {
    let payments = service(&app)?;
    let state = match query.state.as_deref() {
        None => None,
        Some(name) => Some(OrderState::from_name(name).ok_or_else(|| {
            Problem::bad_request(Bilingual::new(format!("وضعیت ناشناخته: {name}"), format!("unknown state {name}")))
        })?),
    };
    let list = orders::list(&app.db, state, query.limit.unwrap_or(100).clamp(1, 1000)).await?;
    let payments: Vec<_> = list
        .iter()
        .map(|o| AdminPaymentView {
            order: PaymentView::of(o, payments),
            citizen: o.citizen_id.clone(),
            review: o.review.clone(),
            notified_at: o.notified_ms.map(rfc3339),
            notify_error: o.notify_error.clone(),
        })
        .collect();
    Ok(Json(AdminPaymentList { count: payments.len(), payments }))
}

/// Body of `POST /admin/v1/payments/{id}/review`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// Why the order needs a person (a citizen's dispute, a bank's letter).
    pub note: String,
}

/// Marks an order for manual review: the reconciler stops moving it (admins).
#[utoipa::path(
    post, path = "/payments/{id}/review", tag = "operators", params(PaymentPath), request_body = ReviewRequest,
    security(("operator" = [])),
    responses(
        (status = 204, description = "Marked"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "Auditors only read"),
        (status = 404, description = "No such order"),
        (status = 422, description = "The note is empty"),
    ),
)]
async fn admin_review(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(path): ApiPath<PaymentPath>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<StatusCode, Problem> {
    service(&app)?;
    let operator = auth.admin()?;
    let note = body.note.trim();
    if note.is_empty() {
        return Err(Problem::invalid_input(vec![FieldProblem {
            field: "note".into(),
            message: Bilingual::new("توضیح بازبینی را بنویسید", "note is required"),
        }]));
    }
    if !orders::mark_review(&app.db, &path.id, note).await? {
        return Err(payment_problem(PaymentError::NotFound));
    }
    let entry = crate::audit::Entry {
        kind: "payment.review".into(),
        actor: operator.name.clone(),
        subject: path.id.clone(),
        data: serde_json::json!({"note": note}),
    };
    crate::api::record(&app.audit, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
