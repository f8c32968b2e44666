//! Backups encrypted with age to public keys (BACKUP_ENCRYPT_TO), key pairs made by the test with
//! the age crate. On SQLite, PostgreSQL and MariaDB: the stored file is an age file
//! (`age-encryption.org/v1`), not a dump, named `<dump>[.zst].age`, its manifest says
//! `"encryption": "age"` with the recipients, and its sha256 and size; decrypted by the test it is
//! the (compressed) dump; no plaintext is left in the backup directory. `verify` without a key
//! checks the checksum only and says so (exit 0); `restore` without a key is refused (exit 2), as
//! is a wrong key (naming the backup); with either recipient's key (`--identity` or
//! BACKUP_IDENTITY_FILE) `verify` restores into a scratch database and `restore` gives back every
//! row. The private keys never appear in what the commands print. A malformed BACKUP_ENCRYPT_TO
//! stops `now` and `serve` at start with one line naming it (exit 2); a recipients file with
//! comments works; without a key, a backup recorded as failed still fails `verify` (exit 4). On SQLite against moto's S3: the encrypted backup is what the bucket holds,
//! and with the local directory gone `verify` and `restore` work `--from-remote`.

#[path = "backup_support.rs"]
mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use hbnb_tests::all_engines;
use hbnb_tests::backup::{list, run, seed, BackupDir, Output};
use hbnb_tests::db::{Api, Engine, TestDb};
use hbnb_tests::s3::S3Server;
use serde_json::json;
use sha2::{Digest, Sha256};
use support::Rows;

const USAGE: i32 = 2;
const AGE_HEADER: &[u8] = b"age-encryption.org/v1\n";
const BUCKET: &str = "hbnb-backups";

/// An age key pair made for the test: its identity file, as age-keygen writes one.
struct Key {
    public: String,
    secret: String,
    file: PathBuf,
}

impl Key {
    fn new(dir: &Path, name: &str) -> Key {
        let identity = age::x25519::Identity::generate();
        let public = identity.to_public().to_string();
        let secret = identity.to_string().expose_secret().to_owned();
        let file = dir.join(name);
        std::fs::write(
            &file,
            format!("# created: by the test\n# public key: {public}\n{secret}\n"),
        )
        .unwrap();
        Key {
            public,
            secret,
            file,
        }
    }

    fn path(&self) -> &str {
        self.file.to_str().unwrap()
    }

    /// The plaintext of an age file encrypted to this key.
    fn decrypt(&self, bytes: &[u8]) -> Vec<u8> {
        let identity: age::x25519::Identity = self.secret.parse().unwrap();
        let mut reader = age::Decryptor::new_buffered(bytes)
            .unwrap()
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        plain
    }
}

/// The backup files in `dir` (`hbnb-*`), sorted.
fn backup_files(dir: &BackupDir) -> Vec<String> {
    dir.files()
        .into_iter()
        .filter(|f| f.starts_with("hbnb-"))
        .collect()
}

/// What a command printed holds no private key, and it did not panic.
fn assert_clean(out: &Output, keys: &[&Key]) {
    for key in keys {
        // The secret's data part (after `AGE-SECRET-KEY-`), in either case.
        let secret = &key.secret[15..];
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !text.to_uppercase().contains(secret),
                "a private key was printed: {out:?}"
            );
        }
    }
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

async fn encrypted_round_trip(engine: Engine) {
    let api = Api::start(engine).await;
    let client = hbnb_tests::client();
    seed(&client, &api.api(""), 6).await;
    let before = Rows::read(&api.db.url).await;
    let dir = BackupDir::new();
    let keys = BackupDir::new();
    let key = Key::new(keys.path(), "key.txt");
    let second = Key::new(keys.path(), "second.txt");
    let wrong = Key::new(keys.path(), "wrong.txt");
    let all = [&key, &second, &wrong];
    let encrypt_to = format!("{}, {}", key.public, second.public);
    let env = [
        ("DATABASE_URL", api.db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
        ("BACKUP_ENCRYPT_TO", encrypt_to.as_str()),
    ];

    let out = run(&["now"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean(&out, &all);
    let id = out.stdout.trim().to_owned();
    let listed = list(&env).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let manifest = &listed[0];
    let (dump, compressed) = match engine {
        Engine::Sqlite => (format!("hbnb-{id}.sqlite"), true),
        Engine::Postgres => (format!("hbnb-{id}.pgdump"), true),
        Engine::Mysql => (format!("hbnb-{id}.sql"), true),
    };
    let file = if compressed {
        format!("{dump}.zst.age")
    } else {
        format!("{dump}.age")
    };
    assert_eq!(manifest["file"], file.as_str(), "{manifest}");
    assert_eq!(manifest["encryption"], "age", "{manifest}");
    assert_eq!(
        manifest["recipients"],
        json!([key.public, second.public]),
        "{manifest}"
    );
    assert_eq!(manifest["verification"]["ok"], true, "{manifest}");
    if compressed {
        assert_eq!(manifest["compression"], "zstd", "{manifest}");
    }

    // Stored: an age file, its checksum and size in the manifest; nothing else, nothing plain.
    let stored = std::fs::read(dir.path().join(&file)).unwrap();
    assert!(
        stored.starts_with(AGE_HEADER),
        "{:?}",
        String::from_utf8_lossy(&stored[..40.min(stored.len())])
    );
    assert!(!stored.starts_with(b"SQLite format 3"));
    assert!(!stored.starts_with(b"PGDMP"));
    assert!(!String::from_utf8_lossy(&stored).contains("INSERT INTO"));
    assert_eq!(manifest["size"].as_u64().unwrap(), stored.len() as u64);
    assert_eq!(
        manifest["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&stored))
    );
    assert_eq!(
        backup_files(&dir),
        [format!("hbnb-{id}.json"), file.clone()]
    );
    // Decrypted by the test: the dump, compressed before it was encrypted.
    let inner = second.decrypt(&stored);
    let plain = if compressed {
        zstd::decode_all(&inner[..]).unwrap()
    } else {
        inner
    };
    match engine {
        Engine::Sqlite => assert!(plain.starts_with(b"SQLite format 3\0")),
        Engine::Postgres => assert!(plain.starts_with(b"PGDMP")),
        Engine::Mysql => assert!(String::from_utf8_lossy(&plain).contains("INSERT INTO")),
    }

    // Without a key: verify checks the checksum and says the contents were not checked.
    let out = run(&["verify", &id], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("contents not checked"), "{out:?}");
    assert!(out.stdout.contains("--identity"), "{out:?}");
    assert_eq!(list(&env).await, listed, "the manifest is left as it was");

    // Without a key, restore is refused before it touches anything (exit 2).
    let untouched = TestDb::new(engine);
    let out = run(&["restore", &id, "--to", &untouched.url], &env).await;
    assert_eq!(out.code, Some(USAGE), "{out:?}");
    assert!(out.stderr.contains(&id), "{}", out.stderr);
    assert!(out.stderr.contains("--identity"), "{}", out.stderr);
    // A wrong key: refused cleanly, naming the backup, by restore and by verify.
    let out = run(
        &[
            "restore",
            &id,
            "--to",
            &untouched.url,
            "--identity",
            wrong.path(),
        ],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(USAGE), "{out:?}");
    assert!(out.stderr.contains(&id), "{}", out.stderr);
    assert!(out.stderr.contains("wrong key"), "{}", out.stderr);
    assert_clean(&out, &all);
    let out = run(&["verify", &id, "--identity", wrong.path()], &env).await;
    assert_eq!(out.code, Some(USAGE), "{out:?}");
    assert!(out.stderr.contains(&id), "{}", out.stderr);
    assert_clean(&out, &all);
    assert_eq!(
        list(&env).await,
        listed,
        "a wrong key is no failed verification"
    );
    assert_eq!(Rows::read(&untouched.url).await.total(), 0);

    // With a key: verify restores into a scratch database (the flag, or BACKUP_IDENTITY_FILE).
    let out = run(&["verify", &id, "--identity", key.path()], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{id} verified"));
    assert_clean(&out, &all);
    let mut with_identity = env.to_vec();
    with_identity.push(("BACKUP_IDENTITY_FILE", second.path()));
    let out = run(&["verify", "latest"], &with_identity).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{id} verified"));

    // Restore with the second recipient's key: every column of every row is back.
    let fresh = TestDb::new(engine);
    let out = run(
        &[
            "restore",
            &id,
            "--to",
            &fresh.url,
            "--identity",
            second.path(),
        ],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean(&out, &all);
    assert_eq!(Rows::read(&fresh.url).await, before);

    // Nothing decrypted is left behind.
    assert_eq!(backup_files(&dir), [format!("hbnb-{id}.json"), file]);
}

all_engines!(encrypted_round_trip);

/// A SQLite database with a few rows, made through the storage crate.
async fn small_sqlite() -> TestDb {
    let db = TestDb::new(Engine::Sqlite);
    let store = hbnb_storage::Database::connect(&db.url).await.unwrap();
    for name in ["A", "B", "C"] {
        store.create_state(name).await.unwrap();
    }
    store.close().await;
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_recipients_are_refused_at_start() {
    let db = small_sqlite().await;
    let dir = BackupDir::new();
    let keys = BackupDir::new();
    let key = Key::new(keys.path(), "key.txt");
    let missing = keys.path().join("missing.txt");
    let not_a_key = format!("{},age1notakey", key.public);
    for (value, says) in [
        (not_a_key.as_str(), "age1notakey"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA", "recipients file"),
        (missing.to_str().unwrap(), "missing.txt"),
        (key.secret.as_str(), "private key"),
    ] {
        let env = [
            ("DATABASE_URL", db.url.as_str()),
            ("BACKUP_DIR", dir.as_str()),
            ("BACKUP_ENCRYPT_TO", value),
            ("PORT", "0"),
        ];
        for command in [&["now"][..], &["serve"][..], &[][..]] {
            let out = run(command, &env).await;
            assert_eq!(out.code, Some(USAGE), "{command:?} {value}: {out:?}");
            assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
            assert!(
                out.stderr.starts_with("error: BACKUP_ENCRYPT_TO"),
                "{out:?}"
            );
            assert!(out.stderr.contains(says), "{out:?}");
            assert_clean(&out, &[&key]);
        }
    }
    assert!(backup_files(&dir).is_empty(), "{:?}", dir.files());
    // Commands that do not back up do not need it (a host that only restores).
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
        ("BACKUP_ENCRYPT_TO", missing.to_str().unwrap()),
    ];
    assert_eq!(list(&env).await, Vec::<serde_json::Value>::new());

    // A recipients file as `age -R` reads it: comments, blank lines.
    let other = Key::new(keys.path(), "other.txt");
    let recipients = keys.path().join("recipients.txt");
    std::fs::write(
        &recipients,
        format!(
            "# the backup keys\n{}\n\n   # retired: age1...\n{}\n",
            key.public, other.public
        ),
    )
    .unwrap();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
        ("BACKUP_ENCRYPT_TO", recipients.to_str().unwrap()),
    ];
    let out = run(&["now"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let manifest = list(&env).await.remove(0);
    assert_eq!(manifest["recipients"], json!([key.public, other.public]));
    let stored = std::fs::read(dir.path().join(manifest["file"].as_str().unwrap())).unwrap();
    let plain = zstd::decode_all(&other.decrypt(&stored)[..]).unwrap();
    assert!(plain.starts_with(b"SQLite format 3\0"));
    // An identity file that is not one: exit 2, the file and line named, the line not repeated.
    let bad = keys.path().join("bad.txt");
    std::fs::write(&bad, "# comment\nAGE-SECRET-KEY-1NOTAKEYATALL\n").unwrap();
    let out = run(
        &["verify", "latest", "--identity", bad.to_str().unwrap()],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(USAGE), "{out:?}");
    assert!(out.stderr.contains("line 2"), "{out:?}");
    assert!(!out.stderr.contains("NOTAKEYATALL"), "{out:?}");

    // Without a key, a backup whose recorded verification failed still fails verify (exit 4).
    let id = manifest["id"].as_str().unwrap().to_owned();
    let path = dir.path().join(format!("hbnb-{id}.json"));
    let mut failed = manifest.clone();
    failed["verification"]["ok"] = json!(false);
    failed["verification"]["error"] = json!("states: 2 rows restored, 3 expected");
    std::fs::write(&path, serde_json::to_vec_pretty(&failed).unwrap()).unwrap();
    let out = run(&["verify", &id], &env).await;
    assert_eq!(out.code, Some(4), "{out:?}");
    assert!(out.stderr.contains("contents not checked"), "{out:?}");
    assert!(out.stderr.contains("2 rows restored"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_disk_lost() {
    let db = small_sqlite().await;
    let before = Rows::read(&db.url).await;
    let dir = BackupDir::new();
    let keys = BackupDir::new();
    let key = Key::new(keys.path(), "key.txt");
    let s3 = S3Server::start(keys.path());
    s3.create_bucket(BUCKET);
    let mut owned = s3.env();
    owned.extend([
        ("DATABASE_URL", db.url.clone()),
        ("BACKUP_DIR", dir.as_str().to_owned()),
        ("BACKUP_REMOTE", format!("s3://{BUCKET}/site")),
        ("BACKUP_ENCRYPT_TO", key.public.clone()),
    ]);
    let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let out = run(&["now"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let id = out.stdout.trim().to_owned();
    let file = format!("hbnb-{id}.sqlite.zst.age");
    assert_eq!(
        s3.keys(BUCKET),
        [format!("site/hbnb-{id}.json"), format!("site/{file}")]
    );
    // The bucket holds the encrypted file, byte for byte the local one.
    let copy = keys.path().join("copy");
    s3.get(BUCKET, &format!("site/{file}"), &copy);
    let object = std::fs::read(&copy).unwrap();
    assert!(object.starts_with(AGE_HEADER));
    assert_eq!(object, std::fs::read(dir.path().join(&file)).unwrap());

    // The disk is lost.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let out = run(&["verify", "latest", "--from-remote"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("contents not checked"), "{out:?}");
    let fresh = TestDb::new(Engine::Sqlite);
    let out = run(
        &["restore", "latest", "--from-remote", "--to", &fresh.url],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(USAGE), "{out:?}");
    assert!(out.stderr.contains("--identity"), "{out:?}");
    let out = run(
        &[
            "verify",
            "latest",
            "--from-remote",
            "--identity",
            key.path(),
        ],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.trim(), format!("{id} verified"));
    let out = run(
        &[
            "restore",
            "latest",
            "--from-remote",
            "--to",
            &fresh.url,
            "--identity",
            key.path(),
        ],
        &env,
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_clean(&out, &[&key]);
    assert_eq!(Rows::read(&fresh.url).await, before);
    // Neither the download nor its plaintext is left behind.
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.starts_with(".remote") && !n.contains(".partial")),
        "{left:?}"
    );
}
