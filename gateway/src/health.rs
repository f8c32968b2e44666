//! Upstream instance health, like Nginx's `max_fails`/`fail_timeout` (passive: real requests that
//! could not connect) plus an active probe of each instance's `/readyz`. An instance that is down
//! is tried only when every instance of its upstream is down.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::Shared;

#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    /// Connect failures in a row that take an instance out.
    pub max_fails: u32,
    /// How long it stays out after that.
    pub fail_timeout: Duration,
}

#[derive(Debug, Default)]
pub struct InstanceHealth {
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch()` until which the instance is skipped; `u64::MAX` = until a probe
    /// says it is ready again.
    down_until_ms: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl InstanceHealth {
    pub fn is_available(&self) -> bool {
        let until = self.down_until_ms.load(Ordering::Relaxed);
        until == 0 || now_ms() >= until
    }

    pub fn record_failure(&self, policy: HealthPolicy) {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= policy.max_fails.max(1) {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            let until = now_ms() + policy.fail_timeout.as_millis() as u64;
            self.down_until_ms
                .fetch_max(until.max(1), Ordering::Relaxed);
        }
    }

    pub fn record_success(&self) {
        // Plain loads first: the hot path writes nothing when all is well.
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// The probe found it not ready: out until a probe finds it ready.
    pub fn mark_down(&self) {
        self.down_until_ms.store(u64::MAX, Ordering::Relaxed);
    }

    pub fn mark_up(&self) {
        if self.down_until_ms.load(Ordering::Relaxed) != 0 {
            self.down_until_ms.store(0, Ordering::Relaxed);
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }
}

/// Probes every instance of the current route table every `interval`, until the process ends.
pub fn spawn_prober(shared: Arc<Shared>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    let timeout = interval.min(Duration::from_secs(2));
    crate::every(interval, move || {
        let table = shared.table();
        async move {
            for upstream in table.upstreams() {
                for instance in upstream.instances().iter() {
                    let ready = crate::connect::probe_ready(&instance.authority, timeout).await;
                    let was_available = instance.health.is_available();
                    if ready {
                        instance.health.mark_up();
                    } else {
                        instance.health.mark_down();
                    }
                    if ready != was_available {
                        tracing::info!(upstream = %upstream.name, instance = %instance.url, ready, "instance readiness changed");
                    }
                }
            }
        }
    });
}
