//! The upstream connection pool: one per worker thread, so taking and returning a connection is
//! a `RefCell` borrow, with no lock and no atomic. Connections are HTTP/1.1 keep-alive; an idle one
//! is reused only while it has been idle for less than `idle_timeout`, which is kept below the
//! services' keep-alive (actix: 5 s) so we never reuse a connection just as the service closes it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::RequestBody;

pub type Sender = SendRequest<RequestBody>;

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

pub struct Pool {
    idle: RefCell<HashMap<String, Vec<IdleConnection>>>,
    idle_timeout: Duration,
    connect_timeout: Duration,
    max_idle_per_upstream: usize,
}

#[derive(Debug)]
pub enum ConnectError {
    TimedOut,
    Io(std::io::Error),
    Handshake(hyper::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TimedOut => write!(f, "connect timed out"),
            Self::Io(e) => write!(f, "{e}"),
            Self::Handshake(e) => write!(f, "handshake: {e}"),
        }
    }
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

    /// The most recently used idle connection that is still open and young enough.
    pub async fn take_idle(&self, authority: &str) -> Option<Sender> {
        loop {
            let candidate = {
                let mut idle = self.idle.borrow_mut();
                let list = idle.get_mut(authority)?;
                list.pop()?
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

    pub async fn connect(&self, authority: &str) -> Result<Sender, ConnectError> {
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

    /// Called when a response body was read to its end: the connection can serve again.
    pub fn put_back(&self, authority: &str, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = match idle.get_mut(authority) {
            Some(list) => list,
            None => idle.entry(authority.to_owned()).or_default(),
        };
        if list.len() < self.max_idle_per_upstream {
            list.push(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
    }
}
