//! `HBNB_GIT_COMMIT` for `hbnb_build_info`: the `GIT_COMMIT` variable if the build sets it (a
//! Docker build has no `.git`), else `git rev-parse --short HEAD`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    let commit = std::env::var("GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuilt when HEAD moves: this checkout's HEAD and the branch refs (shared by worktrees).
    // Only paths that exist: cargo reruns a script on every build for a missing one.
    for (flag, suffix) in [("--git-dir", "HEAD"), ("--git-common-dir", "refs/heads")] {
        let Ok(output) = Command::new("git").args(["rev-parse", flag]).output() else {
            continue;
        };
        let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let path = std::path::Path::new(&dir).join(suffix);
        if !dir.is_empty() && path.exists() {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=HBNB_GIT_COMMIT={commit}");
}
