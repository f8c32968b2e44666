//! The client's request body on its way upstream, never buffered whole unless small.
//!
//! `RequestBody`: a body of up to `REPLAY_LIMIT` bytes is read before the upstream is contacted
//! (as Nginx buffers request bodies), so a malformed or slow one is answered 400/408 at once and
//! an idempotent request keeps its body for a retry on another instance; a larger one is
//! streamed chunk by chunk, enforcing the size limit and an idle timeout on a slow client.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hyper::body::{Body, Frame, SizeHint};

use crate::error::ProxyError;

/// Bodies up to this size are read whole before they are forwarded.
pub const REPLAY_LIMIT: usize = 64 * 1024;

/// Why the client's body stopped, so the handler can answer 413/408/400 rather than 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body over the limit")]
    TooLarge,
    #[error("client stopped sending its body")]
    TimedOut,
    #[error("client body broken mid-way")]
    Broken,
}

impl BodyError {
    pub fn into_proxy_error(self, limit: u64) -> ProxyError {
        match self {
            BodyError::TooLarge => ProxyError::BodyTooLarge { limit },
            BodyError::TimedOut => ProxyError::ClientTimeout,
            BodyError::Broken => ProxyError::ClientBody("malformed or interrupted body".into()),
        }
    }

    /// The client-side failure behind an upstream error, if that is what it was.
    pub fn behind(error: &hyper::Error) -> Option<BodyError> {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            if let Some(body) = cause.downcast_ref::<BodyError>() {
                return Some(*body);
            }
            source = cause.source();
        }
        None
    }
}

pub enum RequestBody {
    Empty,
    /// Read whole: cheap to send again.
    Full(Bytes),
    Streaming(Box<ClientBody>),
}

pub struct ClientBody {
    /// Read before streaming began.
    prefix: Option<Bytes>,
    payload: Payload,
    received: u64,
    limit: u64,
    length: Option<u64>,
    idle_timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

/// Limits on the client's body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_size: u64,
    pub idle_timeout: Duration,
}

impl RequestBody {
    /// The request's body: `Empty`, `Full` when it ends within `REPLAY_LIMIT` bytes, else
    /// `Streaming`. `length` is the declared `Content-Length`.
    pub async fn read(
        payload: Payload,
        length: Option<u64>,
        chunked: bool,
        limits: BodyLimits,
    ) -> Result<RequestBody, ProxyError> {
        if length.is_some_and(|n| n > limits.max_size) {
            return Err(ProxyError::BodyTooLarge {
                limit: limits.max_size,
            });
        }
        if length.unwrap_or(0) == 0 && !chunked {
            return Ok(RequestBody::Empty);
        }
        let mut body = ClientBody {
            prefix: None,
            payload,
            received: 0,
            limit: limits.max_size,
            length,
            idle_timeout: limits.idle_timeout,
            timer: Box::pin(tokio::time::sleep(limits.idle_timeout)),
        };
        if length.is_some_and(|n| n > REPLAY_LIMIT as u64) {
            return Ok(RequestBody::Streaming(Box::new(body)));
        }
        let mut buffer = BytesMut::new();
        loop {
            match std::future::poll_fn(|cx| body.poll_chunk(cx)).await {
                Some(Ok(chunk)) => {
                    buffer.extend_from_slice(&chunk);
                    if buffer.len() > REPLAY_LIMIT {
                        body.prefix = Some(buffer.freeze());
                        return Ok(RequestBody::Streaming(Box::new(body)));
                    }
                }
                Some(Err(error)) => return Err(error.into_proxy_error(limits.max_size)),
                None => return Ok(RequestBody::Full(buffer.freeze())),
            }
        }
    }

    /// A copy to send once more, if this body can be sent again.
    pub fn replay(&self) -> Option<RequestBody> {
        match self {
            RequestBody::Empty => Some(RequestBody::Empty),
            RequestBody::Full(bytes) => Some(RequestBody::Full(bytes.clone())),
            RequestBody::Streaming(_) => None,
        }
    }
}

impl ClientBody {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(prefix)));
        }
        match Pin::new(&mut self.payload).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.received += chunk.len() as u64;
                if self.received > self.limit {
                    return Poll::Ready(Some(Err(BodyError::TooLarge)));
                }
                let deadline = tokio::time::Instant::now() + self.idle_timeout;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(_))) => Poll::Ready(Some(Err(BodyError::Broken))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::TimedOut))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            RequestBody::Empty => Poll::Ready(None),
            RequestBody::Full(bytes) => {
                if bytes.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes)))))
                }
            }
            RequestBody::Streaming(body) => body
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(bytes) => bytes.is_empty(),
            RequestBody::Streaming(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            RequestBody::Streaming(body) => match body.length {
                Some(length) => SizeHint::with_exact(length),
                None => SizeHint::default(),
            },
        }
    }
}
