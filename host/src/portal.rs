//! The citizens' web portal: server-rendered pages at `/`, Persian first and right to left,
//! usable without JavaScript.
//!
//! The portal is a thin layer over the same functions the JSON API calls (catalogue,
//! inquiries, filing, tracking, sign-in), in-process: a problem an API client would get as
//! RFC 9457 JSON is shown here next to the field it concerns, in the visitor's language.
//!
//! # Layout
//!
//! - this file: the router, the per-request [`Visit`] (language, CSRF token) with the
//!   security headers every page carries, and rendering.
//! - [`csrf`]: tokens for every form that posts.
//! - [`assets`]: the stylesheet and script, embedded, served under content-hashed names.
//! - [`catalogue`]: home, catalogue, service pages and their forms, inquiry results.
//! - [`account`]: sign-in with a one-time code, sign-out, applications, data usage.
//!
//! Templates live in `host/templates/` and are compiled into the binary; HTML is escaped
//! by default (minijinja's auto-escape for `.html`).

pub mod account;
pub mod assets;
pub mod catalogue;
pub mod csrf;
pub mod mandates;
pub mod payments;

use crate::api::extract::{Credential, credential};
use crate::text::{display, i18n};
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Environment, Value, context};
use tower_http::compression::CompressionLayer;

use crate::api::problem::{Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::session::{self, CookieName, cookie_value as cookie};

/// [`CSP`] with `form-action` also allowing `origin`: browsers check a form's redirects
/// against it, and the pay button's answer is a redirect to the payment gateway.
pub fn csp_allowing_form_target(origin: &str) -> Option<HeaderValue> {
    let origin = url::Url::parse(origin).ok()?.origin().ascii_serialization();
    HeaderValue::from_str(&CSP.replace("form-action 'self'", &format!("form-action 'self' {origin}"))).ok()
}

/// Cookie remembering the chosen language.
pub const LANG_COOKIE: CookieName = CookieName::new("__Host-lang");

/// The Content-Security-Policy of every portal answer: no inline scripts or styles, no
/// framing, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'";

/// The portal's routes, with compression and the per-visit middleware.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .merge(catalogue::routes())
        .merge(account::routes())
        .merge(mandates::routes())
        .merge(payments::routes())
        .layer(axum::middleware::from_fn(visit))
        // Assets carry no cookies, so any cache may keep them.
        .merge(assets::routes())
        .layer(CompressionLayer::new())
}

/// What the portal knows about a request before its handler runs.
#[derive(Debug, Clone)]
pub struct Visit {
    pub lang: Lang,
    /// The CSRF token forms of this visit carry.
    pub csrf: String,
    /// The path and query, without `lang=`: where the language switch links to.
    pub here: String,
    /// Whether the browser reached the site over HTTPS: its cookies are then `Secure`.
    pub https: bool,
    /// Unread messages in the inbox of whom the session acts for (the header's badge);
    /// `None` without a session.
    pub unread: Option<i64>,
}

/// Splits `lang=` off a query string.
fn query_lang(query: Option<&str>) -> (Option<Lang>, String) {
    let mut lang = None;
    let rest: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| match pair.strip_prefix("lang=") {
            Some(value) => {
                lang = Lang::from_code(value).or(lang);
                false
            }
            None => true,
        })
        .collect();
    (lang, rest.join("&"))
}

/// The visit a request makes, and the cookies to set for it (a language chosen with
/// `?lang=`, a first CSRF secret).
fn prepare(headers: &HeaderMap, uri: &axum::http::Uri) -> (Visit, Vec<String>) {
    let mut set_cookies = Vec::new();
    let https = session::over_https(headers);
    let (asked, rest) = query_lang(uri.query());
    let lang = match asked {
        Some(lang) => {
            set_cookies.push(format!(
                "{}={}; Path=/; SameSite=Lax; Max-Age=31536000{}",
                LANG_COOKIE.get(https),
                lang.code(),
                session::secure_attribute(https)
            ));
            lang
        }
        None => cookie(headers, LANG_COOKIE.get(https)).and_then(Lang::from_code).unwrap_or(Lang::Fa),
    };
    let secret = match cookie(headers, csrf::COOKIE.get(https)).filter(|s| csrf::is_secret(s)) {
        Some(secret) => secret.to_owned(),
        None => {
            let secret = csrf::new_secret();
            set_cookies.push(csrf::cookie(&secret, https));
            secret
        }
    };
    let session_token = cookie(headers, session::COOKIE.get(https));
    let csrf = csrf::token(&secret, session_token);
    let path = uri.path();
    let here = if rest.is_empty() { path.to_owned() } else { format!("{path}?{rest}") };
    // The language switch links here, and sign-in comes back here: never to `//host`.
    let here = local_path(Some(&here));
    (Visit { lang, csrf, here, https, unread: None }, set_cookies)
}

/// Adds the cookies and the security headers every page carries.
fn finish(response: &mut Response, set_cookies: Vec<String>) {
    let headers = response.headers_mut();
    for value in set_cookies {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    // A page may widen `form-action` for its own forms (the pay button, whose answer
    // redirects to the payment gateway); nothing else of the policy changes.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        // Pages may show a citizen's own data: never kept by shared caches or the back button.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Decides the language and CSRF token of a request, then adds cookies and the security
/// headers to the answer.
async fn visit(mut request: Request, next: Next) -> Response {
    let (visit, set_cookies) = prepare(request.headers(), request.uri());
    request.extensions_mut().insert(visit);
    let mut response = next.run(request).await;
    finish(&mut response, set_cookies);
    response
}

/// Answers paths nobody serves: a page for browsers, a problem document for programs and
/// for everything under `/api`, `/admin` and `/auth`.
pub async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    let program = ["/api/", "/admin/", "/auth/"].iter().any(|p| path.starts_with(p));
    let browser = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if program || !browser {
        return crate::api::problem::not_found().await.into_response();
    }
    let (visit, set_cookies) = prepare(request.headers(), request.uri());
    let mut response =
        Page::new(&visit, None, "not_found").render_status(StatusCode::NOT_FOUND, "error.html", context! {});
    finish(&mut response, set_cookies);
    response
}

impl axum::extract::FromRequestParts<Arc<App>> for Visit {
    type Rejection = StatusCode;

    /// The visit, with the count of unread messages when a session comes with it
    /// (one query, for the header's badge; a failure only leaves the badge out).
    async fn from_request_parts(parts: &mut axum::http::request::Parts, app: &Arc<App>) -> Result<Self, StatusCode> {
        let mut visit = parts.extensions.get::<Visit>().cloned().ok_or(StatusCode::INTERNAL_SERVER_ERROR)?;
        if let Some(Credential::Bearer(token) | Credential::Cookie(token)) = credential(&parts.headers) {
            let hash = session::hash_token(token);
            visit.unread =
                crate::store::messages::unread_for_session(&app.db, &hash, crate::store::now_ms()).await.ok().flatten();
        }
        Ok(visit)
    }
}

/// A posted form whose CSRF token was checked; a form without the right token is
/// refused with 403 before its handler runs.
#[derive(Debug)]
pub struct Posted(pub Vec<(String, String)>);

impl Posted {
    /// The first value of a field, if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl FromRequest<Arc<App>> for Posted {
    type Rejection = Response;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, Response> {
        let visit = request.extensions().get::<Visit>().cloned();
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(request, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(visit) = visit else {
            return Err(StatusCode::INTERNAL_SERVER_ERROR.into_response());
        };
        let sent = fields.iter().find(|(k, _)| k == csrf::FIELD).map(|(_, v)| v.as_str()).unwrap_or("");
        if !csrf::matches(sent, &visit.csrf) {
            let page = Page::new(&visit, None, "forbidden");
            return Err(page.render_status(StatusCode::FORBIDDEN, "error.html", context! { message => "csrf" }));
        }
        Ok(Posted(fields.into_iter().filter(|(k, _)| k != csrf::FIELD).collect()))
    }
}

/// The templates, compiled into the binary.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("fields.html", include_str!("../templates/fields.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("services.html", include_str!("../templates/services.html")),
        ("service.html", include_str!("../templates/service.html")),
        ("result.html", include_str!("../templates/result.html")),
        ("signin.html", include_str!("../templates/signin.html")),
        ("applications.html", include_str!("../templates/applications.html")),
        ("application.html", include_str!("../templates/application.html")),
        ("usage.html", include_str!("../templates/usage.html")),
        ("payment.html", include_str!("../templates/payment.html")),
        ("inbox.html", include_str!("../templates/inbox.html")),
        ("representation.html", include_str!("../templates/representation.html")),
        ("mandates.html", include_str!("../templates/mandates.html")),
        ("error.html", include_str!("../templates/error.html")),
    ] {
        if let Err(error) = env.add_template(name, source) {
            panic!("portal template {name} does not parse: {error}");
        }
    }
    display::register(&mut env);
    env
});

/// One page being answered: the visit, who is signed in, and the page's title key.
pub struct Page<'a> {
    visit: &'a Visit,
    citizen: Option<&'a Citizen>,
    title: &'static str,
}

impl<'a> Page<'a> {
    pub fn new(visit: &'a Visit, citizen: Option<&'a Citizen>, title: &'static str) -> Self {
        Page { visit, citizen, title }
    }

    /// The page with status 200.
    pub fn render(&self, template: &str, data: Value) -> Response {
        self.render_status(StatusCode::OK, template, data)
    }

    /// Renders `template` with the page's common context merged into `data`.
    pub fn render_status(&self, status: StatusCode, template: &str, data: Value) -> Response {
        let lang = self.visit.lang;
        let other = match lang {
            Lang::Fa => "en",
            Lang::En => "fa",
        };
        let sep = if self.visit.here.contains('?') { '&' } else { '?' };
        let common = context! {
            lang => lang.code(),
            dir => if lang == Lang::Fa { "rtl" } else { "ltr" },
            t => i18n::strings(lang),
            title_key => self.title,
            csrf => self.visit.csrf,
            // Our own URLs, of hex and dots: marked safe so `/` is not written as `&#x2f;`.
            css => Value::from_safe_string(assets::CSS.url()),
            js => Value::from_safe_string(assets::JS.url()),
            switch_lang => format!("{}{sep}lang={other}", self.visit.here),
            signed_in => self.citizen.is_some(),
            mobile => self.citizen.map(|c| mask(&c.mobile)),
            acting_for => self.citizen.and_then(|c| c.actor.as_ref().map(|_| c.national_id.clone())),
            here => self.visit.here,
            unread => self.visit.unread.filter(|n| *n > 0 && self.citizen.is_some()),
        };
        let html = TEMPLATES.get_template(template).and_then(|t| t.render(context! { ..data, ..common }));
        match html {
            Ok(html) => {
                let mut response = (status, axum::response::Html(html)).into_response();
                response.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
                response.headers_mut().insert(header::VARY, HeaderValue::from_static("Cookie"));
                response
            }
            Err(error) => {
                tracing::error!(template, error = %format!("{error:#}"), "portal template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// The page for a use case's error.
    pub fn error(&self, error: crate::window::ServiceError) -> Response {
        self.problem(&error.into())
    }

    /// An error page for a problem that belongs to no field.
    pub fn problem(&self, problem: &Problem) -> Response {
        let lang = self.visit.lang;
        self.render_status(
            problem.status,
            "error.html",
            context! {
                title => lang.pick(&problem.title.fa, &problem.title.en),
                detail => problem.detail.as_ref().map(|d| lang.pick(&d.fa, &d.en).to_owned()),
            },
        )
    }
}

/// `0912***4567`.
fn mask(mobile: &str) -> String {
    if mobile.len() == 11 { format!("{}***{}", &mobile[..4], &mobile[7..]) } else { String::new() }
}

/// A redirect to sign in, coming back to `next` afterwards.
pub fn sign_in_first(next: &str) -> Response {
    let mut target = String::from("/signin?next=");
    target.extend(form_urlencoded::byte_serialize(next.as_bytes()));
    Redirect::to(&target).into_response()
}

/// `next` if it is a path on this site, else the home page (no open redirects; see
/// [`crate::auth::return_to`]).
pub fn local_path(next: Option<&str>) -> String {
    crate::auth::return_to::local_or_home(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_is_split_off_the_query() {
        assert_eq!(query_lang(Some("q=a&lang=en&kind=x")), (Some(Lang::En), "q=a&kind=x".to_owned()));
        assert_eq!(query_lang(Some("lang=xx")), (None, String::new()));
        assert_eq!(query_lang(None), (None, String::new()));
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/applications")), "/applications");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(Some("/\t/evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn the_error_page_renders_in_both_languages() {
        for lang in ["fa", "en"] {
            let t = TEMPLATES.get_template("error.html").unwrap();
            let html = t
                .render(context! { lang => lang, dir => "rtl", t => i18n::strings(Lang::from_code(lang).unwrap()),
                title_key => "error", message => "csrf" })
                .unwrap();
            assert!(html.contains(&format!("lang=\"{lang}\"")));
        }
    }
}
