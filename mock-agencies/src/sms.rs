//! An SMS gateway of the kind Iranian senders use (Kavenegar's API shape).
//!
//! - `POST /v1/{api-key}/sms/send.json`, a form of `receptor`, `sender`, `message` and an
//!   optional `localid`: answers `{"return": {"status": 200, "message": ".."}, "entries":
//!   [{"messageid", ..}]}`; a wrong key answers HTTP 403 with `return.status` 403, like the
//!   real gateway. A `localid` sent before is answered with the message it sent then, and
//!   nothing is sent again (Kavenegar's de-duplication of a sender's retries).
//! - `GET /` (a page) and `GET /outbox` (JSON): the messages sent, newest first, so that a
//!   developer running `cargo xtask run` reads their one-time code there.
//!
//! Nothing leaves the machine. For tests, [`Handle::set_failing`] makes sending fail,
//! [`Handle::set_losing_answers`] takes messages but answers as if it failed, and
//! [`Handle::set_delay`] makes it slow ([`Handle::set_paused`] stops it until resumed);
//! [`Handle::most_in_flight`] says how many sends it served at once.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Messages kept in the outbox, unless [`Handle::keeping`] says otherwise.
const KEPT: usize = 200;

/// A message the gateway accepted.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub messageid: u64,
    pub receptor: String,
    pub sender: String,
    pub message: String,
    /// Unix seconds.
    pub date: u64,
    /// When the gateway took it, in Unix milliseconds.
    pub received_ms: u64,
    /// The sender's id of the delivery, if it gave one.
    pub localid: Option<String>,
}

/// The gateway's state, shared with whoever started it.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    api_key: String,
    kept: usize,
    outbox: Mutex<Outbox>,
    next_id: AtomicU64,
    failing: AtomicBool,
    losing_answers: AtomicBool,
    delay_ms: AtomicU64,
    /// While true, sends wait.
    paused: tokio::sync::watch::Sender<bool>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

#[derive(Debug, Default)]
struct Outbox {
    /// Newest first, at most `Inner::kept`.
    messages: VecDeque<Message>,
    /// Every message sent with a `localid`, by it.
    by_localid: HashMap<String, Message>,
}

impl Handle {
    pub fn new(api_key: impl Into<String>) -> Handle {
        Handle::keeping(api_key, KEPT)
    }

    /// A gateway whose outbox keeps the last `kept` messages (a benchmark's thousands).
    pub fn keeping(api_key: impl Into<String>, kept: usize) -> Handle {
        Handle(Arc::new(Inner {
            api_key: api_key.into(),
            kept,
            outbox: Mutex::new(Outbox::default()),
            next_id: AtomicU64::new(1),
            failing: AtomicBool::new(false),
            losing_answers: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            paused: tokio::sync::watch::Sender::new(false),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        }))
    }

    /// The messages sent to `receptor`, oldest first.
    pub fn sent_to(&self, receptor: &str) -> Vec<Message> {
        let outbox = self.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        outbox.messages.iter().rev().filter(|m| m.receptor == receptor).cloned().collect()
    }

    /// Every message kept, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        let outbox = self.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        outbox.messages.iter().rev().cloned().collect()
    }

    /// While failing, sending answers a server error.
    pub fn set_failing(&self, failing: bool) {
        self.0.failing.store(failing, Ordering::Relaxed);
    }

    /// While losing answers, a message is taken (and sent) but answered with a server
    /// error, as when the gateway's answer never reaches the sender.
    pub fn set_losing_answers(&self, losing: bool) {
        self.0.losing_answers.store(losing, Ordering::Relaxed);
    }

    /// Every send waits this long before it answers.
    pub fn set_delay(&self, delay: Duration) {
        self.0.delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// While paused, every send waits (a benchmark lets a backlog build up behind it).
    pub fn set_paused(&self, paused: bool) {
        self.0.paused.send_replace(paused);
    }

    /// The most sends the gateway was serving at one time.
    pub fn most_in_flight(&self) -> usize {
        self.0.most_in_flight.load(Ordering::Relaxed)
    }

    /// The gateway's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/{key}/sms/send.json", post(send))
            .route("/v1/{key}/sms/status.json", post(status).get(status))
            .route("/outbox", get(outbox))
            .route("/", get(page))
            .with_state(self.clone())
    }

    fn newest_first(&self) -> Vec<Message> {
        self.0.outbox.lock().unwrap_or_else(|e| e.into_inner()).messages.iter().cloned().collect()
    }
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    messageid: String,
}

/// Kavenegar's delivery codes: 10 delivered, 11 undeliverable, 100 an id it does not know.
/// Numbers ending in `0000` are undeliverable in this mock.
async fn status(
    State(gateway): State<Handle>,
    Path(key): Path<String>,
    form: Result<Form<StatusForm>, axum::extract::rejection::FormRejection>,
) -> (StatusCode, Json<serde_json::Value>) {
    if key != gateway.0.api_key {
        return refusal(StatusCode::FORBIDDEN, "کد شناسائی API-Key معتبر نمی‌باشد");
    }
    let Ok(Form(form)) = form else {
        return refusal(StatusCode::BAD_REQUEST, "messageid is required");
    };
    let found = {
        let outbox = gateway.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        outbox.messages.iter().find(|m| m.messageid.to_string() == form.messageid).cloned()
    };
    let Some(message) = found else {
        return (
            StatusCode::OK,
            Json(json!({ "return": { "status": 200, "message": "تایید شد" },
                         "entries": [{ "messageid": form.messageid.parse::<u64>().unwrap_or(0), "status": 100,
                                       "statustext": "شناسه پیامک نامعتبر است" }] })),
        );
    };
    let (code, text) = if message.receptor.ends_with("0000") {
        (11, "نرسیده به گیرنده")
    } else {
        (10, "رسیده به گیرنده")
    };
    (
        StatusCode::OK,
        Json(json!({ "return": { "status": 200, "message": "تایید شد" },
                     "entries": [{ "messageid": message.messageid, "status": code, "statustext": text }] })),
    )
}

#[derive(Debug, Deserialize)]
struct SendForm {
    receptor: String,
    sender: String,
    message: String,
    #[serde(default)]
    localid: Option<String>,
}

fn refusal(status: StatusCode, message: &str) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(json!({ "return": { "status": status.as_u16(), "message": message }, "entries": null })))
}

async fn send(
    State(gateway): State<Handle>,
    Path(key): Path<String>,
    form: Result<Form<SendForm>, axum::extract::rejection::FormRejection>,
) -> (StatusCode, Json<serde_json::Value>) {
    let _serving = InFlight::enter(&gateway.0);
    let _ = gateway.0.paused.subscribe().wait_for(|paused| !paused).await;
    let delay = gateway.0.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if key != gateway.0.api_key {
        return refusal(StatusCode::FORBIDDEN, "کد شناسائی API-Key معتبر نمی‌باشد");
    }
    if gateway.0.failing.load(Ordering::Relaxed) {
        return refusal(StatusCode::INTERNAL_SERVER_ERROR, "خطای داخلی");
    }
    let Ok(Form(form)) = form else {
        return refusal(StatusCode::BAD_REQUEST, "receptor, sender and message are required");
    };
    if form.receptor.is_empty() || form.message.is_empty() {
        return refusal(StatusCode::BAD_REQUEST, "receptor and message must not be empty");
    }
    let message = gateway.take(form);
    if gateway.0.losing_answers.load(Ordering::Relaxed) {
        return refusal(StatusCode::INTERNAL_SERVER_ERROR, "خطای داخلی");
    }
    let entry = json!({
        "messageid": message.messageid,
        "message": message.message,
        "status": 1,
        "statustext": "در صف ارسال",
        "sender": message.sender,
        "receptor": message.receptor,
        "date": message.date,
        "cost": 0,
    });
    (StatusCode::OK, Json(json!({ "return": { "status": 200, "message": "تایید شد" }, "entries": [entry] })))
}

impl Handle {
    /// Puts a message in the outbox, or answers the one sent before with its `localid`.
    fn take(&self, form: SendForm) -> Message {
        let mut outbox = self.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(earlier) = form.localid.as_deref().and_then(|id| outbox.by_localid.get(id)) {
            tracing::debug!(messageid = earlier.messageid, "sms localid seen before; not sent again");
            return earlier.clone();
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let message = Message {
            messageid: self.0.next_id.fetch_add(1, Ordering::Relaxed),
            receptor: form.receptor,
            sender: form.sender,
            message: form.message,
            date: now.as_secs(),
            received_ms: now.as_millis() as u64,
            localid: form.localid,
        };
        tracing::debug!(messageid = message.messageid, "sms accepted");
        if let Some(id) = &message.localid {
            outbox.by_localid.insert(id.clone(), message.clone());
        }
        outbox.messages.push_front(message.clone());
        outbox.messages.truncate(self.0.kept);
        message
    }
}

/// Counts a send while it is served.
struct InFlight<'a>(&'a Inner);

impl<'a> InFlight<'a> {
    fn enter(inner: &'a Inner) -> InFlight<'a> {
        let now = inner.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        inner.most_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(inner)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn outbox(State(gateway): State<Handle>) -> Json<Vec<Message>> {
    Json(gateway.newest_first())
}

async fn page(State(gateway): State<Handle>) -> Html<String> {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let rows: String = gateway
        .newest_first()
        .iter()
        .map(|m| {
            format!(
                "<tr><td>{}</td><td dir=\"ltr\">{}</td><td>{}</td></tr>",
                m.messageid,
                escape(&m.receptor),
                escape(&m.message).replace('\n', "<br>")
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><html lang=\"fa\" dir=\"rtl\"><meta charset=\"utf-8\"><title>درگاه پیامک آزمایشی</title>\
         <h1>درگاه پیامک آزمایشی · Mock SMS gateway</h1>\
         <p>پیامک‌هایی که پنجره فرستاده است؛ تازه‌ترین بالا. Messages the window sent, newest first.</p>\
         <table border=\"1\" cellpadding=\"6\"><tr><th>#</th><th>گیرنده · To</th><th>متن · Text</th></tr>{rows}</table></html>"
    ))
}
