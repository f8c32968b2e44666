//! The gateway (port 80): the course's Nginx, rebuilt. Routes are data (`config`), requests are
//! streamed to upstream instances over a per-worker keep-alive pool (`pool`, `proxy`), static
//! directories are served from memory (`hbnb_common::static_files`).

pub mod access;
pub mod config;
mod connect;
pub mod edge;
pub mod error;
pub mod headers;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod pool;
pub mod proxy;
pub mod real_ip;
pub mod request_body;
pub mod resolver;
pub mod tls;
pub mod upstream;
pub mod upstream_body;

/// The vendored actix-http's PROXY protocol parser (`vendor/README.md`), whose tests run here:
/// the workspace runs none over the vendored crate.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../vendor/actix-http/src/proxy_protocol.rs"]
mod vendored_proxy_protocol;

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web;
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};

use crate::config::{FileConfig, RouteTable};
use crate::pool::Pool;

pub const DEFAULT_PORT: u16 = 80;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gateway",
    about = "The HBNB gateway: routes, reverse proxy, static files"
)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    /// A TOML route table; without one, the built-in table (the course's Nginx) is used.
    #[arg(long, env = "GATEWAY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Check the configuration and exit (Nginx's -t): the file, the environment's overrides,
    /// the certificate and key, the static folders. Prints OK, or each error with where it is;
    /// exit 0 or 1. `systemctl reload hbnb-gateway` runs it before signalling.
    #[arg(long, conflicts_with = "print_config")]
    pub check: bool,
    /// Print the configuration in effect (the file, or the built-in table, with the
    /// environment's overrides) as a TOML file and exit (Nginx's -T).
    #[arg(long = "print-config")]
    pub print_config: bool,
    /// Serve `/static/` from this directory (the web-dynamic static folder) instead of proxying it.
    #[arg(long, env = "STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    /// Largest request body forwarded, in bytes (413 beyond).
    #[arg(long, env = "MAX_BODY_SIZE", default_value_t = 1024 * 1024)]
    pub max_body_size: u64,
    /// How long an upstream may take to start answering (504 beyond).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: Duration,
    /// How long connecting to an upstream may take before the next instance is tried.
    #[arg(long, env = "CONNECT_TIMEOUT", default_value = "3s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// How long a client may pause while sending its body (408 beyond).
    #[arg(long, env = "CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub client_body_timeout: Duration,
    /// Connections a worker opens to one upstream instance at most (Nginx's `max_conns`); a
    /// request finding all in use waits up to CONNECT_TIMEOUT for one, then gets 503 (0: no bound).
    #[arg(long, env = "UPSTREAM_MAX_CONNECTIONS", default_value_t = 256)]
    pub upstream_max_connections: usize,
    /// How long a pooled upstream connection may stay idle; below the services' 5 s keep-alive.
    #[arg(long, env = "UPSTREAM_IDLE_TIMEOUT", default_value = "4s", value_parser = humantime::parse_duration)]
    pub upstream_idle_timeout: Duration,
    /// Connect failures in a row that take an upstream instance out (Nginx's max_fails).
    #[arg(long, env = "MAX_FAILS", default_value_t = 1)]
    pub max_fails: u32,
    /// How long an instance stays out after max_fails failures (Nginx's fail_timeout).
    #[arg(long, env = "FAIL_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub fail_timeout: Duration,
    /// How often each instance's /readyz is probed (0 turns active checks off).
    #[arg(long, env = "HEALTH_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,
    /// How often upstream host names are looked up again, every address an instance (0: never;
    /// a name is then connected to as it is, like Nginx resolving once).
    #[arg(long, env = "UPSTREAM_RESOLVE_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub upstream_resolve_interval: Duration,
    /// The `X-Served-By` value; defaults to the host name.
    #[arg(long, env = "SERVED_BY")]
    pub served_by: Option<String>,
    /// Longest request target (path and query) in bytes (414 beyond; Nginx: 8 KiB).
    #[arg(long, env = "MAX_URI_LENGTH", default_value_t = 8 * 1024)]
    pub max_uri_length: usize,
    /// Most header fields in a request (431 beyond): the services' 96 less the ones we add.
    #[arg(long, env = "MAX_HEADERS", default_value_t = 96 - headers::ADDED_HEADERS)]
    pub max_headers: usize,
    /// Longest header field line in bytes (431 beyond; Nginx: 8 KiB).
    #[arg(long, env = "MAX_HEADER_LINE", default_value_t = 8 * 1024)]
    pub max_header_line: usize,
    /// Largest header section in bytes (431 beyond; Nginx: 4 x 8 KiB).
    #[arg(long, env = "MAX_HEADERS_SIZE", default_value_t = 32 * 1024)]
    pub max_headers_size: usize,
    /// Port of the gateway's own `/metrics` listener (never the public port); `off` for none.
    #[arg(long, env = "METRICS_PORT", default_value = "9180", value_parser = parse_metrics_port)]
    pub metrics_port: MetricsPort,
    /// Address of the `/metrics` listener: loopback unless a scraper elsewhere needs it.
    #[arg(long, env = "METRICS_HOST", default_value = "127.0.0.1")]
    pub metrics_host: std::net::IpAddr,
    /// Let `/metrics` through to the routes (the services' metrics on the public port).
    #[arg(long, env = "PROXY_METRICS", default_value_t = false)]
    pub proxy_metrics: bool,
    /// `json` (one structured line per request, like every log line) or `combined` (Nginx's).
    #[arg(long, env = "ACCESS_LOG_FORMAT", value_enum, default_value = "json")]
    pub access_log_format: access::AccessLogFormat,
    /// PEM certificate chain for HTTPS (with TLS_KEY; or the config file's `[tls]` table).
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of TLS_CERT (PKCS#8, RSA or EC).
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// HTTPS port when a certificate is configured (default 443).
    #[arg(long, env = "TLS_PORT")]
    pub tls_port: Option<u16>,
    /// How long a client may take to send its request head (408 beyond; Nginx's
    /// client_header_timeout, 60 s there).
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// How long an idle client keep-alive connection stays open (Nginx's keepalive_timeout, 75 s
    /// there).
    #[arg(long, env = "KEEPALIVE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub keepalive_timeout: Duration,
    /// Most client connections open at once, all workers together (Nginx's worker_connections x
    /// worker_processes); beyond it new connections wait in the backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 25_000)]
    pub max_connections: usize,
    /// Most connections one client IP may have open (503 beyond; Nginx's limit_conn, none by
    /// default there); 0: no limit. A browser opens 6 per host over HTTP/1.1, 1 over h2.
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    pub max_connections_per_ip: usize,
    /// Proxies (load balancers) whose `X-Forwarded-For` names the client, comma-separated
    /// addresses or CIDR blocks (`10.0.0.0/8,::1`; Nginx's `set_real_ip_from` with
    /// `real_ip_header X-Forwarded-For` and `real_ip_recursive on`); replaces the configuration
    /// file's `trusted_proxies`. None by default: the connection's peer is the client.
    #[arg(long, env = "TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Every connection starts with a PROXY protocol header (v1 or v2, as HAProxy's
    /// `send-proxy`, Nginx's `listen ... proxy_protocol`), whose source address is the client;
    /// one without is closed. TCP listeners only (plain and TLS). Only when every client is a
    /// proxy that sends it.
    #[arg(long, env = "PROXY_PROTOCOL", action = clap::ArgAction::Set, default_value_t = false, num_args = 0..=1, default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub proxy_protocol: bool,
    /// Answer plain HTTP with 308 to HTTPS (except ACME challenges); needs a certificate.
    #[arg(long, env = "HTTPS_REDIRECT", action = clap::ArgAction::Set, default_value_t = false, value_parser = clap::builder::BoolishValueParser::new())]
    pub https_redirect: bool,
    /// Where an ACME client (certbot --webroot -w DIR, files under
    /// DIR/.well-known/acme-challenge/) puts its HTTP-01 tokens: give that acme-challenge folder.
    #[arg(long, env = "ACME_DIR")]
    pub acme_dir: Option<PathBuf>,
}

/// `METRICS_PORT`: a port, or `off` (no metrics listener).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsPort(pub Option<u16>);

fn parse_metrics_port(value: &str) -> Result<MetricsPort, String> {
    match value {
        "off" | "" => Ok(MetricsPort(None)),
        port => port
            .parse()
            .map(|port| MetricsPort(Some(port)))
            .map_err(|_| format!("{port:?} is neither a port nor `off`")),
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_size: u64,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub client_body_timeout: Duration,
    pub health: health::HealthPolicy,
    pub edge: edge::EdgeLimits,
    /// `PROXY_METRICS`: `/metrics` is routed like any path instead of answered 404.
    pub proxy_metrics: bool,
    /// Open connections per client IP.
    pub per_client: Arc<limits::ConnectionLimit>,
}

/// What all workers share: the current route table (swapped whole on reload) and the limits.
pub struct Shared {
    table: RwLock<Arc<RouteTable>>,
    pub limits: Limits,
    /// `HTTPS_REDIRECT`: plain HTTP sent to HTTPS.
    pub redirect: tls::Redirect,
}

impl Shared {
    fn replace_table(&self, table: RouteTable) {
        let table = Arc::new(table);
        match self.table.write() {
            Ok(mut current) => *current = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    pub fn table(&self) -> Arc<RouteTable> {
        match self.table.read() {
            Ok(table) => table.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Reads, overrides and validates the route table the settings name; instances that
/// `previous` has too keep their health.
pub fn load_table(
    settings: &Settings,
    previous: Option<&RouteTable>,
) -> Result<RouteTable, config::ConfigError> {
    load(settings, previous).map(|loaded| loaded.table)
}

/// Everything a (re)load reads: the route table and, when TLS is configured, its certificate.
pub struct Loaded {
    pub table: RouteTable,
    pub tls: Option<(tls::TlsFiles, rustls::sign::CertifiedKey)>,
}

/// The configuration in effect: the file (or the built-in table) with the environment's
/// overrides, not yet compiled.
fn effective_config(settings: &Settings) -> Result<FileConfig, config::ConfigError> {
    let mut config = match &settings.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::builtin(settings.static_dir.as_deref()),
    };
    config.apply_env_overrides(|name| std::env::var(name).ok());
    if let Some(list) = &settings.trusted_proxies {
        config.trusted_proxies = Some(
            list.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    config.apply_default_rate_limit(std::env::var("RATE_LIMIT").ok().as_deref())?;
    Ok(config)
}

/// `--check`: everything a start or a reload reads, loaded and validated as they do it.
pub fn check(settings: &Settings) -> std::process::ExitCode {
    let source = match &settings.config {
        Some(path) => path.display().to_string(),
        None => "the built-in table".to_owned(),
    };
    let result = load(settings, None).and_then(|loaded| {
        if settings.https_redirect && loaded.tls.is_none() {
            return Err(config::ConfigError::Setting {
                name: "HTTPS_REDIRECT",
                problem: "needs a TLS certificate (TLS_CERT/TLS_KEY or [tls])".into(),
            });
        }
        Ok(loaded)
    });
    match result {
        Ok(loaded) => {
            println!(
                "gateway: configuration OK ({source}: {} routes{})",
                loaded.table.route_count(),
                if loaded.tls.is_some() {
                    ", TLS certificate and key"
                } else {
                    ""
                }
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gateway: configuration refused ({source}): {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `--print-config`: the configuration in effect, as a file the gateway would load.
pub fn print_config(settings: &Settings) -> std::process::ExitCode {
    let printed = effective_config(settings).and_then(|config| {
        toml::to_string_pretty(&config)
            .map_err(|e| config::ConfigError::Internal(format!("cannot print it: {e}")))
    });
    match printed {
        Ok(text) => {
            println!("# gateway {}", hbnb_common::cli::VERSION);
            match &settings.config {
                Some(path) => println!("# {} with the environment's overrides", path.display()),
                None => println!("# the built-in table with the environment's overrides"),
            }
            print!("{text}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("gateway: configuration refused: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reads and validates the configuration: all of it is valid, or none of it is used.
pub fn load(
    settings: &Settings,
    previous: Option<&RouteTable>,
) -> Result<Loaded, config::ConfigError> {
    let config = effective_config(settings)?;
    let files = tls::files(
        settings.tls_cert.as_deref(),
        settings.tls_key.as_deref(),
        settings.tls_port,
        config.tls.as_ref(),
    )?;
    let tls = match files {
        Some(files) => {
            let key = tls::load(&files, &tls::provider())?;
            Some((files, key))
        }
        None => None,
    };
    let table = RouteTable::compile_after(&config, previous)?;
    Ok(Loaded { table, tls })
}

pub fn build(settings: &Settings) -> std::io::Result<Application> {
    let Loaded { table, tls } =
        load(settings, None).map_err(|e| std::io::Error::other(format!("configuration: {e}")))?;
    let (tls_listen, certificates) = match tls {
        Some((files, key)) => {
            let store = Arc::new(tls::CertStore::new(key));
            let config = tls::server_config(store.clone(), tls::provider())
                .map_err(|e| std::io::Error::other(format!("configuration: {e}")))?;
            let port = files.port.unwrap_or(tls::DEFAULT_TLS_PORT);
            (Some(hbnb_common::TlsListen { port, config }), Some(store))
        }
        None => (None, None),
    };
    let shared = web::Data::new(Shared {
        table: RwLock::new(Arc::new(table)),
        limits: Limits {
            max_body_size: settings.max_body_size,
            upstream_timeout: settings.upstream_timeout,
            connect_timeout: settings.connect_timeout,
            client_body_timeout: settings.client_body_timeout,
            health: health::HealthPolicy {
                max_fails: settings.max_fails,
                fail_timeout: settings.fail_timeout,
            },
            edge: edge::EdgeLimits {
                max_uri: settings.max_uri_length,
                max_headers: settings.max_headers,
                max_header_line: settings.max_header_line,
                max_headers_size: settings.max_headers_size,
            },
            proxy_metrics: settings.proxy_metrics,
            per_client: limits::ConnectionLimit::new(settings.max_connections_per_ip),
        },
        redirect: tls::Redirect {
            enabled: settings.https_redirect,
            acme_dir: settings.acme_dir.clone(),
            https_port: std::sync::atomic::AtomicU16::new(tls::DEFAULT_TLS_PORT),
        },
    });
    if settings.https_redirect && tls_listen.is_none() {
        return Err(std::io::Error::other(
            "configuration: HTTPS_REDIRECT=1 needs a TLS certificate (TLS_CERT/TLS_KEY or [tls])",
        ));
    }
    access::set_format(settings.access_log_format);
    metrics::config_loaded(Some(shared.table().hash), None);
    metrics::watch_health(shared.clone().into_inner());
    // With no listener nobody can read the request families: do not record them.
    hbnb_common::metrics::set_recording(settings.metrics_port.0.is_some());
    if let MetricsPort(Some(port)) = settings.metrics_port {
        let addr = std::net::SocketAddr::new(settings.metrics_host, port);
        hbnb_common::metrics::serve(addr)
            .map_err(|e| std::io::Error::new(e.kind(), format!("METRICS_PORT: {e}")))?;
    }
    health::spawn_prober(shared.clone().into_inner(), settings.health_interval);
    resolver::spawn_resolver(
        shared.clone().into_inner(),
        settings.upstream_resolve_interval,
    );
    spawn_reloader(shared.clone().into_inner(), settings.clone(), certificates);
    let served_by = settings
        .served_by
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    let served_by = HeaderValue::from_str(&served_by).map_err(|_| {
        std::io::Error::other(format!("SERVED_BY {served_by:?} is not a header value"))
    })?;
    let (idle_timeout, connect_timeout, max_connections) = (
        settings.upstream_idle_timeout,
        settings.connect_timeout,
        settings.upstream_max_connections,
    );
    let redirect_to = shared.clone();
    let application = Application::build(
        &settings.server,
        DEFAULT_PORT,
        Readiness::new(),
        AppOptions {
            access_log: false,
            response_header: Some((HeaderName::from_static("x-served-by"), served_by)),
            request_metrics: false,
            metrics_route: false,
            tls: tls_listen,
            connections: hbnb_common::ConnectionOptions {
                keep_alive: settings.keepalive_timeout,
                header_timeout: settings.header_timeout,
                max_connections: Some(settings.max_connections),
            },
            // SIGHUP re-reads the configuration (spawn_reloader), as Nginx's does.
            hangup_upgrades: false,
            proxy_protocol: settings.proxy_protocol,
        },
        move |cfg| {
            // This closure runs once per worker: each worker gets its own upstream pool.
            let pool = Rc::new(Pool::new(idle_timeout, connect_timeout, max_connections));
            cfg.app_data(shared.clone())
                .app_data(web::Data::new(pool))
                .app_data(web::PayloadConfig::new(usize::MAX))
                .default_service(web::to(proxy::handle));
        },
    )?;
    if let Some(port) = application.tls_port() {
        redirect_to
            .redirect
            .https_port
            .store(port, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(application)
}

/// Runs `round` every `interval` on this thread (the first at once; a slow round delays the
/// next instead of piling up), until the process ends.
pub(crate) fn every<F, Fut>(interval: Duration, mut round: F)
where
    F: FnMut() -> Fut + 'static,
    Fut: std::future::Future<Output = ()>,
{
    actix_web::rt::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            round().await;
        }
    });
}

/// SIGHUP: re-read and validate the configuration and the TLS certificate; a valid one replaces
/// the table for new requests (in-flight ones keep the table they started with) and the
/// certificate for new handshakes; an invalid one is logged and the old ones stay.
fn spawn_reloader(
    shared: Arc<Shared>,
    settings: Settings,
    certificates: Option<Arc<tls::CertStore>>,
) {
    actix_web::rt::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; configuration reload is off");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            // Reading (and compressing) static folders is blocking work: off the workers.
            let (loading, previous) = (settings.clone(), shared.table());
            let loaded = actix_web::web::block(move || load(&loading, Some(&previous))).await;
            let loaded = loaded.unwrap_or_else(|error| {
                Err(config::ConfigError::Internal(format!(
                    "reload task failed: {error}"
                )))
            });
            match loaded {
                Ok(Loaded { table, tls }) => {
                    if !settings.upstream_resolve_interval.is_zero() {
                        resolver::refresh_table(&table, Some(&shared.table())).await;
                    }
                    metrics::config_loaded(Some(table.hash), Some(true));
                    shared.replace_table(table);
                    match (tls, &certificates) {
                        (Some((files, key)), Some(store)) => {
                            store.replace(key);
                            tracing::info!(cert = %files.cert.display(), "TLS certificate reloaded");
                        }
                        (Some(_), None) => tracing::warn!(
                            "a TLS certificate is configured now: restart (or upgrade with SIGUSR2) to listen for HTTPS"
                        ),
                        (None, Some(_)) => tracing::warn!(
                            "TLS is no longer configured: HTTPS keeps its certificate until a restart"
                        ),
                        (None, None) => {}
                    }
                    tracing::info!(config = ?settings.config, "configuration reloaded");
                }
                Err(error) => {
                    metrics::config_loaded(None, Some(false));
                    tracing::error!(%error, "configuration reload refused; keeping the running configuration")
                }
            }
        }
    });
}
