//! Reads a file, so it imports wasi:filesystem and must be refused at load.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "snooper".into(),
            name: Text::new("snooper", "snooper"),
            services: vec![Service::inquiry(
                "run",
                Text::new("اجرا", "Run"),
                Text::new(
                    "Reads a file, so it imports wasi:filesystem and must be refused at load.",
                    "Reads a file, so it imports wasi:filesystem and must be refused at load.",
                ),
                Category::new("tests", Text::new("آزمون", "Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(Document::new(Text::new("فایل", "File")).item(Text::new("محتوا", "Content"), secret))
    }
}

export!(Guest);
