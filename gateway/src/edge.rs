//! What a request must look like to go past the gateway, like Nginx's
//! `large_client_header_buffers` and request-line checks: the limits a client meets are the
//! edge's, and every request the edge lets through is one the services accept.
//!
//! - method: 1–32 upper-case letters, `-` or `_` (Nginx refuses lower case too): else 400;
//! - request target longer than `max_uri` bytes: 414;
//! - more than `max_headers` headers (the services' limit, 96, less the ones the gateway adds),
//!   a header line longer than `max_header_line`, or all of them over `max_headers_size`: 431;
//! - `Host`: at most one, a valid `host[:port]` (no spaces, `/`, `@`...), and present in an
//!   HTTP/1.1 request (RFC 9112 §3.2): else 400.

use actix_web::http::{header, Version};
use actix_web::HttpRequest;

use crate::error::ProxyError;

#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    pub max_uri: usize,
    pub max_headers: usize,
    pub max_header_line: usize,
    pub max_headers_size: usize,
}

pub fn check(req: &HttpRequest, limits: &EdgeLimits) -> Result<(), ProxyError> {
    let method = req.method().as_str();
    if method.is_empty()
        || method.len() > 32
        || !method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return Err(ProxyError::BadRequest("invalid method"));
    }
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > limits.max_uri {
        return Err(ProxyError::UriTooLong {
            limit: limits.max_uri,
        });
    }
    let headers = req.headers();
    if headers.len() > limits.max_headers {
        return Err(ProxyError::HeadersTooLarge("too many header fields"));
    }
    let mut total = 0;
    for (name, value) in headers {
        // `name: value\r\n`
        let line = name.as_str().len() + 2 + value.len();
        if line > limits.max_header_line {
            return Err(ProxyError::HeadersTooLarge("a header field is too long"));
        }
        total += line + 2;
    }
    if total > limits.max_headers_size {
        return Err(ProxyError::HeadersTooLarge(
            "the header section is too large",
        ));
    }
    let mut hosts = headers.get_all(header::HOST);
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(ProxyError::BadRequest("more than one Host header")),
        (Some(host), None) => {
            if !valid_host(host.as_bytes()) {
                return Err(ProxyError::BadRequest("invalid Host header"));
            }
        }
        (None, _) => {
            if req.version() == Version::HTTP_11 {
                return Err(ProxyError::BadRequest("missing Host header"));
            }
        }
    }
    Ok(())
}

/// `uri-host [ ":" port ]` (RFC 3986): a bracketed IPv6 literal, or a name of unreserved,
/// percent-encoded and sub-delimiter characters.
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
        {
            return false;
        }
        match &value[end + 1..] {
            [] => (&value[..=end], None),
            [b':', port @ ..] => (&value[..=end], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        }
    };
    let name_ok = host.first() == Some(&b'[')
        || (!host.is_empty()
            && host.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'%'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                    )
            }));
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    name_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for good in [
            "localhost",
            "localhost:80",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:80",
            "example.com",
            "a-b.example.com:",
        ] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "a b/c@d",
            "",
            "a@b",
            "a/b",
            "[::1",
            "[zz]",
            "host:99999x",
            "a b",
            ":80",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }
}
