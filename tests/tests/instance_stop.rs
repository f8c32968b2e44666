//! Stopping an instance the way `docker stop`, `systemctl restart` and every orchestrator do
//! (SIGTERM), under load through the gateway with two instances of each service, with the
//! defaults a user gets (DRAIN_DELAY, HEALTH_INTERVAL): no request fails. Killing one (SIGKILL):
//! only non-idempotent requests in flight on it may fail; the gateway retries the rest on the
//! other instance. Each, five times, on a hello-service and an api-service instance in turn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbnb_tests::db::{Engine, TestDb};
use hbnb_tests::{client, Service};
use serde_json::json;

const CLIENTS: usize = 16;
const ROUNDS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    ApiGet,
    ApiCreate,
    ApiUpdate,
    ApiDelete,
}

impl Kind {
    fn idempotent(self) -> bool {
        !matches!(self, Kind::ApiCreate)
    }
}

#[derive(Debug)]
struct Failure {
    kind: Kind,
    started: Instant,
    what: String,
    request_id: String,
}

/// One request of the load; `Err` says what went wrong.
async fn send(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<serde_json::Value>,
    expect: u16,
    request_id: &str,
) -> Result<serde_json::Value, String> {
    let mut request = c.request(method, url).header("x-request-id", request_id);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("body: {e}"))?;
    if status != expect {
        return Err(format!("status {status} (expected {expect}): {text:.120}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

async fn client_loop(
    gateway: String,
    stop: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<Failure>>>,
    sent: Arc<std::sync::atomic::AtomicU64>,
) {
    use reqwest::Method;
    let c = client();
    let request = |kind: Kind, method: Method, url: String, body: Option<serde_json::Value>| {
        let (c, failures, sent) = (&c, &failures, &sent);
        async move {
            let request_id = uuid();
            let started = Instant::now();
            let expect = if kind == Kind::ApiCreate { 201 } else { 200 };
            let result = send(c, method, url, body, expect, &request_id).await;
            sent.fetch_add(1, Ordering::Relaxed);
            result.map_err(|what| {
                failures.lock().expect("failures").push(Failure {
                    kind,
                    started,
                    what,
                    request_id,
                })
            })
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let hello = format!("{gateway}/airbnb-onepage/");
        let _ = request(Kind::Hello, Method::GET, hello, None).await;
        let states = format!("{gateway}/api/v1/states");
        let _ = request(Kind::ApiGet, Method::GET, states.clone(), None).await;
        let body = Some(json!({"name": "load"}));
        let Ok(state) = request(Kind::ApiCreate, Method::POST, states, body).await else {
            continue;
        };
        let url = format!(
            "{gateway}/api/v1/states/{}",
            state["id"].as_str().unwrap_or("?")
        );
        let body = Some(json!({"name": "updated"}));
        let _ = request(Kind::ApiUpdate, Method::PUT, url.clone(), body).await;
        let _ = request(Kind::ApiDelete, Method::DELETE, url, None).await;
    }
}

fn uuid() -> String {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "stop-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The gateway's access-log line for a request id.
fn access_line(gateway: &Service, request_id: &str) -> Option<serde_json::Value> {
    gateway
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|v| v["target"] == "access" && v["request_id"] == request_id)
}

/// Times the gateway's prober has logged `url` becoming ready.
fn ready_lines(gateway: &Service, url: &str) -> usize {
    gateway
        .logs()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| {
            v["message"] == "instance readiness changed"
                && v["instance"] == url
                && v["ready"] == true
        })
        .count()
}

fn port_refuses(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

async fn wait_until(what: &str, until: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !until() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopping_or_killing_an_instance_under_load_fails_no_request_that_could_be_saved() {
    let db = TestDb::new(Engine::Sqlite);
    let api_env = [
        ("DATABASE_URL", db.url.as_str()),
        ("ARGON2_MEMORY_KIB", "1024"),
        ("ARGON2_ITERATIONS", "1"),
    ];
    let mut hellos = vec![
        Service::start("hello-service", &[]).await,
        Service::start("hello-service", &[]).await,
    ];
    let mut apis = vec![
        Service::start("api-service", &api_env).await,
        Service::start("api-service", &api_env).await,
    ];
    let list = |services: &[Service]| hbnb_tests::upstreams(&services.iter().collect::<Vec<_>>());
    let gateway = Service::start(
        "gateway",
        &[
            ("HELLO_UPSTREAM", &list(&hellos)),
            ("API_UPSTREAM", &list(&apis)),
        ],
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                gateway.base_url(),
                stop.clone(),
                failures.clone(),
                sent.clone(),
            ))
        })
        .collect();
    wait_until("the load runs", || sent.load(Ordering::Relaxed) > 200).await;

    // (signal, index into [hellos, apis], when the killed instance was gone)
    let mut events: Vec<(&str, usize, Instant)> = Vec::new();
    for round in 0..2 * ROUNDS {
        let (signal, which) = (if round < ROUNDS { "TERM" } else { "KILL" }, round % 2);
        let group = if which == 0 { &mut hellos } else { &mut apis };
        let victim = &mut group[round / 2 % 2];
        let (name, port, url) = (victim.name.clone(), victim.port, victim.base_url());
        let ready_before = ready_lines(&gateway, &url);
        let before = sent.load(Ordering::Relaxed);
        victim.signal(signal);
        let code = victim.wait_exit(Duration::from_secs(20));
        if signal == "TERM" {
            assert_eq!(code, Some(0), "{name} did not exit 0 on SIGTERM");
        }
        wait_until("its port is closed", || port_refuses(port)).await;
        events.push((signal, which, Instant::now()));
        wait_until("traffic while it is down", || {
            sent.load(Ordering::Relaxed) > before + 100
        })
        .await;
        let port_text = port.to_string();
        let mut env: Vec<(&str, &str)> = vec![("PORT", port_text.as_str())];
        if which == 1 {
            env.extend_from_slice(&api_env);
        }
        *victim = Service::start(&name, &env).await;
        wait_until("the gateway finds it ready again", || {
            ready_lines(&gateway, &url) > ready_before
        })
        .await;
    }
    let after = sent.load(Ordering::Relaxed);
    wait_until("traffic after the last restart", || {
        sent.load(Ordering::Relaxed) > after + 100
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a load client panicked");
    }

    let failures = failures.lock().expect("failures");
    println!(
        "{} requests through the gateway; {ROUNDS} SIGTERMs and {ROUNDS} SIGKILLs of one of two \
         instances (hello and api in turn): {} failed",
        sent.load(Ordering::Relaxed),
        failures.len()
    );
    for failure in failures.iter() {
        println!("    {:?}: {}", failure.kind, failure.what);
    }
    for failure in failures.iter() {
        // In flight on an api instance when it was killed: started before it was gone.
        let in_flight_on_a_killed_api = events.iter().any(|(signal, which, gone)| {
            *signal == "KILL"
                && *which == 1
                && *gone >= failure.started
                && gone.duration_since(failure.started) < Duration::from_secs(5)
        });
        // A DELETE the killed instance carried out but could not answer, retried on the other
        // instance (as RFC 9110 allows), finds the object gone: the effect is the one asked for.
        let line = access_line(&gateway, &failure.request_id);
        let retried_delete = failure.kind == Kind::ApiDelete
            && failure.what.starts_with("status 404")
            && line
                .as_ref()
                .is_some_and(|l| l["retries"].as_u64() > Some(0));
        assert!(
            in_flight_on_a_killed_api && (!failure.kind.idempotent() || retried_delete),
            "a request that could have been saved failed: {:?} ({}); the gateway's line: {line:?}",
            failure.kind,
            failure.what
        );
    }
}
