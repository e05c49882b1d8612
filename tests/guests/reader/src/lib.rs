//! Reads a config key and writes `lines` log lines, reporting `outcome` and `value`.

use panjereh_plugin_sdk::config::{self, ConfigError};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export, log};

struct Guest;

fn text(s: &str) -> Text {
    Text::new(s, s)
}

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "reader".into(),
            name: text("reader"),
            services: vec![
                Service::inquiry("read", text("Read"), text("Reads a config key."), Category::new("tests", text("Tests")))
                    .field(Field::new("key", text("Key"), FieldType::Text))
                    .field(Field::new("lines", text("Log lines to write"), FieldType::Number).optional()),
            ],
        }
    }

    fn inquire(_ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        let lines = input.get_value("lines").and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
        for i in 0..lines {
            log::info(&format!("reader line {i}"));
        }
        let key = input.get_value("key").unwrap_or_default();
        let (outcome, value) = match config::get(&key) {
            Ok(Some(value)) => ("ok", value),
            Ok(None) => ("unset", String::new()),
            Err(ConfigError::NotGranted(m)) => ("not-granted", m),
            Err(ConfigError::Other(m)) => ("other", m),
        };
        Ok(Document::new(text("Read")).item(text("outcome"), outcome).item(text("value"), value))
    }
}

export!(Guest);
