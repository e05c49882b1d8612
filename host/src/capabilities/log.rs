//! `log`: adapter log lines into the host's tracing output, rate-limited per call.
//!
//! Each line is tagged with the adapter, its version and the request id, cut at
//! [`MAX_LINE_BYTES`], and has any secret configuration value the adapter was given
//! replaced by `[redacted]`.

use crate::runtime::CallState;
use crate::runtime::bindings::log::{Host, Level};

/// Lines an adapter may write per call; the rest are dropped (and the drop is logged once).
pub const MAX_LINES_PER_CALL: u32 = 100;
/// Longest line kept, in bytes.
pub const MAX_LINE_BYTES: usize = 2048;

impl Host for CallState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        let adapter = self.caps.adapter.as_str();
        let version = self.caps.version.as_str();
        let request_id = self.request_id.as_str();
        if self.log_lines > MAX_LINES_PER_CALL {
            if self.log_lines == MAX_LINES_PER_CALL + 1 {
                tracing::warn!(target: "adapter", adapter, version, request_id, "adapter log rate limit reached; dropping further lines");
            }
            return Ok(());
        }
        let message = self.caps.redact(truncate(&message, MAX_LINE_BYTES));
        match level {
            Level::Debug => tracing::debug!(target: "adapter", adapter, version, request_id, "{message}"),
            Level::Info => tracing::info!(target: "adapter", adapter, version, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "adapter", adapter, version, request_id, "{message}"),
            Level::Error => tracing::error!(target: "adapter", adapter, version, request_id, "{message}"),
        }
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
