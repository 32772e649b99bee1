//! cargo xtask: project automation in Rust rather than shell scripts.
//!
//! - `cargo xtask bench` — whole-process speed and peak memory of the
//!   `luakit` binary on the speed workloads (`--compare`: against BuildKit's
//!   Go peers; `--criterion`: the criterion benches first); see `bench.rs`.
//!   `cargo xtask bench --context`: a 200 MiB context's transfer by
//!   `luakit solve` and `buildctl build` on the e2e buildkitd; see
//!   `bench_context.rs`.
//! - `cargo xtask e2e` — end-to-end tests on two real BuildKit engines (a
//!   private dockerd 20.10 and a buildkitd v0.11.6 with local registries,
//!   started here; see `e2e/mod.rs`). `cargo xtask e2e serve` starts them
//!   and prints their addresses.
//! - `cargo xtask refs` — check that no file refers outside the repository
//!   (also a test of this crate).
//! - `cargo xtask crates` — check that every published crate has its
//!   package metadata, README, `#![deny(missing_docs)]` and a doc-test
//!   (also a test of this crate); see `crates.rs`.
//! - `cargo xtask package` — `cargo doc` with warnings denied, then `cargo
//!   package` of the library crates (part of `ci`).
//! - `cargo xtask ci` — what `.ci/run` calls: the workspace tests,
//!   `luakit fmt --check examples` and `luakit lint examples`, the docs
//!   with warnings denied, `cargo package` of the library crates, then e2e.

mod bench;
mod bench_context;
mod crates;
mod e2e;
mod refs;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") if args.iter().any(|a| a == "--context") => bench_context::run(&args[1..]),
        Some("bench") => bench::run_bench(&args[1..]),
        Some("e2e") => e2e::run(&args[1..]),
        Some("refs") => refs::run(),
        Some("crates") => crates::run(),
        Some("package") => publish_checks(),
        Some("ci") => ci(),
        _ => {
            eprintln!(
                "usage: cargo xtask <bench|e2e|refs|crates|package|ci>\n\n  bench   whole-process speed table (--compare: BuildKit peers, --baseline BIN, --criterion);\n          bench --context [--runs N] [--bin PATH]: a 200 MiB context sent by luakit solve vs buildctl build\n          (first transfer, one file changed, client overhead) on the e2e buildkitd (root)\n  e2e     end-to-end tests on dockerd 20.10 and buildkitd v0.11.6 (e2e serve: start them only)\n  refs    check that no file refers outside the repository\n  crates  check that every published crate has metadata, README, deny(missing_docs), a doc-test\n  package cargo doc with warnings denied, then cargo package of the library crates\n  ci      workspace tests, fmt/lint of examples, docs, cargo package, then e2e (what .ci/run calls)"
            );
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut c: Command) -> Result<()> {
    let shown = format!("{c:?}");
    let status = c.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn ci() -> Result<()> {
    // Debian packages the tests need (graphviz for the DOT check; docker.io,
    // runc, docker-registry, busybox-static, … for e2e), installed once, up
    // front. The e2e suite takes luakit from the same build as the tests
    // (`cargo test --workspace --no-run`), so the workspace is compiled once.
    e2e::ensure_packages()?;
    // The second engine's binaries: fail now, not after the workspace tests.
    let root = root();
    e2e::buildkitd::install_binaries(&root, &e2e::target_dir(&root))?;
    // The stubs are proven by a real analyzer in the workspace tests; with
    // EMMYLUA_CHECK set, that test fails rather than skips without it.
    let analyzer = ensure_emmylua_check()?;
    let mut c = cargo();
    c.args(["test", "--workspace"]).env("EMMYLUA_CHECK", &analyzer);
    run(c)?;
    tool_checks(&root)?;
    publish_checks()?;
    e2e::run(&[])
}

/// Cargo's home: `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Result<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")
}

/// The pinned version of the LuaLS/EmmyLua analyzer the stubs are checked with.
const EMMYLUA_CHECK_VERSION: &str = "0.25.1";

/// `emmylua_check`: on `PATH` or in cargo's bin directory, else installed
/// there once with `cargo install` (a debug build: about 6 minutes on two
/// cores; later runs on the same machine reuse it).
fn ensure_emmylua_check() -> Result<PathBuf> {
    let cargo_home = cargo_home()?;
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.push(cargo_home.join("bin"));
    let installed = |dirs: &[PathBuf]| dirs.iter().map(|d| d.join("emmylua_check")).find(|p| p.is_file());
    if let Some(p) = installed(&dirs) {
        let version =
            Command::new(&p).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if version.as_deref().is_ok_and(|v| v.contains(EMMYLUA_CHECK_VERSION)) {
            return Ok(p);
        }
    }
    let t0 = std::time::Instant::now();
    println!("ci: installing emmylua_check {EMMYLUA_CHECK_VERSION} into {}", cargo_home.display());
    let mut c = cargo();
    c.args(["install", &format!("emmylua_check@{EMMYLUA_CHECK_VERSION}"), "--locked", "--debug", "--root"])
        .arg(&cargo_home)
        .env("CARGO_TARGET_DIR", root().join("target/tools-build"));
    run(c)?;
    println!("ci: emmylua_check installed ({:.0}s)", t0.elapsed().as_secs_f64());
    installed(&[cargo_home.join("bin")]).context("cargo install did not leave emmylua_check in its bin directory")
}

/// The library face is publishable: the docs build with warnings denied
/// (broken links, private links, bad code blocks), and `cargo package`
/// packs and builds each library crate from its package alone (against
/// the other workspace crates' packages), so a missing file, a path
/// outside the package or a dependency without a version fails here, not
/// at publishing. Both share `target/` with the tests; `cargo package`'s
/// verify builds still compile each crate's dependencies with the features
/// that crate alone asks for, which takes some minutes on a cold target.
fn publish_checks() -> Result<()> {
    let t0 = std::time::Instant::now();
    let mut c = cargo();
    c.args(["doc", "--no-deps", "--workspace"]).env("RUSTDOCFLAGS", "-D warnings");
    run(c)?;
    println!("ci: cargo doc (warnings denied) ok ({:.1}s)", t0.elapsed().as_secs_f64());
    let t0 = std::time::Instant::now();
    forget_packaged_sources()?;
    let mut c = cargo();
    // Offline: the tests just fetched every dependency, and the packages
    // resolve to the versions of the workspace's Cargo.lock.
    c.args(["package", "--offline", "--workspace", "--exclude", "xtask", "--exclude", "luakit-cli"]);
    run(c)?;
    println!("ci: cargo package of the library crates ok ({:.1}s)", t0.elapsed().as_secs_f64());
    Ok(())
}

/// Removes what earlier `cargo package` runs left in cargo's registry
/// directories for luakit's own crates. `cargo package --workspace`
/// verifies each crate against the others' packages through a temporary
/// local registry, whose crates cargo unpacks under
/// `$CARGO_HOME/registry/src/-<id>/NAME-VERSION` (and caches under
/// `registry/cache/-<id>/`), keyed by the registry's path; an unpacked copy
/// is reused as long as the version is the same, so a second run from the
/// same checkout path would verify against the first run's sources.
/// Only these overlay registries (ids starting with `-`) are touched, never
/// crates.io's.
fn forget_packaged_sources() -> Result<()> {
    let cargo_home = cargo_home()?;
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(cargo_home.join("registry").join(kind)) else { continue };
        for registry in registries.flatten() {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for entry in std::fs::read_dir(registry.path())?.flatten() {
                if !entry.file_name().to_string_lossy().starts_with("luakit") {
                    continue;
                }
                let path = entry.path();
                let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                removed.with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    // The crates built from those sources: cargo keeps the dependency info
    // of registry sources without their files (registry crates never
    // change), so a build from an earlier run's sources would count as
    // fresh. Their fingerprints name no `src/lib.rs`; those of the
    // workspace's own builds do.
    let fingerprints = e2e::target_dir(&root()).join("debug/.fingerprint");
    let Ok(dirs) = std::fs::read_dir(&fingerprints) else { return Ok(()) };
    for dir in dirs.flatten() {
        if !dir.file_name().to_string_lossy().starts_with("luakit") {
            continue;
        }
        let Some(dep_info) =
            std::fs::read_dir(dir.path())?.flatten().find(|f| f.file_name().to_string_lossy().starts_with("dep-lib-"))
        else {
            continue;
        };
        let bytes = std::fs::read(dep_info.path())?;
        let names_sources = bytes.windows(b"src/lib.rs".len()).any(|w| w == b"src/lib.rs");
        if !names_sources {
            std::fs::remove_dir_all(dir.path()).with_context(|| format!("cannot remove {}", dir.path().display()))?;
        }
    }
    Ok(())
}

/// `luakit fmt --check examples` and `luakit lint examples` with the debug
/// binary the workspace tests built: the examples are formatted and have no
/// lint findings.
fn tool_checks(root: &Path) -> Result<()> {
    let luakit = root.join("target/debug/luakit");
    if !luakit.exists() {
        bail!("{} is missing: `cargo test --workspace` should have built it", luakit.display());
    }
    for args in [&["fmt", "--check", "examples"][..], &["lint", "examples"][..]] {
        let t0 = std::time::Instant::now();
        let mut c = Command::new(&luakit);
        c.current_dir(root).args(args);
        run(c)?;
        println!("ci: luakit {} ok ({:.1}s)", args.join(" "), t0.elapsed().as_secs_f64());
    }
    Ok(())
}
