//! Per-client token buckets in front of sign-in: `/auth/otp/*` and the portal's sign-in
//! forms. The one-time-code rules already limit each national ID and mobile; this limits
//! what one client address may try across many of them (enumeration, SMS bombing).
//!
//! IPv6 clients are counted by their /64, the block one subscriber gets.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::app::App;

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
pub fn bucket(ip: IpAddr) -> IpAddr {
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

/// The address a request came from: the TCP peer or, when the peer is a trusted reverse
/// proxy, the nearest address in `X-Forwarded-For` that is not one (earlier entries are
/// the client's own word). Unspecified when the server was not started with connection
/// info, which then shares one bucket.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let peer = peer.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        Ok(ClientAddr(client_of(peer, &parts.headers, &app.config.trusted_proxies)))
    }
}

/// The client behind `peer`, following `X-Forwarded-For` only through trusted proxies.
fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
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
    fn forwarded_for_is_followed_only_through_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let headers = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        let spoofed = headers(&["203.0.113.9, 198.51.100.7"]);
        assert_eq!(
            client_of(ip("192.0.2.1"), &spoofed, &proxies),
            ip("192.0.2.1"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            client_of(ip("10.0.0.1"), &spoofed, &proxies),
            ip("198.51.100.7"),
            "the nearest hop, not the client's claim"
        );
        let chained = headers(&["203.0.113.9", "198.51.100.7, 10.0.0.2"]);
        assert_eq!(client_of(ip("10.0.0.1"), &chained, &proxies), ip("198.51.100.7"), "through two proxies");
        assert_eq!(client_of(ip("10.0.0.1"), &headers(&["junk"]), &proxies), ip("10.0.0.1"));
        assert_eq!(client_of(ip("10.0.0.1"), &HeaderMap::new(), &proxies), ip("10.0.0.1"));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let throttle = Throttle::new(0);
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        assert!((0..1000).all(|_| throttle.check(client).is_ok()));
    }
}
