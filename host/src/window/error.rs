//! What can go wrong in a use case, typed. The HTTP status, the problem type and the
//! bilingual wording of each are chosen in one place, `api/errors.rs`.

use crate::names::Purpose;
use crate::runtime::CallError;
use crate::runtime::bindings::{Assurance, ServiceKind, Text};
use crate::text::FieldProblem;
use crate::tracking::TrackingCodeError;

/// Why a use case did not give its answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no agency `{0}`")]
    UnknownAgency(String),
    #[error("agency `{agency}` has no service `{service}`")]
    UnknownService { agency: String, service: String },
    /// An operator disabled the adapter (for a service, or for a whole agency's callbacks).
    #[error("adapter `{adapter}` is disabled for maintenance")]
    Maintenance { adapter: String, whole_agency: bool },
    #[error("the service is not an {}", .expected.as_str())]
    WrongKind { expected: ServiceKind },
    /// Nobody is signed in: the service needs `needed`, or (for `None`) the use case needs
    /// someone whose application it will be.
    #[error("sign-in required")]
    SignInRequired { needed: Option<Assurance> },
    #[error("the service needs {} assurance; the session has {}", .needed.as_str(), .current.as_str())]
    AssuranceTooLow { needed: Assurance, current: Assurance },
    /// A legal entity asked for a service that hands a person's national ID over.
    #[error("the service is for natural persons")]
    ForPersons,
    /// A person (not acting for a legal entity) asked for a service for legal entities.
    #[error("the service is for legal entities")]
    ForLegalEntities,
    /// Someone acting under a mandate asked for a service the mandate does not cover.
    #[error("the mandate does not cover this service")]
    OutsideMandate,
    /// The host refused fields of the form.
    #[error("{} fields are not valid", .0.len())]
    InvalidInput(Vec<FieldProblem>),
    /// The adapter refused, failed or was stopped.
    #[error("adapter `{adapter}` ({request_id}): {failure}")]
    Adapter { adapter: String, request_id: String, failure: AdapterFailure },
    #[error("the Idempotency-Key was used for a different submission")]
    IdempotencyKeyReused,
    #[error("an application with this Idempotency-Key is still being filed")]
    ApplicationInProgress,
    /// No application of the citizen has the code; `Some` says what is wrong with the code
    /// as typed.
    #[error("no application with this tracking code")]
    ApplicationNotFound(Option<TrackingCodeError>),
    /// A callback whose signature does not hold; the reason is logged, not sent.
    #[error("callback signature refused: {0}")]
    CallbackSignature(&'static str),
    #[error("the callback was accepted before")]
    CallbackReplayed,
    #[error("no application of agency `{agency}` has reference `{reference}`")]
    UnknownReference { agency: String, reference: String },
    /// Acting for someone else no longer holds (or cannot be checked).
    #[error(transparent)]
    Representation(#[from] crate::auth::representation::RepresentationError),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    /// The call's evidence could not be made durable, so its answer is withheld.
    #[error("the evidence log did not take the entry: {0}")]
    Evidence(String),
}

/// How an adapter call went wrong: the agency's own refusal (a WIT `adapter-error`), or
/// the host stopping the call.
#[derive(Debug, thiserror::Error)]
pub enum AdapterFailure {
    #[error("the agency refused fields")]
    InvalidInput(Vec<FieldProblem>),
    #[error("the agency found nothing")]
    NotFound(Text),
    #[error("the agency refused")]
    Forbidden(Text),
    #[error("the agency's system is unavailable")]
    Unavailable(Text),
    /// The adapter's own error; its reason is logged (redacted), never shown.
    #[error("the adapter reported an error")]
    Other,
    #[error(transparent)]
    Stopped(#[from] CallError),
}

impl ServiceError {
    /// The stable, machine-readable kind of the error: the problem type's slug, and what
    /// the evidence log hashes for a refused call.
    pub fn code(&self) -> &'static str {
        use crate::auth::representation::RepresentationError as R;
        match self {
            ServiceError::UnknownAgency(_)
            | ServiceError::UnknownService { .. }
            | ServiceError::UnknownReference { .. } => "not-found",
            ServiceError::Maintenance { .. } => "maintenance",
            ServiceError::WrongKind { .. } => "wrong-service-kind",
            ServiceError::SignInRequired { .. } => "sign-in-required",
            ServiceError::AssuranceTooLow { .. } => "assurance-too-low",
            ServiceError::ForPersons => "service-for-persons",
            ServiceError::ForLegalEntities => "service-for-legal-entities",
            ServiceError::OutsideMandate => "outside-mandate",
            ServiceError::InvalidInput(_) => "invalid-input",
            ServiceError::Adapter { failure, .. } => match failure {
                AdapterFailure::InvalidInput(_) => "invalid-input",
                AdapterFailure::NotFound(_) => "not-found",
                AdapterFailure::Forbidden(_) => "forbidden",
                AdapterFailure::Unavailable(_) => "agency-unavailable",
                AdapterFailure::Other => "adapter-error",
                AdapterFailure::Stopped(stopped) => match stopped {
                    CallError::CpuBudget(_) => "adapter-cpu-budget",
                    CallError::Timeout(_) => "adapter-timeout",
                    CallError::Memory(_) => "adapter-memory-limit",
                    CallError::Trap(_) => "adapter-failed",
                    CallError::Oversized(_) => "adapter-answer-too-large",
                    CallError::Busy => "adapter-busy",
                },
            },
            ServiceError::CallbackSignature(_) => "callback-signature",
            ServiceError::CallbackReplayed => "callback-replayed",
            ServiceError::IdempotencyKeyReused => "idempotency-key-reused",
            ServiceError::ApplicationInProgress => "application-in-progress",
            ServiceError::ApplicationNotFound(_) => "application-not-found",
            ServiceError::Representation(R::NotAllowed) => "representation-refused",
            ServiceError::Representation(R::Off) => "representation-off",
            ServiceError::Representation(R::Unavailable(_)) => "registry-unavailable",
            ServiceError::Store(_) => "internal-error",
            ServiceError::Evidence(_) => "evidence-unavailable",
        }
    }

    /// Whether the fault is on the far side (the agency, its adapter, a registry, the host's
    /// database), so that the same request may work later.
    pub fn is_transient(&self) -> bool {
        match self {
            ServiceError::Maintenance { .. } | ServiceError::Store(_) | ServiceError::Evidence(_) => true,
            ServiceError::Representation(crate::auth::representation::RepresentationError::Unavailable(_)) => true,
            ServiceError::Adapter { failure, .. } => {
                matches!(failure, AdapterFailure::Unavailable(_) | AdapterFailure::Other | AdapterFailure::Stopped(_))
            }
            _ => false,
        }
    }
}

/// Why the window hands over identity attributes, for one kind of service.
pub(crate) fn purpose(kind: ServiceKind) -> Purpose {
    match kind {
        ServiceKind::Inquiry => Purpose::Inquiry,
        ServiceKind::Application => Purpose::Application,
    }
}
