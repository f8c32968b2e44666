//! The streaming tool (`pg_receivewal`, `mariadb-binlog --stop-never`) kept running: started
//! again after it stops (1 s, doubling to 30 s), its messages logged, stopped with SIGINT (both
//! tools then write out what they received) when the service stops. The time it is down is the
//! archiving lag (`Status::lag`).

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::io::AsyncBufReadExt;

use super::{update, SharedStatus};
use crate::error::{failed, Context, Result};

/// The longest wait between two starts of the tool after it stopped.
const MAX_RESTART_WAIT: Duration = Duration::from_secs(30);

/// Runs the command `prepare` makes (again and again) until `stop`.
pub(crate) async fn supervise(
    tool: &'static str,
    prepare: impl Fn() -> BoxFuture<'static, Result<tokio::process::Command>>,
    status: SharedStatus,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    update(&status, |s| s.receiver_down_since = Some(Instant::now()));
    loop {
        let started = Instant::now();
        match run_once(tool, prepare(), &status, &mut stop).await {
            Ok(()) => return,
            Err(error) => {
                update(&status, |s| {
                    s.receiver_down_since.get_or_insert_with(Instant::now);
                });
                tracing::error!(tool, %error, retry_in = ?wait, "streaming the log stopped");
            }
        }
        if started.elapsed() > MAX_RESTART_WAIT * 2 {
            wait = Duration::from_secs(1);
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = (wait * 2).min(MAX_RESTART_WAIT);
    }
}

/// One run of the tool: Ok when `stop` ended it, Err when it stopped by itself.
async fn run_once(
    tool: &'static str,
    prepare: BoxFuture<'static, Result<tokio::process::Command>>,
    status: &SharedStatus,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let mut command = prepare.await?;
    command.stdout(std::process::Stdio::null());
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {tool}"))?;
    let stderr = child.stderr.take();
    let logger = tokio::spawn(async move {
        let Some(stderr) = stderr else { return };
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::warn!(tool, "{line}");
        }
    });
    // Neither tool says anything once it streams: it counts as up once it has run a moment.
    let up = tokio::time::sleep(Duration::from_secs(2));
    tokio::pin!(up);
    let mut marked_up = false;
    let exited = loop {
        tokio::select! {
            exited = child.wait() => break exited,
            _ = &mut up, if !marked_up => {
                marked_up = true;
                update(status, |s| s.receiver_down_since = None);
                tracing::info!(tool, "streaming the log");
            }
            _ = stop.changed() => {
                if let Some(pid) = child.id() {
                    // SAFETY: kill(2) on our own child's pid.
                    unsafe { libc::kill(pid as i32, libc::SIGINT) };
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                return Ok(());
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), logger).await;
    let how = match exited {
        Ok(status) => status.to_string(),
        Err(error) => error.to_string(),
    };
    Err(failed(format!("{tool} exited ({how})")))
}
