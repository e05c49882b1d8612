//! `/admin/v1/operators`: who may use the admin API, and revoking a token at once (a
//! leaked token, someone who left). Tokens are created on the host's machine with
//! `panjereh operator create`, never over the API.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OperatorAuth, storage_problem};
use crate::api::extract::ApiPath;
use crate::api::problem::{Bilingual, Problem};
use crate::app::App;
use crate::audit::Entry;
use crate::store::now_ms;
use crate::store::operators::OperatorRecord;
use crate::text::rfc3339;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(revoke))
}

/// An operator as the admin API shows it (never the token).
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorView {
    pub name: String,
    /// `admin` or `auditor`.
    #[schema(example = "admin")]
    pub role: &'static str,
    /// `active`, `expired` or `revoked`.
    #[schema(example = "active")]
    pub token: &'static str,
    /// When the current token was issued.
    pub issued_at: String,
    pub expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl OperatorView {
    fn new(record: &OperatorRecord, now: i64) -> Self {
        OperatorView {
            name: record.name.clone(),
            role: record.role.as_str(),
            token: record.state(now).as_str(),
            issued_at: rfc3339(record.created_ms),
            expires_at: rfc3339(record.expires_ms),
            revoked_at: record.revoked_ms.map(rfc3339),
        }
    }
}

/// `GET /admin/v1/operators`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorList {
    pub operators: Vec<OperatorView>,
}

/// Every operator, with its role and whether its token works.
#[utoipa::path(
    get, path = "/operators", tag = "operators", security(("operator" = [])),
    responses(
        (status = 200, description = "The operators", body = OperatorList),
        (status = 401, description = "No valid operator token"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn list(State(app): State<Arc<App>>, _auth: OperatorAuth) -> Result<Json<OperatorList>, Problem> {
    let records = app.db.operators().await.map_err(|_| storage_problem())?;
    let now = now_ms();
    Ok(Json(OperatorList { operators: records.iter().map(|r| OperatorView::new(r, now)).collect() }))
}

/// The operator's name in a path.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct OperatorPath {
    /// The operator's name, as given to `panjereh operator create --name`.
    name: String,
}

/// Revokes an operator's token: from this request on, every replica answers it 401.
/// Revoking a revoked token changes nothing. Admins only; audited.
#[utoipa::path(
    post, path = "/operators/{name}/revoke", tag = "operators", params(OperatorPath), security(("operator" = [])),
    responses(
        (status = 200, description = "Revoked", body = OperatorView),
        (status = 401, description = "No valid operator token"),
        (status = 403, description = "An auditor may only read"),
        (status = 404, description = "No such operator"),
        (status = 503, description = "The database is unavailable"),
    ),
)]
async fn revoke(
    State(app): State<Arc<App>>,
    auth: OperatorAuth,
    ApiPath(OperatorPath { name }): ApiPath<OperatorPath>,
) -> Result<Json<OperatorView>, Problem> {
    let admin = auth.admin()?;
    let record = app.db.revoke_operator(&name).await.map_err(|_| storage_problem())?.ok_or_else(|| {
        Problem::not_found(Bilingual::new(
            format!("اپراتوری به نام «{name}» نیست"),
            format!("no operator named `{name}`"),
        ))
    })?;
    app.audit
        .record(Entry {
            kind: "admin.operator-revoke".into(),
            actor: admin.name.clone(),
            subject: name.clone(),
            data: serde_json::json!({}),
        })
        .await
        .map_err(|_| storage_problem())?;
    tracing::info!(operator = %name, by = %admin.name, "operator token revoked");
    Ok(Json(OperatorView::new(&record, now_ms())))
}
