//! `cargo xtask bench --context`: the transfer of a large build context by
//! `luakit solve` and by `buildctl build` (the same LLB: `luakit build -o`
//! of the same script, with `--local context=DIR`), on the e2e suite's
//! buildkitd v0.11.6 (started here with a root of its own under
//! `target/bench-context`, as root, like the e2e suite).
//!
//! The context: 10,000 files of 20 KiB (200 MiB) in 100 directories. Rows:
//! - first transfer (the daemon's cache pruned before each run, so every
//!   byte is sent), `luakit solve` and `buildctl build`, interleaved;
//! - a second transfer after one file changed: what the session sent
//!   (`LUAKIT_SOLVE_TIMING` prints the session's counters), and its time;
//! - luakit's client overhead: process start to the `Control.Solve`
//!   request (`LUAKIT_SOLVE_TIMING`).
//!
//! `--runs N` (default 3) runs of each first transfer; `--bin PATH` a
//! `luakit` binary instead of building `target/release/luakit`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::e2e::buildkitd::Buildkitd;

const FILES: usize = 10_000;
const FILE_SIZE: usize = 20 * 1024;

/// What one `luakit solve` reported.
#[derive(Debug, Default, Clone, Copy)]
struct LuakitRun {
    secs: f64,
    /// Process start to the Solve request.
    overhead_ms: f64,
    bytes: u64,
    files: u64,
}

/// Parses `LUAKIT_SOLVE_TIMING`'s lines from stderr.
fn parse_timing(stderr: &str) -> Result<(f64, u64, u64)> {
    let mut overhead = None;
    let mut sent = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("luakit: Solve request after ") {
            overhead = rest.trim_end_matches(" ms").parse::<f64>().ok();
        }
        if let Some(rest) = line.strip_prefix("luakit: session sent ") {
            // "N bytes of M files"
            let words: Vec<&str> = rest.split(' ').collect();
            if let (Some(b), Some(f)) = (words.first(), words.get(3)) {
                sent = Some((b.parse::<u64>()?, f.parse::<u64>()?));
            }
        }
    }
    let overhead = overhead.context("no `Solve request after` line (LUAKIT_SOLVE_TIMING)")?;
    let (bytes, files) = sent.context("no `session sent` line (LUAKIT_SOLVE_TIMING)")?;
    Ok((overhead, bytes, files))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn write_context(dir: &Path) -> Result<u64> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..FILES {
        let d = dir.join(format!("d{:02}", i / 100));
        if i % 100 == 0 {
            fs::create_dir_all(&d)?;
        }
        // xorshift bytes: incompressible, reproducible.
        let mut data = Vec::with_capacity(FILE_SIZE);
        while data.len() < FILE_SIZE {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
        data.truncate(FILE_SIZE);
        fs::write(d.join(format!("f{i:05}.bin")), data)?;
    }
    Ok((FILES * FILE_SIZE) as u64)
}

/// Changes one file (new content, a later mtime).
fn touch_one(ctx: &Path, fill: u8) -> Result<()> {
    let f = ctx.join("d42/f04242.bin");
    fs::write(&f, vec![fill; FILE_SIZE])?;
    fs::File::options().write(true).open(&f)?.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))?;
    Ok(())
}

fn prune(bk: &Buildkitd) -> Result<()> {
    let out = bk.buildctl().args(["prune", "--all"]).stdin(Stdio::null()).output()?;
    crate::e2e::util::check_output("buildctl prune --all", &out)
}

fn luakit_solve(bin: &Path, bk: &Buildkitd, script_dir: &Path, ctx: &Path) -> Result<LuakitRun> {
    let t0 = Instant::now();
    let out = Command::new(bin)
        .current_dir(script_dir)
        .args(["solve", "--addr", &bk.addr(), "--progress", "quiet", "--local-unique-id", "bench"])
        .arg("--local")
        .arg(format!("context={}", ctx.display()))
        .arg("build.lua")
        .env("LUAKIT_SOLVE_TIMING", "1")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "luakit solve failed:\n{stderr}");
    let (overhead_ms, bytes, files) = parse_timing(&stderr)?;
    Ok(LuakitRun { secs, overhead_ms, bytes, files })
}

fn buildctl_build(bk: &Buildkitd, def: &Path, ctx: &Path) -> Result<f64> {
    let t0 = Instant::now();
    let out = bk
        .buildctl()
        .args(["build", "--progress", "plain", "--local"])
        .arg(format!("context={}", ctx.display()))
        .stdin(fs::File::open(def)?)
        .output()?;
    let secs = t0.elapsed().as_secs_f64();
    crate::e2e::util::check_output("buildctl build", &out)?;
    Ok(secs)
}

/// `cargo xtask bench --context ARGS…` (ARGS: `--runs N`, `--bin PATH`).
pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 3usize;
    let mut bin: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--context" => {}
            "--runs" => runs = it.next().context("--runs needs a value")?.parse().context("--runs takes a number")?,
            "--bin" => bin = Some(fs::canonicalize(it.next().context("--bin needs a value")?)?),
            other => bail!("unknown option {other} of bench --context (known: --runs N, --bin PATH)"),
        }
    }
    ensure!(runs > 0, "--runs must be at least 1");
    let root = crate::root();
    let target = crate::e2e::target_dir(&root);
    let bin = match bin {
        Some(b) => b,
        None => {
            let mut c = crate::cargo();
            c.args(["build", "--release", "-p", "luakit-cli"]);
            crate::run(c)?;
            target.join("release/luakit")
        }
    };
    let bin_dir = crate::e2e::buildkitd::install_binaries(&root, &target)?;
    let work = target.join("bench-context");
    crate::e2e::util::remove_tree(&work)?;
    fs::create_dir_all(&work)?;
    let work = fs::canonicalize(&work)?;
    let result = measure(&bin, &bin_dir, &work, runs);
    let _ = crate::e2e::util::remove_tree(&work.join("context"));
    result
}

fn measure(bin: &Path, bin_dir: &Path, work: &Path, runs: usize) -> Result<()> {
    let ctx = work.join("context");
    let total = write_context(&ctx)?;
    let script_dir = work.join("script");
    fs::create_dir_all(&script_dir)?;
    fs::write(script_dir.join("build.lua"), "bk.export(bk.local_(\"context\"))\n")?;
    let def = work.join("context.pb");
    let out = Command::new(bin)
        .current_dir(&script_dir)
        .args(["build", "build.lua", "--local-unique-id", "bench", "-o"])
        .arg(&def)
        .output()?;
    crate::e2e::util::check_output("luakit build", &out)?;

    let bk = Buildkitd::start(work, bin_dir, &[])?;
    let mut luakit_first = Vec::new();
    let mut buildctl_first = Vec::new();
    for i in 0..runs {
        prune(&bk)?;
        let r = luakit_solve(bin, &bk, &script_dir, &ctx)?;
        ensure!(
            r.bytes == total && r.files == FILES as u64,
            "run {i}: luakit sent {} bytes in {} files",
            r.bytes,
            r.files
        );
        luakit_first.push(r);
        prune(&bk)?;
        buildctl_first.push(buildctl_build(&bk, &def, &ctx)?);
        eprint!(".");
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    // Second transfer: the previous transfer is luakit's (pruned, then solved once).
    prune(&bk)?;
    luakit_solve(bin, &bk, &script_dir, &ctx)?;
    touch_one(&ctx, 7)?;
    let second = luakit_solve(bin, &bk, &script_dir, &ctx)?;
    prune(&bk)?;
    buildctl_build(&bk, &def, &ctx)?;
    touch_one(&ctx, 9)?;
    let buildctl_second = buildctl_build(&bk, &def, &ctx)?;
    drop(bk);

    let lf = median(luakit_first.iter().map(|r| r.secs).collect());
    let bf = median(buildctl_first.clone());
    let overhead = median(luakit_first.iter().map(|r| r.overhead_ms).collect());
    println!("context: {FILES} files, {total} bytes ({:.0} MiB); medians of {runs} run(s)", total as f64 / 1048576.0);
    println!("first transfer   luakit solve   {lf:>7.2} s  ({:.0} MB/s)", total as f64 / lf / 1e6);
    println!(
        "first transfer   buildctl build {bf:>7.2} s  ({:.0} MB/s)  luakit/buildctl {:.2}",
        total as f64 / bf / 1e6,
        lf / bf
    );
    println!(
        "one file changed luakit solve   {:>7.2} s, sent {} bytes of {} file(s) = {:.4}% of the context",
        second.secs,
        second.bytes,
        second.files,
        second.bytes as f64 * 100.0 / total as f64
    );
    println!("one file changed buildctl build {buildctl_second:>7.2} s");
    println!("luakit client overhead (process start to Solve request): {overhead:.1} ms");
    ensure!(
        (second.bytes as f64) < total as f64 / 100.0,
        "the second transfer sent {} bytes, not under 1% of the context",
        second.bytes
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_lines_are_read() {
        let s = "luakit: Solve request after 12.5 ms\nx\nluakit: session sent 20480 bytes of 1 files\n";
        assert_eq!(parse_timing(s).expect("ok"), (12.5, 20480, 1));
        assert!(parse_timing("luakit: Solve request after 1.0 ms\n").is_err());
    }
}
