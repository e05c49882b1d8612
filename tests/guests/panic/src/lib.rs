//! Panics when asked anything.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "panicker".into(),
            name: Text::new("panicker", "panicker"),
            services: vec![Service::inquiry(
                "run",
                Text::new("اجرا", "Run"),
                Text::new("Panics when asked anything.", "Panics when asked anything."),
                Category::new("tests", Text::new("آزمون", "Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        panic!("the agency adapter gave up")
    }
}

export!(Guest);
