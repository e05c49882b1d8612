//! Per-client token buckets in front of sign-in: `/auth/otp/*` and the portal's sign-in
//! forms. The one-time-code rules already limit each national ID and mobile; this limits
//! what one client address may try across many of them (enumeration, SMS bombing).
//!
//! IPv6 clients are counted by their /64, the block one subscriber gets.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Checks between two sweeps of buckets that have refilled.
const SWEEP_EVERY: u32 = 4096;

/// The sign-in limiter; `None` inside when the operator turned the limit off.
#[derive(Debug)]
pub struct Throttle {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU32,
}

impl Throttle {
    /// `per_minute` requests a minute after a burst of as many; 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)));
        Throttle { limiter, checks: AtomicU32::new(0) }
    }

    /// Takes a token for `client`, or says how long until one is free.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&bucket(client)).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The key a client is counted under.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The address a request came from (the TCP peer); unspecified when the server was not
/// started with connection info, which then shares one bucket.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientAddr(peer.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits() {
        let throttle = Throttle::new(3);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.check(client).is_ok());
        }
        let wait = throttle.check(client).unwrap_err();
        assert!(wait > Duration::from_secs(10) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(throttle.check("192.0.2.8".parse().unwrap()).is_ok(), "another client has its own bucket");
    }

    #[test]
    fn an_ipv6_subscriber_is_one_client() {
        let throttle = Throttle::new(1);
        assert!(throttle.check("2001:db8:1:2::1".parse().unwrap()).is_ok());
        assert!(throttle.check("2001:db8:1:2:ffff::9".parse().unwrap()).is_err(), "same /64");
        assert!(throttle.check("2001:db8:1:3::1".parse().unwrap()).is_ok(), "another /64");
        assert!(throttle.check("::ffff:192.0.2.1".parse().unwrap()).is_ok());
        assert!(throttle.check("192.0.2.1".parse().unwrap()).is_err(), "a mapped v4 address is the v4 client");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let throttle = Throttle::new(0);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        assert!((0..1000).all(|_| throttle.check(client).is_ok()));
    }
}
