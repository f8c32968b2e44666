//! Opening a connection to an upstream instance, over TCP (`host:port`) or a Unix domain socket
//! (`unix:/run/hbnb/api.sock`, Nginx's `proxy_pass http://unix:/path.sock:`), and the active
//! health probe that uses it. One HTTP/1.1 client (hyper) for both: the pool's key, the
//! instance's "authority", names the endpoint, so a Unix instance pools, retries, is probed and
//! labelled in metrics as a TCP one is.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// The prefix of an instance's authority that is a Unix socket's path.
const UNIX_PREFIX: &str = "unix:";

/// The `Host` a request to a Unix-socket instance carries when the client sent none (an
/// HTTP/1.0 request): the socket's path is no host name.
pub(crate) const UNIX_HOST: &str = "localhost";

/// The socket path of a Unix instance's authority (`unix:/path`), `None` for `host:port`.
pub(crate) fn unix_path(authority: &str) -> Option<&str> {
    authority.strip_prefix(UNIX_PREFIX)
}

/// An open connection to an instance.
pub(crate) enum UpstreamStream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Connects to `authority`: `unix:/path` or `host:port`.
pub(crate) async fn open(authority: &str) -> io::Result<UpstreamStream> {
    match unix_path(authority) {
        Some(path) => UnixStream::connect(path).await.map(UpstreamStream::Unix),
        None => {
            let stream = TcpStream::connect(authority).await?;
            // A request goes out in several writes (head, body): without this, Nagle's algorithm
            // holds the second until the upstream's delayed ACK.
            let _ = stream.set_nodelay(true);
            Ok(UpstreamStream::Tcp(stream))
        }
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamStream::Tcp(stream) => stream.is_write_vectored(),
            UpstreamStream::Unix(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            UpstreamStream::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// True when `GET /readyz` on the instance answers 2xx within `timeout`: the active health
/// probe, on a connection of its own (closed after), with the same client as the requests.
pub(crate) async fn probe_ready(authority: &str, timeout: Duration) -> bool {
    let probe = async {
        let stream = open(authority).await.ok()?;
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .ok()?;
        let driver = actix_web::rt::spawn(connection);
        let host = match unix_path(authority) {
            Some(_) => UNIX_HOST,
            None => authority,
        };
        let request = hyper::Request::get("/readyz")
            .header(http::header::HOST, host)
            .header(http::header::CONNECTION, "close")
            .body(Empty::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        driver.abort();
        Some(response.status().is_success())
    };
    matches!(tokio::time::timeout(timeout, probe).await, Ok(Some(true)))
}
