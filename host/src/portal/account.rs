//! Signing in with a one-time code (national ID and mobile, then the code), signing out,
//! the citizen's applications with their status timelines, tracking by code, and the
//! data-usage log.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;

use super::catalogue::on_fields;
use super::{Page, Posted, Visit, local_path, sign_in_first};
use crate::api::auth::{check_code, send_code, sign_out};
use crate::api::me::usage;
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::otp::Purpose;
use crate::auth::session;
use crate::auth::throttle::ClientAddr;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/signin", get(signin).post(start))
        .route("/signin/verify", post(verify))
        .route("/signout", post(signout))
        .route("/applications", get(applications))
        .route("/applications/{code}", get(show))
        .route("/track", get(track))
        .route("/data-usage", get(data_usage))
        .route("/inbox", get(inbox))
        .route("/inbox/preferences", post(set_preferences))
        .route("/representation", get(representation).post(act_for))
        .route("/representation/stop", post(stop_acting))
}

#[derive(Debug, Default, Deserialize)]
struct Next {
    next: Option<String>,
}

async fn signin(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Query(query): Query<Next>,
) -> Response {
    let next = local_path(query.next.as_deref());
    if citizen.is_some() {
        return Redirect::to(&next).into_response();
    }
    // The configured single sign-on provider, named by its issuer's host.
    let oidc = app.config.oidc.as_ref().map(|o| {
        let host = o.issuer.split("://").nth(1).unwrap_or(&o.issuer);
        host.split('/').next().unwrap_or(host).to_owned()
    });
    Page::new(&visit, None, "signin").render(
        "signin.html",
        context! { step => "start", next, oidc, values => Value::from(()), errors => Value::from(()) },
    )
}

/// Step one: the national ID and mobile; a code is sent and the code form shown.
async fn start(State(app): State<Arc<App>>, ClientAddr(client): ClientAddr, visit: Visit, posted: Posted) -> Response {
    let page = Page::new(&visit, None, "signin");
    let next = local_path(posted.get("next"));
    match send_code(&app, client, posted.get("national_id"), posted.get("mobile"), &Purpose::SignIn).await {
        Ok(sent) => page.render(
            "signin.html",
            context! { step => "code", next, national_id => sent.national_id, sent_to => sent.sent_to,
            errors => Value::from(()) },
        ),
        Err(problem) => {
            let (errors, alert) = on_fields(visit.lang, &problem, |f| f == "national_id" || f == "mobile");
            let values: BTreeMap<&str, &str> = ["national_id", "mobile"]
                .into_iter()
                .filter_map(|name| posted.get(name).map(|value| (name, value)))
                .collect();
            page.render_status(
                problem.status,
                "signin.html",
                context! { step => "start", next, values, errors, alert => errors_or(alert, &problem) },
            )
        }
    }
}

/// The alert of a problem, unless all it says is already next to the fields.
fn errors_or(alert: Value, problem: &crate::api::problem::Problem) -> Option<Value> {
    problem.errors.is_empty().then_some(alert)
}

/// Step two: the code; on success the session cookie is set and the citizen sent on.
async fn verify(State(app): State<Arc<App>>, ClientAddr(client): ClientAddr, visit: Visit, posted: Posted) -> Response {
    let next = local_path(posted.get("next"));
    let national_id = posted.get("national_id").unwrap_or("");
    match check_code(&app, client, Some(national_id), posted.get("code")).await {
        Ok(issued) => {
            let mut response = Redirect::to(&next).into_response();
            let cookie = session::cookie(&issued.token, &app.config.auth, visit.https);
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(problem) => {
            let lang = visit.lang;
            let (mut errors, alert) = on_fields(lang, &problem, |f| f == "code");
            if problem.errors.is_empty() {
                // Wrong, expired or used codes concern the code field.
                let title = lang.pick(&problem.title.fa, &problem.title.en);
                let detail = problem.detail.as_ref().map(|d| lang.pick(&d.fa, &d.en)).unwrap_or("");
                errors.insert("code".to_owned(), format!("{title}. {detail}"));
            }
            let alert = problem.errors.iter().any(|e| e.field != "code").then_some(alert);
            Page::new(&visit, None, "signin").render_status(
                problem.status,
                "signin.html",
                context! { step => "code", next, national_id, errors, alert },
            )
        }
    }
}

async fn signout(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>, _posted: Posted) -> Response {
    if let Some(citizen) = citizen
        && let Err(problem) = sign_out(&app, &citizen).await
    {
        tracing::warn!(status = %problem.status, "portal sign-out failed");
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie(visit.https));
    response
}

async fn applications(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/applications");
    };
    let page = Page::new(&visit, Some(&citizen), "my_applications");
    let applications = match crate::window::filing::list(&app, visit.lang, &citizen).await {
        Ok(applications) => applications,
        Err(error) => return page.error(error),
    };
    match crate::api::representation::acted_view(&app, &citizen).await {
        Ok(acted) => page.render("applications.html", context! { applications, acted }),
        Err(problem) => page.problem(&problem),
    }
}

#[derive(Debug, Default, Deserialize)]
struct Filed {
    filed: Option<String>,
}

async fn show(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Path(code): Path<String>,
    Query(filed): Query<Filed>,
) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first(&visit.here);
    };
    let page = Page::new(&visit, Some(&citizen), "my_applications");
    match crate::window::filing::application(&app, visit.lang, &citizen, &code).await {
        Ok(a) => {
            let payable = app.payments.is_some() && !a.bills.is_empty();
            let mut response =
                page.render("application.html", context! { a, filed => filed.filed.is_some(), payments => payable });
            if payable
                && let Some(csp) =
                    app.config.payments.as_ref().and_then(|p| super::csp_allowing_form_target(&p.psp_url))
            {
                response.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
            }
            response
        }
        Err(error) => page.error(error),
    }
}

#[derive(Debug, Default, Deserialize)]
struct Track {
    code: Option<String>,
}

/// The home page's tracking form (a plain GET): on to the application's page.
async fn track(Query(track): Query<Track>) -> Response {
    let code: String = track.code.unwrap_or_default().chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() {
        return Redirect::to("/").into_response();
    }
    // Canonical when it parses (`pj7k...` becomes `PJ-7K..-`); as typed otherwise, so the
    // application page can say what is wrong with it.
    let code = crate::tracking::parse(&code).unwrap_or(code);
    let encoded: String = form_urlencoded::byte_serialize(code.as_bytes()).collect();
    Redirect::to(&format!("/applications/{encoded}")).into_response()
}

/// Whom the person may act for, and a button for each.
async fn representation(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/representation");
    };
    let page = Page::new(&visit, Some(&citizen), "representation");
    match crate::api::representation::view(&app, &citizen).await {
        Ok(view) => page.render("representation.html", context! { view }),
        Err(problem) => page.problem(&problem),
    }
}

/// Acts for a legal entity or a minor, then shows their applications.
async fn act_for(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>, posted: Posted) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/representation");
    };
    let page = Page::new(&visit, Some(&citizen), "representation");
    let (basis, id) = (posted.get("basis").unwrap_or(""), posted.get("id").unwrap_or(""));
    match crate::api::representation::act_for(&app, citizen.clone(), basis, id).await {
        Ok(_) => Redirect::to("/applications").into_response(),
        Err(problem) => page.problem(&problem),
    }
}

/// Acts for oneself again.
async fn stop_acting(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>, _posted: Posted) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/representation");
    };
    match crate::api::representation::stop_acting(&app, &citizen).await {
        Ok(()) => Redirect::to("/representation").into_response(),
        Err(problem) => Page::new(&visit, Some(&citizen), "representation").problem(&problem),
    }
}

/// The citizen's messages: status changes and receipts.
async fn inbox(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/inbox");
    };
    let saved = query.contains_key("saved");
    show_inbox(&app, &visit, &citizen, None, None, saved).await
}

/// The inbox with the form of the citizen's channels and language: as stored, or as posted
/// with the problem that refused it.
async fn show_inbox(
    app: &App,
    visit: &Visit,
    citizen: &Citizen,
    posted: Option<crate::api::inbox::PreferencesView>,
    refused: Option<&crate::api::problem::Problem>,
    saved: bool,
) -> Response {
    let page = Page::new(visit, Some(citizen), "inbox");
    let list = match crate::api::inbox::inbox(app, visit.lang, citizen).await {
        Ok(list) => list,
        Err(problem) => return page.problem(&problem),
    };
    let preferences = match posted {
        Some(posted) => posted,
        None => match crate::api::inbox::load_preferences(app, citizen).await {
            Ok(stored) => stored,
            Err(problem) => return page.problem(&problem),
        },
    };
    let errors = refused.map(|p| on_fields(visit.lang, p, |_| true).0).unwrap_or_default();
    let status = refused.map_or(axum::http::StatusCode::OK, |p| p.status);
    page.render_status(status, "inbox.html", context! { list, preferences, errors, saved })
}

/// Stores the channels and language chosen on the inbox page.
async fn set_preferences(
    State(app): State<Arc<App>>,
    visit: Visit,
    citizen: Option<Citizen>,
    posted: Posted,
) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/inbox");
    };
    let chosen = crate::api::inbox::PreferencesView {
        channels: ["sms", "email"]
            .iter()
            .filter(|c| posted.get(&format!("channel-{c}")) == Some("on"))
            .map(|c| (*c).to_owned())
            .collect(),
        email: posted.get("email").map(str::to_owned),
        language: posted.get("language").unwrap_or_default().to_owned(),
    };
    match crate::api::inbox::save_preferences(&app, &citizen, chosen.clone()).await {
        Ok(_) => Redirect::to("/inbox?saved=1").into_response(),
        Err(problem) => show_inbox(&app, &visit, &citizen, Some(chosen), Some(&problem), false).await,
    }
}

async fn data_usage(State(app): State<Arc<App>>, visit: Visit, citizen: Option<Citizen>) -> Response {
    let Some(citizen) = citizen else {
        return sign_in_first("/data-usage");
    };
    let page = Page::new(&visit, Some(&citizen), "usage");
    match usage(&app, visit.lang, &citizen).await {
        Ok(entries) => {
            let entries: Vec<Value> = entries
                .iter()
                .map(|u| {
                    let title = crate::window::catalogue::service(&app.registry, visit.lang, &u.agency, &u.service)
                        .ok()
                        .map(|d| d.summary.title);
                    context! { ..Value::from_serialize(u), ..context! { service_title => title } }
                })
                .collect();
            page.render("usage.html", context! { entries })
        }
        Err(problem) => page.problem(&problem),
    }
}
