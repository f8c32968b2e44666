//! Server start-up and graceful shutdown, the same for every binary.
//!
//! `Application::build` binds (or inherits, via `LISTEN_FDS`) the listener and reports the real
//! port, so tests can ask for port 0; `run_until_stopped` serves until SIGTERM/SIGINT, then turns
//! readiness off, stops accepting, lets in-flight requests finish within the shutdown timeout and
//! returns.
//!
//! SIGUSR2 upgrades the process in place (Nginx's "upgrade executable"): it starts its own binary
//! again (see `upgrade`), hands it the listening socket, and once the successor says it is ready,
//! stops accepting and drains. The socket never closes, so no connection is refused.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::dev::Service as _;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::{Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing_actix_web::TracingLogger;

use crate::listen::{self, Bind, ListenAddr, Listener, SocketFile};
use crate::upgrade::{self, Successor};

use crate::health::{self, Readiness};
use crate::settings::ServerSettings;
use crate::telemetry::AccessLog;

/// What differs between binaries in the common App wrapper; the default is a service's.
#[derive(Clone)]
pub struct AppOptions {
    /// Log one line per request through `tracing-actix-web` (the gateway writes its own).
    pub access_log: bool,
    /// A header added to every response, e.g. the gateway's `X-Served-By`.
    pub response_header: Option<(HeaderName, HeaderValue)>,
    /// Count requests by route pattern in `http_requests_total` and its latency histogram (the
    /// gateway records its own, by its route table). In-flight requests are counted either way.
    pub request_metrics: bool,
    /// Answer `GET /metrics` on this listener (the gateway serves it on `METRICS_PORT` only).
    pub metrics_route: bool,
    /// A second listener speaking TLS (HTTP/1.1 and h2 by ALPN), beside the plain one.
    pub tls: Option<TlsListen>,
    /// Connection limits and timeouts; the defaults are actix's and Nginx's.
    pub connections: ConnectionOptions,
    /// SIGHUP replaces the process in place as SIGUSR2 does (Gunicorn's graceful reload: the new
    /// binary and configuration, no request lost). Off for the gateway, whose SIGHUP re-reads its
    /// configuration (Nginx's).
    pub hangup_upgrades: bool,
    /// Every connection on the TCP listeners (plain and TLS, not a Unix socket) starts with a
    /// PROXY protocol header naming the client (the gateway's `PROXY_PROTOCOL`): see
    /// `actix_http::proxy_protocol`. Read within the header timeout.
    pub proxy_protocol: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            access_log: true,
            response_header: None,
            request_metrics: true,
            metrics_route: true,
            tls: None,
            connections: ConnectionOptions::default(),
            hangup_upgrades: true,
            proxy_protocol: false,
        }
    }
}

/// The TLS listener: on `port` of the same host (inherited as the second `LISTEN_FDS` socket
/// after an upgrade), with this rustls configuration (ALPN `h2` and `http/1.1` are added by
/// actix-web).
#[derive(Clone)]
pub struct TlsListen {
    pub port: u16,
    pub config: rustls::ServerConfig,
}

/// What a client connection may do before it is closed (Nginx's `keepalive_timeout`,
/// `client_header_timeout`, `worker_connections`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionOptions {
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// How long a client may take to send a request head (408 beyond, then close).
    pub header_timeout: Duration,
    /// Most connections open at once, all workers together (no more are accepted beyond);
    /// `None`: actix's 25,000 per worker.
    pub max_connections: Option<usize>,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        Self {
            keep_alive: KEEP_ALIVE,
            header_timeout: Duration::from_secs(5),
            max_connections: None,
        }
    }
}

/// How long an idle keep-alive connection stays open (actix's default, set explicitly because the
/// upgrade drain relies on it, and the gateway's `UPSTREAM_IDLE_TIMEOUT` stays below it).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

pub struct Application {
    server: Server,
    local_addr: ListenAddr,
    tls_addr: Option<ListenAddr>,
    /// What the signal-handling task needs once the server runs.
    control: Control,
    /// The signal handlers, registered before the server accepted anything.
    signals: io::Result<Signals>,
    /// Set when this process was started by an upgrading predecessor, to tell it we are ready.
    predecessor: Option<upgrade::Predecessor>,
    /// Our Unix socket's file, removed when we stop (unless a successor took it over).
    socket_file: Option<SocketFile>,
}

/// Decrements the open-connection count when actix drops the connection's data.
struct ConnectionGuard(Arc<AtomicUsize>);

/// A place in each connection's data (`HttpRequest::conn_data`) for the application to keep
/// something for the connection's lifetime, e.g. the gateway's per-client connection count;
/// dropped when the connection closes.
#[derive(Default)]
pub struct ConnectionSlot(std::cell::RefCell<Option<Box<dyn std::any::Any>>>);

impl ConnectionSlot {
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_none()
    }

    pub fn fill(&self, value: impl std::any::Any) {
        *self.0.borrow_mut() = Some(Box::new(value));
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The inherited socket at `index` (0: plain, 1: TLS), or a new one: the plain listener on
/// `BIND` (a Unix socket or HOST:PORT) or HOST:`port`, the TLS one on HOST:`port`. Also the socket
/// file to remove when we stop cleanly, if we own one.
fn listener_at(
    fds: &mut listenfd::ListenFd,
    held_by_systemd: bool,
    index: usize,
    // The plain listener (`BIND` applies to it), not the TLS one.
    plain: bool,
    settings: &ServerSettings,
    port: u16,
) -> io::Result<(Listener, Option<SocketFile>)> {
    if let Some(listener) = listen::inherited(fds, index)? {
        tracing::info!(addr = %listener.local_addr()?, index, "using inherited listening socket");
        let file = SocketFile::of_inherited(&listener, held_by_systemd);
        return Ok((listener, file));
    }
    let addr = match (&settings.bind, plain) {
        (Some(Bind::Unix(path)), true) => {
            let (listener, file) = listen::bind_unix(path, settings.socket_mode)?;
            return Ok((listener, Some(file)));
        }
        (Some(Bind::Tcp(addr)), true) => *addr,
        _ => SocketAddr::new(settings.host, port),
    };
    let listener = bind(addr, settings.backlog).map_err(|error| {
        let hint = if error.kind() == io::ErrorKind::PermissionDenied && !plain && held_by_systemd
        {
            " (under systemd the HTTPS socket is hbnb-gateway-https.socket's: `hbnb-ctl tls CERT KEY` enables it)"
        } else if error.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
            " (ports below 1024 need privileges: run as root, grant CAP_NET_BIND_SERVICE, or choose another port with PORT=8080)"
        } else if error.kind() == io::ErrorKind::AddrInUse {
            " (another process listens there: stop it, or choose another port with PORT=...)"
        } else {
            ""
        };
        io::Error::new(error.kind(), format!("cannot listen on {addr}: {error}{hint}"))
    })?;
    Ok((Listener::Tcp(listener), None))
}

/// `std`'s `TcpListener::bind` always listens with a backlog of 128. `[::]` listens for both
/// families on one socket (IPv4 clients as `::ffff:a.b.c.d`), or on 0.0.0.0 where the host has no
/// IPv6.
fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let dual_stack = addr.ip() == std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    match bind_one(addr, backlog, dual_stack) {
        Err(error)
            if dual_stack
                && matches!(
                    error.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
                ) =>
        {
            let v4 = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), addr.port());
            tracing::info!(%error, fallback = %v4, "no IPv6 here: listening on IPv4 only");
            bind_one(v4, backlog, false)
        }
        result => result,
    }
}

fn bind_one(addr: SocketAddr, backlog: u32, dual_stack: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        // Linux's default (net.ipv6.bindv6only=0), made sure of: IPv4 clients too.
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
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
        crate::process::tune_allocator();
        let exe = std::env::current_exe();
        let predecessor = upgrade::Predecessor::from_env();
        let held_by_systemd = listen::held_by_systemd();
        let indexes = listen::InheritedIndexes::from_env();
        let mut fds = listenfd::ListenFd::from_env();
        let port = settings.port.unwrap_or(default_port);
        let (listener, socket_file) = listener_at(
            &mut fds,
            held_by_systemd,
            indexes.plain,
            true,
            settings,
            port,
        )?;
        let tls = match &options.tls {
            Some(tls) => {
                let (listener, _) = listener_at(
                    &mut fds,
                    held_by_systemd,
                    indexes.tls,
                    false,
                    settings,
                    tls.port,
                )?;
                let Listener::Tcp(listener) = listener else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "the TLS listener must be a TCP socket",
                    ));
                };
                Some((listener, tls.config.clone()))
            }
            // A socket on 443 that nobody would answer: connections would hang there.
            None if indexes.tls_named => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "systemd passes an HTTPS socket (hbnb-gateway-https.socket) but no TLS \
                     certificate is configured: set TLS_CERT and TLS_KEY (`hbnb-ctl tls CERT KEY` \
                     does both), or `systemctl disable --now hbnb-gateway-https.socket`",
                ));
            }
            None => None,
        };
        let mut kept = vec![listener.try_clone()?];
        if let Some((tls_listener, _)) = &tls {
            kept.push(Listener::Tcp(tls_listener.try_clone()?));
        }
        let local_addr = listener.local_addr()?;
        let tls_addr = match &tls {
            Some((tls_listener, _)) => Some(ListenAddr::Tcp(tls_listener.local_addr()?)),
            None => None,
        };
        let limits = options.connections;
        // Before the listeners are handed to actix: no connection is accepted before it knows.
        if options.proxy_protocol {
            if let Listener::Tcp(listener) = &listener {
                actix_http::proxy_protocol::expect_on(
                    listener.local_addr()?,
                    limits.header_timeout,
                );
            }
            if let Some((tls_listener, _)) = &tls {
                actix_http::proxy_protocol::expect_on(
                    tls_listener.local_addr()?,
                    limits.header_timeout,
                );
            }
        }
        let readiness_data = web::Data::new(readiness.clone());
        let header = options.response_header.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let server = HttpServer::new(move || {
            let headers = match &header {
                Some((name, value)) => DefaultHeaders::new().add((name.clone(), value.clone())),
                None => DefaultHeaders::new(),
            };
            let draining = readiness_data.clone();
            let metrics_route = options.metrics_route;
            App::new()
                .wrap(Condition::new(header.is_some(), headers))
                .wrap(Condition::new(
                    options.access_log,
                    TracingLogger::<AccessLog>::new(),
                ))
                // While shutting down, every response closes its connection, so a keep-alive
                // client moves to another instance (or the successor) between requests instead
                // of finding its idle connection closed under it at the end of the drain.
                .wrap_fn(move |req, service| {
                    let draining = draining.clone();
                    let response = service.call(req);
                    async move {
                        let mut response = response.await?;
                        if draining.is_shutting_down() {
                            response
                                .response_mut()
                                .head_mut()
                                .set_connection_type(ConnectionType::Close);
                        }
                        Ok(response)
                    }
                })
                // Outermost: its time and in-flight count include every other layer.
                .wrap(crate::metrics::RequestMetrics {
                    record: options.request_metrics,
                })
                .app_data(readiness_data.clone())
                .configure(health::configure)
                .configure(move |cfg| {
                    if metrics_route {
                        cfg.route("/metrics", web::get().to(crate::metrics::handler));
                    }
                })
                .configure(configure.clone())
        })
        .workers(settings.workers())
        // A response is written in several writes (head, then body chunks); with Nagle's
        // algorithm the second one waits for the client's delayed ACK, ~40 ms per request on a
        // reused connection.
        .tcp_nodelay(true)
        .backlog(settings.backlog)
        .keep_alive(limits.keep_alive)
        .client_request_timeout(limits.header_timeout);
        // actix counts per worker.
        let server = match limits.max_connections {
            Some(max) => server.max_connections(max.div_ceil(settings.workers()).max(1)),
            None => server,
        };
        let server = server
            .shutdown_timeout(settings.shutdown_timeout().as_secs())
            .disable_signals()
            .on_connect(move |_, extensions| {
                counter.fetch_add(1, Ordering::Relaxed);
                extensions.insert(ConnectionGuard(counter.clone()));
                extensions.insert(ConnectionSlot::default());
            });
        let server = match listener {
            Listener::Tcp(listener) => server.listen(listener)?,
            Listener::Unix(listener) => server.listen_uds(listener)?,
        };
        let server = match tls {
            Some((tls_listener, config)) => server.listen_rustls_0_23(tls_listener, config)?,
            None => server,
        };
        // Registered before the first connection is accepted: a SIGTERM or SIGUSR2 that comes as
        // soon as the service answers must find our handler, not the default action (exit).
        let signals = Signals::register(options.hangup_upgrades);
        let server = server.run();
        if let Some(addr) = &tls_addr {
            tracing::info!(%addr, port = addr.port(), "listening with TLS");
        }
        tracing::info!(addr = %local_addr, port = local_addr.port(), "listening");
        crate::process::trim_after_bursts();
        let control = Control {
            handle: server.handle(),
            readiness,
            drain_delay: settings.drain_delay,
            listeners: kept,
            owns_socket_file: socket_file.is_some(),
            handed_over: Arc::new(AtomicBool::new(false)),
            keep_alive: limits.keep_alive,
            connections,
            pid_file: settings.pid_file.clone(),
            exe,
        };
        Ok(Self {
            server,
            local_addr,
            tls_addr,
            control,
            signals,
            predecessor,
            socket_file,
        })
    }

    /// The TCP port it listens on (0 on a Unix socket).
    pub fn port(&self) -> u16 {
        self.local_addr.port().unwrap_or(0)
    }

    /// Where it listens: a TCP address or a Unix socket's path.
    pub fn listen_addr(&self) -> &ListenAddr {
        &self.local_addr
    }

    /// The TLS listener's port, if there is one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_addr.as_ref().and_then(ListenAddr::port)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully; on SIGUSR2, hands over to a
    /// fresh copy of the binary and drains.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        let Application {
            server,
            control,
            signals,
            predecessor,
            socket_file,
            ..
        } = self;
        let pid_file = control.pid_file.clone();
        let handed_over = control.handed_over.clone();
        tokio::spawn(control.run(signals, predecessor));
        let result = server.await;
        if let Some(path) = &pid_file {
            upgrade::remove_pid_file(path).await;
        }
        if let Some(file) = socket_file.filter(|_| !handed_over.load(Ordering::Relaxed)) {
            file.remove();
        }
        result?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The handlers of the signals we act on (replacing their default action, which ends the
/// process at once): SIGTERM and SIGQUIT stop gracefully (Nginx's and Pingora's SIGQUIT is the
/// graceful one), SIGUSR2 upgrades in place, and so does SIGHUP unless the binary handles it
/// itself (the gateway reloads its configuration).
struct Signals {
    term: Signal,
    quit: Signal,
    usr2: Signal,
    hangup: Option<Signal>,
}

impl Signals {
    fn register(hangup_upgrades: bool) -> io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            quit: signal(SignalKind::quit())?,
            usr2: signal(SignalKind::user_defined2())?,
            hangup: if hangup_upgrades {
                Some(signal(SignalKind::hangup())?)
            } else {
                None
            },
        })
    }

    /// The next upgrade request: SIGUSR2, or SIGHUP when it upgrades.
    async fn upgrade(usr2: &mut Signal, hangup: &mut Option<Signal>) -> &'static str {
        match hangup {
            Some(hangup) => tokio::select! {
                _ = usr2.recv() => "SIGUSR2",
                _ = hangup.recv() => "SIGHUP",
            },
            None => {
                usr2.recv().await;
                "SIGUSR2"
            }
        }
    }
}

/// What the signal-handling task needs once the server runs.
struct Control {
    handle: actix_web::dev::ServerHandle,
    readiness: Readiness,
    drain_delay: Duration,
    /// Duplicates of the listening sockets (plain, then TLS), kept to hand to a successor on
    /// SIGUSR2.
    listeners: Vec<Listener>,
    /// Whether we own our Unix socket's file (we bound it, or a predecessor that did handed it
    /// to us), so that a successor knows whether it will.
    owns_socket_file: bool,
    /// Set once a successor serves on our sockets: the socket file is then its own.
    handed_over: Arc<AtomicBool>,
    keep_alive: Duration,
    /// Open client connections (counted through `on_connect`), so an upgrade drain can end as
    /// soon as the last one closes.
    connections: Arc<AtomicUsize>,
    pid_file: Option<PathBuf>,
    /// Our binary, resolved at start: once the file is replaced, /proc/self/exe says "(deleted)".
    exe: io::Result<PathBuf>,
}

impl Control {
    /// `signals` exist before the pid file is written: an operator who sees the pid file may
    /// signal at once, and SIGUSR2's default action would kill the process.
    async fn run(self, signals: io::Result<Signals>, predecessor: Option<upgrade::Predecessor>) {
        // Its own task: a stop signal must be handled even while we wait to become ready.
        tokio::spawn(announce(
            self.readiness.clone(),
            self.pid_file.clone(),
            predecessor,
        ));
        let Signals {
            mut term,
            mut quit,
            mut usr2,
            mut hangup,
        } = match signals {
            Ok(signals) => signals,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM/SIGQUIT/SIGUSR2/SIGHUP; stopping on Ctrl-C only, no upgrades");
                let _ = tokio::signal::ctrl_c().await;
                return self.stop("SIGINT").await;
            }
        };
        loop {
            tokio::select! {
                _ = term.recv() => return self.stop("SIGTERM").await,
                _ = quit.recv() => return self.stop("SIGQUIT").await,
                _ = tokio::signal::ctrl_c() => return self.stop("SIGINT").await,
                signal = Signals::upgrade(&mut usr2, &mut hangup) => {
                    tokio::select! {
                        handed_over = self.upgrade(signal) => if handed_over {
                            return self.hand_over().await;
                        },
                        _ = term.recv() => return self.stop("SIGTERM").await,
                        _ = quit.recv() => return self.stop("SIGQUIT").await,
                    }
                }
            }
        }
    }

    /// Starts the successor; true once it is ready (we must hand over), false if it failed (we
    /// keep serving as if nothing happened).
    async fn upgrade(&self, signal: &'static str) -> bool {
        let exe = match &self.exe {
            Ok(exe) => exe,
            Err(error) => {
                tracing::error!(%error, "upgrade refused: our binary's path is unknown");
                return false;
            }
        };
        tracing::info!(signal, exe = %exe.display(), "upgrade: starting a successor on our listening socket");
        let env = listen::successor_env(self.owns_socket_file, &self.listeners);
        match Successor::start(exe, &self.listeners, env).await {
            Ok(successor) => match successor.wait_ready(upgrade::UPGRADE_TIMEOUT).await {
                Ok(pid) => {
                    tracing::info!(successor = pid, "successor ready: handing over");
                    true
                }
                Err(error) => {
                    tracing::error!(%error, "upgrade failed; still serving");
                    false
                }
            },
            Err(error) => {
                tracing::error!(%error, "upgrade failed: cannot start the successor; still serving");
                false
            }
        }
    }

    /// The successor accepts on the shared socket now: stop accepting at once, let every open
    /// connection finish its current request (each answer closes its connection) or idle out,
    /// then stop.
    async fn hand_over(self) {
        self.handed_over.store(true, Ordering::Relaxed);
        self.readiness.begin_shutdown();
        self.handle.pause().await;
        // Idle keep-alive connections close on their own after KEEP_ALIVE; beyond that only
        // connections still busy with a request remain, and stop(true) waits for those.
        let deadline = tokio::time::Instant::now() + self.keep_alive + Duration::from_secs(1);
        // A connection accepted just before the pause may still be on its way to a worker.
        tokio::time::sleep(Duration::from_millis(100)).await;
        while self.connections.load(Ordering::Relaxed) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(
            open_connections = self.connections.load(Ordering::Relaxed),
            "handed over: finishing in-flight requests and exiting"
        );
        self.handle.stop(true).await;
    }

    async fn stop(self, signal: &'static str) {
        self.readiness.begin_shutdown();
        // A person at a terminal (Ctrl-C) wants the process gone; an orchestrator's SIGTERM (or
        // an operator's SIGQUIT) wants no request lost.
        if signal != "SIGINT" && !self.drain_delay.is_zero() {
            tracing::info!(
                signal,
                drain_delay = ?self.drain_delay,
                "shutdown requested: not ready any more, still serving while traffic drains"
            );
            tokio::time::sleep(self.drain_delay).await;
        }
        tracing::info!(
            signal,
            "shutting down: refusing new connections, finishing in-flight requests"
        );
        // Our duplicate (kept for a SIGUSR2 hand-over) would keep the socket listening after the
        // server stops accepting: new connections would wait in the kernel's queue until we exit,
        // then be reset. Closed, they are refused at once and a client tries elsewhere.
        drop(self.listeners);
        self.handle.stop(true).await;
    }
}

/// Once ready: write the pid file, tell systemd, and, if a predecessor started us, tell it to
/// hand over.
async fn announce(
    readiness: Readiness,
    pid_file: Option<PathBuf>,
    predecessor: Option<upgrade::Predecessor>,
) {
    if predecessor.is_some() || pid_file.is_some() || std::env::var_os("NOTIFY_SOCKET").is_some() {
        // Ready means the service's own check passes too (e.g. its database answers); the
        // predecessor gives up on us after UPGRADE_TIMEOUT.
        let mut logged = false;
        while let Err(reason) = readiness.ready().await {
            if !logged {
                tracing::info!(%reason, "not ready yet");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if let Some(path) = &pid_file {
        if let Err(error) = upgrade::write_pid_file(path).await {
            tracing::error!(path = %path.display(), %error, "cannot write the pid file");
        }
    }
    upgrade::notify_systemd_ready();
    if let Some(predecessor) = predecessor {
        predecessor.notify_ready().await;
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
