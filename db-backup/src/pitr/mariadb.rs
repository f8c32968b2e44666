//! Point-in-time recovery on MariaDB, with the server's binary log (`log_bin`):
//!
//! - **the base**: the regular dumps, which record where the binary log stood at their snapshot
//!   (`--master-data=2`, read into the manifest's `binlog`);
//! - **the log, streamed**: `mariadb-binlog --read-from-remote-server --raw --stop-never` (a
//!   replica's connection) into `BACKUP_DIR/pitr/binlog/`, copied to `<prefix>/pitr/binlog/`
//!   (the file being written sent again whenever it grew);
//! - **restore to a time**: the newest dump before the time restored as any dump is, then the
//!   log from its position replayed with `mariadb-binlog --stop-datetime` into the target (the
//!   events of the backed-up database only, renamed to the target's).
//!
//! The binary log's clock has whole seconds: a restore to T holds what was committed before
//! T's second began.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use sqlx::Connection;

use super::ship::send;
use super::{file_names, Archive, BINLOG};
use super::{Restored, Until};
use crate::backend::Backend;
use crate::backup::{self, BackupSettings};
use crate::compress;
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Error, Result};
use crate::manifest::{self, Engine, Manifest};
use crate::mysql::{self, MysqlBackend};
use crate::remote::{Remote, Staging};
use crate::tool;

/// The MariaDB server of `DATABASE_URL`, and where its client tools are.
#[derive(Clone)]
pub(crate) struct MariaSource {
    pub(crate) url: DatabaseUrl,
    pub(crate) bin_dir: Option<PathBuf>,
}

fn binlog_tool(bin_dir: Option<&Path>) -> PathBuf {
    match bin_dir {
        Some(dir) => dir.join("mariadb-binlog"),
        None => PathBuf::from("mariadb-binlog"),
    }
}

impl MariaSource {
    /// `mariadb-binlog` streaming the binary log into the archive from the newest file there
    /// (fetched again whole), or from the oldest the server still has.
    pub(crate) async fn receiver(&self, archive: &Archive) -> Result<tokio::process::Command> {
        let mut conn = mysql::connect(&self.url).await?;
        let server = mysql::server(&mut conn).await?;
        if !server.mariadb {
            return Err(failed(format!(
                "point-in-time recovery needs MariaDB's mariadb-binlog; the server is {}",
                server.version
            )));
        }
        if !mysql::binlog_on(&mut conn).await {
            return Err(failed(
                "the server writes no binary log: start it with log_bin (docs/backups.md)",
            ));
        }
        let dir = archive.binlog_dir();
        let first = match file_names(&dir).await?.into_iter().last() {
            Some(newest) => newest,
            None => {
                let logs: Vec<(String, u64)> = sqlx::query_as("SHOW BINARY LOGS")
                    .fetch_all(&mut conn)
                    .await
                    .context("cannot list the binary logs (the account needs BINLOG MONITOR)")?;
                logs.into_iter()
                    .next()
                    .map(|(name, _)| name)
                    .ok_or_else(|| failed("the server lists no binary log"))?
            }
        };
        let _ = conn.close().await;
        let target = mysql::target(&self.url)?;
        let mut command = mysql::tool_command(&binlog_tool(self.bin_dir.as_deref()), &target);
        command
            .args(["--read-from-remote-server", "--raw", "--stop-never"])
            // A replica's id of its own, so that it does not take another replica's place.
            .arg(format!(
                "--stop-never-slave-server-id={}",
                replica_id(&target.database)
            ))
            .arg(format!("--result-file={}/", dir.display()))
            .arg(first);
        Ok(command)
    }
}

/// A server id for the stream, from the database's name, away from the usual small ones.
fn replica_id(database: &str) -> u32 {
    let hash = database.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    1_000_000 + hash % 1_000_000
}

/// What was last sent of each binary log file.
#[derive(Default)]
pub(crate) struct BinlogShipper {
    sent: BTreeMap<String, (u64, SystemTime)>,
}

impl BinlogShipper {
    /// Copies to `remote` every binary log file that is new or grew; how many were sent.
    pub(crate) async fn ship(&mut self, remote: &Remote, archive: &Archive) -> Result<u64> {
        let on_remote = remote.list_folder(BINLOG).await?;
        let outgoing = archive.outgoing_dir();
        tokio::fs::create_dir_all(&outgoing)
            .await
            .with_context(|| format!("cannot create {}", outgoing.display()))?;
        let dir = archive.binlog_dir();
        let mut sent = 0;
        for name in file_names(&dir).await? {
            let Ok(meta) = tokio::fs::metadata(dir.join(&name)).await else {
                continue;
            };
            let seen = (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            );
            let object = format!("{name}.zst");
            if on_remote.contains_key(&object) && self.sent.get(&name) == Some(&seen) {
                continue;
            }
            if send(
                remote,
                &dir.join(&name),
                &outgoing,
                &format!("{BINLOG}/{object}"),
            )
            .await?
            {
                self.sent.insert(name, seen);
                sent += 1;
            }
        }
        Ok(sent)
    }
}

/// Removes the binary log files older than the one the oldest kept dump starts from, here and
/// on the remote; nothing while no kept dump records a position.
pub(crate) async fn prune(
    archive: &Archive,
    backup_dir: &Path,
    remote: Option<&Remote>,
) -> Result<()> {
    let kept = manifest::load_all(backup_dir).await?;
    let Some(first) = kept
        .iter()
        .find_map(|m| m.binlog.as_ref().map(|b| b.file.clone()))
    else {
        return Ok(());
    };
    let dir = archive.binlog_dir();
    for name in file_names(&dir).await? {
        if name < first {
            manifest::remove_if_exists(&dir.join(&name)).await;
        }
    }
    if let Some(remote) = remote {
        for object in remote.list_folder(BINLOG).await?.keys() {
            if object.trim_end_matches(".zst") < first.as_str() {
                remote.delete(&format!("{BINLOG}/{object}")).await?;
            }
        }
    }
    Ok(())
}

/// Restores the database as it was at `until`: the newest verified dump with a binary log
/// position before it (`latest`, or the dump `id`), then the log replayed up to `until`.
pub(crate) async fn restore_until(
    settings: &BackupSettings,
    id: &str,
    until: Until,
    to: Option<&str>,
    force: bool,
    from_remote: bool,
    identities: Option<&crate::encrypt::Identities>,
) -> Result<Restored> {
    let source = mysql::target(&settings.database_url()?)?;
    let target_url = match to {
        Some(to) => DatabaseUrl::parse(to)?,
        None => settings.database_url()?,
    };
    if target_url.engine() != Engine::Mysql {
        return Err(failed(
            "a MariaDB backup is restored into a MariaDB database",
        ));
    }
    let target = mysql::target(&target_url)?;
    let remote = if from_remote {
        Some(
            Remote::from_url(settings.backup_remote.as_deref())?
                .ok_or_else(|| failed("BACKUP_REMOTE is not set (s3://bucket/prefix)"))?,
        )
    } else {
        None
    };
    let all = match &remote {
        Some(remote) => remote.list().await?,
        None => manifest::load_all(&settings.backup_dir).await?,
    };
    let base = pick(all, id, until)?;
    // An encrypted dump (BACKUP_ENCRYPT_TO) needs its key: refused before anything is downloaded.
    if crate::encrypt::is_encrypted(&base)? {
        crate::encrypt::required(&base, identities, "restore --until")?;
    }
    let position = base
        .binlog
        .clone()
        .ok_or_else(|| failed("no binary log position"))?;
    tracing::info!(base = %base.id, ?until, "restoring the dump, then replaying the binary log");

    let staging = Staging::new(&settings.backup_dir).await?;
    match &remote {
        Some(remote) => {
            remote.download(&base, &staging.0).await?;
            backup::restore_in(settings, &staging.0, &base.id, to, force, identities).await?;
        }
        None => {
            backup::restore(settings, &base.id, to, force, identities).await?;
        }
    }
    let logs = match &remote {
        Some(remote) => fetch_remote(remote, &position.file, &staging.0).await?,
        None => {
            let dir = Archive::new(&settings.backup_dir).binlog_dir();
            file_names(&dir)
                .await?
                .into_iter()
                .filter(|name| *name >= position.file)
                .map(|name| dir.join(name))
                .collect()
        }
    };
    if logs.is_empty() {
        return Err(Error::NotFound(format!(
            "no binary log from {} on in the archive",
            position.file
        )));
    }
    replay(
        settings,
        &source.database,
        &target,
        position.position,
        until,
        &logs,
    )
    .await?;
    let backend = MysqlBackend {
        url: target_url,
        bin_dir: settings.mysql_bin_dir.clone(),
    };
    let (_, tables) = backend.inspect().await?;
    Ok(Restored {
        base: base.id,
        last_commit: None,
        rows: tables.values().sum(),
    })
}

/// The dump to start from: verified, with a binary log position, started before `until`.
fn pick(all: Vec<Manifest>, id: &str, until: Until) -> Result<Manifest> {
    let usable = |m: &Manifest| {
        m.verified()
            && m.binlog.is_some()
            && match until {
                Until::Time(t) => m.started_at <= t,
                Until::End => true,
            }
    };
    let found = if id == "latest" {
        all.into_iter().rev().find(usable)
    } else {
        all.into_iter()
            .filter(|m| m.id.starts_with(id))
            .find(usable)
    };
    found.ok_or_else(|| {
        Error::NotFound(format!(
            "no verified dump {id} with a binary log position before that time (is log_bin on, \
             and BACKUP_PITR?)"
        ))
    })
}

/// Downloads the remote's binary log files from `first` on into `dir`, decompressed.
async fn fetch_remote(remote: &Remote, first: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut logs = Vec::new();
    for object in remote.list_folder(BINLOG).await?.keys() {
        let Some(name) = object.strip_suffix(".zst") else {
            continue;
        };
        if name < first {
            continue;
        }
        let packed = dir.join(object);
        let key = format!("{BINLOG}/{object}");
        remote.get_file(&key, &packed).await?;
        let plain = dir.join(name);
        compress::decompress(&packed, &plain)
            .await
            .map_err(|e| Error::Verification(format!("{}: {e}", remote.object_url(&key))))?;
        manifest::remove_if_exists(&packed).await;
        logs.push(plain);
    }
    Ok(logs)
}

/// `mariadb-binlog` over `logs` from `position`, up to `until`, the events of `database`
/// renamed to the target's, piped into the client on the target. The events' own GTIDs are
/// left out: replayed, they would be logged again under their old numbers, out of order in the
/// target server's binary log.
async fn replay(
    settings: &BackupSettings,
    database: &str,
    target: &mysql::Target,
    position: u64,
    until: Until,
    logs: &[PathBuf],
) -> Result<()> {
    let mut reader = tool::command(&binlog_tool(settings.mysql_bin_dir.as_deref()));
    // --stop-datetime is read in the local time zone: UTC here, as `until` is.
    reader
        .env("TZ", "UTC")
        .arg("--no-defaults")
        // A log holding replayed events (a restore into the same server) has them out of order.
        .arg("--skip-gtid-strict-mode")
        .arg(format!("--start-position={position}"))
        // The filter names the database as the log does, before the rename.
        .arg(format!("--database={database}"));
    if database != target.database {
        reader.arg(format!("--rewrite-db={database}->{}", target.database));
    }
    if let Until::Time(time) = until {
        reader.arg(format!(
            "--stop-datetime={}",
            time.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    reader.args(logs);
    let mut reader = reader.spawn().context("cannot run mariadb-binlog")?;
    let events = reader
        .stdout
        .take()
        .ok_or_else(|| failed("mariadb-binlog has no output"))?;
    let client_tool = settings
        .mysql_bin_dir
        .as_ref()
        .map_or_else(|| PathBuf::from("mariadb"), |dir| dir.join("mariadb"));
    let mut client = mysql::tool_command(&client_tool, target);
    client
        .arg("--default-character-set=utf8mb4")
        .arg("--batch")
        .arg(&target.database)
        .stdin(Stdio::piped());
    let mut client = client.spawn().context("cannot run mariadb")?;
    let mut input = client
        .stdin
        .take()
        .ok_or_else(|| failed("mariadb takes no input"))?;
    let copy = tokio::spawn(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut lines = tokio::io::BufReader::new(events).lines();
        while let Some(line) = lines.next_line().await? {
            if line.contains("SET @@session.gtid_seq_no")
                || line.contains("SET @@session.gtid_domain_id")
            {
                continue;
            }
            input.write_all(line.as_bytes()).await?;
            input.write_all(b"\n").await?;
        }
        input.shutdown().await
    });
    let (read, applied) = tokio::join!(reader.wait_with_output(), client.wait_with_output());
    let read = read.context("mariadb-binlog")?;
    let applied = applied.context("mariadb")?;
    let copied = copy.await.context("the replay's pipe")?;
    if !read.status.success() {
        return Err(failed(format!(
            "mariadb-binlog failed ({}): {}",
            read.status,
            String::from_utf8_lossy(&read.stderr).trim()
        )));
    }
    if !applied.status.success() {
        return Err(failed(format!(
            "replaying the binary log failed ({}): {}",
            applied.status,
            String::from_utf8_lossy(&applied.stderr).trim()
        )));
    }
    copied.context("cannot pipe the binary log into mariadb")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_each_database_its_own_replica_id() {
        let a = replica_id("hbnb_prod");
        assert_eq!(a, replica_id("hbnb_prod"));
        assert_ne!(a, replica_id("hbnb_staging"));
        assert!((1_000_000..2_000_000).contains(&a));
    }
}
