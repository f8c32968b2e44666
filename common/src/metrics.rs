//! Prometheus metrics, the same for every binary: one process-wide registry, the HTTP request
//! families every server records, process and build information, and the `/metrics` answer.
//!
//! Families (see docs/design/observability.md):
//! - `http_requests_total{route,method,status}`: answered requests; `route` is the matched route
//!   *pattern* (`/api/v1/states/{state_id}`; `unmatched` when none matched; the gateway's own
//!   route names), `method` one of the standard methods or `other`, `status` the class (`2xx`).
//! - `http_request_duration_seconds{route,method}`: until the response head was ready.
//! - `http_requests_in_flight`: requests being handled now.
//! - `hbnb_build_info{binary,version,commit}`: always 1.
//! - `process_*`: resident memory, CPU seconds, open and max fds, threads, start time (`/proc`).
//!
//! Services register their own families (`register`) and may refresh gauges just before each
//! scrape (`on_scrape`), so nothing is computed while nobody looks.
//!
//! Costs on the request path: one gauge increment and decrement, one counter and one histogram
//! observation (atomics) found by their label values in a hash map behind a read lock.

use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::Method;
use actix_web::HttpResponse;
use futures_util::future::{ready, LocalBoxFuture, Ready};
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds: sub-millisecond proxying up to the gateway's 60 s timeout.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label a request gets when no route pattern matched it.
pub const UNMATCHED: &str = "unmatched";

type Hook = Box<dyn Fn() + Send + Sync>;

/// Whether requests are recorded at all (the gateway turns it off with `METRICS_PORT=off`:
/// nobody could read them). Process and build families are computed at scrape time anyway.
static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns request recording on or off, for the whole process.
pub fn set_recording(on: bool) {
    RECORDING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether request metrics are recorded.
pub fn recording() -> bool {
    RECORDING.load(std::sync::atomic::Ordering::Relaxed)
}

/// The HTTP families every server records.
pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
}

struct Metrics {
    registry: Registry,
    http: HttpMetrics,
    hooks: Mutex<Vec<Hook>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "http_requests_total",
            "Requests answered, by route pattern, method and status class.",
        ),
        &["route", "method", "status"],
    )
    .unwrap_or_else(|_| unreachable!("valid metric options"));
    let duration = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "Time from a request's arrival until its response head was ready, by route pattern and method.",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &["route", "method"],
    )
    .unwrap_or_else(|_| unreachable!("valid metric options"));
    let in_flight = IntGauge::new("http_requests_in_flight", "Requests being handled now.")
        .unwrap_or_else(|_| unreachable!("valid metric options"));
    let build = IntGaugeVec::new(
        Opts::new(
            "hbnb_build_info",
            "Always 1; the labels say which binary, version and git commit runs.",
        ),
        &["binary", "version", "commit"],
    )
    .unwrap_or_else(|_| unreachable!("valid metric options"));
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .map(|name| name.trim_end_matches(" (deleted)").to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    build
        .with_label_values(&[
            binary.as_str(),
            env!("CARGO_PKG_VERSION"),
            env!("HBNB_GIT_COMMIT"),
        ])
        .set(1);
    let collectors: [Box<dyn Collector>; 5] = [
        Box::new(requests.clone()),
        Box::new(duration.clone()),
        Box::new(in_flight.clone()),
        Box::new(build),
        Box::new(prometheus::process_collector::ProcessCollector::for_self()),
    ];
    for collector in collectors {
        if let Err(error) = registry.register(collector) {
            tracing::error!(%error, "cannot register a metric family");
        }
    }
    Metrics {
        registry,
        http: HttpMetrics {
            requests,
            duration,
            in_flight,
        },
        hooks: Mutex::new(Vec::new()),
    }
});

/// The HTTP families, for a binary that records its own requests (the gateway).
pub fn http() -> &'static HttpMetrics {
    &METRICS.http
}

/// Registers a binary's own family and returns it (a clone shares the same values). A second
/// registration of the same name (a second `build` in one process) returns the first one's
/// values only if the caller keeps its own handle: register once, at start.
pub fn register<C: Collector + Clone + 'static>(collector: C) -> C {
    if let Err(error) = METRICS.registry.register(Box::new(collector.clone())) {
        tracing::debug!(%error, "metric family already registered");
    }
    collector
}

/// Runs `hook` before every scrape, to refresh gauges from state kept elsewhere.
pub fn on_scrape(hook: impl Fn() + Send + Sync + 'static) {
    if let Ok(mut hooks) = METRICS.hooks.lock() {
        hooks.push(Box::new(hook));
    }
}

/// `db_pool_connections{state="open"|"idle"}` and `db_pool_max_connections`, read from `stats`
/// (open, idle, max) at each scrape.
pub fn watch_pool(stats: impl Fn() -> (u32, u32, u32) + Send + Sync + 'static) {
    let connections = register(
        IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Database pool connections: open (idle or in use), and idle of those.",
            ),
            &["state"],
        )
        .unwrap_or_else(|_| unreachable!("valid metric options")),
    );
    let max = register(
        IntGauge::new(
            "db_pool_max_connections",
            "The database pool's connection limit.",
        )
        .unwrap_or_else(|_| unreachable!("valid metric options")),
    );
    on_scrape(move || {
        let (open, idle, limit) = stats();
        connections
            .with_label_values(&["open"])
            .set(i64::from(open));
        connections
            .with_label_values(&["idle"])
            .set(i64::from(idle));
        max.set(i64::from(limit));
    });
}

/// Every family in Prometheus' text format.
pub fn render() -> String {
    if let Ok(hooks) = METRICS.hooks.lock() {
        for hook in hooks.iter() {
            hook();
        }
    }
    let mut out = Vec::with_capacity(16 * 1024);
    if let Err(error) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out) {
        tracing::error!(%error, "cannot encode the metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The `/metrics` handler.
pub async fn handler() -> HttpResponse {
    HttpResponse::Ok().content_type(CONTENT_TYPE).body(render())
}

/// Serves `/metrics` alone on its own listener (the gateway's `METRICS_PORT`, away from the
/// public port), one worker, until the process exits. The socket is bound with `SO_REUSEPORT`:
/// during an in-place upgrade the successor binds the same port while its predecessor still
/// serves. Logs `metrics listening` with the port (0 asks for any free one).
pub fn serve(addr: std::net::SocketAddr) -> std::io::Result<u16> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    socket.listen(128)?;
    let listener: std::net::TcpListener = socket.into();
    let port = listener.local_addr()?.port();
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().route("/metrics", actix_web::web::get().to(handler))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    actix_web::rt::spawn(server);
    tracing::info!(addr = %addr, metrics_port = port, "metrics listening");
    Ok(port)
}

/// A method label with bounded values: a client may send any token as its method.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// `2xx`, `4xx`, ...
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts requests in flight; when `record` is set, also counts each answered request and its
/// latency by route pattern (the gateway records its own, by its own routes).
pub struct RequestMetrics {
    pub record: bool,
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestMetricsService {
            service: std::rc::Rc::new(service),
            record: self.record,
        }))
    }
}

pub struct RequestMetricsService<S> {
    service: std::rc::Rc<S>,
    record: bool,
}

/// Decrements the in-flight gauge however the request ends (even if its future is dropped).
struct InFlight;

impl InFlight {
    fn start() -> Self {
        METRICS.http.in_flight.inc();
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.http.in_flight.dec();
    }
}

impl<S, B> Service<ServiceRequest> for RequestMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        if !recording() {
            return Box::pin(self.service.call(req));
        }
        let in_flight = InFlight::start();
        let record = self.record;
        let started = Instant::now();
        let method = method_label(req.method());
        let response = self.service.call(req);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            if record {
                let (route, status) = match &response {
                    Ok(response) => {
                        let request = response.request();
                        let route = request
                            .match_pattern()
                            .unwrap_or_else(|| UNMATCHED.to_owned());
                        (route, response.status().as_u16())
                    }
                    Err(error) => (
                        UNMATCHED.to_owned(),
                        error.as_response_error().status_code().as_u16(),
                    ),
                };
                let http = &METRICS.http;
                http.requests
                    .with_label_values(&[route.as_str(), method, status_class(status)])
                    .inc();
                http.duration
                    .with_label_values(&[route.as_str(), method])
                    .observe(started.elapsed().as_secs_f64());
            }
            response
        })
    }
}
