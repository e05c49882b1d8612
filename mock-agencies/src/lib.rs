//! Development stand-ins for the parties outside the window: the agency back-ends the
//! sample adapters call (the traffic police's fines service, the tax administration's
//! taxpayer service), and the national mobile-ownership registry and the SMS gateway that
//! one-time-code sign-in uses. They answer from
//! fixture files (`fixtures/*.json`) and check the API key like the real ones would, so
//! `cargo xtask run` shows every sample service answering and the integration tests
//! exercise the adapters over real HTTP.
//!
//! # Layout
//!
//! - [`police`]: `POST /v1/fines/inquiry`, `POST /v1/fines/paid`.
//! - [`tax`]: `GET /v1/taxpayers/{id}`, `POST /v1/registrations`,
//!   `GET /v1/registrations/{reference}`, and `POST /v1/registrations/{reference}/decision`
//!   for a test or a demo to play the tax office.
//! - [`registry`]: `GET /v1/services/matching` (does a mobile belong to a national ID?).
//! - [`sms`]: `POST /v1/{api-key}/sms/send.json`, and the outbox at `GET /`.
//! - [`registries`]: the companies registry (signatories of legal entities) and the civil
//!   registry (children and their dates of birth).
//! - [`psp`]: a card payment gateway: tokens, the payment page, the callback, verify,
//!   settle, reverse, inquire.
//! - This file: [`Keys`], [`Running`] and [`start`], which binds the agency back-ends on
//!   given addresses (port 0 in tests), and [`serve`] for any one router.

pub mod police;
pub mod psp;
pub mod registries;
pub mod registry;
pub mod sms;
pub mod tax;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;

/// The default address of the police back-end, as granted in `config/dev.toml`.
pub const POLICE_ADDR: &str = "127.0.0.1:9101";
/// The default address of the tax back-end.
pub const TAX_ADDR: &str = "127.0.0.1:9102";
/// The default address of the mobile-ownership registry.
pub const REGISTRY_ADDR: &str = "127.0.0.1:9103";
/// The default address of the SMS gateway.
pub const SMS_ADDR: &str = "127.0.0.1:9104";
/// The default address of the payment gateway (PSP).
pub const PSP_ADDR: &str = "127.0.0.1:9105";
/// The default address of the companies registry.
pub const COMPANIES_ADDR: &str = "127.0.0.1:9106";
/// The default address of the civil registry.
pub const CIVIL_ADDR: &str = "127.0.0.1:9107";

/// The API keys the back-ends accept.
#[derive(Debug, Clone)]
pub struct Keys {
    pub police: String,
    pub tax: String,
}

impl Default for Keys {
    /// The development keys of `config/dev.toml`.
    fn default() -> Self {
        Keys { police: "dev-police-key".into(), tax: "dev-tax-key".into() }
    }
}

/// Both back-ends, serving until dropped.
#[derive(Debug)]
pub struct Running {
    pub police: SocketAddr,
    pub tax: SocketAddr,
    _shutdown: tokio::sync::watch::Sender<()>,
}

impl Running {
    /// `http://ADDR` of the police back-end.
    pub fn police_url(&self) -> String {
        format!("http://{}", self.police)
    }

    /// `http://ADDR` of the tax back-end.
    pub fn tax_url(&self) -> String {
        format!("http://{}", self.tax)
    }
}

/// Binds both back-ends and serves them on the current tokio runtime until the returned
/// [`Running`] is dropped.
pub async fn start(police: SocketAddr, tax: SocketAddr, keys: Keys) -> std::io::Result<Running> {
    let (tx, rx) = tokio::sync::watch::channel(());
    let police = spawn(TcpListener::bind(police).await?, police::router(keys.police), rx.clone())?;
    let tax = spawn(TcpListener::bind(tax).await?, tax::router(keys.tax), rx)?;
    Ok(Running { police, tax, _shutdown: tx })
}

/// A router served on `addr` until the returned sender is dropped; the bound address.
pub async fn serve(addr: SocketAddr, router: Router) -> std::io::Result<(SocketAddr, tokio::sync::watch::Sender<()>)> {
    let (tx, rx) = tokio::sync::watch::channel(());
    let addr = spawn(TcpListener::bind(addr).await?, router, rx)?;
    Ok((addr, tx))
}

fn spawn(
    listener: TcpListener,
    router: Router,
    mut stop: tokio::sync::watch::Receiver<()>,
) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let router = router.route("/_mock-agencies", axum::routing::get(identity));
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(error) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(%addr, %error, "mock back-end stopped");
        }
    });
    Ok(addr)
}

/// Which copy of the back-ends answers: `cargo xtask run` asks, so that a back-end left
/// running by another run or another checkout is reported instead of silently reused.
async fn identity() -> String {
    format!(
        "mock-agencies of {}, pid {}",
        env!("CARGO_MANIFEST_DIR").trim_end_matches("/mock-agencies"),
        std::process::id()
    )
}

/// Refuses a request without the right `x-api-key`.
pub(crate) fn check_key(headers: &HeaderMap, key: &str) -> Result<(), (StatusCode, axum::Json<serde_json::Value>)> {
    match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        Some(given) if given == key => Ok(()),
        _ => Err(error(StatusCode::UNAUTHORIZED, "missing or wrong x-api-key")),
    }
}

/// A JSON error body.
pub(crate) fn error(status: StatusCode, message: &str) -> (StatusCode, axum::Json<serde_json::Value>) {
    (status, axum::Json(serde_json::json!({ "error": message })))
}
