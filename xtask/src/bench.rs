//! `cargo xtask bench`: whole-process speed of the `luakit` binary on the
//! workloads of `fixtures/bench` (issue 13), and of BuildKit's Go peers.
//!
//! Each row is a whole process (`luakit build` of a script to a file): the
//! median wall time of N runs and the median peak RSS (the child's
//! `ru_maxrss`, from `wait4`). Runs of the different binaries are
//! interleaved, so that a change of load on a shared machine hits every
//! column alike.
//!
//! - `--runs N` — runs per row (default 11).
//! - `--bin PATH` — measure this `luakit` binary instead of building
//!   `target/release/luakit`.
//! - `--baseline PATH` — also measure another `luakit` binary (e.g. one
//!   built from main) and print it as the "before" column.
//! - `--compare` — also run the peers, `llbperf10k` (BuildKit's Go
//!   `client/llb` building the same 10,000 ops) and `dockerfile2llb` (the
//!   1,000-instruction Dockerfile), from `$LUAKIT_BENCH_PEERS` or the
//!   unpacked BuildKit binaries, and print the ratios.
//! - `--criterion` — first run the criterion benches (`cargo bench`).
//! - `--context` — another mode: the transfer of a 200 MiB build context
//!   by `luakit solve` and `buildctl build` on the e2e suite's buildkitd
//!   (`bench_context.rs`; `--runs N`, `--bin PATH`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::{cargo, root, run};

/// One whole-process measurement.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    /// User + system CPU time of the child (less sensitive to the load of
    /// a shared machine than the wall time).
    cpu: Duration,
    /// Peak resident set size, KiB.
    max_rss_kib: u64,
}

/// A command to measure: program, arguments, optional stdin file.
struct Job {
    program: PathBuf,
    args: Vec<String>,
    stdin: Option<PathBuf>,
    /// Where stdout goes (a file, truncated on each run).
    stdout: PathBuf,
}

impl Job {
    fn sample(&self, dir: &Path) -> Result<Sample> {
        let out = std::fs::File::create(&self.stdout).with_context(|| format!("creating {}", self.stdout.display()))?;
        let mut c = Command::new(&self.program);
        c.args(&self.args).current_dir(dir).stdout(out).stderr(Stdio::inherit());
        match &self.stdin {
            Some(p) => c.stdin(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?),
            None => c.stdin(Stdio::null()),
        };
        let start = Instant::now();
        let child = c.spawn().with_context(|| format!("starting {}", self.program.display()))?;
        let (status, max_rss_kib, cpu) = wait_rusage(child.id())?;
        let wall = start.elapsed();
        if status != 0 {
            bail!("{} {} failed (wait status {status})", self.program.display(), self.args.join(" "));
        }
        Ok(Sample { wall, cpu, max_rss_kib })
    }
}

/// Waits for `pid`, returning its wait status, peak RSS (KiB) and CPU time.
#[allow(unsafe_code)]
fn wait_rusage(pid: u32) -> Result<(i32, u64, Duration)> {
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (the `Child` handle is
    // dropped without waiting); both pointers are to live locals.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    ensure!(r == pid as libc::pid_t, "wait4 failed: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok((status, u64::try_from(ru.ru_maxrss).unwrap_or(0), tv(ru.ru_utime) + tv(ru.ru_stime)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Medians of a row.
struct Summary {
    wall_ms: f64,
    cpu_ms: f64,
    mib: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        wall_ms: median(samples.iter().map(|s| s.wall.as_secs_f64() * 1000.0).collect()),
        cpu_ms: median(samples.iter().map(|s| s.cpu.as_secs_f64() * 1000.0).collect()),
        mib: median(samples.iter().map(|s| s.max_rss_kib as f64 / 1024.0).collect()),
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} ms (cpu {:.1} ms), {:.1} MiB", self.wall_ms, self.cpu_ms, self.mib)
    }
}

struct Options {
    runs: usize,
    bin: Option<PathBuf>,
    baseline: Option<PathBuf>,
    compare: bool,
    criterion: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options { runs: 11, bin: None, baseline: None, compare: false, criterion: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => o.runs = value("--runs")?.parse().context("--runs takes a number")?,
            "--bin" => o.bin = Some(absolute(&value("--bin")?)?),
            "--baseline" => o.baseline = Some(absolute(&value("--baseline")?)?),
            "--compare" => o.compare = true,
            "--criterion" => o.criterion = true,
            other => bail!(
                "unknown bench option {other} (known: --runs N, --bin PATH, --baseline PATH, --compare, --criterion, --context)"
            ),
        }
    }
    ensure!(o.runs > 0, "--runs must be at least 1");
    Ok(o)
}

/// `path` made absolute (the workloads run in `fixtures/bench`).
fn absolute(path: &str) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("{path} not found"))
}

/// The luakit workloads: (name, arguments after the binary).
fn workloads(out: &Path) -> Vec<(&'static str, Vec<String>)> {
    let o = out.display().to_string();
    let build = |extra: &[&str], script: &str| {
        let mut v: Vec<String> = ["build", "--platform", "linux/amd64", "--local-unique-id", "bench", "-o", &o]
            .iter()
            .map(ToString::to_string)
            .collect();
        v.extend(extra.iter().map(ToString::to_string));
        v.push(script.to_string());
        v
    };
    vec![
        ("10,000 ops, with source map", build(&[], "build10k.lua")),
        ("10,000 ops, no source map", build(&["--no-source-map"], "build10k.lua")),
        ("1,000-instruction build", build(&[], "build1000.lua")),
        (
            "validate of the 10,000 ops",
            ["validate", "--platform", "linux/amd64", "--local-unique-id", "bench", "build10k.lua"]
                .iter()
                .map(ToString::to_string)
                .collect(),
        ),
        ("empty script", build(&[], "empty.lua")),
    ]
}

/// Where the peers are: `$LUAKIT_BENCH_PEERS`, else the unpacked BuildKit binaries.
fn peers_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("LUAKIT_BENCH_PEERS") {
        return Ok(PathBuf::from(d));
    }
    let root = root();
    let target = crate::e2e::target_dir(&root);
    let dir = target.join("buildkit-bin");
    if dir.join("llbperf10k").is_file() && dir.join("dockerfile2llb").is_file() {
        return Ok(dir);
    }
    crate::e2e::buildkitd::install_binaries(&root, &target)
}

pub fn run_bench(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    if o.criterion {
        let mut c = cargo();
        c.args(["bench", "-p", "luakit", "-p", "luakit-llb"]);
        run(c)?;
    }
    let bin = match &o.bin {
        Some(b) => b.clone(),
        None => {
            let mut c = cargo();
            c.args(["build", "--release", "-p", "luakit-cli"]);
            run(c)?;
            crate::e2e::target_dir(&root()).join("release/luakit")
        }
    };
    let dir = root().join("fixtures/bench");
    let tmp = std::env::temp_dir().join(format!("luakit-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let result = measure(&o, &bin, &dir, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn measure(o: &Options, bin: &Path, dir: &Path, tmp: &Path) -> Result<()> {
    let out = tmp.join("out.pb");
    let mut bins: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(b) = &o.baseline {
        bins.push(("before", b.clone()));
    }
    bins.push(("luakit", bin.to_path_buf()));
    // rows[w][b] = samples of workload w with binary b.
    let wl = workloads(&out);
    let mut jobs: Vec<Vec<Job>> = Vec::new();
    for (_, args) in &wl {
        jobs.push(
            bins.iter()
                .map(|(_, b)| Job { program: b.clone(), args: args.clone(), stdin: None, stdout: tmp.join("stdout") })
                .collect(),
        );
    }
    let peers = if o.compare {
        let p = peers_dir()?;
        let llb = Job { program: p.join("llbperf10k"), args: vec![], stdin: None, stdout: tmp.join("peer10k.pb") };
        let df = Job {
            program: p.join("dockerfile2llb"),
            args: vec![],
            stdin: Some(dir.join("Dockerfile.1000")),
            stdout: tmp.join("peer1000.pb"),
        };
        vec![llb, df]
    } else {
        vec![]
    };
    let mut samples: Vec<Vec<Vec<Sample>>> = jobs.iter().map(|r| vec![Vec::new(); r.len()]).collect();
    let mut peer_samples: Vec<Vec<Sample>> = vec![Vec::new(); peers.len()];
    // One warm-up round, not counted (page cache, first exec).
    for row in &jobs {
        for j in row {
            j.sample(dir)?;
        }
    }
    for j in &peers {
        j.sample(dir)?;
    }
    for _ in 0..o.runs {
        for (w, row) in jobs.iter().enumerate() {
            for (b, j) in row.iter().enumerate() {
                samples[w][b].push(j.sample(dir)?);
            }
        }
        for (i, j) in peers.iter().enumerate() {
            peer_samples[i].push(j.sample(dir)?);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "whole process, median of {} runs: wall time (user+system CPU time), peak RSS; load average {}",
        o.runs,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    let mut header = String::from("| work |");
    let mut rule = String::from("| --- |");
    for (name, _) in &bins {
        header.push_str(&format!(" {name} |"));
        rule.push_str(" --- |");
    }
    if o.compare {
        header.push_str(" peer | ratio luakit/peer |");
        rule.push_str(" --- | --- |");
    }
    println!("{header}\n{rule}");
    let peer_of = |w: usize| -> Option<(&str, Summary)> {
        match w {
            0 if o.compare => Some(("llbperf10k", summarize(&peer_samples[0]))),
            2 if o.compare => Some(("dockerfile2llb", summarize(&peer_samples[1]))),
            _ => None,
        }
    };
    for (w, (name, _)) in wl.iter().enumerate() {
        let mut line = format!("| {name} |");
        let mut last = None;
        for s in &samples[w] {
            let s = summarize(s);
            line.push_str(&format!(" {s} |"));
            last = Some(s);
        }
        if o.compare {
            match (peer_of(w), last) {
                (Some((peer, p)), Some(l)) => line.push_str(&format!(
                    " {peer}: {p} | wall {:.3}, cpu {:.3} |",
                    l.wall_ms / p.wall_ms,
                    l.cpu_ms / p.cpu_ms
                )),
                _ => line.push_str(" — | — |"),
            }
        }
        println!("{line}");
    }
    Ok(())
}
