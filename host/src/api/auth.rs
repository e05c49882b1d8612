//! `/auth`: the built-in identity provider and sign-out.
//!
//! `POST /auth/otp/start {national_id, mobile}` sends a one-time code once the
//! mobile-ownership registry confirms the pair; `POST /auth/otp/verify {national_id, code}`
//! answers a bearer token and sets the session cookie (see [`crate::auth::otp`]); `POST /auth/logout` revokes the session. The OpenID Connect relying party
//! (`GET /auth/login?return_to=/path`, `GET /auth/callback`, in [`sso`]) issues the same
//! sessions with `Source::Oidc`.

mod sso;

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::ApiJson;
use super::problem::{Bilingual, FieldProblem, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::auth::otp::{CODE_DIGITS, OtpError, Purpose, Verified};
use crate::auth::session::{self, Issued, Source};
use crate::auth::throttle::ClientAddr;
use crate::runtime::bindings::Assurance;
use crate::store::{now_ms, sessions};

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(start)).routes(routes!(verify)).routes(routes!(logout)).merge(sso::routes())
}

/// Body of `POST /auth/otp/start`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// Ten digits with a valid check digit; Persian digits and separators are forgiven.
    #[serde(default)]
    #[schema(example = "0499370899")]
    pub national_id: Option<String>,
    /// An Iranian mobile number (`09…`, `+989…`, Persian digits).
    #[serde(default)]
    #[schema(example = "09121234567")]
    pub mobile: Option<String>,
}

/// Body of `POST /auth/otp/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[serde(default)]
    #[schema(example = "0499370899")]
    pub national_id: Option<String>,
    /// The five digits sent by SMS.
    #[serde(default)]
    #[schema(example = "12345")]
    pub code: Option<String>,
}

/// Runs one field's parser, collecting a per-field problem on failure.
fn field(
    errors: &mut Vec<FieldProblem>,
    name: &str,
    value: Option<&str>,
    label: (&str, &str),
    parse: impl Fn(&str) -> Result<String, panjereh_formats::Invalid>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    let Some(value) = value else {
        errors.push(FieldProblem {
            field: name.to_owned(),
            message: Bilingual::new(format!("«{}» را وارد کنید", label.0), format!("{} is required", label.1)),
        });
        return None;
    };
    match parse(value) {
        Ok(canonical) => Some(canonical),
        Err(invalid) => {
            errors.push(FieldProblem { field: name.to_owned(), message: Bilingual::new(invalid.fa, invalid.en) });
            None
        }
    }
}

fn parse_code(input: &str) -> Result<String, panjereh_formats::Invalid> {
    let code = panjereh_formats::text::compact_digits(input);
    if code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(panjereh_formats::Invalid::new(
            format!("کد تأیید باید {CODE_DIGITS} رقم باشد"),
            format!("the code has {CODE_DIGITS} digits"),
        ))
    }
}

/// `0912***4567`: enough for the citizen to recognise the number.
fn mask(mobile: &str) -> String {
    if mobile.len() == 11 { format!("{}***{}", &mobile[..4], &mobile[7..]) } else { "***".into() }
}

/// What `POST /auth/otp/start` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeSentView {
    /// The mobile the code went to, masked.
    #[schema(example = "0912***4567")]
    pub sent_to: String,
    pub expires_at: String,
    /// Seconds until the code expires.
    pub expires_in: i64,
    /// Digits in the code.
    pub code_length: usize,
}

/// Sends a one-time code to the citizen's mobile (in development, to the host's log).
#[utoipa::path(
    post, path = "/otp/start", tag = "sign-in", request_body = StartRequest,
    responses(
        (status = 202, description = "A code is on its way", body = CodeSentView),
        (status = 403, description = "The registry does not confirm that this mobile belongs to this national ID (one answer, whichever part is wrong); no code was sent"),
        (status = 404, description = "One-time-code sign-in is turned off on this host"),
        (status = 422, description = "The national ID or the mobile is not valid, each with its reason"),
        (status = 429, description = "Too many codes for this national ID and mobile, or for this mobile, or too many sign-in requests from this client; see Retry-After"),
        (status = 503, description = "The registry did not answer, or the code could not be sent"),
    ),
)]
async fn start(
    State(app): State<Arc<App>>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<StartRequest>,
) -> Result<Response, Problem> {
    let sent = send_code(&app, client, body.national_id.as_deref(), body.mobile.as_deref(), &Purpose::SignIn).await?;
    let body = CodeSentView {
        sent_to: sent.sent_to,
        expires_at: crate::text::rfc3339(sent.expires_ms),
        expires_in: sent.expires_in,
        code_length: CODE_DIGITS,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// A one-time code on its way.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The national ID in canonical form.
    pub national_id: String,
    /// The mobile, masked (`0912***4567`).
    pub sent_to: String,
    pub expires_ms: i64,
    /// Seconds until the code expires.
    pub expires_in: i64,
}

/// Validates the pair and sends a code (shared by the API and the portal).
pub async fn send_code(
    app: &App,
    client: std::net::IpAddr,
    national_id: Option<&str>,
    mobile: Option<&str>,
    purpose: &Purpose,
) -> Result<CodeSent, Problem> {
    app.otp.admit(&app.db, client).await.map_err(|e| otp_problem(e, client))?;
    let mut errors = Vec::new();
    let national_id =
        field(&mut errors, "national_id", national_id, ("کد ملی", "national_id"), panjereh_formats::national_id::parse);
    let mobile = field(&mut errors, "mobile", mobile, ("شماره موبایل", "mobile"), panjereh_formats::mobile::parse);
    let (Some(national_id), Some(mobile)) = (national_id, mobile) else {
        return Err(Problem::invalid_input(errors));
    };
    let started = app.otp.start(&app.db, &national_id, &mobile, purpose).await.map_err(|e| otp_problem(e, client))?;
    Ok(CodeSent {
        national_id,
        sent_to: mask(&mobile),
        expires_ms: started.expires_ms,
        expires_in: (started.expires_ms - now_ms()).max(0) / 1000,
    })
}

/// A session, as sign-in answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Send as `Authorization: Bearer <token>`; the same session is also set as a cookie.
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_at: String,
    /// The session's assurance level (`substantial` for a one-time code).
    #[schema(value_type = String, example = "substantial")]
    pub assurance: &'static str,
    /// Where single sign-on was asked to return to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

/// Checks the code and opens a session: a bearer token for apps, and an HttpOnly,
/// SameSite cookie for browsers.
#[utoipa::path(
    post, path = "/otp/verify", tag = "sign-in", request_body = VerifyRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenView,
            headers(("Set-Cookie" = String, description = "The session cookie"))),
        (status = 401, description = "No valid code: none was requested, or it is wrong, used, expired or locked after too many wrong tries, or a wrong try was too recent (one answer for all, so that nobody learns who is signing in)"),
        (status = 404, description = "One-time-code sign-in is turned off on this host"),
        (status = 422, description = "The national ID or the code is malformed"),
        (status = 429, description = "Too many sign-in requests from this client; see Retry-After"),
    ),
)]
async fn verify(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<VerifyRequest>,
) -> Result<Response, Problem> {
    let issued = check_code(&app, client, body.national_id.as_deref(), body.code.as_deref()).await?;
    let body = TokenView {
        token: issued.token.clone(),
        token_type: "Bearer",
        expires_at: crate::text::rfc3339(issued.session.expires_ms),
        assurance: Assurance::Substantial.as_str(),
        return_to: None,
    };
    let mut response = Json(body).into_response();
    let cookie = session::cookie(&issued.token, &app.config.auth, session::over_https(&headers));
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Checks a one-time code and opens a session (shared by the API and the portal).
pub async fn check_code(
    app: &App,
    client: std::net::IpAddr,
    national_id: Option<&str>,
    code: Option<&str>,
) -> Result<Issued, Problem> {
    let citizen = verify_code(app, client, national_id, code, Purpose::SIGN_IN).await?.citizen;
    Ok(session::issue(&app.db, &app.config.auth, &citizen, Assurance::Substantial, Source::Otp).await?)
}

/// Checks a one-time code and answers whose it is, without opening a session (a citizen
/// at a counter office consenting to a clerk).
pub async fn verify_code(
    app: &App,
    client: std::net::IpAddr,
    national_id: Option<&str>,
    code: Option<&str>,
    purpose: &str,
) -> Result<Verified, Problem> {
    app.otp.admit(&app.db, client).await.map_err(|e| otp_problem(e, client))?;
    let mut errors = Vec::new();
    let national_id =
        field(&mut errors, "national_id", national_id, ("کد ملی", "national_id"), panjereh_formats::national_id::parse);
    let code = field(&mut errors, "code", code, ("کد تأیید", "code"), parse_code);
    let (Some(national_id), Some(code)) = (national_id, code) else {
        return Err(Problem::invalid_input(errors));
    };
    app.otp.verify(&app.db, &national_id, &code, purpose).await.map_err(|e| otp_problem(e, client))
}

/// Revokes the session: its token and cookie stop working at once.
#[utoipa::path(
    post, path = "/logout", tag = "sign-in",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not signed in, or the token is not valid"),
    ),
)]
async fn logout(State(app): State<Arc<App>>, headers: HeaderMap, citizen: Citizen) -> Result<Response, Problem> {
    sign_out(&app, &citizen).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie(session::over_https(&headers)));
    Ok(response)
}

/// Revokes the citizen's session.
pub async fn sign_out(app: &App, citizen: &Citizen) -> Result<(), Problem> {
    sessions::revoke(&app.db, &citizen.session_id, now_ms()).await?;
    app.sessions.forget(&citizen.session_id);
    Ok(())
}

fn otp_problem(error: OtpError, client: std::net::IpAddr) -> Problem {
    let seconds = |d: std::time::Duration| d.as_millis().div_ceil(1000).max(1) as u64;
    match error {
        OtpError::Off => Problem::new(
            StatusCode::NOT_FOUND,
            "otp-off",
            Bilingual::new("ورود با کد یک‌بارمصرف فعال نیست", "One-time-code sign-in is turned off"),
        )
        .detail(Bilingual::new(
            "این میزبان ورود با پیامک را ارائه نمی‌کند؛ از ورود یکپارچه استفاده کنید.",
            "this host does not offer sign-in by SMS code; use single sign-on",
        )),
        OtpError::ClientLimit { retry_after } => {
            tracing::warn!(%client, "sign-in requests throttled");
            Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                Bilingual::new("درخواست‌های ورود بیش از حد مجاز", "Too many sign-in requests"),
            )
            .detail(Bilingual::new(
                "از این نشانی درخواست ورود زیادی رسیده است؛ کمی صبر کنید و دوباره تلاش کنید.",
                "too many sign-in requests came from this address; wait a moment and try again",
            ))
            .retry_after(seconds(retry_after))
        }
        OtpError::NotOwner => Problem::new(
            StatusCode::FORBIDDEN,
            "otp-refused",
            Bilingual::new("ورود با این مشخصات ممکن نیست", "Sign-in with these details is not possible"),
        )
        .detail(Bilingual::new(
            "شماره موبایل باید به نام صاحب همین کد ملی ثبت شده باشد. هر دو را بررسی کنید.",
            "the mobile number must be registered to the holder of this national ID; check both",
        )),
        OtpError::Registry(error) => {
            tracing::error!(%error, "one-time code not sent: the ownership registry did not answer");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "otp-registry-unavailable",
                Bilingual::new("بررسی مالکیت شماره ممکن نشد", "The mobile number could not be checked"),
            )
            .detail(Bilingual::new(
                "سامانه‌ی احراز مالکیت شماره پاسخ نداد؛ کدی فرستاده نشد. چند لحظه دیگر دوباره تلاش کنید.",
                "the mobile-ownership registry did not answer, so no code was sent; try again in a moment",
            ))
            .retry_after(10)
        }
        OtpError::TooManyStarts { retry_after } => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "otp-too-many-requests",
            Bilingual::new("درخواست کد بیش از حد مجاز", "Too many codes requested"),
        )
        .detail(Bilingual::new(
            "برای این شماره موبایل کد زیادی درخواست شده است؛ چند دقیقه دیگر دوباره تلاش کنید.",
            "too many codes were requested for this mobile number; try again in a few minutes",
        ))
        .retry_after(seconds(retry_after)),
        OtpError::Invalid => Problem::new(
            StatusCode::UNAUTHORIZED,
            "otp-invalid",
            Bilingual::new("کد تأیید پذیرفته نشد", "The code was not accepted"),
        )
        .detail(Bilingual::new(
            "کد را دوباره بررسی کنید. اگر کد منقضی شده، قبلاً استفاده شده یا چند بار نادرست وارد شده است، کد تازه درخواست کنید.",
            "check the code; if it expired, was already used or was entered wrongly several times, request a new one",
        )),
        OtpError::Notify(error) => {
            tracing::error!(%error, "one-time code not delivered");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "otp-not-delivered",
                Bilingual::new("ارسال کد ممکن نشد", "The code could not be sent"),
            )
            .detail(Bilingual::new("چند لحظه دیگر دوباره تلاش کنید.", "please try again in a moment"))
            .retry_after(5)
        }
        OtpError::Store(error) => error.into(),
    }
}
