//! Signing citizens in, once, for every service.
//!
//! Every identity source ends in the same kind of session: a random bearer token (stored
//! only as its SHA-256) bound to a citizen, an assurance level and the source that
//! vouched for it. The built-in OTP provider gives `substantial` assurance; an OpenID
//! Connect login calls [`session::issue`] with `Source::Oidc` and the assurance the
//! operator configured for that provider.
//!
//! # Layout
//!
//! - [`notifier`]: how one-time codes reach the citizen (an SMS gateway; the log only in
//!   `otp = "development"`; memory in tests).
//! - [`ownership`]: whether a mobile belongs to a national ID (the Shahkar registry).
//! - [`otp`]: the built-in identity provider: ownership first, shared limits, codes,
//!   expiry, attempts and back-off.
//! - [`throttle`]: which client a request comes from (through trusted proxies only).
//! - [`oidc`]: the OpenID Connect relying party (code flow, PKCE, ID-token checks).
//! - [`session`]: issuing sessions and the [`Citizen`] request extractor.
//! - [`access`]: a service's `min-assurance` against the session, and handing identity
//!   attributes to adapters (with a data-usage record for each).
//! - [`representation`]: who may act for whom (signatories of legal entities, parents of
//!   minors), asked of the companies and civil registries.
//! - [`return_to`]: the one check of where a browser may be sent back to.

pub mod access;
pub mod client_limit;
pub mod email;
pub mod notifier;
pub mod oidc;
pub mod otp;
pub mod ownership;
pub mod representation;
pub mod return_to;
pub mod session;
pub mod session_cache;
pub mod throttle;

pub use session::Citizen;
