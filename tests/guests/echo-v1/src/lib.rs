//! Version 1 of the echo adapter: answers every inquiry with its own version, so tests
//! can tell which version served a request.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Echo;

impl Adapter for Echo {
    fn describe() -> Agency {
        Agency {
            id: "echo".into(),
            name: Text::new("پژواک", "Echo"),
            services: vec![Service::inquiry(
                "version",
                Text::new("نسخه", "Version"),
                Text::new("نسخه افزونه را برمی‌گرداند", "Returns the adapter's version"),
                Category::new("tests", Text::new("آزمون", "Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        Ok(Document::new(Text::new("نسخه", "Version")).item(Text::new("نسخه", "Version"), "1"))
    }
}

export!(Echo);
