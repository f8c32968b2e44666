//! Talking to a database server (PostgreSQL, MySQL) that may stop answering: every pooled
//! connection is taken through `acquire` (counted, see `metrics`), every operation on one is
//! bounded by `answer_within`, a connection an operation failed on is closed (`release`), and a
//! server that just let a wait run out is not waited for again at once (`silence`).

use std::time::Duration;

use crate::error::connection_failed;
use crate::metrics;

/// How long a database server has to answer one operation on a connection already taken from
/// the pool: a read, a write's transaction, a group commit, a ping. A server that went away
/// without closing its connections (the link between the hosts cut, the host powered off)
/// sends nothing, and TCP would wait for minutes: the request answers 503 instead, and the
/// connection is closed (see `release`). Generous next to what the queries take (milliseconds),
/// and short, as a request may run two operations in a row (the response cache's data version,
/// then the handler's query), each waiting this long before the 503.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a request waits for a pooled connection (a new one included: a server that refuses
/// connections while it restarts is tried again until then): past it, 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// `work` (an operation on a pooled connection of a database server), failed with a timed-out
/// I/O error if the server has not answered within `ANSWER_TIMEOUT`.
pub(crate) async fn answer_within<T>(
    work: impl std::future::Future<Output = sqlx::Result<T>>,
) -> sqlx::Result<T> {
    match tokio::time::timeout(ANSWER_TIMEOUT, work).await {
        Ok(answer) => answer,
        Err(_) => {
            silence::noted();
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database server did not answer within {ANSWER_TIMEOUT:?}"),
            )))
        }
    }
}

/// A database server that has just let a wait run out (an answer, a connection) is not waited
/// for again at once: for `HOLD` after that, operations fail at once (503) instead of each
/// waiting its own 3 s. Without it, a request that runs several operations in a row (the
/// response cache's data version, a state, its cities) waited 3 s for each while the link was
/// cut: 9 s seen. One per process, as every binary opens one database; SQLite never sets it.
mod silence {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    pub(crate) const HOLD: Duration = Duration::from_secs(1);

    /// When the last wait ran out: milliseconds since `epoch()` plus one (0: never).
    static LAST: AtomicU64 = AtomicU64::new(0);

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn now_ms() -> u64 {
        u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// A wait for the server ran out.
    pub(crate) fn noted() {
        LAST.store(now_ms(), Ordering::Relaxed);
    }

    /// The error for an operation started within `HOLD` of a wait that ran out.
    pub(crate) fn check() -> sqlx::Result<()> {
        let last = LAST.load(Ordering::Relaxed);
        let hold = u64::try_from(HOLD.as_millis()).unwrap_or(u64::MAX);
        if last == 0 || now_ms().saturating_sub(last) >= hold {
            return Ok(());
        }
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the database server did not answer in time {} ms ago; not waiting again before {HOLD:?}",
                now_ms().saturating_sub(last)
            ),
        )))
    }
}

/// Closes `connection` when `answer` says it failed (see `connection_failed`) instead of giving
/// it back to the pool: sqlx would ping it first, and a ping to a server that does not answer
/// waits as long as TCP does, holding one of the pool's places all that time.
pub(crate) fn release<DB: sqlx::Database, T>(
    connection: &mut sqlx::pool::PoolConnection<DB>,
    answer: &sqlx::Result<T>,
) {
    if matches!(answer, Err(error) if connection_failed(error)) {
        connection.close_on_drop();
    }
}

/// A connection that was idle at least this long is pinged before it is handed out; one in
/// steady use is not (a ping is a round trip to the server, as long as the query itself).
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool of a database server (PostgreSQL, MySQL): 16 connections, `ACQUIRE_TIMEOUT` to get one, and
/// sqlx's ping-before-every-acquire replaced by a ping of connections that sat idle. A server
/// that restarted or a connection a firewall dropped is found out by that ping (the connection
/// is replaced, the query runs on a fresh one); connections that just served a query skip it.
pub(crate) fn server_pool_options<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    use sqlx::Connection;
    options
        .max_connections(16)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    // Bounded: a ping to a host that no longer answers is given up on (the
                    // connection is then closed and another one opened, within the acquire).
                    answer_within(connection.ping()).await?;
                }
                Ok(true)
            })
        })
}

/// A connection of `pool`. Every pooled connection a query uses is taken here, so that the
/// calls waiting for one are counted (`db_pool_waiting_requests`: sqlx does not expose its
/// waiters) and the waits that time out too; an atomic increment and decrement per call.
///
/// On a database server (not SQLite, a file), an operation within `silence::HOLD` of a wait that
/// ran out fails at once, and a wait for a connection that runs out is noted (see `silence`).
pub(crate) async fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> sqlx::Result<sqlx::pool::PoolConnection<DB>> {
    let server = DB::NAME != "SQLite";
    if server {
        silence::check()?;
    }
    let _waiting = metrics::Waiting::start();
    let acquired = pool.acquire().await;
    if let Err(sqlx::Error::PoolTimedOut) = acquired {
        metrics::acquire_timed_out();
        if server {
            silence::noted();
        }
    }
    acquired
}
