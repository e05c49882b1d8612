//! Delivery of one-time codes: [`SmsGateway`] in production, [`LogNotifier`] only in
//! `otp = "development"`, [`MemoryNotifier`] in tests.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::config::SmsSettings;

/// Why an SMS (a one-time code, or a message to a citizen) could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("failed to deliver the SMS: {0}")]
pub struct NotifyError(pub String);

/// A boxed future, so notifiers can be trait objects.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Sends a one-time code to a mobile number.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Delivers `text`, which carries `code`, to `mobile` (canonical `09XXXXXXXXX`).
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str, text: &'a str) -> NotifyFuture<'a>;
}

/// SMS segments a text takes: 160 characters in one segment (153 each when split) for the
/// GSM alphabet, 70 (67 when split) for anything else, which is sent as UCS-2; Persian text
/// is always UCS-2.
pub fn sms_segments(text: &str) -> usize {
    let chars = text.chars().count();
    let gsm = text.chars().all(|c| c.is_ascii() && (c == '\n' || !c.is_ascii_control()));
    let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
    if chars <= single { 1 } else { chars.div_ceil(multi) }
}

/// The text of a code message: Persian first, then English, 70 UCS-2 characters or fewer
/// so that it is one SMS segment.
pub fn code_message(code: &str) -> String {
    format!("کد ورود پنجره: {code}\nPanjereh code: {code}")
}

/// The text of a citizen's consent at a counter office: the code, the office, how many
/// services it allows, and a warning not to share it when not there.
pub fn consent_message(code: &str, office: &str, services: usize) -> String {
    let count = services.to_string();
    let (fa, en) = crate::text::messages::render("counter-consent.sms", &[("office", office), ("count", &count)]);
    format!("کد موافقت پنجره: {code}\n{fa}\nPanjereh consent code: {code}\n{en}")
}

/// The development notifier: writes the code to the log instead of sending an SMS. The
/// host uses it only in `otp = "development"`, which it refuses off loopback.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str, _text: &'a str) -> NotifyFuture<'a> {
        tracing::info!(mobile, code, "one-time code (development notifier: no SMS is sent)");
        Box::pin(async { Ok(()) })
    }
}

/// Refuses every code: the notifier of a host whose one-time-code sign-in is off.
#[derive(Debug, Default)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn send_code<'a>(&'a self, _mobile: &'a str, _code: &'a str, _text: &'a str) -> NotifyFuture<'a> {
        Box::pin(async { Err(NotifyError("no SMS gateway is configured ([auth.sms])".into())) })
    }
}

/// An SMS gateway of the kind Iranian senders use (Kavenegar's shape): `POST
/// {url}/v1/{api-key}/sms/send.json` with a form of `receptor`, `sender`, `message` and,
/// for a delivery that may be retried, `localid` (the sender's id of the delivery: the
/// gateway answers a repeated one with the message it already took instead of sending
/// again), answered `{"return": {"status": 200, ...}, "entries": [...]}`.
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
    #[serde(default)]
    entries: Option<Vec<GatewayEntry>>,
}

#[derive(serde::Deserialize)]
struct GatewayEntry {
    messageid: u64,
    #[serde(default)]
    status: i64,
}

/// What the gateway knows of a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Still with the gateway or the operator.
    Pending,
    Delivered,
    /// The operator could not deliver it (a wrong or blocked number).
    Undeliverable,
    /// The gateway does not know the message id: no report will ever come.
    Unknown,
}

impl SmsGateway {
    /// Sends `text` to `mobile`; answers the gateway's message id. With a `delivery` id, a
    /// second send of the same delivery (a retry after the gateway took the first but its
    /// answer was lost, or a restart) is answered with the first message, not sent again.
    pub async fn send_text(&self, mobile: &str, text: &str, delivery: Option<&str>) -> Result<String, NotifyError> {
        let mut form = vec![("receptor", mobile), ("sender", self.settings.sender.as_str()), ("message", text)];
        let local_id = delivery.map(local_id);
        form.extend(local_id.as_deref().map(|id| ("localid", id)));
        let answer = self.call("sms/send.json", &form).await?;
        let id = answer.entries.as_deref().and_then(|e| e.first()).map(|e| e.messageid);
        id.map(|id| id.to_string()).ok_or_else(|| NotifyError("the SMS gateway answered without a message id".into()))
    }

    /// Asks the gateway how a sent message fared (Kavenegar's status codes: 10 delivered;
    /// 6, 11, 13, 14 undeliverable; 100 an id it does not know; the rest pending).
    pub async fn delivery(&self, message_id: &str) -> Result<Delivery, NotifyError> {
        let answer = self.call("sms/status.json", &[("messageid", message_id)]).await?;
        let status = answer.entries.as_deref().and_then(|e| e.first()).map_or(0, |e| e.status);
        Ok(match status {
            10 => Delivery::Delivered,
            6 | 11 | 13 | 14 => Delivery::Undeliverable,
            100 => Delivery::Unknown,
            _ => Delivery::Pending,
        })
    }

    async fn call(&self, verb: &str, form: &[(&str, &str)]) -> Result<GatewayAnswer, NotifyError> {
        let response = self
            .http
            .post(format!("{}/v1/{}/{verb}", self.settings.url, self.settings.api_key))
            .form(form)
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
        Ok(answer)
    }
}

/// The gateway's `localid` of a delivery: Kavenegar takes a number, so the first 63 bits of
/// the id's SHA-256, in decimal; the same delivery always has the same one.
fn local_id(delivery: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(delivery.as_bytes());
    let first = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"));
    (first >> 1).to_string()
}

#[derive(serde::Deserialize)]
struct GatewayReturn {
    status: u16,
    #[serde(default)]
    message: String,
}

impl Notifier for SmsGateway {
    fn send_code<'a>(&'a self, mobile: &'a str, _code: &'a str, text: &'a str) -> NotifyFuture<'a> {
        Box::pin(async move { self.send_text(mobile, text, None).await.map(drop) })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn persian_text_is_counted_in_ucs2_segments() {
        assert_eq!(super::sms_segments("Panjereh code: 12345"), 1);
        assert_eq!(super::sms_segments(&"a".repeat(160)), 1);
        assert_eq!(super::sms_segments(&"a".repeat(161)), 2);
        assert_eq!(super::sms_segments(&"س".repeat(70)), 1);
        assert_eq!(super::sms_segments(&"س".repeat(71)), 2);
        assert_eq!(super::sms_segments(&"س".repeat(135)), 3);
        assert_eq!(super::sms_segments(&super::code_message("12345")), 1);
    }

    #[test]
    fn a_delivery_has_one_numeric_local_id() {
        let id = super::local_id("5f0c6a7e9b1d4c2a8e3f6b0d7a9c1e2f");
        assert!(id.parse::<i64>().is_ok_and(|n| n >= 0), "{id}");
        assert_eq!(id, super::local_id("5f0c6a7e9b1d4c2a8e3f6b0d7a9c1e2f"), "stable");
        assert_ne!(id, super::local_id("5f0c6a7e9b1d4c2a8e3f6b0d7a9c1e30"));
    }
}

/// Keeps the last code, and its text, sent to each mobile, for tests.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    codes: Mutex<HashMap<String, (String, String)>>,
}

impl MemoryNotifier {
    /// The last code sent to `mobile` (canonical form).
    pub fn last_code(&self, mobile: &str) -> Option<String> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(mobile).map(|(code, _)| code.clone())
    }

    /// The text of the last code's SMS to `mobile`.
    pub fn last_text(&self, mobile: &str) -> Option<String> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(mobile).map(|(_, text)| text.clone())
    }
}

impl Notifier for MemoryNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str, text: &'a str) -> NotifyFuture<'a> {
        let sent = (code.to_owned(), text.to_owned());
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(mobile.to_owned(), sent);
        Box::pin(async { Ok(()) })
    }
}
