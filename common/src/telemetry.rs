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
    let journal = writes_to_journal(output);
    let _ = RAW.set(writer.clone());
    let _ = JOURNAL.set(journal);
    let json = format == LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LevelWriter { writer, journal });
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    if installed.is_ok() && json {
        let _ = JSON_LINES.set(());
    }
    LogGuard {
        _writer: installed.ok().map(|()| flusher),
    }
}

/// True when our log output is the journal's stream: systemd sets `JOURNAL_STREAM` to the
/// device and inode of the stream it connected to stdout/stderr, and they are still ours (not
/// replaced by a shell's redirection).
fn writes_to_journal(output: LogOutput) -> bool {
    use std::os::fd::AsRawFd;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let fd = match output {
        LogOutput::Stdout => std::io::stdout().as_raw_fd(),
        LogOutput::Stderr => std::io::stderr().as_raw_fd(),
    };
    // SAFETY: fstat only writes into the zeroed struct we pass.
    let stat = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut stat) != 0 {
            return false;
        }
        stat
    };
    device.parse() == Ok(stat.st_dev) && inode.parse() == Ok(stat.st_ino)
}

/// The sd-daemon prefix that gives a line its syslog priority in the journal (`<3>` for an
/// error), so that `journalctl -p err -u hbnb-api-service` finds the service's errors.
fn journal_prefix(level: tracing::Level) -> &'static [u8] {
    match level {
        tracing::Level::ERROR => b"<3>",
        tracing::Level::WARN => b"<4>",
        tracing::Level::INFO => b"<6>",
        tracing::Level::DEBUG | tracing::Level::TRACE => b"<7>",
    }
}

/// Set once the subscriber is installed: whether lines carry the journal's priority prefix.
static JOURNAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// tracing-subscriber's writer: each event's line goes to the log writer, behind its level's
/// priority prefix when the output is the journal.
struct LevelWriter {
    writer: crate::log_writer::LogWriter,
    journal: bool,
}

/// One event's line, written with `prefix` before it.
struct PrefixedLine {
    writer: crate::log_writer::LogWriter,
    prefix: &'static [u8],
}

impl std::io::Write for PrefixedLine {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.writer.append_prefixed(self.prefix, line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LevelWriter {
    type Writer = PrefixedLine;

    fn make_writer(&'a self) -> PrefixedLine {
        PrefixedLine {
            writer: self.writer.clone(),
            prefix: b"",
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> PrefixedLine {
        PrefixedLine {
            writer: self.writer.clone(),
            prefix: if self.journal {
                journal_prefix(*meta.level())
            } else {
                b""
            },
        }
    }
}

/// Set once the installed subscriber writes JSON lines.
static JSON_LINES: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// One JSON log line written by hand, byte for byte what tracing-subscriber's JSON formatter
/// writes for the same event (`timestamp`, `level`, `message`, the fields in order, `target`),
/// for the one line every request makes: the formatter took about 21,000 instructions per line
/// (its visitor, `Display` into strings, serde_json's map), a quarter of all the gateway's work
/// for a request (callgrind). Only while the log is JSON ([`JsonLine::start`]); otherwise the
/// caller logs through `tracing` as usual.
pub struct JsonLine {
    level: tracing::Level,
    line: Vec<u8>,
}

impl JsonLine {
    /// A line at `level`, if the log is JSON; the caller has checked that the level is enabled
    /// for its target (`tracing::enabled!`).
    pub fn start(level: tracing::Level, message: &str) -> Option<JsonLine> {
        JSON_LINES.get()?;
        Some(JsonLine::new(level, message))
    }

    fn new(level: tracing::Level, message: &str) -> JsonLine {
        use tracing_subscriber::fmt::time::FormatTime as _;
        // The formatter's own clock and format (RFC 3339, microseconds, UTC).
        let mut timestamp = String::with_capacity(32);
        let _ = tracing_subscriber::fmt::time::SystemTime.format_time(
            &mut tracing_subscriber::fmt::format::Writer::new(&mut timestamp),
        );
        let mut line = Vec::with_capacity(384);
        line.extend_from_slice(b"{\"timestamp\":\"");
        line.extend_from_slice(timestamp.as_bytes());
        line.extend_from_slice(b"\",\"level\":\"");
        line.extend_from_slice(level.as_str().as_bytes());
        line.push(b'"');
        let mut json = JsonLine { level, line };
        json.field("message", message);
        json
    }

    /// A field, as serde_json writes the value (strings escaped, an f64 in its shortest exact
    /// form, NaN or infinity as null), as tracing's JSON visitor does. Keys are constants.
    pub fn field<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) -> &mut Self {
        self.line.extend_from_slice(b",\"");
        self.line.extend_from_slice(key.as_bytes());
        self.line.extend_from_slice(b"\":");
        // Into a Vec: cannot fail.
        let _ = serde_json::to_writer(&mut self.line, value);
        self
    }

    /// Ends the line with its `target` and writes it (see [`write_line`]).
    pub fn write(&mut self, target: &str) {
        self.end(target);
        write_bytes(self.level, &self.line);
    }

    fn end(&mut self, target: &str) {
        self.field("target", target);
        self.line.extend_from_slice(b"}\n");
    }
}

/// The log writer, for lines written as they are (the gateway's `combined` access lines).
static RAW: std::sync::OnceLock<crate::log_writer::LogWriter> = std::sync::OnceLock::new();

/// Writes `line` (ending in a newline) as it is to the log's output, through the log's writer
/// thread: one write, so it never interleaves with another line.
pub fn write_line(line: &str) {
    write_bytes(tracing::Level::INFO, line.as_bytes());
}

fn write_bytes(level: tracing::Level, line: &[u8]) {
    use std::io::Write as _;
    let result = match RAW.get() {
        Some(writer) => {
            let prefix = match JOURNAL.get() {
                Some(true) => journal_prefix(level),
                _ => b"",
            };
            writer.append_prefixed(prefix, line);
            Ok(())
        }
        None => std::io::stdout().write_all(line),
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
                let method = response.request().method();
                let status = response.status().as_u16();
                // Probes (the gateway's every second, an orchestrator's) would be most of the
                // log: at debug (`RUST_LOG=info,access=debug` shows them), unless they fail.
                let probe = is_probe(path) && response.status().is_success();
                let enabled = if probe {
                    tracing::enabled!(target: "access", tracing::Level::DEBUG)
                } else {
                    tracing::enabled!(target: "access", tracing::Level::INFO)
                };
                if !enabled {
                    return;
                }
                let level = if probe {
                    tracing::Level::DEBUG
                } else {
                    tracing::Level::INFO
                };
                if let Some(mut line) = JsonLine::start(level, "request") {
                    line.field("method", method.as_str())
                        .field("path", path)
                        .field("status", &status);
                    if let Some(bytes) = bytes {
                        line.field("bytes", &bytes);
                    }
                    line.field("elapsed_ms", &elapsed_ms).write("access");
                } else if probe {
                    tracing::debug!(target: "access", %method, path, status, bytes, elapsed_ms, "request");
                } else {
                    tracing::info!(target: "access", %method, path, status, bytes, elapsed_ms, "request");
                }
            }
            Err(error) => tracing::warn!(target: "access", %error, "request failed"),
        }
    }
}

/// Health probes, logged at debug level when they succeed.
pub fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// What tracing-subscriber's JSON formatter (as `init` sets it up) writes for one event.
    fn formatted(event: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || SharedSink(sink.clone()))
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(subscriber, event);
        let bytes = out.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    struct SharedSink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for SharedSink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The line without its timestamp's value (the two clocks are read apart).
    fn untimed(line: &str) -> String {
        match (line.find("\"timestamp\":\""), line.find("\",\"level\"")) {
            (Some(start), Some(end)) => format!("{}{}", &line[..start + 13], &line[end..]),
            _ => line.to_owned(),
        }
    }

    #[test]
    fn a_hand_written_line_is_the_formatters_line() {
        let path = "/a \"quoted\" \\ path\u{1}\u{7f} é 🏠";
        let (status, bytes, retries, complete) = (404u16, 12_345u64, 2u32, true);
        let (upstream_ms, total_ms) = (0.1 + 0.2, 183.411_741_999_999_98_f64);
        let expected = formatted(|| {
            tracing::info!(
                target: "access",
                method = %"GET",
                path = %path,
                status,
                bytes,
                upstream = "http://127.0.0.1:5000",
                upstream_ms,
                total_ms,
                retries,
                request_id = %"a-b-c",
                complete,
                "request"
            );
            tracing::debug!(target: "access", method = %"GET", path, status, elapsed_ms = f64::NAN, "request");
        });
        let mut line = JsonLine::new(tracing::Level::INFO, "request");
        line.field("method", "GET")
            .field("path", path)
            .field("status", &status)
            .field("bytes", &bytes)
            .field("upstream", "http://127.0.0.1:5000")
            .field("upstream_ms", &upstream_ms)
            .field("total_ms", &total_ms)
            .field("retries", &retries)
            .field("request_id", "a-b-c")
            .field("complete", &complete)
            .end("access");
        let mut probe = JsonLine::new(tracing::Level::DEBUG, "request");
        probe
            .field("method", "GET")
            .field("path", path)
            .field("status", &status)
            .field("elapsed_ms", &f64::NAN)
            .end("access");
        let written = format!(
            "{}{}",
            String::from_utf8_lossy(&line.line),
            String::from_utf8_lossy(&probe.line)
        );
        let expected: Vec<String> = expected.lines().map(untimed).collect();
        let written: Vec<String> = written.lines().map(untimed).collect();
        assert_eq!(written, expected);
        assert_eq!(written.len(), 2);
    }
}
