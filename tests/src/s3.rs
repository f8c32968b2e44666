//! A real S3-compatible server on loopback for the off-host backup tests: moto's server
//! (`moto[server]` from PyPI), in a venv under the target directory that the first test to need
//! it creates (`MOTO_VENV` points at another one; `MOTO_VERSION` pins the version). The tests
//! read and damage the bucket through boto3 (a dependency of moto) in the same venv, so nothing
//! in the S3 path under test is shared with the client that checks it.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ACCESS_KEY: &str = "hbnb-test-key";
pub const SECRET_KEY: &str = "hbnb-test-secret";
const MOTO_VERSION: &str = "5.2.6";

/// The venv holding moto: `MOTO_VENV`, else `<target>/moto-venv`, created when missing. Built
/// under a temporary name and renamed, so that tests starting together never see half of it
/// (`python -m` is used, not the scripts, whose first line names the venv's original path).
pub fn venv() -> PathBuf {
    if let Some(venv) = std::env::var_os("MOTO_VENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(venv);
    }
    let target = crate::bin_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf();
    let venv = target.join("moto-venv");
    if python(&venv).exists() {
        return venv;
    }
    let version = std::env::var("MOTO_VERSION").unwrap_or_else(|_| MOTO_VERSION.to_owned());
    let building = target.join(format!("moto-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&building)
        .status()
        .expect("run python3 -m venv (Debian: python3-venv)");
    assert!(status.success(), "python3 -m venv failed");
    let status = Command::new(python(&building))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("moto[server]=={version}"),
        ])
        .status()
        .expect("run pip");
    assert!(
        status.success(),
        "pip install moto[server]=={version} failed"
    );
    if std::fs::rename(&building, &venv).is_err() {
        // Another test finished first: use its venv.
        let _ = std::fs::remove_dir_all(&building);
    }
    venv
}

fn python(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto's S3 on 127.0.0.1:<port>, killed when dropped. In memory: a restart starts empty.
pub struct S3Server {
    pub port: u16,
    venv: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl S3Server {
    pub fn start(log_dir: &Path) -> S3Server {
        let mut server = S3Server {
            port: free_port(),
            venv: venv(),
            child: None,
            log: log_dir.join("moto.log"),
        };
        server.restart();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables that point db-backup at this server (as an operator sets them).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// Stops the server (SIGKILL: as a crashed or unreachable store).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again, on the same port) and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("moto log");
        let child = Command::new(python(&self.venv))
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start moto.server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "moto.server exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto.server did not listen on {} within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a boto3 snippet with `s3` (a client of this server) and `sys.argv[1:]` = `args`;
    /// returns its stdout.
    pub fn boto(&self, snippet: &str, args: &[&str]) -> String {
        let script = format!(
            "import sys, boto3\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='{ACCESS_KEY}', \
             aws_secret_access_key='{SECRET_KEY}', region_name='us-east-1')\n{snippet}",
            self.endpoint()
        );
        let output = Command::new(python(&self.venv))
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .expect("run boto3");
        assert!(
            output.status.success(),
            "boto3 {snippet}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.boto("s3.create_bucket(Bucket=sys.argv[1])", &[bucket]);
    }

    /// Every key in the bucket, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self.boto(
            "for page in s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1]):\n    \
             for o in page.get('Contents', []): print(o['Key'])",
            &[bucket],
        );
        let mut keys: Vec<String> = out.lines().map(str::to_owned).collect();
        keys.sort();
        keys
    }

    pub fn get(&self, bucket: &str, key: &str, to: &Path) {
        self.boto(
            "s3.download_file(sys.argv[1], sys.argv[2], sys.argv[3])",
            &[bucket, key, to.to_str().expect("utf-8 path")],
        );
    }

    pub fn put(&self, bucket: &str, key: &str, from: &Path) {
        self.boto(
            "s3.upload_file(sys.argv[3], sys.argv[1], sys.argv[2])",
            &[bucket, key, from.to_str().expect("utf-8 path")],
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP proxy to the store that cuts every connection once `budget` bytes have gone towards the
/// store (or at `cut`), and refuses new ones until `restore`: the store "stops" in the middle of
/// an upload, and comes back with what it held (moto restarted would come back empty).
pub struct CuttingProxy {
    pub port: u16,
    budget: Arc<AtomicI64>,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub async fn start(upstream: u16, budget: i64) -> CuttingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let budget = Arc::new(AtomicI64::new(budget));
        let cut = Arc::new(AtomicBool::new(false));
        let (budget_, cut_) = (budget.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if cut_.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let (budget, cut) = (budget_.clone(), cut_.clone());
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.split();
                    let (mut server_read, mut server_write) = server.split();
                    let up = async {
                        let mut buffer = vec![0u8; 4096];
                        loop {
                            let n = client_read.read(&mut buffer).await.unwrap_or(0);
                            if n == 0 || cut.load(Ordering::SeqCst) {
                                return;
                            }
                            if budget.fetch_sub(n as i64, Ordering::SeqCst) < n as i64 {
                                cut.store(true, Ordering::SeqCst);
                                return;
                            }
                            if server_write.write_all(&buffer[..n]).await.is_err() {
                                return;
                            }
                        }
                    };
                    let down = async {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    };
                    tokio::select! {
                        _ = up => {}
                        _ = down => {}
                    }
                });
            }
        });
        CuttingProxy { port, budget, cut }
    }

    /// Cuts every connection now and refuses new ones (the store is unreachable).
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Whether a connection was cut (the budget ran out, or `cut`).
    pub fn was_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    pub fn restore(&self) {
        self.budget.store(i64::MAX, Ordering::SeqCst);
        self.cut.store(false, Ordering::SeqCst);
    }
}
