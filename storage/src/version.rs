//! The database's data version: two equal answers mean that no write was committed in between,
//! by any connection of any process. What lets a cache of answers stay correct with several
//! instances over one database (`hbnb_common::response_cache`).
//!
//! - SQLite: `PRAGMA data_version` on a connection of its own, which never writes: the value
//!   changes whenever another connection (ours or another process's) commits.
//! - PostgreSQL: the current snapshot (`pg_current_snapshot()`): it changes whenever any
//!   transaction commits or aborts, and needs no trigger, so writers do not contend on a version row.
//! - MySQL/MariaDB: none (the response cache is off there; see docs/design/storage.md).

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, PgPool};
use tokio::sync::Mutex;

use crate::database::Database;
use crate::error::Result;
use crate::server::{acquire, answer_within, release};

pub struct DataVersion {
    source: Source,
}

enum Source {
    Sqlite {
        options: Box<SqliteConnectOptions>,
        connection: Mutex<Option<SqliteConnection>>,
        /// Bumped on every reconnection: a new connection's counter starts afresh.
        epoch: AtomicU64,
    },
    Postgres(PgPool),
}

impl Database {
    /// A data-version source for this database; None for an in-memory SQLite database (nothing
    /// else can see it, and the cache is pointless there).
    pub async fn data_version(&self, url: &str) -> Result<Option<DataVersion>> {
        let source = match self {
            Database::Sqlite(_) => {
                if url.contains(":memory:") || url.contains("mode=memory") {
                    return Ok(None);
                }
                let options = SqliteConnectOptions::from_str(url)?.read_only(true);
                let connection = options.connect().await?;
                Source::Sqlite {
                    options: Box::new(options),
                    connection: Mutex::new(Some(connection)),
                    epoch: AtomicU64::new(0),
                }
            }
            Database::Postgres(postgres) => Source::Postgres(postgres.pool.clone()),
            // No data version that is provably correct across instances: InnoDB's counters
            // (information_schema's UPDATE_TIME, the transaction ids) are per server, lag, or
            // miss some commits, so the cache stays off on MySQL/MariaDB.
            Database::Mysql(_) => return Ok(None),
        };
        Ok(Some(DataVersion { source }))
    }
}

impl DataVersion {
    /// The check as a shareable closure, errors as text (what `ResponseCache` takes).
    pub fn into_check(
        self,
    ) -> impl Fn() -> futures_util::future::BoxFuture<'static, std::result::Result<String, String>>
           + Send
           + Sync
           + 'static {
        let version = std::sync::Arc::new(self);
        move || {
            let version = version.clone();
            Box::pin(async move { version.current().await.map_err(|e| e.to_string()) })
        }
    }

    /// The current version (timed as the storage operation `data_version`).
    pub async fn current(&self) -> Result<String> {
        crate::metrics::timed("data_version", self.read()).await
    }

    async fn read(&self) -> Result<String> {
        match &self.source {
            Source::Sqlite {
                options,
                connection,
                epoch,
            } => {
                let mut connection = connection.lock().await;
                let open = match connection.as_mut() {
                    Some(open) => open,
                    None => {
                        let fresh = options.connect().await?;
                        epoch.fetch_add(1, Ordering::SeqCst);
                        connection.insert(fresh)
                    }
                };
                match sqlx::query_scalar::<_, i64>("PRAGMA data_version")
                    .fetch_one(&mut *open)
                    .await
                {
                    Ok(version) => Ok(format!("{}:{version}", epoch.load(Ordering::SeqCst))),
                    Err(error) => {
                        *connection = None;
                        Err(error.into())
                    }
                }
            }
            Source::Postgres(pool) => {
                let mut connection = acquire(pool).await?;
                let answer = answer_within(
                    sqlx::query_scalar::<_, String>("SELECT pg_current_snapshot()::text")
                        .fetch_one(&mut *connection),
                )
                .await;
                release(&mut connection, &answer);
                Ok(answer?)
            }
        }
    }
}
