//! Server start-up and graceful shutdown, the same for every binary.
//!
//! `Application::build` binds (or inherits, via `LISTEN_FDS`) the listener and reports the real
//! port, so tests can ask for port 0; `run_until_stopped` serves until SIGTERM/SIGINT, then turns
//! readiness off, stops accepting, lets in-flight requests finish within the shutdown timeout and
//! returns.

use std::io;
use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::health::{self, Readiness};
use crate::settings::ServerSettings;
use crate::telemetry::AccessLog;

/// What differs between binaries in the common App wrapper.
#[derive(Clone, Default)]
pub struct AppOptions {
    /// Log one line per request through `tracing-actix-web` (the gateway writes its own).
    pub access_log: bool,
    /// A header added to every response, e.g. the gateway's `X-Served-By`.
    pub response_header: Option<(HeaderName, HeaderValue)>,
}

pub struct Application {
    server: Server,
    local_addr: SocketAddr,
    readiness: Readiness,
    drain_delay: std::time::Duration,
}

/// Takes the listening socket systemd (or an upgrading parent) passed us, if any; otherwise binds.
pub fn listener(settings: &ServerSettings, default_port: u16) -> io::Result<TcpListener> {
    let mut fds = listenfd::ListenFd::from_env();
    if let Some(listener) = fds.take_tcp_listener(0)? {
        listener.set_nonblocking(true)?;
        tracing::info!(addr = %listener.local_addr()?, "using inherited listening socket");
        return Ok(listener);
    }
    let addr = SocketAddr::new(settings.host, settings.port.unwrap_or(default_port));
    TcpListener::bind(addr).map_err(|error| {
        let hint = if error.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
            " (ports below 1024 need privileges: run as root, grant CAP_NET_BIND_SERVICE, or choose another port with PORT=8080)"
        } else if error.kind() == io::ErrorKind::AddrInUse {
            " (another process listens there: stop it, or choose another port with PORT=...)"
        } else {
            ""
        };
        io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}{hint}"))
    })
}

impl Application {
    /// Binds and builds the server. `configure` registers the service's routes and app data; it runs
    /// once per worker, so anything it creates (an HTTP client, a cache) is per worker.
    pub fn build<C>(
        settings: &ServerSettings,
        default_port: u16,
        readiness: Readiness,
        options: AppOptions,
        configure: C,
    ) -> io::Result<Self>
    where
        C: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let listener = listener(settings, default_port)?;
        let local_addr = listener.local_addr()?;
        let readiness_data = web::Data::new(readiness.clone());
        let header = options.response_header.clone();
        let server = HttpServer::new(move || {
            let headers = match &header {
                Some((name, value)) => DefaultHeaders::new().add((name.clone(), value.clone())),
                None => DefaultHeaders::new(),
            };
            App::new()
                .wrap(Condition::new(header.is_some(), headers))
                .wrap(Condition::new(
                    options.access_log,
                    TracingLogger::<AccessLog>::new(),
                ))
                .app_data(readiness_data.clone())
                .configure(health::configure)
                .configure(configure.clone())
        })
        .workers(settings.workers())
        .shutdown_timeout(settings.shutdown_timeout().as_secs())
        .disable_signals()
        .listen(listener)?
        .run();
        tracing::info!(addr = %local_addr, port = local_addr.port(), "listening");
        Ok(Self {
            server,
            local_addr,
            readiness,
            drain_delay: settings.drain_delay,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let handle = self.server.handle();
        let readiness = self.readiness.clone();
        let drain_delay = self.drain_delay;
        tokio::spawn(async move {
            let signal = wait_for_stop_signal().await;
            readiness.begin_shutdown();
            if !drain_delay.is_zero() {
                tracing::info!(
                    signal,
                    ?drain_delay,
                    "shutdown requested: not ready any more, still serving while traffic drains"
                );
                tokio::time::sleep(drain_delay).await;
            }
            tracing::info!(
                signal,
                "shutting down: refusing new connections, finishing in-flight requests"
            );
            handle.stop(true).await;
        });
        self.server.await?;
        tracing::info!("stopped");
        Ok(())
    }
}

async fn wait_for_stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

/// The whole of a binary's `main` after parsing settings: build, serve, and turn a start-up
/// failure into a logged error and a non-zero exit code.
pub async fn run(application: io::Result<Application>) -> std::process::ExitCode {
    let result = match application {
        Ok(application) => application.run_until_stopped().await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
