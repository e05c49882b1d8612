//! A card payment service provider (PSP) of the Shaparak network, in the shape most
//! Iranian PSPs share (token, redirect, callback, verify, settle or reverse):
//!
//! - `POST /v1/tokens` `{terminal_id, password, amount, order_id, callback_url}`:
//!   `{"status": 0, "token": ".."}`; a repeated order id of the terminal is refused (41).
//! - `GET /pay/{token}`: the payment page (card number, CVV2, expiry, second password; pay
//!   and cancel). Its form posts to `POST /pay/{token}`, which answers a page that posts
//!   `{token, order_id, status: OK | CANCELED | FAILED}` back to the merchant's
//!   `callback_url` (a button without JavaScript, submitted at once with it).
//! - `POST /v1/verify`, `/v1/settle`, `/v1/reverse`, `/v1/inquire` `{terminal_id,
//!   password, token}`: status 0 with the transaction's RRN, trace number, masked card
//!   and amount; verify and settle answer the same again when repeated (`"already":
//!   true`). A paid transaction the merchant does not verify within
//!   [`Handle::set_auto_reverse_after`] (20 minutes by default) is reversed by the PSP.
//!
//! Tests make any step fail or hang ([`Handle::fault`]) and read what happened
//! ([`Handle::transaction`]). The card `6037 9900 0000 0006` is declined for
//! insufficient funds; any other 16-digit card number passing the Luhn check pays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A declined card (insufficient funds).
pub const DECLINED_CARD: &str = "6037990000000006";

/// The steps a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Token,
    Verify,
    Settle,
    Reverse,
    Inquire,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers 500 with a PSP error body.
    Error,
    /// Waits this long before answering normally (the client's timeout decides).
    Delay(Duration),
}

/// Where a transaction stands at the PSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxState {
    Pending,
    Paid,
    Canceled,
    Failed,
    Verified,
    Settled,
    Reversed,
}

/// One transaction, as the PSP knows it.
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub token: String,
    pub order_id: String,
    pub amount: u64,
    pub callback_url: String,
    pub state: TxState,
    pub rrn: String,
    pub trace: String,
    pub masked_card: String,
    pub verifies: u32,
    pub settles: u32,
    pub reversals: u32,
    #[serde(skip)]
    paid_at: Option<Instant>,
}

/// The PSP's state, shared with whoever started it.
#[derive(Debug, Clone)]
pub struct Handle(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    terminal_id: String,
    password: String,
    transactions: Mutex<HashMap<String, Transaction>>,
    faults: Mutex<HashMap<Step, (Fault, u32)>>,
    auto_reverse_after: Mutex<Duration>,
    next: AtomicU64,
}

impl Handle {
    pub fn new(terminal_id: impl Into<String>, password: impl Into<String>) -> Handle {
        Handle(Arc::new(Inner {
            terminal_id: terminal_id.into(),
            password: password.into(),
            transactions: Mutex::new(HashMap::new()),
            faults: Mutex::new(HashMap::new()),
            auto_reverse_after: Mutex::new(Duration::from_secs(20 * 60)),
            next: AtomicU64::new(1),
        }))
    }

    /// The next `times` requests of `step` meet `fault`.
    pub fn fault(&self, step: Step, fault: Fault, times: u32) {
        self.0.faults.lock().unwrap_or_else(|e| e.into_inner()).insert(step, (fault, times));
    }

    /// Clears every fault.
    pub fn heal(&self) {
        self.0.faults.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How long a paid, unverified transaction waits before the PSP reverses it.
    pub fn set_auto_reverse_after(&self, after: Duration) {
        *self.0.auto_reverse_after.lock().unwrap_or_else(|e| e.into_inner()) = after;
    }

    /// The transaction of a merchant order id.
    pub fn transaction(&self, order_id: &str) -> Option<Transaction> {
        self.sweep();
        let all = self.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
        all.values().find(|t| t.order_id == order_id).cloned()
    }

    /// Every transaction.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.sweep();
        self.0.transactions.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Changes what the PSP holds as an order's amount (a gateway or a man in the middle
    /// that is wrong), so tests can see the host refuse to settle a mismatch.
    pub fn tamper_amount(&self, order_id: &str, amount: u64) {
        let mut all = self.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = all.values_mut().find(|t| t.order_id == order_id) {
            tx.amount = amount;
        }
    }

    /// Pays a pending transaction as the card holder would on the page (for tests that
    /// drive the round trip without a browser); returns the callback form it posts.
    pub fn pay(&self, token: &str, card: &str) -> Option<Vec<(String, String)>> {
        let mut all = self.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
        let tx = all.get_mut(token)?;
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        Some(settle_card(tx, card, n))
    }

    /// The PSP's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v1/tokens", post(token))
            .route("/v1/verify", post(verify))
            .route("/v1/settle", post(settle))
            .route("/v1/reverse", post(reverse))
            .route("/v1/inquire", post(inquire))
            .route("/pay/{token}", get(page).post(pay_form))
            .route("/_psp/transactions", get(list))
            .with_state(self.clone())
    }

    /// Reverses paid transactions nobody verified in time, as a PSP does.
    fn sweep(&self) {
        let after = *self.0.auto_reverse_after.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = self.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
        for tx in all.values_mut() {
            if tx.state == TxState::Paid && tx.paid_at.is_some_and(|at| at.elapsed() >= after) {
                tx.state = TxState::Reversed;
                tx.reversals += 1;
            }
        }
    }

    /// Applies a pending fault of `step`; `Some` answer when it fails the request.
    async fn faulted(&self, step: Step) -> Option<Response> {
        let fault = {
            let mut faults = self.0.faults.lock().unwrap_or_else(|e| e.into_inner());
            match faults.get_mut(&step) {
                Some((fault, times)) if *times > 0 => {
                    *times -= 1;
                    Some(*fault)
                }
                _ => None,
            }
        };
        match fault? {
            Fault::Error => Some(
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"status": -1, "message": "internal error"})))
                    .into_response(),
            ),
            Fault::Delay(wait) => {
                tokio::time::sleep(wait).await;
                None
            }
        }
    }

    fn authorized(&self, terminal_id: &str, password: &str) -> bool {
        terminal_id == self.0.terminal_id && password == self.0.password
    }
}

/// Marks `tx` paid or declined by `card`; returns the callback form.
fn settle_card(tx: &mut Transaction, card: &str, n: u64) -> Vec<(String, String)> {
    let card: String = card.chars().filter(char::is_ascii_digit).collect();
    let status = if tx.state != TxState::Pending {
        "FAILED"
    } else if card.len() != 16 || !luhn(&card) || card == DECLINED_CARD {
        tx.state = TxState::Failed;
        "FAILED"
    } else {
        tx.state = TxState::Paid;
        tx.paid_at = Some(Instant::now());
        tx.rrn = format!("{:012}", 100_000_000_000u64 + n * 7919);
        tx.trace = format!("{:06}", (n * 104_729) % 1_000_000);
        tx.masked_card = format!("{}******{}", &card[..6], &card[12..]);
        "OK"
    };
    callback_fields(tx, status)
}

fn callback_fields(tx: &Transaction, status: &str) -> Vec<(String, String)> {
    vec![
        ("token".into(), tx.token.clone()),
        ("order_id".into(), tx.order_id.clone()),
        ("status".into(), status.into()),
        ("amount".into(), tx.amount.to_string()),
    ]
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn refusal(status: StatusCode, code: i32, message: &str) -> Response {
    (status, Json(json!({"status": code, "message": message}))).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenRequest {
    terminal_id: String,
    password: String,
    amount: u64,
    order_id: String,
    callback_url: String,
}

async fn token(
    State(psp): State<Handle>,
    body: Result<Json<TokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(failed) = psp.faulted(Step::Token).await {
        return failed;
    }
    let Ok(Json(body)) = body else {
        return refusal(StatusCode::BAD_REQUEST, 21, "malformed request");
    };
    if !psp.authorized(&body.terminal_id, &body.password) {
        return refusal(StatusCode::UNAUTHORIZED, 21, "wrong terminal or password");
    }
    if body.amount < 1000 {
        return refusal(StatusCode::BAD_REQUEST, 22, "amount below the minimum of 1000 rials");
    }
    let mut all = psp.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
    if all.values().any(|t| t.order_id == body.order_id) {
        return refusal(StatusCode::OK, 41, "duplicate order id");
    }
    let n = psp.0.next.fetch_add(1, Ordering::Relaxed);
    let token = format!("{:016x}{:08x}", rand_like(n), n);
    all.insert(
        token.clone(),
        Transaction {
            token: token.clone(),
            order_id: body.order_id,
            amount: body.amount,
            callback_url: body.callback_url,
            state: TxState::Pending,
            rrn: String::new(),
            trace: String::new(),
            masked_card: String::new(),
            verifies: 0,
            settles: 0,
            reversals: 0,
            paid_at: None,
        },
    );
    Json(json!({"status": 0, "token": token})).into_response()
}

/// A token nobody can guess from the previous one (the mock needs no real randomness).
fn rand_like(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

#[derive(Debug, Deserialize)]
struct TxRequest {
    terminal_id: String,
    password: String,
    token: String,
}

fn details(tx: &Transaction, already: bool) -> Response {
    Json(json!({
        "status": 0,
        "already": already,
        "state": tx.state,
        "order_id": tx.order_id,
        "amount": tx.amount,
        "rrn": tx.rrn,
        "trace": tx.trace,
        "masked_card": tx.masked_card,
    }))
    .into_response()
}

/// Runs `change` on the transaction of an authorized request.
async fn with_tx(
    psp: &Handle,
    step: Step,
    body: Result<Json<TxRequest>, axum::extract::rejection::JsonRejection>,
    change: impl FnOnce(&mut Transaction) -> Response,
) -> Response {
    if let Some(failed) = psp.faulted(step).await {
        return failed;
    }
    let Ok(Json(body)) = body else {
        return refusal(StatusCode::BAD_REQUEST, 21, "malformed request");
    };
    if !psp.authorized(&body.terminal_id, &body.password) {
        return refusal(StatusCode::UNAUTHORIZED, 21, "wrong terminal or password");
    }
    psp.sweep();
    let mut all = psp.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
    match all.get_mut(&body.token) {
        Some(tx) => change(tx),
        None => refusal(StatusCode::OK, 17, "no such transaction"),
    }
}

type Body<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

async fn verify(State(psp): State<Handle>, body: Body<TxRequest>) -> Response {
    with_tx(&psp, Step::Verify, body, |tx| match tx.state {
        TxState::Paid => {
            tx.state = TxState::Verified;
            tx.verifies += 1;
            details(tx, false)
        }
        TxState::Verified | TxState::Settled => {
            tx.verifies += 1;
            details(tx, true)
        }
        TxState::Reversed => refusal(StatusCode::OK, 48, "the transaction was reversed"),
        _ => refusal(StatusCode::OK, 17, "the transaction was not paid"),
    })
    .await
}

async fn settle(State(psp): State<Handle>, body: Body<TxRequest>) -> Response {
    with_tx(&psp, Step::Settle, body, |tx| match tx.state {
        TxState::Verified => {
            tx.state = TxState::Settled;
            tx.settles += 1;
            details(tx, false)
        }
        TxState::Settled => details(tx, true),
        TxState::Reversed => refusal(StatusCode::OK, 48, "the transaction was reversed"),
        _ => refusal(StatusCode::OK, 46, "the transaction is not verified"),
    })
    .await
}

async fn reverse(State(psp): State<Handle>, body: Body<TxRequest>) -> Response {
    with_tx(&psp, Step::Reverse, body, |tx| match tx.state {
        TxState::Paid | TxState::Verified => {
            tx.state = TxState::Reversed;
            tx.reversals += 1;
            details(tx, false)
        }
        TxState::Reversed => details(tx, true),
        TxState::Settled => refusal(StatusCode::OK, 47, "a settled transaction cannot be reversed"),
        _ => refusal(StatusCode::OK, 17, "the transaction was not paid"),
    })
    .await
}

async fn inquire(State(psp): State<Handle>, body: Body<TxRequest>) -> Response {
    with_tx(&psp, Step::Inquire, body, |tx| details(tx, false)).await
}

async fn list(State(psp): State<Handle>) -> Json<Vec<Transaction>> {
    Json(psp.transactions())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn digits_fa(s: &str) -> String {
    s.chars().map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(0x06F0 + d).unwrap_or(c))).collect()
}

async fn page(State(psp): State<Handle>, Path(token): Path<String>) -> Response {
    let tx = psp.0.transactions.lock().unwrap_or_else(|e| e.into_inner()).get(&token).cloned();
    let Some(tx) = tx else {
        return (StatusCode::NOT_FOUND, Html("<!doctype html><p>تراکنش پیدا نشد · no such transaction</p>"))
            .into_response();
    };
    if tx.state != TxState::Pending {
        return (StatusCode::CONFLICT, Html("<!doctype html><p>این تراکنش قبلاً انجام شده است · already done</p>"))
            .into_response();
    }
    let amount = digits_fa(&group(tx.amount));
    let token = escape(&tx.token);
    Html(format!(
        r#"<!doctype html><html lang="fa" dir="rtl"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>درگاه پرداخت آزمایشی شاپرک</title>
<h1>درگاه پرداخت آزمایشی · Mock payment gateway</h1>
<p>مبلغ · Amount: <strong id="amount">{amount}</strong> ریال</p>
<form method="post" action="/pay/{token}">
<p><label>شماره کارت · Card number <input name="pan" id="pan" inputmode="numeric" dir="ltr" autocomplete="off"></label></p>
<p><label>CVV2 <input name="cvv2" id="cvv2" inputmode="numeric" dir="ltr" size="4"></label>
<label>انقضا · Expiry <input name="expiry" id="expiry" placeholder="0512" dir="ltr" size="5"></label></p>
<p><label>رمز دوم · Second password <input name="pin2" id="pin2" type="password" dir="ltr"></label></p>
<p><button name="action" value="pay" id="pay">پرداخت · Pay</button>
<button name="action" value="cancel" id="cancel">انصراف · Cancel</button></p>
</form></html>"#
    ))
    .into_response()
}

fn group(amount: u64) -> String {
    let s = amount.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Deserialize)]
struct PayForm {
    action: String,
    #[serde(default)]
    pan: String,
}

async fn pay_form(State(psp): State<Handle>, Path(token): Path<String>, Form(form): Form<PayForm>) -> Response {
    let n = psp.0.next.fetch_add(1, Ordering::Relaxed);
    let (url, fields) = {
        let mut all = psp.0.transactions.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = all.get_mut(&token) else {
            return (StatusCode::NOT_FOUND, Html("<!doctype html><p>no such transaction</p>")).into_response();
        };
        let fields = if form.action == "cancel" && tx.state == TxState::Pending {
            tx.state = TxState::Canceled;
            callback_fields(tx, "CANCELED")
        } else {
            settle_card(tx, &form.pan, n)
        };
        (tx.callback_url.clone(), fields)
    };
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(k), escape(v)))
        .collect();
    Html(format!(
        r#"<!doctype html><html lang="fa" dir="rtl"><meta charset="utf-8"><title>بازگشت به پذیرنده</title>
<form method="post" action="{}" id="back">{inputs}<button>بازگشت به سایت پذیرنده · Back to the merchant</button></form>
<script>document.getElementById("back").submit()</script></html>"#,
        escape(&url)
    ))
    .into_response()
}
