//! `/mandates`: the mandates a citizen gives (to whom, until when, for which services) and
//! revokes, and those others gave them. Plain forms; no JavaScript needed.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;

use super::catalogue::on_fields;
use super::{Page, Posted, Visit, sign_in_first};
use crate::api::problem::{Bilingual, FieldProblem, Problem};
use crate::api::representation::{self, MandateRequest};
use crate::app::App;
use crate::auth::Citizen;
use crate::window::catalogue::{Filters, search};

/// The form's fields, whose errors are shown next to them.
const FIELDS: [&str; 4] = ["delegate_national_id", "until", "services", "may_pass_on"];

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/mandates", get(list).post(give)).route("/mandates/{id}/revoke", post(revoke))
}

/// Both lists, and the form to give a mandate.
async fn list(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/mandates");
    };
    show(&app, &visit, &citizen, None).await
}

async fn show(app: &App, visit: &Visit, citizen: &Citizen, refused: Option<&Problem>) -> Response {
    let page = Page::new(visit, Some(citizen), "mandates");
    let mandates = match representation::mandate_list(app, citizen).await {
        Ok(mandates) => mandates,
        Err(problem) => return page.problem(&problem),
    };
    let services = search(&app.registry, visit.lang, &Filters::default());
    let (errors, alert) = match refused {
        Some(problem) => {
            let (errors, alert) = on_fields(visit.lang, problem, |f| FIELDS.contains(&f));
            (errors, problem.errors.is_empty().then_some(alert))
        }
        None => Default::default(),
    };
    let status = refused.map_or(axum::http::StatusCode::OK, |p| p.status);
    let context = context! { mandates, services, errors, alert, acting => citizen.actor.is_some() };
    page.render_status(status, "mandates.html", context)
}

/// Gives a mandate from the form: a delegate, a date, and either every service or the ones
/// ticked.
async fn give(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>, posted: Posted) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/mandates");
    };
    let ticked: Vec<String> =
        posted.0.iter().filter(|(name, _)| name == "service").map(|(_, value)| value.clone()).collect();
    let services = match (posted.get("scope"), ticked.is_empty()) {
        (Some("all"), _) => None,
        (_, false) => Some(ticked),
        (_, true) => {
            let problem = Problem::invalid_input(vec![FieldProblem {
                field: "services".into(),
                message: Bilingual::new(
                    "«همه‌ی خدمت‌ها» را برگزینید یا دست‌کم یک خدمت را علامت بزنید",
                    "choose every service, or tick at least one",
                ),
            }]);
            return show(&app, &visit, &citizen, Some(&problem)).await;
        }
    };
    // The portal asks for a Jalali date, as citizens write it; the API takes a Gregorian one.
    let until = match panjereh_formats::jalali::parse(posted.get("until").unwrap_or_default()) {
        Ok(date) => {
            let (y, m, d) = date.to_gregorian();
            format!("{y:04}-{m:02}-{d:02}")
        }
        Err(e) => {
            let message = Bilingual::new(e.fa, e.en);
            let problem = Problem::invalid_input(vec![FieldProblem { field: "until".into(), message }]);
            return show(&app, &visit, &citizen, Some(&problem)).await;
        }
    };
    let request = MandateRequest {
        delegate_national_id: posted.get("delegate_national_id").unwrap_or_default().to_owned(),
        until,
        services,
        may_pass_on: posted.get("may_pass_on") == Some("on"),
    };
    match representation::give_mandate(&app, &citizen, request).await {
        Ok(_) => Redirect::to("/mandates").into_response(),
        Err(problem) if problem.status.is_client_error() && problem.status.as_u16() != 401 => {
            show(&app, &visit, &citizen, Some(&problem)).await
        }
        Err(problem) => Page::new(&visit, Some(&citizen), "mandates").problem(&problem),
    }
}

/// Revokes one of the citizen's mandates.
async fn revoke(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Path(id): Path<String>,
    _posted: Posted,
) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/mandates");
    };
    match representation::revoke_mandate(&app, &citizen, &id).await {
        Ok(()) => Redirect::to("/mandates").into_response(),
        Err(problem) => Page::new(&visit, Some(&citizen), "mandates").problem(&problem),
    }
}
