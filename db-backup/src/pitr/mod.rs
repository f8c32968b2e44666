//! Point-in-time recovery (`BACKUP_PITR=on`), on PostgreSQL the way pgBackRest and WAL-G do it,
//! with the server's own tools.
//!
//! - **Base backups**: `pg_basebackup` (tar, with the WAL it needs) every
//!   `BACKUP_PITR_BASE_INTERVAL`, stored zstd-compressed in `BACKUP_DIR/pitr/base/`.
//! - **The WAL, streamed**: `pg_receivewal` runs as long as the service does, on a replication
//!   slot (so the server keeps what was not received yet), into `BACKUP_DIR/pitr/wal/`.
//! - **Off the host**: with `BACKUP_REMOTE`, every finished WAL segment, the segment being
//!   written (`.partial`, sent again whenever it grew) and every base backup are copied under
//!   `<prefix>/pitr/` every `BACKUP_WAL_UPLOAD_INTERVAL`; what the remote holds is at most that
//!   old, which is the recovery point after losing this host's disk too.
//! - **Restore to a time**: `db-backup restore latest --until T` recovers a throwaway
//!   PostgreSQL server from a base backup and the WAL up to T (the server's own recovery,
//!   `recovery_target_time`), then copies the database out of it (`pg_dump`) into the target
//!   (`pg_restore`), as a restore of a dump does (postgres_restore.rs).
//!
//! Retention keeps the `BACKUP_PITR_KEEP_BASES` newest base backups and the WAL from the oldest
//! of them on, here and on the remote.
//!
//! On MariaDB the same service streams the binary log instead, and the regular dumps are the
//! bases (mariadb.rs). The rooms: postgres.rs (base backups, the `pg_receivewal` command),
//! postgres_restore.rs, mariadb.rs (stream, copies, restore), ship.rs (the WAL's copies and
//! retention), supervise.rs (the streaming tool kept running); this file holds the archive's
//! layout, the status and the service's loop.

mod mariadb;
mod postgres;
mod postgres_restore;
mod ship;
mod supervise;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use futures_util::future::BoxFuture;

use crate::backup::BackupSettings;
use crate::error::{failed, Context, Result};
use crate::manifest::{self, Engine, PARTIAL};
use crate::remote::Remote;

pub(crate) use mariadb::MariaSource;
pub(crate) use postgres::PgSource;

/// How far to replay: up to a time (every transaction committed at or before it), or to the
/// end of the archive (the disk-lost case).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Until {
    Time(DateTime<Utc>),
    End,
}

impl FromStr for Until {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Until, String> {
        if text == "end" {
            return Ok(Until::End);
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Until::Time(t.with_timezone(&Utc)))
            .map_err(|_| {
                format!(
                    "{text:?} is not a time with its offset (2026-12-07T14:04:00Z, \
                     2026-12-07T15:04:00+01:00) nor `end`"
                )
            })
    }
}

impl std::fmt::Display for Until {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Until::Time(time) => write!(f, "{}", time.to_rfc3339()),
            Until::End => write!(f, "the end of the archive"),
        }
    }
}

/// What a point-in-time restore did.
pub(crate) struct Restored {
    pub base: String,
    /// When the newest transaction it replayed committed.
    pub last_commit: Option<DateTime<Utc>>,
    pub rows: i64,
}

/// The replication slot the WAL is streamed from (created at start when missing), one per
/// database backed up, so that two db-backups of two databases on one server do not take each
/// other's. Its WAL is kept by the server until received: a db-backup stopped for days fills the
/// server's disk unless the server's `max_slot_wal_keep_size` caps it (docs/backups.md).
pub(crate) fn slot_name(database: &str) -> String {
    let mut name: String = format!("db_backup_{database}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    name.truncate(63);
    name
}

/// Where the archive lives: `<backup dir>/pitr/{base,wal}` locally, `<prefix>/pitr/{base,wal}/`
/// on the remote.
#[derive(Debug, Clone)]
pub(crate) struct Archive {
    root: PathBuf,
}

pub(crate) const BASE: &str = "pitr/base";
pub(crate) const WAL: &str = "pitr/wal";
pub(crate) const BINLOG: &str = "pitr/binlog";

impl Archive {
    pub(crate) fn new(backup_dir: &Path) -> Archive {
        Archive {
            root: backup_dir.join("pitr"),
        }
    }

    pub(crate) fn base_dir(&self) -> PathBuf {
        self.root.join("base")
    }

    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }

    /// MariaDB's binary log files, as the server names them.
    pub(crate) fn binlog_dir(&self) -> PathBuf {
        self.root.join("binlog")
    }

    /// Compressed copies on their way to the remote.
    pub(crate) fn outgoing_dir(&self) -> PathBuf {
        self.root.join("outgoing")
    }

    pub(crate) async fn create(&self) -> Result<()> {
        for dir in [self.base_dir(), self.wal_dir(), self.binlog_dir()] {
            tokio::fs::create_dir_all(&dir)
                .await
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(())
    }

    /// The base backups here (manifest and file present), oldest first.
    pub(crate) async fn bases(&self) -> Result<Vec<Base>> {
        let dir = self.base_dir();
        let mut bases = Vec::new();
        for name in file_names(&dir).await? {
            if !(name.starts_with(BASE_PREFIX) && name.ends_with(".json")) {
                continue;
            }
            let text = tokio::fs::read(dir.join(&name))
                .await
                .with_context(|| format!("cannot read {}", dir.join(&name).display()))?;
            match serde_json::from_slice::<Base>(&text) {
                Ok(base) if dir.join(&base.file).exists() => bases.push(base),
                Ok(_) => tracing::warn!(manifest = %name, "the base backup's file is missing"),
                Err(error) => tracing::warn!(manifest = %name, %error, "unreadable base manifest"),
            }
        }
        bases.sort_by_key(|b| b.started_at);
        Ok(bases)
    }
}

/// The names of the files in `dir` (none when it does not exist).
pub(crate) async fn file_names(dir: &Path) -> Result<Vec<String>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
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
    names.sort();
    Ok(names)
}

const BASE_PREFIX: &str = "base-";

/// A base backup: `base-<id>.tar.zst` (pg_basebackup's tar, with the WAL that makes it
/// consistent) and its manifest `base-<id>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Base {
    pub format: u32,
    pub id: String,
    pub file: String,
    pub started_at: DateTime<Utc>,
    /// When the copy became consistent: the earliest time it can be recovered to.
    pub finished_at: DateTime<Utc>,
    pub timeline: u32,
    pub start_lsn: String,
    /// The first WAL segment a recovery from it reads.
    pub start_segment: String,
    pub end_lsn: String,
    pub server_version: String,
    pub major: u32,
    /// The database the service backs up (the one a restore copies out).
    pub database: String,
    /// The role db-backup connects as (it exists in the recovered server).
    pub user: String,
    pub sha256: String,
    pub size: u64,
}

impl Base {
    pub(crate) fn manifest_name(&self) -> String {
        base_manifest_name(&self.id)
    }
}

pub(crate) fn base_manifest_name(id: &str) -> String {
    format!("{BASE_PREFIX}{id}.json")
}

pub(crate) fn base_file_name(id: &str) -> String {
    format!("{BASE_PREFIX}{id}.tar.zst")
}

/// Writes a base backup's manifest (`.partial`, fsync, rename): last, so a base whose copy was
/// cut is never listed.
pub(crate) async fn write_base_manifest(dir: &Path, base: &Base) -> Result<()> {
    let name = base.manifest_name();
    let partial = dir.join(format!("{name}{PARTIAL}"));
    let mut bytes = serde_json::to_vec_pretty(base).context("cannot encode the manifest")?;
    bytes.push(b'\n');
    tokio::fs::write(&partial, &bytes)
        .await
        .with_context(|| format!("cannot write {}", partial.display()))?;
    manifest::fsync_file(&partial).await?;
    manifest::rename(&partial, &dir.join(name)).await
}

/// A WAL file name's kind: a finished segment (`000000010000000000000003`), the segment being
/// written (`...03.partial`), or a timeline history (`00000002.history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalFile {
    Segment,
    Partial,
    History,
}

pub(crate) fn wal_kind(name: &str) -> Option<WalFile> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if hex(name, 24) {
        Some(WalFile::Segment)
    } else if name.strip_suffix(".partial").is_some_and(|s| hex(s, 24)) {
        Some(WalFile::Partial)
    } else if name.strip_suffix(".history").is_some_and(|s| hex(s, 8)) {
        Some(WalFile::History)
    } else {
        None
    }
}

/// The part of a segment name that orders segments across timelines: its log and segment
/// numbers (the last 16 digits).
pub(crate) fn segment_position(name: &str) -> &str {
    &name[name.len().saturating_sub(16)..]
}

/// The WAL segment holding `lsn` (`0/2000028`) on `timeline`, for segments of `segment_size`.
pub(crate) fn segment_of(lsn: &str, timeline: u32, segment_size: u64) -> Option<String> {
    let (high, low) = lsn.split_once('/')?;
    let position =
        (u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?;
    if segment_size == 0 {
        return None;
    }
    let segment = position / segment_size;
    let per_log = 0x1_0000_0000 / segment_size;
    Some(format!(
        "{timeline:08X}{:08X}{:08X}",
        segment / per_log,
        segment % per_log
    ))
}

/// What the archiver did, for /metrics and `/healthz`.
#[derive(Debug, Default, Clone)]
pub(crate) struct Status {
    /// Since when `pg_receivewal` has not been streaming (None while it runs).
    pub receiver_down_since: Option<Instant>,
    /// The last pass that left the remote holding every WAL file received.
    pub last_shipped: Option<Instant>,
    pub newest_base: Option<DateTime<Utc>>,
    pub base_failures: u64,
    pub upload_failures: u64,
    pub segments_uploaded: u64,
    pub remote: bool,
}

impl Status {
    /// How old the newest WAL is that a restore from the archive could lack: the time since the
    /// stream stopped, or (with a remote) since the remote last held everything received.
    pub(crate) fn lag(&self, started: Instant) -> Duration {
        let since = |t: Option<Instant>| t.map_or_else(|| started.elapsed(), |t| t.elapsed());
        let stream = self
            .receiver_down_since
            .map_or(Duration::ZERO, |t| t.elapsed());
        let remote = if self.remote {
            since(self.last_shipped)
        } else {
            Duration::ZERO
        };
        stream.max(remote)
    }
}

pub(crate) type SharedStatus = Arc<Mutex<Status>>;

pub(crate) fn update(status: &SharedStatus, change: impl FnOnce(&mut Status)) {
    let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
    change(&mut status);
}

/// One line for `db-backup list`: the base backups and how far the log goes, here or on the
/// remote; None when there is no point-in-time archive.
pub(crate) async fn describe(backup_dir: &Path, remote: Option<&Remote>) -> Result<Option<String>> {
    let archive = Archive::new(backup_dir);
    let (bases, wal, binlog) = match remote {
        Some(remote) => {
            let names = |folder: &'static str| async move {
                Ok::<_, crate::error::Error>(
                    remote
                        .list_folder(folder)
                        .await?
                        .into_keys()
                        .map(|name| name.trim_end_matches(".zst").to_owned())
                        .collect::<Vec<_>>(),
                )
            };
            (
                postgres_restore::remote_bases(remote).await?,
                names(WAL).await?,
                names(BINLOG).await?,
            )
        }
        None => (
            archive.bases().await?,
            file_names(&archive.wal_dir()).await?,
            file_names(&archive.binlog_dir()).await?,
        ),
    };
    if let Some(newest) = binlog.last() {
        return Ok(Some(format!(
            "point-in-time recovery: binary log up to {newest}, from the dumps that record a \
             position (restore latest --until <time|end>)"
        )));
    }
    let Some(oldest) = bases.first() else {
        return Ok(None);
    };
    let newest = wal
        .iter()
        .filter(|n| matches!(wal_kind(n), Some(WalFile::Segment | WalFile::Partial)))
        .max_by(|a, b| {
            segment_position(a.trim_end_matches(".partial"))
                .cmp(segment_position(b.trim_end_matches(".partial")))
        });
    Ok(Some(format!(
        "point-in-time recovery: {} base backup(s), the oldest consistent from {}; WAL up to {} \
         (restore latest --until <time|end>)",
        bases.len(),
        oldest.finished_at.to_rfc3339(),
        newest.map_or("none yet", String::as_str)
    )))
}

/// The database whose log is archived: PostgreSQL's WAL or MariaDB's binary log.
#[derive(Clone)]
pub(crate) enum Source {
    Postgres(PgSource),
    Mariadb(MariaSource),
}

impl Source {
    /// The source of `DATABASE_URL` (validated: PostgreSQL or MySQL/MariaDB).
    pub(crate) fn of(settings: &BackupSettings) -> Result<Source> {
        let url = settings.database_url()?;
        match url.engine() {
            Engine::Postgres => Ok(Source::Postgres(PgSource {
                url,
                bin_dir: settings.pg_bin_dir.clone(),
            })),
            Engine::Mysql => Ok(Source::Mariadb(MariaSource {
                url,
                bin_dir: settings.mysql_bin_dir.clone(),
            })),
            Engine::Sqlite => Err(failed(
                "BACKUP_PITR is for PostgreSQL and MariaDB: DATABASE_URL is a SQLite file",
            )),
        }
    }

    fn tool(&self) -> &'static str {
        match self {
            Source::Postgres(_) => "pg_receivewal",
            Source::Mariadb(_) => "mariadb-binlog",
        }
    }

    /// The streaming command, made afresh for each start.
    fn receiver(&self, archive: &Archive) -> BoxFuture<'static, Result<tokio::process::Command>> {
        let (source, archive) = (self.clone(), archive.clone());
        Box::pin(async move {
            match source {
                Source::Postgres(pg) => pg.receiver(&archive).await,
                Source::Mariadb(maria) => maria.receiver(&archive).await,
            }
        })
    }
}

/// `db-backup restore <id|latest> --until <time|end>`: PostgreSQL from a base backup and the
/// WAL (postgres_restore.rs), MariaDB from a dump and the binary log (mariadb.rs), as DATABASE_URL is.
/// `identities` decrypt an encrypted dump (BACKUP_ENCRYPT_TO: MariaDB's bases are the dumps).
pub(crate) async fn restore_until(
    settings: &BackupSettings,
    id: &str,
    until: Until,
    to: Option<&str>,
    force: bool,
    from_remote: bool,
    identities: Option<&crate::encrypt::Identities>,
) -> Result<Restored> {
    match Source::of(settings)? {
        Source::Postgres(_) => {
            postgres_restore::restore_until(settings, id, until, to, force, from_remote).await
        }
        Source::Mariadb(_) => {
            mariadb::restore_until(settings, id, until, to, force, from_remote, identities).await
        }
    }
}

/// The archiver of the service: streams the log, takes base backups when due (PostgreSQL; on
/// MariaDB the regular dumps are the bases), copies both to the remote and applies retention,
/// until `stop`.
pub(crate) async fn run(
    settings: BackupSettings,
    source: Source,
    remote: Option<Arc<Remote>>,
    status: SharedStatus,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let archive = Archive::new(&settings.backup_dir);
    if let Err(error) = archive.create().await {
        tracing::error!(%error, "point-in-time recovery is off: cannot create its directory");
        return;
    }
    update(&status, |s| s.remote = remote.is_some());
    let prepare = {
        let (source, archive) = (source.clone(), archive.clone());
        move || source.receiver(&archive)
    };
    let receiver = tokio::spawn(supervise::supervise(
        source.tool(),
        prepare,
        status.clone(),
        stop.clone(),
    ));
    let mut shipper = ship::Shipper::default();
    let mut binlog_shipper = mariadb::BinlogShipper::default();
    let mut stop = stop;
    loop {
        let based = match &source {
            Source::Postgres(pg) => take_base_if_due(&settings, pg, &archive, &status).await,
            Source::Mariadb(_) => newest_dump_base(&settings, &status).await,
        };
        if let Err(error) = based {
            update(&status, |s| s.base_failures += 1);
            tracing::error!(%error, "the base backup for point-in-time recovery failed");
        }
        if let Some(remote) = &remote {
            let shipped = match &source {
                Source::Postgres(_) => shipper.ship(remote, &archive).await,
                Source::Mariadb(_) => binlog_shipper.ship(remote, &archive).await,
            };
            match shipped {
                Ok(uploaded) => update(&status, |s| {
                    s.last_shipped = Some(Instant::now());
                    s.segments_uploaded += uploaded;
                }),
                Err(error) => {
                    update(&status, |s| s.upload_failures += 1);
                    tracing::error!(remote = %remote.url(), %error, "copying the log archive to the remote failed; retrying");
                }
            }
        }
        let pruned = match &source {
            Source::Postgres(_) => {
                ship::prune(&archive, remote.as_deref(), settings.pitr_keep_bases.max(1)).await
            }
            Source::Mariadb(_) => {
                mariadb::prune(&archive, &settings.backup_dir, remote.as_deref()).await
            }
        };
        if let Err(error) = pruned {
            tracing::warn!(%error, "point-in-time retention failed; retrying");
        }
        let wait = *settings.wal_upload_interval;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), receiver).await;
}

/// MariaDB: the newest dump that records a binary log position is the newest base.
async fn newest_dump_base(settings: &BackupSettings, status: &SharedStatus) -> Result<()> {
    let newest = manifest::load_all(&settings.backup_dir)
        .await?
        .into_iter()
        .rev()
        .find(|m| m.verified() && m.binlog.is_some())
        .map(|m| m.started_at);
    update(status, |s| s.newest_base = newest);
    Ok(())
}

/// Takes a base backup when none is younger than `BACKUP_PITR_BASE_INTERVAL`.
async fn take_base_if_due(
    settings: &BackupSettings,
    source: &PgSource,
    archive: &Archive,
    status: &SharedStatus,
) -> Result<()> {
    let newest = archive.bases().await?.last().map(|b| b.started_at);
    update(status, |s| s.newest_base = newest);
    let interval =
        chrono::Duration::from_std(*settings.pitr_base_interval).unwrap_or(chrono::Duration::MAX);
    if newest.is_some_and(|t| Utc::now() - t < interval) {
        return Ok(());
    }
    let base = source.base_backup(archive).await?;
    tracing::info!(id = %base.id, size = base.size, start = %base.start_lsn, "base backup taken for point-in-time recovery");
    update(status, |s| s.newest_base = Some(base.started_at));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wal_files() {
        assert_eq!(wal_kind("000000010000000000000003"), Some(WalFile::Segment));
        assert_eq!(
            wal_kind("000000010000000A000000FF.partial"),
            Some(WalFile::Partial)
        );
        assert_eq!(wal_kind("00000002.history"), Some(WalFile::History));
        assert_eq!(wal_kind("00000001000000000000000.partial"), None);
        assert_eq!(wal_kind("base-1.json"), None);
    }

    #[test]
    fn names_a_slot_per_database() {
        assert_eq!(slot_name("hbnb_dev_db"), "db_backup_hbnb_dev_db");
        assert_eq!(slot_name("Shop-DB"), "db_backup_shop_db");
        assert_eq!(slot_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn finds_the_segment_of_a_position() {
        let mb16 = 16 * 1024 * 1024;
        assert_eq!(
            segment_of("0/2000028", 1, mb16).as_deref(),
            Some("000000010000000000000002")
        );
        assert_eq!(
            segment_of("1A/FF000000", 3, mb16).as_deref(),
            Some("000000030000001A000000FF")
        );
        assert_eq!(
            segment_of("0/4000000", 1, 64 * 1024 * 1024).as_deref(),
            Some("000000010000000000000001")
        );
        assert_eq!(segment_of("nonsense", 1, mb16), None);
        assert_eq!(
            segment_position("000000030000001A000000FF"),
            "0000001A000000FF"
        );
    }
}
