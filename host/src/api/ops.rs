//! Health, readiness, metrics and the API's description, for load balancers, orchestrators
//! and client authors.

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::OperatorAuth;
use crate::app::App;
use crate::plugins::Refusal;

pub fn routes() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The process is alive.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain", example = "ok")),
)]
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: to anyone, only whether the host is ready; to an operator, also what it
/// serves and what it refused, with file paths and reasons.
#[derive(Serialize, ToSchema, Default)]
pub struct Readiness {
    /// Always `ready` once the host answers.
    pub status: &'static str,
    /// The adapters serving now (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapters: Option<Vec<ServingAdapter>>,
    /// Packages of the plugins folder refused at start, with the reason (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Vec<Refusal>>,
    /// Whether instances come from wasmtime's pooling allocator (operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooling: Option<bool>,
}

/// An adapter serving now.
#[derive(Serialize, ToSchema)]
pub struct ServingAdapter {
    pub id: String,
    pub version: String,
    pub agency: String,
    /// SHA-256 of the component.
    pub digest: String,
    /// `false` while an operator has it disabled for maintenance.
    pub enabled: bool,
}

/// The process serves adapters. Load balancers get the status alone; the details, which
/// name files and say why packages were refused, need an operator token.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", security((), ("operator" = [])),
    responses((status = 200, description = "Ready; with an operator token, with what it serves", body = Readiness)),
)]
async fn readyz(State(app): State<Arc<App>>, operator: Option<OperatorAuth>) -> Json<Readiness> {
    let ready = Readiness { status: "ready", ..Readiness::default() };
    if operator.is_none() {
        return Json(ready);
    }
    let adapters = app.registry.snapshot();
    Json(Readiness {
        adapters: Some(
            adapters
                .values()
                .map(|slot| ServingAdapter {
                    id: slot.adapter.manifest.id.clone(),
                    version: slot.adapter.manifest.version.to_string(),
                    agency: slot.adapter.agency.id.clone(),
                    digest: slot.adapter.digest.clone(),
                    enabled: slot.enabled,
                })
                .collect(),
        ),
        refused: Some(app.refused.iter().cloned().chain(app.plugins.unservable()).collect()),
        pooling: Some(app.runtime.pooling()),
        ..ready
    })
}

/// Prometheus exposition format: requests, adapter calls, instances, traps, lifecycle.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4")),
)]
async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&app.registry, &app.runtime, &app.db),
    )
}

/// This description: OpenAPI 3.1, generated from the handlers.
#[utoipa::path(
    get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)),
)]
async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        crate::api::openapi().to_pretty_json().unwrap_or_else(|error| {
            tracing::error!(%error, "the API description did not serialize");
            "{}".to_owned()
        })
    });
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}
