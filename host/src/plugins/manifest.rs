//! The adapter manifest (`<name>.toml` next to `<name>.wasm`): identity, the WIT version
//! it was built for, the capabilities it requests and the limits it asks for.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use crate::capabilities::Grant;

/// A parsed, validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Package id (kebab-case), unique among installed adapters.
    pub id: String,
    /// The adapter's own version.
    pub version: semver::Version,
    /// The agency id the adapter serves; must match what `describe` returns.
    pub agency: String,
    /// The WIT version the adapter was built against.
    pub wit: semver::Version,
    /// What the adapter asks for.
    pub requested: Grant,
    /// Limits the adapter asks for (each may only lower the host's default).
    pub limits: RequestedLimits,
    /// How often the host should ask the adapter's `status` about an open application
    /// (`[status] poll-every-mins`); the host keeps it within its floor.
    pub poll_every: Option<Duration>,
}

/// `[status]`: how the host follows the adapter's applications.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStatus {
    /// Minutes between two polls of one open application.
    poll_every_mins: Option<u64>,
}

/// Limits a manifest may set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestedLimits {
    pub cpu: Option<Duration>,
    pub memory_bytes: Option<usize>,
    pub concurrency: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    version: String,
    agency: String,
    wit: String,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    status: RawStatus,
}

/// Capabilities as written in manifests and in the operator's grants.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCapabilities {
    /// Configuration keys.
    #[serde(default)]
    pub config: Vec<String>,
    /// Key-value storage quota in KiB.
    #[serde(default)]
    pub kv_quota_kib: Option<u64>,
    /// Outbound destinations, `host:port`.
    #[serde(default)]
    pub http: Vec<String>,
    /// Citizen attributes: `national-id`, `mobile`.
    #[serde(default)]
    pub identity: Vec<String>,
    /// Messages to the citizens of the agency's applications (`notify`).
    #[serde(default)]
    pub notify: bool,
}

/// Limits as written in manifests and in the operator's configuration.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawLimits {
    pub cpu_ms: Option<u64>,
    pub memory_mib: Option<u64>,
    pub concurrency: Option<u32>,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("manifest is not valid TOML: {0}")]
    Syntax(String),
    /// A key the manifest format does not have (a typo, or a key of another section).
    #[error("manifest has an unknown key: {0}")]
    UnknownKey(String),
    #[error("manifest field `{field}` is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}

impl RawCapabilities {
    /// Checks the entries and turns them into a [`Grant`].
    pub fn into_grant(self) -> Result<Grant, ManifestError> {
        for host in &self.http {
            check_destination(host)?;
        }
        for attribute in &self.identity {
            if !matches!(attribute.as_str(), "national-id" | "mobile") {
                return Err(ManifestError::Field {
                    field: "capabilities.identity",
                    reason: format!("unknown attribute `{attribute}` (expected national-id or mobile)"),
                });
            }
        }
        Ok(Grant {
            config_keys: self.config.into_iter().collect(),
            kv_quota: self.kv_quota_kib.map(|kib| kib * 1024),
            http_hosts: self.http.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            identity: self.identity.into_iter().collect::<BTreeSet<_>>(),
            notify: self.notify,
        })
    }
}

impl RawLimits {
    /// Converts to typed limits.
    pub fn typed(self) -> RequestedLimits {
        RequestedLimits {
            cpu: self.cpu_ms.map(Duration::from_millis),
            memory_bytes: self.memory_mib.map(|m| (m as usize) << 20),
            concurrency: self.concurrency,
        }
    }
}

fn check_destination(dest: &str) -> Result<(), ManifestError> {
    let bad = |reason: &str| ManifestError::Field { field: "capabilities.http", reason: format!("`{dest}`: {reason}") };
    let (host, port) = dest.rsplit_once(':').ok_or_else(|| bad("expected host:port"))?;
    port.parse::<u16>().map_err(|_| bad("port must be a number from 1 to 65535"))?;
    if host.is_empty() || host.contains('/') || host.contains('*') {
        return Err(bad("host must be a plain name or address"));
    }
    Ok(())
}

fn is_kebab_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A TOML error as the manifest's author reads it: an unknown key is named as one (serde
/// calls it a field), and the line is given.
fn syntax_error(text: &str, error: &toml::de::Error) -> ManifestError {
    let line = error.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    let at = |message: String| match line {
        Some(line) => format!("line {line}: {message}"),
        None => message,
    };
    match error.message().strip_prefix("unknown field ") {
        Some(rest) => ManifestError::UnknownKey(at(match rest.split_once(", expected ") {
            Some((key, expected)) => format!("{key} (expected {expected})"),
            None => rest.to_owned(),
        })),
        None => ManifestError::Syntax(at(error.message().to_owned())),
    }
}

impl Manifest {
    /// Parses and validates a manifest's TOML text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
        let version = |field: &'static str, value: &str| {
            semver::Version::parse(value)
                .map_err(|e| ManifestError::Field { field, reason: format!("`{value}` is not a semver version ({e})") })
        };
        for (field, value) in [("id", &raw.id), ("agency", &raw.agency)] {
            if !is_kebab_id(value) {
                return Err(ManifestError::Field {
                    field,
                    reason: format!("`{value}` must be lowercase letters, digits and dashes"),
                });
            }
        }
        Ok(Manifest {
            version: version("version", &raw.version)?,
            wit: version("wit", &raw.wit)?,
            id: raw.id,
            agency: raw.agency,
            requested: raw.capabilities.into_grant()?,
            limits: raw.limits.typed(),
            poll_every: match raw.status.poll_every_mins {
                Some(0) => {
                    return Err(ManifestError::Field {
                        field: "status.poll-every-mins",
                        reason: "must be at least 1".into(),
                    });
                }
                minutes => minutes.map(|m| Duration::from_secs(m.saturating_mul(60))),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_may_set_the_pace_of_status_polls() {
        let base = "id = \"a\"\nversion = \"1.0.0\"\nagency = \"a\"\nwit = \"0.2.0\"\n";
        let m = Manifest::parse(&format!("{base}[status]\npoll-every-mins = 30\n")).unwrap();
        assert_eq!(m.poll_every, Some(Duration::from_secs(1800)));
        assert_eq!(Manifest::parse(base).unwrap().poll_every, None);
        let zero = Manifest::parse(&format!("{base}[status]\npoll-every-mins = 0\n")).unwrap_err();
        assert!(zero.to_string().contains("status.poll-every-mins"), "{zero}");
    }

    #[test]
    fn parses_a_complete_manifest() {
        let m = Manifest::parse(
            r#"
            id = "traffic-police"
            version = "1.2.0"
            agency = "traffic-police"
            wit = "0.1.0"
            [capabilities]
            config = ["base-url", "api-key"]
            kv-quota-kib = 64
            http = ["127.0.0.1:9000"]
            identity = ["national-id"]
            [limits]
            cpu-ms = 20
            "#,
        )
        .unwrap();
        assert_eq!(m.requested.kv_quota, Some(64 * 1024));
        assert!(m.requested.http_hosts.contains("127.0.0.1:9000"));
        assert_eq!(m.limits.cpu, Some(Duration::from_millis(20)));
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let base = "id = \"a\"\nversion = \"1.0.0\"\nagency = \"a\"\nwit = \"0.1.0\"\n";
        let unknown = Manifest::parse(&format!("{base}color = 1")).unwrap_err();
        assert!(matches!(unknown, ManifestError::UnknownKey(_)), "{unknown}");
        assert!(unknown.to_string().starts_with("manifest has an unknown key: line 5: `color` (expected"), "{unknown}");
        assert!(matches!(Manifest::parse("id = "), Err(ManifestError::Syntax(_))));
        assert!(matches!(
            Manifest::parse(&base.replace("1.0.0", "one")),
            Err(ManifestError::Field { field: "version", .. })
        ));
        assert!(matches!(
            Manifest::parse(&format!("{base}[capabilities]\nhttp = [\"example.org\"]")),
            Err(ManifestError::Field { field: "capabilities.http", .. })
        ));
        assert!(matches!(
            Manifest::parse(&base.replace("agency = \"a\"", "agency = \"A B\"")),
            Err(ManifestError::Field { field: "agency", .. })
        ));
    }
}
