//! The gateway's edge, as a client meets it: the limits Nginx enforces (414, 431, 400 for a bad
//! method or Host, 400 for a malformed body), each answered with an access-log line and never
//! with a warning in the log; the listen backlog; keep-alive connections that do not stall.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hbnb_tests::upstream::TestUpstream;
use hbnb_tests::{client, Service};

async fn gateway_to(upstream: &TestUpstream, extra: &[(&str, &str)]) -> Service {
    let url = upstream.base_url();
    let mut env = vec![
        ("HELLO_UPSTREAM", url.as_str()),
        ("NUMBER_UPSTREAM", url.as_str()),
        ("API_UPSTREAM", url.as_str()),
        ("WEB_UPSTREAM", url.as_str()),
    ];
    env.extend_from_slice(extra);
    Service::start("gateway", &env).await
}

/// Sends `request` as raw bytes on a new connection and returns everything the gateway answered
/// until it closed the connection (or 10 s passed).
fn exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// The gateway's access-log lines with this status, as JSON.
fn access_lines(gateway: &Service, status: u16) -> usize {
    gateway
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v["target"] == "access" && v["status"] == status)
        .count()
}

fn warnings(service: &Service) -> Vec<String> {
    service
        .logs()
        .into_iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_chunked_bodies_are_answered_400_and_logged() {
    let upstream = TestUpstream::start("up");
    let gateway = gateway_to(&upstream, &[]).await;
    let bodies: [&[u8]; 4] = [
        b"zz\r\nhello\r\n0\r\n\r\n",                    // not hex
        b"-5\r\nhello\r\n0\r\n\r\n",                    // negative
        b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", // overflow
        b"3\r\nhello\r\n0\r\n\r\n",                     // more data than its size says
    ];
    for body in bodies {
        let mut request = b"POST /api/v1/upload HTTP/1.1\r\nHost: localhost\r\n\
            Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
        request.extend_from_slice(body);
        let answer = exchange(gateway.port, &request);
        let shown = String::from_utf8_lossy(body);
        assert!(answer.starts_with("HTTP/1.1 400 "), "{shown:?}: {answer:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while access_lines(&gateway, 400) < bodies.len() {
        assert!(
            Instant::now() < deadline,
            "expected {} access lines with status 400; the gateway logged:\n{}",
            bodies.len(),
            gateway.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        warnings(&gateway),
        Vec::<String>::new(),
        "client mistakes logged as faults"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_invalid_requests_are_refused_at_the_edge_like_nginx() {
    let upstream = TestUpstream::start("up");
    let gateway = gateway_to(&upstream, &[]).await;
    let port = gateway.port;
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n")
            .into_bytes()
    };
    let long_uri = format!("/api/v1/{}", "a".repeat(16 * 1024));
    assert_eq!(status_of(&exchange(port, &get(&long_uri, ""))), 414);
    for size in [10 * 1024, 64 * 1024] {
        let header = format!("X-Big: {}\r\n", "a".repeat(size));
        assert_eq!(
            status_of(&exchange(port, &get("/api/v1/x", &header))),
            431,
            "{size}"
        );
    }
    // The services take at most 96 headers; the gateway adds up to 4: a client may send 92.
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    for count in [93, 94, 95] {
        // Host and Connection are two of them.
        let answer = exchange(port, &get("/api/v1/x", &many(count - 2)));
        assert_eq!(status_of(&answer), 431, "{count} headers");
    }
    let answer = exchange(port, &get("/api/v1/x", &many(90)));
    assert_eq!(
        status_of(&answer),
        200,
        "92 headers reach the upstream: {answer}"
    );
    let bad_host = b"GET /api/v1/x HTTP/1.1\r\nHost: a b/c@d\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&exchange(port, bad_host)), 400);
    let two_hosts = b"GET /api/v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&exchange(port, two_hosts)), 400);
    let no_host = b"GET /api/v1/x HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&exchange(port, no_host)), 400);
    let lower = b"get /api/v1/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert_eq!(status_of(&exchange(port, lower)), 400);
    let long_method = format!(
        "{} /api/v1/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "A".repeat(2000)
    );
    assert_eq!(status_of(&exchange(port, long_method.as_bytes())), 400);
    // What is allowed still goes through.
    assert_eq!(status_of(&exchange(port, &get("/api/v1/x", ""))), 200);
    let legacy = b"GET /api/v1/x HTTP/1.0\r\n\r\n";
    assert_eq!(
        status_of(&exchange(port, legacy)),
        200,
        "HTTP/1.0 needs no Host"
    );
    assert_eq!(
        warnings(&gateway),
        Vec::<String>::new(),
        "client mistakes logged as faults"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_are_configurable() {
    let upstream = TestUpstream::start("up");
    let gateway = gateway_to(
        &upstream,
        &[
            ("MAX_URI_LENGTH", "64"),
            ("MAX_HEADER_LINE", "100"),
            ("MAX_HEADERS", "5"),
        ],
    )
    .await;
    let status = |path: &str, headers: &[(&str, &str)]| {
        let mut request = client().get(gateway.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&format!("/{}", "a".repeat(70)), &[]).await, 414);
    assert_eq!(status("/ok", &[("x-a", &"b".repeat(120))]).await, 431);
    let five = [
        ("x-1", "1"),
        ("x-2", "2"),
        ("x-3", "3"),
        ("x-4", "4"),
        ("x-5", "5"),
    ];
    assert_eq!(status("/ok", &five).await, 431);
    assert_eq!(status("/ok", &five[..1]).await, 200);
}

/// The test upstream's `/trickle` sends its head, then its small body 10 ms later, so the gateway
/// writes each answer in two writes: with Nagle's algorithm on the accepted socket, the second
/// waits for the client's ACK of the first, which a client delays (~40 ms) once its connection
/// is past its first exchanges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_answers_its_later_requests_without_stalling() {
    let upstream = TestUpstream::start("up");
    let gateway = gateway_to(&upstream, &[]).await;
    let request = b"GET /trickle HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let timed = |stream: &mut TcpStream| {
        let started = Instant::now();
        stream.write_all(request).expect("write");
        let answer = read_one_response(stream);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
        started.elapsed()
    };
    // A stall is systematic (every later request), noise is not: a few tries tell them apart.
    let mut worst = Vec::new();
    for _attempt in 0..3 {
        let mut stream = TcpStream::connect(("127.0.0.1", gateway.port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let first = timed(&mut stream);
        let later: Vec<Duration> = (0..5).map(|_| timed(&mut stream)).collect();
        let slowest = later.iter().max().copied().unwrap_or_default();
        if slowest < first + Duration::from_millis(30) {
            return;
        }
        worst.push((first, later));
    }
    panic!("later requests on one connection stalled (first, later): {worst:?}");
}

/// Reads one HTTP/1.1 response with a `Content-Length` body.
fn read_one_response(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("read head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read body");
    head
}

/// `ss -ltn` shows a listening socket's backlog as its Send-Q.
fn listen_backlog(port: u16) -> u32 {
    let output = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("run ss (iproute2)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listening socket on {port} in {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_binary_listens_with_the_configured_backlog() {
    for name in ["hello-service", "number-service", "gateway"] {
        let default = Service::start(name, &[]).await;
        assert_eq!(listen_backlog(default.port), 1024, "{name}'s default");
        let configured = Service::start(name, &[("BACKLOG", "2048")]).await;
        assert_eq!(
            listen_backlog(configured.port),
            2048,
            "{name} with BACKLOG=2048"
        );
    }
}
