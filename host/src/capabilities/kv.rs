//! `kv`: storage private to each adapter.

use super::Denials;
use crate::runtime::CallState;
use crate::runtime::bindings::kv::{Host, KvError};

impl CallState {
    fn kv_denied(&self) -> KvError {
        Denials::count(&self.caps.denials.kv);
        KvError::NotGranted("key-value storage is not granted to this adapter".into())
    }
}

impl Host for CallState {
    async fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, KvError> {
        Err(self.kv_denied())
    }

    async fn set(&mut self, _key: String, _value: Vec<u8>) -> Result<(), KvError> {
        Err(self.kv_denied())
    }

    async fn delete(&mut self, _key: String) -> Result<(), KvError> {
        Err(self.kv_denied())
    }

    async fn list_keys(&mut self, _prefix: String) -> Result<Vec<String>, KvError> {
        Err(self.kv_denied())
    }
}
