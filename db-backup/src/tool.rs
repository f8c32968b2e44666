//! The engines' client tools (pg_dump, pg_restore, mariadb-dump, mariadb) run as child processes,
//! the same way for every engine.

use std::path::Path;
use std::process::Stdio;

use crate::error::{failed, Context, Result};

/// A command for `tool`: no input, output captured, killed if this process dies
/// (PR_SET_PDEATHSIG) or drops the future.
pub fn command(tool: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(tool);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
}

/// Runs `command` to its end; its standard error in the error when it fails.
pub async fn run(command: &mut tokio::process::Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("cannot run {what}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(failed(format!(
            "{what} failed ({}): {}",
            output.status,
            stderr.trim()
        )))
    }
}

/// The first line `candidate --version` prints; None when there is no such program.
pub async fn version_line(candidate: &Path) -> Result<Option<String>> {
    match command(candidate).arg("--version").output().await {
        Ok(output) => Ok(Some(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot run {}", candidate.display())),
    }
}
