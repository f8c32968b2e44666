//! A real HTTP server the gateway tests proxy to, for what the course services cannot show:
//! echoing the headers it received, hashing a large upload as it streams in, streaming a large
//! download, and answering slowly.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

pub struct TestUpstream {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The deterministic bytes `/download?bytes=N` sends.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl TestUpstream {
    /// Starts the server on a free port; `name` comes back in the `x-upstream-name` header.
    pub fn start(name: &str) -> TestUpstream {
        Self::start_on(name, None)
    }

    /// Starts the server on a Unix socket at `path` (its `port` is 0).
    pub fn start_unix(name: &str, path: &std::path::Path) -> TestUpstream {
        Self::start_on(name, Some(path.to_path_buf()))
    }

    fn start_on(name: &str, unix_socket: Option<std::path::PathBuf>) -> TestUpstream {
        let name = name.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    let name = name.clone();
                    App::new()
                        .wrap(
                            actix_web::middleware::DefaultHeaders::new()
                                .add(("x-upstream-name", name)),
                        )
                        .route("/upload", web::post().to(upload))
                        .route("/download", web::get().to(download))
                        .route("/slow", web::get().to(slow))
                        .route("/trickle", web::get().to(trickle))
                        .default_service(web::to(echo))
                })
                .workers(1)
                // Its own writes must not wait for ACKs: the tests time the gateway's.
                .tcp_nodelay(true)
                .disable_signals();
                let server = match &unix_socket {
                    Some(path) => server.bind_uds(path),
                    None => server.bind("127.0.0.1:0"),
                }
                .expect("bind test upstream");
                let port = server.addrs().first().map_or(0, |addr| addr.port());
                let server = server.run();
                tx.send((port, server.handle())).expect("report port");
                server.await.expect("test upstream runs");
            });
        });
        let (port, handle) = rx.recv().expect("test upstream started");
        TestUpstream {
            port,
            handle,
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stopping needs a runtime; the server's own thread then ends.
        std::thread::spawn(move || actix_rt::System::new().block_on(handle.stop(false)))
            .join()
            .ok();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Everything the request looked like on arrival, as JSON.
async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut headers = serde_json::Map::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str())
            .and_modify(|v| {
                if let Some(s) = v.as_str() {
                    *v = serde_json::Value::String(format!("{s}, {value}"));
                }
            })
            .or_insert(serde_json::Value::String(value));
    }
    HttpResponse::Ok().json(serde_json::json!({
        "method": req.method().as_str(),
        "path": req.path(),
        "query": req.query_string(),
        "headers": headers,
        "body_len": body.len(),
    }))
}

async fn upload(mut payload: web::Payload) -> HttpResponse {
    let mut hasher = Sha256::new();
    let mut len = 0usize;
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => {
                len += chunk.len();
                hasher.update(&chunk);
            }
            Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
        }
    }
    HttpResponse::Ok()
        .json(serde_json::json!({"sha256": hex::encode(hasher.finalize()), "len": len}))
}

async fn download(query: web::Query<std::collections::HashMap<String, usize>>) -> HttpResponse {
    let total = query.get("bytes").copied().unwrap_or(0);
    const CHUNK: usize = 64 * 1024;
    let stream = futures_util::stream::iter((0..total).step_by(CHUNK).map(move |start| {
        let end = (start + CHUNK).min(total);
        let chunk: Vec<u8> = (start..end).map(|i| (i % 251) as u8).collect();
        Ok::<_, actix_web::Error>(Bytes::from(chunk))
    }));
    HttpResponse::Ok()
        .content_type("application/octet-stream")
        .body(actix_web::body::SizedStream::new(total as u64, stream))
}

async fn slow(query: web::Query<std::collections::HashMap<String, u64>>) -> HttpResponse {
    let ms = query.get("ms").copied().unwrap_or(1000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    HttpResponse::Ok().body("finally")
}

/// The head at once, then a small body 10 ms later: whoever forwards it writes twice.
async fn trickle() -> HttpResponse {
    let chunk = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, actix_web::Error>(Bytes::from_static(b"late"))
    });
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(actix_web::body::SizedStream::new(4, chunk))
}
