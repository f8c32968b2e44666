//! HBNB storage, shared by api-service, web-dynamic and db-backup.
//!
//! `Database::connect` picks SQLite or PostgreSQL from the URL (`DATABASE_URL`), opens a pool and
//! runs the embedded migrations of that engine. Every query of the project lives here; the SQL is
//! written once with `$n` placeholders (SQLite accepts them) and run on either pool through the
//! `on_pool!` macro, except for the few statements whose syntax differs.

pub mod models;
mod queries;

use std::path::Path;
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
        let db = if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect(url)
                .await?;
            Database::Postgres(pool)
        } else {
            return Err(StorageError::UnsupportedUrl(redact(url)));
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn connect_sqlite(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let filename = options.get_filename();
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            if let Some(dir) = filename.parent().filter(|d| !d.as_os_str().is_empty()) {
                create_dir(dir)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            // An in-memory database exists once per connection: keep a single one.
            .max_connections(if in_memory { 1 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(Database::Sqlite(pool))
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
