//! Describes 500 services, five times what an agency may offer; must be refused at load.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        let text = |s: &str| Text::new(s, s);
        Agency {
            id: "sprawl".into(),
            name: text("sprawl"),
            services: (0..500)
                .map(|i| {
                    Service::inquiry(
                        &format!("s{i}"),
                        text("Service"),
                        text("One of many."),
                        Category::new("tests", text("Tests")),
                    )
                })
                .collect(),
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        Ok(Document::new(Text::new("sprawl", "sprawl")))
    }
}

export!(Guest);
