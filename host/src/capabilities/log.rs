//! `log`: adapter log lines into the host's tracing output, rate-limited per call and per
//! adapter and minute.
//!
//! Each line is tagged with the adapter, its version and the request id, cut at
//! [`MAX_LINE_BYTES`], and has any secret configuration value the adapter was given
//! replaced by `[redacted]`. The per-call limit alone would let an adapter with many calls
//! fill the host's log; the per-minute limit bounds it whatever the traffic.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::runtime::CallState;
use crate::runtime::bindings::log::{Host, Level};

/// Lines an adapter may write per call; the rest are dropped (and the drop is logged once).
pub const MAX_LINES_PER_CALL: u32 = 100;
/// Lines one adapter may write a minute, over all its calls; the rest are dropped (and
/// the drop is logged once a minute).
pub const MAX_LINES_PER_MINUTE: u32 = 1000;
/// Longest line kept, in bytes.
pub const MAX_LINE_BYTES: usize = 2048;

/// One adapter's lines in the current minute, and what was written and dropped in all.
#[derive(Debug, Default)]
pub struct LogBudget {
    /// When the current minute started, and the lines written in it.
    window: Mutex<Option<(Instant, u32)>>,
    pub written: AtomicU64,
    pub dropped: AtomicU64,
}

/// Whether a line may be written.
enum Verdict {
    Write,
    /// Dropped; `first` for the first line dropped in this minute.
    Drop {
        first: bool,
    },
}

impl LogBudget {
    fn take(&self) -> Verdict {
        let mut window = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (start, lines) = match *window {
            Some((start, lines)) if now.duration_since(start) < Duration::from_secs(60) => (start, lines),
            _ => (now, 0),
        };
        *window = Some((start, lines.saturating_add(1)));
        if lines < MAX_LINES_PER_MINUTE {
            Verdict::Write
        } else {
            Verdict::Drop { first: lines == MAX_LINES_PER_MINUTE }
        }
    }
}

impl Host for CallState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.log_lines += 1;
        let adapter = self.caps.adapter.as_str();
        let version = self.caps.version.as_str();
        let request_id = self.request_id.as_str();
        let budget = &self.caps.log;
        if self.log_lines > MAX_LINES_PER_CALL {
            if self.log_lines == MAX_LINES_PER_CALL + 1 {
                tracing::warn!(target: "adapter", adapter, version, request_id, "adapter log rate limit reached; dropping further lines");
            }
            budget.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if let Verdict::Drop { first } = budget.take() {
            if first {
                tracing::warn!(target: "adapter", adapter, version, request_id, "adapter wrote {MAX_LINES_PER_MINUTE} log lines this minute; dropping further lines until the next");
            }
            budget.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        budget.written.fetch_add(1, Ordering::Relaxed);
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
