//! The gateway's limits on clients (Nginx's `limit_req`, `limit_conn`, `worker_connections`,
//! `client_header_timeout`, `keepalive_timeout`): a per-IP rate limit per route (429 with
//! `Retry-After`, another IP still served), per-IP and global connection limits, the header read
//! timeout (408) and the idle keep-alive timeout.
//!
//! The raw-socket steps block their thread: the runtime has two, so the connections reqwest
//! kept (e.g. the readiness probe's) are closed meanwhile rather than held open by a stalled
//! runtime.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hbnb_tests::upstream::TestUpstream;
use hbnb_tests::Service;

/// A gateway with every upstream `upstream`, plus extra variables.
async fn gateway_to(upstream: &str, extra: &[(&str, &str)]) -> Service {
    let mut env = vec![
        ("HELLO_UPSTREAM", upstream),
        ("NUMBER_UPSTREAM", upstream),
        ("API_UPSTREAM", upstream),
        ("WEB_UPSTREAM", upstream),
    ];
    env.extend_from_slice(extra);
    Service::start("gateway", &env).await
}

/// A client whose connections come from `source` (127.0.0.2 is another client on loopback).
fn client_from(source: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(source.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A raw connection from `source` to the gateway.
fn connect_from(source: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    let target: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    socket.connect(&target.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends one keep-alive GET and reads its answer (whose body is short); the status.
fn get_on(stream: &mut TcpStream, path: &str) -> u16 {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "closed mid-head: {head:?}"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_is_rate_limited_while_another_ip_is_served() {
    let upstream = TestUpstream::start("api");
    let dir = std::env::temp_dir().join(format!("gw-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[upstreams]
api = ["{}"]

[[route]]
match = "prefix"
path = "/api/"
upstream = "api"
rate_limit = {{ rate = 0.5, burst = 3 }}

[[route]]
match = "prefix"
path = "/"
upstream = "api"
"#,
            upstream.base_url()
        ),
    )
    .unwrap();
    let gateway = gateway_to(
        &upstream.base_url(),
        &[("GATEWAY_CONFIG", config.to_str().unwrap())],
    )
    .await;
    let one = client_from("127.0.0.1");
    let other = client_from("127.0.0.2");
    for i in 0..3 {
        let response = one.get(gateway.url("/api/v1/states")).send().await.unwrap();
        assert_eq!(response.status(), 200, "request {i} of the burst");
    }
    let limited = one.get(gateway.url("/api/v1/states")).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry_after, 2, "one token every 2 s");
    assert!(limited.headers().contains_key("x-request-id"));
    assert!(
        limited.headers().get("x-upstream-name").is_none(),
        "a limited request does not reach the upstream"
    );
    // Another client, and the same client on a route without a limit, are served.
    let served = other
        .get(gateway.url("/api/v1/states"))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "127.0.0.2 is another client");
    let unlimited = one.get(gateway.url("/101-hbnb/")).send().await.unwrap();
    assert_eq!(unlimited.status(), 200, "the route without a limit");
    // The bucket refills: served again after Retry-After (polled, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = one
            .get(gateway.url("/api/v1/states"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(Instant::now() < deadline, "the bucket never refilled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rate_limit_is_refused_at_start() {
    let output = std::process::Command::new(hbnb_tests::bin_path("gateway"))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("RATE_LIMIT", "10/h")
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("RATE_LIMIT"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_get_503_and_another_ip_is_served() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[("MAX_CONNECTIONS_PER_IP", "2")]).await;
    let mut first = connect_from("127.0.0.1", gateway.port);
    let mut second = connect_from("127.0.0.1", gateway.port);
    assert_eq!(get_on(&mut first, "/101-hbnb/"), 200);
    assert_eq!(get_on(&mut second, "/101-hbnb/"), 200);
    let mut third = connect_from("127.0.0.1", gateway.port);
    assert_eq!(get_on(&mut third, "/101-hbnb/"), 503);
    let mut rest = Vec::new();
    assert_eq!(third.read_to_end(&mut rest).unwrap(), 0, "and it is closed");
    let mut elsewhere = connect_from("127.0.0.2", gateway.port);
    assert_eq!(get_on(&mut elsewhere, "/101-hbnb/"), 200, "another IP");
    // The counted connections still work, and closing one frees its place.
    assert_eq!(get_on(&mut first, "/101-hbnb/"), 200);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = connect_from("127.0.0.1", gateway.port);
        match get_on(&mut next, "/101-hbnb/") {
            200 => break,
            status => assert_eq!(status, 503),
        }
        assert!(
            Instant::now() < deadline,
            "the closed connection's place was not freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_new_ones_wait_until_one_closes() {
    let upstream = TestUpstream::start("web");
    // 2 workers, 1 connection each.
    let gateway = gateway_to(&upstream.base_url(), &[("MAX_CONNECTIONS", "2")]).await;
    let mut open = vec![
        connect_from("127.0.0.1", gateway.port),
        connect_from("127.0.0.1", gateway.port),
    ];
    for stream in &mut open {
        assert_eq!(get_on(stream, "/101-hbnb/"), 200);
    }
    // Accepted by the kernel, not by the gateway: no answer while the others stay open.
    let mut waiting = connect_from("127.0.0.1", gateway.port);
    waiting
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        waiting,
        "GET /101-hbnb/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    let mut byte = [0u8; 1];
    let error = waiting.read(&mut byte).unwrap_err();
    assert!(
        matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{error}"
    );
    open.pop();
    waiting
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    waiting.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200", "answered once a place was free");
}

/// The earliest a 1 s actix-http timeout can fire: its clock ticks every 500 ms.
const ACTIX_CLOCK_FLOOR: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_head_gets_408_and_an_idle_connection_is_closed() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(
        &upstream.base_url(),
        &[("HEADER_TIMEOUT", "1s"), ("KEEPALIVE_TIMEOUT", "1s")],
    )
    .await;
    // Half a head, then nothing.
    let mut slow = connect_from("127.0.0.1", gateway.port);
    let started = Instant::now();
    slow.write_all(b"GET /101-hbnb/ HTTP/1.1\r\nHost: loc")
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let waited = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // actix-http sets its timers from a clock it updates every 500 ms (`date.rs`): a 1 s timeout
    // fires between 0.5 and 1 s after its start (878 ms on a loaded machine), never at once.
    assert!(
        waited >= ACTIX_CLOCK_FLOOR && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A kept-alive connection left idle is closed after the keep-alive timeout. Timed from
    // before the request: the timeout runs from the response's end, which a loaded machine may
    // deliver to us a good while later.
    let mut idle = connect_from("127.0.0.1", gateway.port);
    let started = Instant::now();
    assert_eq!(get_on(&mut idle, "/101-hbnb/"), 200);
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap_or(0), 0);
    let waited = started.elapsed();
    assert!(
        waited >= ACTIX_CLOCK_FLOOR && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}
