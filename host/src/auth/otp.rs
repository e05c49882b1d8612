//! The built-in identity provider: a 5-digit one-time code sent to the citizen's mobile,
//! after the mobile-ownership registry has confirmed that the mobile belongs to the
//! national ID (`[auth] otp = "registry-checked"`).
//!
//! - **Ownership first.** No code is sent, and nothing is counted against the national ID,
//!   for a pair the registry does not confirm; the refusal does not say which part was
//!   wrong. Only `otp = "development"` skips the check, and the host refuses that mode off
//!   loopback. A stored mobile is replaced only by a sign-in the registry confirmed.
//! - **Limits that cannot lock the owner out.** Sign-in requests are counted per client,
//!   codes per confirmed (national ID, mobile) pair and per mobile, in the database, so
//!   every replica shares the budget (`store::sign_in_counters`); each count is one atomic
//!   upsert.
//! - **Codes** come from the OS-seeded CSPRNG, expire (2 minutes by default), are single
//!   use, and die after [`MAX_ATTEMPTS`] wrong guesses; each wrong guess doubles the wait
//!   before the next one. Only a salted SHA-256 of the code is stored. Starting again
//!   replaces the previous code: only the newest challenge of a national ID can be answered.
//! - **A code answers only what it was sent for** ([`Purpose`]): a citizen's consent to a
//!   counter-office clerk signs nobody in, and its SMS says what it allows.
//! - **One answer for "no valid code".** Verifying tells nobody whether a national ID ever
//!   started a sign-in, nor whether its code was used, expired, locked or wrong.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::notifier::{Notifier, NotifyError};
use super::ownership::{OwnershipCheck, OwnershipError};
use crate::config::{AuthSettings, OtpMode};
use crate::store::citizens::{self, CitizenRow};
use crate::store::otp::{self, Challenge};
use crate::store::sign_in_counters::{self, Counter};
use crate::store::{Db, now_ms, random_id};

/// Digits in a code.
pub const CODE_DIGITS: usize = 5;
/// Wrong guesses after which a challenge is dead.
pub const MAX_ATTEMPTS: i64 = 5;
/// Codes one confirmed (national ID, mobile) pair, or one mobile, may be sent per
/// [`START_WINDOW`]; the mobile limit keeps the provider from flooding someone's phone.
pub const MAX_STARTS: i64 = 5;
/// The window of [`MAX_STARTS`].
pub const START_WINDOW: Duration = Duration::from_secs(600);
/// The window of the per-client limit (`otp-client-per-minute`).
const CLIENT_WINDOW: Duration = Duration::from_secs(60);

/// Why a code was not sent or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("one-time-code sign-in is turned off")]
    Off,
    #[error("too many sign-in requests from this client")]
    ClientLimit { retry_after: Duration },
    /// The registry did not confirm the pair (one answer, whichever part is wrong).
    #[error("this national ID and mobile number cannot be used to sign in")]
    NotOwner,
    #[error(transparent)]
    Registry(#[from] OwnershipError),
    #[error("too many codes requested for this national ID and mobile")]
    TooManyStarts { retry_after: Duration },
    /// No code that could be accepted: none was started, or it was used, expired, locked,
    /// waiting after a wrong guess, or wrong. Deliberately one answer.
    #[error("the code is not valid")]
    Invalid,
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error("storage failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// What a code is for. A code answers only its own purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    /// The citizen's consent that the clerk's session `clerk_session` acts for them, at
    /// `office`, for `services` (`agency/service` names) only.
    Consent {
        clerk_session: String,
        office: String,
        services: Vec<String>,
    },
}

impl Purpose {
    /// The stored purpose of a sign-in code.
    pub const SIGN_IN: &str = "sign-in";

    /// The stored purpose of a consent to the clerk's session `clerk_session`.
    pub fn consent_key(clerk_session: &str) -> String {
        format!("counter:{clerk_session}")
    }

    /// The challenge's stored purpose.
    pub fn key(&self) -> String {
        match self {
            Purpose::SignIn => Purpose::SIGN_IN.to_owned(),
            Purpose::Consent { clerk_session, .. } => Purpose::consent_key(clerk_session),
        }
    }

    /// The SMS that carries `code`.
    fn message(&self, code: &str) -> String {
        match self {
            Purpose::SignIn => super::notifier::code_message(code),
            Purpose::Consent { office, services, .. } => super::notifier::consent_message(code, office, services.len()),
        }
    }
}

/// A code that was accepted: whose it is, and what a consent allows.
#[derive(Debug, Clone)]
pub struct Verified {
    pub citizen: CitizenRow,
    /// The services a consent allows; `None` for a sign-in.
    pub services: Option<Vec<String>>,
}

/// A code that was sent.
#[derive(Debug, Clone)]
pub struct Started {
    pub challenge_id: String,
    pub expires_ms: i64,
}

/// The provider: its mode, the ownership registry and the notifier codes go through.
#[derive(Debug, Clone)]
pub struct OtpProvider {
    settings: AuthSettings,
    ownership: Option<Arc<dyn OwnershipCheck>>,
    notifier: Arc<dyn Notifier>,
}

fn hash_code(challenge_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{challenge_id}:{code}")))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl OtpProvider {
    /// A provider in `settings.otp` mode. `ownership` is required in `registry-checked`.
    pub fn new(
        settings: AuthSettings,
        ownership: Option<Arc<dyn OwnershipCheck>>,
        notifier: Arc<dyn Notifier>,
    ) -> anyhow::Result<OtpProvider> {
        if settings.otp == OtpMode::RegistryChecked && ownership.is_none() {
            anyhow::bail!("otp = \"registry-checked\" needs a mobile-ownership registry ([auth.registry])");
        }
        Ok(OtpProvider { settings, ownership, notifier })
    }

    /// The mode the provider runs in.
    pub fn mode(&self) -> OtpMode {
        self.settings.otp
    }

    /// Counts a sign-in request of `client` (start or verify, API or portal) against
    /// `otp-client-per-minute`, shared by every replica.
    pub async fn admit(&self, db: &Db, client: IpAddr) -> Result<(), OtpError> {
        if self.settings.otp == OtpMode::Off {
            return Err(OtpError::Off);
        }
        let limit = i64::from(self.settings.otp_client_per_minute);
        if limit == 0 {
            return Ok(());
        }
        let now = now_ms();
        let counter = Counter::Client(super::throttle::bucket(client));
        let hit = sign_in_counters::hit(db, counter, millis(CLIENT_WINDOW), now).await?;
        if hit.count > limit {
            return Err(OtpError::ClientLimit {
                retry_after: Duration::from_millis((hit.window_end_ms - now).max(0) as u64),
            });
        }
        // Now and then, forget counters whose windows are long over.
        if rand::random_range(0..256u32) == 0 {
            sign_in_counters::sweep(db, now - millis(START_WINDOW) * 2).await?;
        }
        Ok(())
    }

    /// Sends a new code for `purpose` for `national_id` to `mobile` (both already
    /// canonical), once the registry has confirmed the pair.
    pub async fn start(
        &self,
        db: &Db,
        national_id: &str,
        mobile: &str,
        purpose: &Purpose,
    ) -> Result<Started, OtpError> {
        let checked = match (self.settings.otp, &self.ownership) {
            (OtpMode::Off, _) => return Err(OtpError::Off),
            (OtpMode::Development, _) => false,
            (OtpMode::RegistryChecked, None) => return Err(OtpError::Off),
            (OtpMode::RegistryChecked, Some(registry)) => {
                if !registry.owns(national_id, mobile).await? {
                    tracing::info!("one-time code refused: the registry did not confirm the pair");
                    return Err(OtpError::NotOwner);
                }
                true
            }
        };
        let now = now_ms();
        let window = millis(START_WINDOW);
        for counter in [Counter::Pair { national_id, mobile }, Counter::Mobile(mobile)] {
            let hit = sign_in_counters::hit(db, counter, window, now).await?;
            if hit.count > MAX_STARTS {
                let retry_after = Duration::from_millis((hit.window_end_ms - now).max(0) as u64);
                return Err(OtpError::TooManyStarts { retry_after });
            }
        }
        let code = format!("{:0width$}", rand::random_range(0..10u32.pow(CODE_DIGITS as u32)), width = CODE_DIGITS);
        let id = random_id();
        let challenge = Challenge {
            code_hash: hash_code(&id, &code),
            id,
            national_id: national_id.to_owned(),
            mobile: mobile.to_owned(),
            created_ms: now,
            expires_ms: now + millis(self.settings.otp_ttl),
            attempts: 0,
            next_attempt_ms: 0,
            consumed_ms: None,
            ownership_checked: checked,
            purpose: purpose.key(),
            services: match purpose {
                Purpose::SignIn => None,
                Purpose::Consent { services, .. } => Some(services.clone()),
            },
        };
        otp::create(db, &challenge).await?;
        self.notifier.send_code(mobile, &code, &purpose.message(&code)).await?;
        Ok(Started { challenge_id: challenge.id, expires_ms: challenge.expires_ms })
    }

    /// Checks `code` against the newest challenge of `national_id` for `purpose` (a
    /// [`Purpose::key`]); on success the challenge is used up and the citizen (created on
    /// first sign-in) is returned. Every refusal is [`OtpError::Invalid`].
    pub async fn verify(&self, db: &Db, national_id: &str, code: &str, purpose: &str) -> Result<Verified, OtpError> {
        if self.settings.otp == OtpMode::Off {
            return Err(OtpError::Off);
        }
        let now = now_ms();
        let challenge = otp::latest(db, national_id, purpose).await?.ok_or(OtpError::Invalid)?;
        let open = challenge.consumed_ms.is_none()
            && challenge.attempts < MAX_ATTEMPTS
            && now < challenge.expires_ms
            && now >= challenge.next_attempt_ms;
        if !open {
            return Err(OtpError::Invalid);
        }
        if constant_time_eq(hash_code(&challenge.id, code).as_bytes(), challenge.code_hash.as_bytes()) {
            if !otp::consume(db, &challenge.id, now, MAX_ATTEMPTS).await? {
                // Another request used it (or it expired) between the read and now.
                return Err(OtpError::Invalid);
            }
            let citizen = if challenge.ownership_checked {
                citizens::upsert(db, &challenge.national_id, &challenge.mobile).await?
            } else {
                // Development mode: the mobile was never proven, so it never replaces one.
                citizens::upsert_keeping_known_mobile(db, &challenge.national_id, &challenge.mobile).await?
            };
            return Ok(Verified { citizen, services: challenge.services });
        }
        let backoff = millis(self.settings.otp_backoff);
        let next = now + backoff.saturating_mul(1 << challenge.attempts.clamp(0, 16));
        otp::record_failure(db, &challenge.id, next, MAX_ATTEMPTS).await?;
        Err(OtpError::Invalid)
    }
}
