//! The host's capabilities, with small helpers.
//!
//! Each function is a thin wrapper with one body per build: compiled for `wasm32` it calls
//! the host import generated from the WIT contract; compiled natively (`cargo test` on a
//! developer's machine) it calls the in-memory fakes of [`crate::testing`]. The types are the
//! generated ones in both builds, so an adapter's code is the same either way.

/// Where the capabilities come from in this build: the host's imports in a component,
/// the test fakes everywhere else.
#[cfg(target_arch = "wasm32")]
use crate::bindings::panjereh::adapter as imports;
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::fake as imports;

/// Log lines, tagged by the host with the adapter, version and request id.
pub mod log {
    use super::imports;
    pub use crate::bindings::panjereh::adapter::log::Level;

    /// Writes one line at `level`. The host rate-limits lines per call.
    pub fn write(level: Level, message: &str) {
        imports::log::write(level, message);
    }
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
    use super::imports;
    pub use crate::bindings::panjereh::adapter::config::ConfigError;

    /// Reads one setting: `Ok(None)` when granted but not set by the operator.
    pub fn get(key: &str) -> Result<Option<String>, ConfigError> {
        imports::config::get(key)
    }
}

/// Key-value storage private to this adapter (requested with `kv-quota-kib`).
pub mod kv {
    use super::imports;
    pub use crate::bindings::panjereh::adapter::kv::KvError;

    /// Reads a value.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        imports::kv::get(key)
    }
    /// Creates or replaces a value.
    pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
        imports::kv::set(key, value)
    }
    /// Removes a value; removing a missing key is not an error.
    pub fn delete(key: &str) -> Result<(), KvError> {
        imports::kv::delete(key)
    }
    /// Lists keys starting with `prefix`, in byte order, at most 1000.
    pub fn list_keys(prefix: &str) -> Result<Vec<String>, KvError> {
        imports::kv::list_keys(prefix)
    }
}

/// Outbound HTTP to granted hosts only.
pub mod http {
    use super::imports;
    pub use crate::bindings::panjereh::adapter::http::{Header, HttpError, Method, Request, Response};

    /// Sends a request and reads the whole response. Any status is a response; only
    /// failing to get one is an error.
    pub fn send(request: &Request) -> Result<Response, HttpError> {
        imports::http::send(request)
    }

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

        /// Lowers the host's timeout for this request.
        pub fn timeout_ms(mut self, ms: u32) -> Self {
            self.timeout_ms = Some(ms);
            self
        }
    }

    impl Response {
        /// A response with a status and a body and no headers (handy in tests).
        pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
            Response { status, headers: Vec::new(), body: body.into() }
        }

        /// The body as UTF-8 text (lossy).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }

        /// Whether the status is 2xx.
        pub fn is_success(&self) -> bool {
            (200..300).contains(&self.status)
        }

        /// The first header with this name (case-insensitive).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
        }
    }
}

/// Wall-clock time.
pub mod clock {
    use super::imports;

    /// Milliseconds since the Unix epoch, UTC.
    pub fn now_ms() -> u64 {
        imports::clock::now_ms()
    }
}
