//! Asks the host for 32 MiB of random bytes in one `wasi:random` call: host work that the
//! guest's CPU budget does not see, so the host must cap it.

use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, export};

mod random {
    wit_bindgen::generate!({
        inline: "package wasi:random@0.2.0;
                 interface random {
                     get-random-bytes: func(len: u64) -> list<u8>;
                     get-random-u64: func() -> u64;
                 }
                 world drain { import random; }",
    });
}

struct Guest;

impl Adapter for Guest {
    fn describe() -> Agency {
        let text = |s: &str| Text::new(s, s);
        Agency {
            id: "drain".into(),
            name: text("drain"),
            services: vec![Service::inquiry(
                "run",
                text("Run"),
                text("Asks for 32 MiB of random bytes."),
                Category::new("tests", text("Tests")),
            )],
        }
    }

    fn inquire(_ctx: CallContext, _input: Vec<Value>) -> Result<Document, AdapterError> {
        let bytes = random::wasi::random::random::get_random_bytes(32 << 20);
        Ok(Document::new(Text::new("drain", "drain")).item(Text::new("bytes", "bytes"), bytes.len().to_string()))
    }
}

export!(Guest);
