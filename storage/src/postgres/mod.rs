//! PostgreSQL: a pool for reads, and writes committed in groups through it (`writer`), their
//! values written as constants (`literal`).

mod literal;
pub(crate) mod writer;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::database_url::connect_error;
use crate::error::Result;
use crate::server::server_pool_options;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// PostgreSQL: a pool for reads, and writes committed in groups through it (see `writer`).
#[derive(Debug, Clone)]
pub struct Postgres {
    pub(crate) pool: PgPool,
    pub(crate) writer: writer::Writer,
}

/// Opens a pool on `url`, checks the session (see `literal::check_session`) and applies the
/// migrations. `grouped`: writes that wait together share one transaction, sent as one message
/// with their values as constants (`PG_GROUP_COMMIT`, on by default); off, every write runs
/// alone as a prepared statement.
pub(crate) async fn connect(url: &str, grouped: bool) -> Result<Postgres> {
    let pool = server_pool_options::<sqlx::Postgres>(PgPoolOptions::new())
        .connect(url)
        .await
        .map_err(|error| connect_error(url, error))?;
    literal::check_session(&pool).await?;
    MIGRATOR.run(&pool).await?;
    Ok(Postgres {
        writer: writer::start(pool.clone(), grouped),
        pool,
    })
}
