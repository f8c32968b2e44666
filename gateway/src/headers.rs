//! Headers across the proxy, and the one place that converts between actix's `http` 0.2 types
//! and hyper's `http` 1 types: what the upstream is sent (end-to-end headers, `Host` kept, the
//! forwarding headers set) and what the client gets back (end-to-end headers only).

use actix_web::http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponseBuilder};

use crate::error::ProxyError;
use crate::request_body::RequestBody;

pub const X_REQUEST_ID: &str = "x-request-id";

/// The most headers the gateway adds to a request (`X-Forwarded-For` replaced, `-Proto`,
/// `-Host` or `Host`, `X-Request-Id`): a client may send the services' limit less these.
pub const ADDED_HEADERS: usize = 4;

/// Headers that describe one connection, not the message: never forwarded (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

/// Names listed in a `Connection` header are hop-by-hop too.
fn listed_in_connection<'a>(connection: impl Iterator<Item = &'a [u8]>, name: &str) -> bool {
    connection
        .flat_map(|value| value.split(|&b| b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

/// The address the connection came from (the PROXY protocol header's source when that is on).
/// On the dual-stack listener (`[::]`) an IPv4 client comes as `::ffff:a.b.c.d`; it is logged,
/// forwarded and limited as `a.b.c.d`, as with Nginx's separate IPv4 socket.
pub fn peer_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    req.peer_addr().map(|addr| addr.ip().to_canonical())
}

/// The client: the peer, or when the peer is a trusted proxy, the client its `X-Forwarded-For`
/// names (`real_ip`). Computed once per request (`proxy::handle`) and handed to the limits and
/// the access log; with no trusted proxy, no header is read.
pub fn client_ip(
    req: &HttpRequest,
    trusted: &crate::real_ip::TrustedProxies,
) -> Option<std::net::IpAddr> {
    let peer = peer_ip(req)?;
    if trusted.is_empty() {
        return Some(peer);
    }
    Some(
        trusted.client(
            peer,
            req.headers()
                .get_all(actix_web::http::header::X_FORWARDED_FOR),
        ),
    )
}

/// The request as the upstream sees it: the same method, path (or its rewrite) and query, the
/// end-to-end headers, `Host` kept, and the forwarding headers set.
pub fn upstream_request(
    req: &HttpRequest,
    authority: &str,
    rewritten: Option<&str>,
    request_id: &str,
    body: RequestBody,
) -> Result<hyper::Request<RequestBody>, ProxyError> {
    let uri = match (rewritten, req.uri().query()) {
        (None, _) => req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
        (Some(path), None) => path.to_owned(),
        (Some(path), Some(query)) => format!("{path}?{query}"),
    };
    let mut builder = hyper::Request::builder()
        .method(
            hyper::Method::from_bytes(req.method().as_str().as_bytes())
                .map_err(|_| ProxyError::BadRequest("method"))?,
        )
        .uri(uri);
    let headers = builder
        .headers_mut()
        .ok_or(ProxyError::BadRequest("request line"))?;
    let incoming = req.headers();
    let connection = incoming.get_all(actix_web::http::header::CONNECTION);
    let has_connection_list = connection.clone().next().is_some();
    let mut forwarded_for: Option<String> = None;
    let mut host = None;
    for (name, value) in incoming.iter() {
        let name = name.as_str();
        if is_hop_by_hop(name)
            || name == "expect"
            || name == X_REQUEST_ID
            || name == "x-forwarded-proto"
            || name == "x-forwarded-host"
            || (has_connection_list
                && listed_in_connection(connection.clone().map(|v| v.as_bytes()), name))
        {
            continue;
        }
        if name == "x-forwarded-for" {
            let value = String::from_utf8_lossy(value.as_bytes());
            forwarded_for = Some(match forwarded_for {
                Some(previous) => format!("{previous}, {value}"),
                None => value.into_owned(),
            });
            continue;
        }
        if name == "host" {
            host = Some(value.as_bytes());
        }
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ProxyError::BadRequest("header name"))?;
        let value = http::HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| ProxyError::BadRequest("header value"))?;
        headers.append(name, value);
    }
    // The chain as received and the address we got it from (a trusted proxy's own stays in it:
    // the upstream sees the same chain Nginx's `$proxy_add_x_forwarded_for` would give).
    let peer = peer_ip(req).map(|ip| ip.to_string());
    let forwarded_for = match (forwarded_for, peer) {
        (Some(previous), Some(peer)) => format!("{previous}, {peer}"),
        (Some(previous), None) => previous,
        (None, Some(peer)) => peer,
        (None, None) => String::new(),
    };
    let value = |s: &str| {
        http::HeaderValue::from_str(s).map_err(|_| ProxyError::BadRequest("header value"))
    };
    if !forwarded_for.is_empty() {
        headers.insert("x-forwarded-for", value(&forwarded_for)?);
    }
    // The listener it came in on: the TLS one is actix's "secure" socket.
    let proto = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    headers.insert("x-forwarded-proto", http::HeaderValue::from_static(proto));
    // HTTP/2 carries the host in the `:authority` pseudo-header, not in `Host`: the upstream
    // (HTTP/1.1) gets it as `Host`, as an HTTP/1.1 client would have sent it.
    if host.is_none() {
        if let Some(authority) = req.uri().authority() {
            let authority = authority.as_str();
            headers.insert(http::header::HOST, value(authority)?);
            host = Some(authority.as_bytes());
        }
    }
    match host {
        Some(host) => {
            let host =
                http::HeaderValue::from_bytes(host).map_err(|_| ProxyError::BadRequest("host"))?;
            headers.insert("x-forwarded-host", host);
        }
        None => {
            let host = match crate::connect::unix_path(authority) {
                Some(_) => crate::connect::UNIX_HOST,
                None => authority,
            };
            headers.insert(http::header::HOST, value(host)?);
        }
    }
    headers.insert(X_REQUEST_ID, value(request_id)?);
    builder
        .body(body)
        .map_err(|_| ProxyError::BadRequest("request"))
}

/// The client's response head from the upstream's: status and end-to-end headers, and the
/// upstream's `Content-Length` (kept aside: actix writes the framing itself).
pub fn client_response(parts: &http::response::Parts) -> (HttpResponseBuilder, Option<u64>) {
    let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponseBuilder::new(status);
    let connection_list: Vec<&[u8]> = parts
        .headers
        .get_all(http::header::CONNECTION)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let mut content_length = None;
    for (name, value) in parts.headers.iter() {
        let name = name.as_str();
        if name == "content-length" {
            content_length = value.to_str().ok().and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        if is_hop_by_hop(name)
            || (!connection_list.is_empty()
                && listed_in_connection(connection_list.iter().copied(), name))
        {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            AxName::from_bytes(name.as_bytes()),
            AxValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    (builder, content_length)
}

/// Sets `X-Request-Id` on a response we answer.
pub fn set_request_id(headers: &mut actix_web::http::header::HeaderMap, request_id: &str) {
    if let Ok(value) = AxValue::from_str(request_id) {
        headers.insert(AxName::from_static(X_REQUEST_ID), value);
    }
}

/// The headers the request's route sets on its responses; `Strict-Transport-Security` only on
/// the TLS listener.
pub fn set_route_headers(
    headers: &mut actix_web::http::header::HeaderMap,
    route: Option<&crate::config::Route>,
    req: &HttpRequest,
) {
    let Some(route) = route.filter(|r| !r.headers.is_empty()) else {
        return;
    };
    let secure = req.app_config().secure();
    for (name, value) in &route.headers {
        if name == actix_web::http::header::STRICT_TRANSPORT_SECURITY && !secure {
            continue;
        }
        headers.insert(name.clone(), value.clone());
    }
}
