//! Point-in-time recovery (BACKUP_PITR) on PostgreSQL (base backups and the WAL) and MariaDB (the
//! dumps and the binary log), against real servers, a real S3-compatible store on loopback (moto)
//! and the real api-service taking writes all along:
//! - the service takes a base and streams the log to the store; the store stopped in the
//!   middle is counted and logged, and the copy catches up once it is back;
//! - the mistake case: with the local backup directory deleted, `restore latest --until T
//!   --from-remote` gives back every write acknowledged before T and none sent after it;
//! - the disk-lost case: db-backup killed (with its pg_receivewal) while writes go on, then
//!   `restore latest --until end --from-remote` holds every write acknowledged more than 60 s
//!   before the loss (the recovery point objective); the measured loss is printed;
//! - a corrupted base object is refused, named;
//! - MariaDB again with its dumps encrypted (BACKUP_ENCRYPT_TO): `restore --until` without the
//!   key is refused (exit 2), with it (BACKUP_IDENTITY_FILE) everything above holds;
//! - SQLite, which has no log to stream: the loss after a lost disk, with a dump every 10 s.
//!
//! MariaDB's binary log has whole seconds: there, a restore to T holds the writes acknowledged
//! before T's second began.
//!
//! `tests/backup/offsite-pitr.sh` runs this test alone and shows its report.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use hbnb_tests::backup::{metric, poll, run, BackupDir};
use hbnb_tests::db::{Api, Engine, TestDb};
use hbnb_tests::s3::{CuttingProxy, S3Server};
use hbnb_tests::Service;

const VERIFICATION_FAILED: i32 = 4;
const USAGE: i32 = 2;
const BUCKET: &str = "hbnb-pitr";
const PREFIX: &str = "site/prod";

/// One write of the writer: the state's name, when it was sent, when it was acknowledged.
#[derive(Clone, Debug)]
struct Write {
    name: String,
    sent: DateTime<Utc>,
    acked: Option<DateTime<Utc>>,
}

/// POSTs states one after another (about 20 a second) until stopped, recording each.
struct Writer {
    log: Arc<Mutex<Vec<Write>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    fn start(url: String) -> Writer {
        let log = Arc::new(Mutex::new(Vec::<Write>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (task_log, task_stop) = (log.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let client = hbnb_tests::client();
            let mut n = 0u64;
            while !task_stop.load(Ordering::Relaxed) {
                n += 1;
                let name = format!("pitr-{n:06}");
                let sent = Utc::now();
                let answer = client
                    .post(&url)
                    .json(&serde_json::json!({ "name": name }))
                    .send()
                    .await;
                let acked = matches!(&answer, Ok(r) if r.status() == 201).then(Utc::now);
                task_log.lock().unwrap().push(Write { name, sent, acked });
                // Pacing of the load, not a synchronisation.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Writer { log, stop, task }
    }

    fn acked(&self) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|w| w.acked.is_some())
            .count()
    }

    async fn wait_for_more(&self, more: usize) {
        let target = self.acked() + more;
        poll(
            Duration::from_secs(60),
            "more acknowledged writes",
            || async { (self.acked() >= target).then_some(()) },
        )
        .await;
    }

    async fn finish(self) -> Vec<Write> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let log = self.log.lock().unwrap().clone();
        log
    }
}

async fn scrape(service: &Service) -> String {
    let response = hbnb_tests::client()
        .get(service.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The writer's states present in a restored database.
async fn restored_names(url: &str) -> BTreeSet<String> {
    let db = hbnb_storage::Database::connect(url).await.unwrap();
    let states: Vec<hbnb_storage::State> = db.list().await.unwrap();
    db.close().await;
    states
        .into_iter()
        .map(|s| s.name)
        .filter(|n| n.starts_with("pitr-"))
        .collect()
}

/// Drops db-backup's replication slot for the test's database when the test ends: a slot left
/// behind would keep the test server's WAL for ever.
struct SlotGuard(String);

impl SlotGuard {
    fn of(db_url: &str) -> SlotGuard {
        let database = db_url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap();
        SlotGuard(format!("db_backup_{database}"))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        hbnb_tests::backup::psql(&format!(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{}' AND NOT active",
            self.0
        ));
    }
}

fn owned_env(s3: &S3Server, db_url: &str, dir: &BackupDir) -> Vec<(&'static str, String)> {
    let mut env = s3.env();
    env.extend([
        ("DATABASE_URL", db_url.to_owned()),
        ("BACKUP_DIR", dir.as_str().to_owned()),
        ("BACKUP_REMOTE", format!("s3://{BUCKET}/{PREFIX}")),
        ("BACKUP_PITR", "on".to_owned()),
        ("BACKUP_WAL_UPLOAD_INTERVAL", "2s".to_owned()),
        ("BACKUP_INTERVAL", "48h".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    env
}

fn refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_a_time_and_after_losing_the_disk() {
    point_in_time(Engine::Postgres).await;
}

fn assert_binary_log() {
    let logging = hbnb_tests::db::MariadbServer::from_admin_url().run(None, "SELECT @@log_bin");
    assert_eq!(
        logging.as_deref().map(str::trim),
        Ok("1"),
        "the MariaDB server must write a binary log: scripts/start-mariadb.sh starts it so \
         (MARIADB_STOP=1 scripts/start-mariadb.sh first if it runs without)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_to_a_time_and_after_losing_the_disk() {
    assert_binary_log();
    point_in_time(Engine::Mysql).await;
}

/// MariaDB's bases are the dumps: encrypted to an age key, `restore --until` needs the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_encrypted_to_a_time_and_after_losing_the_disk() {
    assert_binary_log();
    let keys = BackupDir::new();
    let key = age::x25519::Identity::generate();
    let file = keys.path().join("key.txt");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(&file, key.to_string().expose_secret()).unwrap();
    }
    let encryption = Encryption {
        public: key.to_public().to_string(),
        identity_file: file.to_str().unwrap().to_owned(),
    };
    point_in_time_with(Engine::Mysql, Some(&encryption)).await;
}

/// BACKUP_ENCRYPT_TO for the service, BACKUP_IDENTITY_FILE for the restores.
struct Encryption {
    public: String,
    identity_file: String,
}

async fn point_in_time(engine: Engine) {
    point_in_time_with(engine, None).await;
}

async fn point_in_time_with(engine: Engine, encryption: Option<&Encryption>) {
    let postgres = engine == Engine::Postgres;
    let api = Api::start(engine).await;
    let _slot = postgres.then(|| SlotGuard::of(&api.db.url));
    let dir = BackupDir::new();
    let s3 = S3Server::start(dir.path());
    s3.create_bucket(BUCKET);
    // The store is reached through a proxy that can cut it off, and comes back with what it held.
    let proxy = CuttingProxy::start(s3.port, i64::MAX).await;
    let mut owned = owned_env(&s3, &api.db.url, &dir);
    if let Some(encryption) = encryption {
        owned.push(("BACKUP_ENCRYPT_TO", encryption.public.clone()));
    }
    for (key, value) in owned.iter_mut() {
        if *key == "AWS_ENDPOINT_URL" {
            *value = format!("http://127.0.0.1:{}", proxy.port);
        }
    }
    let env = refs(&owned);
    let service = Service::start("db-backup", &env).await;
    let writer = Writer::start(api.api("/states"));

    // A base backup, then the WAL streamed and copied.
    poll(
        Duration::from_secs(180),
        "a base backup copied to the store",
        || async {
            let text = scrape(&service).await;
            (metric(&text, "db_backup_pitr_last_base_timestamp_seconds").unwrap_or(0.0) > 0.0
                && metric(&text, "db_backup_wal_files_uploaded_total").unwrap_or(0.0) >= 1.0
                && metric(&text, "db_backup_wal_archive_lag_seconds").unwrap_or(f64::MAX) < 5.0)
                .then_some(())
        },
    )
    .await;
    let log_folder = if postgres { "wal" } else { "binlog" };
    let keys = s3.keys(BUCKET);
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}/pitr/{log_folder}/"))),
        "{keys:?}"
    );
    if postgres {
        assert!(
            keys.iter().any(
                |k| k.starts_with(&format!("{PREFIX}/pitr/base/base-")) && k.ends_with(".json")
            ),
            "{keys:?}"
        );
    }
    writer.wait_for_more(20).await;

    // The store stops while the log keeps coming: failures counted and logged, the lag grows.
    proxy.cut();
    poll(Duration::from_secs(120), "failed WAL uploads", || async {
        let text = scrape(&service).await;
        (metric(&text, "db_backup_wal_upload_failures_total").unwrap_or(0.0) >= 1.0
            && metric(&text, "db_backup_wal_archive_lag_seconds").unwrap_or(0.0) > 4.0)
            .then_some(())
    })
    .await;
    service
        .wait_for_log(Duration::from_secs(30), |line| {
            line["level"] == "ERROR"
                && line["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("copying the log archive"))
        })
        .await;
    // Back: what was missed is copied.
    proxy.restore();
    poll(
        Duration::from_secs(120),
        "the archive copied again",
        || async {
            let text = scrape(&service).await;
            (metric(&text, "db_backup_wal_archive_lag_seconds").unwrap_or(f64::MAX) < 5.0)
                .then_some(())
        },
    )
    .await;

    // The mistake at T, writes going on after it.
    writer.wait_for_more(40).await;
    let t = Utc::now();
    writer.wait_for_more(40).await;
    // A restore to T needs the log past T in the store: a copy pass that ended 2 s after it.
    poll(
        Duration::from_secs(120),
        "the log past T copied",
        || async {
            let text = scrape(&service).await;
            let lag = metric(&text, "db_backup_wal_archive_lag_seconds").unwrap_or(f64::MAX);
            let shipped_at = Utc::now() - chrono::Duration::milliseconds((lag * 1000.0) as i64);
            (shipped_at > t + chrono::Duration::seconds(2)).then_some(())
        },
    )
    .await;
    // The host is lost at L: db-backup (and its pg_receivewal) killed, its disk gone.
    let lost_at = Utc::now();
    service.signal("KILL");
    writer.wait_for_more(10).await;
    let writes = writer.finish().await;
    std::fs::remove_dir_all(dir.path()).unwrap();
    let empty = BackupDir::new();
    let mut restore_owned = owned;
    for (key, value) in restore_owned.iter_mut() {
        if *key == "BACKUP_DIR" {
            *value = empty.as_str().to_owned();
        }
    }
    let until = t.to_rfc3339();
    if let Some(encryption) = encryption {
        // Without the key the encrypted dump (the base) is refused before anything is done.
        let untouched = TestDb::new(engine);
        let args = [
            "restore",
            "latest",
            "--until",
            &until,
            "--from-remote",
            "--to",
            &untouched.url,
        ];
        let out = run(&args, &refs(&restore_owned)).await;
        assert_eq!(out.code, Some(USAGE), "{out:?}");
        assert!(out.stderr.contains("--identity"), "{out:?}");
        restore_owned.push(("BACKUP_IDENTITY_FILE", encryption.identity_file.clone()));
    }
    let restore_env = refs(&restore_owned);

    // To T, from the store alone.
    let at_t = TestDb::new(engine);
    let out = run(
        &[
            "restore",
            "latest",
            "--until",
            &until,
            "--from-remote",
            "--to",
            &at_t.url,
        ],
        &restore_env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let names = restored_names(&at_t.url).await;
    // What must be there: PostgreSQL's commit times are exact; MariaDB's log has whole seconds.
    let cutoff = if postgres {
        t
    } else {
        t.with_nanosecond(0).unwrap() - chrono::Duration::nanoseconds(1)
    };
    let missing: Vec<&Write> = writes
        .iter()
        .filter(|w| w.acked.is_some_and(|a| a <= cutoff) && !names.contains(&w.name))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged before T, not restored: {missing:?}"
    );
    let after: Vec<&Write> = writes
        .iter()
        .filter(|w| w.sent > t && names.contains(&w.name))
        .collect();
    assert!(after.is_empty(), "sent after T, restored: {after:?}");
    let before_t = writes
        .iter()
        .filter(|w| w.acked.is_some_and(|a| a <= t))
        .count();
    assert!(before_t >= 60, "{before_t} writes before T");

    // To the end of what the store holds: the disk-lost case.
    let at_end = TestDb::new(engine);
    let out = run(
        &[
            "restore",
            "latest",
            "--until",
            "end",
            "--from-remote",
            "--to",
            &at_end.url,
        ],
        &restore_env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let names = restored_names(&at_end.url).await;
    let rpo = chrono::Duration::seconds(60);
    let lost: Vec<&Write> = writes
        .iter()
        .filter(|w| w.acked.is_some_and(|a| a <= lost_at - rpo) && !names.contains(&w.name))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged 60 s before the loss, not restored: {lost:?}"
    );
    // The measured loss: from the oldest acknowledged write that is missing to the loss.
    let oldest_missing = writes
        .iter()
        .filter(|w| w.acked.is_some_and(|a| a <= lost_at) && !names.contains(&w.name))
        .filter_map(|w| w.acked)
        .min();
    let measured = oldest_missing.map_or(0.0, |a| (lost_at - a).num_milliseconds() as f64 / 1000.0);
    println!(
        "{engine:?} PITR: {} writes; restored to T: all {before_t} acknowledged before T, none \
         sent after; disk lost: writes acknowledged up to {measured:.1} s before the loss are \
         missing (RPO target 60 s)",
        writes.len(),
    );

    // A corrupted base object is refused, named.
    let key = s3
        .keys(BUCKET)
        .into_iter()
        .find(|k| {
            if postgres {
                k.starts_with(&format!("{PREFIX}/pitr/base/")) && k.ends_with(".tar.zst")
            } else {
                k.starts_with(&format!("{PREFIX}/hbnb-"))
                    && (k.ends_with(".sql.zst") || k.ends_with(".sql.zst.age"))
            }
        })
        .expect("a base object");
    let garbage = empty.path().join("garbage");
    std::fs::write(&garbage, b"not a base backup").unwrap();
    s3.put(BUCKET, &key, &garbage);
    let fresh = TestDb::new(engine);
    let out = run(
        &[
            "restore",
            "latest",
            "--until",
            "end",
            "--from-remote",
            "--to",
            &fresh.url,
        ],
        &restore_env,
    )
    .await;
    assert_eq!(out.code, Some(VERIFICATION_FAILED), "{out:?}");
    let object = key.rsplit('/').next().unwrap();
    assert!(out.stderr.contains(object), "{}", out.stderr);
}

/// SQLite has no log db-backup can stream: its recovery point is the dump schedule. Measured here
/// with a dump every 10 s copied to the store, db-backup killed while writes go on, the disk
/// lost: what the newest copy in the store lacks is at most one schedule step and the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_recovery_point_is_the_schedule() {
    let api = Api::start(Engine::Sqlite).await;
    let dir = BackupDir::new();
    let s3 = S3Server::start(dir.path());
    s3.create_bucket(BUCKET);
    let mut owned = s3.env();
    owned.extend([
        ("DATABASE_URL", api.db.url.clone()),
        ("BACKUP_DIR", dir.as_str().to_owned()),
        ("BACKUP_REMOTE", format!("s3://{BUCKET}/{PREFIX}")),
        ("BACKUP_SCHEDULE", "*/10 * * * * *".to_owned()),
        ("BACKUP_KEEP_LAST", "3".to_owned()),
    ]);
    let env = refs(&owned);
    let writer = Writer::start(api.api("/states"));
    let service = Service::start("db-backup", &env).await;
    poll(
        Duration::from_secs(120),
        "three copies in the store",
        || async {
            let text = scrape(&service).await;
            (metric(&text, "db_backup_uploads_total").unwrap_or(0.0) >= 3.0).then_some(())
        },
    )
    .await;
    // The loss comes a while after that copy, not just after it.
    writer.wait_for_more(100).await;
    let lost_at = Utc::now();
    service.signal("KILL");
    writer.wait_for_more(10).await;
    let writes = writer.finish().await;
    std::fs::remove_dir_all(dir.path()).unwrap();

    let fresh = TestDb::new(Engine::Sqlite);
    let out = run(
        &["restore", "latest", "--from-remote", "--to", &fresh.url],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let names = restored_names(&fresh.url).await;
    let oldest_missing = writes
        .iter()
        .filter(|w| w.acked.is_some_and(|a| a <= lost_at) && !names.contains(&w.name))
        .filter_map(|w| w.acked)
        .min();
    let measured = oldest_missing.map_or(0.0, |a| (lost_at - a).num_milliseconds() as f64 / 1000.0);
    println!(
        "Sqlite: {} writes; disk lost: writes acknowledged up to {measured:.1} s before the loss \
         are missing (a dump every 10 s)",
        writes.len()
    );
    assert!(measured <= 25.0, "{measured} s lost with a dump every 10 s");
    // No gap: what is there is every write up to the newest dump.
    let present: Vec<&Write> = writes.iter().filter(|w| names.contains(&w.name)).collect();
    assert!(!present.is_empty());
}
