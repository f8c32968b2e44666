//! db-backup: the HBNB database's backups as a service.
//!
//! `db-backup` (or `db-backup serve`) backs up `DATABASE_URL` every `BACKUP_INTERVAL` (48h), or at
//! the times of the cron pattern `BACKUP_SCHEDULE` in `BACKUP_TIMEZONE`, into
//! `BACKUP_DIR`, verifies each dump by restoring it into a scratch database, applies retention,
//! and serves `/healthz`, `/readyz` and `/metrics` on `PORT` (5004). `now`, `list`, `verify` and
//! `restore` do the same by hand. With `BACKUP_REMOTE=s3://bucket/prefix` every backup is also
//! copied to that bucket, and `list`, `verify` and `restore` read it with `--from-remote` (a host
//! whose disk was lost); `push` copies what the remote lacks. With `BACKUP_ENCRYPT_TO` every new
//! backup is encrypted with age to those public keys; `verify` and `restore` take the private key
//! (`--identity`) when they run.
//!
//! Exit codes: 0 success; 1 failed; 2 bad command line or settings (also: an encrypted backup
//! without `--identity` to restore, or a key that does not decrypt it); 3 nothing to do (another
//! run holds the lock); 4 verification failed; 5 restore refused (target not empty, no
//! `--force`); 6 no such backup; 7 backup kept locally but its copy to the remote failed.

mod backend;
mod backup;
mod compress;
mod database_url;
mod dispatch;
mod encrypt;
mod error;
mod lock;
mod manifest;
mod mysql;
mod pg;
mod pitr;
mod remote;
mod retention;
mod schedule;
mod service;
mod sqlite;
mod tables;
mod tool;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hbnb_common::settings::LogFormat;
use hbnb_common::telemetry::{self, LogOutput};
use hbnb_common::ServerSettings;

use crate::backup::{BackupSettings, Verified};
use crate::encrypt::Identities;
use crate::error::{exit, Error};
use crate::lock::DirLock;
use crate::remote::{Remote, Staging};

#[derive(Debug, Parser)]
#[command(
    name = "db-backup",
    about = "Backs up the HBNB database on a schedule, verifies every dump, keeps what the retention policy says",
    after_help = "Exit codes: 0 success, 1 failed, 2 bad usage (also: restore of an encrypted backup without \
                  --identity, or with a key that does not decrypt it), 3 nothing to do (another backup run holds the lock), \
                  4 verification failed, 5 restore refused (target not empty; use --force), 6 no such backup, \
                  7 backup kept locally but its copy to BACKUP_REMOTE failed."
)]
struct Cli {
    #[command(flatten)]
    server: ServerSettings,
    #[command(flatten)]
    backup: BackupSettings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run as a service: backups every BACKUP_INTERVAL or at the times of BACKUP_SCHEDULE, HTTP
    /// /healthz and /metrics (the default).
    Serve,
    /// Take a backup now, and copy it to BACKUP_REMOTE if set (exit 3 when another run is in
    /// progress, 7 when the copy failed: the backup is then kept locally).
    Now,
    /// Copy to BACKUP_REMOTE every local backup it lacks, then apply retention there.
    Push,
    /// List the backups, oldest first.
    List {
        /// One JSON array of manifests instead of a table.
        #[arg(long)]
        json: bool,
        /// List the backups in BACKUP_REMOTE instead of the backup directory.
        #[arg(long, visible_alias = "remote")]
        from_remote: bool,
    },
    /// Check a backup: checksum, restore into a scratch database, row counts (of an encrypted
    /// backup, the checksum only unless --identity is given).
    Verify {
        /// The backup id (or a unique prefix, or `latest`).
        id: String,
        /// Download the backup from BACKUP_REMOTE and check that copy (nothing local needed).
        #[arg(long, visible_alias = "remote")]
        from_remote: bool,
        /// An age identity file (`AGE-SECRET-KEY-1...` lines, as age-keygen writes) to decrypt
        /// an encrypted backup with.
        #[arg(long, env = "BACKUP_IDENTITY_FILE", value_name = "KEYFILE")]
        identity: Option<PathBuf>,
    },
    /// Restore a backup into DATABASE_URL (or --to).
    Restore {
        /// The backup id (or a unique prefix, or `latest`).
        id: String,
        /// The database to restore into (default: DATABASE_URL).
        #[arg(long)]
        to: Option<String>,
        /// Replace the data of a database that is not empty.
        #[arg(long)]
        force: bool,
        /// Download the backup from BACKUP_REMOTE (the disk-lost case: nothing local needed).
        #[arg(long, visible_alias = "remote")]
        from_remote: bool,
        /// Point-in-time recovery (BACKUP_PITR): the database as it was at this time
        /// (`2026-12-07T14:04:00Z`, or with another offset), or at the end of the WAL archive
        /// (`end`); the id then names a base backup (`latest`: the newest one before the time).
        #[arg(long, value_parser = clap::value_parser!(pitr::Until))]
        until: Option<pitr::Until>,
        /// An age identity file (`AGE-SECRET-KEY-1...` lines, as age-keygen writes): needed to
        /// restore an encrypted backup.
        #[arg(long, env = "BACKUP_IDENTITY_FILE", value_name = "KEYFILE")]
        identity: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli: Cli = hbnb_common::cli::parse();
    if let Err(error) = cli.backup.validate() {
        eprintln!("error: {error}");
        return ExitCode::from(exit::USAGE);
    }
    // Checked where backups are taken; a host that only restores (the disk-lost case) need not
    // have the recipients file.
    if matches!(cli.command, None | Some(Command::Serve | Command::Now)) {
        if let Err(error) = cli.backup.recipients() {
            eprintln!("error: {error}");
            return ExitCode::from(exit::USAGE);
        }
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let _logs = telemetry::init(cli.server.log_format);
            let server = cli.server;
            let settings = cli.backup;
            let system = actix_web::rt::System::new();
            system.block_on(service::serve(&server, settings))
        }
        command => {
            // Commands log to stderr, so stdout carries only their output (`list --json`);
            // compact lines unless JSON is asked for, as a command is mostly run by hand.
            let format = cli.server.log_format.unwrap_or(LogFormat::Pretty);
            let _logs = telemetry::init_to(Some(format), LogOutput::Stderr);
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    eprintln!("error: cannot start the runtime: {error}");
                    return ExitCode::from(exit::FAILED);
                }
            };
            match runtime.block_on(run_command(command, &cli.backup)) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(error) => {
                    tracing::error!(%error, "db-backup failed");
                    eprintln!("error: {error}");
                    ExitCode::from(error.exit_code())
                }
            }
        }
    }
}

/// The remote of BACKUP_REMOTE, required by `--from-remote` and `push`.
fn required_remote(settings: &BackupSettings) -> Result<Remote, Error> {
    Remote::from_url(settings.backup_remote.as_deref())?
        .ok_or_else(|| error::failed("BACKUP_REMOTE is not set (s3://bucket/prefix)"))
}

/// The identities of `--identity` / `BACKUP_IDENTITY_FILE` (empty: none).
fn identities(file: Option<&Path>) -> Result<Option<Identities>, Error> {
    file.filter(|f| !f.as_os_str().is_empty())
        .map(Identities::read)
        .transpose()
}

/// Downloads backup `id` of the remote into a scratch directory, refusing a corrupted object;
/// `restoring`: refuses an encrypted backup without `identities` before downloading it.
async fn download(
    settings: &BackupSettings,
    id: &str,
    restoring: Option<Option<&Identities>>,
) -> Result<(Staging, String), Error> {
    let remote = required_remote(settings)?;
    let found = manifest::pick(remote.list().await?, id, remote.url())?;
    if let Some(identities) = restoring {
        if encrypt::is_encrypted(&found)? {
            encrypt::required(&found, identities, "restore")?;
        }
    }
    let staging = Staging::new(&settings.backup_dir).await?;
    tracing::info!(id = %found.id, remote = %remote.url(), "downloading the backup");
    remote.download(&found, &staging.0).await?;
    Ok((staging, found.id))
}

async fn run_command(command: Command, settings: &BackupSettings) -> Result<(), Error> {
    match command {
        Command::Serve => Ok(()),
        Command::Now => {
            // Before anything is dumped: a bad BACKUP_REMOTE is a mistake to fix first.
            let remote = Remote::from_url(settings.backup_remote.as_deref())?;
            let dir = &settings.backup_dir;
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                error::failed(format!(
                    "cannot create the backup directory {}: {e}",
                    dir.display()
                ))
            })?;
            let Some(_lock) = DirLock::try_acquire(dir).await? else {
                return Err(Error::NothingToDo(
                    "another backup run is in progress (the backup directory is locked)".to_owned(),
                ));
            };
            let manifest = backup::run_once(settings).await?;
            println!("{}", manifest.id);
            if let Some(remote) = remote {
                if let Err(error) = remote::sync(&remote, dir, settings.policy()).await {
                    return Err(Error::Upload(format!(
                        "backup {} is kept in {} but was not copied to {}: {error} \
                         (db-backup push copies it later)",
                        manifest.id,
                        dir.display(),
                        remote.url()
                    )));
                }
            }
            Ok(())
        }
        Command::Push => {
            let remote = required_remote(settings)?;
            let dir = &settings.backup_dir;
            let _lock = DirLock::acquire(dir).await?;
            let synced = remote::sync(&remote, dir, settings.policy())
                .await
                .map_err(|e| Error::Upload(format!("copying to {}: {e}", remote.url())))?;
            for id in &synced.uploaded {
                println!("{id} copied");
            }
            for id in &synced.removed {
                println!("{id} removed from the remote");
            }
            Ok(())
        }
        Command::List { json, from_remote } => {
            let all = if from_remote {
                required_remote(settings)?.list().await?
            } else {
                manifest::load_all(&settings.backup_dir).await?
            };
            if json {
                let text = serde_json::to_string_pretty(&all)
                    .map_err(|e| error::failed(format!("cannot encode: {e}")))?;
                println!("{text}");
            } else {
                println!(
                    "{:<22} {:<8} {:>12} {:>9} {:>10} {:<9} FILE",
                    "ID", "ENGINE", "SIZE", "ROWS", "DURATION", "VERIFIED"
                );
                for m in &all {
                    println!(
                        "{:<22} {:<8} {:>12} {:>9} {:>9}ms {:<9} {}",
                        m.id,
                        m.engine.name(),
                        m.size,
                        m.tables.values().sum::<i64>(),
                        m.duration_ms,
                        if m.verified() { "ok" } else { "FAILED" },
                        m.file
                    );
                }
                let remote = if from_remote {
                    Some(required_remote(settings)?)
                } else {
                    None
                };
                if let Some(line) = pitr::describe(&settings.backup_dir, remote.as_ref()).await? {
                    println!("{line}");
                }
            }
            Ok(())
        }
        Command::Verify {
            id,
            from_remote,
            identity,
        } => {
            let identities = identities(identity.as_deref())?;
            let verified = if from_remote {
                let (staging, id) = download(settings, &id, None).await?;
                backup::verify_in(settings, &staging.0, &id, identities.as_ref()).await?
            } else {
                backup::verify(settings, &id, identities.as_ref()).await?
            };
            match verified {
                Verified::Restored(manifest) => println!("{} verified", manifest.id),
                Verified::ChecksumOnly(manifest) => println!(
                    "{} checksum and size ok; contents not checked: the backup is encrypted \
                     (pass --identity KEYFILE to check them)",
                    manifest.id
                ),
            }
            Ok(())
        }
        Command::Restore {
            id,
            to,
            force,
            from_remote,
            until: Some(until),
            identity,
        } => {
            // MariaDB's bases are the dumps, which may be encrypted (PostgreSQL's base backups
            // and WAL, and MariaDB's binary log, are not).
            let identities = identities(identity.as_deref())?;
            let restored = pitr::restore_until(
                settings,
                &id,
                until,
                to.as_deref(),
                force,
                from_remote,
                identities.as_ref(),
            )
            .await?;
            let last = restored.last_commit.map_or_else(String::new, |t| {
                format!(
                    "; newest transaction replayed committed at {}",
                    t.to_rfc3339()
                )
            });
            println!(
                "restored from base {} to {until}{last}; {} rows",
                restored.base, restored.rows
            );
            Ok(())
        }
        Command::Restore {
            id,
            to,
            force,
            from_remote,
            until: None,
            identity,
        } => {
            let identities = identities(identity.as_deref())?;
            let identities = identities.as_ref();
            let manifest = if from_remote {
                let (staging, id) = download(settings, &id, Some(identities)).await?;
                backup::restore_in(settings, &staging.0, &id, to.as_deref(), force, identities)
                    .await?
            } else {
                backup::restore(settings, &id, to.as_deref(), force, identities).await?
            };
            println!("{} restored", manifest.id);
            Ok(())
        }
    }
}
