//! Where a server listens: a TCP address (the default, `--host`/`--port`) or a Unix domain socket
//! (`--bind unix:/run/hbnb/api.sock`, Gunicorn's `--bind unix:idb.sock`), bound here or inherited
//! from systemd (`ListenStream=/run/hbnb/api.sock`) or from an upgrading predecessor.
//!
//! A Unix socket file is ours to manage only when we bound it: a stale file left by a crashed run
//! is replaced at start (nothing answers on it), a live one never is, anything that is not a
//! socket is refused and left alone, and the file is removed on a clean stop (not on a hand-over,
//! whose successor serves on it, and never when systemd holds it: its socket unit does).

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// `sun_path` is 108 bytes on Linux, its last one the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Set by a predecessor whose Unix socket file belongs to systemd's socket unit, so that its
/// successor does not remove it either when it stops.
const SOCKET_FILE_KEPT_ENV: &str = "HBNB_SOCKET_FILE_KEPT";

/// `--bind`'s value: `unix:/path/to.sock`, or `HOST:PORT` (`[::1]:8080` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl FromStr for Bind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if let Some(path) = value.strip_prefix("unix:") {
            let path = PathBuf::from(path);
            check_socket_path(&path)?;
            return Ok(Bind::Unix(path));
        }
        value.parse().map(Bind::Tcp).map_err(|_| {
            format!("{value:?}: expected unix:/path/to.sock or HOST:PORT (e.g. 127.0.0.1:5002)")
        })
    }
}

/// A path a Unix socket can have: absolute or relative, and short enough for `sun_path`.
pub fn check_socket_path(path: &Path) -> Result<(), String> {
    let length = path.as_os_str().len();
    if length == 0 {
        return Err("a Unix socket needs a path: unix:/path/to.sock".into());
    }
    if length > MAX_SOCKET_PATH {
        return Err(format!(
            "{}: a Unix socket path is at most {MAX_SOCKET_PATH} bytes (sun_path), this one has {length}",
            path.display()
        ));
    }
    Ok(())
}

/// `--socket-mode`'s value: permission bits in octal, as `chmod` takes them (`660`, `0660`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketMode(pub u32);

impl FromStr for SocketMode {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match u32::from_str_radix(value, 8) {
            Ok(mode) if mode <= 0o777 => Ok(SocketMode(mode)),
            _ => Err(format!(
                "{value:?}: expected permission bits in octal, e.g. 660"
            )),
        }
    }
}

impl fmt::Display for SocketMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03o}", self.0)
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// What a listener listens on, for logs and for callers that need the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl ListenAddr {
    /// The TCP port; `None` for a Unix socket.
    pub fn port(&self) -> Option<u16> {
        match self {
            ListenAddr::Tcp(addr) => Some(addr.port()),
            ListenAddr::Unix(_) => None,
        }
    }
}

impl Listener {
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Listener::Tcp(listener) => Listener::Tcp(listener.try_clone()?),
            Listener::Unix(listener) => Listener::Unix(listener.try_clone()?),
        })
    }

    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        Ok(match self {
            Listener::Tcp(listener) => ListenAddr::Tcp(listener.local_addr()?),
            Listener::Unix(listener) => ListenAddr::Unix(
                listener
                    .local_addr()?
                    .as_pathname()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            ),
        })
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.set_nonblocking(true),
            Listener::Unix(listener) => listener.set_nonblocking(true),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(listener) => listener.as_fd(),
            Listener::Unix(listener) => listener.as_fd(),
        }
    }
}

/// The socket passed at `index` (systemd's or a predecessor's), TCP or Unix, if any.
pub fn inherited(fds: &mut listenfd::ListenFd, index: usize) -> io::Result<Option<Listener>> {
    // A TCP attempt on a Unix socket fails and leaves the fd in its place.
    let listener = match fds.take_tcp_listener(index) {
        Ok(found) => found.map(Listener::Tcp),
        Err(_) => fds.take_unix_listener(index)?.map(Listener::Unix),
    };
    if let Some(listener) = &listener {
        listener.set_nonblocking()?;
    }
    Ok(listener)
}

/// The name the gateway's HTTPS socket unit gives its socket (`FileDescriptorName=https` in
/// `hbnb-gateway-https.socket`).
pub const TLS_SOCKET_NAME: &str = "https";

/// Which inherited socket is which. systemd passes the sockets of several socket units in no set
/// order, so the TLS one is found by its name (`LISTEN_FDNAMES`); a predecessor passes the plain
/// socket first and the TLS one second, without names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InheritedIndexes {
    pub plain: usize,
    pub tls: usize,
    /// systemd passed a socket named `https`: it must be served with TLS.
    pub tls_named: bool,
}

impl InheritedIndexes {
    /// From `LISTEN_FDNAMES` (colon-separated, one name per passed socket), if set.
    pub fn from_names(names: Option<&str>) -> Self {
        let named = names.and_then(|names| names.split(':').position(|n| n == TLS_SOCKET_NAME));
        match named {
            Some(tls) => Self {
                plain: usize::from(tls == 0),
                tls,
                tls_named: true,
            },
            None => Self {
                plain: 0,
                tls: 1,
                tls_named: false,
            },
        }
    }

    pub fn from_env() -> Self {
        Self::from_names(std::env::var("LISTEN_FDNAMES").ok().as_deref())
    }
}

/// True when the sockets we inherit are systemd's (it passed them to us, or to a predecessor of
/// ours): their files are its socket units' to manage. Read before `ListenFd::from_env`, which
/// removes `LISTEN_PID` from the environment.
pub fn held_by_systemd() -> bool {
    std::env::var("LISTEN_PID").ok() == Some(std::process::id().to_string())
        || std::env::var_os(SOCKET_FILE_KEPT_ENV).is_some()
}

/// The socket file we must remove when we stop cleanly, if any.
#[derive(Debug, Clone)]
pub struct SocketFile {
    path: PathBuf,
}

impl SocketFile {
    /// Who owns the file of an inherited Unix socket: systemd (`held_by_systemd`), or whoever
    /// bound it (a predecessor of ours: now us).
    pub fn of_inherited(listener: &Listener, held_by_systemd: bool) -> Option<Self> {
        if held_by_systemd || !matches!(listener, Listener::Unix(_)) {
            return None;
        }
        match listener.local_addr() {
            Ok(ListenAddr::Unix(path)) if !path.as_os_str().is_empty() => Some(Self { path }),
            _ => None,
        }
    }

    /// Removes the file (a clean stop: nobody serves on it any more).
    pub fn remove(&self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::info!(path = %self.path.display(), "socket file removed"),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot remove the socket file")
            }
        }
    }
}

/// What a successor started on our sockets must know about their files: when ours belongs to
/// systemd, the successor must leave it too.
pub fn successor_env(
    owns_socket_file: bool,
    listeners: &[Listener],
) -> Option<(&'static str, &'static str)> {
    let unix = listeners.iter().any(|l| matches!(l, Listener::Unix(_)));
    (unix && !owns_socket_file).then_some((SOCKET_FILE_KEPT_ENV, "1"))
}

/// Binds a Unix socket at `path` with `mode`, replacing a stale socket file (nothing answers on
/// it) and refusing a live one or anything that is not a socket. Errors name the path.
pub fn bind_unix(path: &Path, mode: SocketMode) -> io::Result<(Listener, SocketFile)> {
    let fail = |error: io::Error, what: &str| {
        io::Error::new(
            error.kind(),
            format!("cannot listen on unix:{}: {what}{error}", path.display()),
        )
    };
    check_socket_path(path)
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot listen on unix:{}: its directory {} does not exist",
                    path.display(),
                    parent.display()
                ),
            ));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(metadata) if !metadata.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "cannot listen on unix:{}: the path exists and is not a socket (left as it is; remove it or choose another path)",
                    path.display()
                ),
            ));
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "cannot listen on unix:{}: a live process answers on it (stop it, or choose another path)",
                        path.display()
                    ),
                ));
            }
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "replacing a stale socket file (nothing answers on it)");
                std::fs::remove_file(path)
                    .map_err(|e| fail(e, "cannot remove the stale socket file: "))?;
            }
            Err(error) => return Err(fail(error, "cannot tell whether the socket file is live: ")),
        },
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(fail(error, "")),
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(e, ""))?;
    // The socket is made with the process umask's mode (the units' 0027: owner and group), so
    // nobody else can connect before it is set.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.0))
        .map_err(|e| fail(e, "cannot set the socket's mode: "))?;
    listener.set_nonblocking(true)?;
    Ok((
        Listener::Unix(listener),
        SocketFile {
            path: path.to_path_buf(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_socket_is_found_by_its_name_in_any_order() {
        let unnamed = InheritedIndexes::from_names(None);
        assert_eq!(
            (unnamed.plain, unnamed.tls, unnamed.tls_named),
            (0, 1, false)
        );
        let plain_only = InheritedIndexes::from_names(Some("http"));
        assert_eq!(
            (plain_only.plain, plain_only.tls, plain_only.tls_named),
            (0, 1, false)
        );
        let second = InheritedIndexes::from_names(Some("http:https"));
        assert_eq!((second.plain, second.tls, second.tls_named), (0, 1, true));
        let first = InheritedIndexes::from_names(Some("https:http"));
        assert_eq!((first.plain, first.tls, first.tls_named), (1, 0, true));
        let alone = InheritedIndexes::from_names(Some("https"));
        assert_eq!((alone.plain, alone.tls, alone.tls_named), (1, 0, true));
    }

    #[test]
    fn bind_values() {
        assert_eq!(
            "unix:/run/hbnb/api.sock".parse::<Bind>(),
            Ok(Bind::Unix("/run/hbnb/api.sock".into()))
        );
        assert_eq!(
            "127.0.0.1:5002".parse::<Bind>(),
            Ok(Bind::Tcp("127.0.0.1:5002".parse().unwrap()))
        );
        assert_eq!(
            "[::1]:80".parse::<Bind>(),
            Ok(Bind::Tcp("[::1]:80".parse().unwrap()))
        );
        assert!("unix:".parse::<Bind>().is_err());
        assert!("localhost".parse::<Bind>().is_err());
        let long = format!("unix:/{}", "x".repeat(107));
        assert!(long
            .parse::<Bind>()
            .unwrap_err()
            .contains("at most 107 bytes"));
    }

    #[test]
    fn socket_modes_are_octal() {
        assert_eq!("660".parse::<SocketMode>(), Ok(SocketMode(0o660)));
        assert_eq!("0600".parse::<SocketMode>(), Ok(SocketMode(0o600)));
        assert!("8".parse::<SocketMode>().is_err());
        assert!("1777".parse::<SocketMode>().is_err());
        assert_eq!(SocketMode(0o660).to_string(), "660");
    }

    fn scratch() -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("hbnb-listen-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_and_a_file_are_not() {
        let dir = scratch();
        let path = dir.join("s.sock");
        let (live, file) = bind_unix(&path, SocketMode(0o600)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let error = bind_unix(&path, SocketMode(0o600)).unwrap_err();
        assert!(
            error.to_string().contains("a live process answers"),
            "{error}"
        );
        // Closed without removing the file: what a crashed process leaves.
        drop(live);
        assert!(path.exists());
        let (_again, file_again) = bind_unix(&path, SocketMode(0o660)).unwrap();
        file.remove();
        assert!(!path.exists());
        drop(file_again);

        let regular = dir.join("not-a-socket");
        std::fs::write(&regular, b"keep me").unwrap();
        let error = bind_unix(&regular, SocketMode(0o660)).unwrap_err();
        assert!(error.to_string().contains("is not a socket"), "{error}");
        assert_eq!(std::fs::read(&regular).unwrap(), b"keep me");

        let error = bind_unix(&dir.join("missing/s.sock"), SocketMode(0o660)).unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
