//! Fetches a URL through the http capability and reports what happened, as a document:
//! `outcome` (`ok` or the http-error's case), `detail`, `status`, `bytes`, `body`.
//!
//! When the operator granted `api-key`, it is sent as `x-api-key`; with `log-key = yes`
//! the adapter also (wrongly) logs it, to show that the host redacts it.
//!
//! With `remember`, it stores that value under `remembered` in its kv before the request;
//! with `then-fail = yes`, it stores `after` once the answer is in, then panics.

use panjereh_plugin_sdk::http::{HttpError, Request};
use panjereh_plugin_sdk::types::*;
use panjereh_plugin_sdk::{Adapter, config, export, http, kv, log};

struct Guest;

fn text(s: &str) -> Text {
    Text::new(s, s)
}

impl Adapter for Guest {
    fn describe() -> Agency {
        Agency {
            id: "fetcher".into(),
            name: text("fetcher"),
            services: vec![
                Service::inquiry("fetch", text("Fetch"), text("Fetches a URL."), Category::new("tests", text("Tests")))
                    .field(Field::new("url", text("URL"), FieldType::Text))
                    .field(Field::new("timeout-ms", text("Timeout"), FieldType::Number).optional())
                    .field(Field::new("log-key", text("Log the key"), FieldType::Text).optional())
                    .field(Field::new("remember", text("Store before the request"), FieldType::Text).optional())
                    .field(Field::new("then-fail", text("Fail after the answer"), FieldType::Text).optional()),
            ],
        }
    }

    fn inquire(_ctx: CallContext, input: Vec<Value>) -> Result<Document, AdapterError> {
        let url = input.get_value("url").unwrap_or_default();
        let mut request = Request::get(url.as_str());
        request.timeout_ms = input.get_value("timeout-ms").and_then(|v| v.parse().ok());
        if let Ok(Some(key)) = config::get("api-key") {
            if input.get_value("log-key").as_deref() == Some("yes") {
                log::warn(&format!("calling the back-end with key {key}"));
            }
            request = request.header("x-api-key", key);
        }
        if let Some(note) = input.get_value("remember") {
            kv::set("remembered", note.as_bytes()).map_err(|e| AdapterError::Other(format!("{e:?}")))?;
        }
        let sent = http::send(&request);
        if input.get_value("then-fail").as_deref() == Some("yes") {
            let _ = kv::set("after", b"the answer came");
            panic!("failing after the request, as asked");
        }
        let (outcome, detail, status, bytes, body) = match sent {
            Ok(response) => {
                let body: String = response.text().chars().take(100).collect();
                ("ok", String::new(), response.status.to_string(), response.body.len().to_string(), body)
            }
            Err(error) => {
                let (kind, detail) = match error {
                    HttpError::NotGranted(m) => ("not-granted", m),
                    HttpError::InvalidRequest(m) => ("invalid-request", m),
                    HttpError::Timeout => ("timeout", String::new()),
                    HttpError::TooLarge(cap) => ("too-large", cap.to_string()),
                    HttpError::ConnectionFailed(m) => ("connection-failed", m),
                    HttpError::Other(m) => ("other", m),
                };
                (kind, detail, String::new(), String::new(), String::new())
            }
        };
        Ok(Document::new(text("Fetched"))
            .item(text("outcome"), outcome)
            .item(text("detail"), detail)
            .item(text("status"), status)
            .item(text("bytes"), bytes)
            .item(text("body"), body))
    }
}

export!(Guest);
