//! The host's client of the card payment gateway (see `mock-agencies/src/psp.rs` for the
//! protocol): token, verify, settle, reverse, inquire. Every answer is read into one
//! [`PspAnswer`]; a network error, a timeout or a 5xx is [`PspError::Unreachable`], which
//! the caller retries later, never reads as "not paid".

use serde::Deserialize;
use serde_json::json;

use crate::config::PaymentSettings;

/// What the PSP said about a transaction.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PspAnswer {
    /// 0 is success; anything else is the PSP's refusal code.
    pub status: i32,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub token: String,
    /// `pending`, `paid`, `canceled`, `failed`, `verified`, `settled`, `reversed`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub amount: u64,
    #[serde(default)]
    pub rrn: String,
    #[serde(default)]
    pub trace: String,
    #[serde(default)]
    pub masked_card: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PspError {
    #[error("the payment gateway did not answer: {0}")]
    Unreachable(String),
}

/// The gateway as the host's terminal.
#[derive(Debug)]
pub struct Psp {
    settings: PaymentSettings,
    http: reqwest::Client,
}

impl Psp {
    pub fn new(settings: PaymentSettings) -> anyhow::Result<Psp> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .user_agent(concat!("panjereh/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Psp { settings, http })
    }

    pub fn settings(&self) -> &PaymentSettings {
        &self.settings
    }

    /// The page the citizen's browser is sent to.
    pub fn pay_url(&self, token: &str) -> String {
        format!("{}/pay/{token}", self.settings.psp_url)
    }

    /// Asks for a token for `amount` rials, order `order_id`.
    pub async fn token(&self, order_id: &str, amount: u64) -> Result<PspAnswer, PspError> {
        let body = json!({
            "terminal_id": self.settings.terminal_id,
            "password": self.settings.password,
            "amount": amount,
            "order_id": order_id,
            "callback_url": format!("{}/payments/callback", self.settings.public_url),
        });
        self.post("tokens", body).await
    }

    pub async fn verify(&self, token: &str) -> Result<PspAnswer, PspError> {
        self.post("verify", self.about(token)).await
    }

    pub async fn settle(&self, token: &str) -> Result<PspAnswer, PspError> {
        self.post("settle", self.about(token)).await
    }

    pub async fn reverse(&self, token: &str) -> Result<PspAnswer, PspError> {
        self.post("reverse", self.about(token)).await
    }

    pub async fn inquire(&self, token: &str) -> Result<PspAnswer, PspError> {
        self.post("inquire", self.about(token)).await
    }

    fn about(&self, token: &str) -> serde_json::Value {
        json!({"terminal_id": self.settings.terminal_id, "password": self.settings.password, "token": token})
    }

    async fn post(&self, verb: &str, body: serde_json::Value) -> Result<PspAnswer, PspError> {
        let started = std::time::Instant::now();
        let response = self
            .http
            .post(format!("{}/v1/{verb}", self.settings.psp_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| PspError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        metrics::histogram!("panjereh_psp_request_seconds", "verb" => verb.to_owned())
            .record(started.elapsed().as_secs_f64());
        if status.is_server_error() {
            return Err(PspError::Unreachable(format!("{verb}: status {status}")));
        }
        let bytes = response.bytes().await.map_err(|e| PspError::Unreachable(e.without_url().to_string()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| PspError::Unreachable(format!("{verb}: an answer that is not the PSP's JSON ({status}): {e}")))
    }
}
