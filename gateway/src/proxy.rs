//! The request path through the gateway: check the request at the edge, resolve the route, then
//! proxy, serve a file, or answer a fixed status. Every response carries `X-Request-Id` (and
//! `X-Served-By`, added by the app) and produces one access-log line.
//!
//! Proxying is acquire → send once → decide, in a short loop: a failure is retried on the next
//! instance when `ProxyError::retryable` says it is safe (nothing was sent, or the request is
//! idempotent with its whole body kept), at most `MAX_ATTEMPTS` times.

use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use hyper::client::conn::TrySendError;

use crate::access::AccessRecord;
use crate::config::Action;
use crate::error::{ProxyError, Side};
use crate::headers::{self, X_REQUEST_ID};
use crate::pool::{ConnectError, Pool, PooledConnection};
use crate::request_body::{BodyError, BodyLimits, RequestBody};
use crate::upstream::Upstream;
use crate::upstream_body::UpstreamBody;
use crate::Shared;

/// Attempts per request, like Nginx's `proxy_next_upstream_tries`: enough for a stale pooled
/// connection and an instance that just went away.
const MAX_ATTEMPTS: usize = 3;

pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
    pool: web::Data<Rc<Pool>>,
) -> HttpResponse {
    let request_id = match req
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() && id.len() <= 200 => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let table = shared.table();
    // Once per request: the limits and the access line see the same client.
    let client = headers::client_ip(&req, &table.trusted_proxies);
    let mut record = AccessRecord::new(&req, client, request_id.clone());
    // The route answering, for its response headers.
    let mut route = None;
    let outcome = match crate::limits::admit_connection(&req, client, &shared.limits.per_client)
        .and_then(|()| crate::edge::check(&req, &shared.limits.edge))
    {
        Err(error) => Err(error),
        // /metrics of the services behind us is not for the public port (the gateway's own
        // families are on METRICS_PORT); a route of the table cannot open it either.
        Ok(()) if req.path() == "/metrics" && !shared.limits.proxy_metrics => {
            Err(ProxyError::NotFound)
        }
        Ok(()) if shared.redirect.applies(&req) => shared.redirect.answer(&req).await,
        Ok(()) => match table.resolve(req.path()) {
            None => Err(ProxyError::NotFound),
            Some(resolved) => {
                record.route = Some(resolved.route.label.clone());
                match crate::limits::admit(client, resolved.route.limiter.as_ref()) {
                    Err(limited) => Err(limited),
                    Ok(()) => match &route.insert(resolved.route).action {
                        Action::Status(status) => Err(ProxyError::Status(
                            StatusCode::from_u16(*status).unwrap_or(StatusCode::NOT_FOUND),
                        )),
                        Action::Static(files) => Ok(files.serve(&req, resolved.rest).await),
                        Action::Proxy(upstream) => {
                            let exchange = Exchange {
                                req: &req,
                                shared: &shared,
                                pool: pool.get_ref(),
                                rewritten: resolved.rewritten.as_deref(),
                                request_id: &request_id,
                            };
                            match exchange
                                .forward(upstream, payload.into_inner(), &mut record)
                                .await
                            {
                                Ok((response, connection)) => {
                                    let mut response = respond(&req, response, connection, record);
                                    headers::set_request_id(response.headers_mut(), &request_id);
                                    headers::set_route_headers(response.headers_mut(), route, &req);
                                    return response;
                                }
                                Err(error) => Err(error),
                            }
                        }
                    },
                }
            }
        },
    };
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
    headers::set_request_id(response.headers_mut(), &request_id);
    headers::set_route_headers(response.headers_mut(), route, &req);
    crate::metrics::record(&record, bytes);
    record.log(bytes, true);
    response
}

fn log_error(error: &ProxyError, record: &AccessRecord) {
    match error.side() {
        // The client's mistake (or a route's fixed answer): its access line says enough.
        Side::Downstream => {
            tracing::debug!(%error, request_id = %record.request_id, "request refused")
        }
        // Overload, not a fault: one line per refused request would flood the log just when it
        // matters (the access line and `http_requests_total{status="5xx"}` count them).
        Side::Upstream if matches!(error, ProxyError::UpstreamBusy { .. }) => {
            tracing::debug!(%error, request_id = %record.request_id, "upstream busy")
        }
        side => tracing::warn!(%error, ?side, request_id = %record.request_id, "request failed"),
    }
}

/// Safe to repeat (RFC 9110 §9.2.2): the same request twice has the effect of once.
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// One request on its way to an upstream.
struct Exchange<'a> {
    req: &'a HttpRequest,
    shared: &'a crate::Shared,
    pool: &'a Rc<Pool>,
    rewritten: Option<&'a str>,
    request_id: &'a str,
}

impl Exchange<'_> {
    /// Sends the request to the upstream's instances in turn until one answers or retrying is
    /// no longer safe.
    async fn forward(
        &self,
        upstream: &Upstream,
        payload: actix_web::dev::Payload,
        record: &mut AccessRecord,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, PooledConnection), ProxyError> {
        let limits = &self.shared.limits;
        let request = self.req.headers();
        let length = request
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // An HTTP/2 body has no framing headers: without a length it is read like a chunked one
        // (an empty one ends at once).
        let chunked = request.contains_key(header::TRANSFER_ENCODING)
            || (self.req.version() == actix_web::http::Version::HTTP_2 && length.is_none());
        let body_limits = BodyLimits {
            max_size: limits.max_body_size,
            idle_timeout: limits.client_body_timeout,
        };
        let mut body = Some(RequestBody::read(payload, length, chunked, body_limits).await?);
        let idempotent = idempotent(self.req.method());
        let mut last_error = None;
        // Instances that had no connection free for the connect timeout: not waited on twice.
        let mut busy: Vec<&str> = Vec::new();
        let snapshot = upstream.instances();
        let instances = upstream.rotation(&snapshot).cycle().take(MAX_ATTEMPTS);
        for (attempt, instance) in instances.enumerate() {
            if busy.contains(&&*instance.url) {
                continue;
            }
            let Some(request_body) = body.take() else {
                break;
            };
            if attempt > 0 {
                record.retries += 1;
            }
            record.upstream = Some(instance.url.clone());
            let kept = if idempotent {
                request_body.replay()
            } else {
                None
            };
            let careful = kept.is_none();
            let connecting = Instant::now();
            let mut connection = match self.pool.acquire(&instance.authority, careful).await {
                Ok(connection) => {
                    if !connection.reused && hbnb_common::metrics::recording() {
                        crate::metrics::METRICS
                            .upstream_connect
                            .with_label_values(&[&instance.url])
                            .observe(connecting.elapsed().as_secs_f64());
                    }
                    connection
                }
                // Every connection this worker may open to it is in use: not the instance's
                // failure (another instance may have room).
                Err(ConnectError::Busy) => {
                    busy.push(&instance.url);
                    last_error = Some(ProxyError::UpstreamBusy {
                        upstream: instance.url.to_string(),
                    });
                    body = Some(request_body);
                    continue;
                }
                Err(error) => {
                    crate::metrics::METRICS
                        .upstream_connect_failures
                        .with_label_values(&[&instance.url])
                        .inc();
                    instance.health.record_failure(limits.health);
                    tracing::warn!(upstream = %instance.url, %error, "upstream connect failed");
                    last_error = Some(connect_error(error, &instance.url, limits.connect_timeout));
                    body = Some(request_body);
                    continue;
                }
            };
            let request = headers::upstream_request(
                self.req,
                &instance.authority,
                self.rewritten,
                self.request_id,
                request_body,
            )?;
            let sent_at = Instant::now();
            let sending = connection.sender.try_send_request(request);
            let error = match tokio::time::timeout(limits.upstream_timeout, sending).await {
                Err(_elapsed) => {
                    return Err(ProxyError::UpstreamTimeout {
                        upstream: instance.url.to_string(),
                        timeout: limits.upstream_timeout,
                    })
                }
                Ok(Ok(response)) => {
                    instance.health.record_success();
                    record.upstream_time = Some(sent_at.elapsed());
                    return Ok((response, connection));
                }
                Ok(Err(error)) => error,
            };
            let (error, unsent) = split(error, &instance.url);
            if let ProxyError::Upstream { source, .. } = &error {
                if let Some(client) = BodyError::behind(source) {
                    return Err(client.into_proxy_error(limits.max_body_size));
                }
            }
            if connection.reused {
                // Probably closed while idle (a restart, a keep-alive race): so are its siblings.
                connection.discard_idle_siblings();
            } else {
                instance.health.record_failure(limits.health);
            }
            let replayable = kept.is_some();
            if !error.retryable(replayable) {
                return Err(error);
            }
            tracing::debug!(%error, attempt, "retrying on the next instance");
            body = unsent.or(kept);
            last_error = Some(error);
        }
        Err(last_error.unwrap_or_else(|| ProxyError::Internal("no upstream instance".into())))
    }
}

fn connect_error(error: ConnectError, url: &str, timeout: std::time::Duration) -> ProxyError {
    match error {
        ConnectError::TimedOut => ProxyError::UpstreamTimeout {
            upstream: url.to_owned(),
            timeout,
        },
        error => ProxyError::Connect {
            upstream: url.to_owned(),
            reason: error.to_string(),
        },
    }
}

/// Hyper's failure as ours: `Unsent` (with the request's body back) when the request never
/// left, else `Upstream`.
fn split(
    mut error: TrySendError<hyper::Request<RequestBody>>,
    url: &str,
) -> (ProxyError, Option<RequestBody>) {
    let unsent = error.take_message().map(hyper::Request::into_body);
    let source = error.into_error();
    let upstream = url.to_owned();
    match unsent {
        Some(body) => (ProxyError::Unsent { upstream, source }, Some(body)),
        None => (ProxyError::Upstream { upstream, source }, None),
    }
}

/// Streams the upstream's answer back: status, end-to-end headers, body as it arrives.
fn respond(
    req: &HttpRequest,
    response: hyper::Response<hyper::body::Incoming>,
    connection: PooledConnection,
    mut record: AccessRecord,
) -> HttpResponse {
    let (parts, incoming) = response.into_parts();
    let (mut builder, content_length) = headers::client_response(&parts);
    record.status = parts.status.as_u16();
    let size = if req.method() == Method::HEAD {
        content_length.map_or(BodySize::None, BodySize::Sized)
    } else {
        match hyper::body::Body::size_hint(&incoming).exact() {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        }
    };
    let body = UpstreamBody::new(incoming, size, connection, record);
    builder.body(BoxBody::new(body))
}
