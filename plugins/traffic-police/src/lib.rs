//! Traffic police (پلیس راهور فراجا): unpaid vehicle fines by plate and the owner's national
//! ID, read from the police back-end over outbound HTTP.
//!
//! A sample of an adapter that computes nothing itself: it asks its agency's back-end and
//! turns the answer into a document with a table and payable bills. The back-end's address
//! and API key come from the operator's configuration (`base-url`, `api-key`); the host
//! lets the adapter reach only the destinations the operator granted.
//!
//! The back-end's API (served for development by `mock-agencies`):
//!
//! ```text
//! POST {base-url}/v1/fines/inquiry
//! x-api-key: {api-key}
//! {"plate": "12ب345-67", "owner_national_id": "0499370899"}
//!
//! 200 {"plate", "vehicle_fa", "vehicle_en", "total_rial", "fines": [{"serial", "date", "time",
//!      "code", "violation_fa", "violation_en", "location_fa", "location_en", "amount_rial",
//!      "bill_id", "payment_id"}]}
//! 401 wrong key · 403 the national ID does not own the vehicle · 404 unknown plate
//!
//! POST {base-url}/v1/fines/paid
//! x-api-key: {api-key}
//! {"bill_id": "700001291191", "payment_id": "150041260", "amount_rial": 1500000, "rrn": "..."}
//!
//! 200 {"serial", "already_paid"} · 404 no fine with this bill · 422 the amount is not the fine's
//! ```
//!
//! When the host reports one of its fines' bills paid (`on-payment`), the adapter tells the
//! back-end, which stops listing the fine. A fine is no application, so there is no status
//! to report: the answer is `None`.

use panjereh_plugin_sdk::formats::bill::{self, ServiceType};
use panjereh_plugin_sdk::formats::group_thousands;
use panjereh_plugin_sdk::http::{self, HttpError, Request};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, config, export, log};
use serde::{Deserialize, Serialize};

/// The adapter.
pub struct TrafficPolice;

const FINES: &str = "vehicle-fines";

fn t(fa: impl Into<String>, en: impl Into<String>) -> Text {
    Text::new(fa, en)
}

impl Adapter for TrafficPolice {
    fn describe() -> Agency {
        Agency {
            id: "traffic-police".into(),
            name: t("پلیس راهنمایی و رانندگی فراجا", "Traffic Police"),
            services: vec![
                Service::inquiry(
                    FINES,
                    t("استعلام خلافی خودرو", "Vehicle fines inquiry"),
                    t(
                        "جریمه‌های پرداخت‌نشده خودرو را با شماره پلاک و کد ملی مالک ببینید و با شناسه قبض و پرداخت بپردازید.",
                        "See a vehicle's unpaid fines by plate number and the owner's national ID, and pay them with their bill and payment IDs.",
                    ),
                    Category::new("vehicles", t("خودرو و رانندگی", "Vehicles and driving")),
                )
                .field(Field::new("plate", t("شماره پلاک", "Plate number"), FieldType::Plate))
                .field(
                    Field::new("owner-national-id", t("کد ملی مالک", "Owner's national ID"), FieldType::NationalId)
                        .optional()
                        .help(t(
                            "اگر وارد سامانه شده‌اید و خودرو به نام خودتان است، خالی بگذارید",
                            "leave empty if you are signed in and the vehicle is yours",
                        )),
                )
                .needs(&[IdentityAttribute::NationalId]),
            ],
        }
    }

    fn inquire(ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        if ctx.service != FINES {
            return Err(AdapterError::NotFound(t("خدمت یافت نشد", "no such service")));
        }
        let plate = input.get_value("plate").unwrap_or_default();
        // The owner typed in the form wins: a citizen may look up a family member's car.
        let owner = input.get_value("owner-national-id").or_else(|| ctx.national_id().map(str::to_owned));
        let Some(owner) = owner else {
            return Err(AdapterError::field(
                "owner-national-id",
                t(
                    "کد ملی مالک خودرو را وارد کنید یا با حساب مالک وارد سامانه شوید",
                    "enter the owner's national ID, or sign in as the owner",
                ),
            ));
        };
        let answer = fetch_fines(&ctx, &plate, &owner)?;
        document(&answer)
    }

    fn on_payment(ctx: CallContext, payment: Payment) -> Result<Option<StatusUpdate>, AdapterError> {
        let PaidItem::Bill(paid) = &payment.item else { return Ok(None) };
        let is_fine =
            bill::decode(&paid.bill_id, &paid.payment_id).is_ok_and(|b| b.service_type == ServiceType::TrafficFines);
        if !is_fine {
            log::warn(&format!("payment {} is for bill {}, which is no traffic fine", payment.order_id, paid.bill_id));
            return Ok(None);
        }
        report_paid(&ctx, paid, &payment)?;
        Ok(None)
    }
}

/// What the back-end is told about a paid fine.
#[derive(Debug, Serialize)]
struct PaidFine<'a> {
    bill_id: &'a str,
    payment_id: &'a str,
    amount_rial: u64,
    rrn: &'a str,
}

/// Tells the back-end that the fine with this bill was paid.
fn report_paid(ctx: &CallContext, paid: &BillRef, payment: &Payment) -> Result<(), AdapterError> {
    let base = setting("base-url")?;
    let key = setting("api-key")?;
    let body = serde_json::to_vec(&PaidFine {
        bill_id: &paid.bill_id,
        payment_id: &paid.payment_id,
        amount_rial: payment.amount_rial,
        rrn: &payment.rrn,
    })
    .map_err(|e| AdapterError::Other(e.to_string()))?;
    let request = Request::post_json(format!("{}/v1/fines/paid", base.trim_end_matches('/')), body)
        .header("x-api-key", key)
        .header("x-request-id", ctx.request_id.clone())
        .timeout_ms(5_000);
    let response = http::send(&request).map_err(|e| match e {
        HttpError::Timeout | HttpError::ConnectionFailed(_) => unavailable(),
        other => AdapterError::Other(format!("police back-end: {other:?}")),
    })?;
    match response.status {
        200 => {
            log::info(&format!("fine with bill {} reported paid (order {})", paid.bill_id, payment.order_id));
            Ok(())
        }
        404 => Err(AdapterError::NotFound(t("جریمه‌ای با این قبض یافت نشد", "no fine has this bill"))),
        422 => Err(AdapterError::Other(format!(
            "police back-end: {} rials is not the amount of the fine with bill {}",
            payment.amount_rial, paid.bill_id
        ))),
        401 => Err(AdapterError::Other("police back-end refused the API key (401)".into())),
        500..=599 => Err(unavailable()),
        status => Err(AdapterError::Other(format!("police back-end answered {status}"))),
    }
}

/// The request body of the police back-end.
#[derive(Debug, Serialize)]
struct FinesQuery<'a> {
    plate: &'a str,
    owner_national_id: &'a str,
}

/// The back-end's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct FinesAnswer {
    pub plate: String,
    pub vehicle_fa: String,
    pub vehicle_en: String,
    pub total_rial: u64,
    pub fines: Vec<Fine>,
}

/// One unpaid fine.
#[derive(Debug, Clone, Deserialize)]
pub struct Fine {
    pub serial: String,
    /// Jalali date of the violation, `1404/08/12`.
    pub date: String,
    pub time: String,
    /// The violation's code in the traffic regulations.
    pub code: String,
    pub violation_fa: String,
    pub violation_en: String,
    pub location_fa: String,
    pub location_en: String,
    pub amount_rial: u64,
    pub bill_id: String,
    pub payment_id: String,
}

fn setting(key: &str) -> Result<String, AdapterError> {
    match config::get(key) {
        Ok(Some(value)) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Ok(_) => Err(AdapterError::Other(format!("config `{key}` is not set by the operator"))),
        Err(e) => Err(AdapterError::Other(format!("config `{key}`: {e:?}"))),
    }
}

fn unavailable() -> AdapterError {
    AdapterError::Unavailable(t(
        "سامانه پلیس راهور پاسخ نمی‌دهد؛ چند دقیقه دیگر دوباره تلاش کنید",
        "the traffic police system is not answering; try again in a few minutes",
    ))
}

fn fetch_fines(ctx: &CallContext, plate: &str, owner: &str) -> Result<FinesAnswer, AdapterError> {
    let base = setting("base-url")?;
    let key = setting("api-key")?;
    let body = serde_json::to_vec(&FinesQuery { plate, owner_national_id: owner })
        .map_err(|e| AdapterError::Other(e.to_string()))?;
    let request = Request::post_json(format!("{}/v1/fines/inquiry", base.trim_end_matches('/')), body)
        .header("x-api-key", key)
        .header("x-request-id", ctx.request_id.clone())
        .timeout_ms(5_000);
    let response = http::send(&request).map_err(|e| match e {
        HttpError::Timeout | HttpError::ConnectionFailed(_) => unavailable(),
        other => AdapterError::Other(format!("police back-end: {other:?}")),
    })?;
    match response.status {
        200 => serde_json::from_slice(&response.body)
            .map_err(|e| AdapterError::Other(format!("police back-end sent an unreadable answer: {e}"))),
        403 => Err(AdapterError::Forbidden(t(
            "این کد ملی مالک خودرو با این پلاک نیست",
            "this national ID does not own the vehicle with this plate",
        ))),
        404 => Err(AdapterError::NotFound(t(
            "خودرویی با این پلاک ثبت نشده است",
            "no vehicle is registered with this plate",
        ))),
        401 => Err(AdapterError::Other("police back-end refused the API key (401)".into())),
        500..=599 => Err(unavailable()),
        status => Err(AdapterError::Other(format!("police back-end answered {status}"))),
    }
}

/// Turns the back-end's answer into a document: a summary, a table of fines and one
/// payable bill per fine. Bills with wrong check digits are refused rather than shown: a
/// citizen must never be asked to pay into an ID that the banks would reject.
pub fn document(answer: &FinesAnswer) -> Result<Document, AdapterError> {
    let mut doc = Document::new(t("خلافی خودرو", "Vehicle fines"))
        .item(t("پلاک", "Plate"), answer.plate.clone())
        .item(t("خودرو", "Vehicle"), format!("{} / {}", answer.vehicle_fa, answer.vehicle_en))
        .item(t("تعداد جریمه‌های پرداخت‌نشده", "Unpaid fines"), answer.fines.len().to_string())
        .item(t("جمع (ریال)", "Total (rials)"), group_thousands(answer.total_rial));
    if answer.fines.is_empty() {
        return Ok(doc);
    }
    doc = doc.table(Table {
        title: t("جریمه‌ها", "Fines"),
        columns: vec![
            t("تاریخ", "Date"),
            t("ساعت", "Time"),
            t("تخلف", "Violation"),
            t("محل", "Place"),
            t("مبلغ (ریال)", "Amount (rials)"),
            t("شناسه قبض", "Bill ID"),
            t("شناسه پرداخت", "Payment ID"),
        ],
        rows: answer
            .fines
            .iter()
            .map(|f| {
                vec![
                    f.date.clone(),
                    f.time.clone(),
                    format!("{} / {}", f.violation_fa, f.violation_en),
                    format!("{} / {}", f.location_fa, f.location_en),
                    group_thousands(f.amount_rial),
                    f.bill_id.clone(),
                    f.payment_id.clone(),
                ]
            })
            .collect(),
    });
    for fine in &answer.fines {
        let decoded = bill::decode(&fine.bill_id, &fine.payment_id)
            .ok()
            .filter(|b| b.service_type == ServiceType::TrafficFines && b.amount_rial == fine.amount_rial);
        let Some(decoded) = decoded else {
            log::error(&format!("fine {} came with an invalid bill or payment ID", fine.serial));
            return Err(AdapterError::Other(format!("fine {} has an invalid bill", fine.serial)));
        };
        doc = doc.bill(Bill {
            bill_id: decoded.bill_id,
            payment_id: decoded.payment_id,
            amount_rial: decoded.amount_rial,
            title: t(
                format!("جریمه {} – {}", fine.violation_fa, fine.date),
                format!("Fine: {} ({})", fine.violation_en, fine.date),
            ),
        });
    }
    Ok(doc)
}

export!(TrafficPolice);

#[cfg(test)]
mod tests {
    use super::*;
    use panjereh_plugin_sdk::http::Method;
    use panjereh_plugin_sdk::testing::{self, context, input, signed_in};

    const BASE: &str = "http://127.0.0.1:9101";
    const ANSWER: &str = r#"{"plate":"12ب345-13","vehicle_fa":"پژو ۲۰۶","vehicle_en":"Peugeot 206","total_rial":1500000,
        "fines":[{"serial":"1404081200017","date":"1404/08/12","time":"17:42","code":"2056",
        "violation_fa":"توقف ممنوع","violation_en":"no parking","location_fa":"اصفهان، خیابان چهارباغ",
        "location_en":"Isfahan, Chaharbagh St","amount_rial":1500000,"bill_id":"700001291191","payment_id":"150041260"}]}"#;

    fn configured() {
        testing::set_config("base-url", BASE);
        testing::set_config("api-key", "dev-police-key");
    }

    fn payment_of(bill_id: &str, payment_id: &str) -> Payment {
        Payment {
            order_id: "order-1".into(),
            item: PaidItem::Bill(BillRef { bill_id: bill_id.into(), payment_id: payment_id.into() }),
            amount_rial: 1_500_000,
            rrn: "123456789012".into(),
            trace: "654321".into(),
            masked_card: "603799******1234".into(),
            paid_at: "2026-12-01T10:15:30.042Z".into(),
        }
    }

    #[test]
    fn a_paid_fine_is_reported_to_the_back_end() {
        configured();
        testing::respond(Method::Post, &format!("{BASE}/v1/fines/paid"), 200, r#"{"serial":"1","already_paid":false}"#);
        let answer = TrafficPolice::on_payment(context(FINES), payment_of("700001291191", "150041260"));
        assert_eq!(answer, Ok(None));
        let sent = &testing::requests()[0];
        assert_eq!(sent.url, format!("{BASE}/v1/fines/paid"));
        let body: serde_json::Value = serde_json::from_slice(sent.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["bill_id"], "700001291191");
        assert_eq!(body["amount_rial"], 1_500_000);

        // A bill that is no traffic fine (a utility bill) is not the police's business.
        testing::reset();
        assert_eq!(TrafficPolice::on_payment(context(FINES), payment_of("7748317800142", "1770160")), Ok(None));
        assert!(testing::requests().is_empty());
    }

    #[test]
    fn fines_come_back_as_a_table_and_valid_bills() {
        configured();
        testing::respond(Method::Post, &format!("{BASE}/v1/fines/inquiry"), 200, ANSWER);
        let doc = TrafficPolice::inquire(
            context(FINES),
            input(&[("plate", "12ب345-13"), ("owner-national-id", "0499370899")]),
        )
        .unwrap();
        assert_eq!(doc.tables[0].rows.len(), 1);
        assert_eq!(doc.bills[0].bill_id, "700001291191");
        assert_eq!(doc.bills[0].amount_rial, 1_500_000);

        let sent = &testing::requests()[0];
        assert!(sent.headers.iter().any(|h| h.name == "x-api-key" && h.value == "dev-police-key"));
        let body: serde_json::Value = serde_json::from_slice(sent.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["owner_national_id"], "0499370899");
    }

    #[test]
    fn the_signed_in_citizen_is_the_owner_by_default() {
        configured();
        testing::respond(Method::Post, BASE, 200, ANSWER);
        TrafficPolice::inquire(signed_in(FINES, "0790419904"), input(&[("plate", "12ب345-13")])).unwrap();
        let body: serde_json::Value = serde_json::from_slice(testing::requests()[0].body.as_ref().unwrap()).unwrap();
        assert_eq!(body["owner_national_id"], "0790419904");

        let anonymous = TrafficPolice::inquire(context(FINES), input(&[("plate", "12ب345-13")]));
        assert!(matches!(anonymous, Err(AdapterError::InvalidInput(e)) if e[0].field == "owner-national-id"));
    }

    #[test]
    fn back_end_refusals_become_citizen_errors() {
        configured();
        let ask = || TrafficPolice::inquire(signed_in(FINES, "0499370899"), input(&[("plate", "12ب345-13")]));
        testing::respond(Method::Post, BASE, 403, "{}");
        assert!(matches!(ask(), Err(AdapterError::Forbidden(_))));
        testing::respond(Method::Post, BASE, 404, "{}");
        assert!(matches!(ask(), Err(AdapterError::NotFound(_))));
        testing::respond(Method::Post, BASE, 503, "");
        assert!(matches!(ask(), Err(AdapterError::Unavailable(_))));
        testing::fail(BASE, HttpError::Timeout);
        assert!(matches!(ask(), Err(AdapterError::Unavailable(_))));
    }

    #[test]
    fn a_bill_with_a_wrong_check_digit_is_not_shown() {
        configured();
        testing::respond(Method::Post, BASE, 200, ANSWER.replace("150041260", "150041261"));
        let result = TrafficPolice::inquire(signed_in(FINES, "0499370899"), input(&[("plate", "12ب345-13")]));
        assert!(matches!(result, Err(AdapterError::Other(_))));
        assert!(testing::logs().iter().any(|(_, line)| line.contains("invalid bill")));
    }

    #[test]
    fn missing_configuration_is_the_operators_problem() {
        let result = TrafficPolice::inquire(signed_in(FINES, "0499370899"), input(&[("plate", "12ب345-13")]));
        assert!(matches!(result, Err(AdapterError::Other(m)) if m.contains("base-url")));
    }
}
