//! The upstream connection pool: one per worker thread, so taking and returning a connection is
//! a `RefCell` borrow, with no lock and no atomic. Connections are HTTP/1.1 keep-alive; an idle one
//! is reused only while it has been idle for less than `idle_timeout`, which is kept below the
//! services' keep-alive (actix: 5 s) so we never reuse a connection just as the service closes it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::request_body::RequestBody;

type Sender = SendRequest<RequestBody>;

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

pub struct Pool {
    idle: RefCell<HashMap<Arc<str>, Vec<IdleConnection>>>,
    idle_timeout: Duration,
    connect_timeout: Duration,
    max_idle_per_upstream: usize,
}

/// A connection taken from the pool for one exchange; `release` gives it back.
pub struct PooledConnection {
    pub sender: Sender,
    /// Taken idle from the pool (it may have been closed by the upstream meanwhile) rather than
    /// opened for this request.
    pub reused: bool,
    authority: Arc<str>,
    pool: Rc<Pool>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect timed out")]
    TimedOut,
    #[error("{0}")]
    Io(std::io::Error),
    #[error("handshake: {0}")]
    Handshake(hyper::Error),
}

impl Pool {
    pub fn new(idle_timeout: Duration, connect_timeout: Duration) -> Self {
        Self {
            idle: RefCell::new(HashMap::new()),
            idle_timeout,
            connect_timeout,
            max_idle_per_upstream: 256,
        }
    }

    /// The most recently used idle connection to `authority` that is still open and young
    /// enough, else a new one. `careful`: the request must not be sent on a connection the
    /// upstream has already closed (it could not be retried): let this worker's pending
    /// connection events run first, so a close that has arrived is seen.
    pub async fn acquire(
        self: &Rc<Self>,
        authority: &Arc<str>,
        careful: bool,
    ) -> Result<PooledConnection, ConnectError> {
        let mut idle = self.take_idle(authority).await;
        while careful && idle.is_some() {
            // Runs the I/O driver, then the connection tasks it woke (an EOF marks one closed).
            tokio::task::yield_now().await;
            match idle.take() {
                Some(sender) if !sender.is_closed() => {
                    idle = Some(sender);
                    break;
                }
                _ => idle = self.take_idle(authority).await,
            }
        }
        let (sender, reused) = match idle {
            Some(sender) => (sender, true),
            None => (self.connect(authority).await?, false),
        };
        Ok(PooledConnection {
            sender,
            reused,
            authority: authority.clone(),
            pool: self.clone(),
        })
    }

    async fn take_idle(&self, authority: &str) -> Option<Sender> {
        loop {
            let candidate = {
                let mut idle = self.idle.borrow_mut();
                idle.get_mut(authority)?.pop()?
            };
            if candidate.since.elapsed() >= self.idle_timeout || candidate.sender.is_closed() {
                continue; // dropping it closes the connection
            }
            let mut sender = candidate.sender;
            // Ready at once unless the connection is still finishing its last exchange.
            if poll_fn(|cx| sender.poll_ready(cx)).await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, authority: &str) -> Result<Sender, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| ConnectError::TimedOut)?
            .map_err(ConnectError::Io)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(ConnectError::Handshake)?;
        // The connection task lives on this worker's thread, like the pool.
        actix_web::rt::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection closed with an error");
            }
        });
        Ok(sender)
    }

    /// Drops every idle connection to `authority`: one of them just failed, so the others (as
    /// old or older) are suspect too, e.g. the instance restarted.
    pub fn discard_idle(&self, authority: &str) {
        self.idle.borrow_mut().remove(authority);
    }

    fn put_back(&self, authority: Arc<str>, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(authority).or_default();
        if list.len() < self.max_idle_per_upstream {
            list.push(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
    }
}

impl PooledConnection {
    /// The exchange is over (the response body was read to its end): the connection can serve
    /// again.
    pub fn release(self) {
        self.pool.put_back(self.authority, self.sender);
    }

    pub fn discard_idle_siblings(&self) {
        self.pool.discard_idle(&self.authority);
    }
}
