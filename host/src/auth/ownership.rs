//! Whether a mobile number belongs to a national ID, asked before any one-time code is
//! sent (`[auth] otp = "registry-checked"`).
//!
//! In Iran the answer comes from the national mobile-ownership registry (Shahkar), usually
//! through an integrator. [`Registry`] speaks the integrators' matching API:
//! `GET {url}/v1/services/matching?nationalCode=..&mobileNumber=..` with a bearer token,
//! answered `{"matched": true|false}`. Anything else (a timeout, a 5xx, a body without
//! `matched`) is [`OwnershipError`]: no code is sent, and the citizen is asked to try
//! again later rather than told the pair is wrong.

use std::future::Future;
use std::pin::Pin;

use crate::config::RegistrySettings;

/// The registry could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the mobile-ownership registry did not answer: {0}")]
pub struct OwnershipError(pub String);

/// A boxed future, so checks can be trait objects.
pub type OwnsFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, OwnershipError>> + Send + 'a>>;

/// Answers whether `mobile` is registered to `national_id` (both canonical).
pub trait OwnershipCheck: Send + Sync + std::fmt::Debug {
    fn owns<'a>(&'a self, national_id: &'a str, mobile: &'a str) -> OwnsFuture<'a>;
}

/// The registry's matching API over HTTP.
#[derive(Debug)]
pub struct Registry {
    settings: RegistrySettings,
    http: reqwest::Client,
}

impl Registry {
    pub fn new(settings: RegistrySettings) -> anyhow::Result<Registry> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .user_agent(concat!("panjereh/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Registry { settings, http })
    }
}

#[derive(serde::Deserialize)]
struct Matching {
    matched: bool,
}

impl OwnershipCheck for Registry {
    fn owns<'a>(&'a self, national_id: &'a str, mobile: &'a str) -> OwnsFuture<'a> {
        Box::pin(async move {
            let response = self
                .http
                .get(format!("{}/v1/services/matching", self.settings.url))
                .query(&[("nationalCode", national_id), ("mobileNumber", mobile)])
                .bearer_auth(&self.settings.token)
                .send()
                .await
                .map_err(|e| OwnershipError(without_url(e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(OwnershipError(format!("status {status}")));
            }
            let body = response.bytes().await.map_err(|e| OwnershipError(without_url(e)))?;
            let answer: Matching = serde_json::from_slice(&body)
                .map_err(|e| OwnershipError(format!("an answer without `matched`: {e}")))?;
            Ok(answer.matched)
        })
    }
}

/// A request error without its URL, which holds the national ID and the mobile.
fn without_url(error: reqwest::Error) -> String {
    error.without_url().to_string()
}
