//! The egress policy: which destinations and which resolved addresses an adapter may reach.
//!
//! Two layers, both deny-by-default:
//!
//! 1. the destination `host:port` of the URL must be in the adapter's grant;
//! 2. every address the host resolved must be a public unicast address, unless that exact
//!    `ip:port` was granted too. Loopback, private, link-local, cloud-metadata, shared
//!    (CGNAT), documentation, multicast and other special ranges are refused, including
//!    when they hide inside IPv6 (IPv4-mapped, NAT64, 6to4).
//!
//! Checking resolved addresses, not only names, is what stops DNS rebinding: a granted
//! name that resolves to `127.0.0.1` or `169.254.169.254` is refused, and the host then
//! connects to exactly the address it checked.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A special-purpose address range that adapters may not reach unless granted by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restricted {
    /// `0.0.0.0/8`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `fc00::/7`.
    UniqueLocal,
    /// `169.254.0.0/16`, `fe80::/10` (and the deprecated site-local `fec0::/10`).
    LinkLocal,
    /// `169.254.169.254`, `fd00:ec2::254`: cloud instance metadata.
    CloudMetadata,
    /// `100.64.0.0/10`: carrier-grade NAT.
    SharedAddressSpace,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Protocol assignments, relays, tunnels, future use and anything outside global
    /// unicast (`192.0.0.0/24`, `240.0.0.0/4`, `64:ff9b:1::/48`, Teredo, ORCHID, ...).
    Reserved,
}

impl fmt::Display for Restricted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restricted::Unspecified => "an unspecified address",
            Restricted::Loopback => "a loopback address",
            Restricted::Private => "a private address",
            Restricted::UniqueLocal => "a unique-local (private) address",
            Restricted::LinkLocal => "a link-local address",
            Restricted::CloudMetadata => "a cloud metadata address",
            Restricted::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Restricted::Multicast => "a multicast address",
            Restricted::Broadcast => "the broadcast address",
            Restricted::Documentation => "a documentation address",
            Restricted::Benchmarking => "a benchmarking address",
            Restricted::Reserved => "a reserved address",
        })
    }
}

/// The range `ip` belongs to, or `None` when it is an ordinary public unicast address.
pub fn restricted(ip: IpAddr) -> Option<Restricted> {
    match ip {
        IpAddr::V4(v4) => restricted_v4(v4),
        IpAddr::V6(v6) => restricted_v6(v6),
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<Restricted> {
    let [a, b, c, d] = ip.octets();
    Some(match (a, b, c, d) {
        (0, ..) => Restricted::Unspecified,
        (127, ..) => Restricted::Loopback,
        (10, ..) | (172, 16..=31, ..) | (192, 168, ..) => Restricted::Private,
        (169, 254, 169, 254) => Restricted::CloudMetadata,
        (169, 254, ..) => Restricted::LinkLocal,
        (100, 64..=127, ..) => Restricted::SharedAddressSpace,
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => Restricted::Documentation,
        (198, 18..=19, ..) => Restricted::Benchmarking,
        (255, 255, 255, 255) => Restricted::Broadcast,
        (224..=239, ..) => Restricted::Multicast,
        // 192.0.0.0/24 protocol assignments, 192.88.99.0/24 the old 6to4 relay, 240/4.
        (192, 0, 0, _) | (192, 88, 99, _) | (240..=255, ..) => Restricted::Reserved,
        _ => return None,
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<Restricted> {
    let s = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if ip.is_unspecified() {
        return Some(Restricted::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Restricted::Loopback);
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(Restricted::CloudMetadata);
    }
    // Addresses that carry an IPv4 address are judged by it (and refused when unknown).
    match s {
        // ::ffff:a.b.c.d (IPv4-mapped) and 64:ff9b::a.b.c.d (NAT64).
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return restricted_v4(embedded_v4(hi, lo));
        }
        // ::a.b.c.d (the deprecated IPv4-compatible form) and ::ffff:0:a.b.c.d (SIIT).
        [0, 0, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => return Some(Restricted::Reserved),
        // 2002:AABB:CCDD::/48 (6to4) routes to the embedded IPv4 address.
        [0x2002, hi, lo, ..] => return restricted_v4(embedded_v4(hi, lo)),
        _ => {}
    }
    Some(match s[0] {
        0xfc00..=0xfdff => Restricted::UniqueLocal,
        0xfe80..=0xfeff => Restricted::LinkLocal,
        0xff00..=0xffff => Restricted::Multicast,
        0x2001 if s[1] == 0xdb8 => Restricted::Documentation,
        0x3fff if s[1] <= 0x0fff => Restricted::Documentation,
        0x2001 if s[1] == 0x0002 && s[2] == 0 => Restricted::Benchmarking,
        // 2001::/23 is IETF protocol assignments (Teredo 2001::/32, ORCHID, ...).
        0x2001 if s[1] < 0x0200 => Restricted::Reserved,
        // Only 2000::/3 is global unicast.
        0x2000..=0x3fff => return None,
        _ => Restricted::Reserved,
    })
}

/// One outbound destination: a lowercase host name or a canonical address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Destination {
    /// A lowercase name (`api.agency.ir`) or an address in canonical form (`127.0.0.1`,
    /// `[::1]`).
    pub host: String,
    pub port: u16,
}

impl Destination {
    /// Parses a granted `host:port` (IPv6 addresses in brackets), normalizing the host.
    pub fn parse(text: &str) -> Option<Destination> {
        let (host, port) = text.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let host = host.to_ascii_lowercase();
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&host);
        let host = match bare.parse::<IpAddr>() {
            Ok(ip) => Destination::for_ip(ip, port).host,
            Err(_) if host.is_empty() || host.contains(['[', ']', '/', '@', ' ']) => return None,
            Err(_) => host,
        };
        Some(Destination { host, port })
    }

    /// The destination of an address, written as in a grant.
    pub fn for_ip(ip: IpAddr, port: u16) -> Destination {
        let host = match ip.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        Destination { host, port }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Why the policy refused a destination or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The `host:port` is not in the grant.
    #[error("outbound HTTP to `{0}` is not granted to this adapter")]
    Destination(Destination),
    /// A resolved address is in a restricted range and was not granted by address.
    #[error("`{destination}` resolves to {ip}, {range}, which is not granted to this adapter")]
    Address { destination: Destination, ip: IpAddr, range: Restricted },
}

/// The destinations one adapter may reach.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    granted: BTreeSet<Destination>,
}

impl EgressPolicy {
    /// The policy for granted `host:port` entries; malformed entries grant nothing.
    pub fn new<'a>(granted: impl IntoIterator<Item = &'a String>) -> EgressPolicy {
        EgressPolicy { granted: granted.into_iter().filter_map(|d| Destination::parse(d)).collect() }
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.granted.is_empty()
    }

    /// Layer 1: the URL's destination must be granted.
    pub fn check_destination(&self, destination: &Destination) -> Result<(), Refused> {
        if self.granted.contains(destination) { Ok(()) } else { Err(Refused::Destination(destination.clone())) }
    }

    /// Layer 2: a resolved address must be public, or granted as that exact `ip:port`.
    pub fn check_address(&self, destination: &Destination, addr: SocketAddr) -> Result<(), Refused> {
        let ip = addr.ip().to_canonical();
        match restricted(ip) {
            None => Ok(()),
            Some(_) if self.granted.contains(&Destination::for_ip(ip, addr.port())) => Ok(()),
            Some(range) => Err(Refused::Address { destination: destination.clone(), ip, range }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ranges_are_restricted() {
        let cases = [
            ("10.0.0.1", Restricted::Private),
            ("172.16.0.1", Restricted::Private),
            ("172.31.255.255", Restricted::Private),
            ("192.168.1.1", Restricted::Private),
            ("127.0.0.1", Restricted::Loopback),
            ("127.255.0.9", Restricted::Loopback),
            ("169.254.169.254", Restricted::CloudMetadata),
            ("169.254.1.1", Restricted::LinkLocal),
            ("100.64.0.1", Restricted::SharedAddressSpace),
            ("100.127.255.254", Restricted::SharedAddressSpace),
            ("0.0.0.0", Restricted::Unspecified),
            ("0.1.2.3", Restricted::Unspecified),
            ("255.255.255.255", Restricted::Broadcast),
            ("224.0.0.1", Restricted::Multicast),
            ("192.0.2.10", Restricted::Documentation),
            ("198.51.100.7", Restricted::Documentation),
            ("203.0.113.1", Restricted::Documentation),
            ("198.18.0.1", Restricted::Benchmarking),
            ("240.0.0.1", Restricted::Reserved),
            ("192.0.0.8", Restricted::Reserved),
            ("::", Restricted::Unspecified),
            ("::1", Restricted::Loopback),
            ("fd00::1", Restricted::UniqueLocal),
            ("fc00::1", Restricted::UniqueLocal),
            ("fd00:ec2::254", Restricted::CloudMetadata),
            ("fe80::1", Restricted::LinkLocal),
            ("fec0::1", Restricted::LinkLocal),
            ("ff02::1", Restricted::Multicast),
            ("2001:db8::1", Restricted::Documentation),
            ("3fff::1", Restricted::Documentation),
            ("2001::1", Restricted::Reserved),
            ("::ffff:10.0.0.1", Restricted::Private),
            ("::ffff:127.0.0.1", Restricted::Loopback),
            ("::ffff:169.254.169.254", Restricted::CloudMetadata),
            ("64:ff9b::10.0.0.1", Restricted::Private),
            ("::10.0.0.1", Restricted::Reserved),
            ("2002:a00:1::1", Restricted::Private),
            ("2002:7f00:1::", Restricted::Loopback),
            ("100::1", Restricted::Reserved),
        ];
        for (address, range) in cases {
            assert_eq!(restricted(ip(address)), Some(range), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "185.143.232.10",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2a01:4f8::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert_eq!(restricted(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn destinations_are_normalized() {
        let d = |s: &str| Destination::parse(s).map(|d| d.to_string());
        assert_eq!(d("API.Agency.IR:443").as_deref(), Some("api.agency.ir:443"));
        assert_eq!(d("[0:0::1]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(d("[::ffff:127.0.0.1]:80").as_deref(), Some("127.0.0.1:80"));
        assert_eq!(d("127.0.0.1:8080").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(d("example.org"), None);
        assert_eq!(d("example.org:http"), None);
        assert_eq!(d("user@example.org:80"), None);
    }

    #[test]
    fn restricted_addresses_pass_only_when_granted_by_address_and_port() {
        let grant = ["api.agency.ir:443".to_owned(), "127.0.0.1:9000".to_owned(), "[::1]:9000".to_owned()];
        let policy = EgressPolicy::new(&grant);
        let name = Destination::parse("api.agency.ir:443").unwrap();
        let sock = |s: &str| s.parse::<SocketAddr>().unwrap();

        assert!(policy.check_destination(&name).is_ok());
        assert!(policy.check_destination(&Destination::parse("api.agency.ir:80").unwrap()).is_err());
        assert!(policy.check_destination(&Destination::parse("evil.example:443").unwrap()).is_err());

        // A public address is fine; the granted name resolving to restricted ones is not.
        assert!(policy.check_address(&name, sock("185.143.232.10:443")).is_ok());
        for refused in [
            "10.0.0.1:443",
            "169.254.169.254:443",
            "[fd00::1]:443",
            "[fe80::1]:443",
            "[::ffff:10.0.0.1]:443",
            "100.64.0.1:443",
            "0.0.0.0:443",
            "127.0.0.1:443",
        ] {
            let error = policy.check_address(&name, sock(refused)).unwrap_err();
            assert!(matches!(error, Refused::Address { .. }), "{refused}");
            assert!(error.to_string().contains("api.agency.ir:443"), "{error}");
        }

        // Loopback is allowed on exactly the granted address and port.
        let local = Destination::parse("127.0.0.1:9000").unwrap();
        assert!(policy.check_address(&local, sock("127.0.0.1:9000")).is_ok());
        assert!(policy.check_address(&local, sock("[::ffff:127.0.0.1]:9000")).is_ok());
        assert!(policy.check_address(&local, sock("[::1]:9000")).is_ok());
        assert!(policy.check_address(&local, sock("127.0.0.1:9001")).is_err());
        assert!(policy.check_address(&local, sock("127.0.0.2:9000")).is_err());
    }

    #[test]
    fn an_empty_grant_refuses_everything() {
        let policy = EgressPolicy::new(std::iter::empty());
        assert!(policy.is_empty());
        assert!(policy.check_destination(&Destination::parse("127.0.0.1:80").unwrap()).is_err());
    }
}
