//! The exclusive lock that keeps two runs from overlapping, in this process or any other:
//! `flock(2)` on `<backup dir>/.lock`. The kernel releases it when the holder exits, even on
//! SIGKILL, so a crashed run never leaves the directory locked.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use crate::error::{Context, Result};

pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Takes the lock if it is free; `None` when another run holds it.
    pub async fn try_acquire(dir: &Path) -> Result<Option<DirLock>> {
        let path = dir.join(".lock");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .await
            .with_context(|| format!("cannot open the lock file {}", path.display()))?
            .into_std()
            .await;
        // SAFETY: flock on a file descriptor we own; LOCK_NB makes it return at once.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(Some(DirLock { _file: file }));
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
    }

    /// Waits (polling, without blocking the runtime) until the lock is free and takes it.
    pub async fn acquire(dir: &Path) -> Result<DirLock> {
        let mut logged = false;
        loop {
            if let Some(lock) = Self::try_acquire(dir).await? {
                return Ok(lock);
            }
            if !logged {
                tracing::info!(dir = %dir.display(), "another backup run holds the lock; waiting");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
