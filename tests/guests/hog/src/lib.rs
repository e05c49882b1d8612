//! Allocates memory without end when asked anything.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "hog".into(),
            name: Text::new("hog", "hog"),
            services: vec![Service::inquiry(
                "run",
                Text::new("اجرا", "Run"),
                Text::new(
                    "Allocates memory without end when asked anything.",
                    "Allocates memory without end when asked anything.",
                ),
                Category::new("tests", Text::new("آزمون", "Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export!(Guest);
