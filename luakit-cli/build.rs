//! Records, for the binary, the git commit luakit is built from (`luakit
//! version`; "unknown" without git or a repository) and the build's time
//! for the frontend image's `created` field: `SOURCE_DATE_EPOCH` when the
//! build sets it, else the commit's time (`git log -1 --format=%ct`), else
//! nothing. Never fails the build.
//!
//! On Linux with glibc the binary is linked as a fixed-position executable
//! (`-no-pie`): a position-independent one spends about a third of an empty
//! script's run applying some 34,000 relocations at start and faulting in the
//! pages they touch (367 page faults then, 234 without). Build with
//! `LUAKIT_PIE=1` to keep the default (a randomised load address).
//!
//! There too, `csrc/snprintf.c` gives the executable an `snprintf` that
//! writes Lua's integers (`"%lld"`) without glibc's general formatting
//! (see the file).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LUAKIT_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=LUAKIT_PIE");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" && var("LUAKIT_PIE") != "1" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rerun-if-changed=csrc/snprintf.c");
        println!("cargo:rustc-cfg=luakit_snprintf");
        cc::Build::new().file("csrc/snprintf.c").opt_level(2).warnings(true).compile("luakit_snprintf");
    }
    println!("cargo::rustc-check-cfg=cfg(luakit_snprintf)");
    // Rebuild when HEAD moves (also in a git worktree, whose HEAD is not
    // under ../.git).
    let dirs = [git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"])];
    for (dir, files) in dirs.iter().zip([&["HEAD"][..], &["refs/heads", "packed-refs"][..]]) {
        let Some(dir) = dir else { continue };
        for f in files {
            let p = PathBuf::from(dir).join(f);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    let commit = std::env::var("LUAKIT_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]).filter(|s| s.chars().all(|c| c.is_ascii_hexdigit())));
    println!("cargo:rustc-env=LUAKIT_GIT_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
    let time = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .filter(|s| s.parse::<u64>().is_ok())
        .or_else(|| git(&["log", "-1", "--format=%ct"]).filter(|s| s.parse::<u64>().is_ok()));
    println!("cargo:rustc-env=LUAKIT_BUILD_TIME={}", time.as_deref().unwrap_or(""));
}

/// The trimmed output of a git command run in the crate's directory.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}
