//! `config`: operator-provided settings, only for keys both requested and granted.

use super::Denials;
use crate::runtime::CallState;
use crate::runtime::bindings::config::{ConfigError, Host};

impl Host for CallState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, ConfigError>> {
        if !self.caps.grant.config_keys.contains(&key) {
            Denials::count(&self.caps.denials.config);
            return Ok(Err(ConfigError::NotGranted(format!("config key `{key}` is not granted to this adapter"))));
        }
        Ok(Ok(self.caps.config.get(&key).map(|v| v.value.clone())))
    }
}
