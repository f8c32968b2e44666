//! One error type whose variants are the command's exit codes.

use std::fmt::Display;

/// Exit codes of every command (also documented in `--help` and the crate docs).
pub mod exit {
    pub const OK: u8 = 0;
    /// The backup, restore or command failed (database unreachable, tool missing, I/O error...).
    pub const FAILED: u8 = 1;
    /// Bad command line or settings (clap's own code); also `restore` of an encrypted backup
    /// without `--identity`, or with an identity that does not decrypt it.
    pub const USAGE: u8 = 2;
    /// Nothing to do: another backup run holds the lock (`now`).
    pub const NOTHING_TO_DO: u8 = 3;
    /// A backup failed verification (checksum, restore, or row counts differ).
    pub const VERIFICATION_FAILED: u8 = 4;
    /// `restore` refused to overwrite a non-empty database without `--force`.
    pub const REFUSED: u8 = 5;
    /// No backup with that id.
    pub const NOT_FOUND: u8 = 6;
    /// The backup was taken and is kept locally, but its copy to BACKUP_REMOTE failed (`now`,
    /// `push`): never a success.
    pub const UPLOAD_FAILED: u8 = 7;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Failed(String),
    /// A setting or argument that cannot work (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error("verification failed: {0}")]
    Verification(String),
    #[error("nothing to do: {0}")]
    NothingToDo(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("upload failed: {0}")]
    Upload(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Failed(_) => exit::FAILED,
            Error::Usage(_) => exit::USAGE,
            Error::Verification(_) => exit::VERIFICATION_FAILED,
            Error::NothingToDo(_) => exit::NOTHING_TO_DO,
            Error::Refused(_) => exit::REFUSED,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::Upload(_) => exit::UPLOAD_FAILED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn failed(message: impl Into<String>) -> Error {
    Error::Failed(message.into())
}

/// Adds what was being done to an error: `cannot open X: <cause>`.
pub trait Context<T> {
    fn context<C: Display>(self, context: C) -> Result<T>;
    fn with_context<C: Display, F: FnOnce() -> C>(self, context: F) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.map_err(|error| Error::Failed(format!("{context}: {error}")))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, context: F) -> Result<T> {
        self.map_err(|error| Error::Failed(format!("{}: {error}", context())))
    }
}
