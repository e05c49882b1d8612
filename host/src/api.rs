//! The HTTP interface: `router(state) -> Router` and [`serve`] on a bound listener.
//!
//! - `api/citizen.rs`: the citizen API under `/api/v1`: catalogue and inquiries.
//! - `api/admin.rs`: the operators' API under `/admin/v1`.
//! - `api/applications.rs`: applications, tracking codes and agency callbacks.
//! - `api/me.rs`: the signed-in citizen and their data-usage log.
//! - `api/auth.rs`: sign-in (`/auth`).
//! - `api/ops.rs`: health and readiness.
//! - `api/problem.rs`: RFC 9457 errors in Persian and English.
//! - `api/server.rs`: the HTTP server: connection cap, timeouts, graceful shutdown.
//! - `api/views.rs`: the JSON shapes of answers.
//! - `api/openapi.rs`: the OpenAPI 3.1 description, collected from the handlers.

pub mod admin;
pub mod applications;
pub mod auth;
pub mod citizen;
pub mod errors;
pub mod extract;
pub mod inbox;
pub mod me;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod problem;
pub mod representation;
pub mod server;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::app::App;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 256 << 10;

/// The API's routes with their description (everything but the portal's pages).
fn described() -> OpenApiRouter<Arc<App>> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(ops::routes())
        .nest(
            "/api/v1",
            citizen::routes()
                .merge(applications::routes())
                .merge(me::routes())
                .merge(payments::routes())
                .merge(inbox::routes())
                .merge(representation::routes()),
        )
        .nest(
            "/admin/v1",
            admin::routes()
                .merge(payments::admin_routes())
                .merge(inbox::admin_routes())
                .merge(representation::admin_routes()),
        )
        .nest("/auth", auth::routes())
}

/// The OpenAPI 3.1 description of the API, as `GET /api/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::complete(described().into_openapi())
}

/// The whole HTTP surface of the host.
pub fn router(app: Arc<App>) -> Router {
    let (api, _) = described().split_for_parts();
    let server = app.config.server;
    api.merge(crate::portal::routes())
        .method_not_allowed_fallback(problem::method_not_allowed)
        .fallback(crate::portal::fallback)
        .layer(axum::middleware::from_fn_with_state(server.body_timeout, server::body_deadline))
        .layer(axum::middleware::from_fn(problem::localize))
        .layer(axum::middleware::from_fn(run_to_completion))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(server.hsts_max_age, strict_transport_security))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(app)
}

/// Tells browsers that reached the host over HTTPS to come back only over HTTPS
/// (`Strict-Transport-Security`), on every answer, pages and problems alike. Whether the
/// request came over HTTPS is what the TLS-terminating proxy says, as for `Secure`
/// cookies ([`crate::auth::session::over_https`]); browsers ignore the header on a plain
/// HTTP answer, so a client that forges the proxy's header gains nothing.
/// Appends an evidence entry the answer depends on: a failure is a 500 problem, not a
/// change without its evidence.
pub(crate) async fn record(audit: &crate::audit::Audit, entry: crate::audit::Entry) -> Result<(), problem::Problem> {
    audit.record(entry).await.map_err(|e| problem::Problem::internal(&format!("{e:#}")))
}

/// How a failed request is logged: a 503 is planned (maintenance, a busy or down agency,
/// which the answer explains) and logged at info; other server errors at warn (the
/// internal ones are logged at error where they happen, with their cause).
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    let ms = latency.as_millis() as u64;
    match class {
        ServerErrorsFailureClass::StatusCode(code) if code == axum::http::StatusCode::SERVICE_UNAVAILABLE => {
            tracing::info!(status = code.as_u16(), ms, "answered 503 (unavailable for now)")
        }
        ServerErrorsFailureClass::StatusCode(code) => tracing::warn!(status = code.as_u16(), ms, "server error"),
        ServerErrorsFailureClass::Error(error) => tracing::warn!(%error, ms, "request failed"),
    }
}

async fn strict_transport_security(
    axum::extract::State(max_age): axum::extract::State<Option<std::time::Duration>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let https = crate::auth::session::over_https(request.headers());
    let mut response = next.run(request).await;
    if let Some(max_age) = max_age
        && https
        && let Ok(value) = axum::http::HeaderValue::from_str(&format!("max-age={}", max_age.as_secs()))
    {
        response.headers_mut().insert(axum::http::header::STRICT_TRANSPORT_SECURITY, value);
    }
    response
}

/// Runs each request on a task of its own, to its end even when the client goes away: a
/// handler dropped halfway could leave a transaction open on a pooled connection (sqlx
/// cannot roll back a `BEGIN` cancelled in flight), an application reserved but not filed,
/// or an adapter call without its evidence. A panicking handler answers a 500 problem.
async fn run_to_completion(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => problem::Problem::internal(&error).into_response(),
    }
}

/// Serves until `shutdown` resolves, then drains in-flight requests, within the limits of
/// `[server]` (see [`server`]).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = app.config.server;
    server::serve(listener, router(app), settings, shutdown).await
}
