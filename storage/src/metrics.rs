//! The storage's metric families, recorded where the queries run:
//! - `db_query_duration_seconds{operation}`: each call of a public query method, from the call
//!   until its answer (waiting for a pooled connection included), by operation: the method's
//!   name (`create_state`, `states_with_cities`), or for the generic reads and deletes the
//!   method and the table (`list_states`, `get_places`, `delete_states`; see
//!   `Model::OPERATIONS`). Labels are constants: a small set, nothing built per query.
//! - `db_pool_waiting_requests`: calls waiting for a pooled connection now (sqlx does not tell:
//!   every connection is taken through `server::acquire`, which counts).
//! - `db_pool_acquire_timeouts_total`: waits that gave up after the pool's acquire timeout.
//!
//! Why they live here: storage must not depend on actix (`hbnb-common` does), and an observer
//! hook would only hand the same three numbers over to common. So storage keeps its collectors
//! (plain atomics of the `prometheus` crate) and a binary registers them, as one collector, in
//! the process's one registry (`hbnb_common::metrics::register(hbnb_storage::metrics::record())`),
//! as the gateway and the password-hash queue register theirs. Nothing is recorded until a binary
//! asks (db-backup, the tests' own connections never do): until then a query pays one load of a
//! flag.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntGauge};

/// Query latency buckets in seconds: an indexed read on a warm connection (~100 µs) up to a
/// query stuck behind the pool or a lock for seconds.
pub const QUERY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The storage's families; a clone shares the same values. One `Collector`, so a binary
/// registers them in one call.
#[derive(Clone)]
pub struct StorageMetrics {
    query_duration: HistogramVec,
    waiting: IntGauge,
    acquire_timeouts: IntCounter,
}

impl Collector for StorageMetrics {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.query_duration.desc();
        descs.extend(self.waiting.desc());
        descs.extend(self.acquire_timeouts.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut families = self.query_duration.collect();
        families.extend(self.waiting.collect());
        families.extend(self.acquire_timeouts.collect());
        families
    }
}

static METRICS: LazyLock<StorageMetrics> = LazyLock::new(|| {
    StorageMetrics {
    query_duration: HistogramVec::new(
        HistogramOpts::new(
            "db_query_duration_seconds",
            "Storage calls from the call until the answer (waiting for a connection included), by operation.",
        )
        .buckets(QUERY_BUCKETS.to_vec()),
        &["operation"],
    )
    .unwrap_or_else(|_| unreachable!("valid metric options")),
    waiting: IntGauge::new(
        "db_pool_waiting_requests",
        "Storage calls waiting for a pooled database connection now.",
    )
    .unwrap_or_else(|_| unreachable!("valid metric options")),
    acquire_timeouts: IntCounter::new(
        "db_pool_acquire_timeouts_total",
        "Waits for a pooled database connection that gave up after the pool's acquire timeout.",
    )
    .unwrap_or_else(|_| unreachable!("valid metric options")),
}
});

static RECORDING: AtomicBool = AtomicBool::new(false);

fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Starts recording, for the whole process, and returns the families to register.
pub fn record() -> StorageMetrics {
    RECORDING.store(true, Ordering::Relaxed);
    METRICS.clone()
}

/// Runs `query`, then observes how long it took as `operation` (not when it is dropped
/// unfinished: a cancelled call has no answer to time).
pub(crate) async fn timed<T>(operation: &'static str, query: impl Future<Output = T>) -> T {
    if !recording() {
        return query.await;
    }
    let started = Instant::now();
    let answer = query.await;
    observe(operation, started.elapsed());
    answer
}

/// Observes that `operation` took `elapsed` (for the calls not made as one future).
pub(crate) fn observe(operation: &'static str, elapsed: std::time::Duration) {
    if recording() {
        METRICS
            .query_duration
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
    }
}

/// Counts one call in `db_pool_waiting_requests` until dropped: the wait ends with a
/// connection, an error, or the caller giving up (its future dropped).
pub(crate) struct Waiting {
    counted: bool,
}

impl Waiting {
    pub(crate) fn start() -> Waiting {
        let counted = recording();
        if counted {
            METRICS.waiting.inc();
        }
        Waiting { counted }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.counted {
            METRICS.waiting.dec();
        }
    }
}

pub(crate) fn acquire_timed_out() {
    if recording() {
        METRICS.acquire_timeouts.inc();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// A pool of one connection on a fresh in-memory database.
    async fn pool_of_one(acquire_timeout: Duration) -> sqlx::SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(acquire_timeout)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    /// Polls `check` until it holds; fails after a deadline.
    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{what}: never seen (waiting {})",
                METRICS.waiting.get()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn callers_are_counted_while_they_wait_for_a_connection() {
        let _ = record();
        let waiting = || METRICS.waiting.get();

        // A waiter served once the connection comes back.
        let pool = pool_of_one(Duration::from_secs(30)).await;
        let held = crate::server::acquire(&pool).await.unwrap();
        let served = tokio::spawn({
            let pool = pool.clone();
            async move { crate::server::acquire(&pool).await.map(drop) }
        });
        until("a caller waiting", || waiting() >= 1).await;
        drop(held);
        served.await.unwrap().unwrap();
        until("nobody waiting once served", || waiting() == 0).await;

        // A waiter whose caller gave up (its future dropped) is not counted any more.
        let held = crate::server::acquire(&pool).await.unwrap();
        let abandoned = tokio::spawn({
            let pool = pool.clone();
            async move { crate::server::acquire(&pool).await.map(drop) }
        });
        until("a caller waiting", || waiting() >= 1).await;
        abandoned.abort();
        until("nobody waiting once it gave up", || waiting() == 0).await;
        drop(held);

        // A wait that times out is counted as such.
        let pool = pool_of_one(Duration::from_millis(50)).await;
        let _held = crate::server::acquire(&pool).await.unwrap();
        let timeouts = METRICS.acquire_timeouts.get();
        let timed_out = crate::server::acquire(&pool).await;
        assert!(
            matches!(timed_out, Err(sqlx::Error::PoolTimedOut)),
            "{timed_out:?}"
        );
        assert_eq!(METRICS.acquire_timeouts.get(), timeouts + 1);
        assert_eq!(waiting(), 0);
    }
}
