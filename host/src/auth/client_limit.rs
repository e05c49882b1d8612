//! Per-client token buckets in front of requests that cost the host work without anyone
//! signed in: anonymous inquiries (an adapter call, perhaps an agency's back-end, and an
//! evidence row each) and the start of single sign-on (a database row each).
//!
//! Clients are told apart as the sign-in limit tells them apart
//! ([`super::throttle::ClientAddr`]: the TCP peer, or the client a trusted proxy
//! names; IPv6 by /64). The buckets live in this process: with N replicas behind a load
//! balancer a client may get up to N times the budget. That is accepted here, because
//! these limits shed load rather than guard a secret (unlike the sign-in limits, which
//! must hold across replicas). The API refuses with a 429 (`api::errors::admit_client`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::throttle::bucket;

/// Checks between two sweeps of buckets that have refilled.
const SWEEP_EVERY: u32 = 4096;

/// One kind of request, limited per client address.
#[derive(Debug)]
pub struct ClientLimit {
    /// `None` when the operator turned the limit off.
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU32,
}

impl ClientLimit {
    /// `per_minute` requests a minute after a burst of as many; `None` never refuses.
    pub fn per_minute(per_minute: Option<u32>) -> Self {
        let limiter =
            per_minute.and_then(NonZeroU32::new).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)));
        ClientLimit { limiter, checks: AtomicU32::new(0) }
    }

    /// Takes a token for `client`, or says how long until one is free.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        // Buckets that have refilled hold nothing worth keeping: drop them now and then,
        // so that clients seen once do not accumulate.
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&bucket(client)).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The per-client limits of the host, besides sign-in's.
#[derive(Debug)]
pub struct ClientLimits {
    /// Inquiries without a session (`[server] anonymous-inquiries-per-minute`).
    pub anonymous_inquiries: ClientLimit,
    /// Single sign-on started at `/auth/login` (`[oidc] login-client-per-minute`).
    pub sso_logins: ClientLimit,
}

impl ClientLimits {
    pub fn new(config: &crate::config::Config) -> Self {
        ClientLimits {
            anonymous_inquiries: ClientLimit::per_minute(config.server.anonymous_inquiries_per_minute),
            sso_logins: ClientLimit::per_minute(config.oidc.as_ref().and_then(|o| o.login_client_per_minute)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_not_affected() {
        let limit = ClientLimit::per_minute(Some(2));
        let client: IpAddr = "2001:db8:7:7::1".parse().unwrap();
        assert!(limit.check(client).is_ok());
        assert!(limit.check("2001:db8:7:7::2".parse().unwrap()).is_ok(), "the same /64");
        let wait = limit.check(client).unwrap_err();
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limit.check("192.0.2.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn no_limit_never_refuses() {
        let limit = ClientLimit::per_minute(None);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        assert!((0..1000).all(|_| limit.check(client).is_ok()));
        assert!(ClientLimit::per_minute(Some(0)).check(client).is_ok());
    }
}
