//! Tracing set-up and the per-request access log line shared by the services.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::HttpMessage;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Keeps the log writer thread running; dropping it (at the end of `main`) flushes what is queued.
#[must_use = "hold the guard until main returns, or the last log lines may be lost"]
pub struct LogGuard {
    _writer: Option<crate::log_writer::Flusher>,
}

/// `RUST_LOG` when unset. actix-http's dispatcher logs every malformed request and broken client
/// connection at ERROR: those are client mistakes, answered 400/431 (or the client left), not
/// our faults, and any client could flood the log with them.
pub const DEFAULT_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Installs the global subscriber: level from `RUST_LOG` (default [`DEFAULT_FILTER`]), JSON or pretty lines on stdout.
/// Calling it twice is harmless (the second call is ignored), which keeps in-process tests simple.
/// Lines are written in batches by a thread of their own (`crate::log_writer`).
pub fn init(format: Option<LogFormat>) -> LogGuard {
    init_to(format, LogOutput::Stdout)
}

/// Where log lines go: a service logs to stdout (journald, `docker logs`); a command whose
/// stdout is its output (`db-backup list --json`) logs to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogOutput {
    Stdout,
    Stderr,
}

/// [`init`] with the output chosen; with no format, pretty on a terminal and JSON otherwise.
pub fn init_to(format: Option<LogFormat>, output: LogOutput) -> LogGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let (terminal, sink): (bool, Box<dyn std::io::Write + Send>) = match output {
        LogOutput::Stdout => (std::io::stdout().is_terminal(), Box::new(std::io::stdout())),
        LogOutput::Stderr => (std::io::stderr().is_terminal(), Box::new(std::io::stderr())),
    };
    let format = format.unwrap_or(if terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let (writer, flusher) = crate::log_writer::start(sink);
    let _ = RAW.set(writer.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || writer.clone());
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    LogGuard {
        _writer: installed.ok().map(|()| flusher),
    }
}

/// The log writer, for lines written as they are (the gateway's `combined` access lines).
static RAW: std::sync::OnceLock<crate::log_writer::LogWriter> = std::sync::OnceLock::new();

/// Writes `line` (ending in a newline) as it is to the log's output, through the log's writer
/// thread: one write, so it never interleaves with another line.
pub fn write_line(line: &str) {
    use std::io::Write as _;
    let result = match RAW.get() {
        Some(writer) => writer.clone().write_all(line.as_bytes()),
        None => std::io::stdout().write_all(line.as_bytes()),
    };
    if let Err(error) = result {
        tracing::debug!(%error, "cannot write a log line");
    }
}

/// When the request started, kept in the request extensions for the access log.
struct RequestStart(Instant);

/// Root span for every request (`tracing-actix-web`), carrying the request id the gateway passes
/// on (`X-Request-Id`) or a generated one, and one access-log event when the request ends.
pub struct AccessLog;

impl RootSpanBuilder for AccessLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request
            .extensions_mut()
            .insert(RequestStart(Instant::now()));
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                request
                    .extensions()
                    .get::<RequestId>()
                    .map(|id| id.to_string())
            })
            .unwrap_or_default();
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.path(),
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let elapsed_ms = response
                    .request()
                    .extensions()
                    .get::<RequestStart>()
                    .map(|start| start.0.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or_default();
                let bytes = match response.response().body().size() {
                    actix_web::body::BodySize::Sized(n) => Some(n),
                    _ => None,
                };
                let path = response.request().path();
                // Probes (the gateway's every second, an orchestrator's) would be most of the
                // log: at debug (`RUST_LOG=info,access=debug` shows them), unless they fail.
                if is_probe(path) && response.status().is_success() {
                    tracing::debug!(
                        target: "access",
                        method = %response.request().method(),
                        path,
                        status = response.status().as_u16(),
                        bytes,
                        elapsed_ms,
                        "request"
                    );
                    return;
                }
                tracing::info!(
                    target: "access",
                    method = %response.request().method(),
                    path,
                    status = response.status().as_u16(),
                    bytes,
                    elapsed_ms,
                    "request"
                );
            }
            Err(error) => tracing::warn!(target: "access", %error, "request failed"),
        }
    }
}

/// Health probes, logged at debug level when they succeed.
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}
