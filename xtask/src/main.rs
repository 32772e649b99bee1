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
//! - `cargo xtask ci` — what `.ci/run` calls: the workspace tests,
//!   `luakit fmt --check examples` and `luakit lint examples`, then e2e.

mod bench;
mod bench_context;
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
        Some("ci") => ci(),
        _ => {
            eprintln!(
                "usage: cargo xtask <bench|e2e|refs|ci>\n\n  bench   whole-process speed table (--compare: BuildKit peers, --baseline BIN, --criterion);\n          bench --context [--runs N] [--bin PATH]: a 200 MiB context sent by luakit solve vs buildctl build\n          (first transfer, one file changed, client overhead) on the e2e buildkitd (root)\n  e2e     end-to-end tests on dockerd 20.10 and buildkitd v0.11.6 (e2e serve: start them only)\n  refs    check that no file refers outside the repository\n  ci      workspace tests, fmt/lint of examples, then e2e (what .ci/run calls)"
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
    let mut c = cargo();
    c.args(["test", "--workspace"]);
    run(c)?;
    tool_checks(&root)?;
    e2e::run(&[])
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
