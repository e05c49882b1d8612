//! Loops forever when asked anything.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "spinner".into(),
            name: Text::new("spinner", "spinner"),
            services: vec![Service::inquiry(
                "run",
                Text::new("اجرا", "Run"),
                Text::new("Loops forever when asked anything.", "Loops forever when asked anything."),
                Category::new("tests", Text::new("آزمون", "Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

export!(Guest);
