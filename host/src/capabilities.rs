//! Host capabilities offered to adapters, deny-by-default.
//!
//! Each capability is one file implementing its generated `Host` trait for [`CallState`]
//! and checking the grant in one place. A denial is returned to the adapter as the
//! interface's `not-granted` error naming what was missing, never as a trap.
//!
//! [`CallState`]: crate::runtime::CallState

mod clock;
mod config;
mod http;
mod kv;
mod log;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::CallState;
use crate::runtime::bindings::panjereh::adapter::types;

/// What one adapter may use: the manifest's request intersected with the operator's grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Configuration keys the adapter may read.
    pub config_keys: BTreeSet<String>,
    /// Key-value storage quota in bytes; `None` when storage was not granted.
    pub kv_quota: Option<u64>,
    /// Outbound destinations (`host:port`).
    pub http_hosts: BTreeSet<String>,
    /// Citizen attributes the adapter may receive.
    pub identity: BTreeSet<String>,
}

impl Grant {
    /// The effective grant: what was requested and also approved.
    pub fn intersect(requested: &Grant, approved: &Grant) -> Grant {
        Grant {
            config_keys: requested.config_keys.intersection(&approved.config_keys).cloned().collect(),
            kv_quota: match (requested.kv_quota, approved.kv_quota) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
            http_hosts: requested.http_hosts.intersection(&approved.http_hosts).cloned().collect(),
            identity: requested.identity.intersection(&approved.identity).cloned().collect(),
        }
    }
}

/// One configuration value given by the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub value: String,
    /// Secrets are never logged and are redacted in the admin API.
    pub secret: bool,
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.secret { f.write_str("\"[redacted]\"") } else { self.value.fmt(f) }
    }
}

/// The capabilities of one loaded adapter version, shared by all its calls.
#[derive(Debug, Default)]
pub struct Capabilities {
    /// The adapter's id, for log lines.
    pub adapter: String,
    /// The adapter's version, for log lines.
    pub version: String,
    /// The effective grant.
    pub grant: Grant,
    /// Operator-provided configuration, already limited to granted keys.
    pub config: BTreeMap<String, ConfigValue>,
    /// Denials, by capability, for metrics.
    pub denials: Denials,
}

/// Counts of refused capability uses.
#[derive(Debug, Default)]
pub struct Denials {
    pub config: AtomicU64,
    pub kv: AtomicU64,
    pub http: AtomicU64,
}

impl Denials {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl types::Host for CallState {}
