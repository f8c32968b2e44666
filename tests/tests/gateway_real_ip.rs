//! The real client behind a load balancer (issue 30): `TRUSTED_PROXIES` (Nginx's
//! `set_real_ip_from` + `real_ip_header X-Forwarded-For` + `real_ip_recursive on`) and
//! `PROXY_PROTOCOL` (Nginx's `listen ... proxy_protocol`), over real loopback connections: the
//! client they name is the access log's remote address, the client the rate limits count, and
//! the address appended to the `X-Forwarded-For` the upstream gets.
//!
//! The raw-socket steps block their thread: the runtime has two.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hbnb_tests::upstream::TestUpstream;
use hbnb_tests::Service;
use serde_json::Value;

/// A gateway with every upstream `upstream`, combined access lines, plus extra variables.
fn gateway_env<'a>(upstream: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("HELLO_UPSTREAM", upstream),
        ("NUMBER_UPSTREAM", upstream),
        ("API_UPSTREAM", upstream),
        ("WEB_UPSTREAM", upstream),
        ("ACCESS_LOG_FORMAT", "combined"),
    ];
    env.extend_from_slice(extra);
    env
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET `path` with `X-Forwarded-For: xff` (none if empty): the status and the echoed request.
async fn get_as(gateway: &Service, path: &str, xff: &str) -> (u16, Option<Value>) {
    let mut request = client().get(gateway.url(path));
    if !xff.is_empty() {
        request = request.header("x-forwarded-for", xff);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.ok())
}

/// Waits for the combined access line of `path` and returns its remote address.
async fn remote_of(gateway: &Service, path: &str) -> String {
    let needle = format!("\"GET {path} HTTP/");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = gateway.logs().into_iter().find(|l| l.contains(&needle)) {
            return line.split(' ').next().unwrap_or_default().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no access line for {path}:\n{}",
            gateway.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_client_is_logged_limited_and_forwarded() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let gateway = Service::start(
        "gateway",
        &gateway_env(
            &base,
            &[
                ("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1/32"),
                // One request per client per 100 s on the proxied routes.
                ("RATE_LIMIT", "0.01/s,burst=1"),
            ],
        ),
    )
    .await;
    let (status, seen) = get_as(&gateway, "/api/v1/status?one", "203.0.113.7").await;
    assert_eq!(status, 200);
    assert_eq!(
        seen.unwrap()["headers"]["x-forwarded-for"],
        "203.0.113.7, 127.0.0.1",
        "the chain as received and the peer"
    );
    assert_eq!(
        remote_of(&gateway, "/api/v1/status?one").await,
        "203.0.113.7"
    );
    // The same client again, through another trusted hop: limited.
    let (status, _) = get_as(&gateway, "/api/v1/status?two", "203.0.113.7, 10.1.2.3").await;
    assert_eq!(status, 429, "the same client behind the proxy");
    assert_eq!(
        remote_of(&gateway, "/api/v1/status?two").await,
        "203.0.113.7"
    );
    // Another client behind the same proxy is not limited with the first.
    let (status, _) = get_as(&gateway, "/api/v1/status?three", "203.0.113.8").await;
    assert_eq!(status, 200, "another client behind the proxy");
    // A client's forged entries are left of what the proxy wrote: they change nothing.
    let (status, _) = get_as(&gateway, "/api/v1/status?four", "198.51.100.1, 203.0.113.8").await;
    assert_eq!(status, 429, "203.0.113.8 again, whatever it wrote before");
    assert_eq!(
        remote_of(&gateway, "/api/v1/status?four").await,
        "203.0.113.8"
    );
    // A malformed rightmost entry stops the walk: the proxy itself is the client.
    let (status, _) = get_as(&gateway, "/api/v1/status?five", "203.0.113.9, garbage").await;
    assert_eq!(status, 200);
    assert_eq!(
        remote_of(&gateway, "/api/v1/status?five").await,
        "127.0.0.1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    // Nothing trusted (the default), and a list the peer is not in.
    for trusted in [None, Some("10.0.0.0/8,::1")] {
        let mut extra = vec![("RATE_LIMIT", "0.01/s,burst=1")];
        extra.extend(trusted.map(|list| ("TRUSTED_PROXIES", list)));
        let gateway = Service::start("gateway", &gateway_env(&base, &extra)).await;
        let (status, seen) = get_as(&gateway, "/api/v1/status?one", "203.0.113.7").await;
        assert_eq!(status, 200, "{trusted:?}");
        assert_eq!(
            seen.unwrap()["headers"]["x-forwarded-for"],
            "203.0.113.7, 127.0.0.1"
        );
        assert_eq!(remote_of(&gateway, "/api/v1/status?one").await, "127.0.0.1");
        let (status, _) = get_as(&gateway, "/api/v1/status?two", "203.0.113.8").await;
        assert_eq!(
            status, 429,
            "{trusted:?}: one client, 127.0.0.1, whatever it writes"
        );
        assert_eq!(remote_of(&gateway, "/api/v1/status?two").await, "127.0.0.1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_trusted_proxies_are_refused_by_check() {
    let dir = std::env::temp_dir().join(format!("gw-real-ip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "trusted_proxies = [\"10.0.0.0/8\", \"fd00::/200\"]\n\n[upstreams]\napi = [\"http://127.0.0.1:1\"]\n\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"api\"\n",
    )
    .unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(hbnb_tests::bin_path("gateway"));
        command.arg("--check").env("LOG_FORMAT", "json");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, output) = check(&[("TRUSTED_PROXIES", "10.0.0.0/33,::1")]);
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("TRUSTED_PROXIES") && output.contains("10.0.0.0/33"),
        "{output}"
    );
    let (code, output) = check(&[("TRUSTED_PROXIES", "10.0.0.0/8, ::1, 2001:db8::/32")]);
    assert_eq!(code, Some(0), "{output}");
    // The file's key, and the variable replacing it.
    let path = config.to_str().unwrap();
    let (code, output) = check(&[("GATEWAY_CONFIG", path)]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("fd00::/200"), "{output}");
    let (code, output) = check(&[("GATEWAY_CONFIG", path), ("TRUSTED_PROXIES", "fd00::/8")]);
    assert_eq!(code, Some(0), "{output}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Connects, sends `bytes` and reads until the gateway closes: what it answered (empty: nothing).
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    read_all(&mut stream)
}

/// Reads to the end; a reset (the gateway closing with our bytes unread) ends it too.
fn read_all(stream: &mut impl Read) -> Vec<u8> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return answer,
            Err(error) => panic!("reading the answer: {error} (so far {answer:?})"),
        }
    }
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

/// The status of a raw HTTP/1.1 answer (0: none), and its `X-Forwarded-For` as the upstream
/// echoed it.
fn status_and_forwarded_for(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let forwarded = regex::Regex::new(r#""x-forwarded-for":"([^"]*)""#)
        .unwrap()
        .captures(&text)
        .map(|c| c[1].to_owned())
        .unwrap_or_default();
    (status, forwarded)
}

/// A v2 header: PROXY (or LOCAL) over TCP from `source` (to 127.0.0.1:80 or [::1]:80), and a TLV.
fn v2_header(source: Option<std::net::SocketAddr>) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    let mut body = Vec::new();
    let (command, family) = match source {
        None => (0x20, 0x00),
        Some(std::net::SocketAddr::V4(v4)) => {
            body.extend_from_slice(&v4.ip().octets());
            body.extend_from_slice(&[127, 0, 0, 1]);
            body.extend_from_slice(&v4.port().to_be_bytes());
            body.extend_from_slice(&80u16.to_be_bytes());
            (0x21, 0x11)
        }
        Some(std::net::SocketAddr::V6(v6)) => {
            body.extend_from_slice(&v6.ip().octets());
            body.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
            body.extend_from_slice(&v6.port().to_be_bytes());
            body.extend_from_slice(&80u16.to_be_bytes());
            (0x21, 0x21)
        }
    };
    // A PP2_TYPE_AUTHORITY TLV: skipped.
    let authority = b"hbnb.example";
    body.push(0x02);
    body.extend_from_slice(&u16::try_from(authority.len()).unwrap().to_be_bytes());
    body.extend_from_slice(authority);
    header.push(command);
    header.push(family);
    header.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    header.extend_from_slice(&body);
    header
}

/// Sends `header` and a GET of `path` in one write until the gateway answers 200 (its upstream
/// may not be up at once); the `X-Forwarded-For` the upstream got.
async fn served_behind(gateway: &Service, header: &[u8], path: &str) -> String {
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&get_request(path));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = exchange(gateway.port, &bytes);
        let (status, forwarded) = status_and_forwarded_for(&answer);
        if status == 200 {
            return forwarded;
        }
        assert!(
            Instant::now() < deadline,
            "never 200: {:?}",
            String::from_utf8_lossy(&answer)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_protocol_header_names_the_client() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let gateway = Service::spawn(
        "gateway",
        &[],
        &gateway_env(&base, &[("PROXY_PROTOCOL", "1")]),
    );
    let port = gateway.port;
    let cases: [(Vec<u8>, &str, &str); 5] = [
        (
            format!("PROXY TCP4 198.51.100.9 127.0.0.1 40000 {port}\r\n").into_bytes(),
            "/api/v1/status?v1",
            "198.51.100.9",
        ),
        (
            format!("PROXY TCP6 2001:db8::9 ::1 40000 {port}\r\n").into_bytes(),
            "/api/v1/status?v1-6",
            "2001:db8::9",
        ),
        (
            v2_header(Some("198.51.100.10:40000".parse().unwrap())),
            "/api/v1/status?v2",
            "198.51.100.10",
        ),
        (
            v2_header(Some("[2001:db8::10]:40000".parse().unwrap())),
            "/api/v1/status?v2-6",
            "2001:db8::10",
        ),
        // LOCAL (a health check of the proxy's own) and UNKNOWN: the connection's own peer.
        (v2_header(None), "/api/v1/status?local", "127.0.0.1"),
    ];
    for (header, path, client) in &cases {
        assert_eq!(
            served_behind(&gateway, header, path).await,
            *client,
            "{path}"
        );
        assert_eq!(remote_of(&gateway, path).await, *client, "{path}");
    }
    assert_eq!(
        served_behind(&gateway, b"PROXY UNKNOWN\r\n", "/api/v1/status?unknown").await,
        "127.0.0.1"
    );
    // The header and the request in separate writes (a proxy that flushes the header first).
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(b"PROXY TCP4 198.51.100.11 ").unwrap();
    stream.flush().unwrap();
    std::thread::yield_now();
    stream
        .write_all(format!("127.0.0.1 40000 {port}\r\n").as_bytes())
        .unwrap();
    stream
        .write_all(&get_request("/api/v1/status?split"))
        .unwrap();
    let (status, forwarded) = status_and_forwarded_for(&read_all(&mut stream));
    assert_eq!((status, forwarded.as_str()), (200, "198.51.100.11"));
    // The metrics listener is not behind the proxy: plain HTTP there.
    let metrics = client()
        .get(gateway.metrics_url().await)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_proxy_header_the_connection_is_closed_unanswered() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let gateway = Service::spawn(
        "gateway",
        &[],
        &gateway_env(&base, &[("PROXY_PROTOCOL", "1")]),
    );
    // Served once up, so that the refusals below are the header's doing.
    let port = gateway.port;
    let good = format!("PROXY TCP4 198.51.100.9 127.0.0.1 40000 {port}\r\n").into_bytes();
    served_behind(&gateway, &good, "/api/v1/status?up").await;
    let mut oversized = v2_header(Some("198.51.100.9:1".parse().unwrap()));
    oversized[14..16].copy_from_slice(&600u16.to_be_bytes());
    let bad: [(&str, Vec<u8>); 6] = [
        ("no header", Vec::new()),
        (
            "a bad v1 address",
            b"PROXY TCP4 nope 127.0.0.1 1 2\r\n".to_vec(),
        ),
        (
            "a v1 line too long",
            [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 200]].concat(),
        ),
        ("a v2 length over the bound", oversized),
        (
            "a wrong v2 signature",
            b"\r\n\r\n\0\r\nQUIX\n\x21\x11\0\x0c".to_vec(),
        ),
        ("garbage", vec![0xff; 64]),
    ];
    for (what, header) in bad {
        let mut bytes = header;
        bytes.extend_from_slice(&get_request("/api/v1/status?refused"));
        let answer = exchange(port, &bytes);
        assert!(
            answer.is_empty(),
            "{what}: answered {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(
        !gateway.logs().iter().any(|l| l.contains("refused")),
        "a refused connection never reaches the routes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_proxy_protocol_off_a_proxy_line_is_a_bad_request() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let gateway = Service::start("gateway", &gateway_env(&base, &[])).await;
    let mut bytes = b"PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n".to_vec();
    bytes.extend_from_slice(&get_request("/api/v1/status"));
    let (status, _) = status_and_forwarded_for(&exchange(gateway.port, &bytes));
    assert_eq!(status, 400);
}

/// A certificate for `localhost` signed by a CA of the test's own: (cert PEM, key PEM, CA DER).
fn certificate() -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "real-ip CA");
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
    (leaf.pem(), key.serialize_pem(), ca.der().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_protocol_header_comes_before_the_tls_handshake() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let dir = std::env::temp_dir().join(format!("gw-real-ip-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, ca) = certificate();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let gateway = Service::spawn(
        "gateway",
        &[],
        &gateway_env(
            &base,
            &[
                ("PROXY_PROTOCOL", "1"),
                ("TLS_CERT", cert_path.to_str().unwrap()),
                ("TLS_KEY", key_path.to_str().unwrap()),
                ("TLS_PORT", "0"),
            ],
        ),
    );
    let line = gateway
        .wait_for_log(Duration::from_secs(10), |v| {
            v["message"] == "listening with TLS"
        })
        .await;
    let tls_port = u16::try_from(line["port"].as_u64().unwrap()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let https_get = |header: &[u8], path: &str| -> Vec<u8> {
        let mut tcp = TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(header).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(config.clone(), name).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        match tls.write_all(&get_request(path)) {
            Ok(()) => {}
            Err(_) => return Vec::new(),
        }
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match tls.read(&mut chunk) {
                Ok(0) | Err(_) => return answer,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let header = format!("PROXY TCP4 198.51.100.20 127.0.0.1 40000 {tls_port}\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, forwarded) =
            status_and_forwarded_for(&https_get(header.as_bytes(), "/api/v1/status?tls"));
        if status == 200 {
            assert_eq!(forwarded, "198.51.100.20");
            break;
        }
        assert!(Instant::now() < deadline, "never 200 over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        remote_of(&gateway, "/api/v1/status?tls").await,
        "198.51.100.20"
    );
    let v2 = v2_header(Some("[2001:db8::20]:40000".parse().unwrap()));
    let (status, forwarded) = status_and_forwarded_for(&https_get(&v2, "/api/v1/status?tls6"));
    assert_eq!((status, forwarded.as_str()), (200, "2001:db8::20"));
    // Straight into the handshake, no header: closed, nothing served.
    let answer = https_get(b"", "/api/v1/status?tls-refused");
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a keep-alive GET on `stream` and reads its answer (a short body); the status.
fn keep_alive_get(stream: &mut TcpStream, path: &str) -> u16 {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return 0;
        }
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
async fn the_per_ip_connection_limit_counts_the_proxy_protocol_client() {
    let upstream = TestUpstream::start("api");
    let base = upstream.base_url();
    let gateway = Service::spawn(
        "gateway",
        &[],
        &gateway_env(
            &base,
            &[("PROXY_PROTOCOL", "1"), ("MAX_CONNECTIONS_PER_IP", "1")],
        ),
    );
    let port = gateway.port;
    let connect_as = |client: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(stream, "PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n").unwrap();
        stream
    };
    // The first connection of 198.51.100.30, kept open (polled: the upstream may not be up).
    let deadline = Instant::now() + Duration::from_secs(10);
    let _first = loop {
        let mut first = connect_as("198.51.100.30");
        if keep_alive_get(&mut first, "/api/v1/status") == 200 {
            break first;
        }
        assert!(Instant::now() < deadline, "never 200");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // All connections come from 127.0.0.1: the header's client is what is counted.
    let mut second = connect_as("198.51.100.30");
    assert_eq!(
        keep_alive_get(&mut second, "/api/v1/status"),
        503,
        "the same client"
    );
    let mut other = connect_as("198.51.100.31");
    assert_eq!(
        keep_alive_get(&mut other, "/api/v1/status"),
        200,
        "another client"
    );
}
