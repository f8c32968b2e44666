//! The gateway as a reverse proxy: forwarding headers, request ids, failures (502, retry, 504,
//! 413, 408), streaming of large bodies in bounded memory, static files, configuration.

use std::io::{Read, Write};
use std::time::Duration;

use hbnb_tests::upstream::{pattern, sha256_hex, TestUpstream};
use hbnb_tests::{client, closed_port, Service};
use serde_json::Value;

/// A gateway whose every default upstream is `upstream`, plus extra variables.
async fn gateway_to(upstream: &str, extra: &[(&str, &str)]) -> Service {
    let mut env = vec![
        ("HELLO_UPSTREAM", upstream),
        ("NUMBER_UPSTREAM", upstream),
        ("API_UPSTREAM", upstream),
        ("WEB_UPSTREAM", upstream),
        ("SERVED_BY", "gw-test"),
    ];
    env.extend_from_slice(extra);
    Service::start("gateway", &env).await
}

async fn echo(gateway: &Service, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = client().get(gateway.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn gateway_rewrites_paths_like_the_course_nginx() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[]).await;
    let cases = [
        ("/", "/2-hbnb/", ""),
        ("/?x=1", "/2-hbnb/", "x=1"),
        (
            "/airbnb-dynamic/number_odd_or_even/0042",
            "/number_odd_or_even/0042",
            "",
        ),
        ("/api/v1/states?a=b", "/api/v1/states", "a=b"),
        ("/101-hbnb/", "/101-hbnb/", ""),
        (
            "/static/styles/4-common.css?cache_id=1",
            "/static/styles/4-common.css",
            "cache_id=1",
        ),
        ("/airbnb-onepage/", "/airbnb-onepage/", ""),
    ];
    for (path, upstream_path, query) in cases {
        let seen = echo(&gateway, path, &[]).await;
        assert_eq!(seen["path"], upstream_path, "{path}");
        assert_eq!(seen["query"], query, "{path}");
    }
}

#[tokio::test]
async fn gateway_sets_forwarding_headers_and_strips_hop_by_hop_ones() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[]).await;
    let seen = echo(
        &gateway,
        "/api/v1/status",
        &[
            ("Host", "hbnb.example"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "must not pass"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic abc"),
            ("X-Kept", "yes"),
        ],
    )
    .await;
    let headers = &seen["headers"];
    assert_eq!(headers["host"], "hbnb.example", "Host is kept");
    assert_eq!(
        headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1",
        "appended, not overwritten"
    );
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "hbnb.example");
    assert_eq!(headers["x-kept"], "yes");
    for hop in ["x-secret-hop", "keep-alive", "proxy-authorization"] {
        assert!(headers.get(hop).is_none(), "{hop} was forwarded: {headers}");
    }
    assert!(
        headers["x-request-id"].as_str().unwrap().len() >= 32,
        "a request id is generated"
    );
}

#[tokio::test]
async fn gateway_passes_the_request_id_on_and_echoes_it() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[]).await;
    let response = client()
        .get(gateway.url("/anything"))
        .header("X-Request-Id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["headers"]["x-request-id"], "req-abc-123");

    let generated = client().get(gateway.url("/anything")).send().await.unwrap();
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let seen: Value = generated.json().await.unwrap();
    assert_eq!(
        seen["headers"]["x-request-id"],
        id.as_str(),
        "the generated id goes upstream too"
    );

    let line = gateway
        .wait_for_log(Duration::from_secs(5), |v| v["request_id"] == "req-abc-123")
        .await;
    assert_eq!(line["target"], "access");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/anything");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream"], upstream.base_url());
    assert!(line["bytes"].as_u64().unwrap() > 0);
    assert!(line["upstream_ms"].as_f64().is_some() && line["total_ms"].as_f64().is_some());
}

#[tokio::test]
async fn gateway_answers_502_when_the_upstream_is_down_with_x_served_by() {
    let down = format!("http://127.0.0.1:{}", closed_port());
    let gateway = gateway_to(&down, &[]).await;
    let response = client()
        .get(gateway.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["x-served-by"], "gw-test");
    assert!(response.headers().contains_key("x-request-id"));
    let body = response.text().await.unwrap();
    assert_eq!(body, "502 Bad Gateway\n", "short, and nothing leaked");
}

#[tokio::test]
async fn gateway_retries_refused_connection_on_next_instance() {
    let alive = TestUpstream::start("alive");
    let down = format!("http://127.0.0.1:{}", closed_port());
    let upstreams = format!("{down},{}", alive.base_url());
    let gateway = gateway_to(&upstreams, &[]).await;
    // Round-robin starts on each instance in turn; every request must land on the live one.
    for _ in 0..6 {
        let response = client().get(gateway.url("/x")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-upstream-name"], "alive");
    }
    // A POST with a body is retried too: nothing was sent to the refusing instance.
    for _ in 0..2 {
        let response = client()
            .post(gateway.url("/upload"))
            .body(vec![7u8; 1000])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["len"], 1000);
    }
}

/// A raw upstream that closes every odd-numbered connection (1st, 3rd, ...) once it has read a
/// request head, without answering, and answers the others `200 ok`: what a server that stops
/// just as it accepts a connection does. Returns its URL and the count of connections it took.
fn closing_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(len) => head.extend_from_slice(&buf[..len]),
                }
            }
            if n % 2 == 1 {
                continue; // dropped: closed unanswered
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn gateway_replays_an_idempotent_request_once_when_a_fresh_connection_closes_unanswered() {
    use std::sync::atomic::Ordering;
    let (url, accepted) = closing_upstream();
    // No health probes: they would take connections from the script.
    let gateway = gateway_to(&url, &[("HEALTH_INTERVAL", "0s")]).await;
    let response = client().get(gateway.url("/x")).send().await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "the GET is replayed on a second connection"
    );
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // A POST may have been acted on: never replayed.
    let response = client()
        .post(gateway.url("/x"))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502, "the POST is not replayed");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "one connection for the POST"
    );
}

#[tokio::test]
async fn gateway_balances_round_robin_over_instances() {
    let a = TestUpstream::start("a");
    let b = TestUpstream::start("b");
    let gateway = gateway_to(
        &format!("{},{}", a.base_url(), b.base_url()),
        &[("WORKERS", "1")],
    )
    .await;
    let mut names = Vec::new();
    for _ in 0..4 {
        let response = client().get(gateway.url("/x")).send().await.unwrap();
        names.push(
            response.headers()["x-upstream-name"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 2, "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "b").count(), 2, "{names:?}");
}

#[tokio::test]
async fn gateway_answers_504_on_a_slow_upstream() {
    let upstream = TestUpstream::start("slow");
    let gateway = gateway_to(&upstream.base_url(), &[("UPSTREAM_TIMEOUT", "300ms")]).await;
    let response = client()
        .get(gateway.url("/slow?ms=3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert_eq!(response.headers()["x-served-by"], "gw-test");
    let fast = client()
        .get(gateway.url("/slow?ms=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), 200);
    assert_eq!(fast.text().await.unwrap(), "finally");
}

/// A worker opens at most UPSTREAM_MAX_CONNECTIONS to an instance (Nginx's `max_conns`): more
/// requests at once wait for a connection to come back and are all answered over that many; one
/// that cannot get a connection within CONNECT_TIMEOUT is answered 503 with `Retry-After`.
#[tokio::test]
async fn upstream_connections_are_bounded_and_requests_wait_for_one() {
    let upstream = TestUpstream::start("slow");
    let gateway = gateway_to(
        &upstream.base_url(),
        &[
            ("WORKERS", "1"),
            ("UPSTREAM_MAX_CONNECTIONS", "2"),
            ("CONNECT_TIMEOUT", "1500ms"),
            ("METRICS_PORT", "0"),
        ],
    )
    .await;
    let client = client();
    let started = std::time::Instant::now();
    let answers = futures_util::future::join_all(
        (0..6).map(|_| client.get(gateway.url("/slow?ms=200")).send()),
    )
    .await;
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "finally");
    }
    // Six requests of 200 ms, two at a time.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");
    let metrics_url = gateway.metrics_url().await;
    let scrape = || async {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        hbnb_tests::metrics::Scrape::parse(&text).unwrap()
    };
    assert_eq!(
        scrape()
            .await
            .sum("gateway_upstream_connect_seconds_count", &[]),
        2.0,
        "connections opened"
    );

    // Two held for 3 s: a third waits its 1.5 s, then 503 (nothing was sent upstream).
    let held = (0..2)
        .map(|_| tokio::spawn(client.get(gateway.url("/slow?ms=3000")).send()))
        .collect::<Vec<_>>();
    hbnb_tests::backup::poll(Duration::from_secs(5), "two requests in flight", || async {
        (scrape().await.sum("http_requests_in_flight", &[]) == 2.0).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    let refused = client.get(gateway.url("/slow?ms=10")).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(2900),
        "{waited:?}"
    );
    for held in held {
        assert_eq!(held.await.unwrap().unwrap().status(), 200);
    }
}

/// `UPSTREAM_MAX_CONNECTIONS=0` means no bound (Nginx's `max_conns=0`): six requests at once
/// get six connections.
#[tokio::test]
async fn upstream_max_connections_zero_means_no_bound() {
    let upstream = TestUpstream::start("slow");
    let gateway = gateway_to(
        &upstream.base_url(),
        &[
            ("WORKERS", "1"),
            ("UPSTREAM_MAX_CONNECTIONS", "0"),
            ("METRICS_PORT", "0"),
        ],
    )
    .await;
    let client = client();
    let answers = futures_util::future::join_all(
        (0..6).map(|_| client.get(gateway.url("/slow?ms=300")).send()),
    )
    .await;
    for answer in answers {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let text = client
        .get(gateway.metrics_url().await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = hbnb_tests::metrics::Scrape::parse(&text).unwrap();
    assert_eq!(
        scrape.sum("gateway_upstream_connect_seconds_count", &[]),
        6.0
    );
}

#[tokio::test]
async fn gateway_refuses_bodies_over_the_limit_with_413() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[("MAX_BODY_SIZE", "1000")]).await;
    let sized = client()
        .post(gateway.url("/upload"))
        .body(vec![1u8; 1001])
        .send()
        .await
        .unwrap();
    assert_eq!(sized.status(), 413);
    assert_eq!(sized.headers()["x-served-by"], "gw-test");
    // Chunked (no Content-Length): refused once the limit is crossed mid-stream.
    let chunks = futures_util::stream::iter(
        (0..20).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![2u8; 100]))),
    );
    let chunked = client()
        .post(gateway.url("/upload"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    let within = client()
        .post(gateway.url("/upload"))
        .body(vec![1u8; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(within.status(), 200);
}

#[tokio::test]
async fn gateway_answers_408_to_a_client_that_stalls_mid_body() {
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(&upstream.base_url(), &[("CLIENT_BODY_TIMEOUT", "300ms")]).await;
    let port = gateway.port;
    let response = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
            .unwrap();
        // Then say nothing more: the stall is what is under test.
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    response.extend_from_slice(&buf[..n]);
                    if response.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn gateway_streams_50_mib_both_ways_in_bounded_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    let upstream = TestUpstream::start("bulk");
    let gateway = gateway_to(&upstream.base_url(), &[("MAX_BODY_SIZE", "104857600")]).await;
    // Warm up so the baseline includes the worker's pool and buffers.
    client()
        .get(gateway.url("/download?bytes=1000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let before = gateway.rss_kib();

    let data = pattern(SIZE);
    let expected = sha256_hex(&data);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = data
        .chunks(256 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let upload = client()
        .post(gateway.url("/upload"))
        .header("content-length", SIZE.to_string())
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let seen: Value = upload.json().await.unwrap();
    assert_eq!(seen["len"], SIZE);
    assert_eq!(seen["sha256"], expected.as_str(), "upload arrived intact");

    let download = client()
        .get(gateway.url(&format!("/download?bytes={SIZE}")))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-length"],
        SIZE.to_string().as_str()
    );
    let body = download.bytes().await.unwrap();
    assert_eq!(body.len(), SIZE);
    assert_eq!(sha256_hex(&body), expected, "download arrived intact");

    let peak = peak_rss_kib(gateway.pid());
    let growth_mib = peak.saturating_sub(before) as f64 / 1024.0;
    println!("gateway RSS before {before} KiB, peak {peak} KiB, growth {growth_mib:.1} MiB");
    assert!(
        growth_mib < 20.0,
        "gateway memory grew by {growth_mib:.1} MiB moving 2×50 MiB"
    );
}

#[tokio::test]
async fn gateway_serves_a_static_dir_and_refuses_traversal() {
    let dir = std::env::temp_dir().join(format!("gw-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("styles")).unwrap();
    std::fs::write(dir.join("styles/4-common.css"), "body { margin: 0; }").unwrap();
    let upstream = TestUpstream::start("web");
    let gateway = gateway_to(
        &upstream.base_url(),
        &[("STATIC_DIR", dir.to_str().unwrap())],
    )
    .await;
    let response = client()
        .get(gateway.url("/static/styles/4-common.css?cache_id=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(response.headers()["x-served-by"], "gw-test");
    let etag = response.headers()["etag"].clone();
    assert_eq!(response.text().await.unwrap(), "body { margin: 0; }");
    let revalidated = client()
        .get(gateway.url("/static/styles/4-common.css"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/styles/..%2f..%2fCargo.toml",
        "/static/.hidden",
        "/static/styles/missing.css",
    ] {
        let port = gateway.port;
        let status = tokio::task::spawn_blocking(move || hbnb_tests::raw_get_status(port, path))
            .await
            .unwrap();
        assert!(status == 404 || status == 400, "{path} answered {status}");
    }
}

#[tokio::test]
async fn gateway_refuses_an_invalid_config_file_naming_the_problem() {
    let path = std::env::temp_dir().join(format!("gw-bad-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"nowhere\"\n",
    )
    .unwrap();
    let output = std::process::Command::new(hbnb_tests::bin_path("gateway"))
        .env("PORT", "0")
        .env("GATEWAY_CONFIG", &path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown upstream \"nowhere\""), "{stderr}");
}

#[tokio::test]
async fn gateway_uses_a_config_file_with_routes_and_upstreams() {
    let upstream = TestUpstream::start("from-file");
    let path = std::env::temp_dir().join(format!("gw-good-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "[upstreams]\nsite = [\"{}\"]\n\n[[route]]\nmatch = \"exact\"\npath = \"/teapot\"\nstatus = 418\n\n[[route]]\nmatch = \"prefix\"\npath = \"/v2/\"\nrewrite = \"/api/v2/\"\nupstream = \"site\"\n",
            upstream.base_url()
        ),
    )
    .unwrap();
    let gateway = Service::start("gateway", &[("GATEWAY_CONFIG", path.to_str().unwrap())]).await;
    let seen = echo(&gateway, "/v2/things?q=1", &[]).await;
    assert_eq!(seen["path"], "/api/v2/things");
    assert_eq!(
        client()
            .get(gateway.url("/teapot"))
            .send()
            .await
            .unwrap()
            .status(),
        418
    );
    assert_eq!(
        client()
            .get(gateway.url("/other"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn gateway_reloads_its_config_on_sighup_and_keeps_it_when_invalid() {
    let first = TestUpstream::start("first");
    let second = TestUpstream::start("second");
    let path = std::env::temp_dir().join(format!("gw-reload-{}.toml", std::process::id()));
    let config = |upstream: &str| {
        format!("[upstreams]\nsite = [\"{upstream}\"]\n\n[[route]]\nmatch = \"prefix\"\npath = \"/\"\nupstream = \"site\"\n")
    };
    std::fs::write(&path, config(&first.base_url())).unwrap();
    let gateway = Service::start("gateway", &[("GATEWAY_CONFIG", path.to_str().unwrap())]).await;
    let served_by = || async {
        let response = client().get(gateway.url("/x")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["x-upstream-name"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(served_by().await, "first");

    std::fs::write(&path, config(&second.base_url())).unwrap();
    gateway.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while served_by().await != "second" {
        assert!(
            std::time::Instant::now() < deadline,
            "the new configuration never took effect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    std::fs::write(
        &path,
        "[[route]]\nmatch = \"regex\"\npath = \"(\"\nupstream = \"site\"\n",
    )
    .unwrap();
    gateway.signal("HUP");
    gateway
        .wait_for_log(Duration::from_secs(10), |v| {
            v["message"] == "configuration reload refused; keeping the running configuration"
        })
        .await;
    assert_eq!(
        served_by().await,
        "second",
        "an invalid file leaves the running table in place"
    );
}
