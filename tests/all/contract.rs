//! Contract releases side by side: an adapter built for the frozen 0.1.0 (`legacy`) is
//! served next to 0.2.0 ones; 0.2.0's `on-payment` and bills on receipts, with their caps.

use panjereh_host::plugins::{PaidItem, PaymentNotice};
use panjereh_host::runtime::bindings::{CallContext, Status};
use serde_json::{Value, json};

use crate::harness::{APPLICANT, FLOOD, Host, LEGACY};

const ALI: (&str, &str) = ("0499370899", "09121234567");
/// `2026-12-01T10:15:30.042Z`.
const PAID_AT_MS: i64 = 1_796_120_130_042;

fn ids(body: &Value) -> Vec<String> {
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}/{}", s["agency"].as_str().unwrap(), s["id"].as_str().unwrap()))
        .collect()
}

fn context(service: &str) -> CallContext {
    CallContext { request_id: "pay-1".into(), service: service.into(), citizen: None, locale: "en".into() }
}

fn notice(item: PaidItem) -> PaymentNotice {
    PaymentNotice {
        order_id: "order-1".into(),
        item,
        amount_rial: 2_500_000,
        rrn: "123456789012".into(),
        trace: "654321".into(),
        masked_card: "603799******1234".into(),
        paid_at_ms: PAID_AT_MS,
    }
}

#[tokio::test]
async fn an_adapter_built_for_0_1_0_is_served_next_to_0_2_0_ones() {
    let host = Host::start(&[LEGACY, APPLICANT], "").await;
    let wit = |agency: &str| host.app.registry.get(agency).unwrap().adapter.wit.to_string();
    assert_eq!((wit("legacy"), wit("test-office")), ("0.1.0".to_owned(), "0.2.0".to_owned()));

    let (status, catalogue) = host.get("/api/v1/services").await;
    assert_eq!(status, 200);
    let services = ids(&catalogue);
    for id in ["legacy/lookup", "legacy/request", "test-office/permit"] {
        assert!(services.contains(&id.to_owned()), "{id} in {services:?}");
    }

    let (status, answer) =
        host.post_lang("/api/v1/services/legacy/lookup/inquiries", json!({"input": {"word": "salam"}}), "en").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["document"]["items"][0]["value"], "salam", "{answer}");
    let clock: u64 = answer["document"]["items"][1]["value"].as_str().unwrap().parse().unwrap();
    assert!(clock > 1_700_000_000_000, "the 0.1.0 clock import is the host's: {answer}");

    let ali = host.sign_in(ALI.0, ALI.1).await;
    let filed = host.post_as(&ali, "/api/v1/services/legacy/request/applications", json!({"input": {}})).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    assert!(filed.body["agency_reference"].as_str().unwrap().starts_with("OLD-"), "{}", filed.body);
    assert_eq!(filed.body["status"], "submitted");
    assert!(filed.body.get("bills").is_none(), "a 0.1.0 receipt has no bills: {}", filed.body);

    // And the 0.2.0 adapter on the same host.
    let filed = host
        .post_as(
            &ali,
            "/api/v1/services/test-office/permit/applications",
            json!({"input": {"postal-code": "1193653471"}}),
        )
        .await;
    assert_eq!(filed.status, 201, "{}", filed.body);
}

#[tokio::test]
async fn on_payment_reaches_0_2_0_adapters_and_is_nothing_to_do_for_0_1_0() {
    let host = Host::start(&[LEGACY, APPLICANT], "").await;
    let adapter = |agency: &str| host.app.registry.get(agency).unwrap().adapter;

    let fee = notice(PaidItem::Fee { agency_reference: "CASE-9".into() });
    let update = adapter("test-office").on_payment(context("permit"), &fee).await.unwrap().unwrap();
    let update = update.expect("a paid fee moves the application");
    assert_eq!((update.agency_reference.as_str(), update.status), ("CASE-9", Status::InReview));
    assert_eq!(update.message.en, "fee of 2500000 rials paid, RRN 123456789012, at 2026-12-01T10:15:30.042Z");
    assert!(update.bills.is_empty());

    let bill = notice(PaidItem::Bill { bill_id: "7748317800142".into(), payment_id: "1770160".into() });
    assert!(adapter("test-office").on_payment(context("permit"), &bill).await.unwrap().unwrap().is_none());
    assert!(adapter("legacy").on_payment(context("request"), &fee).await.unwrap().unwrap().is_none(), "0.1.0");
    assert_eq!(adapter("legacy").stats().calls, 1, "only `describe`: a 0.1.0 adapter is not called for a payment");
}

#[tokio::test]
async fn a_receipts_bills_are_in_the_submit_answer_and_capped() {
    let host = Host::start(&[APPLICANT, FLOOD], "").await;
    let ali = host.sign_in(ALI.0, ALI.1).await;
    let permit = |reference: &str| json!({"input": {"postal-code": "1193653471", "reference": reference}});

    let filed = host.post_as(&ali, "/api/v1/services/test-office/permit/applications", permit("with-fee")).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    let bills = filed.body["bills"].as_array().unwrap();
    assert_eq!(bills.len(), 1, "{}", filed.body);
    assert_eq!(bills[0]["amount_rial"], 2_500_000);
    assert_eq!(bills[0]["title"], "Filing fee");
    let decoded =
        panjereh_formats::bill::decode(bills[0]["bill_id"].as_str().unwrap(), bills[0]["payment_id"].as_str().unwrap())
            .expect("valid check digits");
    assert_eq!(decoded.amount_rial, 2_500_000);

    let plain = host.post_as(&ali, "/api/v1/services/test-office/permit/applications", permit("CASE-2")).await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    assert!(plain.body.get("bills").is_none(), "nothing to pay: {}", plain.body);

    // 21 bills: past the cap, refused, and nothing is filed.
    let filed = host.post_as(&ali, "/api/v1/services/flood/bills/applications", json!({"input": {}})).await;
    assert_eq!(filed.status, 502, "{}", filed.body);
    assert_eq!(filed.body["type"], "/problems/adapter-answer-too-large");
    assert!(filed.body["detail"].as_str().unwrap().contains("bills: 21, at most 20"), "{}", filed.body);
    let listed = host.get_as(&ali, "/api/v1/applications").await.body;
    assert_eq!(listed["count"], 2, "{listed}");
}
