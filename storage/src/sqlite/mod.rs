//! SQLite: a file (or memory) opened with a pool for reads, one connection for writes that
//! commits them in groups (`writer`), and a few blocking threads for the large reads
//! (`readers`).

pub(crate) mod readers;
pub(crate) mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Result, StorageError};

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

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

/// SQLite: a pool for reads, one connection for writes (see `writer`).
#[derive(Debug, Clone)]
pub struct Sqlite {
    pub(crate) pool: SqlitePool,
    pub(crate) writer: writer::Writer,
    /// Large reads on a file database (None in memory; see `readers`).
    pub(crate) readers: Option<std::sync::Arc<readers::Readers>>,
}

/// Opens `url` (`sqlite://path[?mode=rwc]`, `sqlite::memory:`) and applies the migrations.
pub(crate) async fn connect(url: &str, synchronous: Synchronous) -> Result<Sqlite> {
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
    let writer = writer::start(&options).await?;
    let readers = (!in_memory).then(|| readers::Readers::new(filename));
    // Services started together on a new file would otherwise both find no migrations table
    // and both create the schema ("table states already exists"): one migrates at a time.
    let _lock = if in_memory {
        None
    } else {
        Some(lock_file(&filename.with_extension("migrate.lock")).await?)
    };
    MIGRATOR.run(&pool).await?;
    Ok(Sqlite {
        pool,
        writer,
        readers,
    })
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
