//! The operating contract every binary keeps: `PORT`/`--port`, `HOST`, `BIND`, `SOCKET_MODE`,
//! `WORKERS`, `SHUTDOWN_TIMEOUT`, `DRAIN_DELAY`, `PID_FILE`, `BACKLOG`, `LOG_FORMAT`. Each service flattens these into its own clap struct.

use std::net::IpAddr;
use std::time::Duration;

use crate::listen::{Bind, SocketMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (the default when stdout is not a terminal).
    Json,
    /// Human-readable lines (the default on a terminal).
    Pretty,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServerSettings {
    /// Address to listen on. `::` (the default) listens on every address of both families, IPv4
    /// and IPv6, with one socket, as Debian's nginx site (`listen 80; listen [::]:80;`) does; on a
    /// host without IPv6 it falls back to 0.0.0.0. 0.0.0.0 is IPv4 only.
    #[arg(long, env = "HOST", default_value = "::")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free port and logs it). Defaults to the service's course port.
    #[arg(long, env = "PORT")]
    pub port: Option<u16>,
    /// Where to listen instead of HOST:PORT, as Gunicorn's --bind: `unix:/run/hbnb/api.sock` (a
    /// Unix domain socket; a stale socket file is replaced, a live one or a non-socket refused,
    /// and the file removed on a clean stop) or `HOST:PORT`. A socket inherited from systemd
    /// (LISTEN_FDS) wins over both.
    #[arg(long, env = "BIND")]
    pub bind: Option<Bind>,
    /// Permission bits of a Unix socket we bind, in octal (Gunicorn's -m 007 is 770): 660 lets the
    /// service's user and group (the gateway's) connect, and nobody else.
    #[arg(long = "socket-mode", env = "SOCKET_MODE", default_value = "660")]
    pub socket_mode: SocketMode,
    /// Worker threads (Gunicorn's --workers). Defaults to the number of cores.
    #[arg(long, env = "WORKERS")]
    pub workers: Option<usize>,
    /// Seconds in-flight requests get to finish after SIGTERM before the process exits anyway.
    #[arg(
        long = "shutdown-timeout",
        env = "SHUTDOWN_TIMEOUT",
        default_value_t = 10
    )]
    pub shutdown_timeout_secs: u64,
    /// After SIGTERM, keep serving this long with /readyz answering 503 (and every answer closing
    /// its connection) before closing the listener, so load balancers stop sending new requests
    /// first: above the gateway's HEALTH_INTERVAL (1 s). Ctrl-C (SIGINT) does not wait.
    #[arg(long, env = "DRAIN_DELAY", default_value = "1500ms", value_parser = humantime::parse_duration)]
    pub drain_delay: Duration,
    /// Write the process id here (atomically) once serving, so an operator (`scripts/hbnb-ctl`)
    /// finds the process, and sees the successor's pid after a SIGUSR2 upgrade.
    #[arg(long = "pid-file", env = "PID_FILE")]
    pub pid_file: Option<std::path::PathBuf>,
    /// Pending connections the kernel queues before we accept them (`listen(2)`'s backlog).
    /// Nginx uses 511; a burst of new connections beyond it waits for SYN retransmits (1 s+).
    /// An inherited socket (systemd's `Backlog=`) keeps its own.
    #[arg(long, env = "BACKLOG", default_value_t = 1024)]
    pub backlog: u32,
    /// Log format; defaults to pretty on a terminal, JSON otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl ServerSettings {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn workers(&self) -> usize {
        self.workers
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
