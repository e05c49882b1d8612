//! The admin API (`/admin/v1`): adapter lifecycle and the audit log, for operators only.
//!
//! Operators authenticate with their own bearer tokens (`panjereh operator create`);
//! citizen tokens are never operator tokens. Auditors read (and may anchor the evidence
//! log with a checkpoint); admins change.
//! citizen tokens are never operator tokens. A token works until it expires or is
//! revoked ([`operators`]). Auditors read; admins change.

mod operators;

use std::sync::Arc;

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, OptionalFromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::problem::{Bilingual, Problem};
use crate::app::App;
use crate::audit;
use crate::audit::checkpoint::{self, Checkpoint, CheckpointError};
use crate::plugins::CallStats;
use crate::plugins::lifecycle::{ChangeError, InstallError, Installed, Package, Source};
use crate::store::operators::{Operator, Role};
use crate::text::rfc3339;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    let (schemas, paths, plugins) = routes!(list, upload);
    let upload_limit = DefaultBodyLimit::max(crate::plugins::MAX_COMPONENT_BYTES + (1 << 20));
    OpenApiRouter::new()
        .routes((schemas, paths, plugins.layer(upload_limit)))
        .routes(routes!(show, remove))
        .routes(routes!(remove_version))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(activate))
        .routes(routes!(rollback))
        .routes(routes!(audit_log))
        .routes(routes!(audit_verify))
        .routes(routes!(checkpoints, checkpoint_now))
        .merge(operators::routes())
}

/// An authenticated operator.
pub struct OperatorAuth(pub Operator);

/// The bearer token of a request, if it sends one.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn unauthorized() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "operator-unauthorized",
        Bilingual::new("توکن اپراتور لازم است", "An operator token is required"),
    )
    .detail(Bilingual::new(
        "سرآیند Authorization: Bearer را با توکن معتبر اپراتور بفرستید؛ توکن منقضی یا باطل‌شده پذیرفته نمی‌شود.",
        "Send Authorization: Bearer with an operator token (panjereh operator create); \
         an expired or revoked token is refused.",
    ))
}

impl FromRequestParts<Arc<App>> for OperatorAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        let token = bearer(parts).ok_or_else(unauthorized)?;
        match app.db.operator_by_token(token).await {
            Ok(Some(operator)) => Ok(OperatorAuth(operator)),
            Ok(None) => Err(unauthorized()),
            Err(error) => {
                tracing::error!(%error, "operator lookup failed");
                Err(storage_problem())
            }
        }
    }
}

/// For answers that show operators more than anyone else (`/readyz`): `None` for a
/// request without a working operator token, whatever else it sends.
impl OptionalFromRequestParts<Arc<App>> for OperatorAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Option<Self>, Problem> {
        let Some(token) = bearer(parts) else {
            return Ok(None);
        };
        match app.db.operator_by_token(token).await {
            Ok(found) => Ok(found.map(OperatorAuth)),
            Err(error) => {
                tracing::error!(%error, "operator lookup failed");
                Err(storage_problem())
            }
        }
    }
}

impl OperatorAuth {
    /// Refuses auditors.
    pub fn admin(&self) -> Result<&Operator, Problem> {
        if self.0.role == Role::Admin {
            Ok(&self.0)
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "operator-forbidden",
                Bilingual::new("این کار فقط از مدیر برمی‌آید", "Only admins may change adapters"),
            )
            .detail(Bilingual::new(
                "نقش شما «حسابرس» است و فقط می‌توانید بخوانید.",
                "Your role is auditor, which may only read.",
            )))
        }
    }
}

fn storage_problem() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage-unavailable",
        Bilingual::new("پایگاه داده در دسترس نیست", "The database is unavailable"),
    )
    .retry_after(5)
}

fn install_problem(error: InstallError) -> Problem {
    let reason = error.to_string();
    let (status, slug) = match &error {
        InstallError::Signature(_) => (StatusCode::UNPROCESSABLE_ENTITY, "package-signature"),
        InstallError::Load(_) => (StatusCode::UNPROCESSABLE_ENTITY, "package-refused"),
        InstallError::VersionExists { .. } => (StatusCode::CONFLICT, "version-exists"),
        InstallError::AgencyTaken { .. } => (StatusCode::CONFLICT, "agency-taken"),
        InstallError::IdTaken { .. } => (StatusCode::CONFLICT, "adapter-id-taken"),
        InstallError::Storage(_) => {
            tracing::error!(%reason, "install failed in storage");
            return storage_problem();
        }
    };
    Problem::new(status, slug, Bilingual::new("بسته افزونه پذیرفته نشد", "The adapter package was refused"))
        .detail(Bilingual::new(format!("دلیل: {reason}"), reason))
}

fn change_problem(error: ChangeError) -> Problem {
    let reason = error.to_string();
    let status = match &error {
        ChangeError::NotFound(_) | ChangeError::NoSuchVersion { .. } => StatusCode::NOT_FOUND,
        ChangeError::NoPrevious(_) | ChangeError::ActiveVersion { .. } | ChangeError::Changed(_) => {
            StatusCode::CONFLICT
        }
        ChangeError::Unloadable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ChangeError::Storage(_) => {
            tracing::error!(%reason, "lifecycle change failed in storage");
            return storage_problem();
        }
    };
    Problem::new(status, "lifecycle-refused", Bilingual::new("تغییر انجام نشد", "The change was refused"))
        .detail(Bilingual::new(format!("دلیل: {reason}"), reason))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// `false` stages the version without switching to it (default `true`).
    activate: Option<bool>,
}

/// An adapter package, as uploaded.
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The manifest (TOML).
    manifest: String,
    /// The component (`.wasm`).
    #[schema(format = Binary, content_media_type = "application/wasm")]
    component: Vec<u8>,
    /// The agency's Ed25519 signature of the component, base64 (required when the host
    /// trusts agency keys).
    signature: Option<String>,
}

/// Installs an adapter version from its package and, unless `activate=false`, switches
/// traffic to it without a restart. Admins only.
#[utoipa::path(
    post, path = "/plugins", tag = "operators", params(UploadQuery),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    security(("operator" = [])),
    responses(
        (status = 201, description = "Installed (and activated)", body = Installed),
        (status = 400, description = "A malformed form: a missing or unexpected part"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 409, description = "This version exists, another adapter serves the agency, or the adapter id \
            belongs to another agency"),
        (status = 422, description = "The package was refused: signature, manifest, contract or capabilities"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn upload(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiQuery(query): ApiQuery<UploadQuery>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Installed>), Problem> {
    let operator = auth.admin()?;
    let mut form = form.map_err(|e| {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            Bilingual::new("نوع محتوا باید multipart/form-data باشد", "Content-Type must be multipart/form-data"),
        )
        .detail(Bilingual::new(format!("دلیل: {}", e.body_text()), e.body_text()))
    })?;
    let bad = |en: String| Problem::bad_request(Bilingual::new(format!("فرم بارگذاری نادرست است: {en}"), en));
    let (mut manifest, mut wasm, mut signature) = (None, None, None);
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(|e| bad(e.body_text()))?;
        match name.as_str() {
            "manifest" => {
                manifest = Some(String::from_utf8(bytes.to_vec()).map_err(|_| bad("the manifest is not UTF-8".into()))?)
            }
            "component" => wasm = Some(bytes.to_vec()),
            "signature" => signature = Some(String::from_utf8_lossy(&bytes).into_owned()),
            other => return Err(bad(format!("unexpected part `{other}` (expected manifest, component, signature)"))),
        }
    }
    let manifest = manifest.ok_or_else(|| bad("the `manifest` part is missing".into()))?;
    let wasm = wasm.ok_or_else(|| bad("the `component` part is missing".into()))?;
    let installed = app
        .plugins
        .install(Package { manifest, wasm, signature }, Source::Upload, &operator.name, query.activate.unwrap_or(true))
        .await
        .map_err(install_problem)?;
    Ok((StatusCode::CREATED, Json(installed)))
}

/// An installed adapter as operators see it.
#[derive(Serialize, ToSchema)]
pub struct AdapterView {
    pub id: String,
    pub agency: String,
    /// `enabled` or `disabled`.
    #[schema(value_type = String, example = "enabled")]
    pub state: &'static str,
    /// The version operators chose.
    pub active_version: String,
    /// What `rollback` returns to: the version before the active one in `history`.
    pub previous_version: Option<String>,
    /// The versions operators switched to, oldest first; the last is the active one.
    /// Each rollback steps one back and forgets the step it undid.
    pub history: Vec<String>,
    /// The version answering now on this replica (absent while it cannot load).
    pub serving_version: Option<String>,
    pub digest: Option<String>,
    /// The contract version the component was built against.
    pub wit: Option<String>,
    pub services: Vec<String>,
    pub grant: Option<GrantView>,
    pub limits: Option<LimitsView>,
    pub stats: Option<CallStats>,
    pub versions: Vec<VersionView>,
    /// When the desired state last changed (RFC 3339).
    pub updated_at: String,
}

/// The capabilities an adapter holds: what its manifest asked for and an operator granted.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    pub config: BTreeSet<String>,
    /// Outbound destinations, `host:port`.
    pub http: BTreeSet<String>,
    pub identity: BTreeSet<String>,
    pub kv_quota_bytes: Option<u64>,
    /// Configuration values, secrets shown as `***`.
    pub config_values: BTreeMap<String, String>,
}

/// The limits each call of an adapter runs under.
#[derive(Serialize, ToSchema)]
pub struct LimitsView {
    pub cpu_ms: u64,
    pub wall_ms: u64,
    pub memory_mib: usize,
    pub concurrency: u32,
}

/// One stored version of an adapter.
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub version: String,
    pub digest: String,
    /// Fingerprint of the agency key that signed it.
    pub signed_by: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: String,
}

/// `GET /admin/v1/plugins`.
#[derive(Serialize, ToSchema)]
pub struct AdapterList {
    pub plugins: Vec<AdapterView>,
}

async fn describe_adapter(app: &App, id: &str) -> Result<Option<AdapterView>, Problem> {
    let Some(state) = app.db.desired_state(id).await.map_err(|_| storage_problem())? else {
        return Ok(None);
    };
    let versions = app.db.versions(id).await.map_err(|_| storage_problem())?;
    let history = app.db.activation_history(id).await.map_err(|_| storage_problem())?;
    let serving = app.registry.get(&state.agency).filter(|s| s.adapter.manifest.id == id);
    let adapter = serving.as_ref().map(|slot| &slot.adapter);
    Ok(Some(AdapterView {
        state: if state.enabled { "enabled" } else { "disabled" },
        serving_version: adapter.map(|a| a.manifest.version.to_string()),
        digest: adapter.map(|a| a.digest.clone()),
        wit: adapter.map(|a| a.wit.to_string()),
        services: adapter.map(|a| a.agency.services.iter().map(|s| s.id.clone()).collect()).unwrap_or_default(),
        grant: adapter.map(|a| {
            let g = a.grant();
            GrantView {
                config: g.config_keys.clone(),
                http: g.http_hosts.clone(),
                identity: g.identity.clone(),
                kv_quota_bytes: g.kv_quota,
                config_values: a.redacted_config(),
            }
        }),
        limits: adapter.map(|a| {
            let l = a.limits();
            LimitsView {
                cpu_ms: l.cpu.as_millis() as u64,
                wall_ms: l.wall.as_millis() as u64,
                memory_mib: l.memory_bytes >> 20,
                concurrency: l.concurrency,
            }
        }),
        stats: adapter.map(|a| a.stats()),
        versions: versions
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                digest: v.digest,
                signed_by: v.signed_by,
                uploaded_by: v.uploaded_by,
                uploaded_at: rfc3339(v.uploaded_at),
            })
            .collect(),
        updated_at: rfc3339(state.updated_at),
        id: state.id,
        agency: state.agency,
        active_version: state.active_version,
        previous_version: state.previous_version,
        history,
    }))
}

/// Every installed adapter with its versions, capabilities, limits and call statistics.
#[utoipa::path(
    get, path = "/plugins", tag = "operators", security(("operator" = [])),
    responses(
        (status = 200, description = "The installed adapters", body = AdapterList),
        (status = 401, description = "No valid operator token"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn list(State(app): State<Arc<App>>, _auth: OperatorAuth) -> Result<Json<AdapterList>, Problem> {
    let states = app.db.desired_states().await.map_err(|_| storage_problem())?;
    let mut plugins = Vec::with_capacity(states.len());
    for state in states {
        if let Some(view) = describe_adapter(&app, &state.id).await? {
            plugins.push(view);
        }
    }
    Ok(Json(AdapterList { plugins }))
}

fn no_such_adapter(id: &str) -> Problem {
    Problem::not_found(Bilingual::new(format!("افزونه «{id}» نصب نیست"), format!("no adapter `{id}` is installed")))
}

/// The adapter id in a path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct AdapterPath {
    /// The adapter's id, from its manifest.
    id: String,
}

/// One installed adapter.
#[utoipa::path(
    get, path = "/plugins/{id}", tag = "operators", params(AdapterPath), security(("operator" = [])),
    responses(
        (status = 200, description = "The adapter", body = AdapterView),
        (status = 401, description = "No valid operator token"),
        (status = 404, description = "No such adapter"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn show(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
) -> Result<Json<AdapterView>, Problem> {
    describe(&app, &id).await
}

async fn describe(app: &App, id: &str) -> Result<Json<AdapterView>, Problem> {
    describe_adapter(app, id).await?.map(Json).ok_or_else(|| no_such_adapter(id))
}

/// Puts a disabled adapter back in service. Admins only.
#[utoipa::path(
    post, path = "/plugins/{id}/enable", tag = "operators", params(AdapterPath), security(("operator" = [])),
    responses(
        (status = 200, description = "Enabled", body = AdapterView),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn enable(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
) -> Result<Json<AdapterView>, Problem> {
    app.plugins.set_enabled(&id, true, &auth.admin()?.name).await.map_err(change_problem)?;
    describe(&app, &id).await
}

/// Takes an adapter out of service for maintenance: its services answer 503 with
/// `Retry-After`, in-flight calls finish. Admins only.
#[utoipa::path(
    post, path = "/plugins/{id}/disable", tag = "operators", params(AdapterPath), security(("operator" = [])),
    responses(
        (status = 200, description = "Disabled", body = AdapterView),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn disable(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
) -> Result<Json<AdapterView>, Problem> {
    app.plugins.set_enabled(&id, false, &auth.admin()?.name).await.map_err(change_problem)?;
    describe(&app, &id).await
}

/// Body of `POST /admin/v1/plugins/{id}/activate`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    /// An installed version of the adapter.
    #[schema(example = "1.2.0")]
    version: String,
}

/// Switches traffic to an installed version; calls in flight finish on the old one.
/// Admins only.
#[utoipa::path(
    post, path = "/plugins/{id}/activate", tag = "operators", params(AdapterPath), request_body = ActivateBody,
    security(("operator" = [])),
    responses(
        (status = 200, description = "Serving the version", body = AdapterView),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter or version"),
        (status = 422, description = "The version cannot be loaded here"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn activate(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
    ApiJson(body): ApiJson<ActivateBody>,
) -> Result<Json<AdapterView>, Problem> {
    app.plugins.activate(&id, Some(&body.version), &auth.admin()?.name).await.map_err(change_problem)?;
    describe(&app, &id).await
}

/// Steps back to the version before the active one in the adapter's activation history
/// and forgets the step it undid, so repeated rollbacks go further back (3, 2, 1), never
/// back and forth. `activate` switches to any stored version. Admins only.
#[utoipa::path(
    post, path = "/plugins/{id}/rollback", tag = "operators", params(AdapterPath), security(("operator" = [])),
    responses(
        (status = 200, description = "Serving the previous version", body = AdapterView),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter"),
        (status = 409, description = "No earlier version in the history, or the adapter changed meanwhile"),
        (status = 422, description = "The previous version cannot be loaded here"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn rollback(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
) -> Result<Json<AdapterView>, Problem> {
    app.plugins.activate(&id, None, &auth.admin()?.name).await.map_err(change_problem)?;
    describe(&app, &id).await
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    /// `true` also erases the adapter's kv data (default `false`: it is kept for a
    /// reinstall). The id stays its agency's either way.
    purge: Option<bool>,
}

/// Stops serving an adapter and forgets its versions; applications filed through it stay,
/// and so does its kv data unless `purge=true`. The id stays bound to its agency: no other
/// agency may ever install under it. Admins only.
#[utoipa::path(
    delete, path = "/plugins/{id}", tag = "operators", params(AdapterPath, RemoveQuery), security(("operator" = [])),
    responses(
        (status = 204, description = "Removed (and with `purge`, its data erased)"),
        (status = 400, description = "An unknown or malformed parameter"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn remove(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(AdapterPath { id }): ApiPath<AdapterPath>,
    ApiQuery(query): ApiQuery<RemoveQuery>,
) -> Result<StatusCode, Problem> {
    let purge = query.purge.unwrap_or(false);
    app.plugins.remove(&id, purge, &auth.admin()?.name).await.map_err(change_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An adapter id and one of its versions in a path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    /// The adapter's id, from its manifest.
    id: String,
    /// A stored version of the adapter.
    version: String,
}

/// Removes one stored version of an adapter (and its steps in the activation history),
/// never the active one. Admins only.
#[utoipa::path(
    delete, path = "/plugins/{id}/versions/{version}", tag = "operators", params(VersionPath),
    security(("operator" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such adapter or version"),
        (status = 409, description = "It is the active version, or the adapter changed meanwhile"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn remove_version(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(VersionPath { id, version }): ApiPath<VersionPath>,
) -> Result<StatusCode, Problem> {
    app.plugins.remove_version(&id, &version, &auth.admin()?.name).await.map_err(change_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Entries to return, newest first (1 to 1000, default 100).
    limit: Option<i64>,
    /// Only entries before this sequence number (the next page).
    before: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditListQuery {
    /// Entries to return, newest first (1 to 1000, default 100).
    limit: Option<i64>,
    /// Only entries before this sequence number (the next page).
    before: Option<i64>,
    /// An adapter or agency id: entries about it or naming it as their agency.
    agency: Option<String>,
    /// An operator's name or a citizen's pseudonym: entries it made or that were made on
    /// its behalf.
    actor: Option<String>,
    /// A kind (`admin.install`), or kinds by prefix (`admin.*`).
    kind: Option<String>,
    /// Entries at or after this time: RFC 3339, or a day (`2026-12-01`, UTC).
    since: Option<String>,
    /// Entries before this time.
    until: Option<String>,
}

/// One entry of the evidence log as operators read it.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    /// When it was appended (RFC 3339, milliseconds, UTC).
    pub at: String,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    /// Metadata: the JSON object whose canonical text the hash covers.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    /// The host's seal, on the last entry of each batch it appended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

impl AuditEntryView {
    pub fn new(record: audit::Record) -> AuditEntryView {
        AuditEntryView {
            seq: record.seq,
            at: rfc3339(record.at),
            data: serde_json::from_str(&record.data).unwrap_or(serde_json::Value::String(record.data)),
            kind: record.kind,
            actor: record.actor,
            subject: record.subject,
            prev_hash: record.prev_hash,
            hash: record.hash,
            seal: record.seal,
        }
    }
}

/// `GET /admin/v1/audit`.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryView>,
}

/// The tamper-evident log of lifecycle changes and adapter calls, newest first, filtered by
/// agency, actor, kind and time.
#[utoipa::path(
    get, path = "/audit", tag = "operators", params(AuditListQuery), security(("operator" = [])),
    responses(
        (status = 200, description = "Audit entries", body = AuditPage),
        (status = 400, description = "An unknown or malformed parameter"),
        (status = 401, description = "No valid operator token"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn audit_log(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    ApiQuery(query): ApiQuery<AuditListQuery>,
) -> Result<Json<AuditPage>, Problem> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let time = |text: Option<String>| {
        text.map(|t| audit::parse_instant(&t))
            .transpose()
            .map_err(|reason| Problem::bad_request(Bilingual::new(format!("زمان نادرست است: {reason}"), reason)))
    };
    let filter = audit::Filter {
        agency: query.agency,
        actor: query.actor,
        kind: query.kind,
        since_ms: time(query.since)?,
        until_ms: time(query.until)?,
        before: query.before,
    };
    let entries = audit::list(&app.db, &filter, limit).await.map_err(|_| storage_problem())?;
    Ok(Json(AuditPage { entries: entries.into_iter().map(AuditEntryView::new).collect() }))
}

/// Walks the whole hash chain of the audit log and names the first broken link; with the
/// checkpoint key, also finds a log cut short (against the latest checkpoint, in the
/// database and in the checkpoint folder) or extended outside the host (after its last seal).
#[utoipa::path(
    get, path = "/audit/verify", tag = "operators", security(("operator" = [])),
    responses(
        (status = 200, description = "The chain checked", body = audit::Verification),
        (status = 401, description = "No valid operator token"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn audit_verify(State(app): State<Arc<App>>, _auth: OperatorAuth) -> Result<Json<audit::Verification>, Problem> {
    audit::verify(&app.db, &app.config.audit.anchor()).await.map(Json).map_err(|error| {
        tracing::error!(%error, "audit verification failed to run");
        storage_problem()
    })
}

/// `GET /admin/v1/audit/checkpoints`.
#[derive(Serialize, ToSchema)]
pub struct CheckpointList {
    /// Whether this host has a checkpoint key (and seals and checkpoints the log).
    pub anchored: bool,
    /// Fingerprint of the checkpoint key.
    pub key: Option<String>,
    /// The checkpoint key's public half (base64 Ed25519), to verify checkpoints elsewhere.
    pub public_key: Option<String>,
    /// Newest first. Each is the same document as the checkpoint's file.
    pub checkpoints: Vec<Checkpoint>,
}

/// Signed checkpoints of the audit log's head, newest first: keep copies outside this host,
/// and `panjereh audit verify` finds a log that was cut back before one of them.
#[utoipa::path(
    get, path = "/audit/checkpoints", tag = "operators", params(AuditQuery), security(("operator" = [])),
    responses(
        (status = 200, description = "Checkpoints", body = CheckpointList),
        (status = 400, description = "An unknown or malformed parameter"),
        (status = 401, description = "No valid operator token"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn checkpoints(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<CheckpointList>, Problem> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let checkpoints = checkpoint::list(&app.db, limit, query.before).await.map_err(|_| storage_problem())?;
    let key = app.config.audit.key.as_deref();
    Ok(Json(CheckpointList {
        anchored: key.is_some(),
        key: key.map(|k| k.id().to_owned()),
        public_key: key.map(|k| crate::plugins::signature::public_key_text(&k.public())),
        checkpoints,
    }))
}

/// Makes a checkpoint of the audit log's newest sealed entry now (or answers the latest,
/// if it names that entry already), and writes its file. Any operator may: it changes
/// nothing but the evidence.
#[utoipa::path(
    post, path = "/audit/checkpoints", tag = "operators", security(("operator" = [])),
    responses(
        (status = 200, description = "The checkpoint of the newest sealed entry", body = Checkpoint),
        (status = 401, description = "No valid operator token"),
        (status = 409, description = "No checkpoint key is configured, nothing is sealed yet, or the log no longer \
            matches its seals or latest checkpoint"),
        (status = 503, description = "The database or the checkpoint folder is unavailable"),
    ),
)]
async fn checkpoint_now(State(app): State<Arc<App>>, auth: OperatorAuth) -> Result<Json<Checkpoint>, Problem> {
    let settings = &app.config.audit;
    let made = match settings.key.as_deref() {
        Some(key) => checkpoint::make(&app.db, key, &settings.keyring(), &settings.checkpoint_dir).await,
        None => Err(CheckpointError::NoKey),
    };
    let refused = |slug: &'static str, reason: String| {
        Problem::new(StatusCode::CONFLICT, slug, Bilingual::new("نقطهٔ وارسی ساخته نشد", "No checkpoint was made"))
            .detail(Bilingual::new(format!("دلیل: {reason}"), reason))
    };
    match made {
        Ok(checkpoint) => {
            tracing::info!(operator = %auth.0.name, seq = checkpoint.seq, "audit checkpoint on demand");
            Ok(Json(checkpoint))
        }
        Err(error @ CheckpointError::NoKey) => Err(refused("audit-not-anchored", error.to_string())),
        Err(
            error @ (CheckpointError::NothingSealed | CheckpointError::BadSeal { .. } | CheckpointError::Behind { .. }),
        ) => Err(refused("audit-checkpoint-refused", error.to_string())),
        Err(CheckpointError::Storage(error)) => {
            tracing::error!(error = %format!("{error:#}"), "audit checkpoint failed");
            Err(storage_problem())
        }
    }
}
