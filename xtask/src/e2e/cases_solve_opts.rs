//! `luakit solve` options that change how BuildKit builds rather than what:
//! `--no-cache` (every step runs again, on the script's gateway route and on
//! a `.pb`), TLS to a `tcp://` buildkitd, and build-cache export/import.
//!
//! Listed in [`super::cases_buildkitd::cases`] (and `--no-cache` in
//! [`super::cases_dockerd::cases`] too).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::cases_buildkitd::Ctx;
use super::cases_dockerd::Env;
use super::util::{self, tail};

/// How long one `luakit solve` may take.
const SOLVE_TIMEOUT: Duration = Duration::from_secs(180);

/// A finished `luakit solve`: success, stdout, stderr.
pub(super) struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn describe(&self) -> String {
        format!("stdout:\n{}\n--- stderr:\n{}", tail(&self.stdout, 10), tail(&self.stderr, 60))
    }

    pub fn ok(self) -> Result<Run> {
        ensure!(self.ok, "luakit solve failed\n{}", self.describe());
        Ok(self)
    }

    pub fn fails_with(self, needles: &[&str]) -> Result<Run> {
        ensure!(!self.ok, "luakit solve succeeded but must fail\n{}", self.describe());
        for n in needles {
            ensure!(self.stderr.contains(n), "the error does not mention {n:?}\n{}", self.describe());
        }
        Ok(self)
    }

    /// Whether a step whose name contains `name` was reported CACHED
    /// (plain progress: `#N name` … `#N CACHED`).
    pub fn cached(&self, name: &str) -> Result<bool> {
        let number = self
            .stderr
            .lines()
            .find_map(|l| {
                let (n, rest) = l.strip_prefix('#')?.split_once(' ')?;
                (rest.contains(name) && n.chars().all(|c| c.is_ascii_digit())).then(|| n.to_string())
            })
            .with_context(|| format!("no step {name:?} in the progress\n{}", self.describe()))?;
        Ok(self.stderr.lines().any(|l| l == format!("#{number} CACHED")))
    }
}

/// `luakit solve ARGS…` in `dir` (no BUILDKIT_HOST/DOCKER_HOST from the
/// suite's environment), logged to `log`.{stdout,log}.
pub(super) fn solve(luakit: &Path, dir: &Path, args: &[&str], log: &Path) -> Result<Run> {
    let out_path = log.with_extension("stdout");
    let err_path = log.with_extension("log");
    let mut child = Command::new(luakit)
        .current_dir(dir)
        .arg("solve")
        .args(args)
        .env_remove("BUILDKIT_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::from(fs::File::create(&out_path)?))
        .stderr(Stdio::from(fs::File::create(&err_path)?))
        .spawn()
        .with_context(|| format!("cannot run {}", luakit.display()))?;
    let status = util::wait_timeout(&mut child, SOLVE_TIMEOUT)?;
    Ok(Run {
        ok: status.is_some_and(|s| s.success()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// A script of one `run` step unique to this call (so its first build
/// is not cached) and a file op after it.
fn nonce_script(dir: &Path) -> Result<String> {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let marker = format!("nc-{nonce}");
    fs::write(
        dir.join("build.lua"),
        format!(
            "local st = bk.image(\"busybox:latest\"):run(\"echo {marker} > /marker.txt\")\n\
             bk.export(st:mkfile(\"/done.txt\", \"done\"))\n"
        ),
    )?;
    Ok(marker)
}

/// `--no-cache` on `addr`: a second run shows the steps CACHED, a run with
/// the flag none (on the gateway route and for a `.pb`), and the step runs
/// again.
fn no_cache(luakit: &Path, work: &Path, addr: &str) -> Result<()> {
    let marker = nonce_script(work)?;
    let step = format!("echo {marker}");
    let base = ["--addr", addr, "--progress", "plain"];
    let first = solve(luakit, work, &base, &work.join("first"))?.ok()?;
    ensure!(!first.cached(&step)?, "the first build of a new step is CACHED\n{}", first.describe());
    let second = solve(luakit, work, &base, &work.join("second"))?.ok()?;
    ensure!(second.cached(&step)?, "the second build is not CACHED\n{}", second.describe());
    let mut args = base.to_vec();
    args.push("--no-cache");
    let fresh = solve(luakit, work, &args, &work.join("no-cache"))?.ok()?;
    ensure!(!fresh.stderr.contains("CACHED"), "--no-cache still shows CACHED steps\n{}", fresh.describe());
    ensure!(!fresh.cached(&step)?, "unreachable");

    // A `.pb`: the same with and without the flag.
    let def = work.join("def.pb");
    let o = Command::new(luakit).current_dir(work).args(["build", "build.lua", "-o"]).arg(&def).output()?;
    util::check_output("luakit build", &o)?;
    let def = def.to_string_lossy().into_owned();
    let mut args = base.to_vec();
    args.push(&def);
    let cached = solve(luakit, work, &args, &work.join("pb"))?.ok()?;
    ensure!(cached.stderr.contains("CACHED"), "a second .pb build shows no CACHED step\n{}", cached.describe());
    args.push("--no-cache");
    let fresh = solve(luakit, work, &args, &work.join("pb-no-cache"))?.ok()?;
    ensure!(!fresh.stderr.contains("CACHED"), "--no-cache on a .pb still shows CACHED\n{}", fresh.describe());
    Ok(())
}

/// `luakit solve --no-cache` on buildkitd.
pub fn buildkitd_no_cache(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-no-cache")?;
    no_cache(&c.luakit, &work, &c.bk.addr())
}

/// `luakit solve --no-cache` on the Docker daemon.
pub fn dockerd_no_cache(env: &Env) -> Result<()> {
    let work = env.work.join("solve-no-cache");
    util::remove_tree(&work)?;
    fs::create_dir_all(&work)?;
    no_cache(&env.luakit, &work, &format!("docker://unix://{}", env.d.socket().display()))
}
