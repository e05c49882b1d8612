//! The host's capabilities, re-exported from the generated bindings with small helpers.

/// Log lines, tagged by the host with the adapter, version and request id.
pub mod log {
    pub use crate::bindings::panjereh::adapter::log::{Level, write};

    /// Logs at debug level.
    pub fn debug(message: &str) {
        write(Level::Debug, message);
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        write(Level::Info, message);
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        write(Level::Warn, message);
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        write(Level::Error, message);
    }
}

/// Operator-provided settings; each key must be requested in the manifest and granted.
pub mod config {
    pub use crate::bindings::panjereh::adapter::config::{ConfigError, get};
}

/// Key-value storage private to this adapter.
pub mod kv {
    pub use crate::bindings::panjereh::adapter::kv::{KvError, delete, get, list_keys, set};
}

/// Outbound HTTP to granted hosts only.
pub mod http {
    pub use crate::bindings::panjereh::adapter::http::{Header, HttpError, Method, Request, Response, send};

    impl Request {
        /// A `GET` request with no headers.
        pub fn get(url: impl Into<String>) -> Self {
            Request { method: Method::Get, url: url.into(), headers: Vec::new(), body: None, timeout_ms: None }
        }

        /// A `POST` request with a JSON body.
        pub fn post_json(url: impl Into<String>, json: impl Into<Vec<u8>>) -> Self {
            Request {
                method: Method::Post,
                url: url.into(),
                headers: vec![Header { name: "content-type".into(), value: "application/json".into() }],
                body: Some(json.into()),
                timeout_ms: None,
            }
        }

        /// Adds a header.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.headers.push(Header { name: name.into(), value: value.into() });
            self
        }
    }

    impl Response {
        /// The body as UTF-8 text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }
}

/// Wall-clock time.
pub mod clock {
    pub use crate::bindings::panjereh::adapter::clock::now_ms;
}
