//! Which client a request comes from: the TCP peer, or the client a trusted reverse proxy
//! names; and the bucket a client is counted under by the per-client limits (sign-in in
//! `auth::otp`, anonymous inquiries and single sign-on in `auth::client_limit`).
//!
//! IPv6 clients are counted by their /64, the block one subscriber gets.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;

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

/// The client behind `peer`, following `X-Forwarded-For` only through trusted proxies.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
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
    fn an_ipv6_subscriber_is_one_client() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:2:ffff::9")), "same /64");
        assert_ne!(bucket(ip("2001:db8:1:2::1")), bucket(ip("2001:db8:1:3::1")), "another /64");
        assert_eq!(bucket(ip("::ffff:192.0.2.1")), ip("192.0.2.1"), "a mapped v4 address is the v4 client");
        assert_ne!(bucket(ip("192.0.2.1")), bucket(ip("192.0.2.2")));
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
}
