//! The server's side of point-in-time recovery: `pg_basebackup` for the base backups and
//! `pg_receivewal` for the WAL, each run as a child process with the libpq URL of
//! `DATABASE_URL` (password through the environment). The role needs `REPLICATION` and the
//! server's pg_hba.conf a `replication` line for db-backup's host (docs/backups.md).

use std::path::PathBuf;
use std::str::FromStr;

use chrono::Utc;

use super::{base_file_name, segment_of, slot_name, write_base_manifest, Archive, Base};
use crate::compress;
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Result};
use crate::manifest::{self, PARTIAL};
use crate::pg::{self, find_tool, tool_command};
use crate::tool;

/// The PostgreSQL server of `DATABASE_URL`, and where its client tools are.
#[derive(Clone)]
pub(crate) struct PgSource {
    pub(crate) url: DatabaseUrl,
    pub(crate) bin_dir: Option<PathBuf>,
}

impl PgSource {
    /// The database of DATABASE_URL.
    fn database(&self) -> Result<String> {
        let options = sqlx::postgres::PgConnectOptions::from_str(self.url.as_str())
            .context("invalid PostgreSQL DATABASE_URL")?;
        // libpq's default database is the role's name.
        Ok(options
            .get_database()
            .unwrap_or(options.get_username())
            .to_owned())
    }

    async fn tool(&self, name: &str) -> Result<(PathBuf, String, String, u32)> {
        let mut conn = pg::connect(&self.url).await?;
        let (version, major) = pg::server_version(&mut conn).await?;
        let (path, line) = find_tool(name, self.bin_dir.as_deref(), major).await?;
        Ok((path, line, version, major))
    }

    /// Takes a base backup into the archive: `pg_basebackup` as a tar with the WAL that makes it
    /// consistent (`-X fetch`), compressed, its manifest written last.
    pub(crate) async fn base_backup(&self, archive: &Archive) -> Result<Base> {
        let started_at = Utc::now();
        let id = manifest::new_id(started_at);
        let mut conn = pg::connect(&self.url).await?;
        let (server_version, major) = pg::server_version(&mut conn).await?;
        let segment_size: String =
            sqlx::query_scalar("SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'")
                .fetch_one(&mut conn)
                .await
                .context("cannot read wal_segment_size")?;
        let segment_size: u64 = segment_size
            .parse()
            .map_err(|_| failed(format!("unexpected wal_segment_size {segment_size:?}")))?;
        let (database, user): (String, String) =
            sqlx::query_as("SELECT current_database()::text, current_user::text")
                .fetch_one(&mut conn)
                .await
                .context("cannot read the database's name")?;
        drop(conn);
        let (tool_path, _) = find_tool("pg_basebackup", self.bin_dir.as_deref(), major).await?;

        let dir = archive.base_dir();
        let scratch = dir.join(format!("base-{id}{PARTIAL}.d"));
        let stored = dir.join(format!("{}{PARTIAL}", base_file_name(&id)));
        let result = async {
            tokio::fs::create_dir_all(&scratch)
                .await
                .with_context(|| format!("cannot create {}", scratch.display()))?;
            let (mut command, libpq_url) = tool_command(&tool_path, &self.url);
            command
                .arg("--pgdata")
                .arg(&scratch)
                .args(["--format=tar", "--wal-method=fetch", "--checkpoint=fast"])
                .args(["--no-password", "--verbose"])
                .arg(format!("--label=db-backup {id}"))
                .arg("--dbname")
                .arg(libpq_url);
            let output = command.output().await.context("cannot run pg_basebackup")?;
            let log = String::from_utf8_lossy(&output.stderr).into_owned();
            if !output.status.success() {
                return Err(failed(format!(
                    "pg_basebackup failed ({}): {}",
                    output.status,
                    log.trim()
                )));
            }
            let points = BackupPoints::read(&log).ok_or_else(|| {
                failed(format!(
                    "pg_basebackup did not say where the WAL starts: {}",
                    log.trim()
                ))
            })?;
            let extra: Vec<String> = super::file_names(&scratch)
                .await?
                .into_iter()
                .filter(|name| name != "base.tar" && name != "backup_manifest")
                .collect();
            if !extra.is_empty() {
                return Err(failed(format!(
                    "the server has tablespaces outside its data directory ({}): not supported",
                    extra.join(", ")
                )));
            }
            compress::compress(&scratch.join("base.tar"), &stored).await?;
            let (sha256, size) = manifest::hash_file(&stored).await?;
            let base = Base {
                format: 1,
                file: base_file_name(&id),
                id: id.clone(),
                started_at,
                finished_at: Utc::now(),
                timeline: points.timeline,
                start_segment: segment_of(&points.start, points.timeline, segment_size)
                    .ok_or_else(|| failed(format!("unexpected WAL position {}", points.start)))?,
                start_lsn: points.start,
                end_lsn: points.end,
                server_version,
                major,
                database,
                user,
                sha256,
                size,
            };
            manifest::rename(&stored, &dir.join(&base.file)).await?;
            write_base_manifest(&dir, &base).await?;
            Ok(base)
        }
        .await;
        let _ = tokio::fs::remove_dir_all(&scratch).await;
        if result.is_err() {
            manifest::remove_if_exists(&stored).await;
        }
        result
    }
}

/// Where a base backup's WAL starts and ends, from `pg_basebackup --verbose`:
/// `write-ahead log start point: 0/2000028 on timeline 1`, `write-ahead log end point: 0/2000100`.
#[derive(Debug, PartialEq)]
struct BackupPoints {
    start: String,
    timeline: u32,
    end: String,
}

impl BackupPoints {
    fn read(log: &str) -> Option<BackupPoints> {
        let after = |marker: &str| {
            log.lines().find_map(|line| {
                line.split_once(marker)
                    .map(|(_, rest)| rest.trim().to_owned())
            })
        };
        let start_line = after("write-ahead log start point:")?;
        let mut words = start_line.split_whitespace();
        let start = words.next()?.to_owned();
        let timeline = start_line
            .rsplit_once("on timeline")
            .and_then(|(_, t)| t.trim().parse().ok())?;
        let end = after("write-ahead log end point:")?
            .split_whitespace()
            .next()?
            .to_owned();
        Some(BackupPoints {
            start,
            timeline,
            end,
        })
    }
}

impl PgSource {
    /// `pg_receivewal` streaming into the archive on the database's replication slot
    /// (`slot_name`), created first when missing.
    pub(crate) async fn receiver(&self, archive: &Archive) -> Result<tokio::process::Command> {
        let (tool_path, _, _, _) = self.tool("pg_receivewal").await?;
        let wal_dir = archive.wal_dir();
        let slot = slot_name(&self.database()?);
        let (mut create, libpq_url) = tool_command(&tool_path, &self.url);
        create
            .arg("--directory")
            .arg(&wal_dir)
            .arg(format!("--slot={slot}"))
            .args(["--create-slot", "--if-not-exists", "--no-password"])
            .arg("--dbname")
            .arg(&libpq_url);
        tool::run(&mut create, "pg_receivewal --create-slot").await?;

        let (mut command, _) = tool_command(&tool_path, &self.url);
        command
            .arg("--directory")
            .arg(&wal_dir)
            .arg(format!("--slot={slot}"))
            // Ends on a lost connection instead of retrying by itself, so the lag is seen.
            .args(["--no-loop", "--no-password", "--status-interval=5"])
            .arg("--dbname")
            .arg(&libpq_url);
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_where_the_backup_starts_and_ends() {
        let log = "pg_basebackup: initiating base backup, waiting for checkpoint to complete\n\
                   pg_basebackup: checkpoint completed\n\
                   pg_basebackup: write-ahead log start point: 0/2000028 on timeline 1\n\
                   pg_basebackup: write-ahead log end point: 0/2000100\n\
                   pg_basebackup: syncing data to disk ...\n";
        assert_eq!(
            BackupPoints::read(log),
            Some(BackupPoints {
                start: "0/2000028".into(),
                timeline: 1,
                end: "0/2000100".into()
            })
        );
        assert_eq!(BackupPoints::read("pg_basebackup: error"), None);
    }
}
