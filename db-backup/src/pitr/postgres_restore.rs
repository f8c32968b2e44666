//! `db-backup restore <base|latest> --until <time|end>`: the database as it was at a time.
//!
//! PostgreSQL replays WAL only into a whole cluster, and the target is one database on a server
//! that keeps running. So, as pgBackRest's users do for a single database: a throwaway server
//! is recovered from the base backup and the archived WAL, in a directory of its own (Unix
//! socket only, no TCP), with `recovery_target_time` and `recovery_target_action = promote`;
//! then its copy of the database is dumped (`pg_dump`) and restored into the target
//! (`pg_restore`, as a restore of a dump, refusing a non-empty target without `--force`).
//! The restore host needs the PostgreSQL server of the base's major version (Debian:
//! `postgresql-15`); as root, the throwaway server runs as `PG_RECOVERY_USER` (postgres).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::{
    file_names, segment_position, wal_kind, Archive, Base, Restored, Until, WalFile, BASE, WAL,
};
use crate::backend::Backend;
use crate::backup::BackupSettings;
use crate::compress;
use crate::database_url::DatabaseUrl;
use crate::error::{failed, Context, Error, Result};
use crate::manifest::{self, Engine};
use crate::pg::{find_tool, PgBackend};
use crate::remote::Remote;
use crate::tool;

/// Restores the database of DATABASE_URL (or `to`) as it was at `until`, from the base backup
/// `id` (`latest`: the newest one consistent before `until`) and the WAL archive, here or on
/// BACKUP_REMOTE (`from_remote`: nothing local needed).
pub(crate) async fn restore_until(
    settings: &BackupSettings,
    id: &str,
    until: Until,
    to: Option<&str>,
    force: bool,
    from_remote: bool,
) -> Result<Restored> {
    let target = match to {
        Some(to) => DatabaseUrl::parse(to)?,
        None => settings.database_url()?,
    };
    if target.engine() != Engine::Postgres {
        return Err(failed(
            "a PostgreSQL backup is restored into a PostgreSQL database",
        ));
    }
    let remote = if from_remote {
        Some(
            Remote::from_url(settings.backup_remote.as_deref())?
                .ok_or_else(|| failed("BACKUP_REMOTE is not set (s3://bucket/prefix)"))?,
        )
    } else {
        None
    };
    let archive = Archive::new(&settings.backup_dir);
    let bases = match &remote {
        Some(remote) => remote_bases(remote).await?,
        None => archive.bases().await?,
    };
    let base = pick(bases, id, until)?;
    let work = Work::new(&settings.backup_dir)?;
    tracing::info!(base = %base.id, ?until, dir = %work.root.display(), "recovering a throwaway PostgreSQL server");

    let tarball = match &remote {
        Some(remote) => {
            let path = work.root.join(&base.file);
            remote
                .get_file(&format!("{BASE}/{}", base.file), &path)
                .await?;
            path
        }
        None => archive.base_dir().join(&base.file),
    };
    let (sha256, size) = manifest::hash_file(&tarball).await?;
    if sha256 != base.sha256 || size != base.size {
        let object = match &remote {
            Some(remote) => remote.object_url(&format!("{BASE}/{}", base.file)),
            None => tarball.display().to_string(),
        };
        return Err(Error::Verification(format!(
            "base backup {} ({object}) has sha256 {sha256} ({size} bytes), its manifest says {} \
             ({} bytes); refusing it",
            base.id, base.sha256, base.size
        )));
    }
    unpack(&tarball, &work.data()).await?;
    let segments = match &remote {
        Some(remote) => fetch_remote_wal(remote, &base, &work).await?,
        None => copy_local_wal(&archive, &base, &work).await?,
    };
    tracing::info!(segments, "WAL ready for replay");
    configure(&work).await?;

    let mut server = Server::start(settings, &base, until, &work).await?;
    let last_commit = server.wait_until_promoted(&base, *settings.timeout).await?;
    let dump = work.root.join("recovered.pgdump");
    server.dump(settings, &base, &dump).await?;
    drop(server);

    let backend = PgBackend {
        url: target,
        bin_dir: settings.pg_bin_dir.clone(),
    };
    backend.restore(&dump, force, 0).await?;
    let (_, tables) = backend.inspect().await?;
    Ok(Restored {
        base: base.id,
        last_commit,
        rows: tables.values().sum(),
    })
}

/// The base backups on the remote (manifest and file present), oldest first.
pub(super) async fn remote_bases(remote: &Remote) -> Result<Vec<Base>> {
    let objects = remote.list_folder(BASE).await?;
    let mut bases = Vec::new();
    for name in objects.keys().filter(|n| n.ends_with(".json")) {
        let bytes = remote.get(&format!("{BASE}/{name}")).await?;
        match serde_json::from_slice::<Base>(&bytes) {
            Ok(base) if objects.contains_key(&base.file) => bases.push(base),
            Ok(_) => tracing::warn!(object = %name, "the base backup's file is missing"),
            Err(error) => tracing::warn!(object = %name, %error, "unreadable base manifest"),
        }
    }
    bases.sort_by_key(|b| b.started_at);
    Ok(bases)
}

/// The base to start from: `latest` is the newest one consistent at `until`; an id (or a
/// unique prefix of one) must be consistent before it too.
fn pick(bases: Vec<Base>, id: &str, until: Until) -> Result<Base> {
    let usable = |b: &Base| match until {
        Until::Time(t) => b.finished_at <= t,
        Until::End => true,
    };
    if id == "latest" {
        let oldest = bases.first().map(|b| b.finished_at);
        return bases.into_iter().rev().find(usable).ok_or_else(|| {
            Error::NotFound(match oldest {
                None => "no base backup for point-in-time recovery (is BACKUP_PITR on?)".to_owned(),
                Some(t) => format!(
                    "no base backup is older than that time: the oldest is consistent from {t}"
                ),
            })
        });
    }
    let mut matching: Vec<Base> = bases.into_iter().filter(|b| b.id.starts_with(id)).collect();
    let base = match matching.len() {
        0 => return Err(Error::NotFound(format!("no base backup {id}"))),
        1 => matching.remove(0),
        n => {
            return Err(failed(format!(
                "{n} base backups start with {id}; give more of the id"
            )))
        }
    };
    if !usable(&base) {
        return Err(failed(format!(
            "base backup {} is consistent only from {}: after the time asked for",
            base.id, base.finished_at
        )));
    }
    Ok(base)
}

/// The throwaway server's directories, removed when dropped: under BACKUP_DIR (the disk the
/// operator chose for backups), or under the system's temporary directory when running as root
/// (the server then runs as PG_RECOVERY_USER, who must reach it). The socket's directory is
/// always short, under the temporary directory (a socket path holds 107 bytes).
struct Work {
    root: PathBuf,
    socket: PathBuf,
}

impl Work {
    fn new(backup_dir: &Path) -> Result<Work> {
        let pid = std::process::id();
        let root = if running_as_root() {
            std::env::temp_dir().join(format!("db-backup-recover-{pid}"))
        } else {
            backup_dir.join(format!(".recover-{pid}"))
        };
        let socket = std::env::temp_dir().join(format!("db-backup-sock-{pid}"));
        for dir in [&root, &root.join("data"), &root.join("wal"), &socket] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        use std::os::unix::fs::PermissionsExt;
        for dir in [&root.join("data"), &socket] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot restrict {}", dir.display()))?;
        }
        Ok(Work { root, socket })
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn wal(&self) -> PathBuf {
        self.root.join("wal")
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.socket);
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Unpacks the compressed tar of a base backup into `data`.
async fn unpack(tarball: &Path, data: &Path) -> Result<()> {
    let (tarball, data) = (tarball.to_path_buf(), data.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&tarball)
            .with_context(|| format!("cannot open {}", tarball.display()))?;
        let decoder = zstd::stream::Decoder::new(file)
            .with_context(|| format!("cannot read {}", tarball.display()))?;
        tar::Archive::new(decoder).unpack(&data).with_context(|| {
            format!(
                "cannot unpack {} into {}",
                tarball.display(),
                data.display()
            )
        })
    })
    .await
    .context("unpack task")?
}

/// The name a WAL file is replayed under: a partial segment stands for its segment.
fn replay_name(name: &str) -> &str {
    name.strip_suffix(".partial").unwrap_or(name)
}

/// Whether recovery from `base` reads the WAL file `name`.
fn needed(base: &Base, name: &str) -> bool {
    match wal_kind(name) {
        Some(WalFile::History) => true,
        Some(WalFile::Segment | WalFile::Partial) => {
            segment_position(replay_name(name)) >= segment_position(&base.start_segment)
        }
        None => false,
    }
}

/// Copies the local archive's WAL that recovery from `base` reads; returns how many files.
async fn copy_local_wal(archive: &Archive, base: &Base, work: &Work) -> Result<usize> {
    let names = file_names(&archive.wal_dir()).await?;
    let mut copied = 0;
    for name in names.iter().filter(|n| needed(base, n)) {
        let as_name = replay_name(name);
        if as_name != name.as_str() && names.iter().any(|n| n == as_name) {
            continue; // the finished segment is there
        }
        let from = archive.wal_dir().join(name);
        let to = work.wal().join(as_name);
        tokio::fs::copy(&from, &to)
            .await
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        copied += 1;
    }
    Ok(copied)
}

/// Downloads and decompresses the remote archive's WAL that recovery from `base` reads.
async fn fetch_remote_wal(remote: &Remote, base: &Base, work: &Work) -> Result<usize> {
    let objects = remote.list_folder(WAL).await?;
    let mut fetched = 0;
    for object in objects.keys() {
        let Some(name) = object.strip_suffix(".zst") else {
            continue;
        };
        if !needed(base, name) {
            continue;
        }
        let as_name = replay_name(name);
        if as_name != name && objects.contains_key(&format!("{as_name}.zst")) {
            continue;
        }
        let packed = work.root.join(object);
        remote.get_file(&format!("{WAL}/{object}"), &packed).await?;
        compress::decompress(&packed, &work.wal().join(as_name))
            .await
            .map_err(|e| {
                Error::Verification(format!(
                    "{}: {e}",
                    remote.object_url(&format!("{WAL}/{object}"))
                ))
            })?;
        manifest::remove_if_exists(&packed).await;
        fetched += 1;
    }
    Ok(fetched)
}

/// The throwaway server's own configuration: no TCP, anyone on its socket is trusted (the
/// socket's directory is its owner's alone), recovery from the copied WAL.
async fn configure(work: &Work) -> Result<()> {
    let data = work.data();
    let write = |name: &str, text: String| {
        let path = data.join(name);
        async move {
            tokio::fs::write(&path, text)
                .await
                .with_context(|| format!("cannot write {}", path.display()))
        }
    };
    write("postgresql.conf", String::new()).await?;
    write("pg_hba.conf", "local all all trust\n".to_owned()).await?;
    write("pg_ident.conf", String::new()).await?;
    write("recovery.signal", String::new()).await?;
    for leftover in ["postmaster.pid", "postmaster.opts", "standby.signal"] {
        manifest::remove_if_exists(&data.join(leftover)).await;
    }
    if running_as_root() {
        let user = recovery_user();
        let (uid, gid) = user_ids(&user)?;
        for top in [&work.root, &work.socket] {
            chown_all(top, uid, gid)?;
        }
    }
    Ok(())
}

fn recovery_user() -> String {
    std::env::var("PG_RECOVERY_USER").unwrap_or_else(|_| "postgres".to_owned())
}

/// uid and gid of `user` (getpwnam).
fn user_ids(user: &str) -> Result<(u32, u32)> {
    let name = std::ffi::CString::new(user).map_err(|_| failed("PG_RECOVERY_USER holds a NUL"))?;
    // SAFETY: getpwnam returns NULL or a pointer to a static record, read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(failed(format!(
            "running as root, the throwaway PostgreSQL server must run as another user: no user \
             {user:?} (set PG_RECOVERY_USER)"
        )));
    }
    // SAFETY: checked non-null above.
    let entry = unsafe { &*entry };
    Ok((entry.pw_uid, entry.pw_gid))
}

fn chown_all(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot chown {}", path.display()))?;
    if path.is_dir() && !path.is_symlink() {
        for entry in
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
        {
            let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
            chown_all(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The throwaway server, stopped and killed when dropped.
struct Server {
    child: tokio::process::Child,
    log: PathBuf,
    socket: PathBuf,
}

const PORT: u16 = 5432;

impl Server {
    async fn start(
        settings: &BackupSettings,
        base: &Base,
        until: Until,
        work: &Work,
    ) -> Result<Server> {
        let (postgres, _) = find_tool("postgres", settings.pg_bin_dir.as_deref(), base.major)
            .await
            .map_err(|e| {
                failed(format!(
                    "{e} (restore --until runs a PostgreSQL server: Debian's postgresql-{})",
                    base.major
                ))
            })?;
        let data = work.data();
        let wal = work.wal();
        let log = work.root.join("postgres.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = tool::command(&postgres);
        command.arg("-D").arg(&data);
        let mut set = |name: &str, value: String| {
            command.arg("-c").arg(format!("{name}={value}"));
        };
        set(
            "config_file",
            data.join("postgresql.conf").display().to_string(),
        );
        set("hba_file", data.join("pg_hba.conf").display().to_string());
        set(
            "ident_file",
            data.join("pg_ident.conf").display().to_string(),
        );
        set("listen_addresses", String::new());
        set("unix_socket_directories", work.socket.display().to_string());
        set("port", PORT.to_string());
        set("ssl", "off".to_owned());
        set("archive_mode", "off".to_owned());
        set("fsync", "off".to_owned());
        set(
            "restore_command",
            format!("cp \"{}/%f\" \"%p\"", wal.display()),
        );
        set("recovery_target_action", "promote".to_owned());
        if let Until::Time(time) = until {
            set(
                "recovery_target_time",
                time.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(),
            );
        }
        command.stdout(std::process::Stdio::null()).stderr(log_file);
        if running_as_root() {
            let (uid, gid) = user_ids(&recovery_user())?;
            command.uid(uid).gid(gid);
        }
        let child = command
            .spawn()
            .context("cannot start the throwaway PostgreSQL server")?;
        Ok(Server {
            child,
            log,
            socket: work.socket.clone(),
        })
    }

    fn options(&self, user: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket)
            .port(PORT)
            .username(user)
            .database(database)
    }

    /// Waits for the recovery to reach its target and the server to accept writes; returns
    /// when the newest replayed transaction committed.
    async fn wait_until_promoted(
        &mut self,
        base: &Base,
        deadline: Duration,
    ) -> Result<Option<DateTime<Utc>>> {
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("cannot watch the throwaway server")?
            {
                return Err(failed(format!(
                    "the recovery stopped ({status}): {}",
                    self.log_lines()
                )));
            }
            if let Ok(mut conn) = self.options(&base.user, &base.database).connect().await {
                let answer: sqlx::Result<(bool, Option<DateTime<Utc>>)> =
                    sqlx::query_as("SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()")
                        .fetch_one(&mut conn)
                        .await;
                let _ = conn.close().await;
                if let Ok((false, last)) = answer {
                    return Ok(last);
                }
            }
            if started.elapsed() > deadline {
                return Err(failed(format!(
                    "the recovery did not finish within {deadline:?} (BACKUP_TIMEOUT): {}",
                    self.log_lines()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The server log's errors, or its last lines.
    fn log_lines(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let errors: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR"))
            .collect();
        let lines = if errors.is_empty() {
            text.lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect()
        } else {
            errors
        };
        let mut joined = lines.join(" / ");
        if joined.contains("recovery ended before configured recovery target was reached") {
            joined.push_str(
                " (the archive ends before that time: restore an earlier time, or --until end)",
            );
        }
        joined
    }

    /// `pg_dump` of the backed-up database, out of the recovered server.
    async fn dump(&self, settings: &BackupSettings, base: &Base, file: &Path) -> Result<()> {
        let (pg_dump, _) = find_tool("pg_dump", settings.pg_bin_dir.as_deref(), base.major).await?;
        let mut command = tool::command(&pg_dump);
        command
            .args(["--format=custom", "--no-password"])
            .arg("--host")
            .arg(&self.socket)
            .arg(format!("--port={PORT}"))
            .arg(format!("--username={}", base.user))
            .arg(format!("--dbname={}", base.database))
            .arg("--file")
            .arg(file);
        tool::run(&mut command, "pg_dump of the recovered database").await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Fast shutdown; killed for good when the child is dropped (kill_on_drop).
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGINT) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(id: &str, finished: &str) -> Base {
        Base {
            format: 1,
            id: id.into(),
            file: super::super::base_file_name(id),
            started_at: finished.parse().unwrap(),
            finished_at: finished.parse().unwrap(),
            timeline: 1,
            start_lsn: "0/2000028".into(),
            start_segment: "000000010000000000000002".into(),
            end_lsn: "0/2000100".into(),
            server_version: "PostgreSQL 15".into(),
            major: 15,
            database: "hbnb".into(),
            user: "hbnb".into(),
            sha256: String::new(),
            size: 0,
        }
    }

    #[test]
    fn reads_the_time_to_restore_to() {
        assert_eq!("end".parse::<Until>(), Ok(Until::End));
        assert_eq!(
            "2026-12-07T15:04:00+01:00".parse::<Until>(),
            Ok(Until::Time("2026-12-07T14:04:00Z".parse().unwrap()))
        );
        assert!("2026-12-07 14:04".parse::<Until>().is_err());
    }

    #[test]
    fn picks_the_newest_base_consistent_before_the_time() {
        let bases = vec![
            base("a", "2026-12-07T10:00:00Z"),
            base("b", "2026-12-07T12:00:00Z"),
        ];
        let at = |t: &str| Until::Time(t.parse().unwrap());
        assert_eq!(
            pick(bases.clone(), "latest", at("2026-12-07T11:00:00Z"))
                .unwrap()
                .id,
            "a"
        );
        assert_eq!(pick(bases.clone(), "latest", Until::End).unwrap().id, "b");
        assert!(matches!(
            pick(bases.clone(), "latest", at("2026-12-07T09:00:00Z")),
            Err(Error::NotFound(_))
        ));
        assert!(pick(bases.clone(), "b", at("2026-12-07T11:00:00Z")).is_err());
        assert!(matches!(
            pick(bases, "c", Until::End),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn replays_partial_segments_under_their_name() {
        let b = base("a", "2026-12-07T10:00:00Z");
        assert!(needed(&b, "000000010000000000000002"));
        assert!(needed(&b, "000000010000000000000003.partial"));
        assert!(!needed(&b, "000000010000000000000001"));
        assert!(needed(&b, "00000002.history"));
        assert_eq!(
            replay_name("000000010000000000000003.partial"),
            "000000010000000000000003"
        );
    }
}
