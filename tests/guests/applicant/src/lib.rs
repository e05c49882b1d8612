//! Files applications and reads signed agency callbacks, keeping no state: `submit`
//! returns the reference it is given (field `reference`) or one made from the request id;
//! `on-callback` parses `{"reference": "...", "status": "in-review"}`. With the reference
//! `with-fee` the receipt asks for a fee of 2,500,000 rials ([`fee`]), and `on-payment` of
//! a fee answers the application in review, naming the amount and RRN (a paid bill: nothing
//! to do). Its catalogue also
//! serves the search, province and assurance tests, and `echo` shows which identity
//! attributes the host handed over.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::kv::{self, KvError};
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

fn category() -> Category {
    Category::new("tests", Text::new("آزمون", "Tests"))
}

impl Adapter for Guest {
    fn describe() -> Agency {
        let who = [IdentityAttribute::NationalId, IdentityAttribute::Mobile];
        Agency {
            id: "test-office".into(),
            name: Text::new("دفتر آزمون", "Test office"),
            services: vec![
                Service::application(
                    "permit",
                    Text::new("پروانه آزمایشی", "Test permit"),
                    Text::new("درخواست پروانه برای آزمون", "A permit application for tests"),
                    category(),
                )
                .needs(&who)
                .field(Field::new("postal-code", Text::new("کد پستی", "Postal code"), FieldType::PostalCode))
                .field(Field::new("reference", Text::new("شماره پرونده", "Case number"), FieldType::Text).optional()),
                Service::application(
                    "strong-permit",
                    Text::new("پروانه با کارت هوشمند", "Smart-card permit"),
                    Text::new("فقط با کارت هوشمند ملی", "Only with the smart national card"),
                    category(),
                )
                .min_assurance(Assurance::High),
                Service::inquiry(
                    "echo",
                    Text::new("بازتاب هویت", "Identity echo"),
                    Text::new("نشان می‌دهد چه چیزی از شما دریافت شد", "Shows what the adapter received about you"),
                    category(),
                )
                .needs(&who),
                Service::inquiry(
                    "signed-echo",
                    Text::new("بازتاب هویت با ورود", "Signed-in identity echo"),
                    Text::new("مانند بازتاب هویت، فقط با ورود", "Like the echo, for signed-in citizens only"),
                    category(),
                )
                .needs(&who)
                .min_assurance(Assurance::Substantial),
                Service::inquiry(
                    "library-card",
                    Text::new("کارت کتابخانه ۱۴۰۴", "Library card 1404"),
                    Text::new("درخواست‌های عضویت کتابخانه‌های عمومی", "Public library membership requests"),
                    Category::new("culture", Text::new("فرهنگی", "Culture")),
                )
                .in_province("isfahan"),
                Service::inquiry(
                    "parking",
                    Text::new("پارک حاشیه‌ای", "Street parking"),
                    Text::new("استعلام پارک حاشیه‌ای تهران", "Tehran street parking inquiry"),
                    Category::new("transport", Text::new("حمل‌ونقل", "Transport")),
                )
                .in_province("tehran"),
            ],
        }
    }

    fn inquire(ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let citizen = ctx.citizen.as_ref();
        let or_dash = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".into());
        Ok(Document::new(Text::new("بازتاب", "Echo"))
            .item(Text::new("وارد شده", "signed-in"), if citizen.is_some() { "yes" } else { "no" })
            .item(Text::new("شناسه", "subject"), or_dash(citizen.map(|c| &c.subject)))
            .item(Text::new("کد ملی", "national-id"), or_dash(citizen.and_then(|c| c.national_id.as_ref())))
            .item(Text::new("موبایل", "mobile"), or_dash(citizen.and_then(|c| c.mobile.as_ref()))))
    }

    fn submit(ctx: CallContext, input: Vec<Value>) -> Result<Receipt, AdapterError> {
        let reference = input.get_value("reference").unwrap_or_else(|| format!("REF-{}", ctx.request_id));
        if reference == "refuse" {
            return Err(AdapterError::field("reference", Text::new("این پرونده پذیرفته نیست", "case refused")));
        }
        // The office keeps a note of each case, when it was granted storage.
        match kv::set(&format!("case/{reference}"), b"submitted") {
            Ok(()) | Err(KvError::NotGranted(_)) => {}
            Err(error) => return Err(AdapterError::Other(format!("the case was not stored: {error:?}"))),
        }
        let receipt = Receipt::new(
            &reference,
            Status::Submitted,
            Text::new("درخواست شما دریافت شد", "Your application was received"),
        );
        Ok(if reference == "with-fee" { receipt.bill(fee()) } else { receipt })
    }

    fn status(_ctx: CallContext, agency_reference: String) -> Result<StatusUpdate, AdapterError> {
        Ok(StatusUpdate::new(agency_reference, Status::InReview, Text::new("در حال بررسی", "In review")))
    }

    fn on_payment(_ctx: CallContext, payment: Payment) -> Result<Option<StatusUpdate>, AdapterError> {
        let PaidItem::Fee(fee) = payment.item else { return Ok(None) };
        let message = format!("fee of {} rials paid, RRN {}, at {}", payment.amount_rial, payment.rrn, payment.paid_at);
        Ok(Some(StatusUpdate::new(fee.agency_reference, Status::InReview, Text::new("هزینه پرداخت شد", message))))
    }

    fn on_callback(body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        let body = String::from_utf8(body).map_err(|_| AdapterError::Other("body is not UTF-8".into()))?;
        let bad = |what: &str| AdapterError::field(what, Text::new("مقدار نادرست", "missing or invalid"));
        let reference = string_field(&body, "reference").ok_or_else(|| bad("reference"))?;
        let status = match string_field(&body, "status").ok_or_else(|| bad("status"))?.as_str() {
            "submitted" => Status::Submitted,
            "in-review" => Status::InReview,
            "action-required" => Status::ActionRequired,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            _ => return Err(bad("status")),
        };
        Ok(StatusUpdate::new(
            reference,
            status,
            Text::new("وضعیت از سوی دستگاه به‌روز شد", "Status updated by the agency"),
        ))
    }
}

/// The filing fee of a `with-fee` application: 2,500,000 rials, municipal dues.
fn fee() -> Bill {
    Bill::make("1234567", 6, 2_500_000, 4, 1, Text::new("هزینه پرونده", "Filing fee"))
}

/// The string value of `"key": "value"` in a flat JSON object without escapes.
fn string_field(json: &str, key: &str) -> Option<String> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_owned())
}

export!(Guest);
