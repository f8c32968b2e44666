//! The operating contract every binary keeps: graceful SIGTERM, readiness that turns false as
//! soon as shutdown begins, and an inherited listening socket.

use std::time::{Duration, Instant};

use hbnb_tests::db::{Api, Engine, TestDb};
use hbnb_tests::{client, Service};

#[tokio::test]
async fn sigterm_turns_readiness_off_while_still_serving_during_the_drain_delay() {
    let mut hello = Service::start("hello-service", &[("DRAIN_DELAY", "2s")]).await;
    assert_eq!(
        client()
            .get(hello.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    hello.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = client()
            .get(hello.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status} after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let page = client()
        .get(hello.url("/airbnb-onepage/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "still serving while draining");
    assert_eq!(hello.wait_exit(Duration::from_secs(15)), Some(0));
}

#[tokio::test]
async fn every_service_stops_with_exit_0_on_sigterm() {
    for name in ["hello-service", "number-service", "gateway"] {
        let mut service = Service::start(name, &[]).await;
        service.signal("TERM");
        assert_eq!(
            service.wait_exit(Duration::from_secs(15)),
            Some(0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_service_serves_on_an_inherited_socket() {
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    // The socket is bound here, as systemd would, and handed over as fd 3 with LISTEN_FDS=1.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = listener.as_raw_fd();
    let mut command = Command::new(hbnb_tests::bin_path("hello-service"));
    command
        .env("LISTEN_FDS", "1")
        .env("PORT", "1") // ignored: the inherited socket wins
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec set, so clear it explicitly in that case.
            let result = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if result < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        match client()
            .get(format!("http://127.0.0.1:{port}/airbnb-onepage/"))
            .send()
            .await
        {
            Ok(response) => break response.text().await.unwrap(),
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "never served on the inherited socket: {error}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(body, "Hello HBNB!");
}

/// What systemd and compose do at boot: the services that share a new database start at the
/// same moment. Each must apply the migrations or find them applied; none may fail (20 rounds).
fn services_started_together_on_a_new_database_all_start(engine: Engine) {
    for round in 0..20 {
        let db = TestDb::new(engine);
        let backups = std::env::temp_dir().join(format!(
            "hbnb-lifecycle-backups-{}-{round}-{engine:?}",
            std::process::id()
        ));
        let backups = backups.display().to_string();
        let env = [
            ("DATABASE_URL", db.url.as_str()),
            ("BACKUP_DIR", backups.as_str()),
        ];
        let names = ["api-service", "web-dynamic", "db-backup"];
        let services: Vec<Service> = std::thread::scope(|scope| {
            let starting: Vec<_> = names
                .iter()
                .map(|name| scope.spawn(|| Service::spawn(name, &[], &env)))
                .collect();
            starting
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        panic!("round {round}: a service started together with others failed")
                    })
                })
                .collect()
        });
        assert_eq!(services.len(), names.len());
        drop(services);
        let _ = std::fs::remove_dir_all(&backups);
    }
}

#[test]
fn services_started_together_on_a_new_sqlite_file_all_start() {
    services_started_together_on_a_new_database_all_start(Engine::Sqlite);
}

#[test]
fn services_started_together_on_a_new_postgres_database_all_start() {
    services_started_together_on_a_new_database_all_start(Engine::Postgres);
}

#[test]
fn services_started_together_on_a_new_mariadb_database_all_start() {
    services_started_together_on_a_new_database_all_start(Engine::Mysql);
}

/// A front for the PostgreSQL server on a port of its own: the first `refuse` connections are
/// closed at once (a server not up yet), later ones are relayed to the real server.
fn database_front(refuse: usize) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            if counter.fetch_add(1, Ordering::SeqCst) < refuse {
                drop(client);
                continue;
            }
            let Ok(server) = std::net::TcpStream::connect("127.0.0.1:5432") else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    (port, accepted)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_waits_for_a_database_server_that_is_not_up_yet() {
    let db = TestDb::new(Engine::Postgres);
    let (port, accepted) = database_front(3);
    let url = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    assert_ne!(url, db.url, "the test database is on 127.0.0.1:5432");
    let started = Instant::now();
    let api = tokio::task::spawn_blocking(move || {
        Service::spawn("api-service", &[], &[("DATABASE_URL", &url)])
    })
    .await
    .unwrap();
    api.wait_ready().await;
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) > 3);
    let logs = api.logs().join("\n");
    assert!(
        logs.matches("database not reachable yet").count() >= 3,
        "no retries logged:\n{logs}"
    );
    let status = client().get(api.url("/api/v1/stats")).send().await.unwrap();
    assert_eq!(status.status(), 200);
    println!(
        "ready {:?} after start, through 3 refused connections",
        started.elapsed()
    );
}

#[test]
fn a_wrong_password_is_not_waited_for() {
    let db = TestDb::new(Engine::Postgres);
    let url = db.url.replace("hbnb:hbnb@", "hbnb:wrong@");
    assert_ne!(url, db.url);
    let started = Instant::now();
    let output = std::process::Command::new(hbnb_tests::bin_path("api-service"))
        .env("DATABASE_URL", &url)
        .env("PORT", "0")
        .env("LOG_FORMAT", "json")
        .output()
        .expect("run api-service");
    assert!(!output.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "gave up only after {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("password"), "{text}");
    assert!(!text.contains("database not reachable yet"), "{text}");
}

/// A server restart or a firewall ends pooled connections while they sit idle: the next
/// requests must get fresh ones (a ping of a connection idle for a second or more), not 503.
/// Reads and writes: PostgreSQL's writer keeps its connection between groups.
async fn connections_the_server_ended_are_replaced(engine: Engine) {
    let api = Api::start(engine).await;
    let http = client();
    let create_state = || {
        http.post(api.api("/states"))
            .json(&serde_json::json!({"name": "after the cut"}))
            .send()
    };
    // Several requests at once, so the pool holds several connections.
    let requests = (0..16).map(|_| http.get(api.api("/stats")).send());
    for answer in futures_util::future::join_all(requests).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    assert_eq!(create_state().await.unwrap().status(), 201);
    let cut = api.db.cut_connections();
    assert!(cut >= 2, "only {cut} connections to end");
    // The condition under test, not a synchronisation: the connections have been idle a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requests = (0..16).map(|_| http.get(api.api("/stats")).send());
    for answer in futures_util::future::join_all(requests).await {
        let answer = answer.unwrap();
        let status = answer.status();
        assert_eq!(status, 200, "{}", answer.text().await.unwrap_or_default());
    }
    for answer in futures_util::future::join_all((0..16).map(|_| create_state())).await {
        let answer = answer.unwrap();
        let status = answer.status();
        assert_eq!(status, 201, "{}", answer.text().await.unwrap_or_default());
    }
}

#[tokio::test]
async fn postgres_connections_the_server_ended_are_replaced() {
    connections_the_server_ended_are_replaced(Engine::Postgres).await;
}

#[tokio::test]
async fn mariadb_connections_the_server_ended_are_replaced() {
    connections_the_server_ended_are_replaced(Engine::Mysql).await;
}
