//! One backup run, verification, restore, retention: what the commands and the service share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::backend::Backend;
use crate::compress::{self, Plain};
use crate::database_url::DatabaseUrl;
use crate::dispatch::{AnyBackend, ToolDirs};
use crate::encrypt::{self, Identities, Recipients};
use crate::error::{failed, Context, Error, Result};
use crate::lock::DirLock;
use crate::manifest::{self, Engine, Manifest, Verification, PARTIAL};
use crate::retention::{self, Policy};
use crate::schedule::Schedule;

/// Where and how to back up (flags and environment variables).
#[derive(Debug, Clone, clap::Args)]
pub struct BackupSettings {
    /// The database to back up (`sqlite://...`, `postgres://...` or `mysql://...`); a SQLite file under data/
    /// when unset.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where backups and their manifests are kept.
    #[arg(long, env = "BACKUP_DIR", default_value = "data/backups")]
    pub backup_dir: PathBuf,
    /// Time between backups (`48h`, `30m`, `2s`); 48h when neither this nor BACKUP_SCHEDULE is
    /// set.
    /// (Empty is unset, so that docker-compose can pass `${BACKUP_INTERVAL:-}`.)
    #[arg(long, env = "BACKUP_INTERVAL", value_parser = optional_duration)]
    pub interval: Option<MaybeDuration>,
    /// Back up at the times of this cron pattern instead (`0 3 */2 * *`: 03:00 every other day;
    /// minute hour day-of-month month day-of-week; six fields: seconds first).
    #[arg(long, env = "BACKUP_SCHEDULE")]
    pub schedule: Option<String>,
    /// The IANA time zone of BACKUP_SCHEDULE (`Europe/Paris`); UTC when unset.
    #[arg(long, env = "BACKUP_TIMEZONE")]
    pub timezone: Option<String>,
    /// Keep the N newest backups.
    #[arg(long, env = "BACKUP_KEEP_LAST", default_value_t = 7)]
    pub keep_last: usize,
    /// Also keep the newest verified backup of each of the last N days.
    #[arg(long, env = "BACKUP_KEEP_DAILY", default_value_t = 7)]
    pub keep_daily: usize,
    /// ... of each of the last N ISO weeks.
    #[arg(long, env = "BACKUP_KEEP_WEEKLY", default_value_t = 4)]
    pub keep_weekly: usize,
    /// ... of each of the last N months.
    #[arg(long, env = "BACKUP_KEEP_MONTHLY", default_value_t = 6)]
    pub keep_monthly: usize,
    /// Directory of pg_dump/pg_restore (default: /usr/lib/postgresql/<server major>/bin, then PATH).
    #[arg(long, env = "PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// Directory of mariadb-dump/mariadb (mysqldump/mysql on a MySQL server) (default: PATH).
    #[arg(long, env = "MYSQL_BIN_DIR")]
    pub mysql_bin_dir: Option<PathBuf>,
    /// Also keep every backup in this S3 bucket (`s3://bucket/prefix`): endpoint, region and
    /// credentials from AWS_* variables or ~/.aws/credentials (docs/backups.md).
    #[arg(long, env = "BACKUP_REMOTE")]
    pub backup_remote: Option<String>,
    /// First wait before retrying a failed upload to BACKUP_REMOTE; doubles up to 30 minutes.
    #[arg(long, env = "BACKUP_UPLOAD_RETRY", default_value = "30s")]
    pub upload_retry: humantime::Duration,
    /// Longest a dump plus its verification (or a point-in-time recovery) may take before it
    /// is abandoned as failed.
    #[arg(long, env = "BACKUP_TIMEOUT", default_value = "1h")]
    pub timeout: humantime::Duration,
    /// Point-in-time recovery (PostgreSQL): stream the WAL (pg_receivewal) and take base
    /// backups (pg_basebackup), here and on BACKUP_REMOTE, so that `restore --until` can go
    /// back to any time since the oldest base backup kept (docs/backups.md).
    #[arg(long = "pitr", env = "BACKUP_PITR", default_value = "off",
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub pitr: bool,
    /// Time between two base backups for point-in-time recovery: a recovery replays the WAL
    /// since the newest base before its time.
    #[arg(long, env = "BACKUP_PITR_BASE_INTERVAL", default_value = "24h")]
    pub pitr_base_interval: humantime::Duration,
    /// Keep the N newest base backups, and the WAL from the oldest of them on.
    #[arg(long, env = "BACKUP_PITR_KEEP_BASES", default_value_t = 2)]
    pub pitr_keep_bases: usize,
    /// How often the WAL received is copied to BACKUP_REMOTE: what a restore after losing this
    /// host can lack, at most (the recovery point objective).
    #[arg(long, env = "BACKUP_WAL_UPLOAD_INTERVAL", default_value = "10s")]
    pub wal_upload_interval: humantime::Duration,
    /// Encrypt every new backup with age to these public keys (`age1...`, comma-separated), or
    /// to those of a recipients file (one per line, `#` comments, as `age -R` reads); `verify`
    /// and `restore` then need the private key (--identity). Unset: not encrypted. (The dumps
    /// only: BACKUP_PITR's base backups and WAL are stored as they are.)
    #[arg(long, env = "BACKUP_ENCRYPT_TO", value_name = "KEYS|FILE")]
    pub encrypt_to: Option<String>,
}

/// A humantime duration, or nothing for an empty value.
#[derive(Debug, Clone, Copy)]
pub struct MaybeDuration(pub Option<humantime::Duration>);

fn optional_duration(text: &str) -> Result<MaybeDuration, String> {
    if text.trim().is_empty() {
        return Ok(MaybeDuration(None));
    }
    text.trim()
        .parse::<humantime::Duration>()
        .map(|d| MaybeDuration(Some(d)))
        .map_err(|e| e.to_string())
}

impl BackupSettings {
    /// DATABASE_URL, or the SQLite file under data/ when it is unset or empty.
    pub(crate) fn database_url(&self) -> Result<DatabaseUrl> {
        let text = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(hbnb_storage::DEFAULT_DATABASE_URL);
        DatabaseUrl::parse(text)
    }

    /// The backend of `url`, with the tool directories of these settings.
    fn backend_for(&self, url: DatabaseUrl) -> AnyBackend {
        AnyBackend::new(
            url,
            ToolDirs {
                pg: self.pg_bin_dir.as_deref(),
                mysql: self.mysql_bin_dir.as_deref(),
            },
        )
    }

    /// The backend that verifies a backup of `engine`: DATABASE_URL's, whose server hosts the
    /// scratch database. A SQLite backup is restored into a temporary file, which needs no
    /// server, so it is verified whatever DATABASE_URL names (the default URL is never opened).
    fn verifier(&self, engine: Engine) -> Result<AnyBackend> {
        let url = self.database_url()?;
        if url.engine() == engine {
            Ok(self.backend_for(url))
        } else if engine == Engine::Sqlite {
            Ok(self.backend_for(DatabaseUrl::parse(hbnb_storage::DEFAULT_DATABASE_URL)?))
        } else {
            Err(failed(format!(
                "a {} backup is verified on the server of DATABASE_URL, which is a {} database",
                engine.name(),
                url.engine().name()
            )))
        }
    }

    pub fn schedule(&self) -> Result<Schedule> {
        Schedule::new(
            self.interval.and_then(|d| d.0).map(Into::into),
            self.schedule.as_deref(),
            self.timezone.as_deref(),
        )
    }

    pub fn policy(&self) -> Policy {
        Policy {
            last: self.keep_last,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
        }
    }

    /// The public keys of `BACKUP_ENCRYPT_TO` (read again at each backup: a recipients file may
    /// change), or `None` when it is unset.
    pub fn recipients(&self) -> Result<Option<Recipients>> {
        Recipients::from_setting(self.encrypt_to.as_deref())
    }

    pub fn validate(&self) -> Result<()> {
        self.schedule()?;
        self.database_url()?;
        if let Some(url) = self
            .backup_remote
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            crate::remote::parse_url(url.trim())?;
        }
        if self.upload_retry.is_zero() {
            return Err(failed("BACKUP_UPLOAD_RETRY must be longer than 0s"));
        }
        if self.pitr {
            if self.database_url()?.engine() == Engine::Sqlite {
                return Err(failed(
                    "BACKUP_PITR is for PostgreSQL and MariaDB: DATABASE_URL is a SQLite file",
                ));
            }
            if self.wal_upload_interval.is_zero() || self.pitr_base_interval.is_zero() {
                return Err(failed(
                    "BACKUP_WAL_UPLOAD_INTERVAL and BACKUP_PITR_BASE_INTERVAL must be longer than 0s",
                ));
            }
        }
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Takes one backup. The caller holds the lock. On failure nothing named `.partial` is left and
/// the error says why; a dump that fails verification is kept (with its manifest saying so) and
/// reported as `Error::Verification`.
pub async fn run_once(settings: &BackupSettings) -> Result<Manifest> {
    let dir = settings.backup_dir.clone();
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    manifest::clean_leftovers(&dir).await?;
    let backend = settings.backend_for(settings.database_url()?);
    let engine = backend.engine();
    let started_at = Utc::now();
    let clock = Instant::now();
    let id = manifest::new_id(started_at);
    let dumped = manifest::dump_name(&id, engine);
    // Every engine's dump is stored compressed (compress.rs); `store` also writes plain files.
    let compressed = true;
    let recipients = settings.recipients()?;
    let mut file = dumped.clone();
    if compressed {
        file.push_str(compress::EXTENSION);
    }
    if recipients.is_some() {
        file.push_str(encrypt::EXTENSION);
    }
    let final_path = dir.join(&file);
    let partial = dir.join(format!("{dumped}{PARTIAL}"));
    let stored_partial = dir.join(format!("{file}{PARTIAL}"));
    tracing::info!(
        id = %id,
        engine = engine.name(),
        encrypted_to = ?recipients,
        "backup started"
    );

    let work = async {
        let snapshot = backend.dump(&partial).await?;
        let dump_duration = clock.elapsed();
        manifest::fsync_file(&partial).await?;
        let verification = verify_file(
            &backend,
            &partial,
            snapshot.migration_version,
            &snapshot.tables,
        )
        .await;
        // Verified as the tool wrote it, then compressed, then encrypted: the checksum is the
        // stored file's. The plaintext dump is removed as soon as the stored file is written.
        if stored_partial != partial {
            compress::store(&partial, &stored_partial, compressed, recipients.as_ref()).await?;
            manifest::remove_if_exists(&partial).await;
        }
        let (sha256, size) = manifest::hash_file(&stored_partial).await?;
        manifest::rename(&stored_partial, &final_path).await?;
        let manifest = Manifest {
            format: 1,
            id: id.clone(),
            file: file.clone(),
            engine,
            server_version: snapshot.server_version,
            dump_tool: snapshot.dump_tool,
            migration_version: snapshot.migration_version,
            tables: snapshot.tables,
            sha256,
            size,
            compression: compressed.then(|| compress::ZSTD.to_owned()),
            binlog: snapshot.binlog,
            encryption: recipients.as_ref().map(|_| encrypt::AGE.to_owned()),
            recipients: recipients.as_ref().map(Recipients::keys),
            started_at,
            duration_ms: millis(clock.elapsed()),
            dump_duration_ms: millis(dump_duration),
            verification,
        };
        if let Err(error) = manifest::write(&dir, &manifest).await {
            manifest::remove_if_exists(&final_path).await;
            return Err(error);
        }
        Ok(manifest)
    };
    let result = match tokio::time::timeout(settings.timeout.into(), work).await {
        Ok(result) => result,
        Err(_) => Err(failed(format!(
            "the backup took longer than BACKUP_TIMEOUT ({})",
            settings.timeout
        ))),
    };
    match result {
        Err(error) => {
            manifest::remove_if_exists(&partial).await;
            manifest::remove_if_exists(&stored_partial).await;
            Err(error)
        }
        Ok(manifest) => {
            if let Err(error) = prune(settings).await {
                tracing::error!(%error, "retention failed");
            }
            if manifest.verified() {
                tracing::info!(
                    id = %manifest.id,
                    file = %manifest.file,
                    size = manifest.size,
                    duration_ms = manifest.duration_ms,
                    rows = manifest.tables.values().sum::<i64>(),
                    "backup verified and complete"
                );
                Ok(manifest)
            } else {
                Err(Error::Verification(format!(
                    "backup {} kept for inspection: {}",
                    manifest.id,
                    manifest.verification.error.clone().unwrap_or_default()
                )))
            }
        }
    }
}

/// Restores `file` into a scratch database and compares with what the manifest expects.
async fn verify_file(
    backend: &AnyBackend,
    file: &Path,
    migration_version: i64,
    expected: &BTreeMap<String, i64>,
) -> Verification {
    let clock = Instant::now();
    let method = backend.verification_method();
    let restored = backend.restore_scratch(file).await;
    let (restored_tables, error) = match restored {
        Ok((version, tables)) => {
            let mut problems = Vec::new();
            if version != migration_version {
                problems.push(format!(
                    "migration version {version}, expected {migration_version}"
                ));
            }
            for (table, want) in expected {
                let got = tables.get(table).copied().unwrap_or(-1);
                if got != *want {
                    problems.push(format!("{table}: {got} rows restored, {want} expected"));
                }
            }
            let error = (!problems.is_empty()).then(|| problems.join("; "));
            (tables, error)
        }
        Err(error) => (BTreeMap::new(), Some(error.to_string())),
    };
    if let Some(error) = &error {
        tracing::error!(file = %file.display(), %error, "verification failed");
    }
    Verification {
        ok: error.is_none(),
        at: Utc::now(),
        method: format!("sha256, {method}"),
        duration_ms: millis(clock.elapsed()),
        restored_tables,
        error,
    }
}

/// A verification that failed before anything was restored.
fn failed_unrestored(method: &str, clock: Instant, error: String) -> Verification {
    Verification {
        ok: false,
        at: Utc::now(),
        method: method.to_owned(),
        duration_ms: millis(clock.elapsed()),
        restored_tables: BTreeMap::new(),
        error: Some(error),
    }
}

/// What `verify` checked.
pub enum Verified {
    /// Checksum, restore into a scratch database, row counts (recorded in the manifest).
    Restored(Manifest),
    /// The stored file's checksum and size only: the backup is encrypted and no identity was
    /// given (the manifest's earlier verification, which succeeded, is left as it was).
    ChecksumOnly(Manifest),
}

/// `verify <id>`: checksum, then a restore into a scratch database; records the result in the
/// manifest. An encrypted backup's contents are checked only with `identities`.
pub async fn verify(
    settings: &BackupSettings,
    id: &str,
    identities: Option<&Identities>,
) -> Result<Verified> {
    verify_in(settings, &settings.backup_dir, id, identities).await
}

/// `verify` of a backup in `dir` (the backup directory, or where one was downloaded to).
pub async fn verify_in(
    settings: &BackupSettings,
    dir: &Path,
    id: &str,
    identities: Option<&Identities>,
) -> Result<Verified> {
    let _lock = DirLock::acquire(dir).await?;
    let mut manifest = manifest::find(dir, id).await?;
    let path = manifest.path(dir);
    let clock = Instant::now();
    let (sha256, size) = manifest::hash_file(&path).await?;
    manifest.verification = if sha256 != manifest.sha256 || size != manifest.size {
        let error = format!(
            "checksum mismatch: {} has sha256 {sha256} ({size} bytes), the manifest says {} ({} bytes)",
            manifest.file, manifest.sha256, manifest.size
        );
        tracing::error!(id = %manifest.id, %error, "verification failed");
        failed_unrestored("sha256", clock, error)
    } else if encrypt::is_encrypted(&manifest)? && identities.is_none() {
        tracing::warn!(
            id = %manifest.id,
            "checksum and size match; the contents were not checked: the backup is encrypted \
             (pass --identity to check them)"
        );
        if !manifest.verified() {
            // What was recorded when it was taken still stands: a failed backup stays failed.
            return Err(Error::Verification(format!(
                "backup {}: checksum and size ok, contents not checked (encrypted; pass \
                 --identity), and its last verification failed: {}",
                manifest.id,
                manifest.verification.error.clone().unwrap_or_default()
            )));
        }
        return Ok(Verified::ChecksumOnly(manifest));
    } else {
        let plain = Plain::of(dir, &manifest, identities, "verify").await?;
        match settings.verifier(manifest.engine) {
            Ok(backend) => {
                verify_file(
                    &backend,
                    &plain.path,
                    manifest.migration_version,
                    &manifest.tables,
                )
                .await
            }
            // Recorded as failed, as the restore onto a server of the wrong engine always was.
            Err(error) => {
                let error = error.to_string();
                tracing::error!(id = %manifest.id, %error, "verification failed");
                failed_unrestored("sha256, restore into a scratch database", clock, error)
            }
        }
    };
    manifest::write(dir, &manifest).await?;
    if manifest.verified() {
        Ok(Verified::Restored(manifest))
    } else {
        Err(Error::Verification(format!(
            "backup {}: {}",
            manifest.id,
            manifest.verification.error.clone().unwrap_or_default()
        )))
    }
}

/// `restore <id> [--to URL] [--force]`.
pub async fn restore(
    settings: &BackupSettings,
    id: &str,
    to: Option<&str>,
    force: bool,
    identities: Option<&Identities>,
) -> Result<Manifest> {
    restore_in(settings, &settings.backup_dir, id, to, force, identities).await
}

/// `restore` of a backup in `dir` (the backup directory, or where one was downloaded to).
pub async fn restore_in(
    settings: &BackupSettings,
    dir: &Path,
    id: &str,
    to: Option<&str>,
    force: bool,
    identities: Option<&Identities>,
) -> Result<Manifest> {
    let _lock = DirLock::acquire(dir).await?;
    let manifest = manifest::find(dir, id).await?;
    // Refused before anything is read or touched.
    if encrypt::is_encrypted(&manifest)? {
        encrypt::required(&manifest, identities, "restore")?;
    }
    let target = match to {
        Some(to) => DatabaseUrl::parse(to)?,
        None => settings.database_url()?,
    };
    let engine = target.engine();
    if engine != manifest.engine {
        return Err(failed(format!(
            "backup {} is a {} dump; it cannot be restored into a {} database",
            manifest.id,
            manifest.engine.name(),
            engine.name()
        )));
    }
    if !manifest.verified() {
        tracing::warn!(id = %manifest.id, "this backup failed verification; restoring it anyway");
    }
    let path = manifest.path(dir);
    let (sha256, _) = manifest::hash_file(&path).await?;
    if sha256 != manifest.sha256 {
        return Err(Error::Verification(format!(
            "checksum mismatch: {} has sha256 {sha256}, the manifest says {}; not restoring it",
            manifest.file, manifest.sha256
        )));
    }
    let plain = Plain::of(dir, &manifest, identities, "restore").await?;
    let path = plain.path.clone();
    tracing::info!(id = %manifest.id, force, "restore started");
    let backend = settings.backend_for(target);
    backend
        .restore(&path, force, manifest.migration_version)
        .await?;
    let (version, tables) = backend.inspect().await?;
    if tables != manifest.tables || version != manifest.migration_version {
        return Err(Error::Verification(format!(
            "after the restore the database has {tables:?} at migration {version}, the manifest \
             says {:?} at {}",
            manifest.tables, manifest.migration_version
        )));
    }
    tracing::info!(id = %manifest.id, rows = tables.values().sum::<i64>(), "restore complete");
    Ok(manifest)
}

/// Applies the retention policy (the caller holds the lock).
pub async fn prune(settings: &BackupSettings) -> Result<Vec<String>> {
    let dir = &settings.backup_dir;
    let all = manifest::load_all(dir).await?;
    let items: Vec<retention::Item> = all
        .iter()
        .map(|m| retention::Item {
            id: m.id.clone(),
            started_at: m.started_at,
            verified: m.verified(),
        })
        .collect();
    let keep = retention::keep(&items, settings.policy());
    let mut removed = Vec::new();
    for manifest in all.iter().filter(|m| !keep.contains(&m.id)) {
        // The manifest first: from then on nothing lists it, even if we stop half-way.
        let manifest_path = dir.join(manifest::manifest_name(&manifest.id));
        tokio::fs::remove_file(&manifest_path)
            .await
            .with_context(|| format!("cannot remove {}", manifest_path.display()))?;
        manifest::remove_if_exists(&manifest.path(dir)).await;
        tracing::info!(id = %manifest.id, "retention removed backup");
        removed.push(manifest.id.clone());
    }
    Ok(removed)
}
