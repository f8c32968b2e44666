//! The gateway as the TLS edge: HTTPS and HTTP/2 (ALPN and prior knowledge) to every route,
//! `X-Forwarded-Proto`, TLS versions, 50 MiB streamed both ways over h2, the certificate swapped
//! by SIGHUP under load, a bad pair refused, and the TLS socket handed over on SIGUSR2.
//! Certificates are made in the test (rcgen): a CA per test, and leaves it signs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hbnb_tests::upstream::{pattern, sha256_hex, TestUpstream};
use hbnb_tests::Service;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::Value;

/// A test CA: signs leaf certificates for `localhost` and `127.0.0.1`.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A leaf certificate and its key, PEM (the key PKCS#8).
    fn leaf(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.cert.pem().as_bytes()).unwrap()
    }
}

/// A directory removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gw-tls-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `content` to `name` atomically (a reload never reads half a file).
    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.path(name);
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, content).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A gateway with every upstream `upstream`, HTTPS on a free port with the given files.
async fn tls_gateway(
    program: Option<&Path>,
    upstream: &str,
    cert: &Path,
    key: &Path,
    extra: &[(&str, &str)],
) -> (Service, u16) {
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut env = vec![
        ("HELLO_UPSTREAM", upstream),
        ("NUMBER_UPSTREAM", upstream),
        ("API_UPSTREAM", upstream),
        ("WEB_UPSTREAM", upstream),
        ("SERVED_BY", "gw-tls"),
        ("TLS_CERT", cert),
        ("TLS_KEY", key),
        ("TLS_PORT", "0"),
    ];
    env.extend_from_slice(extra);
    let gateway = match program {
        Some(program) => Service::spawn_program(program, "gateway", &[], &env),
        None => Service::spawn("gateway", &[], &env),
    };
    gateway.wait_ready().await;
    let tls_port = tls_port(&gateway).await;
    (gateway, tls_port)
}

async fn tls_port(gateway: &Service) -> u16 {
    let line = gateway
        .wait_for_log(Duration::from_secs(10), |v| {
            v["message"] == "listening with TLS"
        })
        .await;
    line["port"].as_u64().unwrap() as u16
}

enum Protocol {
    /// HTTP/1.1 only (no h2 offered in ALPN).
    Http1,
    /// Whatever ALPN agrees on (h2, from us).
    Alpn,
    /// h2 without asking.
    Http2PriorKnowledge,
}

/// A fresh client (its own connections) trusting only `ca`.
fn https_client(ca: &Ca, protocol: Protocol) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca.root())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    let builder = match protocol {
        Protocol::Http1 => builder.http1_only(),
        Protocol::Alpn => builder,
        Protocol::Http2PriorKnowledge => builder.http2_prior_knowledge(),
    };
    builder.build().unwrap()
}

fn https(port: u16, path: &str) -> String {
    format!("https://localhost:{port}{path}")
}

#[tokio::test]
async fn https_and_h2_reach_every_route_with_the_forwarded_proto() {
    let upstream = TestUpstream::start("web");
    let ca = Ca::new("routes CA");
    let dir = Scratch::new("routes");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let (gateway, port) = tls_gateway(None, &upstream.base_url(), &cert, &key, &[]).await;
    let cases = [
        ("/", "/2-hbnb/"),
        (
            "/airbnb-dynamic/number_odd_or_even/0042",
            "/number_odd_or_even/0042",
        ),
        ("/api/v1/states?a=b", "/api/v1/states"),
        ("/101-hbnb/", "/101-hbnb/"),
        ("/static/styles/4-common.css", "/static/styles/4-common.css"),
        ("/airbnb-onepage/", "/airbnb-onepage/"),
    ];
    // One client of each kind, all on the same port at the same time.
    let clients = [
        (
            https_client(&ca, Protocol::Http1),
            reqwest::Version::HTTP_11,
        ),
        (https_client(&ca, Protocol::Alpn), reqwest::Version::HTTP_2),
        (
            https_client(&ca, Protocol::Http2PriorKnowledge),
            reqwest::Version::HTTP_2,
        ),
    ];
    for (path, upstream_path) in cases {
        let requests = clients.iter().map(|(client, version)| async move {
            let response = client.get(https(port, path)).send().await.unwrap();
            let status = response.status();
            if status != 200 {
                let body = response.text().await.unwrap_or_default();
                panic!("{path} over {version:?}: {status} {body}");
            }
            assert_eq!(response.version(), *version, "{path}");
            assert_eq!(response.headers()["x-served-by"], "gw-tls");
            assert!(response.headers().contains_key("x-request-id"));
            let seen: Value = response.json().await.unwrap();
            assert_eq!(seen["path"], upstream_path, "{path} over {version:?}");
            assert_eq!(seen["headers"]["x-forwarded-proto"], "https", "{path}");
            assert_eq!(
                seen["headers"]["x-forwarded-host"],
                format!("localhost:{port}"),
                "the host the client asked for ({version:?})"
            );
        });
        futures_util::future::join_all(requests).await;
    }
    // The :404 route answers over h2 too, and the plain port still says http.
    let h2 = &clients[2].0;
    let missing = h2
        .get(https(port, "/airbnb-dynamic/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let plain: Value = hbnb_tests::client()
        .get(gateway.url("/api/v1/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["headers"]["x-forwarded-proto"], "http");
    // A POST with a small body over h2 (no Content-Length) arrives whole.
    let posted: Value = h2
        .post(https(port, "/api/v1/states"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter([
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"name\":")),
            Ok(bytes::Bytes::from_static(b"\"x\"}")),
        ])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["method"], "POST");
    assert_eq!(posted["body_len"], 12);
    // The edge's header limits hold over h2 too (431, like Nginx's large_client_header_buffers).
    let too_large = h2
        .get(https(port, "/api/v1/states"))
        .header("x-big", "a".repeat(9 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 431);
    // A client that trusts another CA is refused.
    let stranger = https_client(&Ca::new("another CA"), Protocol::Alpn);
    assert!(stranger.get(https(port, "/")).send().await.is_err());
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_are_spoken() {
    let upstream = TestUpstream::start("web");
    let ca = Ca::new("versions CA");
    let dir = Scratch::new("versions");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let (_gateway, port) = tls_gateway(None, &upstream.base_url(), &cert, &key, &[]).await;
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let client = reqwest::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.root())
            .min_tls_version(version)
            .max_tls_version(version)
            .build()
            .unwrap();
        let response = client.get(https(port, "/")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{version:?}");
    }
    // TLS 1.1 and below: curl (OpenSSL) can offer them; the handshake must fail.
    if let Ok(output) = std::process::Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-k",
            "--tlsv1.0",
            "--tls-max",
            "1.1",
        ])
        .arg(https(port, "/"))
        .output()
    {
        assert!(
            !output.status.success(),
            "a TLS 1.1 handshake succeeded: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // And curl --http2 gets h2 by ALPN.
        let output = std::process::Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code}",
            ])
            .args(["--http2", "--cacert"])
            .arg(dir.write("ca.pem", &ca.cert.pem()))
            .arg(https(port, "/101-hbnb/"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout,
            "2 200",
            "curl --http2: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn h2_streams_50_mib_both_ways() {
    const SIZE: usize = 50 * 1024 * 1024;
    let upstream = TestUpstream::start("bulk");
    let ca = Ca::new("bulk CA");
    let dir = Scratch::new("bulk");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let (gateway, port) = tls_gateway(
        None,
        &upstream.base_url(),
        &cert,
        &key,
        &[("MAX_BODY_SIZE", "104857600")],
    )
    .await;
    let client = https_client(&ca, Protocol::Http2PriorKnowledge);
    let warm = client
        .get(https(port, "/download?bytes=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.version(), reqwest::Version::HTTP_2);
    warm.bytes().await.unwrap();
    let before = gateway.rss_kib();

    let data = pattern(SIZE);
    let expected = sha256_hex(&data);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = data
        .chunks(256 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    // No Content-Length: an h2 stream of DATA frames, forwarded chunked.
    let upload = client
        .post(https(port, "/upload"))
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    assert_eq!(upload.version(), reqwest::Version::HTTP_2);
    let seen: Value = upload.json().await.unwrap();
    assert_eq!(seen["len"], SIZE);
    assert_eq!(seen["sha256"], expected.as_str(), "upload arrived intact");

    let download = client
        .get(https(port, &format!("/download?bytes={SIZE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.version(), reqwest::Version::HTTP_2);
    let body = download.bytes().await.unwrap();
    assert_eq!(body.len(), SIZE);
    assert_eq!(sha256_hex(&body), expected, "download arrived intact");
    let after = gateway.rss_kib();
    let growth_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!("gateway RSS before {before} KiB, after {after} KiB");
    assert!(
        growth_mib < 30.0,
        "gateway memory grew by {growth_mib:.1} MiB moving 2×50 MiB over h2"
    );
}

/// Requests over TLS until `stop`: kept-alive h1 and h2 clients, and clients making a new
/// connection (a new handshake) per request. Returns (done, failures as text).
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(port: u16, cas: &[&Ca], kept_h2: bool) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let roots: Vec<reqwest::Certificate> = cas.iter().map(|ca| ca.root()).collect();
        let mut tasks = Vec::new();
        let kinds: &[&str] = if kept_h2 {
            &["kept-h1", "kept-h2", "new-h1", "new-h2"]
        } else {
            &["kept-h1", "new-h1", "new-h2"]
        };
        for &kind in kinds {
            let (stop, done, roots) = (stop.clone(), done.clone(), roots.clone());
            tasks.push(tokio::spawn(async move {
                let make = || {
                    let mut builder = reqwest::Client::builder()
                        .no_proxy()
                        .use_rustls_tls()
                        .tls_built_in_root_certs(false)
                        .timeout(Duration::from_secs(30));
                    for root in &roots {
                        builder = builder.add_root_certificate(root.clone());
                    }
                    if kind.ends_with("h1") {
                        builder.http1_only()
                    } else {
                        builder.http2_prior_knowledge()
                    }
                    .build()
                    .unwrap()
                };
                let kept = make();
                let mut failures = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let client = if kind.starts_with("kept") {
                        kept.clone()
                    } else {
                        make()
                    };
                    let path = format!("/api/v1/states/{kind}-{i}");
                    match client.get(https(port, &path)).send().await {
                        Ok(response) if response.status() == 200 => match response.bytes().await {
                            Ok(_) => {}
                            Err(e) => failures.push(format!("{kind} {path}: body: {e:?}")),
                        },
                        Ok(response) => {
                            failures.push(format!("{kind} {path}: {}", response.status()))
                        }
                        Err(e) => failures.push(format!("{kind} {path}: {e:?}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                failures
            }));
        }
        Load { stop, done, tasks }
    }

    /// Waits until `count` more requests have completed.
    async fn wait_for(&self, count: usize) {
        let target = self.done.load(Ordering::Relaxed) + count;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.done.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "the load stalled");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failures = Vec::new();
        for task in self.tasks {
            failures.extend(task.await.unwrap());
        }
        (self.done.load(Ordering::Relaxed), failures)
    }
}

/// Log lines whose message is `message`.
fn count_logs(service: &Service, message: &str) -> usize {
    service
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["message"] == message)
        .count()
}

async fn wait_for_count(service: &Service, message: &str, count: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines: Vec<Value> = service
            .logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|v| v["message"] == message)
            .collect();
        if lines.len() >= count {
            return lines[count - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {count}th {message:?} line; output:\n{}",
            service.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a new connection trusting only `ca` gets an answer.
async fn served_with(ca: &Ca, port: u16) -> bool {
    matches!(
        https_client(ca, Protocol::Alpn).get(https(port, "/")).send().await,
        Ok(r) if r.status() == 200
    )
}

#[tokio::test]
async fn sighup_swaps_the_certificate_under_load_and_refuses_a_bad_pair() {
    let upstream = TestUpstream::start("api");
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let dir = Scratch::new("reload");
    let (cert, key) = old_ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let (gateway, port) = tls_gateway(None, &upstream.base_url(), &cert, &key, &[]).await;
    assert!(served_with(&old_ca, port).await);
    assert!(!served_with(&new_ca, port).await);

    let load = Load::start(port, &[&old_ca, &new_ca], true);
    load.wait_for(100).await;
    let (new_cert, new_key) = new_ca.leaf();
    dir.write("key.pem", &new_key);
    dir.write("cert.pem", &new_cert);
    gateway.signal("HUP");
    wait_for_count(&gateway, "TLS certificate reloaded", 1).await;
    assert!(
        served_with(&new_ca, port).await,
        "a new connection gets the new certificate"
    );
    assert!(
        !served_with(&old_ca, port).await,
        "a new connection still got the old certificate"
    );
    load.wait_for(100).await;

    // A certificate with another key: refused, the running one kept.
    let (other_cert, _) = new_ca.leaf();
    dir.write("cert.pem", &other_cert);
    gateway.signal("HUP");
    let refused = wait_for_count(
        &gateway,
        "configuration reload refused; keeping the running configuration",
        1,
    )
    .await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("do not go together")),
        "the reason is logged: {refused}"
    );
    assert!(served_with(&new_ca, port).await, "the old pair was dropped");
    load.wait_for(50).await;

    // An unreadable certificate: refused too.
    dir.write("cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    gateway.signal("HUP");
    let refused = wait_for_count(
        &gateway,
        "configuration reload refused; keeping the running configuration",
        2,
    )
    .await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("TLS certificate")),
        "the reason is logged: {refused}"
    );
    assert!(served_with(&new_ca, port).await, "the old pair was dropped");
    assert_eq!(count_logs(&gateway, "TLS certificate reloaded"), 1);
    load.wait_for(50).await;

    let (done, failures) = load.finish().await;
    println!("{done} requests over TLS during the reloads");
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
}

#[tokio::test]
async fn a_bad_certificate_at_start_is_refused_with_the_reason() {
    let dir = Scratch::new("start");
    let ca = Ca::new("start CA");
    let (cert, _) = ca.leaf();
    let (_, other_key) = ca.leaf();
    let cert = dir.write("cert.pem", &cert);
    let key = dir.write("key.pem", &other_key);
    let output = std::process::Command::new(hbnb_tests::bin_path("gateway"))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("TLS_PORT", "0")
        .env("TLS_CERT", &cert)
        .env("TLS_KEY", &key)
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("do not go together"), "{stderr}");
    let output = std::process::Command::new(hbnb_tests::bin_path("gateway"))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("TLS_CERT", &cert)
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("TLS_CERT and TLS_KEY"), "{stderr}");
}

#[tokio::test]
async fn the_tls_socket_is_handed_over_on_a_binary_upgrade() {
    let upstream = TestUpstream::start("api");
    let ca = Ca::new("upgrade CA");
    let dir = Scratch::new("upgrade");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let program = dir.path("gateway");
    std::fs::copy(hbnb_tests::bin_path("gateway"), &program).unwrap();
    let pid_file = dir.path("gateway.pid");
    let pid_path = pid_file.to_str().unwrap().to_owned();
    let (gateway, port) = tls_gateway(
        Some(&program),
        &upstream.base_url(),
        &cert,
        &key,
        &[("PID_FILE", &pid_path)],
    )
    .await;
    let first = gateway.pid();
    let deadline = Instant::now() + Duration::from_secs(20);
    while gateway.current_pid() != Some(first) {
        assert!(Instant::now() < deadline, "no pid file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No kept-alive h2 client: actix-http's h2 dispatcher sends no GOAWAY when the server
    // drains, so an h2 connection still busy when the old process stops is cut (docs/design/gateway.md, HTTPS).
    // HTTP/1.1 connections are closed between requests, and new h2 connections go to whichever
    // process accepts them.
    let load = Load::start(port, &[&ca], false);
    load.wait_for(100).await;
    gateway.signal("USR2");
    let deadline = Instant::now() + Duration::from_secs(30);
    while gateway.current_pid() == Some(first) || hbnb_tests::process_alive(first) {
        assert!(
            Instant::now() < deadline,
            "the upgrade did not complete; output:\n{}",
            gateway.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    load.wait_for(100).await;
    let (done, failures) = load.finish().await;
    println!("{done} requests over TLS across the upgrade");
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    let successor = gateway.current_pid().unwrap();
    assert_ne!(successor, first);
    assert!(served_with(&ca, port).await, "the successor serves HTTPS");
    let plain = hbnb_tests::client()
        .get(gateway.url("/api/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200, "and plain HTTP");
}

#[tokio::test]
async fn https_redirect_sends_plain_http_to_https_except_acme_challenges() {
    let upstream = TestUpstream::start("web");
    let ca = Ca::new("redirect CA");
    let dir = Scratch::new("redirect");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let acme = dir.path("acme-challenge");
    std::fs::create_dir_all(&acme).unwrap();
    std::fs::write(acme.join("tok_EN-123"), "tok_EN-123.thumbprint").unwrap();
    let (gateway, port) = tls_gateway(
        None,
        &upstream.base_url(),
        &cert,
        &key,
        &[
            ("HTTPS_REDIRECT", "1"),
            ("ACME_DIR", acme.to_str().unwrap()),
        ],
    )
    .await;
    let plain = hbnb_tests::client();
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/states?x=1"),
        (reqwest::Method::POST, "/api/v1/states"),
        (reqwest::Method::GET, "/"),
    ] {
        let response = plain
            .request(method.clone(), gateway.url(path))
            .header("Host", format!("localhost:{}", gateway.port))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 308, "{method} {path}");
        assert_eq!(
            response.headers()["location"],
            format!("https://localhost:{port}{path}").as_str()
        );
        assert!(
            response.headers().get("x-upstream-name").is_none(),
            "redirected, not proxied"
        );
    }
    let challenge = plain
        .get(gateway.url("/.well-known/acme-challenge/tok_EN-123"))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.unwrap(), "tok_EN-123.thumbprint");
    for missing in [
        "/.well-known/acme-challenge/nope",
        "/.well-known/acme-challenge/",
    ] {
        let response = plain.get(gateway.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
    assert_eq!(
        hbnb_tests::raw_get_status(gateway.port, "/.well-known/acme-challenge/..%2Fcert.pem"),
        404
    );
    // HTTPS itself is served, and the health endpoints stay on plain HTTP.
    let response = https_client(&ca, Protocol::Alpn)
        .get(https(port, "/api/v1/states"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ready = plain.get(gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn security_headers_are_set_per_route_and_hsts_only_over_https() {
    let upstream = TestUpstream::start("api");
    let ca = Ca::new("headers CA");
    let dir = Scratch::new("headers");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let static_dir = dir.path("static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::write(static_dir.join("a.css"), "body {}").unwrap();
    let config = dir.write(
        "gateway.toml",
        &format!(
            r#"
[upstreams]
api = ["{}"]

[[route]]
match = "prefix"
path = "/static/"
static_dir = "{}"

[[route]]
match = "prefix"
path = "/api/"
upstream = "api"
headers = {{ "Strict-Transport-Security" = "max-age=31536000", "X-Frame-Options" = "DENY" }}

[[route]]
match = "prefix"
path = "/"
upstream = "api"
"#,
            upstream.base_url(),
            static_dir.display()
        ),
    );
    let (gateway, port) = tls_gateway(
        None,
        &upstream.base_url(),
        &cert,
        &key,
        &[("GATEWAY_CONFIG", config.to_str().unwrap())],
    )
    .await;
    let secure = https_client(&ca, Protocol::Alpn);
    let plain = hbnb_tests::client();
    let api = secure
        .get(https(port, "/api/v1/states"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    assert_eq!(
        api.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(api.headers()["x-frame-options"], "DENY");
    let api = plain
        .get(gateway.url("/api/v1/states"))
        .send()
        .await
        .unwrap();
    assert!(
        api.headers().get("strict-transport-security").is_none(),
        "HSTS over plain HTTP"
    );
    assert_eq!(api.headers()["x-frame-options"], "DENY");
    let missing = secure
        .get(https(port, "/api/nope/404"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.headers()["x-frame-options"],
        "DENY",
        "on any status"
    );
    for response in [
        secure
            .get(https(port, "/static/a.css"))
            .send()
            .await
            .unwrap(),
        plain
            .get(gateway.url("/static/a.css"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert!(response.headers().get("x-frame-options").is_none());
    }
    let other = secure.get(https(port, "/101-hbnb/")).send().await.unwrap();
    for name in [
        "strict-transport-security",
        "x-frame-options",
        "x-content-type-options",
    ] {
        assert!(
            other.headers().get(name).is_none(),
            "{name} is off by default"
        );
    }
}

/// Starts the gateway with `listeners` as fds 3, 4, ... and `LISTEN_FDNAMES=names`, as systemd
/// passes the sockets of hbnb-gateway.socket and hbnb-gateway-https.socket (in no set order).
fn gateway_on_named_sockets(
    listeners: &[&std::net::TcpListener],
    names: &str,
    env: &[(&str, &str)],
) -> std::process::Child {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let fds: Vec<i32> = listeners.iter().map(|l| l.as_raw_fd()).collect();
    let mut command = std::process::Command::new(hbnb_tests::bin_path("gateway"));
    command
        .env("LISTEN_FDS", fds.len().to_string())
        .env("LISTEN_FDNAMES", names)
        .env("METRICS_PORT", "off")
        .env("LOG_FORMAT", "json")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: only fcntl and dup2 between fork and exec (async-signal-safe, no allocation).
    unsafe {
        command.pre_exec(move || {
            // Out of the way first (a listener may already be fd 3 or 4), then into place;
            // dup2 clears close-on-exec on the copy.
            let mut moved = [-1; 4];
            for (slot, &fd) in moved.iter_mut().zip(&fds) {
                *slot = libc::fcntl(fd, libc::F_DUPFD, 10);
                if *slot < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, &fd) in (3..).zip(moved.iter().take(fds.len())) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

#[tokio::test]
async fn systemd_sockets_are_told_apart_by_name() {
    let upstream = TestUpstream::start("api");
    let ca = Ca::new("named sockets CA");
    let dir = Scratch::new("named");
    let (cert, key) = ca.leaf();
    let (cert, key) = (dir.write("cert.pem", &cert), dir.write("key.pem", &key));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let https_socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (tls_port, plain_port) = (
        https_socket.local_addr().unwrap().port(),
        plain_socket.local_addr().unwrap().port(),
    );
    let base = upstream.base_url();
    let env = [
        ("API_UPSTREAM", base.as_str()),
        ("HELLO_UPSTREAM", base.as_str()),
        ("NUMBER_UPSTREAM", base.as_str()),
        ("WEB_UPSTREAM", base.as_str()),
    ];

    // The HTTPS socket first: found by its name, not its place.
    let mut with_tls = env.to_vec();
    with_tls.extend([("TLS_CERT", cert), ("TLS_KEY", key)]);
    let mut gateway =
        gateway_on_named_sockets(&[&https_socket, &plain_socket], "https:http", &with_tls);
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match plain
            .get(format!("http://127.0.0.1:{plain_port}/api/v1/status"))
            .send()
            .await
        {
            Ok(response) => {
                assert_eq!(
                    response.status(),
                    200,
                    "plain HTTP on the socket named http"
                );
                break;
            }
            Err(error) => {
                assert!(gateway.try_wait().unwrap().is_none(), "the gateway exited");
                assert!(Instant::now() < deadline, "never served: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let response = https_client(&ca, Protocol::Alpn)
        .get(https(tls_port, "/api/v1/status"))
        .send()
        .await
        .expect("HTTPS on the socket named https");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let _ = gateway.kill();
    let _ = gateway.wait();

    // An HTTPS socket and no certificate: connections would hang there. Refused at start.
    let child = gateway_on_named_sockets(&[&plain_socket, &https_socket], "http:https", &env);
    let output = child.wait_with_output().unwrap();
    assert!(
        !output.status.success(),
        "started with an HTTPS socket and no certificate"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("HTTPS socket") && stderr.contains("no TLS certificate"),
        "{stderr}"
    );
}
