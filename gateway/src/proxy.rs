//! The request path through the gateway: resolve the route, then proxy, serve a file, or answer a
//! fixed status. Every response carries `X-Request-Id` (and `X-Served-By`, added by the app) and
//! produces one access-log line.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use hyper::client::conn::TrySendError;

use crate::body::{AccessRecord, BodyFailure, RequestBody, UpstreamBody};
use crate::config::{Action, Upstream};
use crate::error::ProxyError;
use crate::pool::{Pool, Sender};
use crate::Shared;

const X_REQUEST_ID: &str = "x-request-id";

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

pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    pool: web::Data<Rc<Pool>>,
) -> HttpResponse {
    let started = Instant::now();
    let request_id = match req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() && id.len() <= 200 => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let record = AccessRecord {
        method: req.method().clone(),
        path: req.path().to_owned(),
        status: 0,
        upstream: None,
        upstream_time: None,
        started,
        request_id,
    };
    let table = shared.table();
    let outcome = match table.resolve(req.path()) {
        None => Err(ProxyError::NotFound),
        Some(resolved) => match &resolved.route.action {
            Action::Status(status) => Err(ProxyError::Status(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::NOT_FOUND),
            )),
            Action::Static(dir) => crate::files::serve(&req, dir, resolved.rest).await,
            Action::Proxy(upstream) => {
                let path = resolved.rewritten.as_deref();
                return forward(
                    &req,
                    payload,
                    &shared,
                    pool.get_ref(),
                    upstream,
                    path,
                    record,
                )
                .await;
            }
        },
    };
    finish(outcome, record)
}

/// Answers a locally produced response or error, logging it at once.
fn finish(outcome: Result<HttpResponse, ProxyError>, mut record: AccessRecord) -> HttpResponse {
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => {
            log_error(&error, &record);
            error.error_response()
        }
    };
    record.status = response.status().as_u16();
    let bytes = match response.body().size() {
        BodySize::Sized(n) => n,
        _ => 0,
    };
    set_request_id(&mut response, &record.request_id);
    record.log(bytes, true);
    response
}

fn log_error(error: &ProxyError, record: &AccessRecord) {
    match error.side() {
        crate::error::Side::Downstream => {
            tracing::debug!(%error, request_id = %record.request_id, "request refused")
        }
        side => tracing::warn!(%error, ?side, request_id = %record.request_id, "request failed"),
    }
}

fn set_request_id(response: &mut HttpResponse, request_id: &str) {
    if let Ok(value) = AxValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(AxName::from_static(X_REQUEST_ID), value);
    }
}

fn idempotent(method: &actix_web::http::Method) -> bool {
    use actix_web::http::Method;
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// One attempt to send: which connection, and whether it came from the pool (a pooled
/// connection may have been closed by the upstream in the meantime).
struct Attempt {
    sender: Sender,
    reused: bool,
}

async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    shared: &Shared,
    pool: &Rc<Pool>,
    upstream: &Upstream,
    rewritten: Option<&str>,
    mut record: AccessRecord,
) -> HttpResponse {
    let limits = &shared.limits;
    let length = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limits.max_body_size) {
        return finish(
            Err(ProxyError::BodyTooLarge {
                limit: limits.max_body_size,
            }),
            record,
        );
    }
    let has_body = length.is_some_and(|n| n > 0)
        || req
            .headers()
            .contains_key(actix_web::http::header::TRANSFER_ENCODING);
    let failure = Rc::new(Cell::new(None));
    let mut body = Some(if has_body {
        RequestBody::streaming(
            payload.into_inner(),
            length,
            limits.max_body_size,
            limits.client_body_timeout,
            failure.clone(),
        )
    } else {
        RequestBody::Empty
    });
    let replayable = !has_body && idempotent(req.method());

    let mut last_error = None;
    // Each instance at most once (a refused connection moves on to the next one), and at most
    // two instances per request, like Nginx's proxy_next_upstream_tries 2.
    for instance in upstream.rotation().take(2) {
        let authority: Rc<str> = Rc::from(instance.authority.as_str());
        record.upstream = Some(Rc::from(instance.url.as_str()));
        // A pooled connection that turns out closed is not the instance's fault: take a fresh
        // one and try again, within a small bound.
        let mut stale_retries = 0;
        // A fresh connection the upstream closed without answering: once (see below).
        let mut fresh_replayed = false;
        loop {
            let attempt = match pool.take_idle(&authority).await {
                Some(sender) => Attempt {
                    sender,
                    reused: true,
                },
                None => match pool.connect(&authority).await {
                    Ok(sender) => Attempt {
                        sender,
                        reused: false,
                    },
                    Err(error) => {
                        let timed_out = matches!(error, crate::pool::ConnectError::TimedOut);
                        last_error = Some(if timed_out {
                            ProxyError::UpstreamTimeout {
                                upstream: instance.url.clone(),
                                timeout: limits.connect_timeout,
                            }
                        } else {
                            ProxyError::Connect {
                                upstream: instance.url.clone(),
                                reason: error.to_string(),
                            }
                        });
                        instance.health.record_failure(limits.health);
                        tracing::warn!(upstream = %instance.url, %error, "upstream connect failed");
                        break; // next instance
                    }
                },
            };
            let Some(request_body) = body.take() else {
                break;
            };
            let request =
                match build_request(req, &authority, rewritten, &record.request_id, request_body) {
                    Ok(request) => request,
                    Err(error) => return finish(Err(error), record),
                };
            let mut sender = attempt.sender;
            let sent_at = Instant::now();
            let result =
                tokio::time::timeout(limits.upstream_timeout, sender.try_send_request(request))
                    .await;
            match result {
                Err(_elapsed) => {
                    return finish(
                        Err(ProxyError::UpstreamTimeout {
                            upstream: instance.url.clone(),
                            timeout: limits.upstream_timeout,
                        }),
                        record,
                    );
                }
                Ok(Ok(response)) => {
                    instance.health.record_success();
                    record.upstream_time = Some(sent_at.elapsed());
                    return respond(req, response, (pool.clone(), authority, sender), record);
                }
                Ok(Err(error)) => {
                    let (error, unsent) = split_try_send_error(error);
                    if let Some(failure) = failure.get() {
                        return finish(Err(body_failure(failure, limits.max_body_size)), record);
                    }
                    if let Some(unsent) = unsent {
                        // Never left us: safe to send again whatever the method.
                        body = Some(unsent.into_body());
                        if attempt.reused && stale_retries < 3 {
                            stale_retries += 1;
                            continue;
                        }
                        last_error = Some(ProxyError::Connect {
                            upstream: instance.url.clone(),
                            reason: error.to_string(),
                        });
                        break;
                    }
                    if attempt.reused && replayable && stale_retries < 3 {
                        // A reset on a reused connection: the request may have been seen, but it is
                        // idempotent and bodiless, so replaying it is safe.
                        stale_retries += 1;
                        body = Some(RequestBody::Empty);
                        continue;
                    }
                    if !attempt.reused && replayable && !fresh_replayed && closed_unanswered(&error)
                    {
                        // A new connection closed with no answer: a server that stopped as it
                        // accepted it (a single instance being restarted under systemd, whose
                        // socket queues the retry for its next process). Idempotent and
                        // bodiless, so replaying it once is safe.
                        fresh_replayed = true;
                        body = Some(RequestBody::Empty);
                        continue;
                    }
                    return finish(
                        Err(ProxyError::Upstream {
                            upstream: instance.url.clone(),
                            source: error,
                        }),
                        record,
                    );
                }
            }
        }
        if body.is_none() {
            break;
        }
    }
    let error = last_error.unwrap_or_else(|| ProxyError::Internal("no upstream instance".into()));
    finish(Err(error), record)
}

/// The connection ended (closed or reset) before any response: nothing came back to relay.
fn closed_unanswered(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() {
        return true;
    }
    let io = std::error::Error::source(error).and_then(|e| e.downcast_ref::<std::io::Error>());
    matches!(
        io.map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
    )
}

fn split_try_send_error(
    mut error: TrySendError<hyper::Request<RequestBody>>,
) -> (hyper::Error, Option<hyper::Request<RequestBody>>) {
    let unsent = error.take_message();
    (error.into_error(), unsent)
}

fn body_failure(failure: BodyFailure, limit: u64) -> ProxyError {
    match failure {
        BodyFailure::TooLarge => ProxyError::BodyTooLarge { limit },
        BodyFailure::TimedOut => ProxyError::ClientTimeout,
        BodyFailure::Broken => ProxyError::ClientBody("connection broke mid-body".into()),
    }
}

/// The request as the upstream sees it: the same method, path (or its rewrite) and query, the
/// end-to-end headers, `Host` kept, and the forwarding headers set.
fn build_request(
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
    let peer = req.peer_addr().map(|a| a.ip().to_string());
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
    headers.insert("x-forwarded-proto", http::HeaderValue::from_static("http"));
    match host {
        Some(host) => {
            let host =
                http::HeaderValue::from_bytes(host).map_err(|_| ProxyError::BadRequest("host"))?;
            headers.insert("x-forwarded-host", host);
        }
        None => {
            headers.insert(http::header::HOST, value(authority)?);
        }
    }
    headers.insert(X_REQUEST_ID, value(request_id)?);
    builder
        .body(body)
        .map_err(|_| ProxyError::BadRequest("request"))
}

/// Streams the upstream's answer back: status, end-to-end headers, body as it arrives.
fn respond(
    req: &HttpRequest,
    response: hyper::Response<hyper::body::Incoming>,
    connection: (Rc<Pool>, Rc<str>, Sender),
    mut record: AccessRecord,
) -> HttpResponse {
    let (parts, incoming) = response.into_parts();
    let status = StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    record.status = status.as_u16();
    let mut builder = HttpResponse::build(status);
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
    let size = if req.method() == actix_web::http::Method::HEAD {
        content_length.map_or(BodySize::None, BodySize::Sized)
    } else {
        match hyper::body::Body::size_hint(&incoming).exact() {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        }
    };
    if let Ok(value) = AxValue::from_str(&record.request_id) {
        builder.insert_header((AxName::from_static(X_REQUEST_ID), value));
    }
    let body = UpstreamBody::new(incoming, size, connection, record);
    builder.body(BoxBody::new(body))
}
