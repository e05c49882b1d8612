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

/// Key-value storage private to this adapter (requested with `kv-quota-kib`). A call's
/// writes commit together: before its next `http::send` or `notify::send`, and with its
/// answer (a submit's with the application filed); a call that traps loses those since.
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

/// Messages to the citizens of this agency's applications (requested with `notify = true`).
pub mod notify {
    use super::imports;
    pub use crate::bindings::panjereh::adapter::notify::NotifyError;
    use crate::types::Text;

    /// Tells the citizen who filed the application with `agency_reference` (from its
    /// receipt) something: in their inbox, and by SMS or e-mail as they chose. `Ok` means
    /// the host queued it durably. A title is one line of at most 120 characters in each
    /// language, a body at most 1000; at most 5 messages per call.
    pub fn send(agency_reference: &str, title: &Text, body: &Text) -> Result<(), NotifyError> {
        imports::notify::send(agency_reference, title, body)
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

/// Wall-clock time, and today's date in Iran.
pub mod clock {
    use super::imports;
    use crate::formats::jalali::JalaliDate;

    /// Iran's offset from UTC: +03:30 all year since 2023.
    pub const TEHRAN_OFFSET_MS: u64 = 3 * 3_600_000 + 30 * 60_000;

    /// Milliseconds since the Unix epoch, UTC.
    pub fn now_ms() -> u64 {
        imports::clock::now_ms()
    }

    /// Today's Solar Hijri date in Tehran.
    pub fn today() -> JalaliDate {
        jalali_date(now_ms())
    }

    /// The Solar Hijri date in Tehran at `ms` milliseconds since the Unix epoch.
    pub fn jalali_date(ms: u64) -> JalaliDate {
        let days = ((ms + TEHRAN_OFFSET_MS) / 86_400_000) as i64;
        let (y, m, d) = civil_from_days(days);
        // Every day from 1970 on exists in both calendars.
        JalaliDate::from_gregorian(y, m, d).unwrap_or(JalaliDate { year: 1348, month: 10, day: 11 })
    }

    /// Tehran's local time of day at `ms`, as `HH:MM`.
    pub fn tehran_time(ms: u64) -> String {
        let minutes = ((ms + TEHRAN_OFFSET_MS) / 60_000) % (24 * 60);
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }

    /// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
    fn civil_from_days(days: i64) -> (i32, u8, u8) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year as i32, month, day)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn dates_and_times_are_tehran_local() {
            assert_eq!(civil_from_days(0), (1970, 1, 1));
            assert_eq!(jalali_date(0).to_string(), "1348/10/11");
            // 2025-11-28 09:00 UTC is 12:30 on 1404/09/07 in Tehran.
            assert_eq!(jalali_date(crate::testing::DEFAULT_NOW_MS).to_string(), "1404/09/07");
            assert_eq!(tehran_time(crate::testing::DEFAULT_NOW_MS), "12:30");
            // 2025-03-20 21:00 UTC is already Nowruz 1404 in Tehran.
            assert_eq!(jalali_date(1_742_504_400_000).to_string(), "1404/01/01");
            assert_eq!(today(), jalali_date(crate::testing::DEFAULT_NOW_MS));
        }
    }
}
