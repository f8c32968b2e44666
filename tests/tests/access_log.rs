//! Access logs an operator's tools read: the gateway's `ACCESS_LOG_FORMAT=combined` is Nginx's
//! `combined` line; successful health probes are not logged at info level (they were most of
//! every service's log), but are with `RUST_LOG=...,access=debug`, and a failing one is.

use std::time::{Duration, Instant};

use hbnb_tests::{client, Service};

/// Polls the service's output until a line satisfies `predicate`.
async fn wait_line(service: &Service, what: &str, predicate: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = service.logs().into_iter().find(|l| predicate(l)) {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no such line in\n{}",
            service.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn gateway_writes_nginx_combined_lines_when_asked() {
    let hello = Service::start("hello-service", &[]).await;
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", hello.base_url().as_str()),
            ("ACCESS_LOG_FORMAT", "combined"),
        ],
    )
    .await;
    let response = client()
        .get(gateway.url("/airbnb-onepage/?x=1"))
        .header("user-agent", "hbnb-test \"quoted\"")
        .header("referer", "http://example.test/from")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let missing = client()
        .get(gateway.url("/airbnb-dynamic/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let combined = regex::Regex::new(
        r#"^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "GET /airbnb-onepage/\?x=1 HTTP/1\.1" 200 11 "http://example\.test/from" "hbnb-test \\x22quoted\\x22"$"#,
    )
    .unwrap();
    let line = wait_line(&gateway, "a combined line for the page", |l| {
        l.contains("/airbnb-onepage/?x=1")
    })
    .await;
    assert!(combined.is_match(&line), "not Nginx combined: {line:?}");
    let line = wait_line(&gateway, "a combined line for the 404", |l| {
        l.contains("/airbnb-dynamic/x")
    })
    .await;
    assert!(
        line.contains("\"GET /airbnb-dynamic/x HTTP/1.1\" 404 ") && line.ends_with(" \"-\" \"-\""),
        "{line:?}"
    );
    // The other log lines stay JSON; no JSON access line is written besides.
    assert!(
        !gateway
            .logs()
            .iter()
            .any(|l| l.starts_with('{') && l.contains("\"target\":\"access\"")),
        "a JSON access line too: {:?}",
        gateway.logs()
    );
}

/// The JSON access lines of `path`.
fn access_lines(service: &Service, path: &str) -> usize {
    service
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access" && v["path"] == path)
        .count()
}

#[tokio::test]
async fn successful_probes_are_not_logged_at_info() {
    let hello = Service::start("hello-service", &[]).await;
    for path in ["/readyz", "/healthz", "/readyz"] {
        let response = client().get(hello.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let response = client()
        .get(hello.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The page's line comes after the probes' (one connection at a time, in order).
    hello
        .wait_for_log(Duration::from_secs(10), |v| {
            v["target"] == "access" && v["path"] == "/airbnb-onepage/"
        })
        .await;
    assert_eq!(access_lines(&hello, "/readyz"), 0, "{:?}", hello.logs());
    assert_eq!(access_lines(&hello, "/healthz"), 0, "{:?}", hello.logs());

    // With access=debug they are there.
    let verbose = Service::start("hello-service", &[("RUST_LOG", "info,access=debug")]).await;
    let response = client().get(verbose.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    verbose
        .wait_for_log(Duration::from_secs(10), |v| {
            v["target"] == "access" && v["path"] == "/healthz" && v["level"] == "DEBUG"
        })
        .await;
}

#[tokio::test]
async fn a_failing_probe_is_logged_at_info() {
    let hello = Service::start("hello-service", &[("DRAIN_DELAY", "5s")]).await;
    hello.signal("TERM");
    // Draining: /readyz answers 503 while the service still serves.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = client().get(hello.url("/readyz")).send().await.unwrap();
        if response.status() == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hello
        .wait_for_log(Duration::from_secs(5), |v| {
            v["target"] == "access"
                && v["path"] == "/readyz"
                && v["status"] == 503
                && v["level"] == "INFO"
        })
        .await;
}
