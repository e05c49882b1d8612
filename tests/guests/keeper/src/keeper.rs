// Shared by `keeper` and `keeper-two`, which differ only in `AGENCY`.

use panjereh_plugin_sdk::kv::{self, KvError};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

struct Guest;

fn text(s: &str) -> Text {
    Text::new(s, s)
}

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: AGENCY.into(),
            name: text(AGENCY),
            services: vec![
                Service::inquiry("store", text("Store"), text("Runs one kv operation."), Category::new("tests", text("Tests")))
                    .field(Field::new("op", text("Operation: get, set, delete, list"), FieldType::Text))
                    .field(Field::new("key", text("Key or prefix"), FieldType::Text).optional())
                    .field(Field::new("value", text("Value"), FieldType::Text).optional())
                    .field(Field::new("size", text("Value of this many bytes"), FieldType::Number).optional()),
            ],
        }
    }

    fn inquire(_ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        let key = input.get_value("key").unwrap_or_default();
        let value = match input.get_value("size").and_then(|s| s.parse::<usize>().ok()) {
            Some(size) => "x".repeat(size),
            None => input.get_value("value").unwrap_or_default(),
        };
        let result = match input.get_value("op").as_deref() {
            Some("get") => kv::get(&key).map(|v| v.map_or_else(|| "<none>".into(), |b| String::from_utf8_lossy(&b).into())),
            Some("set") => kv::set(&key, value.as_bytes()).map(|()| String::new()),
            Some("delete") => kv::delete(&key).map(|()| String::new()),
            Some("list") => kv::list_keys(&key).map(|keys| keys.join(",")),
            _ => return Err(AdapterError::field("op", text("unknown operation"))),
        };
        let (outcome, detail) = match result {
            Ok(value) => ("ok", value),
            Err(KvError::NotGranted(m)) => ("not-granted", m),
            Err(KvError::QuotaExceeded(m)) => ("quota-exceeded", m),
            Err(KvError::InvalidKey(m)) => ("invalid-key", m),
            Err(KvError::Other(m)) => ("other", m),
        };
        Ok(Document::new(text("Stored")).item(text("outcome"), outcome).item(text("value"), detail))
    }
}

export!(Guest);
