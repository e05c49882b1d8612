//! Paying in the portal: the pay button next to a bill posts here, the citizen goes to
//! the gateway's page, the gateway sends the browser back to `/payments/callback`, and the
//! receipt page shows the outcome (RRN, trace number, amount, Jalali date and time).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;

use super::{Page, Posted, Visit, sign_in_first};
use crate::api::payments::{PaymentRequest, PaymentView, may_see, payable, payment_problem, service};
use crate::app::App;
use crate::auth::Citizen;
use crate::store::payments as orders;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/payments/pay", post(pay))
        .route("/payments/callback", post(callback))
        .route("/payments/{id}", get(receipt))
}

/// The pay button: opens the order and sends the browser to the gateway.
async fn pay(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>, posted: Posted) -> Response {
    let page = Page::new(&visit, citizen.as_ref(), "payment");
    let payments = match service(&app) {
        Ok(payments) => payments,
        Err(problem) => return page.problem(&problem),
    };
    let field = |name: &str| posted.get(name).map(str::to_owned).filter(|v| !v.is_empty());
    let request = PaymentRequest {
        bill_id: field("bill_id"),
        payment_id: field("payment_id"),
        agency: field("agency"),
        tracking_code: field("tracking_code"),
    };
    if request.tracking_code.is_some() && citizen.is_none() {
        return sign_in_first(&format!("/applications/{}", request.tracking_code.as_deref().unwrap_or_default()));
    }
    if let Some(citizen) = &citizen
        && let Err(error) = crate::window::acting::recheck(&app, citizen).await
    {
        return page.problem(&crate::api::errors::representation_problem(error));
    }
    let started = match payable(&request) {
        Ok(payable) => {
            payments
                .start(
                    citizen.as_ref().map(|c| c.subject.as_str()),
                    citizen.as_ref().and_then(|c| c.actor.as_ref()),
                    payable,
                )
                .await
        }
        Err(problem) => return page.problem(&problem),
    };
    match started {
        Ok((_, pay_url)) => Redirect::to(&pay_url).into_response(),
        Err(error) => page.problem(&payment_problem(error)),
    }
}

/// Where the gateway sends the browser back. A cross-site form post: no CSRF token (the
/// gateway cannot have one) and no trust either; the order is checked with the gateway.
async fn callback(
    State(app): State<Arc<App>>,
    visit: Visit,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let page = Page::new(&visit, None, "payment");
    let payments = match service(&app) {
        Ok(payments) => payments,
        Err(problem) => return page.problem(&problem),
    };
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
    match payments.callback(get("token"), get("order_id"), get("status")).await {
        Ok(order) => Redirect::to(&format!("/payments/{}", order.id)).into_response(),
        Err(error) => page.problem(&payment_problem(error)),
    }
}

/// The receipt, or where the order stands while it is being confirmed.
async fn receipt(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Path(id): Path<String>,
) -> Response {
    let page = Page::new(&visit, citizen.as_ref(), "payment");
    let payments = match service(&app) {
        Ok(payments) => payments,
        Err(problem) => return page.problem(&problem),
    };
    let order = match orders::get(&app.db, &id).await {
        Ok(order) => order,
        Err(error) => return page.problem(&error.into()),
    };
    let Some(order) = order else {
        return page.problem(&payment_problem(crate::payments::PaymentError::NotFound));
    };
    if !may_see(&order, citizen.as_ref()) {
        if citizen.is_none() {
            return sign_in_first(&format!("/payments/{id}"));
        }
        return page.problem(&payment_problem(crate::payments::PaymentError::NotFound));
    }
    let view = PaymentView::of(&order, payments);
    let status = if order.state.is_open() { StatusCode::ACCEPTED } else { StatusCode::OK };
    page.render_status(status, "payment.html", context! { p => view, open => order.state.is_open() })
}
