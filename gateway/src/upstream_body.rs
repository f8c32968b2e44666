//! The upstream's response body on its way to the client: when it has been read to its end the
//! upstream connection goes back to the pool, and when it is dropped (finished or not) the
//! access-log line is written with the bytes sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use hyper::body::{Body, Incoming};

use crate::access::AccessRecord;
use crate::pool::PooledConnection;

/// The upstream's response body on its way to the client.
pub struct UpstreamBody {
    incoming: Incoming,
    size: BodySize,
    sent: u64,
    /// The connection to return to the pool once the body has been read to its end.
    connection: Option<PooledConnection>,
    record: AccessRecord,
    complete: bool,
}

impl UpstreamBody {
    pub fn new(
        incoming: Incoming,
        size: BodySize,
        connection: PooledConnection,
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
        if let Some(connection) = self.connection.take() {
            connection.release();
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
                    tracing::warn!(
                        %error,
                        upstream = this.record.upstream.as_deref().unwrap_or("-"),
                        request_id = %this.record.request_id,
                        "upstream failed mid-response"
                    );
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
        crate::metrics::record(&self.record, self.sent);
        self.record.log(self.sent, self.complete);
    }
}
