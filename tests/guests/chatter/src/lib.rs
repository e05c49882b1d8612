//! Writes as many log lines as one call may (100), on every call.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export, log};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        let text = |s: &str| Text::new(s, s);
        Agency {
            id: "chatter".into(),
            name: text("chatter"),
            services: vec![Service::inquiry(
                "run",
                text("Run"),
                text("Writes 100 log lines."),
                Category::new("tests", text("Tests")),
            )],
        }
    }

    fn inquire(ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        for i in 0..100 {
            log::info(&format!("chatter {} line {i}", ctx.request_id));
        }
        Ok(Document::new(Text::new("chatter", "chatter")))
    }
}

export!(Guest);
