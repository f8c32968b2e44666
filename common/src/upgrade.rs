//! In-place upgrade (SIGUSR2), the mechanism behind a gateway binary upgrade and a rolling restart
//! of a service's instances, with no supervisor and no refused connection:
//!
//! 1. the running process starts its own binary again (the path resolved at start, so a replaced
//!    file runs its new version) with the same arguments and environment, its listening socket as
//!    fd 3 (and the TLS one, if any, as fd 4) with `LISTEN_FDS=1` (or 2; what systemd socket
//!    activation passes, so the successor takes them like any inherited socket), and one end of
//!    a socket pair as the next fd (`HBNB_UPGRADE_FD`);
//! 2. the successor serves on the shared socket; once ready (its own checks pass) it writes its
//!    pid file and one byte on that fd;
//! 3. the predecessor, on that byte, turns `/readyz` false, stops accepting and drains; if that fd
//!    closes without the byte (the successor died) or the byte is late, it kills the successor
//!    and keeps serving.
//!
//! The listening socket stays open in at least one process throughout, so connections queue on
//! it and are accepted by whichever process is accepting.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a successor may take to become ready before the upgrade is abandoned.
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(60);

/// The fd (in the successor) on which it reports readiness to its predecessor.
const UPGRADE_FD_ENV: &str = "HBNB_UPGRADE_FD";
/// The predecessor's pid, for the successor's logs.
const UPGRADE_FROM_ENV: &str = "HBNB_UPGRADE_FROM";

#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("cannot start the successor: {0}")]
    Spawn(io::Error),
    #[error("the successor exited before it was ready ({0})")]
    Exited(String),
    #[error("the successor was not ready within {0:?}; it was stopped")]
    TimedOut(Duration),
    #[error("cannot talk to the successor: {0}")]
    Io(io::Error),
}

/// The process that started us on SIGUSR2, waiting for our "ready".
pub struct Predecessor {
    channel: std::os::unix::net::UnixStream,
    pid: String,
}

impl Predecessor {
    /// Takes the readiness channel our predecessor passed, if any (read once, at start-up).
    pub fn from_env() -> Option<Self> {
        let fd: i32 = std::env::var(UPGRADE_FD_ENV).ok()?.parse().ok()?;
        if !is_socket(fd) {
            tracing::warn!(fd, "{UPGRADE_FD_ENV} does not name a socket; ignoring it");
            return None;
        }
        // SAFETY: the fd is open (fstat succeeded), is a socket, and nothing else in this process
        // owns it: our predecessor placed it there for us alone.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // Not for our own successors: they get a fresh channel.
        // SAFETY: fcntl on an fd we own.
        unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let pid = std::env::var(UPGRADE_FROM_ENV).unwrap_or_default();
        tracing::info!(predecessor = %pid, "started by an upgrade; will take over once ready");
        Some(Self {
            channel: owned.into(),
            pid,
        })
    }

    pub async fn notify_ready(self) {
        let result = async {
            self.channel.set_nonblocking(true)?;
            let mut channel = tokio::net::UnixStream::from_std(self.channel)?;
            channel.write_all(b"R").await
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(predecessor = %self.pid, "ready: told the predecessor to hand over")
            }
            Err(error) => {
                tracing::warn!(predecessor = %self.pid, %error, "cannot tell the predecessor we are ready (is it gone?)")
            }
        }
    }
}

fn is_socket(fd: i32) -> bool {
    // SAFETY: fstat only writes into the zeroed struct we pass.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut stat) == 0 && (stat.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    }
}

/// A successor that has been started and may not be ready yet. Dropped before it said it is
/// ready (e.g. SIGTERM arrived meanwhile), it is killed: two generations must not serve on.
pub struct Successor {
    child: tokio::process::Child,
    channel: tokio::net::UnixStream,
    ready: bool,
}

impl Drop for Successor {
    fn drop(&mut self) {
        if !self.ready {
            let _ = self.child.start_kill();
        }
    }
}

impl Successor {
    /// Starts the successor with `listeners` as fds 3, 4, ... (`LISTEN_FDS` of them) and the
    /// readiness channel after them, `env` added to our environment.
    pub async fn start(
        exe: &Path,
        listeners: &[impl AsFd],
        env: Option<(&str, &str)>,
    ) -> Result<Self, UpgradeError> {
        const MAX_LISTENERS: usize = 4;
        if listeners.is_empty() || listeners.len() > MAX_LISTENERS {
            return Err(UpgradeError::Spawn(io::Error::other(
                "1 to 4 listening sockets can be handed over",
            )));
        }
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(UpgradeError::Io)?;
        let count = listeners.len();
        let mut listen_fds = [-1; MAX_LISTENERS];
        for (slot, listener) in listen_fds.iter_mut().zip(listeners) {
            *slot = listener.as_fd().as_raw_fd();
        }
        let notify_fd = theirs.as_raw_fd();
        let notify_target = 3 + count as i32;
        let mut command = tokio::process::Command::new(exe);
        command
            .args(std::env::args_os().skip(1))
            .env("LISTEN_FDS", count.to_string())
            // systemd's LISTEN_PID names the process it started; listenfd accepts its absence.
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env(UPGRADE_FD_ENV, notify_target.to_string())
            .env(UPGRADE_FROM_ENV, std::process::id().to_string())
            .kill_on_drop(false);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        // SAFETY: the hook runs in the forked child before exec and only calls fcntl and dup2,
        // which are async-signal-safe; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                // Move all out of the way first: any could already be one of the targets.
                let mut moved = [-1; MAX_LISTENERS];
                for i in 0..count {
                    moved[i] = libc::fcntl(listen_fds[i], libc::F_DUPFD_CLOEXEC, 10);
                    if moved[i] < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                let notify = libc::fcntl(notify_fd, libc::F_DUPFD_CLOEXEC, 10);
                if notify < 0 {
                    return Err(io::Error::last_os_error());
                }
                // dup2 clears close-on-exec on its target: fds 3.. survive the exec.
                for (i, &fd) in moved.iter().enumerate().take(count) {
                    if libc::dup2(fd, 3 + i as i32) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                if libc::dup2(notify, notify_target) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(UpgradeError::Spawn)?;
        // Our copy of their end must go, or we would never see it close if the successor dies.
        drop(theirs);
        ours.set_nonblocking(true).map_err(UpgradeError::Io)?;
        let channel = tokio::net::UnixStream::from_std(ours).map_err(UpgradeError::Io)?;
        Ok(Self {
            child,
            channel,
            ready: false,
        })
    }

    /// Waits for the successor's "ready"; its pid on success. On failure the successor is gone.
    pub async fn wait_ready(mut self, timeout: Duration) -> Result<u32, UpgradeError> {
        let pid = self.child.id().unwrap_or_default();
        let mut byte = [0u8; 1];
        match tokio::time::timeout(timeout, self.channel.read(&mut byte)).await {
            Ok(Ok(1)) => {
                self.ready = true;
                Ok(pid)
            }
            Ok(Ok(_)) | Ok(Err(_)) => {
                let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
                Err(UpgradeError::Exited(match status {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "closed its channel".to_owned(),
                }))
            }
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                Err(UpgradeError::TimedOut(timeout))
            }
        }
    }
}

/// Writes our pid to `path` atomically (temporary file + rename), so a reader never sees a
/// partial pid.
pub async fn write_pid_file(path: &Path) -> io::Result<()> {
    let pid = std::process::id();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{pid}.tmp"));
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, format!("{pid}\n")).await?;
    tokio::fs::rename(&tmp, path).await?;
    tracing::info!(path = %path.display(), pid, "pid file written");
    Ok(())
}

/// Removes the pid file at exit, unless a successor has already put its own pid there.
pub async fn remove_pid_file(path: &Path) {
    let ours = std::process::id().to_string();
    if let Ok(content) = tokio::fs::read_to_string(path).await {
        if content.trim() == ours {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// Tells systemd (a `Type=notify` unit with `NotifyAccess=all`) that we are ready and are now its
/// main process: after an upgrade the successor takes over as the unit's main pid, so the old
/// process exiting does not end the unit. Does nothing outside systemd (no `NOTIFY_SOCKET`).
pub fn notify_systemd_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let state = format!("READY=1\nMAINPID={}", std::process::id());
    let result = (|| {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        let socket = std::os::unix::net::UnixDatagram::unbound()?;
        // A datagram to a local socket does not wait; non-blocking makes sure of it.
        socket.set_nonblocking(true)?;
        let bytes = path.as_bytes();
        let address = match bytes.strip_prefix(b"@") {
            Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name)?,
            None => std::os::unix::net::SocketAddr::from_pathname(&path)?,
        };
        socket.send_to_addr(state.as_bytes(), &address)
    })();
    if let Err(error) = result {
        tracing::warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}
