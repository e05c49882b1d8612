//! Delivery of one-time codes. Production plugs an SMS gateway in behind [`Notifier`];
//! development writes the code to the log; tests read it from a [`MemoryNotifier`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// Why a code could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("failed to deliver the one-time code: {0}")]
pub struct NotifyError(pub String);

/// A boxed future, so notifiers can be trait objects.
pub type NotifyFuture<'a> = Pin<Box<dyn Future<Output = Result<(), NotifyError>> + Send + 'a>>;

/// Sends a one-time code to a mobile number.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Delivers `code` to `mobile` (canonical `09XXXXXXXXX`).
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a>;
}

/// The development notifier: writes the code to the log instead of sending an SMS.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a> {
        tracing::info!(mobile, code, "one-time code (development notifier: no SMS is sent)");
        Box::pin(async { Ok(()) })
    }
}

/// Keeps the last code sent to each mobile, for tests.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    codes: Mutex<HashMap<String, String>>,
}

impl MemoryNotifier {
    /// The last code sent to `mobile` (canonical form).
    pub fn last_code(&self, mobile: &str) -> Option<String> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).get(mobile).cloned()
    }
}

impl Notifier for MemoryNotifier {
    fn send_code<'a>(&'a self, mobile: &'a str, code: &'a str) -> NotifyFuture<'a> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).insert(mobile.to_owned(), code.to_owned());
        Box::pin(async { Ok(()) })
    }
}
