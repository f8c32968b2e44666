//! Off-host copies (BACKUP_REMOTE) against a real S3-compatible server on loopback (moto):
//! a backup lands in the bucket with its manifest; with the local directory deleted, `list`,
//! `verify` and `restore` work from the bucket alone and every column of every row is back; a
//! dump object without its manifest (an upload cut halfway) is not a backup; a corrupted object
//! is refused by `verify` and `restore`, named; with the store down the backup is kept locally,
//! `now` exits 7, the service counts and logs the failure, and copies it once the store is back;
//! retention applies in the bucket; the store cut in the middle of an upload leaves no manifest
//! there, and `push` copies the backup once it is back.

#[path = "backup_support.rs"]
mod support;

use std::time::Duration;

use hbnb_tests::all_engines;
use hbnb_tests::backup::{list, metric, poll, run, seed, BackupDir};
use hbnb_tests::db::{Api, TestDb};
use hbnb_tests::s3::{CuttingProxy, S3Server};
use hbnb_tests::Service;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::Rows;

const VERIFICATION_FAILED: i32 = 4;
const UPLOAD_FAILED: i32 = 7;
const BUCKET: &str = "hbnb-backups";
const PREFIX: &str = "site/prod";

fn remote_env(s3: &S3Server, db_url: &str, dir: &BackupDir) -> Vec<(&'static str, String)> {
    let mut env = s3.env();
    env.extend([
        ("DATABASE_URL", db_url.to_owned()),
        ("BACKUP_DIR", dir.as_str().to_owned()),
        ("BACKUP_REMOTE", format!("s3://{BUCKET}/{PREFIX}")),
    ]);
    env
}

fn refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn list_remote(env: &[(&str, &str)]) -> Vec<Value> {
    let out = run(&["list", "--from-remote", "--json"], env).await;
    assert_eq!(out.code, Some(0), "list --from-remote: {out:?}");
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(listed: &[Value]) -> Vec<String> {
    listed
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn disk_lost(engine: hbnb_tests::db::Engine) {
    let api = Api::start(engine).await;
    let client = hbnb_tests::client();
    seed(&client, &api.api(""), 6).await;
    let before = Rows::read(&api.db.url).await;
    let dir = BackupDir::new();
    let s3 = S3Server::start(dir.path());
    s3.create_bucket(BUCKET);
    let owned = remote_env(&s3, &api.db.url, &dir);
    let env = refs(&owned);

    let out = run(&["now"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = out.stdout.trim().to_owned();
    let local = list(&env).await;
    let file = local[0]["file"].as_str().unwrap().to_owned();
    assert_eq!(
        s3.keys(BUCKET),
        [
            format!("{PREFIX}/hbnb-{id}.json"),
            format!("{PREFIX}/{file}")
        ]
    );
    // The object is the local dump, byte for byte.
    let copy = dir.path().join("copy");
    s3.get(BUCKET, &format!("{PREFIX}/{file}"), &copy);
    let mut bytes = std::fs::read(&copy).unwrap();
    assert_eq!(bytes, std::fs::read(dir.path().join(&file)).unwrap());

    // The disk is lost: nothing local.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let listed = list_remote(&env).await;
    assert_eq!(ids(&listed), [id.as_str()]);
    assert_eq!(listed[0]["verification"]["ok"], true);
    assert_eq!(listed, local, "the remote manifest is the local one");
    // An upload cut before its manifest: a dump object alone is not a backup.
    let stray = std::env::temp_dir().join(format!("hbnb_stray_{}", std::process::id()));
    std::fs::write(&stray, b"half a dump").unwrap();
    s3.put(
        BUCKET,
        &format!("{PREFIX}/hbnb-20200101T000000.000Z.sql"),
        &stray,
    );
    let _ = std::fs::remove_file(&stray);
    assert_eq!(ids(&list_remote(&env).await), [id.as_str()]);

    let out = run(&["verify", "latest", "--from-remote"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{id} verified"));

    let fresh = TestDb::new(engine);
    let out = run(
        &["restore", "latest", "--from-remote", "--to", &fresh.url],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&fresh.url).await, before);
    // The downloaded copy is not left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with(".remote")),
        "{left:?}"
    );

    // A corrupted object: refused by verify and restore, named.
    let damaged = std::env::temp_dir().join(format!("hbnb_damaged_{}", std::process::id()));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&damaged, &bytes).unwrap();
    s3.put(BUCKET, &format!("{PREFIX}/{file}"), &damaged);
    let _ = std::fs::remove_file(&damaged);
    let object = format!("s3://{BUCKET}/{PREFIX}/{file}");
    let out = run(&["verify", &id, "--from-remote"], &env).await;
    assert_eq!(out.code, Some(VERIFICATION_FAILED), "{out:?}");
    assert!(out.stderr.contains(&object), "{}", out.stderr);
    let untouched = TestDb::new(engine);
    let out = run(
        &["restore", &id, "--from-remote", "--to", &untouched.url],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(VERIFICATION_FAILED), "{out:?}");
    assert!(out.stderr.contains(&object), "{}", out.stderr);
    assert_eq!(Rows::read(&untouched.url).await.total(), 0);
}

all_engines!(disk_lost);

/// A SQLite database with the schema and a row.
async fn sqlite_db() -> TestDb {
    let db = TestDb::new(hbnb_tests::db::Engine::Sqlite);
    let store = hbnb_storage::Database::connect(&db.url).await.unwrap();
    store.create_state("Nevada").await.unwrap();
    store.close().await;
    db
}

async fn scrape(client: &reqwest::Client, service: &Service) -> String {
    let response = client.get(service.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_down_then_back() {
    let db = sqlite_db().await;
    let dir = BackupDir::new();
    let mut s3 = S3Server::start(dir.path());
    s3.stop();
    let mut owned = remote_env(&s3, &db.url, &dir);
    owned.extend([
        ("BACKUP_INTERVAL", "1h".to_owned()),
        ("BACKUP_UPLOAD_RETRY", "300ms".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let env = refs(&owned);
    let client = hbnb_tests::client();

    // The service's first backup (at start: there is none) cannot be copied: kept, counted,
    // logged as an error, retried.
    let service = Service::start("db-backup", &env).await;
    poll(
        Duration::from_secs(60),
        "a backup and failed uploads",
        || async {
            let text = scrape(&client, &service).await;
            (metric(&text, "db_backup_success_total") == Some(1.0)
                && metric(&text, "db_backup_upload_failures_total").unwrap_or(0.0) >= 2.0)
                .then_some(())
        },
    )
    .await;
    let text = scrape(&client, &service).await;
    assert_eq!(metric(&text, "db_backup_uploads_total"), Some(0.0));
    assert_eq!(
        metric(&text, "db_backup_remote_last_success_timestamp_seconds"),
        Some(0.0)
    );
    let logs = service.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("\"ERROR\"") && l.contains("kept locally")),
        "{logs:#?}"
    );
    assert!(
        !logs.iter().any(|l| l.contains(hbnb_tests::s3::SECRET_KEY)),
        "a credential was logged"
    );
    drop(service);

    // By hand: the backup is kept, the command fails with its own code and says so.
    let out = run(&["now"], &env).await;
    assert_eq!(out.code, Some(UPLOAD_FAILED), "{out:?}");
    assert!(out.stderr.contains("kept in"), "{}", out.stderr);
    assert!(!out.stderr.contains(hbnb_tests::s3::SECRET_KEY));
    let local = ids(&list(&env).await);
    assert_eq!(local.len(), 2, "{local:?}");
    assert_eq!(local[1], out.stdout.trim());

    // The store comes back (empty: moto keeps nothing in memory), the service starts again: it
    // copies both backups the earlier runs could not.
    s3.restart();
    s3.create_bucket(BUCKET);
    let service = Service::start("db-backup", &env).await;
    poll(Duration::from_secs(60), "both backups copied", || async {
        let text = scrape(&client, &service).await;
        (metric(&text, "db_backup_uploads_total") == Some(2.0)
            && metric(&text, "db_backup_remote_last_success_timestamp_seconds").unwrap_or(0.0)
                > 0.0)
            .then_some(())
    })
    .await;
    assert_eq!(ids(&list_remote(&env).await), local);
    assert_eq!(s3.keys(BUCKET).len(), 4, "{:?}", s3.keys(BUCKET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_in_the_bucket() {
    let db = sqlite_db().await;
    let dir = BackupDir::new();
    let s3 = S3Server::start(dir.path());
    s3.create_bucket(BUCKET);
    let mut owned = remote_env(&s3, &db.url, &dir);
    owned.extend([
        ("BACKUP_KEEP_LAST", "2".to_owned()),
        ("BACKUP_KEEP_DAILY", "0".to_owned()),
        ("BACKUP_KEEP_WEEKLY", "0".to_owned()),
        ("BACKUP_KEEP_MONTHLY", "0".to_owned()),
    ]);
    let env = refs(&owned);
    let mut taken = Vec::new();
    for _ in 0..3 {
        let out = run(&["now"], &env).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        taken.push(out.stdout.trim().to_owned());
    }
    assert_eq!(ids(&list_remote(&env).await), taken[1..]);
    assert_eq!(ids(&list(&env).await), taken[1..]);
    assert_eq!(s3.keys(BUCKET).len(), 4, "{:?}", s3.keys(BUCKET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_stopped_during_an_upload() {
    // Enough rows that the compressed dump is well over the proxy's budget.
    let db = TestDb::new(hbnb_tests::db::Engine::Sqlite);
    {
        let store = hbnb_storage::Database::connect(&db.url).await.unwrap();
        for i in 0..3000u32 {
            let name = hex::encode(Sha256::digest(i.to_le_bytes()));
            store.create_state(&name).await.unwrap();
        }
        store.close().await;
    }
    let dir = BackupDir::new();
    let s3 = S3Server::start(dir.path());
    s3.create_bucket(BUCKET);
    let proxy = CuttingProxy::start(s3.port, 40_000).await;
    let direct = remote_env(&s3, &db.url, &dir);
    let mut through = direct.clone();
    for (key, value) in through.iter_mut() {
        if *key == "AWS_ENDPOINT_URL" {
            *value = format!("http://127.0.0.1:{}", proxy.port);
        }
    }
    let (direct, through) = (refs(&direct), refs(&through));

    let out = run(&["now"], &through).await;
    assert_eq!(out.code, Some(UPLOAD_FAILED), "{out:?}");
    assert!(proxy.was_cut(), "the upload was never cut");
    let id = out.stdout.trim().to_owned();
    assert_eq!(ids(&list(&through).await), [id.as_str()]);
    let size = list(&through).await[0]["size"].as_u64().unwrap();
    assert!(
        size > 80_000,
        "the dump ({size} bytes) is too small to be cut"
    );
    // Cut halfway: no manifest in the bucket, so nothing is listed there.
    let keys = s3.keys(BUCKET);
    assert!(!keys.iter().any(|k| k.ends_with(".json")), "{keys:?}");
    assert!(list_remote(&direct).await.is_empty());

    // The store is back: `push` copies it, whole.
    proxy.restore();
    let out = run(&["push"], &through).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{id} copied"));
    assert_eq!(ids(&list_remote(&direct).await), [id.as_str()]);
    let out = run(&["verify", "latest", "--from-remote"], &direct).await;
    assert_eq!(out.code, Some(0), "{out:?}");
}
