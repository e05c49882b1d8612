//! The utility-bills adapter end to end: catalogue, details, inquiries, errors.

use serde_json::json;

use crate::harness::{Host, UTILITY_BILLS};

const INQUIRY: &str = "/api/v1/services/utility-bills/bill-details/inquiries";

fn item<'a>(body: &'a serde_json::Value, label: &str) -> &'a str {
    body["document"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == label)
        .unwrap_or_else(|| panic!("no item {label} in {body}"))["value"]
        .as_str()
        .unwrap()
}

#[tokio::test]
async fn catalogue_lists_the_loaded_adapter_in_both_languages() {
    let host = Host::start(&[UTILITY_BILLS], "").await;
    let (status, fa) = host.get("/api/v1/services").await;
    assert_eq!(status, 200);
    // bill-details, then the latest water, electricity, gas and phone bills.
    assert_eq!(fa["count"], 5);
    assert_eq!(fa["services"][0]["title"], "استعلام قبض");
    assert_eq!(fa["services"][0]["kind"], "inquiry");
    assert_eq!(fa["services"][0]["scope"]["level"], "national");

    let (_, en) = host.get_lang("/api/v1/services", "en-US,en;q=0.9").await;
    assert_eq!(en["services"][0]["title"], "Bill inquiry");

    let (status, detail) = host.get_lang("/api/v1/services/utility-bills/bill-details", "en").await;
    assert_eq!(status, 200);
    let fields = detail["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0]["name"], "bill-id");
    assert_eq!(fields[0]["type"], "bill-id");
    assert_eq!(fields[0]["label"], "Bill ID");
    assert_eq!(fields[0]["required"], true);
}

#[tokio::test]
async fn a_valid_bill_is_decoded_with_amount_service_and_period() {
    let host = Host::start(&[UTILITY_BILLS], "").await;
    // From the shared vectors: landline, 17,000 rials.
    let (status, body) =
        host.post_lang(INQUIRY, json!({"input": {"bill-id": "7748317800142", "payment-id": "1770160"}}), "en").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(item(&body, "Amount (rials)"), "17,000");
    assert_eq!(item(&body, "Service"), "landline");
    assert_eq!(item(&body, "Period"), "01");
    let bill = &body["document"]["bills"][0];
    assert_eq!(bill["amount_rial"], 17000);
    assert_eq!(bill["bill_id"], "7748317800142");

    // Persian digits are normalized by the host before the adapter sees them: electricity.
    let (status, body) =
        host.post(INQUIRY, json!({"input": {"bill-id": "۹۱۷۴۶۳۹۵۰۴۱۲۴", "payment-id": "۱۲۹۰۸۱۹۰"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(item(&body, "مبلغ (ریال)"), "129,000");
    assert_eq!(item(&body, "نوع خدمت"), "برق");
    assert_eq!(body["document"]["bills"][0]["payment_id"], "12908190");
}

#[tokio::test]
async fn invalid_ids_get_per_field_errors_in_both_languages() {
    let host = Host::start(&[UTILITY_BILLS], "").await;
    // The bill ID's check digit is wrong: the host refuses it before the adapter runs.
    let (status, body) =
        host.post_lang(INQUIRY, json!({"input": {"bill-id": "2234322344613", "payment-id": "1070188"}}), "en").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["type"], "/problems/invalid-input");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["field"], "bill-id");
    assert!(!errors[0]["fa"].as_str().unwrap().is_empty());
    assert_eq!(errors[0]["message"], errors[0]["en"]);

    // Each ID is valid alone, but the payment ID belongs to another bill: the adapter says so.
    let (status, body) =
        host.post(INQUIRY, json!({"input": {"bill-id": "7748317800142", "payment-id": "1770161"}})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["adapter"], "utility-bills");
    assert_eq!(body["errors"][0]["field"], "payment-id");
    assert_eq!(body["errors"][0]["message"], body["errors"][0]["fa"]);

    // Missing and unknown fields.
    let (status, body) = host.post_lang(INQUIRY, json!({"input": {"bill": "1"}}), "en").await;
    assert_eq!(status, 422);
    let fields: Vec<_> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["bill", "bill-id", "payment-id"]);
}

#[tokio::test]
async fn malformed_requests_get_problems_not_crashes() {
    let host = Host::start(&[UTILITY_BILLS], "").await;
    let response = host
        .client
        .post(host.url(INQUIRY))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::harness::decode(response).await;
    assert_eq!(status, 400, "{body}");

    let response = host.client.post(host.url(INQUIRY)).body("bill-id=1").send().await.unwrap();
    let (status, _) = crate::harness::decode(response).await;
    assert_eq!(status, 415);

    let (status, body) = host.get_lang("/api/v1/services/nobody/nothing", "en").await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "no agency `nobody`");
    let (status, _) = host.get("/api/v1/services/utility-bills/nothing").await;
    assert_eq!(status, 404);
    let (status, _) = host.get("/no/such/path").await;
    assert_eq!(status, 404);
    let (status, _) = host.get("/api/v1/services?kind=everything").await;
    assert_eq!(status, 400);

    let huge = "۱".repeat(400 << 10);
    let (status, _) = host.post(INQUIRY, json!({"input": {"bill-id": huge}})).await;
    assert_eq!(status, 413);

    let (status, body) = host.get("/healthz").await;
    assert_eq!((status, body), (200, json!("ok")));
}
