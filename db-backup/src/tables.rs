//! What a backup's checks read from a database the same way on every engine: the rows of each
//! table of the schema (`hbnb_storage::TABLES`), and a scratch database to restore a backup
//! into. Generic over sqlx's engines; what differs (identifier quotes, DROP's options, the
//! privilege to name in errors) is passed in.

use std::collections::BTreeMap;
use std::future::Future;

use sqlx::{Connection, Database, Executor, IntoArguments};

use crate::database_url::DatabaseUrl;
use crate::error::{Context, Result};
use hbnb_storage::TABLES;

/// A connection to `engine` at `url` that could not be made: the server named (no
/// credentials), and for a TLS failure what to check (`hbnb_storage::connect_error`).
pub fn connect_failed(engine: &str, url: &DatabaseUrl, error: sqlx::Error) -> crate::error::Error {
    match hbnb_storage::connect_error(url.as_str(), error) {
        tls @ hbnb_storage::StorageError::Tls { .. } => crate::error::failed(tls.to_string()),
        other => crate::error::failed(format!(
            "cannot connect to {engine} at {}: {other}",
            url.server_address()
        )),
    }
}

/// The number of rows of every table.
pub async fn counts<DB>(conn: &mut DB::Connection) -> Result<BTreeMap<String, i64>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let mut counts = BTreeMap::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("cannot count the rows of {table}"))?;
        counts.insert(table.to_owned(), n);
    }
    Ok(counts)
}

/// The newest migration applied (0 for none), in SQL every engine but MySQL runs.
pub const MIGRATION_VERSION: &str =
    "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";

/// The newest migration applied, read with `sql` (`MIGRATION_VERSION` or an engine's own).
pub async fn migration_version<DB>(conn: &mut DB::Connection, sql: &str) -> Result<i64>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
{
    sqlx::query_scalar(sql)
        .fetch_one(&mut *conn)
        .await
        .context("cannot read the migration version")
}

/// The migration version (read with `version_sql`) and row counts of a database, after a
/// restore; closes `conn`.
pub async fn inspect<C>(mut conn: C, version_sql: &str) -> Result<(i64, BTreeMap<String, i64>)>
where
    C: Connection,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    for<'q> <C::Database as Database>::Arguments<'q>: IntoArguments<'q, C::Database>,
    (i64,): for<'r> sqlx::FromRow<'r, <C::Database as Database>::Row>,
    C::Database: Database<Connection = C>,
{
    let version = migration_version::<C::Database>(&mut conn, version_sql).await;
    let tables = counts::<C::Database>(&mut conn).await;
    let _ = conn.close().await;
    Ok((version?, tables?))
}

/// How a server names and drops a scratch database.
pub struct Scratch {
    /// The identifier quote: `"` (PostgreSQL) or `` ` `` (MySQL).
    pub quote: char,
    /// What follows the name in `DROP DATABASE IF EXISTS <name>` (PostgreSQL: `WITH (FORCE)`).
    pub drop_options: &'static str,
    /// The privilege creating one needs, for the error when it is missing.
    pub privilege: &'static str,
}

impl Scratch {
    /// Runs `body` with the URL of a database created for it on the server of `url` (`admin`
    /// is connected there), then drops that database (whatever `body` answered) and closes
    /// `admin`.
    pub async fn run<C, T, F, Fut>(&self, mut admin: C, url: &DatabaseUrl, body: F) -> Result<T>
    where
        C: Connection,
        for<'c> &'c mut C: Executor<'c, Database = C::Database>,
        for<'q> <C::Database as Database>::Arguments<'q>: IntoArguments<'q, C::Database>,
        F: FnOnce(DatabaseUrl) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("hbnb_verify_{}_{nanos}", std::process::id());
        let quoted = format!("{q}{name}{q}", q = self.quote);
        sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut admin)
            .await
            .with_context(|| {
                format!(
                    "cannot create the scratch database for verification (the account needs {})",
                    self.privilege
                )
            })?;
        let result = body(url.with_database(&name)).await;
        let drop = format!("DROP DATABASE IF EXISTS {quoted} {}", self.drop_options);
        if let Err(error) = sqlx::query(drop.trim_end()).execute(&mut admin).await {
            tracing::error!(database = %name, %error, "cannot drop the scratch database");
        }
        let _ = admin.close().await;
        result
    }
}
