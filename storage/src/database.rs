//! A pool on one of the three engines, and how an operation reaches it: reads through
//! `on_connection!` (one SQL text, `$n` placeholders, written as MySQL takes it by `sql`),
//! writes as one `Write` description run by each engine its own way (`write_row`,
//! `write_count`). The resources (`reads`, `writes`, `search`, `pages`, `version`) build on
//! this; the engines (`sqlite`, `postgres`, `mysql`) stand below it and never see it.

use std::borrow::Cow;

use sqlx::mysql::MySqlPool;

use crate::database_url::{check_ca_files, redact};
use crate::engine::Engine;
use crate::error::{Result, StorageError};
use crate::group_commit::{affected, optional};
use crate::models::Model;
use crate::postgres::Postgres;
use crate::sqlite::{Sqlite, Synchronous};
use crate::write::Write;
use crate::{metrics, mysql, postgres, sqlite};

/// A pool on one of the three engines.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(Sqlite),
    Postgres(Postgres),
    /// MySQL or MariaDB.
    Mysql(MySqlPool),
}

/// Runs `$body` with `$pool` bound to the concrete read pool (`&SqlitePool`, `&PgPool` or
/// `&MySqlPool`), for what concerns the pool itself (closing, its sizes); queries run through
/// `on_connection!`.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Database::Sqlite(sqlite) => {
                let $pool = &sqlite.pool;
                $body
            }
            Database::Postgres(postgres) => {
                let $pool = &postgres.pool;
                $body
            }
            Database::Mysql($pool) => $body,
        }
    };
}

/// `$body` on a connection of the server pool `$pool`, bound to `$conn`: within
/// `server::ANSWER_TIMEOUT`, and the connection closed if it failed (`server::release`).
macro_rules! on_server_connection {
    ($pool:expr, |$conn:ident| $body:expr) => {{
        let mut connection = $crate::server::acquire($pool).await?;
        let answer = $crate::server::answer_within(async {
            let $conn = &mut *connection;
            $body
        })
        .await;
        $crate::server::release(&mut connection, &answer);
        answer
    }};
}

/// Runs the read `$body` (a `sqlx::Result`) as storage operation `$operation` (timed, see
/// `metrics`) with `$conn` bound to a connection of the read pool (`&mut SqliteConnection`,
/// `&mut PgConnection` or `&mut MySqlConnection`, taken through `server::acquire`); the SQL in
/// `$body` goes through `Database::sql` when it has placeholders.
macro_rules! on_connection {
    ($db:expr, $operation:expr, |$conn:ident| $body:expr) => {
        $crate::metrics::timed($operation, async {
            let answer: sqlx::Result<_> = match $db {
                $crate::database::Database::Sqlite(sqlite) => {
                    let mut connection = $crate::server::acquire(&sqlite.pool).await?;
                    let $conn = &mut *connection;
                    $body
                }
                $crate::database::Database::Postgres(postgres) => {
                    $crate::database::on_server_connection!(&postgres.pool, |$conn| $body)
                }
                $crate::database::Database::Mysql(pool) => {
                    $crate::database::on_server_connection!(pool, |$conn| $body)
                }
            };
            answer
        })
        .await
    };
}
pub(crate) use {on_connection, on_server_connection};

impl Database {
    /// Opens a pool on `url` (`sqlite://path[?mode=rwc]`, `sqlite::memory:`, `postgres://...`,
    /// `mysql://...` or `mariadb://...`) with the default settings and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, Synchronous::default(), true).await
    }

    pub async fn connect_with(
        url: &str,
        synchronous: Synchronous,
        pg_group_commit: bool,
    ) -> Result<Self> {
        let engine = Engine::of_url(url);
        if matches!(engine, Some(Engine::Postgres | Engine::Mysql)) {
            check_ca_files(url)?;
        }
        Ok(match engine {
            Some(Engine::Sqlite) => Database::Sqlite(sqlite::connect(url, synchronous).await?),
            Some(Engine::Postgres) => {
                Database::Postgres(postgres::connect(url, pg_group_commit).await?)
            }
            Some(Engine::Mysql) => Database::Mysql(mysql::connect(url).await?),
            None => return Err(StorageError::UnsupportedUrl(redact(url))),
        })
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
            Database::Sqlite(_) => &sqlite::MIGRATOR,
            Database::Postgres(_) => &postgres::MIGRATOR,
            Database::Mysql(_) => &mysql::MIGRATOR,
        }
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

    /// The read pool's connections (SQLite's single write connection is not counted).
    pub fn pool_stats(&self) -> PoolStats {
        on_pool!(self, |pool| PoolStats {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }

    /// Runs `write` and answers the row it wrote (None: an UPDATE of a row that is gone). On
    /// SQLite and PostgreSQL it queues for the engine's group commit with `RETURNING *`; on
    /// MySQL the row is read back in the write's transaction.
    pub(crate) async fn write_row<M: Model>(&self, write: Write) -> Result<Option<M>> {
        let operation = write.operation;
        metrics::timed(operation, async {
            match self {
                Database::Sqlite(sqlite) => {
                    sqlite.writer.write(write, true, optional::<M, _>).await
                }
                Database::Postgres(postgres) => {
                    postgres.writer.write(write, true, optional::<M, _>).await
                }
                Database::Mysql(pool) => mysql::write_then_read::<M>(pool, &write).await,
            }
        })
        .await
    }

    /// Runs `write` and answers how many rows it changed. A delete on MySQL removes the
    /// dependents first (`mysql::delete`): the course's MySQL schema does not cascade.
    pub(crate) async fn write_count(&self, write: Write) -> Result<u64> {
        let operation = write.operation;
        metrics::timed(operation, async {
            match self {
                Database::Sqlite(sqlite) => sqlite.writer.write(write, false, affected).await,
                Database::Postgres(postgres) => postgres.writer.write(write, false, affected).await,
                Database::Mysql(pool) => mysql::execute(pool, &write).await,
            }
        })
        .await
    }
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
