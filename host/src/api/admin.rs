//! The admin API (`/admin/v1`): adapter lifecycle and the audit log, for operators only.
//!
//! Operators authenticate with their own bearer tokens (`panjereh operator create`);
//! citizen tokens are never operator tokens. Auditors read; admins change.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::citizen::ApiJson;
use super::problem::{Bilingual, Problem};
use crate::app::App;
use crate::audit;
use crate::plugins::lifecycle::{ChangeError, InstallError, Package, Source};
use crate::store::operators::{Operator, Role};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/plugins",
            get(list).post(upload).layer(DefaultBodyLimit::max(crate::plugins::MAX_COMPONENT_BYTES + (1 << 20))),
        )
        .route("/plugins/{id}", get(show).delete(remove))
        .route("/plugins/{id}/enable", post(enable))
        .route("/plugins/{id}/disable", post(disable))
        .route("/plugins/{id}/activate", post(activate))
        .route("/plugins/{id}/rollback", post(rollback))
        .route("/audit", get(audit_log))
        .route("/audit/verify", get(audit_verify))
}

/// An authenticated operator.
pub struct OperatorAuth(pub Operator);

impl FromRequestParts<Arc<App>> for OperatorAuth {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Problem> {
        let unauthorized = || {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "operator-unauthorized",
                Bilingual::new("توکن اپراتور لازم است", "An operator token is required"),
            )
            .detail(Bilingual::new(
                "سرآیند Authorization: Bearer را با توکن اپراتور بفرستید.",
                "Send Authorization: Bearer with an operator token (panjereh operator create).",
            ))
        };
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(unauthorized)?;
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

impl OperatorAuth {
    /// Refuses auditors.
    fn admin(&self) -> Result<&Operator, Problem> {
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
        ChangeError::NoPrevious(_) => StatusCode::CONFLICT,
        ChangeError::Unloadable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ChangeError::Storage(_) => {
            tracing::error!(%reason, "lifecycle change failed in storage");
            return storage_problem();
        }
    };
    Problem::new(status, "lifecycle-refused", Bilingual::new("تغییر انجام نشد", "The change was refused"))
        .detail(Bilingual::new(format!("دلیل: {reason}"), reason))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    /// Stage the version without switching to it.
    activate: Option<bool>,
}

/// `multipart/form-data` with parts `manifest` (TOML), `component` (the .wasm) and
/// optionally `signature` (base64).
async fn upload(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Query(query): Query<UploadQuery>,
    mut form: Multipart,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let operator = auth.admin()?;
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
    Ok((StatusCode::CREATED, Json(json!(installed))))
}

async fn describe_adapter(app: &App, id: &str) -> Result<Option<Value>, Problem> {
    let Some(state) = app.db.desired_state(id).await.map_err(|_| storage_problem())? else {
        return Ok(None);
    };
    let versions = app.db.versions(id).await.map_err(|_| storage_problem())?;
    let serving = app.registry.get(&state.agency).filter(|s| s.adapter.manifest.id == id);
    let (grant, limits, stats, services) = match &serving {
        Some(slot) => {
            let a = &slot.adapter;
            let g = a.grant();
            let l = a.limits();
            (
                json!({
                    "config": g.config_keys, "http": g.http_hosts, "identity": g.identity,
                    "kv_quota_bytes": g.kv_quota,
                    "config_values": a.redacted_config(),
                }),
                json!({"cpu_ms": l.cpu.as_millis() as u64, "wall_ms": l.wall.as_millis() as u64,
                       "memory_mib": l.memory_bytes >> 20, "concurrency": l.concurrency}),
                a.stats(),
                a.agency.services.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
            )
        }
        None => (Value::Null, Value::Null, Value::Null, Vec::new()),
    };
    Ok(Some(json!({
        "id": state.id,
        "agency": state.agency,
        "state": if state.enabled { "enabled" } else { "disabled" },
        "active_version": state.active_version,
        "previous_version": state.previous_version,
        "serving_version": serving.as_ref().map(|s| s.adapter.manifest.version.to_string()),
        "digest": serving.as_ref().map(|s| s.adapter.digest.clone()),
        "wit": serving.as_ref().map(|s| s.adapter.wit.to_string()),
        "services": services,
        "grant": grant,
        "limits": limits,
        "stats": stats,
        "versions": versions.iter().map(|v| json!({
            "version": v.version, "digest": v.digest, "signed_by": v.signed_by,
            "uploaded_by": v.uploaded_by, "uploaded_at": v.uploaded_at,
        })).collect::<Vec<_>>(),
        "updated_at": state.updated_at,
    })))
}

async fn list(State(app): State<Arc<App>>, _auth: OperatorAuth) -> Result<Json<Value>, Problem> {
    let states = app.db.desired_states().await.map_err(|_| storage_problem())?;
    let mut plugins = Vec::with_capacity(states.len());
    for state in states {
        if let Some(view) = describe_adapter(&app, &state.id).await? {
            plugins.push(view);
        }
    }
    Ok(Json(json!({ "plugins": plugins })))
}

fn no_such_adapter(id: &str) -> Problem {
    Problem::not_found(Bilingual::new(format!("افزونه «{id}» نصب نیست"), format!("no adapter `{id}` is installed")))
}

async fn show(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    describe_adapter(&app, &id).await?.map(Json).ok_or_else(|| no_such_adapter(&id))
}

async fn enable(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    app.plugins.set_enabled(&id, true, &auth.admin()?.name).await.map_err(change_problem)?;
    show(State(app), auth, Path(id)).await
}

async fn disable(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    app.plugins.set_enabled(&id, false, &auth.admin()?.name).await.map_err(change_problem)?;
    show(State(app), auth, Path(id)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    version: String,
}

async fn activate(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActivateBody>,
) -> Result<Json<Value>, Problem> {
    app.plugins.activate(&id, Some(&body.version), &auth.admin()?.name).await.map_err(change_problem)?;
    show(State(app), auth, Path(id)).await
}

async fn rollback(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    app.plugins.activate(&id, None, &auth.admin()?.name).await.map_err(change_problem)?;
    show(State(app), auth, Path(id)).await
}

async fn remove(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    app.plugins.remove(&id, &auth.admin()?.name).await.map_err(change_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

async fn audit_log(
    State(app): State<Arc<App>>,
    _auth: OperatorAuth,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, Problem> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let entries = audit::recent(&app.db, limit, query.before).await.map_err(|_| storage_problem())?;
    Ok(Json(json!({ "entries": entries })))
}

async fn audit_verify(State(app): State<Arc<App>>, _auth: OperatorAuth) -> Result<Json<audit::Verification>, Problem> {
    audit::verify(&app.db).await.map(Json).map_err(|error| {
        tracing::error!(%error, "audit verification failed to run");
        storage_problem()
    })
}
