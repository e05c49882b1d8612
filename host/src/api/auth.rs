//! `/auth`: the built-in identity provider and sign-out.
//!
//! `POST /auth/otp/start {national_id, mobile}` sends a one-time code; `POST
//! /auth/otp/verify {national_id, code}` answers a bearer token and sets the session
//! cookie; `POST /auth/logout` revokes the session. The OpenID Connect relying party
//! (`GET /auth/login?return_to=/path`, `GET /auth/callback`, in [`sso`]) issues the same
//! sessions with `Source::Oidc`.

mod sso;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::citizen::ApiJson;
use super::problem::{Bilingual, FieldProblem, Problem};
use crate::app::App;
use crate::auth::otp::{self, CODE_DIGITS, OtpError};
use crate::auth::session::{self, Issued, Source};
use crate::auth::{Citizen, assurance_name};
use crate::runtime::bindings::Assurance;
use crate::store::{now_ms, sessions};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/otp/start", post(start))
        .route("/otp/verify", post(verify))
        .route("/logout", post(logout))
        .merge(sso::routes())
}

/// Body of `POST /auth/otp/start`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default)]
    pub national_id: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
}

/// Body of `POST /auth/otp/verify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[serde(default)]
    pub national_id: Option<String>,
    #[serde(default)]
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

async fn start(State(app): State<Arc<App>>, ApiJson(body): ApiJson<StartRequest>) -> Result<Response, Problem> {
    let sent = send_code(&app, body.national_id.as_deref(), body.mobile.as_deref()).await?;
    let body = json!({
        "sent_to": sent.sent_to,
        "expires_at": super::applications::rfc3339(sent.expires_ms),
        "expires_in": sent.expires_in,
        "code_length": CODE_DIGITS,
    });
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
pub async fn send_code(app: &App, national_id: Option<&str>, mobile: Option<&str>) -> Result<CodeSent, Problem> {
    let mut errors = Vec::new();
    let national_id =
        field(&mut errors, "national_id", national_id, ("کد ملی", "national_id"), panjereh_formats::national_id::parse);
    let mobile = field(&mut errors, "mobile", mobile, ("شماره موبایل", "mobile"), panjereh_formats::mobile::parse);
    let (Some(national_id), Some(mobile)) = (national_id, mobile) else {
        return Err(Problem::invalid_input(errors));
    };
    let started = otp::start(&app.db, app.notifier.as_ref(), &app.config.auth, &national_id, &mobile)
        .await
        .map_err(otp_problem)?;
    Ok(CodeSent {
        national_id,
        sent_to: mask(&mobile),
        expires_ms: started.expires_ms,
        expires_in: (started.expires_ms - now_ms()).max(0) / 1000,
    })
}

async fn verify(State(app): State<Arc<App>>, ApiJson(body): ApiJson<VerifyRequest>) -> Result<Response, Problem> {
    let issued = check_code(&app, body.national_id.as_deref(), body.code.as_deref()).await?;
    let body = json!({
        "token": issued.token,
        "token_type": "Bearer",
        "expires_at": super::applications::rfc3339(issued.session.expires_ms),
        "assurance": assurance_name(Assurance::Substantial),
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::cookie(&issued.token, &app.config.auth));
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Checks a one-time code and opens a session (shared by the API and the portal).
pub async fn check_code(app: &App, national_id: Option<&str>, code: Option<&str>) -> Result<Issued, Problem> {
    let mut errors = Vec::new();
    let national_id =
        field(&mut errors, "national_id", national_id, ("کد ملی", "national_id"), panjereh_formats::national_id::parse);
    let code = field(&mut errors, "code", code, ("کد تأیید", "code"), parse_code);
    let (Some(national_id), Some(code)) = (national_id, code) else {
        return Err(Problem::invalid_input(errors));
    };
    let citizen = otp::verify(&app.db, &app.config.auth, &national_id, &code).await.map_err(otp_problem)?;
    Ok(session::issue(&app.db, &app.config.auth, &citizen, Assurance::Substantial, Source::Otp).await?)
}

async fn logout(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Response, Problem> {
    sign_out(&app, &citizen).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie());
    Ok(response)
}

/// Revokes the citizen's session.
pub async fn sign_out(app: &App, citizen: &Citizen) -> Result<(), Problem> {
    sessions::revoke(&app.db, &citizen.session_id, now_ms()).await?;
    Ok(())
}

fn otp_problem(error: OtpError) -> Problem {
    let seconds = |d: std::time::Duration| d.as_millis().div_ceil(1000).max(1) as u64;
    match error {
        OtpError::TooManyStarts { retry_after } => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "otp-too-many-requests",
            Bilingual::new("درخواست کد بیش از حد مجاز", "Too many codes requested"),
        )
        .detail(Bilingual::new(
            "برای این کد ملی یا شماره موبایل کد زیادی درخواست شده است؛ چند دقیقه دیگر دوباره تلاش کنید.",
            "too many codes were requested for this national ID or mobile; try again in a few minutes",
        ))
        .retry_after(seconds(retry_after)),
        OtpError::NotStarted => Problem::new(
            StatusCode::BAD_REQUEST,
            "otp-not-started",
            Bilingual::new("کدی درخواست نشده است", "No code was requested"),
        )
        .detail(Bilingual::new("ابتدا کد تأیید را درخواست کنید.", "request a code first with POST /auth/otp/start")),
        OtpError::Used => Problem::new(
            StatusCode::CONFLICT,
            "otp-used",
            Bilingual::new("این کد قبلاً استفاده شده است", "This code was already used"),
        )
        .detail(Bilingual::new(
            "هر کد فقط یک بار کار می‌کند؛ کد تازه درخواست کنید.",
            "each code works once; request a new one",
        )),
        OtpError::Expired => Problem::new(
            StatusCode::GONE,
            "otp-expired",
            Bilingual::new("کد تأیید منقضی شده است", "The code has expired"),
        )
        .detail(Bilingual::new("کد تازه درخواست کنید.", "request a new code")),
        OtpError::Locked => Problem::new(
            StatusCode::FORBIDDEN,
            "otp-locked",
            Bilingual::new("تعداد تلاش‌های نادرست بیش از حد مجاز", "Too many wrong codes"),
        )
        .detail(Bilingual::new(
            "این کد دیگر پذیرفته نمی‌شود؛ کد تازه درخواست کنید.",
            "this code is no longer accepted; request a new one",
        )),
        OtpError::Backoff { retry_after } => {
            Problem::new(StatusCode::TOO_MANY_REQUESTS, "otp-wait", Bilingual::new("کمی صبر کنید", "Please wait"))
                .detail(Bilingual::new(
                    "پس از کد نادرست باید کمی صبر کنید و دوباره تلاش کنید.",
                    "after a wrong code, wait a moment before trying again",
                ))
                .retry_after(seconds(retry_after))
        }
        OtpError::Wrong { remaining } => Problem::new(
            StatusCode::UNAUTHORIZED,
            "otp-wrong",
            Bilingual::new("کد تأیید نادرست است", "The code is wrong"),
        )
        .detail(Bilingual::new(
            format!("{remaining} بار دیگر می‌توانید تلاش کنید."),
            format!("{remaining} attempts left"),
        ))
        .extension("attempts_left", remaining),
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
