//! Home, the catalogue, service pages with the forms generated from their field
//! descriptors, and inquiry results. Every handler reads its input, calls the same
//! function the JSON API calls, and renders.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value, context};
use serde::Deserialize;

use super::{Page, Posted, Visit, sign_in_first};
use crate::api::citizen::CatalogueQuery;
use crate::api::problem::{Bilingual, Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::throttle::ClientAddr;
use crate::runtime::bindings::{Assurance, ServiceKind};
use crate::window::views::{ServiceDetail, ServiceSummary};
use crate::window::{ServiceError, catalogue, filing, inquiry::inquiry};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/services", get(services))
        .route("/services/{agency}/{service}", get(service).post(submit))
}

/// A service group with how many services it has.
#[derive(serde::Serialize)]
struct Group {
    id: String,
    label: String,
    count: usize,
}

/// The groups of a list of services, in order of first appearance.
fn groups(services: &[ServiceSummary]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for s in services {
        match groups.iter_mut().find(|g| g.id == s.category.id) {
            Some(g) => g.count += 1,
            None => groups.push(Group { id: s.category.id.clone(), label: s.category.label.clone(), count: 1 }),
        }
    }
    groups
}

/// Everything offered, unfiltered.
fn everything(app: &App, lang: Lang) -> Vec<ServiceSummary> {
    catalogue::search(&app.registry, lang, &catalogue::Filters::default())
}

async fn home(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>) -> Response {
    let categories = groups(&everything(&app, visit.lang));
    Page::new(&visit, citizen.as_ref(), "home").render("home.html", context! { categories })
}

/// The catalogue's filters as a form sends them: empty means "any".
#[derive(Debug, Default, Deserialize, serde::Serialize)]
struct Filters {
    q: Option<String>,
    category: Option<String>,
    agency: Option<String>,
    province: Option<String>,
    kind: Option<String>,
}

impl Filters {
    fn query(&self) -> CatalogueQuery {
        let some = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        CatalogueQuery {
            q: some(&self.q),
            category: some(&self.category),
            agency: some(&self.agency),
            province: some(&self.province),
            kind: some(&self.kind),
        }
    }
}

async fn services(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Query(filters): Query<Filters>,
) -> Response {
    let page = Page::new(&visit, citizen.as_ref(), "catalogue");
    let found = match filters.query().filters() {
        Ok(filters) => catalogue::search(&app.registry, visit.lang, &filters),
        Err(problem) => return page.problem(&problem),
    };
    let all = everything(&app, visit.lang);
    let mut agencies: Vec<(String, String)> = all.iter().map(|s| (s.agency.clone(), s.agency_name.clone())).collect();
    agencies.dedup();
    let agencies: Vec<_> =
        agencies.into_iter().collect::<BTreeMap<_, _>>().into_iter().map(|(id, name)| context! { id, name }).collect();
    let provinces: BTreeSet<String> = all
        .iter()
        .filter_map(|s| match &s.scope {
            crate::window::views::ScopeView::Province { province } => Some(province.clone()),
            crate::window::views::ScopeView::National => None,
        })
        .collect();
    page.render(
        "services.html",
        context! {
            query => filters,
            services => found,
            categories => groups(&all),
            agencies,
            provinces,
        },
    )
}

/// A fresh idempotency key for an application form, so a double click files once.
fn form_key() -> String {
    format!("portal-{:032x}", rand::random::<u128>())
}

async fn service(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Path((agency, service)): Path<(String, String)>,
) -> Response {
    let page = Page::new(&visit, citizen.as_ref(), "catalogue");
    match catalogue::service(&app.registry, visit.lang, &agency, &service) {
        Ok(detail) => form(&page, citizen.as_ref(), &detail, StatusCode::OK, Value::from(()), None, None),
        Err(error) => page.error(error),
    }
}

/// The service page with its form, optionally filled in again with errors.
fn form(
    page: &Page<'_>,
    citizen: Option<&Citizen>,
    detail: &ServiceDetail,
    status: StatusCode,
    values: Value,
    errors: Option<BTreeMap<String, String>>,
    alert: Option<Value>,
) -> Response {
    let needs_signin = citizen.is_none()
        && (detail.summary.min_assurance != Assurance::None || detail.summary.kind == ServiceKind::Application);
    page.render_status(
        status,
        "service.html",
        context! {
            s => detail,
            values,
            errors => errors.unwrap_or_default(),
            alert,
            needs_signin,
            key => form_key(),
        },
    )
}

async fn submit(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    visit: Visit,
    citizen: Option<Citizen>,
    Path((agency, service)): Path<(String, String)>,
    posted: Posted,
) -> Response {
    let lang = visit.lang;
    let page = Page::new(&visit, citizen.as_ref(), "catalogue");
    let detail = match catalogue::service(&app.registry, lang, &agency, &service) {
        Ok(detail) => detail,
        Err(error) => return page.error(error),
    };
    let input: BTreeMap<String, serde_json::Value> = detail
        .fields
        .iter()
        .filter_map(|f| posted.get(&f.name).map(|v| (f.name.clone(), serde_json::Value::from(v))))
        .collect();
    // The form again, filled in, with the problem beside its fields or above them.
    let refused = |problem: Problem| {
        let (errors, alert) = on_fields(lang, &problem, |name| detail.fields.iter().any(|f| f.name == name));
        // When every message sits beside its field, no alert is added above the form, so
        // nothing on the page moves.
        let alert = (problem.errors.is_empty() || problem.errors.iter().any(|e| !errors.contains_key(&e.field)))
            .then_some(alert);
        let values = Value::from_serialize(&input);
        let mut response = form(&page, citizen.as_ref(), &detail, problem.status, values, Some(errors), alert);
        if let Some(seconds) = problem.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    };
    if detail.summary.kind == ServiceKind::Inquiry
        && citizen.is_none()
        && let Err(problem) = crate::api::errors::admit_client(
            &app.limits.anonymous_inquiries,
            client,
            Bilingual::new("استعلام بدون ورود", "inquiries without sign-in"),
        )
    {
        return refused(problem);
    }
    let outcome = if detail.summary.kind == ServiceKind::Inquiry {
        inquiry(&app, lang, (&agency, &service), citizen.as_ref(), &input).await.map(|answer| {
            let payable = app.payments.is_some() && !answer.document.bills.is_empty();
            let mut response = page.render(
                "result.html",
                context! {
                    s => &detail,
                    doc => Value::from_serialize(&answer.document),
                    request_id => answer.request_id,
                    payments => payable,
                },
            );
            if payable
                && let Some(csp) =
                    app.config.payments.as_ref().and_then(|p| super::csp_allowing_form_target(&p.psp_url))
            {
                response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
            }
            response
        })
    } else {
        let key = posted.get("_key").filter(|k| k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic()));
        filing::file(&app, lang, (&agency, &service), citizen.as_ref(), &input, key.map(str::to_owned))
            .await
            .map(|filed| Redirect::to(&format!("/applications/{}?filed=1", filed.view.tracking_code)).into_response())
    };
    match outcome {
        Ok(response) => response,
        Err(ServiceError::SignInRequired { .. }) => sign_in_first(&format!("/services/{agency}/{service}")),
        Err(error) => refused(Problem::from(error)),
    }
}

/// Splits a problem into messages for the form's fields (in `lang`) and an alert with the
/// title, the detail, and any message about a field the form does not show.
pub fn on_fields(lang: Lang, problem: &Problem, shown: impl Fn(&str) -> bool) -> (BTreeMap<String, String>, Value) {
    let mut errors = BTreeMap::new();
    let mut other = Vec::new();
    for e in &problem.errors {
        let message = lang.pick(&e.message.fa, &e.message.en).to_owned();
        if shown(&e.field) {
            errors.entry(e.field.clone()).or_insert(message);
        } else {
            other.push(message);
        }
    }
    let mut detail = problem.detail.as_ref().map(|d| lang.pick(&d.fa, &d.en).to_owned()).unwrap_or_default();
    for message in other {
        detail = if detail.is_empty() { message } else { format!("{detail} {message}") };
    }
    let alert = context! { title => lang.pick(&problem.title.fa, &problem.title.en), detail };
    (errors, alert)
}
