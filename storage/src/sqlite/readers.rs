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

use chrono::NaiveDateTime;
use rusqlite::{Connection, OpenFlags, Row};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Result, StorageError};
use crate::models::{parse_timestamp, City, Place, State};

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

    /// `read`'s answer, read on a blocking thread with a connection of its own once a reader
    /// is free.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        match self.start(read).await?.await {
            Ok(answer) => answer,
            Err(failed) => Err(StorageError::Reader(failed.to_string())),
        }
    }

    /// Starts `read` as `read` does, without waiting for it: for a read that reports as it
    /// goes (through a channel).
    pub(crate) async fn start<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<tokio::task::JoinHandle<Result<T>>> {
        let permit = self.permit().await?;
        let readers = Arc::clone(self);
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let connection = readers.connection()?;
            let answer = read(&connection);
            readers.give_back(connection);
            answer
        }))
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

// ---- the rows, read where they lie ----------------------------------------------------------

// Macros, not constants, so that whole statements are joined at compile time (`concat!`).

/// A place's columns, in the order `place` reads them.
macro_rules! place_columns {
    () => {
        "p.id, p.created_at, p.updated_at, p.city_id, p.user_id, p.name, p.description, \
         p.number_rooms, p.number_bathrooms, p.max_guest, p.price_by_night, p.latitude, \
         p.longitude"
    };
}

/// A state's columns, in the order `state` reads them.
macro_rules! state_columns {
    () => {
        "id, created_at, updated_at, name"
    };
}

/// A city's columns, in the order `city` reads them.
macro_rules! city_columns {
    () => {
        "id, created_at, updated_at, state_id, name"
    };
}

pub(crate) use {city_columns, place_columns, state_columns};

/// Column `index` of `row`, a timestamp as sqlx writes them.
fn timestamp(row: &Row<'_>, index: usize) -> Result<NaiveDateTime> {
    let failed = |reason: Box<dyn std::error::Error + Send + Sync>| {
        StorageError::SqliteRead(rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            reason,
        ))
    };
    let text = row
        .get_ref(index)?
        .as_str()
        .map_err(|e| failed(Box::new(e)))?;
    parse_timestamp(text).ok_or_else(|| failed(format!("not a timestamp: {text:?}").into()))
}

/// The columns every table starts with: `id`, `created_at`, `updated_at`.
fn common(row: &Row<'_>) -> Result<(String, NaiveDateTime, NaiveDateTime)> {
    Ok((row.get(0)?, timestamp(row, 1)?, timestamp(row, 2)?))
}

/// A row starting with `place_columns!()`.
pub(crate) fn place(row: &Row<'_>) -> Result<Place> {
    let (id, created_at, updated_at) = common(row)?;
    Ok(Place {
        id,
        created_at,
        updated_at,
        city_id: row.get(3)?,
        user_id: row.get(4)?,
        name: row.get(5)?,
        description: row.get(6)?,
        number_rooms: row.get(7)?,
        number_bathrooms: row.get(8)?,
        max_guest: row.get(9)?,
        price_by_night: row.get(10)?,
        latitude: row.get(11)?,
        longitude: row.get(12)?,
    })
}

/// A row of `state_columns!()`.
pub(crate) fn state(row: &Row<'_>) -> Result<State> {
    let (id, created_at, updated_at) = common(row)?;
    let name = row.get(3)?;
    Ok(State {
        id,
        created_at,
        updated_at,
        name,
    })
}

/// A row of `city_columns!()`.
pub(crate) fn city(row: &Row<'_>) -> Result<City> {
    let (id, created_at, updated_at) = common(row)?;
    let (state_id, name) = (row.get(3)?, row.get(4)?);
    Ok(City {
        id,
        created_at,
        updated_at,
        state_id,
        name,
    })
}

/// Every row of `sql` (no parameters), read by `read_row`.
pub(crate) fn all<T>(
    connection: &Connection,
    sql: &str,
    read_row: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut statement = connection.prepare_cached(sql)?;
    let mut rows = statement.query([])?;
    let mut all = Vec::new();
    while let Some(row) = rows.next()? {
        all.push(read_row(row)?);
    }
    Ok(all)
}
