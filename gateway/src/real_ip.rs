//! The real client behind a load balancer (issue 30), as Nginx's realip module finds it with
//! `set_real_ip_from CIDR; real_ip_header X-Forwarded-For; real_ip_recursive on;`.
//!
//! `TRUSTED_PROXIES` (or the configuration file's `trusted_proxies`) lists the proxies whose
//! `X-Forwarded-For` is believed. When the connection comes from one of them, the client is the
//! rightmost address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends
//! the address it got the request from, so the entries right of the client are the proxies');
//! when every entry is trusted, the leftmost. With no trusted proxy (the default) the header is
//! never read: the client is the connection's peer, as at the edge.
//!
//! A CIDR list of our own rather than the `ipnet` crate: a prefix compare over `u32`/`u128` is
//! all it takes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::HeaderValue;

/// One `address/prefix` block (or one address: the whole width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`, `::1`. Host bits past the prefix are refused
    /// (`10.0.0.1/8` is most likely a typo), as Nginx warns of them.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an address or CIDR"))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(prefix) => match prefix.parse::<u8>() {
                Ok(prefix) if prefix <= width => prefix,
                _ => return Err(format!("{text:?}: the prefix must be 0 to {width}")),
            },
        };
        // `::ffff:10.0.0.0/104` is the IPv4 block it maps; clients are compared canonical.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let cidr = Cidr { addr, prefix };
        if cidr.network() != addr {
            return Err(format!(
                "{text:?} has host bits set past /{prefix} (the block is {}/{prefix})",
                cidr.network()
            ));
        }
        Ok(cidr)
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(self.prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(self.prefix))),
        }
    }

    /// `ip` (canonical: an IPv4-mapped address is its IPv4 one) is in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                (u32::from(ip) ^ u32::from(net)) & mask32(self.prefix) == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                (u128::from(ip) ^ u128::from(net)) & mask128(self.prefix) == 0
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed; empty: none (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Each entry an address or a CIDR block; every error at once, by entry.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut blocks = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            match Cidr::parse(entry) {
                Ok(block) => blocks.push(block),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(TrustedProxies(blocks))
        } else {
            Err(problems.join("; "))
        }
    }

    /// The `TRUSTED_PROXIES` form: comma-separated.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        Self::parse(list.split(','))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The client of a request that came from `peer` (canonical) with these `X-Forwarded-For`
    /// values (in the order received). Nothing is parsed unless `peer` is trusted.
    ///
    /// The walk goes from the right: a trusted entry passes it on to the one before it; the first
    /// untrusted entry is the client; when all are trusted, the leftmost. An entry that is not an
    /// address (empty, a name, `unknown`, garbage) stops the walk and the last good address is
    /// the client: the peer itself when the rightmost entry is bad. That is what Nginx's
    /// `real_ip_recursive on` ends with too (its parse fails there and it keeps the address it
    /// had), and it never goes past what a trusted proxy wrote. `1.2.3.4:80` and `[::1]:80`
    /// (an address with a port, as some proxies write it) count as their address.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a HeaderValue>,
    ) -> IpAddr {
        if self.0.is_empty() || !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        for value in forwarded_for.rev() {
            let Ok(value) = value.to_str() else {
                return client;
            };
            for entry in value.rsplit(',') {
                match parse_entry(entry.trim()) {
                    Some(ip) => {
                        client = ip;
                        if !self.contains(ip) {
                            return client;
                        }
                    }
                    None => return client,
                }
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry's address (canonical), with or without a port.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, block) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{block}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse_list(list).unwrap()
    }

    fn client(trusted: &TrustedProxies, peer: &str, xff: &[&str]) -> IpAddr {
        let values: Vec<HeaderValue> = xff
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        trusted.client(ip(peer), values.iter())
    }

    #[test]
    fn blocks_and_addresses() {
        let list = trusted("10.0.0.0/8, 192.168.1.7,::1, 2001:db8::/32,0.0.0.0/0");
        assert_eq!(
            list.to_string(),
            "10.0.0.0/8,192.168.1.7/32,::1/128,2001:db8::/32,0.0.0.0/0"
        );
        let list = trusted("10.0.0.0/8,192.168.1.7,::1,2001:db8::/32");
        assert!(list.contains(ip("10.255.1.2")));
        assert!(!list.contains(ip("11.0.0.1")));
        assert!(list.contains(ip("192.168.1.7")));
        assert!(!list.contains(ip("192.168.1.8")));
        assert!(list.contains(ip("::1")));
        assert!(list.contains(ip("2001:db8:ffff::9")));
        assert!(!list.contains(ip("2001:db9::1")));
        assert!(
            !list.contains(ip("::ffff:10.0.0.1")),
            "clients are compared canonical: the caller maps"
        );
        assert!(trusted("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
        assert!(trusted("0.0.0.0/0").contains(ip("203.0.113.7")));
        assert!(!trusted("0.0.0.0/0").contains(ip("::2")));
        assert!(trusted("::/0").contains(ip("::2")));
        assert!(TrustedProxies::parse_list("").unwrap().is_empty());
        assert!(TrustedProxies::parse_list(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_refused_each_named() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0/8",
            "localhost",
            "10.0.0.1/8",
            "10.0.0.0/-1",
            "2001:db8::1/32",
        ] {
            let error = TrustedProxies::parse_list(bad).unwrap_err();
            assert!(error.contains(bad), "{bad}: {error}");
        }
        let error = TrustedProxies::parse_list("10.0.0.0/8,nope,::1/200").unwrap_err();
        assert!(
            error.contains("nope") && error.contains("::1/200"),
            "{error}"
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let list = trusted("127.0.0.1/32,10.0.0.0/8");
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        // A client's own forged entries are left of the address the first proxy saw.
        assert_eq!(
            client(&list, "127.0.0.1", &["1.1.1.1, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // Across header lines, the last line's last entry is the rightmost.
        assert_eq!(
            client(&list, "127.0.0.1", &["1.1.1.1", "203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        // All trusted: the leftmost.
        assert_eq!(
            client(&list, "127.0.0.1", &["10.1.1.1, 10.0.0.2"]),
            ip("10.1.1.1")
        );
        // No header: the peer.
        assert_eq!(client(&list, "127.0.0.1", &[]), ip("127.0.0.1"));
        // IPv6 and mapped entries, ports.
        assert_eq!(
            client(&list, "127.0.0.1", &["2001:db8::7"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            client(&list, "127.0.0.1", &["::ffff:203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7:5555"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client(&list, "127.0.0.1", &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_writes() {
        let list = trusted("10.0.0.0/8");
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7"]),
            ip("127.0.0.1")
        );
        let none = TrustedProxies::default();
        assert_eq!(client(&none, "10.0.0.1", &["203.0.113.7"]), ip("10.0.0.1"));
    }

    #[test]
    fn a_bad_entry_stops_the_walk_at_the_last_good_address() {
        let list = trusted("127.0.0.1,10.0.0.0/8");
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7, nope"]),
            ip("127.0.0.1")
        );
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7, garbage, 10.0.0.2"]),
            ip("10.0.0.2")
        );
        assert_eq!(
            client(&list, "127.0.0.1", &["203.0.113.7,,10.0.0.2"]),
            ip("10.0.0.2")
        );
        assert_eq!(client(&list, "127.0.0.1", &[""]), ip("127.0.0.1"));
        assert_eq!(client(&list, "127.0.0.1", &["unknown"]), ip("127.0.0.1"));
        let long = vec!["10.0.0.3"; 1000].join(",");
        assert_eq!(client(&list, "127.0.0.1", &[&long]), ip("10.0.0.3"));
        let opaque = HeaderValue::from_bytes(b"203.0.113.7, \xff").unwrap();
        assert_eq!(
            list.client(ip("127.0.0.1"), [opaque].iter()),
            ip("127.0.0.1")
        );
    }
}
