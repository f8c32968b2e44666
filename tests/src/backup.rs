//! Helpers for the db-backup tests: run its commands, seed data through the API, poll, read
//! metrics. (Reading every row goes through the storage crate, a dev-dependency: see
//! tests/tests/backup_support.rs.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::post;
use crate::bin_path;

/// A backup directory for one test, removed when dropped.
pub struct BackupDir(pub PathBuf);

impl BackupDir {
    pub fn new() -> BackupDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path =
            std::env::temp_dir().join(format!("hbnb_backups_{}_{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create backup dir");
        BackupDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }

    /// Every file name in the directory.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read backup dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Default for BackupDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BackupDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `db-backup <args>` with `env` and waits (deadline 120 s).
pub async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = command(args, env);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("db-backup {args:?} did not finish within 120 s"))
        .expect("run db-backup");
    Output {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub fn command(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(bin_path("db-backup"));
    command
        .args(args)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// `db-backup now`, asserting success; returns the new backup's id.
pub async fn now(env: &[(&str, &str)]) -> String {
    let out = run(&["now"], env).await;
    assert_eq!(out.code, Some(0), "db-backup now failed: {out:?}");
    out.stdout.trim().to_owned()
}

/// `db-backup list --json`.
pub async fn list(env: &[(&str, &str)]) -> Vec<Value> {
    let out = run(&["list", "--json"], env).await;
    assert_eq!(out.code, Some(0), "db-backup list failed: {out:?}");
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("list --json is not JSON ({e}): {}", out.stdout))
        .as_array()
        .expect("a JSON array")
        .clone()
}

/// The manifest's per-table row counts as a map.
pub fn manifest_counts(manifest: &Value) -> BTreeMap<String, i64> {
    manifest["tables"]
        .as_object()
        .expect("tables in the manifest")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().expect("a count")))
        .collect()
}

/// Seeds every table through the API (`base` is `http://host:port/api/v1`): nulls, unicode,
/// floats, links. Returns the ids of the states, users and amenities it made (the roots).
pub async fn seed(client: &reqwest::Client, base: &str, scale: usize) -> Vec<(String, String)> {
    let mut roots = Vec::new();
    let mut amenities = Vec::new();
    for i in 0..3 {
        let (status, amenity) = post(
            client,
            &format!("{base}/amenities"),
            &json!({"name": format!("Wifi {i} ✓")}),
        )
        .await;
        assert_eq!(status, 201, "{amenity}");
        let id = amenity["id"].as_str().expect("id").to_owned();
        roots.push(("amenities".to_owned(), id.clone()));
        amenities.push(id);
    }
    for i in 0..scale {
        let (status, user) = post(
            client,
            &format!("{base}/users"),
            &json!({"email": format!("u{i}@example.com"), "password": "pw", "first_name": if i % 2 == 0 { json!("Zoé") } else { json!(null) }}),
        )
        .await;
        assert_eq!(status, 201, "{user}");
        let user_id = user["id"].as_str().expect("id").to_owned();
        roots.push(("users".to_owned(), user_id.clone()));
        let (status, state) = post(
            client,
            &format!("{base}/states"),
            &json!({"name": format!("State {i} 'quoted' \"x\"")}),
        )
        .await;
        assert_eq!(status, 201, "{state}");
        let state_id = state["id"].as_str().expect("id").to_owned();
        roots.push(("states".to_owned(), state_id.clone()));
        let (status, city) = post(
            client,
            &format!("{base}/states/{state_id}/cities"),
            &json!({"name": format!("City {i}")}),
        )
        .await;
        assert_eq!(status, 201, "{city}");
        let city_id = city["id"].as_str().expect("id");
        let (status, place) = post(
            client,
            &format!("{base}/cities/{city_id}/places"),
            &json!({"user_id": user_id, "name": format!("Place {i}"), "description": if i % 3 == 0 { json!(null) } else { json!("line\nbreak") },
                    "number_rooms": i, "price_by_night": 100 + i, "latitude": 37.7749 + i as f64 * 0.1, "longitude": -122.4194}),
        )
        .await;
        assert_eq!(status, 201, "{place}");
        let place_id = place["id"].as_str().expect("id");
        let (status, review) = post(
            client,
            &format!("{base}/places/{place_id}/reviews"),
            &json!({"user_id": user_id, "text": format!("Great {i}!")}),
        )
        .await;
        assert_eq!(status, 201, "{review}");
        let amenity = &amenities[i % amenities.len()];
        let (status, body) = post(
            client,
            &format!("{base}/places/{place_id}/amenities/{amenity}"),
            &json!({}),
        )
        .await;
        assert!(status == 201 || status == 200, "link: {status} {body}");
    }
    roots
}

/// Polls `check` every 20 ms until it returns Some, or panics after `deadline` with `what`.
pub async fn poll<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One value of a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Runs SQL on the PostgreSQL admin URL with psql.
pub fn psql(sql: &str) {
    let output = std::process::Command::new("psql")
        .arg(crate::db::admin_url())
        .args(["-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
