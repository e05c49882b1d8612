//! Host capabilities offered to adapters, deny-by-default.
//!
//! Each capability is one file implementing its generated `Host` trait for [`CallState`]
//! and checking the grant in one place. A denial is returned to the adapter as the
//! interface's `not-granted` error naming what was missing, never as a trap.
//!
//! # Layout
//!
//! - `grant.rs`: the one place where every grant is checked and every denial counted.
//! - `config.rs`, `kv.rs`, `http.rs` (with `http/`), `log.rs`, `clock.rs`, `notify.rs`: one
//!   file per host import.
//!
//! [`CallState`]: crate::runtime::CallState

mod clock;
mod config;
pub mod grant;
pub mod http;
pub mod kv;
pub mod log;
pub mod notify;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

pub use grant::Denied;
pub use http::client::{Egress, EgressOptions};
pub use http::policy::EgressPolicy;
pub use http::resolve::{Resolve, StaticResolver, SystemResolver, TestResolver};

use crate::runtime::CallState;
use crate::runtime::bindings::panjereh::adapter::types;
use crate::store::Db;

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
    /// Whether the adapter may message the citizens of its agency's applications.
    pub notify: bool,
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
            notify: requested.notify && approved.notify,
        }
    }
}

impl Grant {
    /// What `requested` asks for beyond this grant, one line each (`config key `api-key``,
    /// `kv storage`, `http to api.agency.ir:443`, `identity attribute `mobile``, `notify`).
    pub fn missing(&self, requested: &Grant) -> Vec<String> {
        let mut missing: Vec<String> = requested
            .config_keys
            .difference(&self.config_keys)
            .map(|k| format!("config key `{k}`"))
            .chain(requested.http_hosts.difference(&self.http_hosts).map(|h| format!("http to {h}")))
            .chain(requested.identity.difference(&self.identity).map(|a| format!("identity attribute `{a}`")))
            .collect();
        if requested.kv_quota.is_some() && self.kv_quota.is_none() {
            missing.push("kv storage".to_owned());
        }
        if requested.notify && !self.notify {
            missing.push("notify".to_owned());
        }
        missing
    }
}

/// One configuration value given by the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigValue {
    pub value: String,
    /// Secrets are never logged and are redacted in the admin API.
    pub secret: bool,
}

/// What the admin API shows in place of a secret.
pub const REDACTED: &str = "[redacted]";

impl ConfigValue {
    /// The value as the admin API may show it: secrets are replaced by `[redacted]`.
    pub fn redacted(&self) -> &str {
        if self.secret { REDACTED } else { &self.value }
    }
}

impl std::fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.secret { f.write_str("\"[redacted]\"") } else { self.value.fmt(f) }
    }
}

/// What the host lends to the capabilities of every adapter: built once at start.
#[derive(Debug, Clone, Default)]
pub struct HostServices {
    /// The database behind `kv`; without one, storage fails with `other`.
    pub db: Option<Db>,
    /// Settings of outbound HTTP.
    pub egress: EgressOptions,
}

/// The capabilities of one loaded adapter version, shared by all its calls.
#[derive(Debug, Default)]
pub struct Capabilities {
    /// The adapter's id, for log lines.
    pub adapter: String,
    /// The agency the adapter serves (its manifest's), the only one whose citizens `notify`
    /// reaches.
    pub agency: String,
    /// The adapter's version, for log lines.
    pub version: String,
    /// The effective grant.
    pub grant: Grant,
    /// Operator-provided configuration, already limited to granted keys.
    pub config: BTreeMap<String, ConfigValue>,
    /// Denials, by capability, for metrics.
    pub denials: Denials,
    /// Outbound HTTP limited to the grant (with its counters, for metrics).
    pub egress: Egress,
    /// Log lines of the current minute, and lines written and dropped (for metrics).
    pub log: log::LogBudget,
    /// The host's database, behind `kv`.
    pub(crate) db: Option<Db>,
}

impl Capabilities {
    /// The capabilities of adapter `adapter` at `version` under the effective `grant`:
    /// configuration limited to granted keys, outbound HTTP limited to granted destinations.
    pub fn new(
        adapter: &str,
        agency: &str,
        version: &str,
        grant: Grant,
        config: &BTreeMap<String, ConfigValue>,
        services: &HostServices,
    ) -> Capabilities {
        let config = config
            .iter()
            .filter(|(key, _)| grant.config_keys.contains(*key))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let egress = Egress::new(EgressPolicy::new(&grant.http_hosts), services.egress.clone());
        Capabilities {
            adapter: adapter.to_owned(),
            agency: agency.to_owned(),
            version: version.to_owned(),
            grant,
            config,
            denials: Denials::default(),
            egress,
            log: log::LogBudget::default(),
            db: services.db.clone(),
        }
    }

    /// The configuration as the admin API may show it, secrets redacted.
    pub fn redacted_config(&self) -> BTreeMap<String, String> {
        self.config.iter().map(|(k, v)| (k.clone(), v.redacted().to_owned())).collect()
    }

    /// `text` with every secret configuration value replaced by `[redacted]`: applied to
    /// what adapters write to the log, in case one logs a secret it was given.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for value in self.config.values().filter(|v| v.secret && !v.value.is_empty()) {
            if text.contains(value.value.as_str()) {
                text = Cow::Owned(text.replace(value.value.as_str(), REDACTED));
            }
        }
        text
    }
}

/// Counts of refused capability uses (read them with `load(Ordering::Relaxed)`).
#[derive(Debug, Default)]
pub struct Denials {
    pub config: AtomicU64,
    pub kv: AtomicU64,
    pub http: AtomicU64,
    pub notify: AtomicU64,
}

impl Denials {
    /// The counts as `(capability, denials)` pairs, for metrics.
    pub fn snapshot(&self) -> [(&'static str, u64); 4] {
        [
            ("config", self.config.load(Ordering::Relaxed)),
            ("kv", self.kv.load(Ordering::Relaxed)),
            ("http", self.http.load(Ordering::Relaxed)),
            ("notify", self.notify.load(Ordering::Relaxed)),
        ]
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl types::Host for CallState {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_manifest_asks_beyond_the_grant_is_named() {
        let requested = Grant {
            config_keys: ["base-url".to_owned(), "api-key".to_owned()].into(),
            kv_quota: Some(1024),
            http_hosts: ["api.agency.ir:443".to_owned()].into(),
            identity: ["national-id".to_owned()].into(),
            notify: true,
        };
        let approved = Grant { config_keys: ["base-url".to_owned()].into(), ..Grant::default() };
        let effective = Grant::intersect(&requested, &approved);
        assert_eq!(
            effective.missing(&requested),
            [
                "config key `api-key`",
                "http to api.agency.ir:443",
                "identity attribute `national-id`",
                "kv storage",
                "notify"
            ]
        );
        assert!(requested.missing(&requested).is_empty());
    }
}
