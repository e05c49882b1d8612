//! Health and readiness for load balancers and orchestrators.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::App;

pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is alive.
async fn healthz() -> &'static str {
    "ok"
}

/// The process serves adapters.
async fn readyz(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    let adapters = app.registry.snapshot();
    Json(json!({
        "status": "ready",
        "adapters": adapters.values().map(|slot| json!({
            "id": slot.adapter.manifest.id,
            "version": slot.adapter.manifest.version.to_string(),
            "agency": slot.adapter.agency.id,
            "digest": slot.adapter.digest,
            "enabled": slot.enabled,
        })).collect::<Vec<_>>(),
        "refused": app.refused,
        "pooling": app.runtime.pooling(),
    }))
}

/// Prometheus exposition format.
async fn metrics(State(app): State<Arc<App>>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::metrics::render(&app))
}
