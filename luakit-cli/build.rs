//! Records the git commit luakit is built from (`luakit version`); "unknown"
//! when git or the repository is not there. Never fails the build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LUAKIT_GIT_COMMIT");
    let git_dir = Path::new("../.git");
    for p in ["HEAD", "refs/heads", "packed-refs"] {
        let p = git_dir.join(p);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let commit = std::env::var("LUAKIT_GIT_COMMIT").ok().filter(|s| !s.is_empty()).or_else(git_commit);
    println!("cargo:rustc-env=LUAKIT_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}

fn git_commit() -> Option<String> {
    let out = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())).then_some(s)
}
