//! The black-box harness: start a real binary of the workspace on a free port (`PORT=0`), learn
//! the port from its "listening" log line, wait until `/readyz` answers, and stop it on drop.
//!
//! The binaries are the ones `cargo build --workspace --bins` put beside this test's executable
//! (`scripts/test.sh` builds them first).

pub mod upstream;

pub mod api;
pub mod backup;
pub mod db;
pub mod metrics;
pub mod s3;
pub mod web;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a service may take to print its address and become ready.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// The directory holding the workspace's binaries (`target/debug` or `target/release`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test-binary>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    dir.to_path_buf()
}

pub fn bin_path(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (scripts/test.sh runs `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

/// The workspace root (for fixtures such as the web-dynamic static folder).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A running binary. Its log lines are collected so tests can assert on them.
pub struct Service {
    pub name: String,
    pub port: u16,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    /// The `PID_FILE` it was started with: after an upgrade (SIGUSR2) the process serving is a
    /// successor that is not our child, found through this file.
    pid_file: Option<PathBuf>,
}

impl Service {
    /// Starts `name` with `PORT=0` (unless `env` sets `PORT`), JSON logs and the given variables,
    /// and waits until it is listening and `/readyz` answers 200.
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Service {
        Self::start_with_args(name, &[], env).await
    }

    pub async fn start_with_args(name: &str, args: &[&str], env: &[(&str, &str)]) -> Service {
        let service = Self::spawn(name, args, env);
        service.wait_ready().await;
        service
    }

    /// Starts the binary and waits only for its "listening" line (not for readiness).
    pub fn spawn(name: &str, args: &[&str], env: &[(&str, &str)]) -> Service {
        Self::spawn_program(&bin_path(name), name, args, env)
    }

    /// Like `spawn`, for a binary at any path (e.g. a copy that a test replaces to upgrade it).
    pub fn spawn_program(
        program: &std::path::Path,
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("PORT", "0")
            // The gateway's own /metrics listener (9180 by default): any free port, so that
            // gateways of tests running in parallel do not collide.
            .env("METRICS_PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("WORKERS", "2")
            .env("LOG_FORMAT", "json")
            // The binaries' own default filter, as a user gets it (RUST_LOG in `env` overrides).
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for (stream, port_tx) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                Some(port_tx),
            ),
            (Box::new(stderr), None),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(tx) = &port_tx {
                        if let Some(port) = listening_port(&line) {
                            let _ = tx.send(port);
                        }
                    }
                    logs.lock().expect("logs lock").push(line);
                }
            });
        }
        let port = match port_rx.recv_timeout(START_DEADLINE) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let logs = logs.lock().expect("logs lock").join("\n");
                panic!("{name} did not report a listening port within {START_DEADLINE:?}; its output:\n{logs}");
            }
        };
        let pid_file = env
            .iter()
            .find(|(key, _)| *key == "PID_FILE")
            .map(|(_, value)| PathBuf::from(value));
        Service {
            name: name.to_owned(),
            port,
            child,
            logs,
            pid_file,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The gateway's `/metrics` URL, from its `metrics listening` log line.
    pub async fn metrics_url(&self) -> String {
        let line = self
            .wait_for_log(START_DEADLINE, |v| v["message"] == "metrics listening")
            .await;
        let port = line["metrics_port"]
            .as_u64()
            .expect("metrics_port in the log line");
        format!("http://127.0.0.1:{port}/metrics")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The pid its `PID_FILE` names now (the successor's after an upgrade), if it has one.
    pub fn current_pid(&self) -> Option<u32> {
        let path = self.pid_file.as_ref()?;
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// Polls `/readyz` until it answers 200, with a deadline.
    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(response) = client.get(self.url("/readyz")).send().await {
                if response.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready; its output:\n{}",
                self.name,
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs lock").clone()
    }

    /// The JSON log lines (as objects) that satisfy `predicate`, waiting up to `deadline` for one.
    pub async fn wait_for_log(
        &self,
        deadline: Duration,
        predicate: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let until = Instant::now() + deadline;
        loop {
            let found = self
                .logs()
                .iter()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find(|v| predicate(v));
            if let Some(found) = found {
                return found;
            }
            assert!(
                Instant::now() < until,
                "{}: no matching log line within {deadline:?}; output:\n{}",
                self.name,
                self.logs().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (e.g. `"TERM"`, `"KILL"`) and returns at once.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(
            status.success(),
            "kill -{signal} {} failed",
            self.child.id()
        );
    }

    /// Waits for the process to exit (with a deadline) and returns its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < until,
                "{} did not exit within {deadline:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(pid) = self.current_pid().filter(|&pid| pid != self.child.id()) {
            // A successor of ours: not our child, so `Child::kill` cannot reach it.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True while `pid` runs: not gone, and not a zombie (exited, waiting for its parent to reap it).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Reads the port out of a JSON "listening" line written by `hbnb_common::Application::build`
/// (0 for a service listening on a Unix socket: its line names the path, and has no port).
fn listening_port(line: &str) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "listening" {
        return None;
    }
    if value.get("addr")?.as_str()?.starts_with("unix:") {
        return Some(0);
    }
    value.get("port")?.as_u64()?.try_into().ok()
}

/// Several services' base URLs joined with commas, as the gateway's `*_UPSTREAM` variables take them.
pub fn upstreams(services: &[&Service]) -> String {
    services
        .iter()
        .map(|s| s.base_url())
        .collect::<Vec<_>>()
        .join(",")
}

/// A client with no connection reuse surprises: no proxy from the environment, no redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Sends `GET <path>` exactly as written (HTTP clients normalise `..` away) and returns the
/// status code.
pub fn raw_get_status(port: u16, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// The answer to one HTTP/1.1 request sent over a Unix socket: status, headers (lower-case
/// names) and body. Neither reqwest nor curl's defaults speak to a socket path, so this sends the
/// request as written and reads until the server closes (`Connection: close`).
pub struct UnixAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends `GET <path>` to the HTTP server on the Unix socket at `socket`; `None` if it cannot
/// connect or the answer is not HTTP.
pub fn unix_get(socket: &std::path::Path, path: &str) -> Option<UnixAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(UnixAnswer {
        status,
        headers,
        body: body.to_owned(),
    })
}
