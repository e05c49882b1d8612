//! The one place where capability grants are checked.
//!
//! Every host function asks here before doing anything; a refusal is counted in
//! [`Denials`](super::Denials) and returned to the adapter as its interface's
//! `not-granted` error naming what was missing, never as a trap.

use std::net::SocketAddr;

use super::http::policy::{Destination, Refused};
use super::{Capabilities, Denials};

/// A refused use of a capability, with a message for the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    /// The capability refused: `config`, `kv`, `http` or `notify`.
    pub capability: &'static str,
    /// Names what was missing; never contains a configuration value.
    pub message: String,
}

impl Capabilities {
    /// `config`: the key must be requested and granted.
    pub(crate) fn check_config(&self, key: &str) -> Result<(), Denied> {
        if self.grant.config_keys.contains(key) {
            return Ok(());
        }
        Denials::count(&self.denials.config);
        Err(Denied {
            capability: "config",
            message: format!("config key `{}` is not granted to this adapter", key.escape_debug()),
        })
    }

    /// `kv`: storage must be requested and granted; returns the byte quota.
    pub(crate) fn check_kv(&self) -> Result<u64, Denied> {
        if let Some(quota) = self.grant.kv_quota {
            return Ok(quota);
        }
        Denials::count(&self.denials.kv);
        Err(Denied { capability: "kv", message: "key-value storage is not granted to this adapter".into() })
    }

    /// `notify`: messages must be requested and granted.
    pub(crate) fn check_notify(&self) -> Result<(), Denied> {
        if self.grant.notify {
            return Ok(());
        }
        Denials::count(&self.denials.notify);
        Err(Denied {
            capability: "notify",
            message: "messages to citizens (`notify`) are not granted to this adapter".into(),
        })
    }

    /// `http`, first layer: the URL's `host:port` must be granted.
    pub(crate) fn check_http_destination(&self, destination: &Destination) -> Result<(), Refused> {
        self.egress.policy.check_destination(destination).inspect_err(|_| Denials::count(&self.denials.http))
    }

    /// `http`, second layer: each resolved address must be public or granted by address.
    pub(crate) fn check_http_address(&self, destination: &Destination, addr: SocketAddr) -> Result<(), Refused> {
        self.egress.policy.check_address(destination, addr).inspect_err(|_| Denials::count(&self.denials.http))
    }
}
