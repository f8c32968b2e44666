//! db-backup as a service: with BACKUP_INTERVAL=2s it takes consecutive backups and retention
//! keeps exactly the policy's set; after a restart it keeps its schedule, and catches up at once
//! when a backup is overdue; /healthz turns unhealthy when backups stop succeeding (database
//! unreachable) and healthy again after the next success. On SQLite and PostgreSQL. With a cron
//! pattern (BACKUP_SCHEDULE) instead: backups at its times, the next run at the pattern's next time
//! in BACKUP_TIMEZONE, and a run missed while the service was down taken at start-up.

#[path = "backup_support.rs"]
mod support;

use std::time::Duration;

use hbnb_tests::all_engines;
use hbnb_tests::backup::{list, metric, poll, run, BackupDir};
use hbnb_tests::db::{Engine, TestDb};
use hbnb_tests::Service;
use support::{now_unix, unix_seconds};

/// A fresh database with the schema and a few rows.
async fn database(engine: Engine) -> TestDb {
    let db = TestDb::new(engine);
    let store = hbnb_storage::Database::connect(&db.url).await.unwrap();
    for name in ["California", "Nevada"] {
        store.create_state(name).await.unwrap();
    }
    store.close().await;
    db
}

async fn metrics(client: &reqwest::Client, service: &Service) -> String {
    let response = client.get(service.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn wait_for_successes(client: &reqwest::Client, service: &Service, n: f64) -> String {
    poll(Duration::from_secs(120), "successful backups", || async {
        let text = metrics(client, service).await;
        (metric(&text, "db_backup_success_total").unwrap_or(0.0) >= n).then_some(text)
    })
    .await
}

async fn schedule_and_retention(engine: Engine) {
    let db = database(engine).await;
    let dir = BackupDir::new();
    let client = hbnb_tests::client();
    let env = |interval: &'static str| {
        vec![
            ("DATABASE_URL", db.url.clone()),
            ("BACKUP_DIR", dir.as_str().to_owned()),
            ("BACKUP_INTERVAL", interval.to_owned()),
            ("BACKUP_KEEP_LAST", "3".to_owned()),
            ("BACKUP_KEEP_DAILY", "1".to_owned()),
            ("BACKUP_KEEP_WEEKLY", "1".to_owned()),
            ("BACKUP_KEEP_MONTHLY", "1".to_owned()),
        ]
    };
    let fast = env("2s");
    let fast_refs: Vec<(&str, &str)> = fast.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut service = Service::start("db-backup", &fast_refs).await;
    let text = wait_for_successes(&client, &service, 5.0).await;
    assert_eq!(
        metric(&text, "db_backup_failure_total"),
        Some(0.0),
        "{text}"
    );
    assert!(metric(&text, "db_backup_last_size_bytes").unwrap() > 0.0);
    assert!(metric(&text, "db_backup_last_success_timestamp_seconds").unwrap() > 1e9);
    poll(Duration::from_secs(30), "/healthz 200", || async {
        let health = client.get(service.url("/healthz")).send().await.unwrap();
        (health.status() == 200).then_some(())
    })
    .await;
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(30)), Some(0));

    // Keep the last 3; the newest of today/this week/this month is among them: exactly 3 left.
    let listed = list(&fast_refs).await;
    assert_eq!(listed.len(), 3, "{listed:#?}");
    let started: Vec<f64> = listed
        .iter()
        .map(|m| unix_seconds(m["started_at"].as_str().unwrap()))
        .collect();
    for pair in started.windows(2) {
        assert!(
            pair[1] - pair[0] >= 1.9,
            "backups closer than the interval: {started:?}"
        );
    }
    assert!(listed.iter().all(|m| m["verification"]["ok"] == true));
    let files = dir.files();
    assert_eq!(
        files.iter().filter(|f| f.starts_with("hbnb-")).count(),
        6,
        "{files:?}"
    );

    // Not overdue: a restart keeps the schedule (next run one interval after the newest backup).
    let newest = *started.last().unwrap();
    let hourly = env("1h");
    let hourly_refs: Vec<(&str, &str)> = hourly.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut service = Service::start("db-backup", &hourly_refs).await;
    let text = poll(
        Duration::from_secs(30),
        "the next run in /metrics",
        || async {
            let text = metrics(&client, &service).await;
            (metric(&text, "db_backup_next_run_timestamp_seconds").unwrap_or(0.0) > 0.0)
                .then_some(text)
        },
    )
    .await;
    let next = metric(&text, "db_backup_next_run_timestamp_seconds").unwrap();
    assert!(
        (next - (newest + 3600.0)).abs() < 1.0,
        "next {next}, newest {newest}"
    );
    assert_eq!(metric(&text, "db_backup_success_total"), Some(0.0));
    service.signal("TERM");
    assert_eq!(service.wait_exit(Duration::from_secs(30)), Some(0));

    // Overdue: with a 3 s interval and the newest backup older than that, it backs up at once.
    poll(
        Duration::from_secs(30),
        "the newest backup to be overdue",
        || async { (now_unix() - newest > 3.5).then_some(()) },
    )
    .await;
    let slow = env("3s");
    let slow_refs: Vec<(&str, &str)> = slow.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let restarted_at = now_unix();
    let service = Service::start("db-backup", &slow_refs).await;
    wait_for_successes(&client, &service, 1.0).await;
    drop(service);
    let listed = list(&slow_refs).await;
    let caught_up = unix_seconds(listed.last().unwrap()["started_at"].as_str().unwrap());
    assert!(
        caught_up - restarted_at < 2.5,
        "the overdue backup started {:.1} s after the restart",
        caught_up - restarted_at
    );
}

async fn healthz_follows_failures(engine: Engine) {
    let db = database(engine).await;
    let dir = BackupDir::new();
    let client = hbnb_tests::client();
    // Twice the interval must exceed one backup's duration (a PostgreSQL backup with its
    // verification takes seconds on a loaded machine).
    let interval = match engine {
        Engine::Sqlite => "1s",
        Engine::Postgres | Engine::Mysql => "4s",
    };
    // MariaDB: the service connects as an account of its own, locked to make it unreachable.
    let server = hbnb_tests::db::MariadbServer::from_admin_url();
    let account = format!(
        "bk{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let url = match engine {
        Engine::Mysql => {
            let database = db.url.rsplit('/').next().unwrap().to_owned();
            server
                .run(
                    None,
                    &format!(
                        "CREATE USER '{account}'@'%' IDENTIFIED BY 'pw'; \
                         GRANT ALL PRIVILEGES ON *.* TO '{account}'@'%';"
                    ),
                )
                .unwrap();
            hbnb_tests::db::MariadbServer {
                user: account.clone(),
                password: "pw".to_owned(),
                ..hbnb_tests::db::MariadbServer::from_admin_url()
            }
            .url(&database)
        }
        _ => db.url.clone(),
    };
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
        ("BACKUP_INTERVAL", interval),
    ];
    let service = Service::start("db-backup", &env).await;
    let status = |client: reqwest::Client, url: String| async move {
        client.get(url).send().await.unwrap().status().as_u16()
    };
    wait_for_successes(&client, &service, 1.0).await;
    poll(Duration::from_secs(30), "/healthz 200", || {
        let (client, url) = (client.clone(), service.url("/healthz"));
        async move { (status(client, url).await == 200).then_some(()) }
    })
    .await;

    // Make the database unreachable.
    let sqlite_path = db
        .url
        .strip_prefix("sqlite://")
        .map(|rest| rest.split('?').next().unwrap().to_owned());
    let pg_name = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    match engine {
        Engine::Sqlite => {
            let path = sqlite_path.as_ref().unwrap();
            std::fs::rename(path, format!("{path}.away")).unwrap();
        }
        Engine::Postgres => {
            hbnb_tests::backup::psql(&format!("ALTER DATABASE {pg_name} ALLOW_CONNECTIONS false"));
            hbnb_tests::backup::psql(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{pg_name}'"
            ));
        }
        Engine::Mysql => {
            server
                .run(None, &format!("ALTER USER '{account}'@'%' ACCOUNT LOCK"))
                .unwrap();
        }
    }
    poll(
        Duration::from_secs(60),
        "/healthz to turn unhealthy",
        || {
            let (client, url) = (client.clone(), service.url("/healthz"));
            async move { (status(client, url).await == 503).then_some(()) }
        },
    )
    .await;
    let body: serde_json::Value = client
        .get(service.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("twice the interval"),
        "{body}"
    );
    let text = metrics(&client, &service).await;
    let failures = metric(&text, "db_backup_failure_total").unwrap();
    let successes = metric(&text, "db_backup_success_total").unwrap();
    assert!(failures >= 1.0, "{text}");
    assert!(
        !dir.files().iter().any(|f| f.contains(".partial")),
        "{:?}",
        dir.files()
    );
    service
        .wait_for_log(Duration::from_secs(10), |line| {
            line["level"] == "ERROR" && line["message"] == "backup failed"
        })
        .await;

    // Reachable again: the next scheduled run succeeds and /healthz recovers.
    match engine {
        Engine::Sqlite => {
            let path = sqlite_path.as_ref().unwrap();
            std::fs::rename(format!("{path}.away"), path).unwrap();
        }
        Engine::Postgres => {
            hbnb_tests::backup::psql(&format!("ALTER DATABASE {pg_name} ALLOW_CONNECTIONS true"))
        }
        Engine::Mysql => {
            server
                .run(None, &format!("ALTER USER '{account}'@'%' ACCOUNT UNLOCK"))
                .unwrap();
        }
    }
    wait_for_successes(&client, &service, successes + 1.0).await;
    poll(Duration::from_secs(30), "/healthz to recover", || {
        let (client, url) = (client.clone(), service.url("/healthz"));
        async move { (status(client, url).await == 200).then_some(()) }
    })
    .await;
    if engine == Engine::Mysql {
        let _ = server.run(None, &format!("DROP USER IF EXISTS '{account}'@'%'"));
    }
}

all_engines!(schedule_and_retention, healthz_follows_failures);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_schedule_and_catch_up() {
    let db = database(Engine::Sqlite).await;
    let dir = BackupDir::new();
    let client = hbnb_tests::client();
    let env = |schedule: &str, zone: &str| {
        vec![
            ("DATABASE_URL", db.url.clone()),
            ("BACKUP_DIR", dir.as_str().to_owned()),
            ("BACKUP_SCHEDULE", schedule.to_owned()),
            ("BACKUP_TIMEZONE", zone.to_owned()),
        ]
    };
    // Both ways at once: refused.
    let mut both = env("0 3 * * *", "UTC");
    both.push(("BACKUP_INTERVAL", "1h".to_owned()));
    let both: Vec<(&str, &str)> = both.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = run(&["list"], &both).await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("both set"), "{}", out.stderr);

    // Every 2 seconds (six fields: seconds first): runs start on even seconds.
    let fast = env("*/2 * * * * *", "UTC");
    let fast: Vec<(&str, &str)> = fast.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let service = Service::start("db-backup", &fast).await;
    wait_for_successes(&client, &service, 3.0).await;
    drop(service);
    let listed = list(&fast).await;
    // The first run is at start-up (no backup yet); those after it follow the pattern.
    for manifest in &listed[1..] {
        let started = unix_seconds(manifest["started_at"].as_str().unwrap());
        let past_even = started - (started / 2.0).floor() * 2.0;
        assert!(
            past_even < 0.5,
            "a run started at {started}, not on an even second"
        );
    }
    let newest = unix_seconds(listed.last().unwrap()["started_at"].as_str().unwrap());

    // 03:00 in Tokyo (UTC+9, no daylight saving time) is 18:00 UTC. Not due: no run at start-up,
    // the next one at the first 18:00 UTC after the newest backup.
    let tokyo = env("0 3 * * *", "Asia/Tokyo");
    let tokyo: Vec<(&str, &str)> = tokyo.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let service = Service::start("db-backup", &tokyo).await;
    let text = poll(Duration::from_secs(30), "the next run", || async {
        let text = metrics(&client, &service).await;
        (metric(&text, "db_backup_next_run_timestamp_seconds").unwrap_or(0.0) > 0.0).then_some(text)
    })
    .await;
    let mut expected = (newest / 86400.0).floor() * 86400.0 + 18.0 * 3600.0;
    if expected <= newest {
        expected += 86400.0;
    }
    assert_eq!(
        metric(&text, "db_backup_next_run_timestamp_seconds"),
        Some(expected),
        "{text}"
    );
    assert_eq!(metric(&text, "db_backup_success_total"), Some(0.0));
    assert_eq!(
        metric(&text, "db_backup_interval_seconds"),
        Some(86400.0),
        "{text}"
    );
    drop(service);

    // The service was down over an 03:00 (the backups are made older): one run at start-up.
    for name in dir.files().iter().filter(|f| f.ends_with(".json")) {
        let path = dir.path().join(name);
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest["started_at"] = serde_json::Value::from("2020-01-01T00:00:00Z");
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    }
    let restarted_at = now_unix();
    let service = Service::start("db-backup", &tokyo).await;
    let text = wait_for_successes(&client, &service, 1.0).await;
    let caught_up = metric(&text, "db_backup_last_success_timestamp_seconds").unwrap();
    assert!(
        caught_up - restarted_at < 10.0,
        "the missed run finished {:.1} s after the restart",
        caught_up - restarted_at
    );
    let next = metric(&text, "db_backup_next_run_timestamp_seconds").unwrap();
    assert_eq!(next % 86400.0, 18.0 * 3600.0, "{text}");
}

/// A first backup that fails (here: the SQLite file does not exist yet, as when db-backup starts
/// before the service that creates it) is tried again within seconds, not a schedule step (48 h)
/// later, and succeeds once the database is there.
#[tokio::test]
async fn a_failed_backup_is_tried_again_soon_not_a_schedule_step_later() {
    let dir = BackupDir::new();
    let file = dir.path().join("data").join("later.sqlite");
    let url = format!("sqlite://{}", file.display());
    let client = hbnb_tests::client();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
        ("BACKUP_INTERVAL", "48h"),
    ];
    let service = Service::start("db-backup", &env).await;
    let text = poll(Duration::from_secs(60), "a failed first backup", || async {
        let text = metrics(&client, &service).await;
        (metric(&text, "db_backup_failure_total").unwrap_or(0.0) >= 1.0).then_some(text)
    })
    .await;
    assert_eq!(
        metric(&text, "db_backup_success_total"),
        Some(0.0),
        "{text}"
    );
    let next = metric(&text, "db_backup_next_run_timestamp_seconds").expect("next run");
    assert!(
        next < now_unix() + 60.0,
        "after a failure the next run is {} s away, not within a minute",
        next - now_unix()
    );
    let db = hbnb_storage::Database::connect(&format!("{url}?mode=rwc"))
        .await
        .expect("the database, created after db-backup started");
    db.create_state("Later").await.expect("a row");
    db.close().await;
    let text = wait_for_successes(&client, &service, 1.0).await;
    let next = metric(&text, "db_backup_next_run_timestamp_seconds").expect("next run");
    assert!(
        next > now_unix() + 47.0 * 3600.0,
        "after a success the schedule resumes (48 h), not {} s",
        next - now_unix()
    );
    assert_eq!(list(&env).await.len(), 1, "one verified backup");
}
