//! Where the data lives and how it is written: the settings every service flattens into its own,
//! and the start-up that waits for a database server that is not reachable yet.

use std::time::Duration;

use crate::database::Database;
use crate::database_url::server_address;
use crate::error::{Result, StorageError};
use crate::sqlite::Synchronous;
use crate::version::DataVersion;

/// Where the data lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/hbnb.sqlite";

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
    /// PostgreSQL only: on (writes waiting together share one transaction, the default) or off
    /// (every write alone, as a prepared statement: for an incident, at about half the write
    /// throughput).
    #[arg(long = "pg-group-commit", env = "PG_GROUP_COMMIT", default_value = "on",
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub pg_group_commit: bool,
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
        Database::connect_with(self.url(), self.sqlite_synchronous, self.pg_group_commit).await
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
