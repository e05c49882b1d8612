//! Answers past the host's caps, one cap per service: `items` (5000 items), `huge` (one
//! value of 20 MB, more than the host lifts in one transfer), `errors` (1000 field
//! errors), the applications `receipt` (a 10 kB agency reference) and `bills` (a receipt
//! with 21 bills); every callback it reads carries a 10 kB status message.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

fn text(s: &str) -> Text {
    Text::new(s, s)
}

impl Adapter for Guest {
    fn describe() -> Agency {
        let tests = || Category::new("tests", text("Tests"));
        Agency {
            id: "flood".into(),
            name: text("flood"),
            services: vec![
                Service::inquiry("items", text("Items"), text("Answers with 5000 items."), tests()),
                Service::inquiry("huge", text("Huge"), text("Answers with a 20 MB value."), tests()),
                Service::inquiry("errors", text("Errors"), text("Refuses with 1000 field errors."), tests()),
                Service::application("receipt", text("Receipt"), text("Files with a 10 kB reference."), tests()),
                Service::application("bills", text("Bills"), text("Files with 21 bills to pay."), tests()),
            ],
        }
    }

    fn inquire(ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let doc = Document::new(text("Flood"));
        match ctx.service.as_str() {
            "items" => Ok((0..5000).fold(doc, |doc, i| doc.item(text("item"), i.to_string()))),
            "huge" => Ok(doc.item(text("value"), "x".repeat(20_000_000))),
            _ => Err(AdapterError::InvalidInput(
                (0..1000).map(|i| FieldError { field: format!("f{i}"), message: text("wrong") }).collect(),
            )),
        }
    }

    fn submit(ctx: CallContext, _input: Vec<Value>) -> Result<Receipt, AdapterError> {
        if ctx.service == "bills" {
            let bill = Bill::make("1234567", 6, 10_000, 4, 1, text("fee"));
            return Ok(
                (0..21).fold(Receipt::new("A-1", Status::Submitted, text("received")), |r, _| r.bill(bill.clone()))
            );
        }
        Ok(Receipt::new("R".repeat(10_000), Status::Submitted, text("received")))
    }

    fn on_callback(_body: Vec<u8>) -> Result<StatusUpdate, AdapterError> {
        Ok(StatusUpdate::new("A-1", Status::Approved, text(&"m".repeat(10_000))))
    }
}

export!(Guest);
