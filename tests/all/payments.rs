//! Paying bills through the card payment gateway over real HTTP: a `mock-agencies` PSP on
//! its own port, the host's API, the callback as the gateway's page posts it, and the
//! reconciler. Money moves exactly once: every test reads the PSP's own record of what it
//! verified, settled and reversed.

use std::net::SocketAddr;
use std::time::Duration;

use mock_agencies::psp::{self, Fault, Step, TxState};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Database, Host, on_both_databases};

/// A valid bill of the shared test vectors: 17,000 rials.
const BILL: (&str, &str, i64) = ("7748317800142", "1770160", 17000);
/// Another: 10,000 rials.
const OTHER: (&str, &str) = ("2050327604613", "1070189");
const CARD: &str = "6037991234567893";

pub struct Gateway {
    pub psp: psp::Handle,
    _server: tokio::sync::watch::Sender<()>,
    pub addr: SocketAddr,
}

pub async fn gateway() -> Gateway {
    let psp = psp::Handle::new("t-1", "t-pass");
    let (addr, server) = mock_agencies::serve("127.0.0.1:0".parse().unwrap(), psp.router()).await.unwrap();
    Gateway { psp, _server: server, addr }
}

/// The `[payments]` section for a gateway on `addr`.
pub fn payments_config(addr: SocketAddr, extra: &str) -> String {
    format!(
        "[payments]\npsp-url = \"http://{addr}\"\nterminal-id = \"t-1\"\npassword = {{ secret = \"t-pass\" }}\n\
         public-url = \"http://panjereh.test\"\ntimeout-ms = 1000\nreconcile-every-secs = 3600\n{extra}"
    )
}

async fn host_with_gateway(db: Database, extra: &str) -> (Gateway, Host) {
    let gateway = gateway().await;
    let host = Host::start_db(db, &[], &payments_config(gateway.addr, extra)).await;
    (gateway, host)
}

async fn order(host: &Host, token: Option<&str>, bill: (&str, &str)) -> crate::harness::Answer {
    let body = json!({"bill_id": bill.0, "payment_id": bill.1});
    host.call(Method::POST, "/api/v1/payments", token, Some(body), &[]).await
}

fn token_of(answer: &crate::harness::Answer) -> String {
    answer.body["pay_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

/// Posts what the gateway's page posts back, as a browser would (no redirects followed).
async fn post_callback(host: &Host, fields: &[(String, String)]) -> reqwest::Response {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    client.post(host.url("/payments/callback")).form(fields).send().await.unwrap()
}

async fn state(host: &Host, id: &str) -> Value {
    host.call(Method::GET, &format!("/api/v1/payments/{id}"), None, None, &[]).await.body
}

async fn a_bill_is_paid_exactly_once(db: Database) {
    let (gateway, host) = host_with_gateway(db, "").await;
    let opened = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!(opened.status, 201, "{}", opened.body);
    assert_eq!(opened.body["state"], "redirected");
    assert_eq!(opened.body["amount_rial"], BILL.2, "the amount is read from the payment ID");
    let pay_url = opened.body["pay_url"].as_str().unwrap();
    assert_eq!(opened.headers["location"], pay_url);
    assert!(pay_url.starts_with(&format!("http://{}/pay/", gateway.addr)), "{pay_url}");
    let id = opened.body["id"].as_str().unwrap().to_owned();

    // The gateway's page, as a browser gets it.
    let page = reqwest::get(pay_url).await.unwrap().text().await.unwrap();
    assert!(page.contains("۱۷,۰۰۰"), "the amount on the payment page: {page}");

    let fields = gateway.psp.pay(&token_of(&opened), CARD).unwrap();
    let back = post_callback(&host, &fields).await;
    assert_eq!(back.status(), 303);
    assert_eq!(back.headers()["location"], format!("/payments/{id}").as_str());

    let paid = state(&host, &id).await;
    assert_eq!(paid["state"], "settled", "{paid}");
    let tx = gateway.psp.transaction(&id).unwrap();
    assert_eq!((tx.state, tx.verifies, tx.settles, tx.reversals), (TxState::Settled, 1, 1, 0));
    assert_eq!(paid["rrn"], tx.rrn.as_str());
    assert_eq!(paid["trace"], tx.trace.as_str());
    assert_eq!(paid["masked_card"], "603799******7893");

    // A replayed callback changes nothing; a second payment is refused before any redirect.
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    assert_eq!(gateway.psp.transaction(&id).unwrap().settles, 1);
    let again = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.body["type"], "/problems/payment-already-paid");
    assert_eq!(gateway.psp.transactions().len(), 1, "no second token was asked for");

    // The receipt page: RRN and amount in Persian digits, the Jalali date.
    let receipt = reqwest::get(host.url(&format!("/payments/{id}"))).await.unwrap();
    assert_eq!(receipt.status(), 200);
    let html = receipt.text().await.unwrap();
    let persian = |s: &str| -> String {
        s.chars().map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(0x06F0 + d).unwrap())).collect()
    };
    assert!(html.contains("رسید پرداخت") && html.contains(&persian(&tx.rrn)), "{html}");
    assert!(html.contains("۱۷٬۰۰۰") || html.contains("۱۷,۰۰۰"), "{html}");
    assert!(html.contains("۱۴۰"), "a Jalali year: {html}");

    // Every move is evidence.
    let operator = host.operator("leila", panjereh_host::store::operators::Role::Auditor).await;
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=20", &operator, None).await;
    let kinds: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == id.as_str())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["payment.settled", "payment.verified", "payment.returned", "payment.redirected", "payment.created"]
    );
    let (status, list) = host.admin(Method::GET, "/admin/v1/payments?state=settled", &operator, None).await;
    assert_eq!((status, list["count"].as_u64()), (200, Some(1)), "{list}");
}

async fn bad_bills_and_tampered_callbacks_change_no_money(db: Database) {
    let (gateway, host) = host_with_gateway(db, "").await;
    let bad = order(&host, None, (BILL.0, "1770161")).await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(bad.body["errors"][0]["field"], "payment_id");
    let (_, fa) = host.post("/api/v1/payments", json!({"bill_id": BILL.0})).await;
    assert_eq!(fa["errors"][0]["field"], "payment_id");
    assert!(fa["errors"][0]["message"].as_str().unwrap().contains("شناسه پرداخت"), "{fa}");

    let a = order(&host, None, (BILL.0, BILL.1)).await;
    let b = order(&host, None, OTHER).await;
    let (a_id, b_id) = (a.body["id"].as_str().unwrap(), b.body["id"].as_str().unwrap());
    let mut fields = gateway.psp.pay(&token_of(&a), CARD).unwrap();
    // Order A's token with order B's id.
    let mut swapped = fields.clone();
    swapped.iter_mut().find(|(k, _)| k == "order_id").unwrap().1 = b_id.to_owned();
    assert_eq!(post_callback(&host, &swapped).await.status(), 400);
    // A token nobody issued.
    let forged = vec![("token".to_owned(), "f".repeat(24)), ("order_id".to_owned(), a_id.to_owned())];
    assert_eq!(post_callback(&host, &forged).await.status(), 404);
    assert_eq!(state(&host, a_id).await["state"], "redirected", "nothing moved");
    assert_eq!(state(&host, b_id).await["state"], "redirected");

    // A changed amount in the callback is not believed: the gateway's verified amount is.
    fields.iter_mut().find(|(k, _)| k == "amount").unwrap().1 = "1000".into();
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    let paid = state(&host, a_id).await;
    assert_eq!((paid["state"].as_str(), paid["amount_rial"].as_i64()), (Some("settled"), Some(BILL.2)));

    // A gateway whose verified amount is not the order's: reversed, never settled.
    let fields = gateway.psp.pay(&token_of(&b), CARD).unwrap();
    gateway.psp.tamper_amount(b_id, 1000);
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    let reversed = state(&host, b_id).await;
    assert_eq!(reversed["state"], "reversed", "{reversed}");
    let tx = gateway.psp.transaction(b_id).unwrap();
    assert_eq!((tx.state, tx.settles, tx.reversals), (TxState::Reversed, 0, 1));
}

async fn canceled_and_declined_payments_take_nothing(db: Database) {
    let (gateway, host) = host_with_gateway(db, "").await;
    let opened = order(&host, None, (BILL.0, BILL.1)).await;
    let id = opened.body["id"].as_str().unwrap();
    // Cancel on the gateway's page: the form posts CANCELED.
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client
        .post(opened.body["pay_url"].as_str().unwrap())
        .form(&[("action", "cancel")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"CANCELED\"") && page.contains("http://panjereh.test/payments/callback"), "{page}");
    let fields = vec![
        ("token".to_owned(), token_of(&opened)),
        ("order_id".to_owned(), id.to_owned()),
        ("status".to_owned(), "CANCELED".to_owned()),
    ];
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    let failed = state(&host, id).await;
    assert_eq!(failed["state"], "failed", "{failed}");
    let receipt = reqwest::get(host.url(&format!("/payments/{id}?lang=en"))).await.unwrap().text().await.unwrap();
    assert!(receipt.contains("No money was taken"), "{receipt}");

    // The citizen may pay again; a declined card fails too, with nothing to reverse.
    let again = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!(again.status, 201, "{}", again.body);
    let fields = gateway.psp.pay(&token_of(&again), psp::DECLINED_CARD).unwrap();
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    assert_eq!(state(&host, again.body["id"].as_str().unwrap()).await["state"], "failed");
}

async fn a_gateway_down_or_slow_loses_no_money(db: Database) {
    let (gateway, host) = host_with_gateway(db, "").await;
    gateway.psp.fault(Step::Token, Fault::Error, 1);
    let refused = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.body["type"], "/problems/payment-gateway-unavailable");

    // Verify hangs past the host's timeout: the order waits, returned, for the reconciler.
    let opened = order(&host, None, (BILL.0, BILL.1)).await;
    let id = opened.body["id"].as_str().unwrap().to_owned();
    let fields = gateway.psp.pay(&token_of(&opened), CARD).unwrap();
    gateway.psp.fault(Step::Verify, Fault::Delay(Duration::from_secs(3)), 1);
    assert_eq!(post_callback(&host, &fields).await.status(), 303);
    let waiting = state(&host, &id).await;
    assert_eq!(waiting["state"], "returned", "{waiting}");
    let receipt = reqwest::get(host.url(&format!("/payments/{id}"))).await.unwrap();
    assert_eq!(receipt.status(), 202, "the receipt page says it is being confirmed");
    // The settle step fails once too; the reconciler goes on when the order is due.
    gateway.psp.fault(Step::Settle, Fault::Error, 1);
    let payments = host.app.payments.clone().unwrap();
    sqlx::query("UPDATE payment_orders SET next_check_ms = 0").execute(host.app.db.writer()).await.unwrap();
    payments.reconcile_once().await.unwrap();
    assert_eq!(state(&host, &id).await["state"], "verified");
    sqlx::query("UPDATE payment_orders SET next_check_ms = 0").execute(host.app.db.writer()).await.unwrap();
    payments.reconcile_once().await.unwrap();
    assert_eq!(state(&host, &id).await["state"], "settled");
    let tx = gateway.psp.transaction(&id).unwrap();
    assert_eq!((tx.state, tx.settles, tx.reversals), (TxState::Settled, 1, 0));
}

/// Two tabs, two orders for one bill, both paid at the gateway: the first is settled, the
/// second reversed.
async fn a_bill_paid_twice_is_reversed_once(db: Database) {
    let (gateway, host) = host_with_gateway(db, "").await;
    let first = order(&host, None, (BILL.0, BILL.1)).await;
    let second = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!((first.status, second.status), (201, 201), "neither is paid yet");
    let first_fields = gateway.psp.pay(&token_of(&first), CARD).unwrap();
    let second_fields = gateway.psp.pay(&token_of(&second), CARD).unwrap();
    post_callback(&host, &first_fields).await;
    post_callback(&host, &second_fields).await;
    let (a, b) = (first.body["id"].as_str().unwrap(), second.body["id"].as_str().unwrap());
    assert_eq!(state(&host, a).await["state"], "settled");
    let twice = state(&host, b).await;
    assert_eq!(twice["state"], "reversed", "{twice}");
    assert!(twice["failure"].as_str().unwrap().contains(a), "{twice}");
    assert_eq!(gateway.psp.transaction(b).unwrap().reversals, 1);
    assert_eq!(gateway.psp.transaction(a).unwrap().settles, 1);
}

/// A signed-in citizen's payments are theirs: listed for them, hidden from others.
async fn a_citizen_sees_only_their_own_payments(db: Database) {
    let (_gateway, host) = host_with_gateway(db, "").await;
    let ali = host.sign_in("0499370899", "09121234567").await;
    let sara = host.sign_in("1271408929", "09131234567").await;
    let opened = order(&host, Some(&ali), (BILL.0, BILL.1)).await;
    let id = opened.body["id"].as_str().unwrap();
    assert_eq!(host.get_as(&ali, &format!("/api/v1/payments/{id}")).await.status, 200);
    assert_eq!(host.get_as(&sara, &format!("/api/v1/payments/{id}")).await.status, 404);
    assert_eq!(host.call(Method::GET, &format!("/api/v1/payments/{id}"), None, None, &[]).await.status, 404);
    let mine = host.get_as(&ali, "/api/v1/me/payments").await;
    assert_eq!(mine.body["count"], 1);
    assert_eq!(host.get_as(&sara, "/api/v1/me/payments").await.body["count"], 0);
}

on_both_databases!(
    a_bill_is_paid_exactly_once,
    bad_bills_and_tampered_callbacks_change_no_money,
    canceled_and_declined_payments_take_nothing,
    a_gateway_down_or_slow_loses_no_money,
    a_bill_paid_twice_is_reversed_once,
    a_citizen_sees_only_their_own_payments,
);

/// The citizen closed the tab after paying: no callback ever comes. Two hosts on one
/// PostgreSQL reconcile at once; the order is verified and settled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_reconcile_a_stuck_order_once() {
    let gateway = gateway().await;
    let database = crate::harness::PgDatabase::create().await;
    let config = payments_config(gateway.addr, "stuck-after-secs = 0\n");
    let a = Host::start_on(Some(&database.url), &[], &config, |_| {}).await;
    let b = Host::start_on(Some(&database.url), &[], &config, |_| {}).await;
    let mut ids = Vec::new();
    for bill in [(BILL.0, BILL.1), OTHER] {
        let opened = order(&a, None, bill).await;
        gateway.psp.pay(&token_of(&opened), CARD).unwrap();
        ids.push(opened.body["id"].as_str().unwrap().to_owned());
    }
    sqlx::query("UPDATE payment_orders SET next_check_ms = 0").execute(a.app.db.writer()).await.unwrap();
    let (pa, pb) = (a.app.payments.clone().unwrap(), b.app.payments.clone().unwrap());
    let (ra, rb) = tokio::join!(pa.reconcile_once(), pb.reconcile_once());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra + rb, 2, "each order claimed by one replica: {ra} + {rb}");
    for id in &ids {
        assert_eq!(state(&a, id).await["state"], "settled");
        let tx = gateway.psp.transaction(id).unwrap();
        assert_eq!((tx.verifies, tx.settles, tx.reversals), (1, 1, 0), "{id}");
    }
    drop((a, b));
    database.drop_now().await;
}

/// Without `[payments]` the host takes no payments and says so.
#[tokio::test]
async fn a_host_without_a_gateway_takes_no_payments() {
    let host = Host::start(&[], "").await;
    let answer = order(&host, None, (BILL.0, BILL.1)).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.body["type"], "/problems/payments-off");
}

/// The job queue on PostgreSQL: two replicas claiming at once take disjoint jobs, and a
/// claimed job whose replica died (its lease ran out) is claimed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_claimed_by_one_replica_at_a_time() {
    use panjereh_host::store::{Db, jobs};
    let database = crate::harness::PgDatabase::create().await;
    let (a, b) = (Db::connect(&database.url).await.unwrap(), Db::connect(&database.url).await.unwrap());
    for i in 0..40 {
        jobs::enqueue(&a, "test.noop", &json!({"n": i}), 0, None, 1).await.unwrap();
    }
    let now = panjereh_host::store::now_ms();
    let (ca, cb) =
        tokio::join!(jobs::claim(&a, "a", now, now + 60_000, 30), jobs::claim(&b, "b", now, now + 60_000, 30));
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert_eq!(ca.len() + cb.len(), 40, "{} + {}", ca.len(), cb.len());
    let mut ids: Vec<_> = ca.iter().chain(&cb).map(|j| j.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "no job claimed twice");
    assert!(jobs::claim(&b, "b", now, now + 60_000, 30).await.unwrap().is_empty(), "all leased");
    // Replica a dies; its leases run out and b takes its jobs.
    let later = now + 61_000;
    let retaken = jobs::claim(&b, "b", later, later + 60_000, 100).await.unwrap();
    assert_eq!(retaken.len(), 40);
    drop((a, b));
    database.drop_now().await;
}
