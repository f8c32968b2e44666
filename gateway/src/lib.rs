//! The gateway (port 80): the course's Nginx, rebuilt. Routes are data (`config`), requests are
//! streamed to upstream instances over a per-worker keep-alive pool (`pool`, `proxy`), static
//! directories are served from memory (`hbnb_common::static_files`).

pub mod access;
pub mod config;
pub mod edge;
pub mod error;
pub mod headers;
pub mod health;
pub mod pool;
pub mod proxy;
pub mod request_body;
pub mod resolver;
pub mod upstream;
pub mod upstream_body;

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
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_body_size: u64,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub client_body_timeout: Duration,
    pub health: health::HealthPolicy,
    pub edge: edge::EdgeLimits,
}

/// What all workers share: the current route table (swapped whole on reload) and the limits.
pub struct Shared {
    table: RwLock<Arc<RouteTable>>,
    pub limits: Limits,
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
    let mut config = match &settings.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::builtin(settings.static_dir.as_deref()),
    };
    config.apply_env_overrides(|name| std::env::var(name).ok());
    RouteTable::compile_after(&config, previous)
}

pub fn build(settings: &Settings) -> std::io::Result<Application> {
    let table = load_table(settings, None)
        .map_err(|e| std::io::Error::other(format!("configuration: {e}")))?;
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
        },
    });
    health::spawn_prober(shared.clone().into_inner(), settings.health_interval);
    resolver::spawn_resolver(
        shared.clone().into_inner(),
        settings.upstream_resolve_interval,
    );
    spawn_reloader(shared.clone().into_inner(), settings.clone());
    let served_by = settings
        .served_by
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    let served_by = HeaderValue::from_str(&served_by).map_err(|_| {
        std::io::Error::other(format!("SERVED_BY {served_by:?} is not a header value"))
    })?;
    let (idle_timeout, connect_timeout) =
        (settings.upstream_idle_timeout, settings.connect_timeout);
    Application::build(
        &settings.server,
        DEFAULT_PORT,
        Readiness::new(),
        AppOptions {
            access_log: false,
            response_header: Some((HeaderName::from_static("x-served-by"), served_by)),
        },
        move |cfg| {
            // This closure runs once per worker: each worker gets its own upstream pool.
            let pool = Rc::new(Pool::new(idle_timeout, connect_timeout));
            cfg.app_data(shared.clone())
                .app_data(web::Data::new(pool))
                .app_data(web::PayloadConfig::new(usize::MAX))
                .default_service(web::to(proxy::handle));
        },
    )
}

/// SIGHUP: re-read and validate the configuration; a valid one replaces the table for new
/// requests (in-flight ones keep the table they started with), an invalid one is logged and the
/// old table stays.
fn spawn_reloader(shared: Arc<Shared>, settings: Settings) {
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
            let loaded = actix_web::web::block(move || load_table(&loading, Some(&previous))).await;
            let loaded = loaded.unwrap_or_else(|error| {
                Err(config::ConfigError::Internal(format!(
                    "reload task failed: {error}"
                )))
            });
            match loaded {
                Ok(table) => {
                    if !settings.upstream_resolve_interval.is_zero() {
                        resolver::refresh_table(&table, Some(&shared.table())).await;
                    }
                    shared.replace_table(table);
                    tracing::info!(config = ?settings.config, "configuration reloaded");
                }
                Err(error) => {
                    tracing::error!(%error, "configuration reload refused; keeping the running configuration")
                }
            }
        }
    });
}
