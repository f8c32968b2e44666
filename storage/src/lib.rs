//! HBNB storage, shared by api-service, web-dynamic and db-backup.
//!
//! `Database::connect` picks SQLite or PostgreSQL from the URL (`DATABASE_URL`), opens a pool and
//! runs the embedded migrations of that engine. Every query of the project lives here; the SQL is
//! written once with `$n` placeholders (SQLite accepts them) and run on either pool through the
//! `on_pool!` macro, except for the few statements whose syntax differs.

pub mod models;
mod queries;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use models::*;
pub use queries::{LinkOutcome, PlaceSearch, Stats};

/// Where the data lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/hbnb.sqlite";

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported DATABASE_URL {0:?}: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot lock {path} to apply the migrations: {source}")]
    MigrationLock {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A referenced row (user, city, place, amenity) does not exist (or vanished meanwhile).
    #[error("a referenced row does not exist")]
    MissingReference,
    #[error("migrations are not applied ({applied} of {expected})")]
    NotMigrated { applied: i64, expected: i64 },
}

impl StorageError {
    /// True when the database could not be reached or the pool had no free connection in time.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StorageError::Sqlx(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Which engine a `Database` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pool on one of the two engines.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool (`&SqlitePool` or `&PgPool`).
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Database::Sqlite($pool) => $body,
            $crate::Database::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

impl Database {
    /// Connects with `DATABASE_URL`, or the default SQLite file when it is unset or empty.
    pub async fn from_env() -> Result<Self> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        Self::connect(&url).await
    }

    /// Opens a pool on `url` (`sqlite://path[?mode=rwc]`, `sqlite::memory:`, `postgres://...`)
    /// and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let (db, lock_path) = if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            (Database::Postgres(pool), None)
        } else {
            return Err(StorageError::UnsupportedUrl(redact(url)));
        };
        // sqlx locks the migrations on PostgreSQL (an advisory lock) but not on SQLite: services
        // started together on a new file (systemd starts units in parallel) each applied them, and
        // all but one failed ("table states already exists"). A lock file beside the database
        // serializes them; the next one finds them applied.
        let _lock = match lock_path {
            Some(path) => Some(lock_exclusive(path).await?),
            None => None,
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The pool, and for a database file the lock file its migrations are serialized on.
    async fn connect_sqlite(url: &str) -> Result<(Self, Option<PathBuf>)> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let filename = options.get_filename();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut lock_path = None;
        if !in_memory {
            if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
            let mut name = filename.as_os_str().to_owned();
            name.push(".migrate-lock");
            lock_path = Some(PathBuf::from(name));
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep a single one.
            .max_connections(if in_memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok((Database::Sqlite(pool), lock_path))
    }

    pub fn engine(&self) -> Engine {
        match self {
            Database::Sqlite(_) => Engine::Sqlite,
            Database::Postgres(_) => Engine::Postgres,
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self {
            Database::Sqlite(_) => &SQLITE_MIGRATOR,
            Database::Postgres(_) => &POSTGRES_MIGRATOR,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = self.migrator();
        on_pool!(self, |pool| migrator.run(pool).await)?;
        Ok(())
    }

    /// The readiness check: the database answers and every embedded migration is applied.
    pub async fn check_ready(&self) -> Result<()> {
        let expected = i64::try_from(self.migrator().iter().count()).unwrap_or(i64::MAX);
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)?;
        if applied < expected {
            return Err(StorageError::NotMigrated { applied, expected });
        }
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Waits for an exclusive `flock(2)` on `path` (created if missing), held until the file is
/// dropped; the kernel releases it if the process dies. Never on the database file itself: closing
/// another descriptor of it would drop SQLite's own POSIX locks.
async fn lock_exclusive(path: PathBuf) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let error_path = path.display().to_string();
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a descriptor we own, for as long as `file` lives.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(file)
    })
    .await
    .map_err(|join| std::io::Error::other(join.to_string()))
    .and_then(|result| result);
    locked.map_err(|source| StorageError::MigrationLock {
        path: error_path,
        source,
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
        path: dir.display().to_string(),
        source,
    })
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Now, in UTC, truncated to microseconds (what PostgreSQL keeps), so a created object reads back
/// exactly as it was answered.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A new id: a UUID v4 string.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
