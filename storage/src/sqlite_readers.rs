//! SQLite reads of large answers (places_search) on a few blocking threads, each read a whole
//! statement on one thread.
//!
//! Why not sqlx's pool: sqlx runs each SQLite connection on a thread of its own and hands every
//! row to the async side through a channel. For a search over 500 places that was two thread
//! switches per row, 37 % of the request's CPU in the kernel, plus a copy of every value and a
//! timestamp parsed from a format string per column. Here the rows are read where the statement
//! steps, written as JSON at once, and cross threads a chunk of 64 KiB at a time.
//!
//! A file database only: `sqlite::memory:` is one connection's database, so it keeps sqlx's pool.
//! The connections are SQLite's own, opened on the same file (WAL: a read sees every commit
//! made before it began, as the pool's do), and `query_only`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Result, StorageError};

/// Reads running at once, as the sqlx pool allows: one per core and a few more.
const READERS: usize = 4;

/// How long a read waits for a free reader before the request gets a 503, as for the pool.
const WAIT_FOR_READER: Duration = Duration::from_secs(30);

/// How long a reader waits on a write's lock (the pool's `busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).finish()
    }
}

impl Readers {
    pub(crate) fn new(path: &Path) -> Arc<Readers> {
        Arc::new(Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(READERS)),
        })
    }

    /// Starts `read` on a blocking thread with a connection of its own, once a reader is free;
    /// `read` reports its answer itself (through a channel).
    pub(crate) async fn start(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<()> + Send + 'static,
        on_error: impl FnOnce(StorageError) + Send + 'static,
    ) -> Result<()> {
        let permit = self.permit().await?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let answer = readers.connection().and_then(|connection| {
                let answer = read(&connection);
                readers.give_back(connection);
                answer
            });
            if let Err(error) = answer {
                on_error(error);
            }
        });
        Ok(())
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(WAIT_FOR_READER, Arc::clone(&self.permits).acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(permit),
            // Closed never happens (the semaphore is never closed); timed out is the pool's case.
            _ => {
                crate::metrics::acquire_timed_out();
                Err(StorageError::Sqlx(sqlx::Error::PoolTimedOut))
            }
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        match self.idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn connection(&self) -> Result<Connection> {
        if let Some(connection) = self.idle().pop() {
            return Ok(connection);
        }
        // Read-write flags (without CREATE): a read-only connection cannot recover a WAL
        // database's shared-memory file on its own; `query_only` keeps it from writing.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        connection.busy_timeout(BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", true)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        self.idle().push(connection);
    }
}

/// The read waited out a write's lock, or the file could not be opened: it may succeed later.
pub(crate) fn busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::CannotOpen
        )
    )
}
