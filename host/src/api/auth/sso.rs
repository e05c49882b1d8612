//! `GET /auth/login` and `GET /auth/callback`: single sign-on with the configured OpenID
//! Connect provider (see [`crate::auth::oidc`]).
//!
//! The callback answers like the portal expects (a 303 to `return_to` with the session
//! cookie) or, when the request prefers `application/json`, like the OTP flow
//! (`{token, token_type, expires_at, assurance}` plus the cookie).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::TokenView;

use crate::api::problem::{Bilingual, Problem};
use crate::app::App;
use crate::auth::oidc::{OidcError, RelyingParty};
use crate::auth::return_to;
use crate::auth::session::{self, CookieName, Source};
use crate::auth::throttle::ClientAddr;
use crate::store::citizens;

/// Cookie binding a sign-in in progress to the browser that started it. `Path=/`, so that
/// over HTTPS it can carry the `__Host-` prefix: a sibling subdomain that could plant its
/// own binding value could finish its own sign-in in the citizen's browser.
pub const BINDING_COOKIE: CookieName = CookieName::new("__Host-panjereh_oidc");

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(callback))
}

/// Query of `GET /auth/login`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LoginQuery {
    /// A path on this site to return to after sign-in (default `/`).
    #[serde(default)]
    pub return_to: Option<String>,
}

/// Query of `GET /auth/callback` (other parameters a provider adds are ignored).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

fn relying_party(app: &App) -> Result<&RelyingParty, Problem> {
    app.oidc.as_deref().ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "sso-not-configured",
            Bilingual::new("ورود یکپارچه پیکربندی نشده است", "Single sign-on is not configured"),
        )
        .detail(Bilingual::new(
            "این سامانه به ارائه‌دهنده هویت (SSO) وصل نیست؛ با کد یک‌بارمصرف وارد شوید.",
            "this host has no OpenID Connect provider ([oidc] in the configuration); sign in with a one-time code",
        ))
    })
}

/// Whether the binding cookie is `Secure` (and so `__Host-` named): when the request came
/// over HTTPS, or the provider sends the browser back to an HTTPS address.
fn binding_secure(rp: &RelyingParty, headers: &HeaderMap) -> bool {
    session::over_https(headers) || rp.settings().redirect_url.starts_with("https:")
}

/// The browser's binding value, if it holds a well-formed one.
fn binding_value<'a>(rp: &RelyingParty, headers: &'a HeaderMap) -> Option<&'a str> {
    session::cookie_value(headers, BINDING_COOKIE.get(binding_secure(rp, headers))).filter(|v| {
        !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn binding_cookie(value: &str, rp: &RelyingParty, headers: &HeaderMap) -> HeaderValue {
    let secure = binding_secure(rp, headers);
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        BINDING_COOKIE.get(secure),
        rp.settings().login_ttl.as_secs(),
        session::secure_attribute(secure)
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_binding_cookie(rp: &RelyingParty, headers: &HeaderMap) -> HeaderValue {
    if binding_secure(rp, headers) {
        HeaderValue::from_static("__Host-panjereh_oidc=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("panjereh_oidc=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// Starts single sign-on: a redirect to the identity provider (authorization code with
/// PKCE), bound to this browser by a short-lived cookie.
#[utoipa::path(
    get, path = "/login", tag = "sign-in", params(LoginQuery),
    responses(
        (status = 303, description = "To the identity provider",
            headers(("Location" = String), ("Set-Cookie" = String, description = "Binds the sign-in to the browser"))),
        (status = 400, description = "`return_to` is not a path on this site"),
        (status = 404, description = "No identity provider is configured"),
        (status = 429, description = "Too many sign-ins started from this client; see Retry-After"),
        (status = 502, description = "The identity provider could not be reached"),
        (status = 503, description = "Too many sign-ins are waiting for the identity provider; see Retry-After"),
    ),
)]
async fn login(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    query: Result<Query<LoginQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let rp = relying_party(&app)?;
    // Each start stores a row until its callback or its expiry.
    crate::api::errors::admit_client(
        &app.limits.sso_logins,
        client,
        Bilingual::new("درخواست ورود یکپارچه", "single sign-on starts"),
    )?;
    let Query(query) = query?;
    let return_to = query.return_to.unwrap_or_else(|| "/".to_owned());
    if !return_to::is_local(&return_to) {
        return Err(Problem::bad_request(Bilingual::new(
            "نشانی بازگشت باید مسیری در همین سامانه باشد: با یک / شروع شود و نویسهٔ کنترلی، فاصله یا \\ نداشته باشد.",
            "return_to must be a path on this site: starting with a single /, without control characters, white space or backslashes",
        ))
        .extension("field", "return_to"));
    }
    let started = rp.begin(&app.db, &return_to, binding_value(rp, &headers)).await.map_err(oidc_problem)?;
    let location =
        HeaderValue::from_str(&started.authorization_url).map_err(|e| Problem::internal(&format_args!("{e}")))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, location);
    h.insert(header::SET_COOKIE, binding_cookie(&started.browser, rp, &headers));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Whether the caller prefers a JSON answer to a redirect.
fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

/// Where the identity provider returns: the code is exchanged, the ID token's signature,
/// issuer, audience and nonce checked, and a session opened. Browsers are sent on to
/// `return_to`; a client that asks for `application/json` gets the token.
#[utoipa::path(
    get, path = "/callback", tag = "sign-in", params(CallbackQuery),
    responses(
        (status = 200, description = "Signed in (`Accept: application/json`)", body = TokenView),
        (status = 303, description = "Signed in; on to `return_to` with the session cookie",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "No `code` and `state`; a sign-in that is unknown, used, expired, from another \
            browser or another issuer; or a code the provider refused"),
        (status = 401, description = "The provider refused the sign-in, or the ID token failed a check"),
        (status = 403, description = "The provider sent no national ID"),
        (status = 404, description = "No identity provider is configured"),
        (status = 502, description = "The identity provider could not be reached"),
    ),
)]
async fn callback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let rp = relying_party(&app)?;
    let Query(query) = query?;
    if let Some(error) = query.error {
        // Still consume the state, so it cannot be finished later.
        if let Some(state) = &query.state {
            let _ = crate::store::oidc_logins::take(&app.db, &crate::auth::oidc::state_hash(state)).await;
        }
        let described = match query.error_description {
            Some(d) => format!("{error}: {d}"),
            None => error,
        };
        return Err(oidc_problem(OidcError::Denied(described)));
    }
    let (Some(code), Some(state)) = (query.code.filter(|c| !c.is_empty()), query.state.filter(|s| !s.is_empty()))
    else {
        return Err(Problem::bad_request(Bilingual::new(
            "پاسخ ارائه‌دهنده هویت ناقص است (code و state لازم است).",
            "the callback needs both `code` and `state` from the identity provider",
        )));
    };
    let identity = rp
        .finish(&app.db, &state, &code, binding_value(rp, &headers), query.iss.as_deref())
        .await
        .map_err(oidc_problem)?;
    let citizen = citizens::upsert_keeping_mobile(&app.db, &identity.national_id, identity.mobile.as_deref()).await?;
    let assurance = rp.settings().assurance;
    let issued = session::issue(&app.db, &app.config.auth, &citizen, assurance, Source::Oidc).await?;
    tracing::info!(subject = %citizen.id, "signed in with the identity provider");

    let mut response = if wants_json(&headers) {
        Json(TokenView {
            token: issued.token.clone(),
            token_type: "Bearer",
            expires_at: crate::text::rfc3339(issued.session.expires_ms),
            assurance: assurance.as_str(),
            return_to: Some(identity.return_to),
        })
        .into_response()
    } else {
        let mut response = StatusCode::SEE_OTHER.into_response();
        // Checked when the sign-in began; checked again, as it was read back from the database.
        let target = return_to::local_or_home(Some(&identity.return_to));
        let location = HeaderValue::from_str(&target).unwrap_or_else(|_| HeaderValue::from_static("/"));
        response.headers_mut().insert(header::LOCATION, location);
        response
    };
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, session::cookie(&issued.token, &app.config.auth, session::over_https(&headers)));
    h.append(header::SET_COOKIE, clear_binding_cookie(rp, &headers));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn oidc_problem(error: OidcError) -> Problem {
    let start_again = Bilingual::new("دوباره از ابتدا وارد شوید.", "start the sign-in again");
    match error {
        OidcError::Unavailable(cause) => {
            tracing::warn!(%cause, "identity provider unavailable");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "sso-unavailable",
                Bilingual::new("ارائه‌دهنده هویت در دسترس نیست", "The identity provider is unavailable"),
            )
            .detail(Bilingual::new(
                "ارتباط با سامانه ورود یکپارچه برقرار نشد؛ کمی بعد دوباره تلاش کنید یا با کد یک‌بارمصرف وارد شوید.",
                "the single sign-on provider could not be reached or answered badly; try again later or sign in with a one-time code",
            ))
            .retry_after(30)
        }
        OidcError::UnknownState | OidcError::OtherBrowser => Problem::new(
            StatusCode::BAD_REQUEST,
            "sso-state-invalid",
            Bilingual::new("درخواست ورود معتبر نیست", "This sign-in is not valid"),
        )
        .detail(Bilingual::new(
            "این پاسخ ورود با درخواستی از همین مرورگر جور نیست یا قبلاً استفاده شده است؛ دوباره از ابتدا وارد شوید.",
            "the state is unknown, was already used, or the sign-in was started in another browser; start the sign-in again",
        )),
        OidcError::Expired => Problem::new(
            StatusCode::BAD_REQUEST,
            "sso-login-expired",
            Bilingual::new("زمان ورود به پایان رسید", "The sign-in took too long"),
        )
        .detail(start_again),
        OidcError::Denied(reason) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "sso-denied",
            Bilingual::new("ارائه‌دهنده هویت ورود را نپذیرفت", "The identity provider refused the sign-in"),
        )
        .detail(Bilingual::new(format!("پاسخ ارائه‌دهنده: {reason}"), format!("the provider answered: {reason}"))),
        OidcError::WrongIssuer(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "sso-wrong-issuer",
            Bilingual::new("پاسخ از ارائه‌دهنده هویت دیگری آمده است", "The answer came from another identity provider"),
        )
        .detail(start_again),
        OidcError::CodeRejected(reason) => Problem::new(
            StatusCode::BAD_REQUEST,
            "sso-code-rejected",
            Bilingual::new("کد ورود پذیرفته نشد", "The sign-in code was refused"),
        )
        .detail(Bilingual::new(
            format!("ارائه‌دهنده هویت کد را نپذیرفت (شاید قبلاً استفاده شده یا منقضی شده است): {reason}"),
            format!("the identity provider refused the code (used, expired or not ours): {reason}"),
        )),
        OidcError::InvalidIdToken(reason) => {
            tracing::warn!(%reason, "ID token refused");
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "sso-id-token-invalid",
                Bilingual::new("توکن هویت معتبر نیست", "The ID token is not valid"),
            )
            .detail(Bilingual::new(
                format!("توکن هویتی که ارائه‌دهنده فرستاد بررسی‌ها را نگذراند: {reason}"),
                format!("the ID token failed a check: {reason}"),
            ))
        }
        OidcError::MissingNationalId(claim) => Problem::new(
            StatusCode::FORBIDDEN,
            "sso-national-id-missing",
            Bilingual::new("ارائه‌دهنده هویت کد ملی را نفرستاد", "The identity provider sent no national ID"),
        )
        .detail(Bilingual::new(
            format!("ادعای «{claim}» در پاسخ ارائه‌دهنده نیست؛ دسترسی به کد ملی را تأیید کنید."),
            format!("the `{claim}` claim is missing: allow the national ID to be shared"),
        ))
        .extension("claim", claim),
        OidcError::InvalidNationalId(claim) => Problem::new(
            StatusCode::FORBIDDEN,
            "sso-national-id-invalid",
            Bilingual::new("کد ملی دریافتی معتبر نیست", "The national ID received is not valid"),
        )
        .detail(Bilingual::new(
            format!("مقدار ادعای «{claim}» کد ملی معتبری نیست."),
            format!("the `{claim}` claim is not a valid national ID"),
        ))
        .extension("claim", claim),
        OidcError::Busy => {
            tracing::warn!("single sign-on refused: max-pending-logins sign-ins are waiting");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sso-busy",
                Bilingual::new("ورود یکپارچه اکنون شلوغ است", "Single sign-on is busy"),
            )
            .detail(Bilingual::new(
                "ورودهای نیمه‌تمام بسیاری در انتظار ارائه‌دهنده هویت است؛ کمی بعد دوباره تلاش کنید یا با کد یک‌بارمصرف وارد شوید.",
                "too many sign-ins are waiting for the identity provider; try again shortly or sign in with a one-time code",
            ))
            .retry_after(30)
        }
        OidcError::Store(error) => error.into(),
    }
}
