//! Backup files and their manifests in the backup directory.
//!
//! A backup `<id>` (its UTC start time, e.g. `20250101T120000.123Z`) is two files:
//! `hbnb-<id>.sqlite`, `hbnb-<id>.pgdump` or `hbnb-<id>.sql` (MySQL/MariaDB) (the dump; SQLite's
//! and MySQL's are stored zstd-compressed, with `.zst` appended: compress.rs; with
//! `BACKUP_ENCRYPT_TO`, encrypted with age, with `.age` appended: encrypt.rs) and
//! `hbnb-<id>.json` (the manifest).
//! Both are written as `<name>.partial`, fsynced, renamed, then the directory is fsynced. Only a
//! manifest whose dump exists is a backup; `.partial` files are never listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Context, Error, Result};

pub const PREFIX: &str = "hbnb-";
pub const PARTIAL: &str = ".partial";

pub use hbnb_storage::Engine;

/// A dump's file extension: SQLite's own backup file, `pg_dump`'s custom format, plain SQL.
pub fn extension(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "pgdump",
        Engine::Mysql => "sql",
    }
}

/// What a restore into a scratch database found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub ok: bool,
    pub at: DateTime<Utc>,
    /// How it was checked, e.g. "sha256, pg_restore into a temporary database, row counts".
    pub method: String,
    pub duration_ms: u64,
    /// Row counts found in the restored copy (empty when the restore itself failed).
    pub restored_tables: BTreeMap<String, i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    /// The dump's file name, in the same directory.
    pub file: String,
    pub engine: Engine,
    pub server_version: String,
    /// The tool that wrote the dump (`pg_dump (PostgreSQL) 15.8`, `VACUUM INTO`).
    pub dump_tool: String,
    /// The newest applied sqlx migration of the dumped database.
    pub migration_version: i64,
    /// Rows per table in the dumped snapshot.
    pub tables: BTreeMap<String, i64>,
    /// sha256 and size of the stored file (compressed and encrypted, when it is).
    pub sha256: String,
    pub size: u64,
    /// `zstd` when the stored file is compressed (`<dump>.zst`); absent in older manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// MariaDB with its binary log on: where the log stood at the dump's snapshot, the start of
    /// a point-in-time recovery's replay (pitr/mariadb.rs). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog: Option<BinlogPosition>,
    /// `age` when the stored file is encrypted (`<dump>[.zst].age`, after compression); absent
    /// for backups not encrypted, and in older manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<String>,
    /// The age public keys (`age1...`) it is encrypted to: the private key of any of them
    /// decrypts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    pub started_at: DateTime<Utc>,
    /// Dump, checksum and verification, in milliseconds.
    pub duration_ms: u64,
    pub dump_duration_ms: u64,
    pub verification: Verification,
}

/// A position in a MariaDB server's binary log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogPosition {
    pub file: String,
    pub position: u64,
}

impl Manifest {
    pub fn verified(&self) -> bool {
        self.verification.ok
    }

    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.file)
    }
}

/// The id of a backup started at `time`: its UTC time to the millisecond.
pub fn new_id(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

pub fn dump_name(id: &str, engine: Engine) -> String {
    format!("{PREFIX}{id}.{}", extension(engine))
}

pub fn manifest_name(id: &str) -> String {
    format!("{PREFIX}{id}.json")
}

/// The id in a file name (`hbnb-<id>.json` / `.sqlite` / `.pgdump`, with `.zst` and `.age`),
/// if it is one of ours.
pub fn id_of(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix(".age").unwrap_or(rest);
    let rest = rest.strip_suffix(".zst").unwrap_or(rest);
    [".json", ".sqlite", ".pgdump", ".sql"]
        .iter()
        .find_map(|ext| rest.strip_suffix(ext))
}

/// Every backup in `dir` (manifest present, dump present), oldest first. A manifest that cannot be
/// read is reported and skipped, never fatal.
pub async fn load_all(dir: &Path) -> Result<Vec<Manifest>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut manifests = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .with_context(|| format!("cannot read {}", dir.display()))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) || !name.ends_with(".json") {
            continue;
        }
        match read(&entry.path()).await {
            Ok(manifest) => {
                if tokio::fs::try_exists(manifest.path(dir))
                    .await
                    .unwrap_or(false)
                {
                    manifests.push(manifest);
                } else {
                    tracing::warn!(manifest = %name, "the manifest's dump file is missing; not a backup");
                }
            }
            Err(error) => tracing::warn!(manifest = %name, %error, "unreadable manifest skipped"),
        }
    }
    manifests.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
    Ok(manifests)
}

pub async fn read(path: &Path) -> Result<Manifest> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("invalid manifest {}", path.display()))
}

/// The backup `id` (or a unique prefix of it; `latest` for the newest verified one).
pub async fn find(dir: &Path, id: &str) -> Result<Manifest> {
    let all = load_all(dir).await?;
    pick(all, id, &dir.display().to_string())
}

/// The backup `id` (a unique prefix, `latest`) among `all` (oldest first), found in `place`.
pub fn pick(all: Vec<Manifest>, id: &str, place: &str) -> Result<Manifest> {
    if id == "latest" {
        return all
            .into_iter()
            .rev()
            .find(Manifest::verified)
            .ok_or_else(|| Error::NotFound(format!("no verified backup in {place}")));
    }
    let id = id
        .strip_prefix(PREFIX)
        .map(|rest| id_of(id).unwrap_or(rest))
        .unwrap_or(id);
    if let Some(found) = all.iter().find(|m| m.id == id) {
        return Ok(found.clone());
    }
    let mut matching: Vec<_> = all.into_iter().filter(|m| m.id.starts_with(id)).collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(Error::NotFound(format!("no backup {id:?} in {place}"))),
        n => Err(Error::NotFound(format!(
            "{id:?} matches {n} backups; give more of the id"
        ))),
    }
}

/// Writes the manifest: `.partial`, fsync, rename, fsync the directory.
pub async fn write(dir: &Path, manifest: &Manifest) -> Result<()> {
    let name = manifest_name(&manifest.id);
    let partial = dir.join(format!("{name}{PARTIAL}"));
    let mut bytes = serde_json::to_vec_pretty(manifest).context("cannot encode the manifest")?;
    bytes.push(b'\n');
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .with_context(|| format!("cannot create {}", partial.display()))?;
        file.write_all(&bytes)
            .await
            .with_context(|| format!("cannot write {}", partial.display()))?;
        file.sync_all()
            .await
            .with_context(|| format!("cannot fsync {}", partial.display()))?;
        drop(file);
        rename(&partial, &dir.join(&name)).await
    }
    .await;
    if result.is_err() {
        remove_if_exists(&partial).await;
    }
    result
}

/// Renames and fsyncs the directory, so the new name survives a power cut.
pub async fn rename(from: &Path, to: &Path) -> Result<()> {
    tokio::fs::rename(from, to)
        .await
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    if let Some(dir) = to.parent() {
        fsync_dir(dir).await?;
    }
    Ok(())
}

pub async fn fsync_dir(dir: &Path) -> Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot fsync the directory {}", dir.display()))
    })
    .await
    .context("fsync task")?
}

pub async fn fsync_file(path: &Path) -> Result<()> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.sync_all()
        .await
        .with_context(|| format!("cannot fsync {}", path.display()))
}

/// sha256 (hex) and size of a file, read on the blocking pool.
pub async fn hash_file(path: &Path) -> Result<(String, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file
                .read(&mut buffer)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buffer[..n]);
        }
        let digest = hasher.finalize();
        let hex = digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok((hex, size))
    })
    .await
    .context("hash task")?
}

pub async fn remove_if_exists(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::error!(path = %path.display(), %error, "cannot remove"),
    }
}

/// Removes what an interrupted run left: `*.partial` files, and dumps that never got their
/// manifest. Call it only while holding the lock (no other run is writing).
pub async fn clean_leftovers(dir: &Path) -> Result<()> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut names = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .with_context(|| format!("cannot read {}", dir.display()))?
    {
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    for name in &names {
        if let Some(pid) = name
            .strip_prefix(".remote-")
            .and_then(|p| p.parse::<i32>().ok())
        {
            // A download of `--from-remote` whose process is gone (killed): it held a whole dump.
            // SAFETY: kill with signal 0 only asks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            if !alive {
                tracing::warn!(dir = %name, "removing what an interrupted --from-remote command left behind");
                let _ = tokio::fs::remove_dir_all(dir.join(name)).await;
            }
            continue;
        }
        let leftover = if name.starts_with(PREFIX) && name.contains(PARTIAL) {
            true
        } else if [".sqlite", ".pgdump", ".zst", ".age"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            match id_of(name) {
                Some(id) => !names.contains(&manifest_name(id)),
                None => false,
            }
        } else {
            false
        };
        if leftover {
            tracing::warn!(file = %name, "removing what an interrupted backup run left behind");
            remove_if_exists(&dir.join(name)).await;
        }
    }
    Ok(())
}

/// Removes `*.partial` files only (after abandoning a run this process was doing).
pub async fn clean_partials(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PREFIX) && name.contains(PARTIAL) {
            remove_if_exists(&entry.path()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_of_stored_names() {
        for name in [
            "hbnb-20250101T000000.000Z.json",
            "hbnb-20250101T000000.000Z.pgdump",
            "hbnb-20250101T000000.000Z.pgdump.age",
            "hbnb-20250101T000000.000Z.sql.zst",
            "hbnb-20250101T000000.000Z.sqlite.zst.age",
        ] {
            assert_eq!(id_of(name), Some("20250101T000000.000Z"), "{name}");
        }
        assert_eq!(id_of("other.age"), None);
    }

    #[tokio::test]
    async fn removes_encrypted_dumps_without_a_manifest() {
        let dir = std::env::temp_dir().join(format!("db_backup_orphans_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let orphan = dir.join("hbnb-20250101T000000.000Z.sql.zst.age");
        let kept = dir.join("hbnb-20250102T000000.000Z.pgdump.age");
        std::fs::write(&orphan, b"x").unwrap();
        std::fs::write(&kept, b"x").unwrap();
        std::fs::write(dir.join("hbnb-20250102T000000.000Z.json"), b"{}").unwrap();
        clean_leftovers(&dir).await.unwrap();
        assert!(!orphan.exists());
        assert!(kept.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn removes_downloads_of_dead_processes_only() {
        let dir = std::env::temp_dir().join(format!("db_backup_leftovers_{}", std::process::id()));
        let dead = dir.join(".remote-2147483646");
        let live = dir.join(format!(".remote-{}", std::process::id()));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        std::fs::write(dead.join("hbnb-x.sql.zst"), b"x").unwrap();
        clean_leftovers(&dir).await.unwrap();
        assert!(!dead.exists());
        assert!(live.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
