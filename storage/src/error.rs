//! What can go wrong in storage, and which of it is the database's state rather than the
//! request's: `is_unavailable` (answer 503, try later) and `is_unreachable` (wait for the server
//! at start). The bottom of the crate: every other module may use it, it uses none of them.

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
    /// A read on one of SQLite's reader threads (see `sqlite::readers`).
    #[error("database error: {0}")]
    SqliteRead(#[from] rusqlite::Error),
    /// A reader thread ended without an answer (see `sqlite::readers`).
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
    /// A PostgreSQL session whose settings the group commit's constants need are otherwise
    /// (see `postgres::literal::check_session`).
    #[error("the PostgreSQL session is not as the writes need it: {0}")]
    Session(String),
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
            StorageError::SqliteRead(error) => sqlite_busy(error),
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

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

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

/// Why a TLS connection failed, if that is what `error` is: sqlx's own TLS errors (a server
/// without TLS where the URL requires it), and the rustls error that sqlx passes up inside an
/// I/O error when the handshake fails (a CA that did not sign the certificate, a certificate
/// for another name, an alert from the server).
pub(crate) fn tls_failure(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Tls(reason) => Some(reason.to_string()),
        sqlx::Error::Io(io) => io
            .get_ref()?
            .downcast_ref::<rustls::Error>()
            .map(ToString::to_string),
        _ => None,
    }
}

/// What an operator should check for a TLS failure's reason (rustls's and sqlx's texts).
pub(crate) fn tls_hint(reason: &str) -> &'static str {
    if reason.contains("UnknownIssuer") || reason.contains("unknown issuer") {
        " (the server's certificate is not signed by a CA this service trusts: name the CA \
         that signed it with sslrootcert=<file> (PostgreSQL) or ssl-ca=<file> (MySQL) in \
         DATABASE_URL)"
    } else if reason.contains("NotValidForName") || reason.contains("not valid for name") {
        " (the server's certificate is not for the host name in DATABASE_URL: connect by a name \
         the certificate lists, or have the certificate list the name you use)"
    } else if reason.contains("does not support TLS") {
        " (DATABASE_URL requires TLS (sslmode=require/verify-ca/verify-full or \
         ssl-mode=REQUIRED/VERIFY_CA/VERIFY_IDENTITY) and the server does not offer it: turn \
         TLS on at the server (PostgreSQL: ssl = on; MariaDB: ssl_cert, ssl_key))"
    } else if reason.contains("Expired") || reason.contains("expired") {
        " (the server's certificate has expired, or this host's clock is wrong)"
    } else {
        ""
    }
}

/// The read waited out a write's lock, or the file could not be opened: it may succeed later.
pub(crate) fn sqlite_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::CannotOpen
        )
    )
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
