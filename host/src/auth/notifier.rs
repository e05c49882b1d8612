//! Delivery of one-time codes: [`SmsGateway`] in production, [`LogNotifier`] only in
//! `otp = "development"`, [`MemoryNotifier`] in tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::config::SmsSettings;

/// Why a code could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("failed to deliver the one-time code: {0}")]
pub struct NotifyError(pub String);

/// A boxed future, so notifiers can be trait objects.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Sends a one-time code to a mobile number.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Delivers `code` to `mobile` (canonical `09XXXXXXXXX`).
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a>;
}

/// The text of a code message: Persian first, then English, 70 UCS-2 characters or fewer
/// so that it is one SMS segment.
pub fn code_message(code: &str) -> String {
    format!("کد ورود پنجره: {code}\nPanjereh code: {code}")
}

/// The development notifier: writes the code to the log instead of sending an SMS. The
/// host uses it only in `otp = "development"`, which it refuses off loopback.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a> {
        tracing::info!(mobile, code, "one-time code (development notifier: no SMS is sent)");
        Box::pin(async { Ok(()) })
    }
}

/// Refuses every code: the notifier of a host whose one-time-code sign-in is off.
#[derive(Debug, Default)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn send_code<'a>(&'a self, _mobile: &'a str, _code: &'a str) -> NotifyFuture<'a> {
        Box::pin(async { Err(NotifyError("no SMS gateway is configured ([auth.sms])".into())) })
    }
}

/// An SMS gateway of the kind Iranian senders use (Kavenegar's shape): `POST
/// {url}/v1/{api-key}/sms/send.json` with a form of `receptor`, `sender` and `message`,
/// answered `{"return": {"status": 200, ...}, "entries": [...]}`.
#[derive(Debug)]
pub struct SmsGateway {
    settings: SmsSettings,
    http: reqwest::Client,
}

impl SmsGateway {
    pub fn new(settings: SmsSettings) -> anyhow::Result<SmsGateway> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .user_agent(concat!("panjereh/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(SmsGateway { settings, http })
    }
}

#[derive(serde::Deserialize)]
struct GatewayAnswer {
    #[serde(rename = "return")]
    result: GatewayReturn,
}

#[derive(serde::Deserialize)]
struct GatewayReturn {
    status: u16,
    #[serde(default)]
    message: String,
}

impl Notifier for SmsGateway {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move {
            let message = code_message(code);
            let response = self
                .http
                .post(format!("{}/v1/{}/sms/send.json", self.settings.url, self.settings.api_key))
                .form(&[("receptor", mobile), ("sender", self.settings.sender.as_str()), ("message", &message)])
                .send()
                .await
                // The URL holds the API key.
                .map_err(|e| NotifyError(e.without_url().to_string()))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| NotifyError(e.without_url().to_string()))?;
            let answer: GatewayAnswer = serde_json::from_slice(&body)
                .map_err(|_| NotifyError(format!("the SMS gateway answered {status} without a result")))?;
            if answer.result.status != 200 {
                return Err(NotifyError(format!(
                    "the SMS gateway refused the message ({}: {})",
                    answer.result.status, answer.result.message
                )));
            }
            Ok(())
        })
    }
}

/// Keeps the last code sent to each mobile, for tests.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    codes: Mutex<HashMap<String, String>>,
}

impl MemoryNotifier {
    /// The last code sent to `mobile` (canonical form).
    pub fn last_code(&self, mobile: &str) -> Option<String> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(mobile).cloned()
    }
}

impl Notifier for MemoryNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(mobile.to_owned(), code.to_owned());
        Box::pin(async { Ok(()) })
    }
}
