//! The gateway's metric families, beside the shared `http_*` ones (recorded by route, from the
//! access record, when a response is done): per upstream instance, retries, bytes, the error
//! answers operators alert on, instance health and configuration reloads.

use std::sync::{Arc, LazyLock};

use hbnb_common::metrics::{self, LATENCY_BUCKETS};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

use crate::access::AccessRecord;
use crate::Shared;

pub struct GatewayMetrics {
    pub upstream_requests: IntCounterVec,
    pub upstream_response: HistogramVec,
    pub upstream_connect: HistogramVec,
    pub upstream_connect_failures: IntCounterVec,
    pub retries: IntCounterVec,
    pub response_bytes: IntCounterVec,
    pub request_bytes: IntCounterVec,
    pub errors: IntCounterVec,
    pub healthy: IntGaugeVec,
    pub reloads: IntCounterVec,
    pub connections: IntGaugeVec,
    pub config: IntGaugeVec,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("valid metric options"));
    metrics::register(family)
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let family = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|_| unreachable!("valid metric options"));
    metrics::register(family)
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let options = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let family =
        HistogramVec::new(options, labels).unwrap_or_else(|_| unreachable!("valid metric options"));
    metrics::register(family)
}

pub static METRICS: LazyLock<GatewayMetrics> = LazyLock::new(|| {
    GatewayMetrics {
    upstream_requests: counter(
        "gateway_upstream_requests_total",
        "Requests answered through an upstream instance (the last one tried), by status class.",
        &["upstream", "status"],
    ),
    upstream_response: histogram(
        "gateway_upstream_response_seconds",
        "From sending a request to an upstream instance until its response head arrived.",
        &["upstream"],
    ),
    upstream_connect: histogram(
        "gateway_upstream_connect_seconds",
        "Time to open a new connection to an upstream instance (pooled ones take none).",
        &["upstream"],
    ),
    upstream_connect_failures: counter(
        "gateway_upstream_connect_failures_total",
        "Connections to an upstream instance that failed or timed out.",
        &["upstream"],
    ),
    retries: counter(
        "gateway_retries_total",
        "Attempts beyond a request's first (another instance, or a fresh connection), by route.",
        &["route"],
    ),
    response_bytes: counter(
        "gateway_response_bytes_total",
        "Response body bytes sent to clients, by route.",
        &["route"],
    ),
    request_bytes: counter(
        "gateway_request_bytes_total",
        "Request body bytes announced by clients (Content-Length), by route.",
        &["route"],
    ),
    errors: counter(
        "gateway_error_responses_total",
        "Answers operators alert on: 408 (slow client body), 413 (body too large), 502 (upstream failed), 504 (upstream timeout).",
        &["status"],
    ),
    healthy: gauge(
        "gateway_upstream_healthy",
        "1 while an upstream instance is taken (probes and failures say ready), else 0.",
        &["upstream_name", "upstream"],
    ),
    connections: gauge(
        "gateway_upstream_connections",
        "Connections to an upstream authority (host:port): open (in use or idle), and idle in the pools (an idle one past UPSTREAM_IDLE_TIMEOUT counts until a request finds and drops it).",
        &["authority", "state"],
    ),
    reloads: counter(
        "gateway_config_reloads_total",
        "Configuration reloads (SIGHUP), by result: success or failure.",
        &["result"],
    ),
    config: gauge(
        "gateway_config_info",
        "Always 1; `hash` identifies the configuration in use (FNV-1a of the file, or of the built-in table's settings).",
        &["hash"],
    ),
}
});

/// Records a finished request (called once, beside its access-log line).
pub fn record(record: &AccessRecord, bytes: u64) {
    let elapsed = record.started.elapsed();
    if !metrics::recording() {
        return;
    }
    let http = metrics::http();
    let route = record.route.as_deref().unwrap_or(metrics::UNMATCHED);
    let method = metrics::method_label(&record.method);
    let class = metrics::status_class(record.status);
    http.requests
        .with_label_values(&[route, method, class])
        .inc();
    http.duration
        .with_label_values(&[route, method])
        .observe(elapsed.as_secs_f64());
    let gateway = &*METRICS;
    if bytes > 0 {
        gateway
            .response_bytes
            .with_label_values(&[route])
            .inc_by(bytes);
    }
    if record.request_bytes > 0 {
        gateway
            .request_bytes
            .with_label_values(&[route])
            .inc_by(record.request_bytes);
    }
    if record.retries > 0 {
        gateway
            .retries
            .with_label_values(&[route])
            .inc_by(u64::from(record.retries));
    }
    if let Some(upstream) = &record.upstream {
        gateway
            .upstream_requests
            .with_label_values(&[upstream, class])
            .inc();
        if let Some(time) = record.upstream_time {
            gateway
                .upstream_response
                .with_label_values(&[upstream])
                .observe(time.as_secs_f64());
        }
    }
    if matches!(record.status, 408 | 413 | 502 | 504) {
        let status = match record.status {
            408 => "408",
            413 => "413",
            502 => "502",
            _ => "504",
        };
        gateway.errors.with_label_values(&[status]).inc();
    }
}

/// Before each scrape: every instance's health, from the current table (instances removed by a
/// reload disappear).
pub fn watch_health(shared: Arc<Shared>) {
    metrics::on_scrape(move || {
        let gateway = &*METRICS;
        gateway.healthy.reset();
        for upstream in shared.table().upstreams() {
            for instance in upstream.instances().iter() {
                gateway
                    .healthy
                    .with_label_values(&[upstream.name.as_str(), &instance.url])
                    .set(i64::from(instance.health.is_available()));
            }
        }
    });
}

/// An instance a name no longer resolves to: its series go, so that tasks coming and going
/// (every rolling update brings new addresses) do not pile up series in memory.
pub fn forget_instance(url: &str) {
    let gateway = &*METRICS;
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        let _ = gateway.upstream_requests.remove_label_values(&[url, class]);
    }
    let _ = gateway.upstream_response.remove_label_values(&[url]);
    let _ = gateway.upstream_connect.remove_label_values(&[url]);
    let _ = gateway
        .upstream_connect_failures
        .remove_label_values(&[url]);
    // The connection gauges stay: each worker's pool holds their handles, and an address that
    // comes back (Docker reuses them) must find the same series.
}

/// A reload's outcome, and the configuration in use.
pub fn config_loaded(hash: Option<u64>, reload: Option<bool>) {
    let gateway = &*METRICS;
    // Both results exist from the start, at 0, so a rate over them is defined.
    for result in ["success", "failure"] {
        gateway.reloads.with_label_values(&[result]);
    }
    if let Some(success) = reload {
        let result = if success { "success" } else { "failure" };
        gateway.reloads.with_label_values(&[result]).inc();
    }
    if let Some(hash) = hash {
        gateway.config.reset();
        gateway
            .config
            .with_label_values(&[format!("{hash:016x}").as_str()])
            .set(1);
    }
}

/// FNV-1a, 64 bits: a stable fingerprint of the configuration's bytes.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
