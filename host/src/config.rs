//! Configuration in two stages: a raw serde structure from the TOML file (unknown keys
//! rejected) and command-line flags, resolved into a validated [`Config`] of ready-to-use
//! types. This is the only module that reads the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::audit::checkpoint::{Anchor, CheckpointKey, Keyring};
use crate::capabilities::{ConfigValue, EgressOptions, Grant, StaticResolver, SystemResolver};
use crate::plugins::manifest::{RawCapabilities, RawLimits, RequestedLimits};
use crate::plugins::signature::{Trust, parse_public_key};
use crate::runtime::{CallLimits, RuntimeOptions};

/// The validated configuration of a host process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Folder of adapter packages loaded at start.
    pub plugins_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// Default limits of adapter calls.
    pub limits: CallLimits,
    /// Engine-wide settings.
    pub runtime: RuntimeOptions,
    /// What the operator granted each adapter, by adapter id.
    pub adapters: BTreeMap<String, AdapterSettings>,
    /// Folder of compiled code, keyed by component digest and engine.
    pub cache_dir: Option<PathBuf>,
    /// Which agency keys are trusted and whether packages must be signed.
    pub trust: Trust,
    /// How often each replica re-reads the desired adapter state (safety net for NOTIFY).
    pub reconcile_every: Duration,
    /// Sign-in and sessions.
    pub auth: AuthSettings,
    /// Outbound HTTP of adapters: timeouts, size cap, concurrency, name resolution.
    /// Tests replace `egress.resolver` so that no name is looked up outside the test.
    pub egress: EgressOptions,
    /// The OpenID Connect provider citizens may sign in with (`[oidc]`), if any.
    pub oidc: Option<OidcSettings>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`trusted-proxies`, exact
    /// addresses); from anyone else the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The evidence log's checkpoint key and checkpoints (`[audit]`).
    pub audit: AuditSettings,
    /// What a client may hold of the HTTP server (`[server]`).
    pub server: ServerSettings,
    /// The mobile-ownership registry of `otp = "registry-checked"` (`[auth.registry]`).
    pub registry: Option<RegistrySettings>,
    /// The SMS gateway one-time codes go through (`[auth.sms]`).
    pub sms: Option<SmsSettings>,
    /// The card payment gateway (`[payments]`), if the host takes payments.
    pub payments: Option<PaymentSettings>,
    /// Following applications and delivering messages (`[notifications]`).
    pub notifications: NotificationSettings,
    /// Who may act for whom (`[representation]`); without it, everyone acts for themselves.
    pub representation: Option<RepresentationSettings>,
    /// The SMTP relay of citizens' e-mail (`[notifications.email]`), if any.
    pub email: Option<EmailSettings>,
}

/// The evidence log's anchor outside the database (`[audit]` in the file). Without a key
/// the host runs unanchored: it warns at start, and `audit verify` says what it cannot find.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// Seals what the writer appends and signs checkpoints (`checkpoint-key`, a file).
    pub key: Option<Arc<CheckpointKey>>,
    /// Public keys of retired checkpoint keys, still believed (`previous-keys`).
    pub previous_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// Where checkpoint files are written (`checkpoint-dir`, default `data/checkpoints`).
    pub checkpoint_dir: PathBuf,
    /// How often a checkpoint is made (`checkpoint-every-secs`, 300; `None` for 0: only on
    /// demand).
    pub checkpoint_every: Option<Duration>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            key: None,
            previous_keys: Vec::new(),
            checkpoint_dir: PathBuf::from("data/checkpoints"),
            checkpoint_every: Some(Duration::from_secs(300)),
        }
    }
}

impl AuditSettings {
    /// The keys whose seals and checkpoints are believed.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(self.key.as_deref(), &self.previous_keys)
    }

    /// What `audit verify` checks the log against: the keys and the checkpoint folder.
    pub fn anchor(&self) -> Anchor {
        Anchor { keys: self.keyring(), dirs: vec![self.checkpoint_dir.clone()] }
    }
}

/// Limits on what one client may hold of the HTTP server (`[server]` in the file): a
/// client that sends slowly, reads slowly or not at all, or opens many connections gets
/// its connections closed instead of keeping them without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSettings {
    /// A request's head (request line and headers) must have arrived this long after the
    /// host began waiting for it: when the connection opened, or when the answer before it
    /// was sent. So a kept-alive connection that sends nothing more is closed after it too.
    pub header_timeout: Duration,
    /// A connection on which no byte moves either way for this long, while the host is not
    /// working on one of its requests, is closed: a client that stops reading its answer.
    pub idle_timeout: Duration,
    /// A request's whole body must have arrived this long after its head; a client still
    /// sending gets a 408 problem and the connection is closed.
    pub body_timeout: Duration,
    /// Connections served at once; further ones wait in the listen queue for a free slot.
    pub max_connections: usize,
    /// `Strict-Transport-Security: max-age=` on answers to requests that came over HTTPS
    /// (`None`: the header is not sent).
    pub hsts_max_age: Option<Duration>,
    /// Inquiries without a session one client address may make a minute, after a burst
    /// of as many (`None`: no limit).
    pub anonymous_inquiries_per_minute: Option<u32>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            hsts_max_age: Some(Duration::from_secs(365 * 24 * 3600)),
            anonymous_inquiries_per_minute: Some(60),
        }
    }
}

/// The OpenID Connect relying party (`[oidc]` in the file).
#[derive(Clone)]
pub struct OidcSettings {
    /// The provider's issuer, exactly as the provider spells it (it is compared as a
    /// string); its metadata is read from `/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Never printed (see the `Debug` impl).
    pub client_secret: String,
    /// Send the client secret in the form body instead of HTTP Basic.
    pub client_secret_post: bool,
    /// Where the provider sends the browser back: this host's `/auth/callback`, as
    /// registered with the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim that carries the national ID.
    pub national_id_claim: String,
    /// The claim that carries the mobile number, if the provider sends one.
    pub mobile_claim: Option<String>,
    /// Assurance given to sessions from this provider.
    pub assurance: crate::runtime::bindings::Assurance,
    /// How long provider metadata and keys are kept before being read again.
    pub metadata_ttl: Duration,
    /// How long a sign-in started at `/auth/login` may take.
    pub login_ttl: Duration,
    /// Sign-ins one client address may start at `/auth/login` a minute, after a burst of
    /// as many (`None`: no limit).
    pub login_client_per_minute: Option<u32>,
    /// Sign-ins waiting for the provider's answer, across all clients; beyond it
    /// `/auth/login` answers 503 until some finish or expire. Bounds the table's rows.
    pub max_pending_logins: u32,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("client_secret_post", &self.client_secret_post)
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .field("national_id_claim", &self.national_id_claim)
            .field("mobile_claim", &self.mobile_claim)
            .field("assurance", &self.assurance)
            .field("login_client_per_minute", &self.login_client_per_minute)
            .field("max_pending_logins", &self.max_pending_logins)
            .finish_non_exhaustive()
    }
}

/// Sign-in and session settings (`[auth]` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// How long a one-time code is valid.
    pub otp_ttl: Duration,
    /// Wait after the first wrong code; doubles with each further wrong code.
    pub otp_backoff: Duration,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// Sign-in requests one client address may make a minute, counted in the database so
    /// that every replica shares one budget (`otp-client-per-minute`; 0 turns the limit off).
    pub otp_client_per_minute: u32,
    /// Whether, and how, citizens sign in with a one-time code (`otp`).
    pub otp: OtpMode,
    /// How long a replica believes a session it looked up (`session-cache-ms`; 0 asks the
    /// database on every request): the bound within which a revoked session stops working
    /// on every replica.
    pub session_cache: Duration,
}

/// `[auth] otp`: the built-in one-time-code sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtpMode {
    /// No one-time-code sign-in (the default): `/auth/otp/*` answers 404.
    #[default]
    Off,
    /// A code is sent only after the mobile-ownership registry (`[auth.registry]`) confirms
    /// that the mobile belongs to the national ID; codes go out by SMS (`[auth.sms]`).
    RegistryChecked,
    /// No ownership check, codes written to the log: for a developer's own machine only.
    /// The host refuses to start in this mode unless it listens on loopback.
    Development,
}

impl OtpMode {
    /// The name used in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            OtpMode::Off => "off",
            OtpMode::RegistryChecked => "registry-checked",
            OtpMode::Development => "development",
        }
    }
}

/// `[auth.registry]`: the mobile-ownership registry (Shahkar, or an integrator in front of
/// it) asked before a one-time code is sent.
#[derive(Clone)]
pub struct RegistrySettings {
    /// Base URL; the host calls `GET {url}/v1/services/matching`.
    pub url: String,
    /// The bearer token the registry issued to the window.
    pub token: String,
    /// How long the host waits for an answer before refusing to send a code.
    pub timeout: Duration,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("url", &self.url)
            .field("token", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `[payments]`: the card payment gateway (a PSP of the Shaparak network) citizens pay
/// bills and fees through. Without it the host takes no payments.
#[derive(Clone)]
pub struct PaymentSettings {
    /// The PSP's base URL (token, verify, settle, reverse, inquire APIs and the payment page).
    pub psp_url: String,
    pub terminal_id: String,
    pub password: String,
    /// The host's address as citizens' browsers reach it: the PSP sends them back to
    /// `{public_url}/payments/callback`.
    pub public_url: String,
    /// How long the host waits for the PSP on each request.
    pub timeout: Duration,
    /// How often the reconciler looks for orders left half done.
    pub reconcile_every: Duration,
    /// An order redirected this long ago without a callback is asked about at the PSP.
    pub stuck_after: Duration,
}

impl std::fmt::Debug for PaymentSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentSettings")
            .field("psp_url", &self.psp_url)
            .field("terminal_id", &self.terminal_id)
            .field("password", &"[redacted]")
            .field("public_url", &self.public_url)
            .field("timeout", &self.timeout)
            .field("reconcile_every", &self.reconcile_every)
            .field("stuck_after", &self.stuck_after)
            .finish()
    }
}

/// `[representation]`: the registries that say who may act for whom.
#[derive(Clone)]
pub struct RepresentationSettings {
    /// The companies registry (signatories of legal entities).
    pub companies_url: String,
    /// The civil registry (children and their dates of birth).
    pub civil_url: String,
    pub token: String,
    pub timeout: Duration,
    /// How long an answer is believed when checking a request (filings and payments ask again).
    pub cache_for: Duration,
}

impl std::fmt::Debug for RepresentationSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepresentationSettings")
            .field("companies_url", &self.companies_url)
            .field("civil_url", &self.civil_url)
            .field("token", &"[redacted]")
            .field("cache_for", &self.cache_for)
            .finish_non_exhaustive()
    }
}

/// `[notifications.email]`: the SMTP relay citizens' e-mail goes through.
#[derive(Clone)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    /// The sender address (`پنجره <no-reply@panjereh.ir>`).
    pub from: String,
    /// SMTP AUTH, when the relay wants it.
    pub credentials: Option<(String, String)>,
    pub timeout: Duration,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "[redacted]")))
            .finish_non_exhaustive()
    }
}

/// `[notifications]`: how the host follows applications and delivers messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationSettings {
    /// How often an open application's status is asked of its agency (`poll-every-secs`),
    /// unless its adapter's manifest asks otherwise (`[status] poll-every-mins`).
    pub poll_every: Duration,
    /// The shortest interval a manifest may ask for (`poll-floor-secs`).
    pub poll_floor: Duration,
    /// How long after sending an SMS its delivery is asked about (`delivery-check-secs`).
    pub delivery_check: Duration,
    /// How many jobs this replica's worker runs at once (`workers`, 1 to
    /// [`MAX_WORKERS`]).
    pub workers: usize,
}

/// The most jobs one replica's worker may run at once.
pub const MAX_WORKERS: usize = 64;

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            poll_every: Duration::from_secs(300),
            poll_floor: Duration::from_secs(300),
            delivery_check: Duration::from_secs(30),
            workers: 4,
        }
    }
}

/// `[auth.sms]`: the SMS gateway one-time codes are sent through.
#[derive(Clone)]
pub struct SmsSettings {
    /// Base URL; the host calls `POST {url}/v1/{api-key}/sms/send.json`.
    pub url: String,
    pub api_key: String,
    /// The sender line the codes come from.
    pub sender: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsSettings")
            .field("url", &self.url)
            .field("api_key", &"[redacted]")
            .field("sender", &self.sender)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            otp_ttl: Duration::from_secs(120),
            otp_backoff: Duration::from_secs(1),
            session_ttl: Duration::from_secs(12 * 3600),
            otp_client_per_minute: 30,
            otp: OtpMode::Off,
            session_cache: Duration::from_secs(2),
        }
    }
}

/// The operator's settings for one adapter.
#[derive(Debug, Clone, Default)]
pub struct AdapterSettings {
    /// Capabilities approved (intersected with the manifest's request at load).
    pub grant: Grant,
    /// Configuration values, including secrets.
    pub config: BTreeMap<String, ConfigValue>,
    /// Limits set by the operator (may raise the defaults).
    pub limits: RequestedLimits,
}

/// Flags given on the command line; each overrides the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub plugins_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub config_file: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    listen: Option<SocketAddr>,
    plugins: Option<PathBuf>,
    database_url: Option<String>,
    #[serde(default)]
    limits: RawDefaultLimits,
    #[serde(default)]
    adapters: BTreeMap<String, RawAdapter>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    signatures: RawSignatures,
    reconcile_ms: Option<u64>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    egress: RawEgress,
    oidc: Option<RawOidc>,
    #[serde(default)]
    trusted_proxies: Vec<std::net::IpAddr>,
    #[serde(default)]
    audit: RawAudit,
    #[serde(default)]
    server: RawServer,
    payments: Option<RawPayments>,
    #[serde(default)]
    notifications: RawNotifications,
    representation: Option<RawRepresentation>,
}

/// `[audit]`: the evidence log's checkpoint key and checkpoints.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAudit {
    /// The secret key file, as `panjereh keygen` writes it.
    checkpoint_key: Option<PathBuf>,
    checkpoint_dir: Option<PathBuf>,
    checkpoint_every_secs: Option<u64>,
    /// Base64 public keys of retired checkpoint keys.
    #[serde(default)]
    previous_keys: Vec<String>,
}

impl RawAudit {
    fn resolve(self) -> anyhow::Result<AuditSettings> {
        let defaults = AuditSettings::default();
        let key = match &self.checkpoint_key {
            Some(path) => Some(Arc::new(CheckpointKey::read(path).context("audit.checkpoint-key")?)),
            None => None,
        };
        let previous_keys = self
            .previous_keys
            .iter()
            .map(|k| parse_public_key(k).map_err(|e| anyhow::anyhow!("audit.previous-keys: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(AuditSettings {
            key,
            previous_keys,
            checkpoint_dir: self.checkpoint_dir.unwrap_or(defaults.checkpoint_dir),
            checkpoint_every: match self.checkpoint_every_secs {
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
                None => defaults.checkpoint_every,
            },
        })
    }
}

/// `[server]`: what a client may hold of the HTTP server.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawServer {
    header_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    /// 0 turns the header off.
    hsts_max_age_secs: Option<u64>,
    /// 0 turns the limit off.
    anonymous_inquiries_per_minute: Option<u32>,
}

impl RawServer {
    fn resolve(self) -> anyhow::Result<ServerSettings> {
        let defaults = ServerSettings::default();
        let secs = |v: Option<u64>, default: Duration, field: &str| match v {
            Some(0) => bail!("server.{field} must be at least 1"),
            Some(s) => Ok(Duration::from_secs(s)),
            None => Ok(default),
        };
        let max_connections = match self.max_connections {
            Some(0) => bail!("server.max-connections must be at least 1"),
            Some(n) => n,
            None => defaults.max_connections,
        };
        Ok(ServerSettings {
            header_timeout: secs(self.header_timeout_secs, defaults.header_timeout, "header-timeout-secs")?,
            idle_timeout: secs(self.idle_timeout_secs, defaults.idle_timeout, "idle-timeout-secs")?,
            body_timeout: secs(self.body_timeout_secs, defaults.body_timeout, "body-timeout-secs")?,
            max_connections,
            hsts_max_age: match self.hsts_max_age_secs {
                Some(0) => None,
                Some(s) => Some(Duration::from_secs(s)),
                None => defaults.hsts_max_age,
            },
            anonymous_inquiries_per_minute: match self.anonymous_inquiries_per_minute {
                Some(0) => None,
                Some(n) => Some(n),
                None => defaults.anonymous_inquiries_per_minute,
            },
        })
    }
}

/// `[oidc]`: the OpenID Connect provider.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOidc {
    issuer: String,
    client_id: String,
    /// `{ secret = "..." }` or `{ env = "VAR" }`.
    client_secret: RawSecret,
    /// `client_secret_basic` (default) or `client_secret_post`.
    client_auth: Option<String>,
    redirect_url: String,
    #[serde(default)]
    scopes: Vec<String>,
    national_id_claim: Option<String>,
    mobile_claim: Option<String>,
    assurance: Option<String>,
    metadata_ttl_secs: Option<u64>,
    login_ttl_secs: Option<u64>,
    /// 0 turns the limit off.
    login_client_per_minute: Option<u32>,
    max_pending_logins: Option<u32>,
}

impl RawOidc {
    fn resolve(self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<OidcSettings> {
        let url = |field: &str, value: &str| {
            let parsed = url::Url::parse(value).with_context(|| format!("oidc.{field} is not a URL: {value}"))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                bail!("oidc.{field} must be an http(s) URL");
            }
            Ok(value.to_owned())
        };
        let client_secret = self.client_secret.resolve("oidc.client-secret", &env)?;
        let client_secret_post = match self.client_auth.as_deref() {
            None | Some("client_secret_basic") => false,
            Some("client_secret_post") => true,
            Some(other) => bail!("oidc.client-auth must be client_secret_basic or client_secret_post, not {other}"),
        };
        let assurance = match self.assurance.as_deref() {
            None => crate::runtime::bindings::Assurance::Substantial,
            Some(name) => name
                .parse::<crate::runtime::bindings::Assurance>()
                .ok()
                .with_context(|| format!("oidc.assurance must be none, low, substantial or high, not {name}"))?,
        };
        if self.client_id.is_empty() {
            bail!("oidc.client-id is empty");
        }
        Ok(OidcSettings {
            issuer: url("issuer", &self.issuer)?,
            client_id: self.client_id,
            client_secret,
            client_secret_post,
            redirect_url: url("redirect-url", &self.redirect_url)?,
            scopes: self.scopes.into_iter().filter(|s| s != "openid").collect(),
            national_id_claim: self.national_id_claim.unwrap_or_else(|| "national_id".to_owned()),
            mobile_claim: self.mobile_claim.filter(|c| !c.is_empty()),
            assurance,
            metadata_ttl: Duration::from_secs(self.metadata_ttl_secs.unwrap_or(3600).max(1)),
            login_ttl: Duration::from_secs(self.login_ttl_secs.unwrap_or(600).max(1)),
            login_client_per_minute: match self.login_client_per_minute {
                Some(0) => None,
                other => Some(other.unwrap_or(10)),
            },
            max_pending_logins: match self.max_pending_logins {
                Some(0) => bail!("oidc.max-pending-logins must be at least 1"),
                other => other.unwrap_or(10_000),
            },
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSignatures {
    #[serde(default)]
    required: bool,
    /// Base64 Ed25519 public keys by agency id.
    #[serde(default)]
    trusted: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAuth {
    otp_ttl_secs: Option<u64>,
    otp_backoff_ms: Option<u64>,
    session_ttl_secs: Option<u64>,
    otp_client_per_minute: Option<u32>,
    session_cache_ms: Option<u64>,
    /// `off` (default), `registry-checked` or `development`.
    otp: Option<String>,
    registry: Option<RawRegistry>,
    sms: Option<RawSms>,
}

/// `[representation]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRepresentation {
    companies_url: String,
    civil_url: String,
    token: RawSecret,
    timeout_ms: Option<u64>,
    cache_secs: Option<u64>,
}

/// `[notifications]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNotifications {
    poll_every_secs: Option<u64>,
    poll_floor_secs: Option<u64>,
    delivery_check_secs: Option<u64>,
    workers: Option<u64>,
    email: Option<RawEmail>,
}

impl RawNotifications {
    fn workers(&self) -> anyhow::Result<usize> {
        match self.workers {
            None => Ok(NotificationSettings::default().workers),
            Some(0) => bail!("notifications.workers must be at least 1 (jobs would never run)"),
            Some(n) if n > MAX_WORKERS as u64 => {
                bail!("notifications.workers is {n}; at most {MAX_WORKERS} jobs run at once on one replica")
            }
            Some(n) => Ok(n as usize),
        }
    }
}

/// `[notifications.email]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEmail {
    host: String,
    port: Option<u16>,
    from: String,
    username: Option<String>,
    /// `{ secret = "..." }` or `{ env = "VAR" }`.
    password: Option<RawSecret>,
    timeout_ms: Option<u64>,
}

/// `[payments]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPayments {
    psp_url: String,
    terminal_id: String,
    /// `{ secret = "..." }` or `{ env = "VAR" }`.
    password: RawSecret,
    public_url: String,
    timeout_ms: Option<u64>,
    reconcile_every_secs: Option<u64>,
    stuck_after_secs: Option<u64>,
}

impl RawPayments {
    fn resolve(self, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<PaymentSettings> {
        if self.terminal_id.is_empty() {
            bail!("payments.terminal-id is empty");
        }
        Ok(PaymentSettings {
            psp_url: base_url("payments.psp-url", &self.psp_url)?,
            terminal_id: self.terminal_id,
            password: self.password.resolve("payments.password", &env)?,
            public_url: base_url("payments.public-url", &self.public_url)?,
            timeout: Duration::from_millis(self.timeout_ms.unwrap_or(10_000).max(1)),
            reconcile_every: Duration::from_secs(self.reconcile_every_secs.unwrap_or(10).max(1)),
            stuck_after: Duration::from_secs(self.stuck_after_secs.unwrap_or(120)),
        })
    }
}

/// `[auth.registry]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRegistry {
    url: String,
    /// `{ secret = "..." }` or `{ env = "VAR" }`.
    token: RawSecret,
    timeout_ms: Option<u64>,
}

/// `[auth.sms]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSms {
    url: String,
    /// `{ secret = "..." }` or `{ env = "VAR" }`.
    api_key: RawSecret,
    sender: String,
    timeout_ms: Option<u64>,
}

/// `[egress]`: adapters' outbound HTTP.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEgress {
    connect_timeout_ms: Option<u64>,
    timeout_ms: Option<u64>,
    max_response_kib: Option<u64>,
    max_concurrent: Option<u32>,
    max_redirects: Option<u8>,
    /// Fixed addresses for back-end names, like `/etc/hosts` (`"api.agency.ir" = ["10.1.2.3"]`).
    /// Restricted addresses still need an `ip:port` grant.
    #[serde(default)]
    hosts: BTreeMap<String, Vec<std::net::IpAddr>>,
    /// PEM file of certificate authorities trusted besides the Mozilla roots.
    ca_file: Option<PathBuf>,
}

impl RawEgress {
    fn resolve(self) -> anyhow::Result<EgressOptions> {
        let defaults = EgressOptions::default();
        let ms = |v: Option<u64>, default: Duration, field: &str| match v {
            Some(0) => bail!("egress.{field} must be at least 1"),
            Some(ms) => Ok(Duration::from_millis(ms)),
            None => Ok(default),
        };
        Ok(EgressOptions {
            connect_timeout: ms(self.connect_timeout_ms, defaults.connect_timeout, "connect-timeout-ms")?,
            timeout: ms(self.timeout_ms, defaults.timeout, "timeout-ms")?,
            max_response_bytes: self.max_response_kib.map_or(defaults.max_response_bytes, |kib| kib * 1024),
            max_concurrent: self.max_concurrent.unwrap_or(defaults.max_concurrent).max(1),
            max_redirects: self.max_redirects.unwrap_or(defaults.max_redirects),
            extra_roots: match &self.ca_file {
                Some(path) => read_roots(path)?,
                None => Vec::new(),
            },
            resolver: if self.hosts.is_empty() {
                defaults.resolver
            } else {
                std::sync::Arc::new(StaticResolver::only(self.hosts).with_fallback(std::sync::Arc::new(SystemResolver)))
            },
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaultLimits {
    cpu_ms: Option<u64>,
    wall_ms: Option<u64>,
    memory_mib: Option<u64>,
    concurrency: Option<u32>,
    max_instances: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAdapter {
    #[serde(default)]
    grant: RawCapabilities,
    #[serde(default)]
    config: BTreeMap<String, RawConfigValue>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawConfigValue {
    Plain(String),
    /// `{ secret = "..." }` or `{ env = "VAR" }` (read from the environment, secret).
    Secret(RawSecret),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    secret: Option<String>,
    env: Option<String>,
}

impl RawSecret {
    /// The secret's value; `field` names it in errors.
    fn resolve(self, field: &str, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
        match self {
            RawSecret { secret: Some(value), env: None } => Ok(value),
            RawSecret { secret: None, env: Some(var) } => {
                env(&var).with_context(|| format!("{field}: environment variable {var} is not set"))
            }
            _ => bail!("{field}: give exactly one of `secret` or `env`"),
        }
    }
}

/// An `http(s)` base URL from the file, without a trailing slash.
fn base_url(field: &str, value: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(value).with_context(|| format!("{field} is not a URL: {value}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        bail!("{field} must be an http(s) URL");
    }
    Ok(value.trim_end_matches('/').to_owned())
}

impl RawAuth {
    /// The one-time-code mode, and the registry and SMS gateway it needs.
    fn otp(
        &mut self,
        listen: SocketAddr,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<(OtpMode, Option<RegistrySettings>, Option<SmsSettings>)> {
        let mode = match self.otp.as_deref() {
            None | Some("off") => OtpMode::Off,
            Some("registry-checked") => OtpMode::RegistryChecked,
            Some("development") => OtpMode::Development,
            Some(other) => bail!("auth.otp must be off, registry-checked or development, not {other}"),
        };
        let timeout = |ms: Option<u64>| Duration::from_millis(ms.unwrap_or(3000).max(1));
        let registry = match self.registry.take() {
            Some(raw) => Some(RegistrySettings {
                url: base_url("auth.registry.url", &raw.url)?,
                token: raw.token.resolve("auth.registry.token", &env)?,
                timeout: timeout(raw.timeout_ms),
            }),
            None => None,
        };
        let sms = match self.sms.take() {
            Some(raw) => Some(SmsSettings {
                url: base_url("auth.sms.url", &raw.url)?,
                api_key: raw.api_key.resolve("auth.sms.api-key", &env)?,
                sender: raw.sender,
                timeout: timeout(raw.timeout_ms),
            }),
            None => None,
        };
        match mode {
            OtpMode::RegistryChecked if registry.is_none() => {
                bail!("auth.otp = \"registry-checked\" needs [auth.registry] (the mobile-ownership registry)")
            }
            OtpMode::Development if !listen.ip().is_loopback() => bail!(
                "auth.otp = \"development\" sends codes to the log without checking who owns the mobile; \
                 it is refused on {listen}: listen on loopback (127.0.0.1 or ::1), or use \"registry-checked\""
            ),
            _ => Ok((mode, registry, sms)),
        }
    }
}

impl Config {
    /// Reads the file (if any), applies the flags and the environment, and validates.
    pub fn load(overrides: Overrides) -> anyhow::Result<Config> {
        let mut raw = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => RawConfig::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());

        let mut adapters = BTreeMap::new();
        for (id, raw_adapter) in raw.adapters {
            let mut config = BTreeMap::new();
            for (key, value) in raw_adapter.config {
                let value = match value {
                    RawConfigValue::Plain(value) => ConfigValue { value, secret: false },
                    RawConfigValue::Secret(RawSecret { secret: Some(value), env: None }) => {
                        ConfigValue { value, secret: true }
                    }
                    RawConfigValue::Secret(RawSecret { secret: None, env: Some(var) }) => ConfigValue {
                        value: env(&var).with_context(|| {
                            format!("adapters.{id}.config.{key}: environment variable {var} is not set")
                        })?,
                        secret: true,
                    },
                    RawConfigValue::Secret(_) => {
                        bail!("adapters.{id}.config.{key}: give exactly one of `secret` or `env`")
                    }
                };
                config.insert(key, value);
            }
            let grant = raw_adapter.grant.into_grant().with_context(|| format!("adapters.{id}.grant"))?;
            adapters.insert(id, AdapterSettings { grant, config, limits: raw_adapter.limits.typed() });
        }

        let defaults = CallLimits::default();
        let limits = CallLimits {
            cpu: raw.limits.cpu_ms.map_or(defaults.cpu, Duration::from_millis),
            wall: raw.limits.wall_ms.map_or(defaults.wall, Duration::from_millis),
            memory_bytes: raw.limits.memory_mib.map_or(defaults.memory_bytes, |m| (m as usize) << 20),
            concurrency: raw.limits.concurrency.unwrap_or(defaults.concurrency),
        };
        let egress = raw.egress.resolve()?;
        let audit = raw.audit.resolve()?;
        let server = raw.server.resolve()?;
        let oidc = raw.oidc.map(|oidc| oidc.resolve(env)).transpose()?;
        let payments = raw.payments.take().map(|p| p.resolve(env)).transpose()?;
        let email = match raw.notifications.email.take() {
            Some(e) => {
                if e.from.parse::<lettre::message::Mailbox>().is_err() {
                    bail!("notifications.email.from is not an e-mail address: {}", e.from);
                }
                let credentials = match (e.username, e.password) {
                    (Some(user), Some(password)) => {
                        Some((user, password.resolve("notifications.email.password", env)?))
                    }
                    (None, None) => None,
                    _ => bail!("notifications.email: give both username and password, or neither"),
                };
                Some(EmailSettings {
                    host: e.host,
                    port: e.port.unwrap_or(25),
                    from: e.from,
                    credentials,
                    timeout: Duration::from_millis(e.timeout_ms.unwrap_or(10_000).max(1)),
                })
            }
            None => None,
        };
        let representation = match raw.representation.take() {
            Some(r) => Some(RepresentationSettings {
                companies_url: base_url("representation.companies-url", &r.companies_url)?,
                civil_url: base_url("representation.civil-url", &r.civil_url)?,
                token: r.token.resolve("representation.token", env)?,
                timeout: Duration::from_millis(r.timeout_ms.unwrap_or(3000).max(1)),
                cache_for: Duration::from_secs(r.cache_secs.unwrap_or(60)),
            }),
            None => None,
        };
        let mut runtime = RuntimeOptions::default();
        if let Some(n) = raw.limits.max_instances {
            runtime.max_instances = n;
        }
        if env("PANJEREH_NO_POOLING").is_some() {
            runtime.pooling = false;
        }
        if limits.memory_bytes > runtime.max_memory_bytes {
            bail!("limits.memory-mib may be at most {}", runtime.max_memory_bytes >> 20);
        }

        let mut trust = Trust { required: raw.signatures.required, keys: BTreeMap::new() };
        for (agency, keys) in raw.signatures.trusted {
            let keys = keys
                .iter()
                .map(|k| parse_public_key(k).map_err(|e| anyhow::anyhow!("signatures.trusted.{agency}: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            trust.keys.insert(agency, keys);
        }
        let database_url = overrides
            .database_url
            .or_else(|| env("PANJEREH_DATABASE_URL"))
            .or(raw.database_url)
            .unwrap_or_else(|| "sqlite://data/panjereh.db".to_owned());
        let cache_dir = overrides.cache_dir.or(raw.cache_dir).or_else(|| Some(PathBuf::from("data/cache")));
        let listen = overrides.listen.or(raw.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let (otp, registry, sms) = raw.auth.otp(listen, env)?;
        let auth_defaults = AuthSettings::default();
        let auth = AuthSettings {
            otp,
            otp_ttl: raw.auth.otp_ttl_secs.map_or(auth_defaults.otp_ttl, Duration::from_secs),
            otp_backoff: raw.auth.otp_backoff_ms.map_or(auth_defaults.otp_backoff, Duration::from_millis),
            session_ttl: raw.auth.session_ttl_secs.map_or(auth_defaults.session_ttl, Duration::from_secs),
            otp_client_per_minute: raw.auth.otp_client_per_minute.unwrap_or(auth_defaults.otp_client_per_minute),
            session_cache: raw.auth.session_cache_ms.map_or(auth_defaults.session_cache, Duration::from_millis),
        };
        if auth.session_cache > Duration::from_secs(60) {
            bail!("auth.session-cache-ms is at most 60000: it bounds how long a revoked session keeps working");
        }
        if auth.otp_ttl.is_zero() || auth.session_ttl.is_zero() {
            bail!("auth.otp-ttl-secs and auth.session-ttl-secs must be positive");
        }

        Ok(Config {
            cache_dir,
            trust,
            reconcile_every: Duration::from_millis(raw.reconcile_ms.unwrap_or(5000).max(100)),
            listen,
            plugins_dir: overrides.plugins_dir.or(raw.plugins).unwrap_or_else(|| PathBuf::from("plugins-dist")),
            database_url,
            limits,
            runtime,
            adapters,
            auth,
            egress,
            oidc,
            trusted_proxies: raw.trusted_proxies,
            audit,
            server,
            registry,
            sms,
            payments,
            representation,
            email,
            notifications: NotificationSettings {
                poll_every: raw
                    .notifications
                    .poll_every_secs
                    .map_or(NotificationSettings::default().poll_every, |s| Duration::from_secs(s.max(1))),
                poll_floor: raw
                    .notifications
                    .poll_floor_secs
                    .map_or(NotificationSettings::default().poll_floor, |s| Duration::from_secs(s.max(1))),
                delivery_check: raw
                    .notifications
                    .delivery_check_secs
                    .map_or(NotificationSettings::default().delivery_check, Duration::from_secs),
                workers: raw.notifications.workers()?,
            },
        })
    }
}

/// The certificates of a PEM file (at least one).
fn read_roots(path: &Path) -> anyhow::Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    let pem = std::fs::read(path).with_context(|| format!("failed to read egress.ca-file {}", path.display()))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("egress.ca-file {} is not PEM certificates: {e}", path.display()))?;
    if roots.is_empty() {
        bail!("egress.ca-file {} holds no certificate", path.display());
    }
    Ok(roots)
}

fn read_file(path: &Path) -> anyhow::Result<RawConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("failed to read config file {}", path.display()))?;
    // Not the error's own `Display`: it quotes the offending line, which may hold a secret.
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(0, |span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        anyhow::anyhow!("invalid config file {} (line {line}): {}", path.display(), e.message())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> anyhow::Result<Config> {
        let path = std::env::temp_dir().join(format!("panjereh-config-{}.toml", rand::random::<u64>()));
        std::fs::write(&path, text).unwrap();
        let config = Config::load(Overrides { config_file: Some(path.clone()), ..Overrides::default() });
        let _ = std::fs::remove_file(path);
        config
    }

    #[test]
    fn secrets_stay_out_of_debug_output_and_errors() {
        let config = load_text(
            "[adapters.tax.config]\nbase-url = \"http://127.0.0.1:9\"\napi-key = { secret = \"hunter2-key\" }\n",
        )
        .unwrap();
        let settings = &config.adapters["tax"];
        assert_eq!(settings.config["api-key"].value, "hunter2-key");
        assert_eq!(settings.config["api-key"].redacted(), "[redacted]");
        assert_eq!(settings.config["base-url"].redacted(), "http://127.0.0.1:9");
        assert!(!format!("{config:?}").contains("hunter2"));

        // A malformed secret line: the error names the line, not its text.
        let error =
            load_text("[adapters.tax.config]\napi-key = { secret = \"hunter2-key\", extra = 1 }\n").unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let error = load_text("[adapters.tax.config]\napi-key = { secret = \"hunter2-key\" \n").unwrap_err();
        let message = format!("{error:#}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn oidc_settings_are_read_and_the_secret_is_redacted() {
        let config = load_text(
            "[oidc]\nissuer = \"https://sso.example.ir\"\nclient-id = \"panjereh\"\n\
             client-secret = { secret = \"hunter2-oidc\" }\nredirect-url = \"https://panjereh.ir/auth/callback\"\n\
             scopes = [\"openid\", \"national_id\"]\nassurance = \"high\"\nclient-auth = \"client_secret_post\"\n",
        )
        .unwrap();
        let oidc = config.oidc.as_ref().unwrap();
        assert_eq!(oidc.client_secret, "hunter2-oidc");
        assert_eq!(oidc.scopes, ["national_id"]);
        assert_eq!(oidc.national_id_claim, "national_id");
        assert!(oidc.client_secret_post);
        assert_eq!(oidc.assurance, crate::runtime::bindings::Assurance::High);
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(load_text("[oidc]\nissuer = \"x\"\n").is_err());
        assert!(load_text("").unwrap().oidc.is_none());
    }

    #[test]
    fn audit_settings_read_the_key_file_and_never_print_it() {
        let (secret, public) = crate::plugins::signature::generate();
        let path = std::env::temp_dir().join(format!("panjereh-audit-{}.key", rand::random::<u64>()));
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        let config = load_text(&format!(
            "[audit]\ncheckpoint-key = {:?}\ncheckpoint-every-secs = 0\nprevious-keys = [\"{public}\"]\n",
            path.display().to_string()
        ))
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(config.audit.key.is_some());
        assert_eq!(config.audit.checkpoint_every, None);
        assert_eq!(config.audit.checkpoint_dir, PathBuf::from("data/checkpoints"));
        assert!(!format!("{config:?}").contains(&secret));
        let missing = load_text("[audit]\ncheckpoint-key = \"/nonexistent/audit.key\"\n").unwrap_err();
        assert!(format!("{missing:#}").contains("panjereh keygen --out /nonexistent/audit"), "{missing:#}");
        assert!(load_text("").unwrap().audit.key.is_none());
    }

    #[test]
    fn the_workers_of_a_replica_are_between_one_and_the_cap() {
        assert_eq!(load_text("").unwrap().notifications.workers, 4);
        assert_eq!(load_text("[notifications]\nworkers = 16\n").unwrap().notifications.workers, 16);
        let none = load_text("[notifications]\nworkers = 0\n").unwrap_err();
        assert!(format!("{none:#}").contains("notifications.workers must be at least 1"), "{none:#}");
        let absurd = load_text("[notifications]\nworkers = 10000\n").unwrap_err();
        assert!(format!("{absurd:#}").contains("at most 64"), "{absurd:#}");
    }

    #[test]
    fn egress_settings_are_read() {
        let config = load_text(
            "[egress]\nconnect-timeout-ms = 500\ntimeout-ms = 3000\nmax-response-kib = 64\nmax-concurrent = 2\n\
             [egress.hosts]\n\"api.agency.test\" = [\"10.1.2.3\"]\n",
        )
        .unwrap();
        assert_eq!(config.egress.connect_timeout, Duration::from_millis(500));
        assert_eq!(config.egress.timeout, Duration::from_secs(3));
        assert_eq!(config.egress.max_response_bytes, 64 * 1024);
        assert_eq!(config.egress.max_concurrent, 2);
        assert!(load_text("[egress]\ntimeout-ms = 0\n").is_err());
        assert!(load_text("[egress]\ncolour = 1\n").is_err());
    }

    #[test]
    fn server_settings_are_read_and_zero_turns_optional_limits_off() {
        let defaults = load_text("").unwrap().server;
        assert_eq!(defaults, ServerSettings::default());
        let config = load_text(
            "[server]\nheader-timeout-secs = 3\nidle-timeout-secs = 4\nbody-timeout-secs = 5\n\
             max-connections = 6\nhsts-max-age-secs = 0\nanonymous-inquiries-per-minute = 0\n",
        )
        .unwrap();
        let server = config.server;
        assert_eq!(server.header_timeout, Duration::from_secs(3));
        assert_eq!(server.idle_timeout, Duration::from_secs(4));
        assert_eq!(server.body_timeout, Duration::from_secs(5));
        assert_eq!(server.max_connections, 6);
        assert_eq!(server.hsts_max_age, None);
        assert_eq!(server.anonymous_inquiries_per_minute, None);
        for zero in ["header-timeout-secs", "idle-timeout-secs", "body-timeout-secs", "max-connections"] {
            assert!(load_text(&format!("[server]\n{zero} = 0\n")).is_err(), "{zero} = 0");
        }
        assert!(load_text("[server]\nkeepalive = 1\n").is_err());
    }
}
