//! RFC 9457 problem details, in Persian and English.
//!
//! Handlers return [`Problem`]s carrying both languages; the [`localize`] middleware
//! renders the body in the language the request asked for (`Accept-Language`, Persian by
//! default). Internal causes are logged where they happen, never sent.

use axum::extract::Request;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Required, Type};

pub use crate::text::{Bilingual, FieldProblem, Lang};

/// The request's language, as a handler argument.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// `Accept-Language`, as the description of every endpoint that answers with text.
impl utoipa::IntoParams for Lang {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("Accept-Language")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("`fa` (the default) or `en`: the language of text and of problem documents"))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).examples(["en", "fa-IR,en;q=0.5"])))
                .build(),
        ]
    }
}

/// A problem answer.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemDetails>);

/// The members of a problem answer. Boxed inside [`Problem`] so that `Result<T, Problem>`
/// stays small on every handler's happy path.
#[derive(Debug, Clone)]
pub struct ProblemDetails {
    pub status: StatusCode,
    /// Stable machine-readable kind; the `type` is `/problems/{slug}`.
    pub slug: &'static str,
    pub title: Bilingual,
    pub detail: Option<Bilingual>,
    /// The adapter involved, when the problem is an adapter's.
    pub adapter: Option<String>,
    pub errors: Vec<FieldProblem>,
    /// Extra headers (e.g. `Retry-After`).
    pub retry_after: Option<u64>,
    /// RFC 9457 extension members, added to the body as they are.
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// An RFC 9457 problem document as sent: `application/problem+json`, in the language the
/// request asked for (`Content-Language` says which).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDocument<'a> {
    /// `/problems/{slug}`: a stable, machine-readable kind.
    #[serde(rename = "type")]
    #[schema(example = "/problems/invalid-input")]
    pub kind: String,
    /// A short summary of the kind, in the request's language.
    pub title: &'a str,
    /// The HTTP status code.
    pub status: u16,
    /// What happened this time and what to do, in the request's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    /// The adapter involved, when the problem is an adapter's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<&'a str>,
    /// Per-field errors of a 422 `invalid-input`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError<'a>>,
    /// Extension members such as `required_assurance` or `attempts_left`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: &'a serde_json::Map<String, serde_json::Value>,
}

/// Why one field was refused, in the request's language and in both.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldError<'a> {
    /// The field's name in the form (or the JSON member).
    pub field: &'a str,
    pub message: &'a str,
    pub fa: &'a str,
    pub en: &'a str,
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, title: Bilingual) -> Self {
        Problem(Box::new(ProblemDetails {
            status,
            slug,
            title,
            detail: None,
            adapter: None,
            errors: Vec::new(),
            retry_after: None,
            extensions: serde_json::Map::new(),
        }))
    }

    pub fn detail(mut self, detail: Bilingual) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn adapter(mut self, adapter: impl Into<String>) -> Self {
        self.adapter = Some(adapter.into());
        self
    }

    pub fn errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds an extension member (a machine-readable detail such as `required_assurance`).
    pub fn extension(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// A failure of the host itself; the cause is logged with a reference, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let reference = format!("{:016x}", rand::random::<u64>());
        tracing::error!(%reference, %cause, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal-error",
            Bilingual::new("خطای داخلی سامانه", "Internal error"),
        )
        .detail(Bilingual::new(
            format!("لطفاً کمی بعد دوباره تلاش کنید. شناسه پیگیری خطا: {reference}"),
            format!("please try again later; reference for support: {reference}"),
        ))
    }

    pub fn not_found(detail: Bilingual) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", Bilingual::new("یافت نشد", "Not found")).detail(detail)
    }

    pub fn bad_request(detail: Bilingual) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", Bilingual::new("درخواست نادرست", "Bad request"))
            .detail(detail)
    }

    pub fn invalid_input(errors: Vec<FieldProblem>) -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-input",
            Bilingual::new("برخی از مقادیر درست نیست", "Some values are not valid"),
        )
        .detail(Bilingual::new("لطفاً خطاهای هر فیلد را برطرف کنید.", "Please correct the errors shown for each field."))
        .errors(errors)
    }

    /// The JSON body in one language.
    pub fn body(&self, lang: Lang) -> serde_json::Value {
        serde_json::to_value(self.document(lang)).unwrap_or_default()
    }

    /// The problem document in one language.
    pub fn document(&self, lang: Lang) -> ProblemDocument<'_> {
        ProblemDocument {
            kind: format!("/problems/{}", self.slug),
            title: self.title.get(lang),
            status: self.status.as_u16(),
            detail: self.detail.as_ref().map(|d| d.get(lang)),
            adapter: self.adapter.as_deref(),
            errors: self
                .errors
                .iter()
                .map(|e| FieldError {
                    field: &e.field,
                    message: e.message.get(lang),
                    fa: &e.message.fa[..],
                    en: &e.message.en[..],
                })
                .collect(),
            extensions: &self.extensions,
        }
    }

    fn render(&self, lang: Lang) -> Response {
        let body = serde_json::to_string(&self.document(lang)).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = self.render(Lang::Fa);
        response.extensions_mut().insert(self);
        response
    }
}

/// Re-renders problem bodies in the request's language.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = Lang::from_headers(request.headers());
    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions_mut().remove::<Problem>()
        && lang != Lang::Fa
    {
        return problem.render(lang);
    }
    response
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let reason = rejection.body_text();
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                Bilingual::new("نوع محتوا باید application/json باشد", "Content-Type must be application/json"),
            ),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                Bilingual::new("حجم درخواست بیش از حد مجاز است", "The request body is too large"),
            ),
            _ => Problem::bad_request(Bilingual::new(
                format!("بدنه درخواست JSON معتبری نیست: {reason}"),
                format!("the request body is not valid JSON for this endpoint: {reason}"),
            )),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        let reason = rejection.body_text();
        Problem::bad_request(Bilingual::new(
            format!("پارامترهای نشانی نادرست است: {reason}"),
            format!("invalid query parameters: {reason}"),
        ))
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        Problem::internal(&format_args!("database: {error}"))
    }
}

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        let reason = rejection.body_text();
        Problem::bad_request(Bilingual::new(
            format!("بخشی از نشانی نادرست است: {reason}"),
            format!("invalid path segment: {reason}"),
        ))
    }
}

/// Answers a known path asked with a method it does not take (`Allow` says which).
pub async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        Bilingual::new("این روش برای این نشانی پذیرفته نیست", "Method not allowed"),
    )
    .detail(Bilingual::new(
        "روش‌های پذیرفته در سرآیند Allow آمده است.",
        "the methods this path takes are in the Allow header",
    ))
}

/// Answers unknown paths.
pub async fn not_found() -> Problem {
    Problem::not_found(Bilingual::new("چنین نشانی‌ای وجود ندارد", "no such path"))
}
