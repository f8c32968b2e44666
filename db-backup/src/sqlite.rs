//! SQLite: `VACUUM INTO` (a consistent snapshot taken through SQLite itself while writers go on,
//! never a copy of the live files), verification in a temporary copy, restore.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};

use crate::backend::{Backend, Contents, Snapshot};
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Error, Result};
use crate::tables::{self, counts, migration_version, MIGRATION_VERSION};
use hbnb_storage::TABLES;

pub(crate) struct SqliteBackend {
    pub(crate) url: DatabaseUrl,
}

fn options(url: &DatabaseUrl) -> Result<SqliteConnectOptions> {
    Ok(SqliteConnectOptions::from_str(url.as_str())
        .context("invalid SQLite DATABASE_URL")?
        .busy_timeout(Duration::from_secs(30)))
}

/// Opens the live database; never creates it (a missing file is an error, not an empty backup).
async fn open_source(url: &DatabaseUrl) -> Result<SqliteConnection> {
    let options = options(url)?.create_if_missing(false);
    let path = options.get_filename().to_path_buf();
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Err(failed(format!(
            "the SQLite database {} does not exist",
            path.display()
        )));
    }
    options
        .connect()
        .await
        .with_context(|| format!("cannot open the SQLite database {}", path.display()))
}

/// Opens a backup file without writing anything beside it (no -wal/-shm).
async fn open_snapshot(path: &Path) -> Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true)
        .connect()
        .await
        .with_context(|| format!("cannot open the snapshot {}", path.display()))
}

/// A file in the temp directory, removed (with its -wal/-shm) on `cleanup`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Scratch(std::env::temp_dir().join(format!(
            "hbnb-backup-{tag}-{}-{nanos}.sqlite",
            std::process::id()
        )))
    }

    async fn cleanup(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            crate::manifest::remove_if_exists(Path::new(&format!("{}{suffix}", self.0.display())))
                .await;
        }
    }
}

/// True when the target has at least one row in one of the HBNB tables.
async fn has_rows(conn: &mut SqliteConnection) -> Result<Vec<String>> {
    let mut nonempty = Vec::new();
    for table in TABLES {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
        )
        .bind(table)
        .fetch_one(&mut *conn)
        .await
        .context("cannot read the target's schema")?;
        if exists == 0 {
            continue;
        }
        let any: Option<i64> = sqlx::query_scalar(&format!("SELECT 1 FROM {table} LIMIT 1"))
            .fetch_optional(&mut *conn)
            .await
            .with_context(|| format!("cannot read the target's {table}"))?;
        if any.is_some() {
            nonempty.push(table.to_owned());
        }
    }
    Ok(nonempty)
}

impl Backend for SqliteBackend {
    fn verification_method(&self) -> &'static str {
        "restore into a temporary SQLite file, integrity_check, foreign_key_check, row counts"
    }

    /// Writes a consistent snapshot of the live database to `partial` with `VACUUM INTO`, then reads
    /// the row counts and migration version from that snapshot (so they describe exactly the dump).
    async fn dump(&self, partial: &Path) -> Result<Snapshot> {
        let mut conn = open_source(&self.url).await?;
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
            .context("cannot query the SQLite version")?;
        let target = partial
            .to_str()
            .ok_or_else(|| failed("the backup path is not UTF-8"))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&mut conn)
            .await
            .context("VACUUM INTO failed")?;
        let _ = conn.close().await;
        let mut snapshot = open_snapshot(partial).await?;
        let tables = counts::<Sqlite>(&mut snapshot).await?;
        let migration_version =
            migration_version::<Sqlite>(&mut snapshot, MIGRATION_VERSION).await?;
        let _ = snapshot.close().await;
        Ok(Snapshot {
            server_version: format!("SQLite {version}"),
            dump_tool: "VACUUM INTO".to_owned(),
            migration_version,
            tables,
            binlog: None,
        })
    }

    /// Restores the backup into a temporary SQLite file and checks it: `integrity_check`,
    /// `foreign_key_check`, then returns its migration version and row counts.
    async fn restore_scratch(&self, file: &Path) -> Result<Contents> {
        let scratch = Scratch::new("verify");
        let result = async {
            tokio::fs::copy(file, &scratch.0)
                .await
                .with_context(|| format!("cannot copy {} to the temp directory", file.display()))?;
            let mut conn = SqliteConnectOptions::new()
                .filename(&scratch.0)
                .create_if_missing(false)
                .connect()
                .await
                .context("cannot open the restored copy")?;
            let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_all(&mut conn)
                .await
                .context("integrity_check failed")?;
            if integrity != ["ok"] {
                return Err(Error::Verification(format!(
                    "integrity_check: {}",
                    integrity.join("; ")
                )));
            }
            let violations = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&mut conn)
                .await
                .context("foreign_key_check failed")?;
            if !violations.is_empty() {
                let first: String = violations[0].try_get(0).unwrap_or_default();
                return Err(Error::Verification(format!(
                    "{} foreign key violations (first in {first})",
                    violations.len()
                )));
            }
            let version = migration_version::<Sqlite>(&mut conn, MIGRATION_VERSION).await?;
            let tables = counts::<Sqlite>(&mut conn).await?;
            let _ = conn.close().await;
            Ok((version, tables))
        }
        .await;
        scratch.cleanup().await;
        result
    }

    /// Restores the backup `file` into the SQLite database.
    ///
    /// A target that does not exist (or has no tables) gets the backup file itself (copied as
    /// `.partial`, fsynced, renamed). A target with the schema is refilled inside one transaction from
    /// the attached backup, so processes that have it open see the old or the new data, never a mix;
    /// its migration version must equal the backup's.
    async fn restore(&self, file: &Path, force: bool, migration: i64) -> Result<()> {
        let options = options(&self.url)?.create_if_missing(false);
        let target = options.get_filename().to_path_buf();
        let exists = tokio::fs::try_exists(&target).await.unwrap_or(false)
            && tokio::fs::metadata(&target)
                .await
                .map(|m| m.len() > 0)
                .unwrap_or(false);
        let has_schema = if exists {
            let mut conn = options
                .clone()
                .connect()
                .await
                .with_context(|| format!("cannot open {}", target.display()))?;
            let tables: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_one(&mut conn)
            .await
            .context("cannot read the target's schema")?;
            let nonempty = has_rows(&mut conn).await?;
            let _ = conn.close().await;
            if !nonempty.is_empty() && !force {
                return Err(Error::Refused(format!(
                    "{} is not empty (rows in {}); pass --force to replace its data",
                    target.display(),
                    nonempty.join(", ")
                )));
            }
            tables > 0
        } else {
            false
        };

        if !has_schema {
            if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let partial =
                PathBuf::from(format!("{}{}", target.display(), crate::manifest::PARTIAL));
            let result = async {
                tokio::fs::copy(file, &partial)
                    .await
                    .with_context(|| format!("cannot copy to {}", partial.display()))?;
                crate::manifest::fsync_file(&partial).await?;
                for suffix in ["-wal", "-shm"] {
                    crate::manifest::remove_if_exists(Path::new(&format!(
                        "{}{suffix}",
                        target.display()
                    )))
                    .await;
                }
                crate::manifest::rename(&partial, &target).await
            }
            .await;
            if result.is_err() {
                crate::manifest::remove_if_exists(&partial).await;
            }
            return result;
        }

        // Refill the existing schema from a scratch copy of the backup, in one transaction.
        let scratch = Scratch::new("restore");
        let result = async {
            tokio::fs::copy(file, &scratch.0)
                .await
                .with_context(|| format!("cannot copy {} to the temp directory", file.display()))?;
            let mut conn = options
                .connect()
                .await
                .with_context(|| format!("cannot open {}", target.display()))?;
            let target_version = migration_version::<Sqlite>(&mut conn, MIGRATION_VERSION).await?;
            if target_version != migration {
                return Err(failed(format!(
                    "the target's schema is at migration {target_version} but the backup's is at \
                     {migration}: restore into a new file instead (--to sqlite://new.sqlite)"
                )));
            }
            let scratch_path = scratch
                .0
                .to_str()
                .ok_or_else(|| failed("the temp path is not UTF-8"))?;
            sqlx::query("ATTACH DATABASE $1 AS backup")
                .bind(scratch_path)
                .execute(&mut conn)
                .await
                .context("cannot attach the backup")?;
            let copied = refill(&mut conn).await;
            let _ = sqlx::query("DETACH DATABASE backup")
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
            copied
        }
        .await;
        scratch.cleanup().await;
        result
    }

    /// What the database holds, read with sqlx's default busy timeout (not `options`' 30 s).
    async fn inspect(&self) -> Result<Contents> {
        let conn = SqliteConnectOptions::from_str(self.url.as_str())
            .context("invalid SQLite URL")?
            .create_if_missing(false)
            .connect()
            .await
            .context("cannot open the restored database")?;
        tables::inspect(conn, MIGRATION_VERSION).await
    }
}

async fn refill(conn: &mut SqliteConnection) -> Result<()> {
    let mut tx = conn.begin().await.context("cannot begin")?;
    for table in TABLES.iter().rev() {
        sqlx::query(&format!("DELETE FROM main.{table}"))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("cannot empty {table}"))?;
    }
    for table in TABLES {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1, 'backup')")
                .bind(table)
                .fetch_all(&mut *tx)
                .await
                .with_context(|| format!("cannot read the columns of {table}"))?;
        let list = columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(&format!(
            "INSERT INTO main.{table} ({list}) SELECT {list} FROM backup.{table}"
        ))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("cannot restore {table}"))?;
    }
    tx.commit().await.context("cannot commit the restore")
}
