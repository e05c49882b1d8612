//! `config`: operator-provided settings, only for keys both requested and granted.
//!
//! Values may be secrets: they are handed to the adapter but never logged, never put in an
//! error, and shown redacted by [`Capabilities::redacted_config`](super::Capabilities).

use crate::runtime::CallState;
use crate::runtime::bindings::config::{ConfigError, Host};

impl Host for CallState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, ConfigError>> {
        if let Err(denied) = self.caps.check_config(&key) {
            return Ok(Err(ConfigError::NotGranted(denied.message)));
        }
        Ok(Ok(self.caps.config.get(&key).map(|v| v.value.clone())))
    }
}
