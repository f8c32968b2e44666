//! `serve`: backups on a schedule that survives restarts, HTTP `/healthz` (unhealthy when the last
//! good backup is older than twice the schedule's period) and `/metrics` (Prometheus text, through the
//! shared registry of `hbnb_common::metrics`). With `BACKUP_REMOTE`, an uploader task copies each
//! backup to the remote after it is taken, and retries with a doubling wait while the remote
//! fails (the backups stay in the local directory meanwhile). With `BACKUP_PITR`, the archiver of
//! pitr/ streams the WAL and takes base backups beside the schedule.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use hbnb_common::{AppOptions, Application, Readiness, ServerSettings};

use crate::backup::{self, BackupSettings};
use crate::error::Error;
use crate::lock::DirLock;
use crate::manifest;
use crate::pitr;
use crate::remote::{self, Remote};
use crate::schedule::Schedule;

pub const DEFAULT_PORT: u16 = 5004;

#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Start of the newest verified backup (from the manifests, so it survives restarts).
    pub last_good_started: Option<DateTime<Utc>>,
    /// When the newest verified backup finished.
    pub last_success: Option<DateTime<Utc>>,
    pub last_duration: Option<Duration>,
    pub last_size: Option<u64>,
    pub successes: u64,
    pub failures: u64,
    pub running: bool,
    pub next_run: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Backups this process copied to the remote.
    pub uploads: u64,
    /// Attempts to bring the remote up to date that failed.
    pub upload_failures: u64,
    /// When the newest verified backup on the remote finished (as of the last good sync).
    pub remote_last_success: Option<DateTime<Utc>>,
}

pub struct State {
    pub settings: BackupSettings,
    pub schedule: Schedule,
    pub remote: Option<Arc<Remote>>,
    /// Wakes the uploader when a backup run ends.
    pub uploaded_wanted: tokio::sync::Notify,
    pub process_started: DateTime<Utc>,
    pub stats: Mutex<Stats>,
    /// The point-in-time archiver's status (BACKUP_PITR).
    pub pitr: Option<pitr::SharedStatus>,
}

impl State {
    fn stats(&self) -> Stats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut Stats)) {
        if let Ok(mut stats) = self.stats.lock() {
            f(&mut stats);
        }
    }

    /// Healthy while the newest good backup (when it finished; before any, the process start)
    /// is younger than twice the schedule's period (the interval, or the longest gap between two
    /// times of the cron pattern).
    pub fn health(&self) -> Result<(), String> {
        let stats = self.stats();
        let limit = self.schedule.period(Utc::now()) * 2;
        let reference = stats.last_success.unwrap_or(self.process_started);
        let age = (Utc::now() - reference).to_std().unwrap_or_default();
        if age <= limit {
            return Ok(());
        }
        let what = match stats.last_success {
            Some(at) => format!("the last good backup (finished {}) is", at.to_rfc3339()),
            None => "no backup has succeeded and the service started".to_owned(),
        };
        let mut reason = format!(
            "{what} {} old, more than twice the interval ({}{})",
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(limit / 2),
            match &self.schedule {
                Schedule::Every(_) => String::new(),
                cron => format!(", the longest between two times of {}", cron.describe()),
            }
        );
        if let Some(error) = stats.last_error {
            let _ = write!(reason, "; last error: {error}");
        }
        Err(reason)
    }

    /// Reads the newest verified backup from the directory (it may have been taken by
    /// `db-backup now` in another process).
    async fn refresh_from_disk(&self) {
        match manifest::load_all(&self.settings.backup_dir).await {
            Ok(all) => {
                if let Some(newest) = all.iter().rev().find(|m| m.verified()) {
                    let finished = newest.started_at
                        + chrono::Duration::milliseconds(newest.duration_ms as i64);
                    self.update(|s| {
                        if s.last_good_started.is_none_or(|t| t < newest.started_at) {
                            s.last_good_started = Some(newest.started_at);
                            s.last_success = Some(finished);
                            s.last_duration = Some(Duration::from_millis(newest.duration_ms));
                            s.last_size = Some(newest.size);
                        }
                    });
                }
            }
            Err(error) => tracing::error!(%error, "cannot read the backup directory"),
        }
    }

    /// With a remote and no local backup newer than its newest (a host whose disk was replaced):
    /// the remote's newest verified backup is the last run, so the schedule does not back up at
    /// once if one was taken recently. Bounded: an unreachable remote only delays the start.
    async fn refresh_from_remote(&self) {
        let Some(remote) = &self.remote else { return };
        match tokio::time::timeout(Duration::from_secs(15), remote.list()).await {
            Ok(Ok(all)) => {
                if let Some(newest) = all.iter().rev().find(|m| m.verified()) {
                    let finished = newest.started_at
                        + chrono::Duration::milliseconds(newest.duration_ms as i64);
                    self.update(|s| {
                        s.remote_last_success = Some(finished);
                        if s.last_good_started.is_none_or(|t| t < newest.started_at) {
                            s.last_good_started = Some(newest.started_at);
                        }
                    });
                }
            }
            Ok(Err(error)) => {
                tracing::error!(remote = %remote.url(), %error, "cannot list the remote backups at start-up")
            }
            Err(_) => {
                tracing::error!(remote = %remote.url(), "listing the remote backups at start-up timed out")
            }
        }
    }

    /// Registers the backup families in the shared registry (`hbnb_common::metrics`), refreshed
    /// from the stats before each scrape. Names and meanings are the hand-written exporter's.
    fn register_metrics(self: &Arc<Self>) {
        use hbnb_common::metrics::register;
        use prometheus::{Gauge, IntCounter};
        let gauge = |name: &str, help: &str| {
            register(Gauge::new(name, help).unwrap_or_else(|_| unreachable!("valid metric")))
        };
        let counter = |name: &str, help: &str| {
            register(IntCounter::new(name, help).unwrap_or_else(|_| unreachable!("valid metric")))
        };
        let last_success = gauge(
            "db_backup_last_success_timestamp_seconds",
            "When the newest verified backup finished (Unix time; 0: never).",
        );
        let last_duration = gauge(
            "db_backup_last_duration_seconds",
            "How long the newest verified backup took, dump and verification.",
        );
        let last_size = gauge(
            "db_backup_last_size_bytes",
            "Size of the newest verified backup.",
        );
        let successes = counter(
            "db_backup_success_total",
            "Backups taken and verified by this process.",
        );
        let failures = counter(
            "db_backup_failure_total",
            "Backup runs of this process that failed (dump, verification or I/O).",
        );
        let running = gauge("db_backup_running", "1 while a backup runs.");
        let next_run = gauge(
            "db_backup_next_run_timestamp_seconds",
            "When the next scheduled backup starts (Unix time).",
        );
        let interval = gauge(
            "db_backup_interval_seconds",
            "BACKUP_INTERVAL, or the longest time between two runs of BACKUP_SCHEDULE.",
        );
        let uploads = counter(
            "db_backup_uploads_total",
            "Backups this process copied to BACKUP_REMOTE.",
        );
        let upload_failures = counter(
            "db_backup_upload_failures_total",
            "Attempts of this process to copy backups to BACKUP_REMOTE (or apply retention there) \
             that failed; the backups stay local and the copy is retried.",
        );
        let remote_last_success = gauge(
            "db_backup_remote_last_success_timestamp_seconds",
            "When the newest verified backup in BACKUP_REMOTE finished (Unix time; 0: none, or no \
             remote).",
        );
        // Registered whatever BACKUP_PITR says, so that the alert rules always name series
        // that exist (0 when it is off: nothing archived, nothing lagging).
        let lag = gauge(
            "db_backup_wal_archive_lag_seconds",
            "How old the newest log (WAL, binary log) is that a point-in-time restore could lack: \
             the time since the stream stopped or, with BACKUP_REMOTE, since the remote last held \
             all of it (BACKUP_PITR; 0 when off).",
        );
        let newest_base = gauge(
            "db_backup_pitr_last_base_timestamp_seconds",
            "When the newest base for point-in-time recovery started (Unix time; 0: none, or \
             BACKUP_PITR off).",
        );
        let base_failures = counter(
            "db_backup_pitr_base_failures_total",
            "Base backups for point-in-time recovery that failed.",
        );
        let wal_upload_failures = counter(
            "db_backup_wal_upload_failures_total",
            "Passes copying the log archive and base backups to BACKUP_REMOTE that failed; \
             retried every BACKUP_WAL_UPLOAD_INTERVAL.",
        );
        let wal_uploaded = counter(
            "db_backup_wal_files_uploaded_total",
            "Log files (WAL segments, partial segments, histories, binary logs) copied to \
             BACKUP_REMOTE.",
        );
        let started = std::time::Instant::now();
        let state = Arc::downgrade(self);
        hbnb_common::metrics::on_scrape(move || {
            let Some(state) = state.upgrade() else {
                return;
            };
            let stats = state.stats();
            let timestamp =
                |t: Option<DateTime<Utc>>| t.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0);
            last_success.set(timestamp(stats.last_success));
            last_duration.set(stats.last_duration.map_or(0.0, |d| d.as_secs_f64()));
            last_size.set(stats.last_size.unwrap_or(0) as f64);
            // Counters only go up: add what the stats counted since the last scrape.
            successes.inc_by(stats.successes.saturating_sub(successes.get()));
            failures.inc_by(stats.failures.saturating_sub(failures.get()));
            running.set(f64::from(u8::from(stats.running)));
            next_run.set(timestamp(stats.next_run));
            interval.set(state.schedule.period(Utc::now()).as_secs_f64());
            uploads.inc_by(stats.uploads.saturating_sub(uploads.get()));
            upload_failures.inc_by(stats.upload_failures.saturating_sub(upload_failures.get()));
            remote_last_success.set(timestamp(stats.remote_last_success));
            if let Some(status) = &state.pitr {
                let status = status.lock().map(|s| s.clone()).unwrap_or_default();
                lag.set(status.lag(started).as_secs_f64());
                newest_base.set(timestamp(status.newest_base));
                base_failures.inc_by(status.base_failures.saturating_sub(base_failures.get()));
                let failures = status.upload_failures;
                wal_upload_failures.inc_by(failures.saturating_sub(wal_upload_failures.get()));
                wal_uploaded.inc_by(status.segments_uploaded.saturating_sub(wal_uploaded.get()));
            }
        });
    }
}

/// Serves HTTP and runs the schedule until SIGTERM/SIGINT.
pub async fn serve(server: &ServerSettings, settings: BackupSettings) -> std::process::ExitCode {
    if let Err(error) = tokio::fs::create_dir_all(&settings.backup_dir).await {
        tracing::error!(dir = %settings.backup_dir.display(), %error, "cannot create the backup directory");
        eprintln!(
            "error: cannot create {}: {error}",
            settings.backup_dir.display()
        );
        return std::process::ExitCode::FAILURE;
    }
    let remote = match Remote::from_url(settings.backup_remote.as_deref()) {
        Ok(remote) => remote.map(Arc::new),
        Err(error) => {
            tracing::error!(%error, "bad BACKUP_REMOTE");
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let plan = match settings.schedule() {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let pitr_source = if settings.pitr {
        match pitr::Source::of(&settings) {
            Ok(source) => Some(source),
            Err(error) => {
                eprintln!("error: {error}");
                return std::process::ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let state = Arc::new(State {
        schedule: plan,
        settings,
        remote,
        uploaded_wanted: tokio::sync::Notify::new(),
        process_started: Utc::now(),
        stats: Mutex::new(Stats::default()),
        pitr: pitr_source.as_ref().map(|_| pitr::SharedStatus::default()),
    });
    state.refresh_from_disk().await;
    state.refresh_from_remote().await;
    tracing::info!(schedule = %state.schedule.describe(), "backup schedule");
    state.register_metrics();

    let health_state = state.clone();
    let ready_state = state.clone();
    let readiness = Readiness::new()
        .with_health_check(move || {
            let state = health_state.clone();
            async move { state.health() }.boxed()
        })
        .with_check(move || {
            let dir = ready_state.settings.backup_dir.clone();
            async move {
                match tokio::fs::metadata(&dir).await {
                    Ok(m) if m.is_dir() => Ok(()),
                    _ => Err(format!("the backup directory {} is missing", dir.display())),
                }
            }
            .boxed()
        });
    let data = web::Data::from(state.clone());
    let application = Application::build(
        server,
        DEFAULT_PORT,
        readiness,
        AppOptions {
            access_log: true,
            ..AppOptions::default()
        },
        move |cfg| {
            cfg.app_data(data.clone());
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let uploader = state
        .remote
        .clone()
        .map(|remote| tokio::spawn(upload(state.clone(), remote, stop_rx.clone())));
    let archiver = match (pitr_source, &state.pitr) {
        (Some(source), Some(status)) => Some(tokio::spawn(pitr::run(
            state.settings.clone(),
            source,
            state.remote.clone(),
            status.clone(),
            stop_rx.clone(),
        ))),
        _ => None,
    };
    let scheduler = tokio::spawn(schedule(state.clone(), stop_rx));
    let code = hbnb_common::run(application).await;
    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(5), scheduler)
        .await
        .is_err()
    {
        tracing::warn!("the scheduler did not stop in time");
    }
    if let Some(archiver) = archiver {
        if tokio::time::timeout(Duration::from_secs(10), archiver)
            .await
            .is_err()
        {
            tracing::warn!("the WAL archiver did not stop in time");
        }
    }
    if let Some(uploader) = uploader {
        if tokio::time::timeout(Duration::from_secs(5), uploader)
            .await
            .is_err()
        {
            tracing::warn!("the uploader did not stop in time");
        }
    }
    code
}

/// How soon a failed backup is tried again, doubling after each failure in a row, but never
/// later than the schedule's own next run: the database may not exist yet (db-backup started
/// beside the service that creates it), or its server may be restarting. Waiting a whole
/// schedule step (48 hours by default) would leave the data without a backup all that time.
const FIRST_RETRY: Duration = Duration::from_secs(10);

/// When a backup that failed `failures` times in a row, last at `attempt`, is tried again.
fn retry_after(attempt: DateTime<Utc>, failures: u32) -> DateTime<Utc> {
    let delay = FIRST_RETRY.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
    attempt + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

/// The schedule: the next run is one step of the schedule (an interval, or the next time of the
/// cron pattern) after the later of the newest verified backup and this process's last attempt;
/// right away when that is already past (catch-up after a restart; schedule.rs); sooner after a
/// failure (`FIRST_RETRY`).
async fn schedule(state: Arc<State>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last_attempt: Option<DateTime<Utc>> = None;
    let mut failures_in_a_row = 0;
    loop {
        state.refresh_from_disk().await;
        let stats = state.stats();
        let anchor = match (stats.last_good_started, last_attempt) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let now = Utc::now();
        let mut next = state.schedule.next_run(anchor, now);
        if let (Some(attempt), 1..) = (last_attempt, failures_in_a_row) {
            next = next.min(retry_after(attempt, failures_in_a_row).max(now));
        }
        state.update(|s| s.next_run = Some(next));
        if anchor.is_some() {
            tracing::info!(next = %next.to_rfc3339(), "next backup scheduled");
        }
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        let started = Utc::now();
        last_attempt = Some(started);
        let run = async {
            let _lock = DirLock::acquire(&state.settings.backup_dir).await?;
            state.update(|s| s.running = true);
            backup::run_once(&state.settings).await
        };
        let result = tokio::select! {
            result = run => result,
            _ = stop.changed() => {
                tracing::warn!("shutdown during a backup: abandoning it");
                if let Ok(Some(_lock)) = DirLock::try_acquire(&state.settings.backup_dir).await {
                    manifest::clean_partials(&state.settings.backup_dir).await;
                }
                return;
            }
        };
        state.update(|s| s.running = false);
        // Even a backup that failed verification is copied: the remote mirrors the directory.
        state.uploaded_wanted.notify_one();
        failures_in_a_row = if result.is_ok() {
            0
        } else {
            failures_in_a_row + 1
        };
        match result {
            Ok(manifest) => state.update(|s| {
                s.successes += 1;
                s.last_error = None;
                s.last_good_started = Some(manifest.started_at);
                s.last_success = Some(Utc::now());
                s.last_duration = Some(Duration::from_millis(manifest.duration_ms));
                s.last_size = Some(manifest.size);
            }),
            Err(error) => {
                let kind = match error {
                    Error::Verification(_) => "verification failed",
                    _ => "backup failed",
                };
                tracing::error!(%error, "{kind}");
                state.update(|s| {
                    s.failures += 1;
                    s.last_error = Some(error.to_string());
                });
            }
        }
    }
}

/// Longest wait between two attempts to reach a failing remote.
const MAX_UPLOAD_RETRY: Duration = Duration::from_secs(30 * 60);

/// The uploader: brings the remote up to date at start-up (backups a previous run could not copy)
/// and after each backup run; while that fails, retries after BACKUP_UPLOAD_RETRY, doubling up to
/// 30 minutes, each failure logged as an error and counted. It holds the directory's lock while
/// it copies, so retention cannot remove a dump being uploaded.
async fn upload(
    state: Arc<State>,
    remote: Arc<Remote>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let first_retry: Duration = state.settings.upload_retry.into();
    let mut retry = first_retry;
    loop {
        let attempt = async {
            let _lock = DirLock::acquire(&state.settings.backup_dir).await?;
            remote::sync(&remote, &state.settings.backup_dir, state.settings.policy()).await
        };
        let result = tokio::select! {
            result = attempt => result,
            _ = stop.changed() => return,
        };
        let wait = match result {
            Ok(synced) => {
                if !synced.uploaded.is_empty() || !synced.removed.is_empty() {
                    tracing::info!(
                        remote = %remote.url(),
                        copied = synced.uploaded.len(),
                        removed = synced.removed.len(),
                        "the remote is up to date"
                    );
                }
                let newest = synced
                    .newest_verified
                    .map(|m| m.started_at + chrono::Duration::milliseconds(m.duration_ms as i64));
                state.update(|s| {
                    s.uploads += synced.uploaded.len() as u64;
                    s.remote_last_success = newest;
                });
                retry = first_retry;
                None
            }
            Err(error) => {
                tracing::error!(
                    remote = %remote.url(),
                    %error,
                    retry_in = %humantime::format_duration(retry),
                    "copying the backups to the remote failed; they are kept locally"
                );
                state.update(|s| s.upload_failures += 1);
                let wait = retry;
                retry = (retry * 2).min(MAX_UPLOAD_RETRY);
                Some(wait)
            }
        };
        // A new backup wakes the uploader at once, even during a retry wait.
        let timer = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = timer => {}
            _ = state.uploaded_wanted.notified() => {}
            _ = stop.changed() => return,
        }
    }
}
