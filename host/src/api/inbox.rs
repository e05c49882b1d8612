//! `/api/v1/me/messages`: the citizen's inbox; and `/admin/v1/jobs`: the background work
//! queue's dead letters, for operators.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::OperatorAuth;
use super::extract::{ApiPath, ApiQuery};
use super::problem::{Bilingual, Lang, Problem};
use crate::app::App;
use crate::auth::Citizen;
use crate::store::messages::{self, Message};
use crate::store::{jobs, now_ms};
use crate::text::rfc3339;

/// Messages listed at most.
const LIMIT: i64 = 200;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(read)).routes(routes!(preferences, set_preferences))
}

/// How the citizen wants to hear from the window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesView {
    /// Channels besides the inbox (always on): `sms`, `email`.
    pub channels: Vec<String>,
    /// The address e-mail goes to.
    pub email: Option<String>,
    /// `fa` or `en`: the language of SMS and e-mail.
    pub language: String,
}

/// The citizen's channels, e-mail address and language.
#[utoipa::path(
    get, path = "/me/preferences", tag = "citizen",
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses((status = 200, description = "Preferences", body = PreferencesView), (status = 401, description = "Not signed in")),
)]
async fn preferences(State(app): State<Arc<App>>, citizen: Citizen) -> Result<Json<PreferencesView>, Problem> {
    Ok(Json(load_preferences(&app, &citizen).await?))
}

/// The citizen's preferences (shared by the API and the portal).
pub async fn load_preferences(app: &App, citizen: &Citizen) -> Result<PreferencesView, Problem> {
    let p = crate::store::citizens::preferences(&app.db, &citizen.subject).await?;
    Ok(PreferencesView { channels: p.channels, email: p.email, language: p.language })
}

/// Chooses channels (`sms`, `email`; the inbox is always on), an e-mail address and a
/// language.
#[utoipa::path(
    put, path = "/me/preferences", tag = "citizen", request_body = PreferencesView,
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "Stored", body = PreferencesView),
        (status = 401, description = "Not signed in"),
        (status = 422, description = "An unknown channel or language, a bad address, or e-mail chosen without one"),
    ),
)]
async fn set_preferences(
    State(app): State<Arc<App>>,
    citizen: Citizen,
    super::extract::ApiJson(body): super::extract::ApiJson<PreferencesView>,
) -> Result<Json<PreferencesView>, Problem> {
    Ok(Json(save_preferences(&app, &citizen, body).await?))
}

/// Checks and stores the citizen's preferences (shared by the API and the portal).
pub async fn save_preferences(app: &App, citizen: &Citizen, body: PreferencesView) -> Result<PreferencesView, Problem> {
    let field = |name: &str, fa: &str, en: &str| super::problem::FieldProblem {
        field: name.to_owned(),
        message: Bilingual::new(fa.to_owned(), en.to_owned()),
    };
    let mut errors = Vec::new();
    let mut channels: Vec<String> = Vec::new();
    for c in &body.channels {
        match c.as_str() {
            "sms" | "email" if !channels.contains(c) => channels.push(c.clone()),
            "sms" | "email" => {}
            _ => errors.push(field("channels", "کانال‌ها: sms یا email", "channels are sms or email")),
        }
    }
    let email = body.email.as_deref().map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned);
    if let Some(address) = &email
        && address.parse::<lettre::Address>().is_err()
    {
        errors.push(field("email", "نشانی ایمیل درست نیست", "not an e-mail address"));
    }
    if channels.iter().any(|c| c == "email") && email.is_none() {
        errors.push(field("email", "برای دریافت ایمیل، نشانی را وارد کنید", "email is required for the email channel"));
    }
    if !matches!(body.language.as_str(), "fa" | "en") {
        errors.push(field("language", "زبان: fa یا en", "language is fa or en"));
    }
    if !errors.is_empty() {
        return Err(Problem::invalid_input(errors));
    }
    let p = crate::store::citizens::Preferences { email, channels, language: body.language };
    crate::store::citizens::set_preferences(&app.db, &citizen.subject, &p).await?;
    Ok(PreferencesView { channels: p.channels, email: p.email, language: p.language })
}

pub fn admin_routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(admin_jobs)).routes(routes!(admin_retry))
}

/// One message of the inbox, in the citizen's language.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub id: String,
    /// `application-status` or `payment-receipt`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The portal page the message is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub created_at: String,
    pub read: bool,
    /// How its SMS fared: `none`, `queued`, `sent`, `delivered`, `failed-temporarily`,
    /// `failed-permanently`.
    pub sms: String,
    /// SMS segments the text takes (Persian is UCS-2: 70 characters a segment).
    pub sms_segments: i64,
    /// How its e-mail fared: `none`, `queued`, `sent`, `failed-temporarily`,
    /// `failed-permanently`.
    pub email: String,
}

impl MessageView {
    pub fn of(m: &Message, lang: Lang) -> MessageView {
        MessageView {
            id: m.id.clone(),
            kind: m.kind.clone(),
            title: lang.pick(&m.title_fa, &m.title_en).to_owned(),
            body: lang.pick(&m.body_fa, &m.body_en).to_owned(),
            link: m.link.clone(),
            created_at: rfc3339(m.created_ms),
            read: m.read_ms.is_some(),
            sms: m.sms_state.clone(),
            sms_segments: m.sms_segments,
            email: m.email_state.clone(),
        }
    }
}

/// `GET /api/v1/me/messages`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageList {
    pub count: usize,
    pub unread: usize,
    /// Newest first.
    pub messages: Vec<MessageView>,
}

/// The citizen's messages, newest first.
pub async fn inbox(app: &App, lang: Lang, citizen: &Citizen) -> Result<MessageList, Problem> {
    let list = messages::of_citizen(&app.db, &citizen.subject, LIMIT).await?;
    let messages: Vec<_> = list.iter().map(|m| MessageView::of(m, lang)).collect();
    let unread = messages.iter().filter(|m| !m.read).count();
    Ok(MessageList { count: messages.len(), unread, messages })
}

/// What happened to the citizen's applications and payments.
#[utoipa::path(
    get, path = "/me/messages", tag = "citizen", params(Lang),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 200, description = "The inbox", body = MessageList),
        (status = 401, description = "Not signed in"),
    ),
)]
async fn list(State(app): State<Arc<App>>, lang: Lang, citizen: Citizen) -> Result<Json<MessageList>, Problem> {
    Ok(Json(inbox(&app, lang, &citizen).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MessagePath {
    pub id: String,
}

/// Marks a message read.
#[utoipa::path(
    post, path = "/me/messages/{id}/read", tag = "citizen", params(MessagePath),
    security(("citizen" = []), ("citizen_cookie" = [])),
    responses(
        (status = 204, description = "Read"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such message of this citizen"),
    ),
)]
async fn read(
    State(app): State<Arc<App>>,
    citizen: Citizen,
    ApiPath(path): ApiPath<MessagePath>,
) -> Result<StatusCode, Problem> {
    if !messages::mark_read(&app.db, &citizen.subject, &path.id, now_ms()).await? {
        return Err(Problem::not_found(Bilingual::new("پیامی با این شناسه نیست", "no such message")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `queued`, `done` or `dead` (default `dead`: the dead letters).
    pub state: Option<String>,
    pub limit: Option<i64>,
}

/// A background job, as operators see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub due_at: String,
    pub updated_at: String,
}

/// `GET /admin/v1/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    pub count: usize,
    pub jobs: Vec<JobView>,
}

/// Background jobs; by default the dead letters (operators).
#[utoipa::path(
    get, path = "/jobs", tag = "operators", params(JobsQuery), security(("operator" = [])),
    responses(
        (status = 200, description = "Jobs", body = JobList),
        (status = 400, description = "An unknown state"),
        (status = 401, description = "No valid operator token"),
    ),
)]
async fn admin_jobs(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    ApiQuery(query): ApiQuery<JobsQuery>,
) -> Result<Json<JobList>, Problem> {
    let state = query.state.as_deref().unwrap_or("dead");
    if !matches!(state, "queued" | "done" | "dead") {
        return Err(Problem::bad_request(Bilingual::new(
            format!("وضعیت ناشناخته: {state}"),
            format!("unknown state {state}: queued, done or dead"),
        )));
    }
    let list = jobs::list(&app.db, state, query.limit.unwrap_or(100).clamp(1, 1000)).await?;
    let jobs: Vec<_> = list
        .into_iter()
        .map(|j| JobView {
            id: j.id,
            kind: j.kind,
            payload: j.payload,
            state: j.state,
            attempts: j.attempts,
            last_error: j.last_error,
            due_at: rfc3339(j.due_ms),
            updated_at: rfc3339(j.updated_ms),
        })
        .collect();
    Ok(Json(JobList { count: jobs.len(), jobs }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct JobPath {
    pub id: String,
}

/// Puts a dead letter back in the queue (admins).
#[utoipa::path(
    post, path = "/jobs/{id}/retry", tag = "operators", params(JobPath), security(("operator" = [])),
    responses(
        (status = 204, description = "Queued again"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "Auditors only read"),
        (status = 404, description = "No dead letter with this id"),
    ),
)]
async fn admin_retry(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(path): ApiPath<JobPath>,
) -> Result<StatusCode, Problem> {
    let operator = auth.admin()?;
    if !jobs::revive(&app.db, &path.id, now_ms()).await? {
        return Err(Problem::not_found(Bilingual::new("کار مرده‌ای با این شناسه نیست", "no dead letter with this id")));
    }
    let entry = crate::audit::Entry {
        kind: "admin.job-retry".into(),
        actor: operator.name.clone(),
        subject: path.id.clone(),
        data: serde_json::json!({}),
    };
    crate::api::record(&app.audit, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
