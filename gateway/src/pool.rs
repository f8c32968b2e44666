//! The upstream connection pool: one per worker thread, so taking and returning a connection is
//! a `RefCell` borrow, with no lock and no atomic. Connections are HTTP/1.1 keep-alive; an idle one
//! is reused only while it has been idle for less than `idle_timeout`, which is kept below the
//! services' keep-alive (actix: 5 s) so we never reuse a connection just as the service closes it.
//!
//! A worker opens at most `max_connections` to one authority (Nginx's `max_conns`): beyond, a
//! request waits, for up to the connect timeout, for one to come back, and is then answered 503
//! (`ConnectError::Busy`). Without the bound a burst opens a connection per request in flight
//! (5,000 clients at once opened 4,831 to one instance), each with its buffers, on both sides.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::request_body::RequestBody;

type Sender = SendRequest<RequestBody>;

struct IdleConnection {
    sender: Sender,
    since: Instant,
}

/// A worker's connections to one upstream authority (`host:port`, or `unix:/path`).
struct Slot {
    idle: Vec<IdleConnection>,
    /// Open or being opened, idle ones included: at most `Pool::max_connections`.
    open: usize,
    /// Requests waiting for a connection, first come first served: a released connection is
    /// handed to the first, or `None` when one closed (it may open its own).
    waiting: VecDeque<oneshot::Sender<Option<Sender>>>,
    /// `gateway_upstream_connections` (open, idle), looked up once so that counting costs an
    /// atomic add.
    gauges: Gauges,
}

pub struct Pool {
    slots: RefCell<HashMap<Arc<str>, Slot>>,
    idle_timeout: Duration,
    connect_timeout: Duration,
    /// Idle connections kept per authority (Nginx's `keepalive`, per worker too): each holds
    /// hyper's read buffer, and a burst should not leave hundreds of them behind.
    max_idle_per_upstream: usize,
    max_connections: usize,
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
    /// `max_connections` are open and none came back within the connect timeout.
    #[error("every connection busy")]
    Busy,
}

impl Pool {
    pub fn new(idle_timeout: Duration, connect_timeout: Duration, max_connections: usize) -> Self {
        Self {
            slots: RefCell::new(HashMap::new()),
            idle_timeout,
            connect_timeout,
            max_idle_per_upstream: 64,
            // 0: no bound, as Nginx's `max_conns=0`.
            max_connections: if max_connections == 0 {
                usize::MAX
            } else {
                max_connections
            },
        }
    }

    /// The most recently used idle connection to `authority` that is still open and young
    /// enough, else a new one, else (at `max_connections`) the next one released. `careful`:
    /// the request must not be sent on a connection the upstream has already closed (it could
    /// not be retried): let this worker's pending connection events run first, so a close that
    /// has arrived is seen.
    pub async fn acquire(
        self: &Rc<Self>,
        authority: &Arc<str>,
        careful: bool,
    ) -> Result<PooledConnection, ConnectError> {
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        loop {
            if let Some(sender) = self.take_idle(authority, careful).await {
                return Ok(self.pooled(authority, sender, true));
            }
            let waiting = self.with_slot(authority, |slot| {
                if slot.open < self.max_connections {
                    slot.open += 1;
                    return None;
                }
                let (handed, wait) = oneshot::channel();
                slot.waiting.push_back(handed);
                Some(wait)
            });
            let Some(wait) = waiting else {
                return match self.connect(authority).await {
                    Ok(sender) => Ok(self.pooled(authority, sender, false)),
                    Err(error) => {
                        self.closed(authority);
                        Err(error)
                    }
                };
            };
            match tokio::time::timeout_at(deadline, wait).await {
                Err(_elapsed) => return Err(ConnectError::Busy),
                // Just released by a finished exchange.
                Ok(Ok(Some(mut sender))) => {
                    if poll_fn(|cx| sender.poll_ready(cx)).await.is_ok() {
                        return Ok(self.pooled(authority, sender, true));
                    }
                }
                // One closed (its place is free), or the pool let go of the waiter.
                Ok(Ok(None) | Err(_)) => {}
            }
        }
    }

    fn pooled(
        self: &Rc<Self>,
        authority: &Arc<str>,
        sender: Sender,
        reused: bool,
    ) -> PooledConnection {
        PooledConnection {
            sender,
            reused,
            authority: authority.clone(),
            pool: self.clone(),
        }
    }

    /// Runs `f` on `authority`'s slot (found, or made, without cloning the key).
    fn with_slot<R>(&self, authority: &Arc<str>, f: impl FnOnce(&mut Slot) -> R) -> R {
        let mut slots = self.slots.borrow_mut();
        if let Some(found) = slots.get_mut(authority) {
            return f(found);
        }
        f(slots.entry(authority.clone()).or_insert_with(|| Slot {
            idle: Vec::new(),
            open: 0,
            waiting: VecDeque::new(),
            gauges: Gauges::new(authority),
        }))
    }

    async fn take_idle(&self, authority: &Arc<str>, careful: bool) -> Option<Sender> {
        loop {
            let candidate = self.with_slot(authority, |slot| {
                let candidate = slot.idle.pop()?;
                slot.gauges.idle.dec();
                Some(candidate)
            })?;
            if candidate.since.elapsed() >= self.idle_timeout || candidate.sender.is_closed() {
                continue; // dropping it closes the connection
            }
            let mut sender = candidate.sender;
            if careful {
                // Runs the I/O driver, then the connection tasks it woke (an EOF marks one
                // closed).
                tokio::task::yield_now().await;
                if sender.is_closed() {
                    continue;
                }
            }
            // Ready at once unless the connection is still finishing its last exchange.
            if poll_fn(|cx| sender.poll_ready(cx)).await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Opens a connection; its place in the slot is already taken (and given back by `closed`
    /// when the connection ends, or when this fails).
    async fn connect(self: &Rc<Self>, authority: &Arc<str>) -> Result<Sender, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, crate::connect::open(authority))
            .await
            .map_err(|_| ConnectError::TimedOut)?
            .map_err(ConnectError::Io)?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(ConnectError::Handshake)?;
        // The connection task lives on this worker's thread, like the pool; the connection is
        // open until it ends.
        let open = self.with_slot(authority, |slot| slot.gauges.open.clone());
        open.inc();
        let pool: Weak<Self> = Rc::downgrade(self);
        let authority = authority.clone();
        actix_web::rt::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection closed with an error");
            }
            open.dec();
            if let Some(pool) = pool.upgrade() {
                pool.closed(&authority);
            }
        });
        Ok(sender)
    }

    /// A connection to `authority` ended (or was never made): its place goes to the first
    /// request waiting, if any.
    fn closed(&self, authority: &Arc<str>) {
        self.with_slot(authority, |slot| {
            slot.open = slot.open.saturating_sub(1);
            while let Some(waiter) = slot.waiting.pop_front() {
                if waiter.send(None).is_ok() {
                    break;
                }
            }
        });
    }

    /// Drops every idle connection to `authority`: one of them just failed, so the others (as
    /// old or older) are suspect too, e.g. the instance restarted.
    pub fn discard_idle(&self, authority: &Arc<str>) {
        let dropped = self.with_slot(authority, |slot| {
            let dropped = std::mem::take(&mut slot.idle);
            slot.gauges
                .idle
                .sub(i64::try_from(dropped.len()).unwrap_or(i64::MAX));
            dropped
        });
        // Dropped outside the borrow: their tasks end (and call `closed`) later.
        drop(dropped);
    }

    fn put_back(&self, authority: Arc<str>, mut sender: Sender) {
        if sender.is_closed() {
            return; // its task ends and frees its place
        }
        let unused = self.with_slot(&authority, |slot| {
            while let Some(waiter) = slot.waiting.pop_front() {
                match waiter.send(Some(sender)) {
                    Ok(()) => return None,
                    // That request gave up waiting.
                    Err(Some(back)) => sender = back,
                    Err(None) => return None,
                }
            }
            if slot.idle.len() < self.max_idle_per_upstream {
                slot.idle.push(IdleConnection {
                    sender,
                    since: Instant::now(),
                });
                slot.gauges.idle.inc();
                return None;
            }
            Some(sender)
        });
        drop(unused);
    }
}

/// `gateway_upstream_connections{authority, state}` of one upstream authority.
struct Gauges {
    open: prometheus::IntGauge,
    idle: prometheus::IntGauge,
}

impl Gauges {
    fn new(authority: &str) -> Self {
        let family = &crate::metrics::METRICS.connections;
        Self {
            open: family.with_label_values(&[authority, "open"]),
            idle: family.with_label_values(&[authority, "idle"]),
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
