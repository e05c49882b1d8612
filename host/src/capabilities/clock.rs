//! `clock`: wall-clock time; always granted.

use crate::runtime::CallState;
use crate::runtime::bindings::clock::Host;

impl Host for CallState {
    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(now.as_millis() as u64)
    }
}
