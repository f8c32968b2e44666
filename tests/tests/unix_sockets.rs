//! The course's own deployment, `gunicorn --bind unix:idb.sock -m 007` behind Nginx's
//! `proxy_pass http://unix:/…/idb.sock;`: every binary listens on a Unix socket with `BIND`, the
//! gateway proxies to Unix-socket instances (both spellings, mixed with TCP), a stale socket file
//! is replaced and a live one or a non-socket refused, the socket is handed over on SIGUSR2 and
//! removed on a clean stop.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hbnb_tests::upstream::TestUpstream;
use hbnb_tests::{bin_path, client, unix_get, Service};

const DEADLINE: Duration = Duration::from_secs(30);

/// A temporary directory for the sockets, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .subsec_nanos();
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hbnb-uds-{}-{nanos}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `GET /readyz` on the socket until it answers 200.
async fn wait_ready_on(socket: &Path) {
    let deadline = Instant::now() + DEADLINE;
    while !matches!(unix_get(socket, "/readyz"), Some(a) if a.status == 200) {
        assert!(
            Instant::now() < deadline,
            "nothing ready on {}",
            socket.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("socket file")
        .permissions()
        .mode()
        & 0o777
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn bind(path: &Path) -> String {
    format!("unix:{}", path.display())
}

#[tokio::test]
async fn services_on_unix_sockets_serve_directly_and_through_the_gateway() {
    let dir = Scratch::new();
    let hello_socket = dir.path("hello.sock");
    let number_socket = dir.path("number.sock");
    let hello = Service::spawn("hello-service", &[], &[("BIND", &bind(&hello_socket))]);
    // Gunicorn's `-m 007` (umask) is mode 770.
    let number = Service::spawn(
        "number-service",
        &["--bind", &bind(&number_socket), "--socket-mode", "770"],
        &[],
    );
    wait_ready_on(&hello_socket).await;
    wait_ready_on(&number_socket).await;
    assert_eq!(mode_of(&hello_socket), 0o660, "the default SOCKET_MODE");
    assert_eq!(mode_of(&number_socket), 0o770);
    let line = hello
        .wait_for_log(DEADLINE, |v| v["message"] == "listening")
        .await;
    assert_eq!(line["addr"], bind(&hello_socket));

    // Straight to the service over its socket.
    let answer = unix_get(&hello_socket, "/airbnb-onepage/").expect("an answer");
    assert_eq!((answer.status, answer.body.as_str()), (200, "Hello HBNB!"));
    let answer = unix_get(&number_socket, "/number_odd_or_even/7").expect("an answer");
    assert_eq!(answer.status, 200);
    assert!(answer.body.contains("7 is odd"), "{}", answer.body);

    // Through the gateway: `unix:` and Nginx's `http://unix:…:` form, mixed with a TCP instance
    // that is down (the probe and retries move past it).
    let dead_tcp = format!("http://127.0.0.1:{}", hbnb_tests::closed_port());
    let gateway = Service::start(
        "gateway",
        &[
            (
                "HELLO_UPSTREAM",
                &format!("{}, {dead_tcp}", bind(&hello_socket)),
            ),
            (
                "NUMBER_UPSTREAM",
                &format!("http://unix:{}:", number_socket.display()),
            ),
            ("HEALTH_INTERVAL", "100ms"),
        ],
    )
    .await;
    let http = client();
    for _ in 0..6 {
        let response = http
            .get(gateway.url("/airbnb-onepage/"))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "Hello HBNB!");
    }
    let response = http
        .get(gateway.url("/airbnb-dynamic/number_odd_or_even/10"))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("body").contains("10 is even"));

    // A clean stop removes the socket file; the exit code is 0.
    drop(gateway);
    let mut hello = hello;
    hello.signal("TERM");
    assert_eq!(hello.wait_exit(DEADLINE), Some(0));
    assert!(
        !hello_socket.exists(),
        "the socket file is removed on a clean stop"
    );
    drop(number);
}

#[tokio::test]
async fn the_gateway_forwards_the_real_client_to_a_unix_socket_upstream() {
    let dir = Scratch::new();
    let socket = dir.path("echo.sock");
    let _echo = TestUpstream::start_unix("echo-over-unix", &socket);
    let gateway = Service::start(
        "gateway",
        &[(
            "API_UPSTREAM",
            &format!("http://unix:{}:/", socket.display()),
        )],
    )
    .await;
    let response = client()
        .get(gateway.url("/api/v1/echo?x=1"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream-name"], "echo-over-unix");
    let echoed: serde_json::Value = response.json().await.expect("json");
    assert_eq!(echoed["path"], "/api/v1/echo");
    assert_eq!(echoed["query"], "x=1");
    let headers = &echoed["headers"];
    // The socket has no client address: the gateway's client's is the one forwarded.
    assert_eq!(headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(headers["host"], format!("127.0.0.1:{}", gateway.port));
    assert!(headers["x-request-id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    // An HTTP/1.0 request without Host: the upstream gets a host name, not the socket's path.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", gateway.port)).expect("connect");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("read timeout");
    stream
        .write_all(b"GET /api/v1/echo HTTP/1.0\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    assert!(answer.contains(r#""host":"localhost""#), "{answer}");
}

#[tokio::test]
async fn a_stale_socket_is_replaced_a_live_one_and_other_files_refused() {
    let dir = Scratch::new();
    let socket = dir.path("api.sock");
    let first = Service::spawn("hello-service", &[], &[("BIND", &bind(&socket))]);
    wait_ready_on(&socket).await;

    // A live process answers there: refused, naming the path; the first one goes on serving.
    let output = std::process::Command::new(bin_path("hello-service"))
        .env("BIND", bind(&socket))
        .env("LOG_FORMAT", "json")
        .output()
        .expect("run hello-service");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&socket.display().to_string()) && stderr.contains("live process"),
        "{stderr}"
    );
    assert_eq!(
        unix_get(&socket, "/airbnb-onepage/")
            .expect("answer")
            .status,
        200
    );

    // Killed (no clean stop): the file stays behind, and the next start replaces it.
    let mut first = first;
    first.signal("KILL");
    first.wait_exit(DEADLINE);
    assert!(
        is_socket(&socket),
        "a killed process leaves its socket file"
    );
    let _second = Service::spawn("hello-service", &[], &[("BIND", &bind(&socket))]);
    wait_ready_on(&socket).await;

    // Bad paths: one line naming the path, a non-zero exit, and nothing deleted.
    let regular = dir.path("not-a-socket");
    std::fs::write(&regular, "keep me").expect("write");
    let too_long = format!("/tmp/{}.sock", "x".repeat(120));
    let missing_dir = dir.path("missing/api.sock");
    for (path, expected) in [
        (regular.display().to_string(), "is not a socket"),
        (missing_dir.display().to_string(), "does not exist"),
        (too_long.clone(), "at most 107 bytes"),
    ] {
        let output = std::process::Command::new(bin_path("hello-service"))
            .env("BIND", format!("unix:{path}"))
            .output()
            .expect("run hello-service");
        assert!(!output.status.success(), "{path}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains(&path),
            "{path}: {stderr}"
        );
    }
    assert_eq!(std::fs::read_to_string(&regular).expect("kept"), "keep me");

    // A directory the user may not write to: run as `nobody` (root writes anywhere).
    if unsafe { libc::geteuid() } == 0 {
        let locked = dir.path("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = locked.join("api.sock");
        let output = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin_path("hello-service"))
            .env("BIND", format!("unix:{}", path.display()))
            .output()
            .expect("run setpriv");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("Permission denied") && stderr.contains(&path.display().to_string()),
            "{stderr}"
        );
        assert!(!path.exists());
    }
}

#[tokio::test]
async fn a_unix_socket_is_handed_over_on_upgrade_and_kept_until_the_last_stop() {
    let dir = Scratch::new();
    let socket = dir.path("hello.sock");
    let pid_file = dir.path("hello.pid");
    let service = Service::spawn(
        "hello-service",
        &[],
        &[
            ("BIND", &bind(&socket)),
            ("PID_FILE", &pid_file.display().to_string()),
        ],
    );
    wait_ready_on(&socket).await;
    let deadline = Instant::now() + DEADLINE;
    while service.current_pid() != Some(service.pid()) {
        assert!(Instant::now() < deadline, "no pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = service.pid();

    // Requests keep being answered while the successor takes over.
    let load_socket = socket.clone();
    let load = std::thread::spawn(move || {
        let (mut answered, mut failed) = (0, 0);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match unix_get(&load_socket, "/airbnb-onepage/") {
                Some(a) if a.status == 200 && a.body == "Hello HBNB!" => answered += 1,
                _ => failed += 1,
            }
        }
        (answered, failed)
    });
    service.signal("USR2");
    let deadline = Instant::now() + DEADLINE;
    let successor = loop {
        match service.current_pid() {
            Some(pid) if pid != first => break pid,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no successor took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (answered, failed) = load.join().expect("load thread");
    assert!(answered > 0);
    assert_eq!(failed, 0, "no request failed during the hand-over");

    // The predecessor has gone without removing the file its successor serves on.
    let deadline = Instant::now() + DEADLINE;
    while hbnb_tests::process_alive(first) {
        assert!(Instant::now() < deadline, "the predecessor did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(is_socket(&socket));
    assert_eq!(
        unix_get(&socket, "/airbnb-onepage/")
            .expect("answer")
            .status,
        200
    );

    // The successor's clean stop removes it.
    unsafe { libc::kill(successor as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + DEADLINE;
    while socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the successor's clean stop did not remove the socket file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(service);
}

/// Not a Unix socket, but the other half of "listens where its users expect": by default (HOST
/// `::`) one socket serves IPv4 and IPv6 clients, as Debian's nginx site does on 80 and [::]:80,
/// and an IPv4 client is forwarded as `a.b.c.d`, not `::ffff:a.b.c.d`.
#[tokio::test]
async fn by_default_the_gateway_serves_ipv4_and_ipv6_clients() {
    let echo = TestUpstream::start("echo");
    let gateway = Service::start(
        "gateway",
        &[("HOST", "::"), ("API_UPSTREAM", &echo.base_url())],
    )
    .await;
    let line = gateway
        .wait_for_log(DEADLINE, |v| v["message"] == "listening")
        .await;
    assert_eq!(line["addr"], format!("[::]:{}", gateway.port));
    for (base, forwarded) in [
        (format!("http://127.0.0.1:{}", gateway.port), "127.0.0.1"),
        (format!("http://[::1]:{}", gateway.port), "::1"),
    ] {
        let response = client()
            .get(format!("{base}/api/v1/echo"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{base}: {e}"));
        assert_eq!(response.status(), 200, "{base}");
        let echoed: serde_json::Value = response.json().await.expect("json");
        assert_eq!(echoed["headers"]["x-forwarded-for"], forwarded, "{base}");
    }
}
