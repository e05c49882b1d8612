//! An SMS gateway of the kind Iranian senders use (Kavenegar's API shape).
//!
//! - `POST /v1/{api-key}/sms/send.json`, a form of `receptor`, `sender` and `message`:
//!   answers `{"return": {"status": 200, "message": ".."}, "entries": [{"messageid", ..}]}`;
//!   a wrong key answers HTTP 403 with `return.status` 403, like the real gateway.
//! - `GET /` (a page) and `GET /outbox` (JSON): the messages sent, newest first, so that a
//!   developer running `cargo xtask run` reads their one-time code there.
//!
//! Nothing leaves the machine. [`Handle::set_failing`] makes sending fail, for tests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Messages kept in the outbox.
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
}

/// The gateway's state, shared with whoever started it.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    api_key: String,
    outbox: Mutex<VecDeque<Message>>,
    next_id: AtomicU64,
    failing: AtomicBool,
}

impl Handle {
    pub fn new(api_key: impl Into<String>) -> Handle {
        Handle(Arc::new(Inner {
            api_key: api_key.into(),
            outbox: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(1),
            failing: AtomicBool::new(false),
        }))
    }

    /// The messages sent to `receptor`, oldest first.
    pub fn sent_to(&self, receptor: &str) -> Vec<Message> {
        let outbox = self.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        outbox.iter().rev().filter(|m| m.receptor == receptor).cloned().collect()
    }

    /// While failing, sending answers a server error.
    pub fn set_failing(&self, failing: bool) {
        self.0.failing.store(failing, Ordering::Relaxed);
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
        self.0.outbox.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    messageid: String,
}

/// Kavenegar's delivery codes: 10 delivered, 11 undeliverable. Numbers ending in `0000`
/// are undeliverable in this mock.
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
        outbox.iter().find(|m| m.messageid.to_string() == form.messageid).cloned()
    };
    let Some(message) = found else {
        return refusal(StatusCode::OK, "messageid not found");
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
}

fn refusal(status: StatusCode, message: &str) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(json!({ "return": { "status": status.as_u16(), "message": message }, "entries": null })))
}

async fn send(
    State(gateway): State<Handle>,
    Path(key): Path<String>,
    form: Result<Form<SendForm>, axum::extract::rejection::FormRejection>,
) -> (StatusCode, Json<serde_json::Value>) {
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
    let message = Message {
        messageid: gateway.0.next_id.fetch_add(1, Ordering::Relaxed),
        receptor: form.receptor,
        sender: form.sender,
        message: form.message,
        date: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    tracing::debug!(messageid = message.messageid, "sms accepted");
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
    {
        let mut outbox = gateway.0.outbox.lock().unwrap_or_else(|e| e.into_inner());
        outbox.push_front(message);
        outbox.truncate(KEPT);
    }
    (StatusCode::OK, Json(json!({ "return": { "status": 200, "message": "تایید شد" }, "entries": [entry] })))
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
