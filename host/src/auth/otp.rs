//! The built-in identity provider: a 5-digit one-time code sent to the citizen's mobile.
//!
//! Codes come from the OS-seeded CSPRNG, expire (2 minutes by default), are single use,
//! and die after [`MAX_ATTEMPTS`] wrong guesses; each wrong guess doubles the wait before
//! the next one. Only a salted SHA-256 of the code is stored. Starting again replaces the
//! previous code: only the newest challenge of a national ID can be answered.
//!
//! Whether the mobile belongs to the national ID (the "Shahkar" check) is the identity
//! source's business; this development provider trusts the pair it is given.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::notifier::{Notifier, NotifyError};
use crate::config::AuthSettings;
use crate::store::citizens::{self, CitizenRow};
use crate::store::otp::{self, Challenge};
use crate::store::{Db, now_ms, random_id};

/// Digits in a code.
pub const CODE_DIGITS: usize = 5;
/// Wrong guesses after which a challenge is dead.
pub const MAX_ATTEMPTS: i64 = 5;
/// Codes one national ID, or one mobile, may be sent per [`START_WINDOW`]; the mobile
/// limit keeps the provider from being used to flood someone's phone.
pub const MAX_STARTS: i64 = 5;
/// The window of [`MAX_STARTS`].
pub const START_WINDOW: Duration = Duration::from_secs(600);

/// Why a code was not sent or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("too many codes requested for this national ID or mobile")]
    TooManyStarts { retry_after: Duration },
    #[error("no code was requested for this national ID")]
    NotStarted,
    #[error("the code was already used")]
    Used,
    #[error("the code expired")]
    Expired,
    #[error("too many wrong codes: the code is locked")]
    Locked,
    #[error("wait before trying another code")]
    Backoff { retry_after: Duration },
    #[error("wrong code; {remaining} attempts left")]
    Wrong { remaining: i64 },
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error("storage failed: {0}")]
    Store(#[from] sqlx::Error),
}

/// A code that was sent.
#[derive(Debug, Clone)]
pub struct Started {
    pub challenge_id: String,
    pub expires_ms: i64,
}

fn hash_code(challenge_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{challenge_id}:{code}")))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sends a new code for `national_id` to `mobile` (both already canonical).
pub async fn start(
    db: &Db,
    notifier: &dyn Notifier,
    settings: &AuthSettings,
    national_id: &str,
    mobile: &str,
) -> Result<Started, OtpError> {
    let now = now_ms();
    let window_ms = START_WINDOW.as_millis() as i64;
    let (by_id, by_mobile) = otp::started_since(db, national_id, mobile, now - window_ms).await?;
    if by_id >= MAX_STARTS || by_mobile >= MAX_STARTS {
        return Err(OtpError::TooManyStarts { retry_after: START_WINDOW });
    }
    let code = format!("{:0width$}", rand::random_range(0..10u32.pow(CODE_DIGITS as u32)), width = CODE_DIGITS);
    let id = random_id();
    let challenge = Challenge {
        code_hash: hash_code(&id, &code),
        id,
        national_id: national_id.to_owned(),
        mobile: mobile.to_owned(),
        created_ms: now,
        expires_ms: now + settings.otp_ttl.as_millis() as i64,
        attempts: 0,
        next_attempt_ms: 0,
        consumed_ms: None,
    };
    otp::create(db, &challenge).await?;
    notifier.send_code(mobile, &code).await?;
    Ok(Started { challenge_id: challenge.id, expires_ms: challenge.expires_ms })
}

/// Checks `code` against the newest challenge of `national_id`; on success the challenge
/// is used up and the citizen (created on first sign-in) is returned.
pub async fn verify(db: &Db, settings: &AuthSettings, national_id: &str, code: &str) -> Result<CitizenRow, OtpError> {
    let now = now_ms();
    let challenge = otp::latest(db, national_id).await?.ok_or(OtpError::NotStarted)?;
    if challenge.consumed_ms.is_some() {
        return Err(OtpError::Used);
    }
    if challenge.attempts >= MAX_ATTEMPTS {
        return Err(OtpError::Locked);
    }
    if now >= challenge.expires_ms {
        return Err(OtpError::Expired);
    }
    if now < challenge.next_attempt_ms {
        let wait = (challenge.next_attempt_ms - now).max(0) as u64;
        return Err(OtpError::Backoff { retry_after: Duration::from_millis(wait) });
    }
    if constant_time_eq(hash_code(&challenge.id, code).as_bytes(), challenge.code_hash.as_bytes()) {
        if !otp::consume(db, &challenge.id, now, MAX_ATTEMPTS).await? {
            // Another request used it (or it expired) between the read and now.
            return Err(OtpError::Used);
        }
        return Ok(citizens::upsert(db, &challenge.national_id, &challenge.mobile).await?);
    }
    let backoff = settings.otp_backoff.as_millis() as i64;
    let next = now + backoff.saturating_mul(1 << challenge.attempts.clamp(0, 16));
    match otp::record_failure(db, &challenge.id, next, MAX_ATTEMPTS).await? {
        Some(attempts) if attempts >= MAX_ATTEMPTS => Err(OtpError::Locked),
        Some(attempts) => Err(OtpError::Wrong { remaining: MAX_ATTEMPTS - attempts }),
        None => Err(OtpError::Used),
    }
}
