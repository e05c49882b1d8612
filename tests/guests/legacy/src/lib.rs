//! An adapter built for `panjereh:adapter@0.1.0` from the frozen snapshot
//! (`wit/snapshots/0.1.0`), as an agency's adapter from before 0.2.0 would be: one inquiry
//! (`lookup`, answers with the value it was sent and the host's clock, and logs it, so its
//! 0.1.0 imports are used) and one application (`request`, files
//! under the reference `OLD-<request id>`). It has no `on-payment` and no bills on its
//! receipts; the host serves it next to 0.2.0 adapters.

wit_bindgen::generate!({ world: "agency-adapter", path: "../../../wit/snapshots/0.1.0" });

use exports::panjereh::adapter::adapter::Guest;
use panjereh::adapter::types::*;

struct Legacy;

fn text(fa: &str, en: &str) -> Text {
    Text { fa: fa.into(), en: en.into() }
}

fn service(id: &str, kind: ServiceKind, title: Text, min_assurance: Assurance) -> Service {
    Service {
        id: id.into(),
        title,
        description: text("خدمت نسخه ۰٫۱", "A service of contract 0.1"),
        category: Category { id: "tests".into(), label: text("آزمون", "Tests") },
        kind,
        scope: Scope::National,
        fields: vec![Field {
            name: "word".into(),
            label: text("واژه", "Word"),
            help: None,
            kind: FieldType::Text,
            required: false,
        }],
        min_assurance,
        identity: Vec::new(),
        fee_rial: None,
        expected_days: None,
    }
}

impl Guest for Legacy {
    fn describe() -> Agency {
        Agency {
            id: "legacy".into(),
            name: text("دفتر قدیمی", "Legacy office"),
            services: vec![
                service("lookup", ServiceKind::Inquiry, text("جست‌وجو", "Lookup"), Assurance::None),
                service("request", ServiceKind::Application, text("درخواست", "Request"), Assurance::Substantial),
            ],
        }
    }

    fn inquire(_ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        let word = input.into_iter().find(|v| v.name == "word").map(|v| v.value).unwrap_or_default();
        panjereh::adapter::log::write(panjereh::adapter::log::Level::Info, &format!("lookup of {word}"));
        let now = panjereh::adapter::clock::now_ms();
        Ok(Document {
            title: text("پاسخ نسخه ۰٫۱", "Answer of contract 0.1"),
            items: vec![
                Item { label: text("واژه", "Word"), value: word },
                Item { label: text("ساعت", "Clock"), value: now.to_string() },
            ],
            tables: Vec::new(),
            bills: Vec::new(),
        })
    }

    fn submit(ctx: CallContext, _input: Vec<Value>) -> Result<Receipt, AdapterError> {
        Ok(Receipt {
            agency_reference: format!("OLD-{}", ctx.request_id),
            status: Status::Submitted,
            message: text("دریافت شد", "Received"),
        })
    }

    fn status(_ctx: CallContext, agency_reference: String) -> Result<StatusUpdate, AdapterError> {
        Ok(StatusUpdate {
            agency_reference, status: Status::InReview, message: text("در حال بررسی", "In review")
        })
    }

    fn on_callback(_body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        Err(AdapterError::Other("no callbacks".into()))
    }
}

export!(Legacy);
