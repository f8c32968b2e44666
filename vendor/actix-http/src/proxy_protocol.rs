//! Patched (hbnb): the PROXY protocol, versions 1 and 2 (HAProxy's `send-proxy` and
//! `send-proxy-v2`, Nginx's `listen ... proxy_protocol`), on the TCP listeners that ask for it.
//!
//! A load balancer in front of the server opens its own connections; the PROXY header it writes
//! first on each names the client's address. On a listener registered with [`expect_on`], every
//! connection must start with one: it is read and stripped before anything else (before the TLS
//! handshake on a TLS listener), and its source address becomes the connection's peer address
//! (`HttpRequest::peer_addr`). A connection without a valid header in time is closed unanswered,
//! as Nginx closes it. `LOCAL` (v2), `UNKNOWN` (v1) and non-IP families keep the real peer
//! address, as the specification asks. Unix-socket listeners never read one.
//!
//! The header is read with `peek` (so that the stream stays a `TcpStream`, and the client's
//! first bytes sent in the same segment stay in the socket for HTTP): bytes known to belong to
//! the header are taken off as soon as they are seen, so an incomplete header waits for more
//! instead of spinning over the same peeked bytes.
//!
//! Spec: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.

use std::{
    cell::RefCell,
    collections::HashMap,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        RwLock,
    },
    time::Duration,
};

use tokio::net::TcpStream;

/// A v1 header's longest form, CRLF included (the specification's bound).
pub const V1_MAX_LEN: usize = 107;
/// The v2 signature, the first 12 bytes of a v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v2 header accepted: the 16 fixed bytes and 520 of addresses and TLVs (HAProxy's
/// bound too); a longer announced length is refused before it is read.
pub const V2_MAX_LEN: usize = 536;

const V1_PREFIX: &[u8] = b"PROXY ";

/// A complete header: how many bytes it takes, and the client it names (`None`: use the
/// connection's own peer address: `LOCAL`, `UNKNOWN`, `AF_UNSPEC`, `AF_UNIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: usize,
    pub source: Option<SocketAddr>,
}

/// Why the bytes are not a PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid PROXY protocol header: {}", self.0)
    }
}

impl std::error::Error for Invalid {}

/// Parses the start of a connection: `Ok(Some(header))` when a whole header is there,
/// `Ok(None)` when what is there may still become one (incomplete), `Err` as soon as it cannot.
pub fn parse(buf: &[u8]) -> Result<Option<Header>, Invalid> {
    match buf.first() {
        None => Ok(None),
        Some(b'\r') => parse_v2(buf),
        Some(b'P') => parse_v1(buf),
        Some(_) => Err(Invalid("no PROXY signature")),
    }
}

fn parse_v1(buf: &[u8]) -> Result<Option<Header>, Invalid> {
    let prefix = buf.len().min(V1_PREFIX.len());
    if buf[..prefix] != V1_PREFIX[..prefix] {
        return Err(Invalid("no PROXY signature"));
    }
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= V1_MAX_LEN {
            Err(Invalid("v1 line longer than 107 bytes"))
        } else {
            Ok(None)
        };
    };
    if newline == 0 || window[newline - 1] != b'\r' {
        return Err(Invalid("v1 line not ended by CRLF"));
    }
    let line = std::str::from_utf8(&window[V1_PREFIX.len()..newline - 1])
        .map_err(|_| Invalid("v1 line not ASCII"))?;
    let len = newline + 1;
    let mut fields = line.split(' ');
    let source = match fields.next() {
        // The rest of the line is to be ignored.
        Some("UNKNOWN") => None,
        Some(family @ ("TCP4" | "TCP6")) => {
            let mut next = || fields.next().ok_or(Invalid("v1 line too short"));
            let (source, destination) = (next()?, next()?);
            let (source_port, _destination_port) = (port(next()?)?, port(next()?)?);
            if fields.next().is_some() {
                return Err(Invalid("v1 line too long"));
            }
            let ip = |text: &str| -> Result<IpAddr, Invalid> {
                if family == "TCP4" {
                    text.parse::<Ipv4Addr>().map(IpAddr::V4)
                } else {
                    text.parse::<Ipv6Addr>().map(IpAddr::V6)
                }
                .map_err(|_| Invalid("v1 address"))
            };
            let source = ip(source)?;
            ip(destination)?;
            Some(SocketAddr::new(source, source_port))
        }
        _ => return Err(Invalid("v1 protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    Ok(Some(Header { len, source }))
}

/// A v1 port: 1 to 5 digits, at most 65535 (no sign, unlike `u16::from_str`).
fn port(text: &str) -> Result<u16, Invalid> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid("v1 port"));
    }
    text.parse().map_err(|_| Invalid("v1 port"))
}

fn parse_v2(buf: &[u8]) -> Result<Option<Header>, Invalid> {
    let prefix = buf.len().min(V2_SIGNATURE.len());
    if buf[..prefix] != V2_SIGNATURE[..prefix] {
        return Err(Invalid("no PROXY signature"));
    }
    if buf.len() < 16 {
        return Ok(None);
    }
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Err(Invalid("v2 version is not 2"));
    }
    if command > 1 {
        return Err(Invalid("v2 command is neither LOCAL nor PROXY"));
    }
    let family = buf[13];
    let body = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + body;
    if len > V2_MAX_LEN {
        return Err(Invalid("v2 header longer than 536 bytes"));
    }
    // The family is checked before all of it has come: garbage is refused early.
    let needed = match family {
        0x00 => 0,   // AF_UNSPEC
        0x11 => 12,  // TCP over IPv4: 2 addresses, 2 ports
        0x21 => 36,  // TCP over IPv6
        0x31 => 216, // AF_UNIX stream
        _ if command == 0 => 0,
        _ => {
            return Err(Invalid(
                "v2 family is not TCP over IPv4, IPv6, or UNSPEC/UNIX",
            ))
        }
    };
    if body < needed {
        return Err(Invalid("v2 length shorter than its addresses"));
    }
    if buf.len() < len {
        return Ok(None);
    }
    // LOCAL: the proxy's own connection (a health check); the addresses, if any, are ignored.
    if command == 0 {
        return Ok(Some(Header { len, source: None }));
    }
    let addresses = &buf[16..];
    let source = match family {
        0x11 => {
            let ip = Ipv4Addr::new(addresses[0], addresses[1], addresses[2], addresses[3]);
            let port = u16::from_be_bytes([addresses[8], addresses[9]]);
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        0x21 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&addresses[..16]);
            let port = u16::from_be_bytes([addresses[32], addresses[33]]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        _ => None,
    };
    // TLVs (after the addresses, up to `len`) are skipped.
    Ok(Some(Header { len, source }))
}

/// Set once any listener expects the header: the common case (none) costs one relaxed load.
static ANY: AtomicBool = AtomicBool::new(false);
static LISTENERS: RwLock<Vec<SocketAddr>> = RwLock::new(Vec::new());
/// How long a connection has to send its whole header (milliseconds).
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(5_000);

/// Connections accepted on the TCP listener bound to `local` (an unspecified address matches
/// every local address of its port) must start with a PROXY header, sent within `timeout`.
/// Call it before the listener's first connection is accepted.
pub fn expect_on(local: SocketAddr, timeout: Duration) {
    let mut listeners = LISTENERS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    listeners.push(local);
    TIMEOUT_MS.store(
        u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1),
        Ordering::Relaxed,
    );
    ANY.store(true, Ordering::Release);
}

/// The connection was accepted on a listener that expects a PROXY header.
pub(crate) fn expected(io: &TcpStream) -> bool {
    if !ANY.load(Ordering::Acquire) {
        return false;
    }
    let Ok(local) = io.local_addr() else {
        return true;
    };
    let local_ip = local.ip().to_canonical();
    let listeners = LISTENERS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    listeners.iter().any(|listener| {
        listener.port() == local.port()
            && (listener.ip().is_unspecified() || listener.ip().to_canonical() == local_ip)
    })
}

/// Reads and strips the connection's PROXY header; the client it names (`None`: the peer).
/// An error (invalid, closed, too slow) means the connection is to be closed.
pub(crate) async fn read_header(io: &TcpStream) -> io::Result<Option<SocketAddr>> {
    let timeout = Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed));
    match tokio::time::timeout(timeout, read(io)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no PROXY protocol header in time",
        )),
    }
}

async fn read(io: &TcpStream) -> io::Result<Option<SocketAddr>> {
    let mut buf = [0u8; V2_MAX_LEN];
    // Bytes taken off the socket so far: all of them part of the header.
    let mut taken = 0;
    loop {
        let peeked = io.peek(&mut buf[taken..]).await?;
        if peeked == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let seen = taken + peeked;
        match parse(&buf[..seen]) {
            Err(invalid) => return Err(io::Error::new(io::ErrorKind::InvalidData, invalid)),
            Ok(Some(header)) => {
                take(io, &mut buf[taken..header.len]).await?;
                return Ok(header.source);
            }
            Ok(None) if seen == buf.len() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    Invalid("header too long"),
                ))
            }
            Ok(None) => {
                take(io, &mut buf[taken..seen]).await?;
                taken = seen;
            }
        }
    }
}

/// Reads exactly `buf.len()` bytes (already seen by `peek`).
async fn take(io: &TcpStream, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        io.readable().await?;
        match io.try_read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = &mut buf[n..],
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

thread_local! {
    /// TLS connections' header sources, from the header's read to the end of the handshake, by
    /// socket: the TLS acceptor in between takes and gives a bare `TcpStream`. A worker's
    /// connections stay on its thread; an entry left by a failed handshake is replaced by the
    /// next connection that gets the same descriptor (each one on these listeners sets its own).
    static TLS_SOURCES: RefCell<HashMap<i32, Option<SocketAddr>>> = RefCell::new(HashMap::new());
}

#[cfg(unix)]
pub(crate) fn keep_for_tls(io: &TcpStream, source: Option<SocketAddr>) {
    use std::os::fd::AsRawFd;
    let fd = io.as_raw_fd();
    TLS_SOURCES.with(|sources| sources.borrow_mut().insert(fd, source));
}

/// The source kept for the connection (`None`: none was kept, or the header named none).
#[cfg(unix)]
pub(crate) fn take_for_tls(io: &TcpStream) -> Option<SocketAddr> {
    use std::os::fd::AsRawFd;
    let fd = io.as_raw_fd();
    TLS_SOURCES.with(|sources| sources.borrow_mut().remove(&fd).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(text: &str) -> Result<Option<Header>, Invalid> {
        parse(text.as_bytes())
    }

    fn source(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        header.extend_from_slice(body);
        header
    }

    fn v2_tcp4() -> Vec<u8> {
        v2(1, 0x11, &[198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 80])
    }

    #[test]
    fn v1_tcp4_tcp6_unknown() {
        let line = "PROXY TCP4 198.51.100.9 10.0.0.1 8080 80\r\n";
        assert_eq!(
            v1(&format!("{line}GET / HTTP/1.1\r\n")),
            Ok(Some(Header {
                len: line.len(),
                source: source("198.51.100.9:8080")
            }))
        );
        let line = "PROXY TCP6 2001:db8::9 2001:db8::1 65535 443\r\n";
        assert_eq!(
            v1(line),
            Ok(Some(Header {
                len: line.len(),
                source: source("[2001:db8::9]:65535")
            }))
        );
        assert_eq!(
            v1("PROXY UNKNOWN\r\n"),
            Ok(Some(Header {
                len: 15,
                source: None
            }))
        );
        let line = "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert_eq!(v1(line).unwrap().unwrap().len, line.len());
        // The longest valid line is accepted.
        let line = format!(
            "PROXY UNKNOWN {0} {0} 65535 65535\r\n",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(line.len(), V1_MAX_LEN);
        assert_eq!(v1(&line).unwrap().unwrap().len, V1_MAX_LEN);
    }

    #[test]
    fn v1_incomplete_until_its_crlf() {
        let line = "PROXY TCP4 198.51.100.9 10.0.0.1 8080 80\r\n";
        for end in 0..line.len() {
            assert_eq!(v1(&line[..end]), Ok(None), "{:?}", &line[..end]);
        }
    }

    #[test]
    fn v1_hostile() {
        for bad in [
            "GET / HTTP/1.1\r\n",
            "PROXZ TCP4",
            "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
            "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 000001 2\r\n",
            "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
            "PROXY TCP4 2001:db8::1 5.6.7.8 1 2\r\n",
            "PROXY TCP6 1.2.3.4 2001:db8::1 1 2\r\n",
            "PROXY TCP4 1.2.3.4 nope 1 2\r\n",
            "PROXY \r\n",
            "PROXY\r\n",
        ] {
            assert!(v1(bad).is_err(), "{bad:?} accepted: {:?}", v1(bad));
        }
        // Non-ASCII, and too long without a CRLF.
        assert!(parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \xff\r\n").is_err());
        let long = format!("PROXY UNKNOWN {}", "x".repeat(200));
        assert!(v1(&long[..V1_MAX_LEN - 1]).unwrap().is_none());
        assert!(v1(&long[..V1_MAX_LEN]).is_err());
        assert!(v1(&long).is_err());
        let late = format!("PROXY UNKNOWN {}\r\n", "x".repeat(V1_MAX_LEN));
        assert!(v1(&late).is_err(), "a CRLF past 107 bytes is too late");
        // Garbage is refused at its first byte, not after a wait.
        assert!(parse(b"G").is_err());
        assert!(parse(b"\x16\x03\x01").is_err(), "a TLS ClientHello");
        assert!(parse(b"PRI * HTTP/2.0").is_err());
    }

    #[test]
    fn v2_proxy_local_and_families() {
        let header = v2_tcp4();
        let mut with_data = header.clone();
        with_data.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            parse(&with_data),
            Ok(Some(Header {
                len: 28,
                source: source("198.51.100.9:8080")
            }))
        );
        let mut body = Vec::new();
        body.extend_from_slice(&"2001:db8::9".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        body.extend_from_slice(&[0x1f, 0x90, 1, 187]);
        assert_eq!(
            parse(&v2(1, 0x21, &body)),
            Ok(Some(Header {
                len: 52,
                source: source("[2001:db8::9]:8080")
            }))
        );
        // TLVs after the addresses are skipped.
        let mut tlvs = v2_tcp4()[16..].to_vec();
        tlvs.extend_from_slice(&[0x04, 0, 3, b'a', b'b', b'c', 0x03, 0, 4, 1, 2, 3, 4]);
        assert_eq!(
            parse(&v2(1, 0x11, &tlvs)),
            Ok(Some(Header {
                len: 16 + tlvs.len(),
                source: source("198.51.100.9:8080")
            }))
        );
        // LOCAL (a health check), UNSPEC and UNIX: the real peer.
        assert_eq!(
            parse(&v2(0, 0x00, &[])),
            Ok(Some(Header {
                len: 16,
                source: None
            }))
        );
        assert_eq!(
            parse(&v2(0, 0x11, &v2_tcp4()[16..]))
                .unwrap()
                .unwrap()
                .source,
            None
        );
        assert_eq!(parse(&v2(1, 0x00, &[])).unwrap().unwrap().source, None);
        assert_eq!(
            parse(&v2(1, 0x31, &[0; 216])).unwrap().unwrap().source,
            None
        );
        // The bound itself is accepted.
        let largest = v2(1, 0x11, &[0; V2_MAX_LEN - 16]);
        assert_eq!(parse(&largest).unwrap().unwrap().len, V2_MAX_LEN);
    }

    #[test]
    fn v2_incomplete_until_its_length() {
        let header = v2_tcp4();
        for end in 0..header.len() {
            assert_eq!(parse(&header[..end]), Ok(None), "{end} bytes");
        }
    }

    #[test]
    fn v2_hostile() {
        let mut wrong_signature = v2_tcp4();
        wrong_signature[7] = b'X';
        assert!(parse(&wrong_signature).is_err());
        assert!(parse(&wrong_signature[..8]).is_err(), "refused at once");
        let mut version_1 = v2_tcp4();
        version_1[12] = 0x11;
        assert!(parse(&version_1).is_err());
        let mut command_2 = v2_tcp4();
        command_2[12] = 0x22;
        assert!(parse(&command_2).is_err());
        // UDP, and unknown families.
        assert!(parse(&v2(1, 0x12, &v2_tcp4()[16..])).is_err());
        assert!(parse(&v2(1, 0x41, &[0; 12])).is_err());
        // A length shorter than the family's addresses.
        assert!(parse(&v2(1, 0x11, &[198, 51, 100, 9])).is_err());
        assert!(parse(&v2(1, 0x21, &[0; 12])).is_err());
        // A length over the bound is refused from the fixed part alone, before its body comes.
        let mut oversized = v2_tcp4()[..16].to_vec();
        oversized[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(parse(&oversized).is_err());
        oversized[14..16].copy_from_slice(&u16::try_from(V2_MAX_LEN - 15).unwrap().to_be_bytes());
        assert!(parse(&oversized).is_err());
        // Garbage of every first byte is refused or waits for a signature it could still be.
        for first in 0..=255u8 {
            let result = parse(&[first, b'x']);
            assert!(result.is_err(), "{first}: {result:?}");
        }
    }
}
