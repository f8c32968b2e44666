//! No service interruption, proven under load: 40 concurrent clients send mixed GETs to
//! every service and API writes through the gateway while the gateway reloads its configuration
//! five times (one invalid), the gateway binary is replaced and upgraded to a new process, every
//! service's two instances are restarted in turn by `scripts/hbnb-ctl`, and finally one API
//! instance is killed with SIGKILL. Phases (a) to (c) must not fail a single request; in (d) only
//! API requests in flight when the instance died may fail. A table of the phases is printed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hbnb_tests::{bin_path, client, process_alive, upstreams, workspace_root, Service};

const CONCURRENCY: usize = 40;
/// The gateway's active health probe; the services' DRAIN_DELAY is a bit above it, so on a plain
/// SIGTERM the gateway stops sending before an instance closes.
const HEALTH_INTERVAL: &str = "200ms";
const DRAIN_DELAY: &str = "500ms";
/// Deadline for any single wait in this test (readiness, a reload taking effect, a log line).
const DEADLINE: Duration = Duration::from_secs(30);
/// Load also runs this long after each phase's action, so every phase sees traffic.
const SETTLE: Duration = Duration::from_secs(1);

const PHASES: [&str; 5] = [
    "warm-up",
    "(a) 5 config reloads, 1 invalid",
    "(b) gateway binary upgrade",
    "(c) rolling restart, 4 services x 2",
    "(d) SIGKILL one api instance",
];
const KILL_PHASE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    Number,
    ApiStatus,
    ApiList,
    ApiCreate,
    ApiUpdate,
    ApiDelete,
    ApiMissing,
    WebPage,
    WebStatic,
    GatewayNotFound,
}

impl Kind {
    fn is_api(self) -> bool {
        matches!(
            self,
            Kind::ApiStatus
                | Kind::ApiList
                | Kind::ApiCreate
                | Kind::ApiUpdate
                | Kind::ApiDelete
                | Kind::ApiMissing
        )
    }
}

struct Outcome {
    phase: usize,
    kind: Kind,
    started: Instant,
    latency: Duration,
    /// Why it failed: a connection error, or a status other than the one expected.
    failure: Option<String>,
}

/// One load client: sends requests until told to stop, recording every outcome.
struct Load {
    client: reqwest::Client,
    base: String,
    phase: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
    outcomes: Vec<Outcome>,
}

impl Load {
    /// Sends one request and checks its status (and reads the whole body: a truncated body is a
    /// failure too). The body on success.
    async fn send(
        &mut self,
        kind: Kind,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Option<String> {
        let phase = self.phase.load(Ordering::SeqCst);
        let started = Instant::now();
        let result = async {
            let response = request.send().await.map_err(|e| format!("{e:?}"))?;
            let status = response.status().as_u16();
            let body = response.text().await.map_err(|e| format!("body: {e:?}"))?;
            if status == expected {
                Ok(body)
            } else {
                Err(format!(
                    "status {status} (expected {expected}): {}",
                    body.chars().take(200).collect::<String>()
                ))
            }
        }
        .await;
        self.done.fetch_add(1, Ordering::Relaxed);
        let (body, failure) = match result {
            Ok(body) => (Some(body), None),
            Err(why) => (None, Some(why)),
        };
        self.outcomes.push(Outcome {
            phase,
            kind,
            started,
            latency: started.elapsed(),
            failure,
        });
        body
    }

    async fn run(mut self, id: usize, stop: Arc<AtomicBool>) -> Vec<Outcome> {
        let mut i = id;
        while !stop.load(Ordering::SeqCst) {
            let url = |path: &str| format!("{}{path}", self.base);
            match i % 9 {
                0 => {
                    let r = self.client.get(url("/airbnb-onepage/"));
                    self.send(Kind::Hello, r, 200).await;
                }
                1 => {
                    let r = self
                        .client
                        .get(url(&format!("/airbnb-dynamic/number_odd_or_even/{i}")));
                    self.send(Kind::Number, r, 200).await;
                }
                2 => {
                    let r = self.client.get(url("/api/v1/status"));
                    self.send(Kind::ApiStatus, r, 200).await;
                }
                3 => {
                    let r = self.client.get(url("/api/v1/states"));
                    self.send(Kind::ApiList, r, 200).await;
                }
                4 => self.write(id, i).await,
                5 => {
                    let r = self.client.get(url("/api/v1/states/no-such-state"));
                    self.send(Kind::ApiMissing, r, 404).await;
                }
                6 => {
                    let r = self.client.get(url("/"));
                    self.send(Kind::WebPage, r, 200).await;
                }
                7 => {
                    let r = self.client.get(url("/static/scripts/2-hbnb.js"));
                    self.send(Kind::WebStatic, r, 200).await;
                }
                _ => {
                    let r = self
                        .client
                        .get(url("/airbnb-dynamic/number_odd_or_even/abc"));
                    self.send(Kind::GatewayNotFound, r, 404).await;
                }
            }
            i += 1;
        }
        self.outcomes
    }

    /// An API write: create a state, rename it, delete it.
    async fn write(&mut self, id: usize, i: usize) {
        let states = format!("{}/api/v1/states", self.base);
        let create = self
            .client
            .post(&states)
            .json(&serde_json::json!({"name": format!("zd-{id}-{i}")}));
        let Some(body) = self.send(Kind::ApiCreate, create, 201).await else {
            return;
        };
        let Some(state_id) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
        else {
            panic!("POST /api/v1/states answered without an id: {body}");
        };
        let one = format!("{states}/{state_id}");
        let update = self
            .client
            .put(&one)
            .json(&serde_json::json!({"name": format!("zd-{id}-{i}-renamed")}));
        self.send(Kind::ApiUpdate, update, 200).await;
        let delete = self.client.delete(&one);
        self.send(Kind::ApiDelete, delete, 200).await;
    }
}

/// A scratch directory for the database, pid files, the gateway's config and binary copy.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("hbnb_zd_{}_{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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

/// Replaces `path` atomically, as an operator's deploy would, so no reader sees a partial file.
fn replace_file(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The gateway's configuration: the course's route table (from the example file) behind a marker
/// route whose status tells which generation of the file is in force.
fn gateway_config(upstream_lists: &[(&str, String)], marker_status: u16, valid: bool) -> String {
    let example =
        std::fs::read_to_string(workspace_root().join("gateway/gateway.example.toml")).unwrap();
    let routes = &example[example.find("[[route]]").expect("routes in the example")..];
    let mut config = String::from("[upstreams]\n");
    for (name, list) in upstream_lists {
        let urls: Vec<String> = list.split(',').map(|u| format!("{u:?}")).collect();
        config.push_str(&format!("{name} = [{}]\n", urls.join(", ")));
    }
    config.push_str(&format!(
        "\n[[route]]\nmatch = \"exact\"\npath = \"/__generation\"\nstatus = {marker_status}\n\n"
    ));
    if !valid {
        config.push_str(
            "[[route]]\nmatch = \"regex\"\npath = \"(unclosed\"\nupstream = \"hello\"\n\n",
        );
    }
    config.push_str(routes);
    config
}

/// Runs `scripts/hbnb-ctl` and fails the test, with its output, if it fails.
async fn hbnb_ctl(args: &[String]) {
    let (success, stderr) = run_hbnb_ctl(args).await;
    assert!(success, "hbnb-ctl {} failed:\n{stderr}", args.join(" "));
}

/// Runs scripts/hbnb-ctl: whether it succeeded, and what it said.
async fn run_hbnb_ctl(args: &[String]) -> (bool, String) {
    let output = tokio::process::Command::new(workspace_root().join("scripts/hbnb-ctl"))
        .args(args)
        .env("HBNB_CTL_TIMEOUT", DEADLINE.as_secs().to_string())
        .output()
        .await
        .expect("run scripts/hbnb-ctl");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprint!("{stderr}");
    (output.status.success(), stderr)
}

fn target(service: &Service, pid_file: &Path) -> String {
    format!("{}:{}", pid_file.display(), service.port)
}

/// Polls `until` every 20 ms for at most DEADLINE.
async fn wait_until<F, Fut>(what: &str, mut until: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !until().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn generation_is(gateway: &Service, status: u16) -> bool {
    matches!(client().get(gateway.url("/__generation")).send().await,
        Ok(r) if r.status().as_u16() == status)
}

/// Waits until the load has sent `count` more requests, so a phase is not empty.
async fn wait_for_traffic(done: &AtomicUsize, count: usize) {
    let target = done.load(Ordering::Relaxed) + count;
    wait_until(&format!("{count} more requests complete"), || async {
        done.load(Ordering::Relaxed) >= target
    })
    .await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reload_upgrade_and_restart_under_load_fails_no_request() {
    let scratch = Scratch::new();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        scratch.path("hbnb.sqlite").display()
    );

    // Two instances of every service, each with a pid file so hbnb-ctl can follow it.
    let mut services: Vec<(&str, Vec<(Service, PathBuf)>)> = Vec::new();
    for name in [
        "hello-service",
        "number-service",
        "api-service",
        "web-dynamic",
    ] {
        let mut instances = Vec::new();
        for n in 0..2 {
            let pid_file = scratch.path(&format!("{name}-{n}.pid"));
            let pid_path = pid_file.display().to_string();
            let service = Service::start(
                name,
                &[
                    ("DATABASE_URL", database_url.as_str()),
                    ("PID_FILE", pid_path.as_str()),
                    ("DRAIN_DELAY", DRAIN_DELAY),
                ],
            )
            .await;
            instances.push((service, pid_file));
        }
        services.push((name, instances));
    }
    let list = |i: usize| {
        let refs: Vec<&Service> = services[i].1.iter().map(|(s, _)| s).collect();
        upstreams(&refs)
    };
    let upstream_lists = [
        ("hello", list(0)),
        ("number", list(1)),
        ("api", list(2)),
        ("web", list(3)),
    ];

    // The gateway runs from a copy of its binary, which phase (b) replaces on disk.
    let gateway_bin = scratch.path("gateway");
    std::fs::copy(bin_path("gateway"), &gateway_bin).unwrap();
    let config_path = scratch.path("gateway.toml");
    replace_file(
        &config_path,
        gateway_config(&upstream_lists, 200, true).as_bytes(),
    );
    let gateway_pid_file = scratch.path("gateway.pid");
    let (config, pid) = (
        config_path.display().to_string(),
        gateway_pid_file.display().to_string(),
    );
    let gateway = Service::spawn_program(
        &gateway_bin,
        "gateway",
        &[],
        &[
            ("GATEWAY_CONFIG", config.as_str()),
            ("PID_FILE", pid.as_str()),
            ("HEALTH_INTERVAL", HEALTH_INTERVAL),
            ("HELLO_UPSTREAM", upstream_lists[0].1.as_str()),
            ("NUMBER_UPSTREAM", upstream_lists[1].1.as_str()),
            ("API_UPSTREAM", upstream_lists[2].1.as_str()),
            ("WEB_UPSTREAM", upstream_lists[3].1.as_str()),
        ],
    );
    gateway.wait_ready().await;
    wait_until("the gateway writes its pid file", || async {
        gateway.current_pid().is_some()
    })
    .await;
    let gateway_target = target(&gateway, &gateway_pid_file);

    // The load.
    let phase = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let load_client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|id| {
            let load = Load {
                client: load_client.clone(),
                base: gateway.base_url(),
                phase: phase.clone(),
                done: done.clone(),
                outcomes: Vec::new(),
            };
            tokio::spawn(load.run(id, stop.clone()))
        })
        .collect();
    let test_started = Instant::now();
    wait_for_traffic(&done, 500).await;

    // (a) Five reloads, the third one invalid: the marker route shows which file is in force.
    phase.store(1, Ordering::SeqCst);
    let mut marker = 200;
    for (n, valid) in [true, true, false, true, true].into_iter().enumerate() {
        let next = if valid { 201 + n as u16 } else { 299 };
        replace_file(
            &config_path,
            gateway_config(&upstream_lists, next, valid).as_bytes(),
        );
        let (reloaded, said) = run_hbnb_ctl(&["reload".into(), gateway_target.clone()]).await;
        if valid {
            assert!(reloaded, "hbnb-ctl reload {n} failed:\n{said}");
            marker = next;
            wait_until(&format!("reload {n} serves generation {next}"), || {
                generation_is(&gateway, next)
            })
            .await;
        } else {
            // Refused before any signal, with the reason, as `systemctl reload` refuses it.
            assert!(
                !reloaded,
                "hbnb-ctl reload succeeded with an invalid configuration"
            );
            assert!(
                said.contains("configuration refused") && said.contains("was not signalled"),
                "{said}"
            );
            assert!(
                generation_is(&gateway, marker).await,
                "an invalid configuration replaced the running one"
            );
        }
        wait_for_traffic(&done, 100).await;
    }
    tokio::time::sleep(SETTLE).await;

    // (b) A new gateway binary on disk, then an upgrade to it.
    phase.store(2, Ordering::SeqCst);
    let old_gateway = gateway.current_pid().unwrap();
    let new_bin = scratch.path("gateway.new");
    std::fs::copy(bin_path("gateway"), &new_bin).unwrap(); // keeps the executable bit
    std::fs::rename(&new_bin, &gateway_bin).unwrap();
    hbnb_ctl(&["upgrade".into(), gateway_target.clone()]).await;
    let new_gateway = gateway.current_pid().unwrap();
    assert_ne!(old_gateway, new_gateway, "the gateway's pid did not change");
    assert!(!process_alive(old_gateway), "the old gateway still runs");
    assert!(
        generation_is(&gateway, marker).await,
        "the new gateway does not serve the configuration file"
    );
    tokio::time::sleep(SETTLE).await;

    // (c) Every service, both instances in turn, through the operator command.
    phase.store(3, Ordering::SeqCst);
    for (name, instances) in &services {
        let before: Vec<u32> = instances
            .iter()
            .map(|(s, _)| s.current_pid().unwrap())
            .collect();
        let mut args = vec!["restart".to_owned()];
        args.extend(instances.iter().map(|(s, pid_file)| target(s, pid_file)));
        hbnb_ctl(&args).await;
        for ((service, _), old) in instances.iter().zip(before) {
            let new = service.current_pid().unwrap();
            assert_ne!(
                old, new,
                "{name} on port {} was not restarted",
                service.port
            );
            assert!(!process_alive(old), "{name}'s old pid {old} still runs");
        }
    }
    tokio::time::sleep(SETTLE).await;

    // (d) SIGKILL one api instance; only what was in flight on it may fail.
    phase.store(KILL_PHASE, Ordering::SeqCst);
    wait_for_traffic(&done, 200).await;
    let (victim, _) = &services[2].1[0];
    let victim_pid = victim.current_pid().unwrap();
    unsafe { libc::kill(victim_pid as libc::pid_t, libc::SIGKILL) };
    // Gone = its sockets are closed. A killed multi-threaded process shows as a zombie as soon
    // as its main thread exits, while its other threads (and its open sockets) may live on for
    // a few milliseconds more; its listening port refuses connections only once they are closed.
    let victim_port = victim.port;
    wait_until("the killed api instance is gone", || async move {
        !process_alive(victim_pid)
            && std::net::TcpStream::connect(("127.0.0.1", victim_port)).is_err()
    })
    .await;
    let died = Instant::now();
    tokio::time::sleep(SETTLE * 2).await;
    wait_for_traffic(&done, 200).await;

    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }
    let elapsed = test_started.elapsed();

    // The table.
    println!(
        "\nzero downtime under load: {CONCURRENCY} concurrent clients, {} requests in {:.1} s",
        outcomes.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "{:<38} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "phase", "requests", "failures", "p50 ms", "p99 ms", "max ms"
    );
    let mut failures_by_phase = Vec::new();
    for (index, name) in PHASES.iter().enumerate() {
        let in_phase: Vec<&Outcome> = outcomes.iter().filter(|o| o.phase == index).collect();
        let mut latencies: Vec<Duration> = in_phase.iter().map(|o| o.latency).collect();
        latencies.sort();
        let failed: Vec<&Outcome> = in_phase
            .iter()
            .copied()
            .filter(|o| o.failure.is_some())
            .collect();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<38} {:>9} {:>9} {:>9.1} {:>9.1} {:>9.1}",
            in_phase.len(),
            failed.len(),
            ms(percentile(&latencies, 50.0)),
            ms(percentile(&latencies, 99.0)),
            ms(latencies.last().copied().unwrap_or_default()),
        );
        failures_by_phase.push((index, in_phase.len(), failed));
    }

    for (index, count, failed) in &failures_by_phase {
        assert!(
            *count >= 100,
            "phase {} saw only {count} requests: not under load",
            PHASES[*index]
        );
        if *index == KILL_PHASE {
            continue;
        }
        let examples: Vec<String> = failed
            .iter()
            .take(10)
            .map(|o| format!("{:?}: {}", o.kind, o.failure.as_deref().unwrap_or("")))
            .collect();
        assert!(
            failed.is_empty(),
            "phase {}: {} of {count} requests failed, e.g.:\n{}",
            PHASES[*index],
            failed.len(),
            examples.join("\n")
        );
    }
    let (_, _, killed) = &failures_by_phase[KILL_PHASE];
    println!(
        "(d): {} request(s) failed, all api requests in flight when the instance died",
        killed.len()
    );
    for outcome in killed {
        println!(
            "    {:?}, started {:?} before the instance was gone: {}",
            outcome.kind,
            died.saturating_duration_since(outcome.started),
            outcome.failure.as_deref().unwrap_or("")
        );
    }
    for outcome in killed {
        assert!(
            outcome.kind.is_api() && outcome.started <= died,
            "(d): a request that was not in flight on the killed api instance failed: {:?} started {:?} after it died: {}",
            outcome.kind,
            outcome.started.saturating_duration_since(died),
            outcome.failure.as_deref().unwrap_or("")
        );
    }
    assert!(
        killed.len() <= CONCURRENCY,
        "(d): {} failures, more than the {CONCURRENCY} requests that can be in flight",
        killed.len()
    );
    let api_after_kill = outcomes
        .iter()
        .filter(|o| o.kind.is_api() && o.started > died)
        .count();
    assert!(
        api_after_kill > 0,
        "(d): no api request was sent after the kill"
    );
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_old_process_serving_and_hbnb_ctl_fails() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let program = scratch.path("hello-service");
    std::fs::copy(bin_path("hello-service"), &program).unwrap();
    let pid_file = scratch.path("hello.pid");
    let pid_path = pid_file.display().to_string();
    let hello = Service::spawn_program(&program, "hello-service", &[], &[("PID_FILE", &pid_path)]);
    hello.wait_ready().await;
    wait_until("the pid file is written", || async {
        hello.current_pid().is_some()
    })
    .await;
    // A broken release: the new binary exits at once.
    let broken = scratch.path("broken");
    std::fs::write(&broken, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &program).unwrap();

    let output = tokio::process::Command::new(workspace_root().join("scripts/hbnb-ctl"))
        .args(["upgrade", &target(&hello, &pid_file)])
        .env("HBNB_CTL_TIMEOUT", "3")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("timed out"),
        "hbnb-ctl upgrade should fail when the successor cannot start; it said:\n{stderr}"
    );
    let failure = hello
        .wait_for_log(DEADLINE, |v| {
            v["message"] == "upgrade failed; still serving"
        })
        .await;
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("exit status: 3")),
        "the log should say why: {failure}"
    );
    assert_eq!(
        hello.current_pid(),
        Some(hello.pid()),
        "the pid file changed"
    );
    let page = client()
        .get(hello.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the old process stopped serving");
    assert!(
        is_ready(&hello).await,
        "the old process is not ready any more"
    );
}

async fn is_ready(service: &Service) -> bool {
    matches!(client().get(service.url("/readyz")).send().await, Ok(r) if r.status() == 200)
}
