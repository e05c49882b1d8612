//! The one table from the use cases' [`ServiceError`] to problem documents: the HTTP
//! status, the problem type and the wording in Persian and English of each. The API
//! returns these; the portal shows their title and detail.

use axum::http::StatusCode;

use super::problem::{Bilingual, Problem};
use crate::auth::client_limit::ClientLimit;
use crate::auth::representation::RepresentationError;
use crate::runtime::CallError;
use crate::runtime::bindings::{Assurance, ServiceKind, Text};
use crate::tracking::TrackingCodeError;
use crate::window::{AdapterFailure, ServiceError};

/// The status of each problem type a use case can answer; the OpenAPI descriptions of
/// the operations are built from the same table (see [`responses`]).
pub fn status_of(slug: &str) -> StatusCode {
    match slug {
        "not-found" | "application-not-found" | "representation-off" => StatusCode::NOT_FOUND,
        "maintenance" | "agency-unavailable" | "adapter-busy" | "registry-unavailable" | "evidence-unavailable" => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        "wrong-service-kind" | "application-in-progress" | "callback-replayed" => StatusCode::CONFLICT,
        "sign-in-required" | "callback-signature" => StatusCode::UNAUTHORIZED,
        "assurance-too-low"
        | "service-for-persons"
        | "service-for-legal-entities"
        | "outside-mandate"
        | "forbidden"
        | "representation-refused" => StatusCode::FORBIDDEN,
        "invalid-input" | "idempotency-key-reused" => StatusCode::UNPROCESSABLE_ENTITY,
        "adapter-error" | "adapter-memory-limit" | "adapter-failed" | "adapter-answer-too-large" => {
            StatusCode::BAD_GATEWAY
        }
        "adapter-cpu-budget" | "adapter-timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn level_fa(a: Assurance) -> &'static str {
    match a {
        Assurance::None => "بدون ورود",
        Assurance::Low => "پایین",
        Assurance::Substantial => "معتبر (کد یک‌بارمصرف)",
        Assurance::High => "بالا (کارت هوشمند ملی)",
    }
}

fn text(t: &Text) -> Bilingual {
    Bilingual::new(t.fa.clone(), t.en.clone())
}

/// Takes a token of a per-client limit for `client`, or refuses with a 429 that says what
/// was limited (`what`) and when to try again (`Retry-After`).
pub fn admit_client(limit: &ClientLimit, client: std::net::IpAddr, what: Bilingual) -> Result<(), Problem> {
    limit.check(client).map_err(|wait| {
        tracing::warn!(%client, what = %what.en, "client limited");
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            Bilingual::new("درخواست‌ها بیش از حد مجاز", "Too many requests"),
        )
        .detail(Bilingual::new(
            format!("از این نشانی {} زیادی رسیده است؛ کمی صبر کنید و دوباره تلاش کنید.", what.fa),
            format!("too many {} came from this address; wait a moment and try again", what.en),
        ))
        .retry_after(wait.as_secs().max(1))
    })
}

/// A 401 asking the caller to sign in, saying why.
pub fn sign_in_required(detail: Bilingual) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "sign-in-required", Bilingual::new("ابتدا وارد شوید", "Sign-in required"))
        .detail(detail)
}

impl From<ServiceError> for Problem {
    fn from(error: ServiceError) -> Self {
        let status = status_of(error.code());
        let slug = error.code();
        let titled = |fa: &'static str, en: &'static str| Problem::new(status, slug, Bilingual::new(fa, en));
        match error {
            ServiceError::UnknownAgency(agency) => Problem::not_found(Bilingual::new(
                format!("دستگاه «{agency}» یافت نشد"),
                format!("no agency `{agency}`"),
            )),
            ServiceError::UnknownService { agency, service } => Problem::not_found(Bilingual::new(
                format!("خدمت «{service}» در این دستگاه یافت نشد"),
                format!("agency `{agency}` has no service `{service}`"),
            )),
            ServiceError::Maintenance { adapter, whole_agency: true } => {
                titled("این دستگاه موقتاً در دست تعمیر است", "This agency is temporarily down for maintenance")
                    .adapter(adapter)
                    .retry_after(300)
            }
            ServiceError::Maintenance { adapter, whole_agency: false } => {
                titled("این خدمت موقتاً در دست تعمیر است", "This service is temporarily down for maintenance")
                    .detail(Bilingual::new(
                        "دستگاه ارائه‌دهنده این خدمت را موقتاً غیرفعال کرده است. لطفاً بعداً دوباره تلاش کنید.",
                        "The agency's adapter has been disabled by an operator for maintenance. Please try again later.",
                    ))
                    .adapter(adapter)
                    .retry_after(300)
            }
            ServiceError::WrongKind { expected: ServiceKind::Inquiry } => {
                titled("این خدمت استعلام نیست؛ درخواست ثبت کنید", "this service is an application, not an inquiry")
            }
            ServiceError::WrongKind { expected: ServiceKind::Application } => {
                titled("این خدمت درخواست نیست؛ استعلام کنید", "this service is an inquiry, not an application")
            }
            ServiceError::SignInRequired { needed: None } => {
                sign_in_required(Bilingual::new("برای ثبت درخواست باید وارد شوید.", "sign in to file an application"))
            }
            ServiceError::SignInRequired { needed: Some(needed) } => sign_in_required(Bilingual::new(
                format!("این خدمت به ورود با سطح اطمینان «{}» یا بالاتر نیاز دارد.", level_fa(needed)),
                format!("this service needs a sign-in with at least `{needed}` assurance"),
            ))
            .extension("required_assurance", needed.as_str()),
            ServiceError::AssuranceTooLow { needed, current } => {
                titled("سطح اطمینان ورود شما کافی نیست", "Your sign-in is not strong enough")
                    .detail(Bilingual::new(
                        format!(
                            "این خدمت به سطح «{}» نیاز دارد و ورود شما در سطح «{}» است؛ با روشی قوی‌تر وارد شوید.",
                            level_fa(needed),
                            level_fa(current)
                        ),
                        format!(
                            "this service needs `{needed}` assurance; your session has `{current}`: sign in with a stronger method"
                        ),
                    ))
                    .extension("required_assurance", needed.as_str())
                    .extension("current_assurance", current.as_str())
            }
            ServiceError::ForPersons => {
                titled("این خدمت برای اشخاص حقیقی است", "This service is for natural persons").detail(Bilingual::new(
                    "این خدمت کد ملی شخص را به دستگاه می‌فرستد؛ برای استفاده از آن از طرف خودتان اقدام کنید.",
                    "the service hands a person's national ID to the agency; act for yourself to use it",
                ))
            }
            ServiceError::ForLegalEntities => {
                titled("این خدمت برای اشخاص حقوقی است", "This service is for legal entities").detail(Bilingual::new(
                    "این خدمت را امضاکننده‌ی یک شخص حقوقی از طرف آن انجام می‌دهد؛ نخست از بخش «اقدام از طرف دیگران» شرکت را برگزینید.",
                    "a signatory uses this service for a legal entity: choose the company under acting for others first",
                ))
            }
            ServiceError::OutsideMandate => {
                titled("این کار در وکالت یا موافقت او نیست", "Outside your mandate or their consent").detail(Bilingual::new(
                    "کسی که از طرفش اقدام می‌کنید فقط برای خدمت‌های دیگری به شما اجازه داده است.",
                    "the citizen you act for allowed you other agencies or services only",
                ))
            }
            ServiceError::InvalidInput(errors) => Problem::invalid_input(errors),
            ServiceError::Adapter { adapter, request_id, failure } => adapter_problem(status, slug, &adapter, &request_id, failure),
            ServiceError::IdempotencyKeyReused => {
                titled("این کلید تکرار برای درخواست دیگری به کار رفته است", "Idempotency-Key reused").detail(
                    Bilingual::new(
                        "برای درخواستی با اطلاعات متفاوت، کلید تازه‌ای بفرستید.",
                        "this key was used for a different submission; send a new key for new input",
                    ),
                )
            }
            ServiceError::ApplicationInProgress => {
                titled("همین درخواست در حال ثبت است", "This application is being filed")
                    .detail(Bilingual::new(
                        "درخواست قبلی با همین کلید هنوز پاسخ نگرفته است؛ چند لحظه دیگر دوباره بفرستید.",
                        "an earlier request with this Idempotency-Key is still running; retry in a moment",
                    ))
                    .retry_after(2)
            }
            ServiceError::ApplicationNotFound(typed) => {
                titled("درخواستی با این کد پیگیری یافت نشد", "No application with this tracking code").detail(
                    match typed {
                        None => Bilingual::new(
                            "کد پیگیری را با آنچه هنگام ثبت دریافت کردید مقایسه کنید.",
                            "compare the tracking code with the one you received when you applied",
                        ),
                        Some(TrackingCodeError::Check) => Bilingual::new(
                            "نویسه کنترلی کد پیگیری نمی‌خواند؛ احتمالاً یکی از نویسه‌ها اشتباه وارد شده است.",
                            "the tracking code's check character does not match: a character is probably mistyped",
                        ),
                        Some(_) => Bilingual::new(
                            "کد پیگیری به شکل PJ-XXXX-XXXX-XXXX-X است.",
                            "a tracking code looks like PJ-XXXX-XXXX-XXXX-X",
                        ),
                    },
                )
            }
            ServiceError::CallbackSignature(_) => {
                titled("امضای فراخوان معتبر نیست", "The callback signature is not valid").detail(Bilingual::new(
                    "زمان کنونی (ثانیه‌های یونیکس) و بدنه را به شکل <t>.<body> با HMAC-SHA256 و کلید مشترک امضا کنید و در سرآیند X-Panjereh-Signature به شکل t=<t>,sha256=<hex> بفرستید؛ ساعت شما باید با ساعت سامانه حداکثر پنج دقیقه فاصله داشته باشد.",
                    "sign `<t>.<body>`, where t is the current Unix time in seconds, with HMAC-SHA256 under the shared secret and send X-Panjereh-Signature: t=<t>,sha256=<hex>; your clock must be within five minutes of the host's",
                ))
            }
            ServiceError::CallbackReplayed => {
                titled("این فراخوان پیش‌تر پذیرفته شده است", "This callback was already accepted").detail(Bilingual::new(
                    "هر فراخوان یک بار پذیرفته می‌شود؛ برای ارسال دوباره، آن را با زمان تازه امضا کنید.",
                    "each delivery is accepted once; to send again, sign it with a fresh timestamp",
                ))
            }
            ServiceError::UnknownReference { agency, reference } => Problem::not_found(Bilingual::new(
                format!("درخواستی با شماره «{reference}» از این دستگاه یافت نشد"),
                format!("no application of agency `{agency}` has reference `{reference}`"),
            )),
            ServiceError::Representation(error) => representation_problem(error),
            ServiceError::Store(error) => Problem::from(error),
            ServiceError::Evidence(reason) => {
                tracing::error!(%reason, "an answer was withheld: its evidence is not durable");
                titled("سامانه موقتاً پاسخ نمی‌دهد", "The window cannot answer for now").detail(Bilingual::new(
                    "پاسخ بدون ثبت در دفتر شواهد داده نمی‌شود و این ثبت اکنون ممکن نیست؛ کمی بعد دوباره تلاش کنید.",
                    "no answer is given before it is in the evidence log, which cannot take entries now; try again shortly",
                ))
            }
        }
    }
}

/// The problem of acting for someone else that no longer holds or cannot be checked.
pub fn representation_problem(error: RepresentationError) -> Problem {
    match error {
        RepresentationError::NotAllowed => Problem::new(
            StatusCode::FORBIDDEN,
            "representation-refused",
            Bilingual::new("اجازه‌ی اقدام از طرف این شخص را ندارید", "You may not act for this subject"),
        )
        .detail(Bilingual::new(
            "ثبت شرکت‌ها شما را امضاکننده‌ی این شخص حقوقی نمی‌داند، یا ثبت احوال شما را ولی این فرزند زیر ۱۸ سال نمی‌شناسد.",
            "the companies registry does not list you as a signatory of this legal entity, or the civil registry does not list you as a parent of this child under 18",
        )),
        RepresentationError::Off => Problem::new(
            StatusCode::NOT_FOUND,
            "representation-off",
            Bilingual::new("اقدام از طرف دیگران در این میزبان فعال نیست", "Acting for others is not offered on this host"),
        ),
        RepresentationError::Unavailable(reason) => {
            tracing::warn!(%reason, "a representation registry did not answer");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry-unavailable",
                Bilingual::new("سامانه‌ی ثبت در دسترس نیست", "The registry is unavailable"),
            )
            .retry_after(10)
        }
    }
}

fn adapter_problem(
    status: StatusCode,
    slug: &'static str,
    adapter: &str,
    request_id: &str,
    failure: AdapterFailure,
) -> Problem {
    let reference =
        Bilingual::new(format!("شناسه پیگیری خطا: {request_id}"), format!("reference for support: {request_id}"));
    let titled = |fa: &'static str, en: &'static str| Problem::new(status, slug, Bilingual::new(fa, en));
    let problem = match failure {
        AdapterFailure::InvalidInput(errors) => Problem::invalid_input(errors),
        AdapterFailure::NotFound(message) => Problem::not_found(text(&message)),
        AdapterFailure::Forbidden(message) => titled("دسترسی مجاز نیست", "Forbidden").detail(text(&message)),
        AdapterFailure::Unavailable(message) => {
            titled("سامانه دستگاه در دسترس نیست", "The agency's system is unavailable")
                .detail(text(&message))
                .retry_after(30)
        }
        AdapterFailure::Other => {
            titled("سامانه دستگاه خطا داد", "The agency's adapter reported an error").detail(reference)
        }
        AdapterFailure::Stopped(CallError::CpuBudget(budget)) => {
            titled("پاسخ دستگاه از زمان مجاز طول کشید", "The agency's adapter used up its time budget").detail(
                Bilingual::new(
                    format!(
                        "افزونه «{adapter}» بیش از {} میلی‌ثانیه پردازش کرد و متوقف شد. {}",
                        budget.as_millis(),
                        reference.fa
                    ),
                    format!(
                        "adapter `{adapter}` ran longer than its {} ms CPU budget and was stopped; {}",
                        budget.as_millis(),
                        reference.en
                    ),
                ),
            )
        }
        AdapterFailure::Stopped(CallError::Timeout(limit)) => {
            titled("دستگاه به موقع پاسخ نداد", "The agency did not answer in time").detail(Bilingual::new(
                format!("افزونه «{adapter}» در {} ثانیه پاسخ نداد. {}", limit.as_secs(), reference.fa),
                format!("adapter `{adapter}` did not answer within {} s; {}", limit.as_secs(), reference.en),
            ))
        }
        AdapterFailure::Stopped(CallError::Memory(limit)) => titled(
            "افزونه دستگاه از حافظه مجاز فراتر رفت",
            "The agency's adapter exceeded its memory limit",
        )
        .detail(Bilingual::new(
            format!("افزونه «{adapter}» بیش از {} مگابایت حافظه خواست و متوقف شد. {}", limit >> 20, reference.fa),
            format!("adapter `{adapter}` asked for more than {} MiB and was stopped; {}", limit >> 20, reference.en),
        )),
        AdapterFailure::Stopped(CallError::Trap(_)) => {
            titled("افزونه دستگاه با خطا متوقف شد", "The agency's adapter failed").detail(Bilingual::new(
                format!("افزونه «{adapter}» با خطا متوقف شد. {}", reference.fa),
                format!("adapter `{adapter}` crashed while handling the request; {}", reference.en),
            ))
        }
        AdapterFailure::Stopped(CallError::Oversized(reason)) => {
            titled("پاسخ افزونه دستگاه از اندازه مجاز بزرگ‌تر بود", "The agency's adapter answered with too much")
                .detail(Bilingual::new(
                    format!("پاسخ افزونه «{adapter}» از سقف‌های پنجره فراتر رفت و پذیرفته نشد. {}", reference.fa),
                    format!(
                        "adapter `{adapter}` answered past the host's caps ({reason}) and was refused; {}",
                        reference.en
                    ),
                ))
        }
        AdapterFailure::Stopped(CallError::Busy) => {
            titled("این خدمت اکنون پرمشغله است", "This service is busy right now")
                .detail(Bilingual::new("چند لحظه دیگر دوباره تلاش کنید.", "Please try again in a moment."))
                .retry_after(1)
        }
    };
    problem.adapter(adapter)
}

/// What each problem type means to a client, for the OpenAPI description of the
/// operations that can answer it.
const MEANINGS: &[(&str, &str)] = &[
    ("not-found", "No such agency or service, or the agency found nothing"),
    ("maintenance", "The adapter is disabled for maintenance; see Retry-After"),
    ("wrong-service-kind", "The service is of the other kind (inquiry or application)"),
    ("sign-in-required", "The service needs a signed-in citizen, or the token is not valid"),
    ("assurance-too-low", "The session's assurance is below the service's"),
    ("service-for-persons", "A legal entity asked for a service for natural persons"),
    ("service-for-legal-entities", "A person, not acting for a legal entity, asked for a service for legal entities"),
    ("outside-mandate", "Acting under a mandate that does not cover this service"),
    ("invalid-input", "Fields the host or the agency refused, each with its reason"),
    ("forbidden", "The agency refused"),
    ("agency-unavailable", "The agency's system is down"),
    ("adapter-error", "The adapter reported an error"),
    ("adapter-cpu-budget", "The adapter used up its CPU budget"),
    ("adapter-timeout", "The adapter or the agency ran out of time"),
    ("adapter-memory-limit", "The adapter exceeded its memory limit"),
    ("adapter-failed", "The adapter crashed"),
    ("adapter-answer-too-large", "The adapter answered past the host's caps"),
    ("adapter-busy", "The adapter is busy; retry in a moment"),
    ("idempotency-key-reused", "The Idempotency-Key was used with a different form"),
    ("application-in-progress", "The application under this Idempotency-Key is still being filed"),
    ("application-not-found", "No application of this citizen has the code (a mistyped character is named)"),
    ("callback-signature", "A missing, malformed or wrong signature, or a stale timestamp"),
    ("callback-replayed", "This delivery was accepted before (a replay)"),
    ("representation-refused", "The registries no longer let the actor act for the subject"),
    ("registry-unavailable", "A registry behind acting for someone else did not answer"),
];

/// The problem types an adapter call can end in, whatever the use case.
pub const ADAPTER_CALL: &[&str] = &[
    "not-found",
    "maintenance",
    "invalid-input",
    "forbidden",
    "agency-unavailable",
    "adapter-error",
    "adapter-cpu-budget",
    "adapter-timeout",
    "adapter-memory-limit",
    "adapter-failed",
    "adapter-answer-too-large",
    "adapter-busy",
];

/// OpenAPI responses for problem types: one entry per status, describing every type that
/// answers with it.
pub fn responses(
    slugs: &[&[&str]],
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
    use std::collections::BTreeMap;
    let mut by_status: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for slug in slugs.iter().copied().flatten() {
        let meaning = MEANINGS.iter().find(|(s, _)| s == slug).map_or(*slug, |(_, m)| *m);
        let line = format!("`{slug}`: {meaning}");
        let lines = by_status.entry(status_of(slug).as_u16()).or_default();
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    by_status
        .into_iter()
        .map(|(status, lines)| {
            let content = utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("Problem")))
                .build();
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(lines.join("; "))
                .content("application/problem+json", content)
                .build();
            (status.to_string(), response.into())
        })
        .collect()
}

/// The problem types of one operation, as its OpenAPI `responses`:
/// `problems!(InquiryProblems: ADAPTER_CALL, ["wrong-service-kind", ...])`.
macro_rules! problems {
    ($name:ident: $($list:expr),+ $(,)?) => {
        #[doc = concat!("The problem types of one operation (`", stringify!($name), "`), for its OpenAPI description.")]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
                $crate::api::errors::responses(&[$(&$list[..]),+])
            }
        }
    };
}
pub(crate) use problems;
