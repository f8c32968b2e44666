//! db-backup on SQLite, PostgreSQL and MariaDB: seed through the API, back up, wipe, restore, and every
//! column of every row is back; a backup under 50 concurrent API writers restores consistent;
//! SIGKILL mid-dump leaves nothing `list` shows and the next run succeeds; a flipped byte fails
//! `verify` with exit code 4. SQLite and MySQL dumps are stored zstd-compressed, PostgreSQL's as
//! pg_dump writes them; a backup stored uncompressed (as before compression) still verifies and
//! restores.

#[path = "backup_support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hbnb_tests::all_engines;
use hbnb_tests::api::{delete, post};
use hbnb_tests::backup::{list, manifest_counts, now, poll, run, seed, BackupDir};
use hbnb_tests::db::{Api, Engine, TestDb};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::Rows;

const VERIFICATION_FAILED: i32 = 4;
const REFUSED: i32 = 5;

async fn round_trip(engine: Engine) {
    let mut api = Api::start(engine).await;
    let client = hbnb_tests::client();
    let base = api.api("");
    let roots = seed(&client, &base, 8).await;
    let before = Rows::read(&api.db.url).await;
    assert_eq!(before.states.len(), 8);
    assert_eq!(before.place_amenity.len(), 8);
    let dir = BackupDir::new();
    let env = [
        ("DATABASE_URL", api.db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
    ];

    let id = now(&env).await;
    let listed = list(&env).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let manifest = &listed[0];
    assert_eq!(manifest["id"], id.as_str());
    assert_eq!(manifest["verification"]["ok"], true, "{manifest}");
    assert_eq!(manifest_counts(manifest), before.counts());
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);
    let file = dir.path().join(manifest["file"].as_str().unwrap());
    assert_eq!(
        manifest["size"].as_u64().unwrap(),
        std::fs::metadata(&file).unwrap().len()
    );
    assert!(manifest["migration_version"].as_i64().unwrap() > 0);
    let engine_name = match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
    };
    assert_eq!(manifest["engine"], engine_name);
    assert!(!manifest["server_version"].as_str().unwrap().is_empty());
    assert!(manifest["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(manifest["duration_ms"].is_u64());
    assert!(
        !dir.files().iter().any(|f| f.contains(".partial")),
        "{:?}",
        dir.files()
    );

    // The live database has rows: restore refuses without --force.
    let refused = run(&["restore", &id], &env).await;
    assert_eq!(refused.code, Some(REFUSED), "{refused:?}");
    assert_eq!(Rows::read(&api.db.url).await, before);

    // Into a brand-new database.
    let fresh = TestDb::new(engine);
    let out = run(&["restore", &id, "--to", &fresh.url], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&fresh.url).await, before);

    // Wipe the live database through the API, then restore into it.
    for (kind, id) in &roots {
        let (status, body) = delete(&client, &format!("{base}/{kind}/{id}")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(Rows::read(&api.db.url).await.total(), 0);
    api.service.signal("TERM");
    assert_eq!(api.service.wait_exit(Duration::from_secs(30)), Some(0));
    let out = run(&["restore", &id], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&api.db.url).await, before);
    // --force replaces a non-empty database.
    let out = run(&["restore", &id, "--force"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&api.db.url).await, before);

    // One flipped byte: verify fails with its exit code, and restore refuses the file.
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&file, bytes).unwrap();
    let out = run(&["verify", &id], &env).await;
    assert_eq!(out.code, Some(VERIFICATION_FAILED), "{out:?}");
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    let listed = list(&env).await;
    assert_eq!(listed[0]["verification"]["ok"], false);
    let out = run(&["restore", &id, "--to", &TestDb::new(engine).url], &env).await;
    assert_eq!(out.code, Some(VERIFICATION_FAILED), "{out:?}");
    // Unknown ids have their own code.
    let out = run(&["verify", "19990101"], &env).await;
    assert_eq!(out.code, Some(6), "{out:?}");
}

async fn under_concurrent_writers(engine: Engine) {
    let api = Api::start(engine).await;
    let client = hbnb_tests::client();
    let base = api.api("");
    let roots = seed(&client, &base, 2).await;
    let user_id = roots.iter().find(|(k, _)| k == "users").unwrap().1.clone();
    let amenity_id = roots
        .iter()
        .find(|(k, _)| k == "amenities")
        .unwrap()
        .1
        .clone();
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..50 {
        let (client, base, user_id, amenity_id) = (
            client.clone(),
            base.clone(),
            user_id.clone(),
            amenity_id.clone(),
        );
        let (stop, writes) = (stop.clone(), writes.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let ok = |s: reqwest::StatusCode| s.is_success();
                let (s, state) = post(
                    &client,
                    &format!("{base}/states"),
                    &json!({"name": format!("w{w}-{i}")}),
                )
                .await;
                if !ok(s) {
                    continue;
                }
                writes.fetch_add(1, Ordering::SeqCst);
                let state_id = state["id"].as_str().unwrap().to_owned();
                let (s, city) = post(
                    &client,
                    &format!("{base}/states/{state_id}/cities"),
                    &json!({"name": "c"}),
                )
                .await;
                if !ok(s) {
                    continue;
                }
                let city_id = city["id"].as_str().unwrap().to_owned();
                let (s, place) = post(
                    &client,
                    &format!("{base}/cities/{city_id}/places"),
                    &json!({"user_id": user_id, "name": "p"}),
                )
                .await;
                if !ok(s) {
                    continue;
                }
                let place_id = place["id"].as_str().unwrap().to_owned();
                let _ = post(
                    &client,
                    &format!("{base}/places/{place_id}/reviews"),
                    &json!({"user_id": user_id, "text": "t"}),
                )
                .await;
                let _ = post(
                    &client,
                    &format!("{base}/places/{place_id}/amenities/{amenity_id}"),
                    &json!({}),
                )
                .await;
                writes.fetch_add(4, Ordering::SeqCst);
                // Every other chain goes again (cascading delete): writes and deletes interleave.
                if i.is_multiple_of(2) {
                    let _ = delete(&client, &format!("{base}/states/{state_id}")).await;
                }
            }
        }));
    }
    poll(Duration::from_secs(60), "the writers to get going", || {
        let n = writes.load(Ordering::SeqCst);
        async move { (n >= 200).then_some(()) }
    })
    .await;
    let dir = BackupDir::new();
    let env = [
        ("DATABASE_URL", api.db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
    ];
    let before = writes.load(Ordering::SeqCst);
    let id = now(&env).await;
    let after = writes.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        after > before,
        "the API kept writing during the backup ({before} -> {after})"
    );

    let listed = list(&env).await;
    let manifest = listed.iter().find(|m| m["id"] == id.as_str()).unwrap();
    assert_eq!(manifest["verification"]["ok"], true, "{manifest}");
    let fresh = TestDb::new(engine);
    let out = run(&["restore", &id, "--to", &fresh.url], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let restored = Rows::read(&fresh.url).await;
    assert_eq!(restored.counts(), manifest_counts(manifest));
    assert!(restored.states.len() > 2, "{:?}", restored.counts());
    restored.assert_foreign_keys();
}

async fn sigkill_mid_dump(engine: Engine) {
    let db = TestDb::new(engine);
    // Enough data (~12 MB) that the dump and its verification take a while.
    {
        let store = hbnb_storage::Database::connect(&db.url).await.unwrap();
        let user = store
            .create_user("big@example.com", "x", None, None)
            .await
            .unwrap();
        let state = store.create_state("Big").await.unwrap();
        let city = store.create_city(&state.id, "Big").await.unwrap();
        let fields = hbnb_storage::PlaceFields {
            name: "Big".to_owned(),
            ..Default::default()
        };
        let place = store
            .create_place(&city.id, &user.id, &fields)
            .await
            .unwrap();
        let text = "x".repeat(1000);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, place_id, user_id, text) = (
                store.clone(),
                place.id.clone(),
                user.id.clone(),
                text.clone(),
            );
            tasks.push(tokio::spawn(async move {
                for _ in 0..1500 {
                    store
                        .create_review(&place_id, &user_id, &text)
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        store.close().await;
    }
    let dir = BackupDir::new();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
    ];
    let mut child = hbnb_tests::backup::command(&["now"], &env).spawn().unwrap();
    poll(Duration::from_secs(60), "a .partial file", || {
        let found = dir.files().iter().any(|f| f.ends_with(".partial"));
        let exited = child.try_wait().unwrap();
        assert!(
            exited.is_none() || found,
            "the dump finished before it could be killed"
        );
        async move { found.then_some(()) }
    })
    .await;
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    assert_eq!(list(&env).await, Vec::<serde_json::Value>::new());
    assert!(
        !dir.files().iter().any(|f| f.ends_with(".json")),
        "{:?}",
        dir.files()
    );

    let id = now(&env).await;
    let listed = list(&env).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["verification"]["ok"], true);
    assert_eq!(listed[0]["tables"]["reviews"], 12000);
    let files = dir.files();
    assert!(!files.iter().any(|f| f.contains(".partial")), "{files:?}");
    assert_eq!(
        files.iter().filter(|f| f.starts_with("hbnb-")).count(),
        2,
        "{files:?}"
    );
}

async fn compressed_and_uncompressed(engine: Engine) {
    let api = Api::start(engine).await;
    let client = hbnb_tests::client();
    seed(&client, &api.api(""), 4).await;
    let before = Rows::read(&api.db.url).await;
    let dir = BackupDir::new();
    let env = [
        ("DATABASE_URL", api.db.url.as_str()),
        ("BACKUP_DIR", dir.as_str()),
    ];
    let id = now(&env).await;
    let manifest = list(&env).await.remove(0);
    let file = manifest["file"].as_str().unwrap().to_owned();
    assert!(file.ends_with(".zst"), "{file}");
    assert_eq!(manifest["compression"], "zstd");
    let packed = std::fs::read(dir.path().join(&file)).unwrap();
    assert_eq!(manifest["size"].as_u64().unwrap(), packed.len() as u64);
    assert_eq!(
        manifest["sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&packed))
    );
    let plain = zstd::decode_all(&packed[..]).unwrap();
    if engine == Engine::Postgres {
        // pg_dump's custom format, written uncompressed (zstd does it).
        assert!(plain.starts_with(b"PGDMP"), "{:?}", &plain[..16]);
    }
    assert!(
        plain.len() > 2 * packed.len(),
        "{} -> {}",
        plain.len(),
        packed.len()
    );
    // The compressed backup restores.
    let fresh = TestDb::new(engine);
    let out = run(&["restore", &id, "--to", &fresh.url], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&fresh.url).await, before);

    // As db-backup stored it before compression: the plain dump, a manifest without
    // `compression`, its checksum the plain file's.
    let plain_name = file.strip_suffix(".zst").unwrap().to_owned();
    std::fs::write(dir.path().join(&plain_name), &plain).unwrap();
    std::fs::remove_file(dir.path().join(&file)).unwrap();
    let mut old = manifest.clone();
    old.as_object_mut().unwrap().remove("compression");
    old["file"] = json!(plain_name);
    old["size"] = json!(plain.len());
    old["sha256"] = json!(hex::encode(Sha256::digest(&plain)));
    std::fs::write(
        dir.path().join(format!("hbnb-{id}.json")),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    let out = run(&["verify", "latest"], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let fresh = TestDb::new(engine);
    let out = run(&["restore", "latest", "--to", &fresh.url], &env).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(Rows::read(&fresh.url).await, before);
    // Nothing decompressed is left behind.
    assert_eq!(
        dir.files()
            .iter()
            .filter(|f| f.starts_with("hbnb-"))
            .count(),
        2,
        "{:?}",
        dir.files()
    );
}

all_engines!(
    round_trip,
    under_concurrent_writers,
    sigkill_mid_dump,
    compressed_and_uncompressed
);
