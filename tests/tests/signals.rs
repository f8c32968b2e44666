//! The signals as their users expect them (docs/operations.md, "Signals"): SIGHUP to a service is
//! Gunicorn's graceful reload (a new process on the same socket, no request lost), SIGQUIT is
//! Nginx's graceful stop; the gateway's SIGHUP stays Nginx's configuration reload.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hbnb_tests::{client, process_alive, Service};

const DEADLINE: Duration = Duration::from_secs(30);

fn pid_file(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .subsec_nanos();
    std::env::temp_dir().join(format!(
        "hbnb-signals-{name}-{}-{nanos}.pid",
        std::process::id()
    ))
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_replaces_a_service_in_place_without_failing_a_request() {
    let pid_path = pid_file("hup");
    let service = Service::start(
        "number-service",
        &[("PID_FILE", &pid_path.display().to_string())],
    )
    .await;
    let first = service.pid();
    wait_until("the pid file", || service.current_pid() == Some(first)).await;

    let url = service.url("/number_odd_or_even/7");
    let load = tokio::spawn(async move {
        let http = client();
        let (mut answered, mut failed) = (0, 0);
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            match http.get(&url).send().await {
                Ok(r) if r.status() == 200 => answered += 1,
                _ => failed += 1,
            }
        }
        (answered, failed)
    });
    service.signal("HUP");
    wait_until("a successor", || {
        service.current_pid().is_some_and(|pid| pid != first)
    })
    .await;
    wait_until("the predecessor's exit", || !process_alive(first)).await;
    let (answered, failed) = load.await.expect("load");
    assert!(answered > 0);
    assert_eq!(
        failed, 0,
        "no request fails while SIGHUP replaces the process"
    );
    let response = client()
        .get(service.url("/number_odd_or_even/8"))
        .send()
        .await
        .expect("the successor answers");
    assert_eq!(response.status(), 200);
    service
        .wait_for_log(DEADLINE, |v| {
            v["message"] == "upgrade: starting a successor on our listening socket"
                && v["signal"] == "SIGHUP"
        })
        .await;
    let _ = std::fs::remove_file(&pid_path);
}

#[tokio::test]
async fn sigquit_stops_a_service_gracefully() {
    let mut service = Service::start("hello-service", &[("DRAIN_DELAY", "200ms")]).await;
    service.signal("QUIT");
    // Not the default action (a core dump, exit by signal): a clean stop, exit code 0.
    assert_eq!(service.wait_exit(DEADLINE), Some(0));
    service
        .wait_for_log(DEADLINE, |v| {
            v["signal"] == "SIGQUIT"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("shutting down"))
        })
        .await;
}

#[tokio::test]
async fn the_gateways_sighup_still_reloads_its_configuration() {
    let mut gateway = Service::start("gateway", &[]).await;
    let first = gateway.pid();
    gateway.signal("HUP");
    gateway
        .wait_for_log(DEADLINE, |v| {
            v["message"].as_str().is_some_and(|m| m.contains("reload"))
        })
        .await;
    // The same process serves on: a reload, not an upgrade.
    let response = client()
        .get(gateway.url("/healthz"))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    assert!(process_alive(first));
    assert!(gateway
        .logs()
        .iter()
        .all(|line| !line.contains("starting a successor")));
    gateway.signal("TERM");
    assert_eq!(gateway.wait_exit(DEADLINE), Some(0));
}
