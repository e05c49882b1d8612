//! Utility bills (قبوض خدمات): the latest water, electricity, gas and landline bills, and a
//! decoder for any bill ID and payment ID pair.
//!
//! - `bill-details` decodes a bill ID and payment ID into the amount, the kind of service
//!   and the billing period, and checks both check digits. The standard IDs carry
//!   everything needed; no back-end call is made.
//! - `water-bill`, `electricity-bill`, `gas-bill` and `phone-bill` answer "what do I owe
//!   now": a real adapter would ask each utility company; this sample derives a stable
//!   amount from the subscription, so tests can assert the answer, and issues a payable
//!   bill with valid check digits for the current period.

mod latest;

use panjereh_plugin_sdk::formats::bill::{self, BillError};
use panjereh_plugin_sdk::formats::group_thousands;
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct UtilityBills;

fn category() -> Category {
    Category::new("utilities", Text::new("آب، برق، گاز و تلفن", "Water, electricity, gas and phone"))
}

impl Adapter for UtilityBills {
    fn describe() -> Agency {
        Agency {
            id: "utility-bills".into(),
            name: Text::new("قبوض خدمات شهری", "Utility bills"),
            services: vec![
                Service::inquiry(
                    "bill-details",
                    Text::new("استعلام قبض", "Bill inquiry"),
                    Text::new(
                        "مبلغ، نوع خدمت و دوره قبض آب، برق، گاز و تلفن را از روی شناسه قبض و شناسه پرداخت ببینید.",
                        "See the amount, service and period of a water, electricity, gas or phone bill from its bill ID and payment ID.",
                    ),
                    category(),
                )
                .field(
                    Field::new("bill-id", Text::new("شناسه قبض", "Bill ID"), FieldType::BillId)
                        .help(Text::new("عدد ۶ تا ۱۳ رقمی روی قبض", "The 6 to 13 digit number on the bill")),
                )
                .field(Field::new("payment-id", Text::new("شناسه پرداخت", "Payment ID"), FieldType::PaymentId))
                // Anyone may look a bill up and pay it, a company too.
                .for_everyone(),
            ]
            .into_iter()
            .chain(latest::services(category()))
            .collect(),
        }
    }

    fn inquire(ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        if ctx.service != "bill-details" {
            return latest::inquire(&ctx, &input);
        }
        let bill_id = input.get_value("bill-id").unwrap_or_default();
        let payment_id = input.get_value("payment-id").unwrap_or_default();
        let decoded = bill::decode(&bill_id, &payment_id).map_err(|e| match e {
            BillError::BillId(m) => AdapterError::field("bill-id", Text::new(m.fa, m.en)),
            BillError::PaymentId(m) | BillError::Mismatch(m) => {
                AdapterError::field("payment-id", Text::new(m.fa, m.en))
            }
        })?;
        let service = decoded.service_type;
        Ok(Document::new(Text::new(format!("قبض {}", service.fa()), format!("{} bill", capitalize(service.en()))))
            .item(Text::new("نوع خدمت", "Service"), localized(&ctx, service.fa(), service.en()))
            .item(Text::new("مبلغ (ریال)", "Amount (rials)"), group_thousands(decoded.amount_rial))
            .item(Text::new("دوره", "Period"), format!("{:02}", decoded.period))
            .item(Text::new("سال (رقم آخر)", "Year (last digit)"), format!("{}", decoded.year_digit))
            .item(Text::new("کد شرکت", "Company code"), decoded.company_code.clone())
            .item(Text::new("وضعیت شناسه‌ها", "IDs"), localized(&ctx, "معتبر", "valid"))
            .bill(Bill {
                bill_id: decoded.bill_id,
                payment_id: decoded.payment_id,
                amount_rial: decoded.amount_rial,
                title: Text::new(format!("قبض {}", service.fa()), format!("{} bill", service.en())),
            }))
    }
}

fn localized(ctx: &CallContext, fa: &str, en: &str) -> String {
    if ctx.locale == "en" { en.to_owned() } else { fa.to_owned() }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

export!(UtilityBills);
