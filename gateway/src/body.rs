//! Bodies streamed through the gateway, never buffered whole.
//!
//! `RequestBody` feeds the client's payload to the upstream chunk by chunk, enforcing the size
//! limit and an idle timeout on a slow client. `UpstreamBody` feeds the upstream's response to
//! the client; when it has been read to its end the upstream connection goes back to the pool,
//! and when it is dropped (finished or not) the access-log line is written with the bytes sent.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::Payload;
use bytes::Bytes;
use futures_util::Stream;
use hyper::body::{Body, Frame, Incoming, SizeHint};

use crate::pool::{Pool, Sender};

/// Why the client's body stopped, so the handler can answer 413/408/400 rather than 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    TooLarge,
    TimedOut,
    Broken,
}

#[derive(Debug, thiserror::Error)]
#[error("client body: {0:?}")]
pub struct BodyError(pub BodyFailure);

pub enum RequestBody {
    Empty,
    Streaming(Box<ClientBody>),
}

pub struct ClientBody {
    payload: Payload,
    received: u64,
    limit: u64,
    length: Option<u64>,
    idle_timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    failure: Rc<Cell<Option<BodyFailure>>>,
}

impl RequestBody {
    pub fn streaming(
        payload: Payload,
        length: Option<u64>,
        limit: u64,
        idle_timeout: Duration,
        failure: Rc<Cell<Option<BodyFailure>>>,
    ) -> Self {
        Self::Streaming(Box::new(ClientBody {
            payload,
            received: 0,
            limit,
            length,
            idle_timeout,
            timer: Box::pin(tokio::time::sleep(idle_timeout)),
            failure,
        }))
    }
}

impl ClientBody {
    fn fail(&mut self, failure: BodyFailure) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.failure.set(Some(failure));
        Poll::Ready(Some(Err(BodyError(failure))))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let body = match self.get_mut() {
            RequestBody::Empty => return Poll::Ready(None),
            RequestBody::Streaming(body) => body,
        };
        match Pin::new(&mut body.payload).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                body.received += chunk.len() as u64;
                if body.received > body.limit {
                    return body.fail(BodyFailure::TooLarge);
                }
                let deadline = tokio::time::Instant::now() + body.idle_timeout;
                body.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(_))) => body.fail(BodyFailure::Broken),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match body.timer.as_mut().poll(cx) {
                Poll::Ready(()) => body.fail(BodyFailure::TimedOut),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, RequestBody::Empty)
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Streaming(body) => match body.length {
                Some(length) => SizeHint::with_exact(length),
                None => SizeHint::default(),
            },
        }
    }
}

/// What the access-log line says about one request; written once, when the response is done.
pub struct AccessRecord {
    pub method: actix_web::http::Method,
    pub path: String,
    pub status: u16,
    pub upstream: Option<Rc<str>>,
    pub upstream_time: Option<Duration>,
    pub started: Instant,
    pub request_id: String,
}

impl AccessRecord {
    pub fn log(&self, bytes: u64, complete: bool) {
        let upstream_ms = self.upstream_time.map(|t| t.as_secs_f64() * 1000.0);
        let total_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "access",
            method = %self.method,
            path = %self.path,
            status = self.status,
            bytes,
            upstream = self.upstream.as_deref().unwrap_or("-"),
            upstream_ms,
            total_ms,
            request_id = %self.request_id,
            complete,
            "request"
        );
    }
}

/// The upstream's response body on its way to the client.
pub struct UpstreamBody {
    incoming: Incoming,
    size: BodySize,
    sent: u64,
    /// The connection to return to the pool once the body has been read to its end.
    connection: Option<(Rc<Pool>, Rc<str>, Sender)>,
    record: AccessRecord,
    complete: bool,
}

impl UpstreamBody {
    pub fn new(
        incoming: Incoming,
        size: BodySize,
        connection: (Rc<Pool>, Rc<str>, Sender),
        record: AccessRecord,
    ) -> Self {
        Self {
            incoming,
            size,
            sent: 0,
            connection: Some(connection),
            record,
            complete: false,
        }
    }

    fn finish(&mut self) {
        self.complete = true;
        if let Some((pool, authority, sender)) = self.connection.take() {
            pool.put_back(&authority, sender);
        }
    }
}

impl MessageBody for UpstreamBody {
    type Error = hyper::Error;

    fn size(&self) -> BodySize {
        self.size
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, hyper::Error>>> {
        let this = self.get_mut();
        if this.complete {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if data.is_empty() {
                            continue;
                        }
                        this.sent += data.len() as u64;
                        return Poll::Ready(Some(Ok(data)));
                    }
                    // Trailers: HTTP/1.1 clients rarely take them; drop them.
                }
                Poll::Ready(Some(Err(error))) => {
                    // The connection is broken; it must not go back to the pool.
                    this.connection = None;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if !self.complete && self.incoming.is_end_stream() {
            // HEAD, 204 and 304 answers carry no body and are never polled.
            self.finish();
        }
        self.record.log(self.sent, self.complete);
    }
}
