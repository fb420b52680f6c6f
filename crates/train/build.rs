//! Bakes the git commit the binary is built from into `OVERFIT_GIT_COMMIT`, for the provenance a
//! run folder records. Outside a git checkout it is "unknown".
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    println!("cargo:rustc-env=OVERFIT_GIT_COMMIT={commit}{}", if dirty { "-dirty" } else { "" });
    // Rebuilt when HEAD moves (a commit, a checkout); the dirty mark is as of that build.
    if let Some(log) = git(&["rev-parse", "--git-path", "logs/HEAD"]) {
        println!("cargo:rerun-if-changed={log}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
