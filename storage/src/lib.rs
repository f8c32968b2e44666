//! HBNB storage, shared by api-service, web-dynamic and db-backup.
//!
//! `Database::connect` picks SQLite, PostgreSQL or MySQL/MariaDB from the URL (`DATABASE_URL`),
//! opens a pool and runs the embedded migrations of that engine. Every query of the project lives
//! here; the SQL is written once with `$n` placeholders (SQLite accepts them; `Database::sql`
//! writes them as `?` for MySQL) and run on any engine through the `on_connection!` and
//! `on_writer!` macros, except for the statements whose syntax differs (MySQL has no `RETURNING`
//! on UPDATE: see `mysql`). Each call is timed by operation and its wait for a pooled connection
//! counted (see `metrics`).

mod database_url;
mod json_chunks;
pub mod metrics;
pub mod models;
mod mysql;
mod pages;
mod pg_writer;
mod queries;
mod search;
mod sqlite_readers;
mod version;
mod writer;

use database_url::{check_ca_files, redact, tls_failure};
pub use database_url::{connect_error, query_parameters, server_address, with_database};

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use json_chunks::JsonChunks;
pub use models::*;
pub use queries::{LinkOutcome, Stats};
pub use search::PlaceSearch;
pub use version::DataVersion;

/// Where the data lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/hbnb.sqlite";

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static MYSQL_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "unsupported DATABASE_URL {0:?}: expected sqlite://..., postgres://... or mysql://..."
    )]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A read on one of SQLite's reader threads (see `sqlite_readers`).
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
    /// A reader thread ended without an answer (see `sqlite_readers`).
    #[error("the read failed: {0}")]
    Reader(String),
    /// A row could not be written as JSON.
    #[error("cannot write the answer as JSON: {0}")]
    Encode(String),
    /// A referenced row (user, city, place, amenity) does not exist (or vanished meanwhile).
    #[error("a referenced row does not exist")]
    MissingReference,
    #[error("migrations are not applied ({applied} of {expected})")]
    NotMigrated { applied: i64, expected: i64 },
    /// A write's group commit failed (the disk is full, the file is unreadable...).
    #[error("the write could not be committed: {0}")]
    Commit(String),
    /// A MySQL database holds some of the course's tables but not all: not adopted.
    #[error("the database has some of the HBNB tables but not all: {0}")]
    PartialSchema(String),
    /// No TLS connection could be made to the server: a CA that did not sign its certificate, a
    /// certificate for another name, a server without TLS where the URL requires it. Not worth
    /// waiting for: the configuration is wrong on one side.
    #[error("cannot make a TLS connection to the database server {server}: {reason}{hint}")]
    Tls {
        server: String,
        reason: String,
        /// What to check, for the reasons an operator meets (see `tls_hint`).
        hint: &'static str,
    },
    /// The CA file a URL names (`sslrootcert=`, `ssl-ca=`) cannot be read.
    #[error("cannot read the CA certificate {parameter}={path} of DATABASE_URL: {source}")]
    CaFile {
        parameter: String,
        path: String,
        source: std::io::Error,
    },
    /// The server could not be reached within `DATABASE_WAIT` at start.
    #[error("the database server {server} cannot be reached (gave up after {waited}): {source}")]
    Unreachable {
        server: String,
        waited: String,
        source: Box<StorageError>,
    },
}

impl StorageError {
    /// True when the database could not be reached, ended the connection (a restart, a
    /// shutdown), did not answer in time, or the pool had no free connection in time: the
    /// request may succeed later (503), it did not fail on its own (500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Sqlx(error) => connection_failed(error),
            StorageError::Commit(_) | StorageError::Unreachable { .. } => true,
            StorageError::SqliteRead(error) => sqlite_readers::busy(error),
            StorageError::Tls { .. } => true,
            _ => false,
        }
    }
}

/// The error is the connection's or the server's state, not the statement's: the pool had no
/// connection in time, the socket failed or timed out (`answer_within`), TLS failed, or the
/// server ended the session (PostgreSQL's SQLSTATE class 08 and 57P01-57P03: an administrator's
/// shutdown, a crash, a server starting up; MySQL's server shutdown, killed connection, too
/// many connections). Such a connection is not given back to the pool.
pub(crate) fn connection_failed(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        error if closed_before_tls(error) => true,
        sqlx::Error::Database(error) => {
            if let Some(mysql) = error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                // ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED (MariaDB), and the
                // client's CR_SERVER_GONE_ERROR and CR_SERVER_LOST should they come as errors.
                return matches!(mysql.number(), 1040 | 1053 | 1927 | 2006 | 2013);
            }
            let code = error.code();
            let code = code.as_deref().unwrap_or("");
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        _ => false,
    }
}

/// The server closed the connection instead of answering PostgreSQL's TLS request (a server not
/// up yet, restarting, or a proxy in front of one): sqlx reads the one-byte answer into a zeroed
/// buffer, so the end of the stream shows as this protocol error rather than an I/O error.
fn closed_before_tls(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Protocol(message)
        if message.contains("unexpected response from SSLRequest: 0x00"))
}

/// How long a database server has to answer one operation on a connection already taken from
/// the pool: a read, a write's transaction, a group commit, a ping. A server that went away
/// without closing its connections (the link between the hosts cut, the host powered off)
/// sends nothing, and TCP would wait for minutes: the request answers 503 instead, and the
/// connection is closed (see `release`). Generous next to what the queries take (milliseconds),
/// and short, as a request may run two operations in a row (the response cache's data version,
/// then the handler's query), each waiting this long before the 503.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a request waits for a pooled connection (a new one included: a server that refuses
/// connections while it restarts is tried again until then): past it, 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// `work` (an operation on a pooled connection of a database server), failed with a timed-out
/// I/O error if the server has not answered within `ANSWER_TIMEOUT`.
pub(crate) async fn answer_within<T>(
    work: impl std::future::Future<Output = sqlx::Result<T>>,
) -> sqlx::Result<T> {
    match tokio::time::timeout(ANSWER_TIMEOUT, work).await {
        Ok(answer) => answer,
        Err(_) => {
            silence::noted();
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the database server did not answer within {ANSWER_TIMEOUT:?}"),
            )))
        }
    }
}

/// A database server that has just let a wait run out (an answer, a connection) is not waited
/// for again at once: for `HOLD` after that, operations fail at once (503) instead of each
/// waiting its own 3 s. Without it, a request that runs several operations in a row (the
/// response cache's data version, a state, its cities) waited 3 s for each while the link was
/// cut: 9 s seen. One per process, as every binary opens one database; SQLite never sets it.
mod silence {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    pub(crate) const HOLD: Duration = Duration::from_secs(1);

    /// When the last wait ran out: milliseconds since `epoch()` plus one (0: never).
    static LAST: AtomicU64 = AtomicU64::new(0);

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn now_ms() -> u64 {
        u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// A wait for the server ran out.
    pub(crate) fn noted() {
        LAST.store(now_ms(), Ordering::Relaxed);
    }

    /// The error for an operation started within `HOLD` of a wait that ran out.
    pub(crate) fn check() -> sqlx::Result<()> {
        let last = LAST.load(Ordering::Relaxed);
        let hold = u64::try_from(HOLD.as_millis()).unwrap_or(u64::MAX);
        if last == 0 || now_ms().saturating_sub(last) >= hold {
            return Ok(());
        }
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "the database server did not answer in time {} ms ago; not waiting again before {HOLD:?}",
                now_ms().saturating_sub(last)
            ),
        )))
    }
}

/// Closes `connection` when `answer` says it failed (see `connection_failed`) instead of giving
/// it back to the pool: sqlx would ping it first, and a ping to a server that does not answer
/// waits as long as TCP does, holding one of the pool's places all that time.
pub(crate) fn release<DB: sqlx::Database, T>(
    connection: &mut sqlx::pool::PoolConnection<DB>,
    answer: &sqlx::Result<T>,
) {
    if matches!(answer, Err(error) if connection_failed(error)) {
        connection.close_on_drop();
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Which engine a `Database` talks to (and a backup was taken from: serialized lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Engine {
    /// The engine a `DATABASE_URL` names: `sqlite:`, `postgres://` (or `postgresql://`),
    /// `mysql://` (or `mariadb://`).
    pub fn of_url(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Some(Engine::Mysql)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
            Engine::Mysql => "mysql",
        }
    }
}

/// The tables of the HBNB schema, parents before children (the order rows are restored in).
pub const TABLES: [&str; 7] = [
    "states",
    "cities",
    "users",
    "amenities",
    "places",
    "reviews",
    "place_amenity",
];

/// A pool on one of the three engines.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(Sqlite),
    Postgres(Postgres),
    /// MySQL or MariaDB.
    Mysql(MySqlPool),
}

/// SQLite: a pool for reads, one connection for writes (see `writer`).
#[derive(Debug, Clone)]
pub struct Sqlite {
    pool: SqlitePool,
    writer: writer::Writer,
    /// Large reads on a file database (None in memory; see `sqlite_readers`).
    readers: Option<std::sync::Arc<sqlite_readers::Readers>>,
}

/// PostgreSQL: a pool for reads, and writes committed in groups through it (see `pg_writer`).
#[derive(Debug, Clone)]
pub struct Postgres {
    pool: PgPool,
    writer: pg_writer::Writer,
}

/// Runs `$body` with `$pool` bound to the concrete read pool (`&SqlitePool`, `&PgPool` or
/// `&MySqlPool`), for what concerns the pool itself (migrations, closing, its sizes); queries
/// run through `on_connection!`.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::Database::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            $crate::Database::Postgres(postgres) => {
                let $pool = &postgres.pool;
                $body
            }
            $crate::Database::Mysql($pool) => $body,
        }
    };
}

/// Runs the read `$body` (a `sqlx::Result`) as storage operation `$operation` (timed, see
/// `metrics`) with `$conn` bound to a connection of the read pool (`&mut SqliteConnection`,
/// `&mut PgConnection` or `&mut MySqlConnection`, taken through `acquire`); the SQL in `$body`
/// goes through `Database::sql` when it has placeholders. On a server (PostgreSQL, MySQL) the
/// body has `ANSWER_TIMEOUT` to answer, and a connection it failed on is closed (`release`).
macro_rules! on_connection {
    ($db:expr, $operation:expr, |$conn:ident| $body:expr) => {
        $crate::metrics::timed($operation, async {
            let answer: sqlx::Result<_> = match $db {
                $crate::Database::Sqlite(sqlite) => {
                    let mut connection = $crate::acquire(&sqlite.pool).await?;
                    let $conn = &mut *connection;
                    $body
                }
                $crate::Database::Postgres(postgres) => {
                    let mut connection = $crate::acquire(&postgres.pool).await?;
                    let answer = $crate::answer_within(async {
                        let $conn = &mut *connection;
                        $body
                    })
                    .await;
                    $crate::release(&mut connection, &answer);
                    answer
                }
                $crate::Database::Mysql(pool) => {
                    let mut connection = $crate::acquire(pool).await?;
                    let answer = $crate::answer_within(async {
                        let $conn = &mut *connection;
                        $body
                    })
                    .await;
                    $crate::release(&mut connection, &answer);
                    answer
                }
            };
            answer
        })
        .await
    };
}
pub(crate) use on_connection;

/// Runs a write, timed as `$operation`: `$sql` with its `$n` placeholders bound to the values in
/// brackets, answering `one<Model>` (the row of `... RETURNING *`), `optional<Model>` (that
/// row if there was one) or `affected` (rows changed). On SQLite the statement queues for the
/// write connection's group commit (see `writer`); on PostgreSQL for a group commit on a
/// pooled connection (see `pg_writer`); on MySQL `$mysql` runs instead (a `Result`), with `$my` bound to the pool: its
/// statements differ.
macro_rules! on_writer {
    (
        $db:expr, $operation:expr, $sql:expr, [$($value:expr),* $(,)?] => $answer:ident $(<$model:ty>)?,
        mysql |$my:ident| $mysql:expr
    ) => {
        $crate::metrics::timed($operation, async {
            match $db {
                $crate::Database::Sqlite(sqlite) => {
                    let statement = $crate::writer::Statement::new($sql)$(.bind($value))*;
                    sqlite
                        .writer
                        .write(statement, $crate::writer::$answer $(::<$model, _>)?)
                        .await
                }
                $crate::Database::Postgres(postgres) => {
                    let statement = $crate::pg_writer::Statement::new($sql)$(.bind($value))*;
                    postgres
                        .writer
                        .write(statement, $crate::writer::$answer $(::<$model, _>)?)
                        .await
                }
                $crate::Database::Mysql($my) => $mysql,
            }
        })
        .await
    };
}
pub(crate) use on_writer;

/// A connection that was idle at least this long is pinged before it is handed out; one in
/// steady use is not (a ping is a round trip to the server, as long as the query itself).
pub(crate) const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The pool of a database server (PostgreSQL, MySQL): 16 connections, `ACQUIRE_TIMEOUT` to get one, and
/// sqlx's ping-before-every-acquire replaced by a ping of connections that sat idle. A server
/// that restarted or a connection a firewall dropped is found out by that ping (the connection
/// is replaced, the query runs on a fresh one); connections that just served a query skip it.
fn server_pool_options<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB> {
    use sqlx::Connection;
    options
        .max_connections(16)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    // Bounded: a ping to a host that no longer answers is given up on (the
                    // connection is then closed and another one opened, within the acquire).
                    answer_within(connection.ping()).await?;
                }
                Ok(true)
            })
        })
}

/// A connection of `pool`. Every pooled connection a query uses is taken here, so that the
/// calls waiting for one are counted (`db_pool_waiting_requests`: sqlx does not expose its
/// waiters) and the waits that time out too; an atomic increment and decrement per call.
///
/// On a database server (not SQLite, a file), an operation within `silence::HOLD` of a wait that
/// ran out fails at once, and a wait for a connection that runs out is noted (see `silence`).
pub(crate) async fn acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> sqlx::Result<sqlx::pool::PoolConnection<DB>> {
    let server = DB::NAME != "SQLite";
    if server {
        silence::check()?;
    }
    let _waiting = metrics::Waiting::start();
    let acquired = pool.acquire().await;
    if let Err(sqlx::Error::PoolTimedOut) = acquired {
        metrics::acquire_timed_out();
        if server {
            silence::noted();
        }
    }
    acquired
}

/// How durable an acknowledged SQLite write is (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Synchronous {
    /// Survives a power loss: every commit waits for the disk (concurrent writes share one).
    #[default]
    Full,
    /// Survives a crash of the process, not of the machine (the last commits may be lost).
    Normal,
    /// Leaves syncing to the OS: for throwaway data only.
    Off,
}

/// Where the data lives and how it is written; flattened into every service's settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DatabaseSettings {
    /// sqlite://path (created on first use), postgres://user:password@host/db or
    /// mysql://user:password@host/db (mariadb:// is the same).
    /// Default: sqlite://data/hbnb.sqlite.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// SQLite only: full (a commit survives power loss, the default), normal (survives a crash
    /// of the process only) or off.
    #[arg(long = "sqlite-synchronous", env = "SQLITE_SYNCHRONOUS", value_enum, default_value_t = Synchronous::Full)]
    pub sqlite_synchronous: Synchronous,
    /// How long to wait at start for a database server that cannot be reached yet (a container
    /// starting beside this one, a server restarting) before giving up; 0 gives up at once.
    #[arg(long = "database-wait", env = "DATABASE_WAIT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub database_wait: Duration,
}

impl DatabaseSettings {
    /// `DATABASE_URL`, or the default SQLite file when it is unset or empty.
    pub fn url(&self) -> &str {
        self.database_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_DATABASE_URL)
    }

    /// Opens the database and applies the migrations.
    pub async fn connect(&self) -> Result<Database> {
        Database::connect_with(self.url(), self.sqlite_synchronous).await
    }

    /// What a service that serves from the database opens at start: the database (migrated) and
    /// its data-version source (None where there is none, e.g. in memory).
    /// A server that cannot be reached yet is tried again every half second for `database_wait`
    /// (an orchestrator starts services in any order; compose's start order does not wait).
    pub async fn open(&self) -> Result<(Database, Option<DataVersion>)> {
        let deadline = tokio::time::Instant::now() + self.database_wait;
        let server = server_address(self.url());
        let db = loop {
            match self.connect().await {
                Err(error) if error.is_unreachable() && tokio::time::Instant::now() < deadline => {
                    tracing::warn!(%server, %error, "database not reachable yet; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) if error.is_unreachable() && self.database_wait > Duration::ZERO => {
                    return Err(StorageError::Unreachable {
                        server,
                        waited: humantime::format_duration(self.database_wait).to_string(),
                        source: Box::new(error),
                    });
                }
                result => break result?,
            }
        };
        tracing::info!(engine = ?db.engine(), "database open, migrations applied");
        let version = db.data_version(self.url()).await?;
        Ok((db, version))
    }
}

impl StorageError {
    /// The server cannot be reached (yet): refused, unresolvable, starting up. Worth waiting for,
    /// unlike a wrong password or a bad URL.
    pub fn is_unreachable(&self) -> bool {
        match self {
            // A file that is missing or unreadable (a client certificate) is no server to wait
            // for, nor is a TLS handshake that failed (an unknown CA, a name mismatch).
            StorageError::Sqlx(error @ sqlx::Error::Io(io)) => {
                tls_failure(error).is_none()
                    && !matches!(
                        io.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                    )
            }
            StorageError::Sqlx(sqlx::Error::PoolTimedOut) => true,
            StorageError::Sqlx(error) if closed_before_tls(error) => true,
            // PostgreSQL's cannot_connect_now: "the database system is starting up".
            StorageError::Sqlx(sqlx::Error::Database(error)) => {
                error.code().as_deref() == Some("57P03")
            }
            _ => false,
        }
    }
}

impl Database {
    /// Opens a pool on `url` (`sqlite://path[?mode=rwc]`, `sqlite::memory:`, `postgres://...`,
    /// `mysql://...` or `mariadb://...`)
    /// with the default settings and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Synchronous::default()).await
    }

    pub async fn connect_with(url: &str, synchronous: Synchronous) -> Result<Self> {
        let engine = Engine::of_url(url);
        if matches!(engine, Some(Engine::Postgres | Engine::Mysql)) {
            check_ca_files(url)?;
        }
        let db = match engine {
            Some(Engine::Sqlite) => return Self::connect_sqlite(url, synchronous).await,
            Some(Engine::Postgres) => {
                let pool = server_pool_options::<sqlx::Postgres>(PgPoolOptions::new())
                    .connect(url)
                    .await
                    .map_err(|error| connect_error(url, error))?;
                Database::Postgres(Postgres {
                    writer: pg_writer::Writer::start(pool.clone()),
                    pool,
                })
            }
            Some(Engine::Mysql) => {
                let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
                let options = MySqlConnectOptions::from_str(&format!("mysql://{rest}"))?
                    .charset("utf8mb4")
                    .timezone(Some("+00:00".to_owned()));
                let pool = server_pool_options::<sqlx::MySql>(MySqlPoolOptions::new())
                    .connect_with(options)
                    .await
                    .map_err(|error| connect_error(url, error))?;
                Database::Mysql(pool)
            }
            None => return Err(StorageError::UnsupportedUrl(redact(url))),
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn connect_sqlite(url: &str, synchronous: Synchronous) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Off => SqliteSynchronous::Off,
            })
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
            // Reads in parallel, one per core and a few more; writes have their own connection.
            .max_connections(if in_memory { 1 } else { 4 })
            .acquire_timeout(Duration::from_secs(30))
            // A file does not hang up: a ping per query would only cost a round trip to the
            // connection's thread.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // `sqlite::memory:` is a named shared-cache database: the writer sees the same data.
        let writer = writer::Writer::start(&options).await?;
        let readers = (!in_memory).then(|| sqlite_readers::Readers::new(filename));
        let db = Database::Sqlite(Sqlite {
            pool,
            writer,
            readers,
        });
        // Services started together on a new file would otherwise both find no migrations table
        // and both create the schema ("table states already exists"): one migrates at a time.
        let _lock = if in_memory {
            None
        } else {
            Some(lock_file(&filename.with_extension("migrate.lock")).await?)
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn engine(&self) -> Engine {
        match self {
            Database::Sqlite(_) => Engine::Sqlite,
            Database::Postgres(_) => Engine::Postgres,
            Database::Mysql(_) => Engine::Mysql,
        }
    }

    /// `sql` as this engine takes it: MySQL's placeholders are `?`, bound in order, so `$n` are
    /// written `?` (each `$n` must appear once, in increasing order), and text sorts by its bytes
    /// (see `mysql::statement`).
    pub(crate) fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self {
            Database::Mysql(_) => Cow::Owned(mysql::statement(sql)),
            _ => Cow::Borrowed(sql),
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self {
            Database::Sqlite(_) => &SQLITE_MIGRATOR,
            Database::Postgres(_) => &POSTGRES_MIGRATOR,
            Database::Mysql(_) => &MYSQL_MIGRATOR,
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = self.migrator();
        if let Database::Mysql(pool) = self {
            return mysql::migrate(pool, migrator).await;
        }
        on_pool!(self, |pool| migrator.run(pool).await)?;
        Ok(())
    }

    /// The readiness check: the database answers and every embedded migration is applied.
    pub async fn check_ready(&self) -> Result<()> {
        let expected = i64::try_from(self.migrator().iter().count()).unwrap_or(i64::MAX);
        let sql = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success";
        let applied: i64 = on_connection!(self, "check_ready", |conn| {
            sqlx::query_scalar(sql).fetch_one(conn).await
        })?;
        if applied < expected {
            return Err(StorageError::NotMigrated { applied, expected });
        }
        Ok(())
    }

    /// The readiness check as a shareable closure (what `hbnb_common::Readiness` takes).
    pub fn readiness_check(
        &self,
    ) -> impl Fn() -> futures_util::future::BoxFuture<'static, std::result::Result<(), String>>
           + Send
           + Sync
           + 'static {
        let db = self.clone();
        move || {
            let db = db.clone();
            Box::pin(async move { db.check_ready().await.map_err(|e| e.to_string()) })
        }
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// An exclusive lock on `path` (created if missing), held until the file is dropped; waits for
/// another process holding it, off the async workers.
async fn lock_file(path: &Path) -> Result<std::fs::File> {
    let shown = path.display().to_string();
    let path = path.to_path_buf();
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))
    .and_then(|locked| locked);
    locked.map_err(|source| StorageError::Lock {
        path: shown,
        source,
    })
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StorageError::DataDir {
        path: dir.display().to_string(),
        source,
    })
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

/// How many connections a pool holds, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open now (idle or in use).
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The pool's limit.
    pub max: u32,
}

impl Database {
    /// The read pool's connections (SQLite's single write connection is not counted).
    pub fn pool_stats(&self) -> PoolStats {
        on_pool!(self, |pool| PoolStats {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_connection_is_unavailable() {
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert!(StorageError::Sqlx(sqlx::Error::Io(timed_out)).is_unavailable());
        assert!(StorageError::Sqlx(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StorageError::Sqlx(sqlx::Error::RowNotFound).is_unavailable());
    }
}
