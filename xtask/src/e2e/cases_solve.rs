//! `luakit solve` on both engines: the script built by luakit's gateway
//! build over the Control connection (no frontend image), a `.pb` solved
//! directly, its progress, its outputs (the Docker daemon's image store;
//! buildkitd's image pushed to the local registry and read back), the same
//! image config as through the frontend, a failing step reported with its
//! Lua line and the script around it, an unreachable or wrong address, and
//! SSH agent forwarding (`--ssh default`) with a real `ssh-agent`.
//!
//! The cases are listed in [`super::cases_dockerd::cases`] and
//! [`super::cases_buildkitd::cases`].

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::cases_buildkitd::Ctx;
use super::cases_dockerd::Env;
use super::util::{self, tail};

/// How long one `luakit solve` may take.
const SOLVE_TIMEOUT: Duration = Duration::from_secs(180);

/// A finished `luakit solve`.
pub(super) struct Solved {
    pub(super) ok: bool,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Solved {
    pub(super) fn describe(&self) -> String {
        format!("stdout:\n{}\n--- stderr:\n{}", tail(&self.stdout, 10), tail(&self.stderr, 60))
    }

    pub(super) fn ok(self) -> Result<Solved> {
        ensure!(self.ok, "luakit solve failed\n{}", self.describe());
        Ok(self)
    }

    pub(super) fn fails_with(self, needles: &[&str]) -> Result<Solved> {
        ensure!(!self.ok, "luakit solve succeeded but must fail\n{}", self.describe());
        for n in needles {
            ensure!(self.stderr.contains(n), "the error does not mention {n:?}\n{}", self.describe());
        }
        Ok(self)
    }

    /// The digest printed on stdout.
    pub(super) fn digest(&self) -> Result<&str> {
        let d = self.stdout.trim();
        ensure!(d.starts_with("sha256:") && d.len() == 71, "luakit solve printed no digest\n{}", self.describe());
        Ok(d)
    }
}

/// `luakit solve ARGS…` in `dir`, stdout and stderr kept (and logged to `log`).
fn solve(luakit: &Path, dir: &Path, args: &[&str], log: &Path) -> Result<Solved> {
    solve_env(luakit, dir, args, log, &[])
}

/// [`solve`] with environment variables; stdout's bytes stay in
/// `log.stdout`.
pub(super) fn solve_env(luakit: &Path, dir: &Path, args: &[&str], log: &Path, env: &[(&str, &str)]) -> Result<Solved> {
    let out_path = log.with_extension("stdout");
    let err_path = log.with_extension("log");
    let mut cmd = Command::new(luakit);
    cmd.env_remove("BUILDKIT_HOST").env_remove("DOCKER_HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .current_dir(dir)
        .arg("solve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(fs::File::create(&out_path)?))
        .stderr(Stdio::from(fs::File::create(&err_path)?))
        .spawn()
        .with_context(|| format!("cannot run {}", luakit.display()))?;
    let status = util::wait_timeout(&mut child, SOLVE_TIMEOUT)?;
    Ok(Solved {
        ok: status.is_some_and(|s| s.success()),
        stdout: String::from_utf8_lossy(&fs::read(&out_path).unwrap_or_default()).into_owned(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// The failing step of `fixtures/e2e/failing` (line 4: `exit 3`): its
/// output's tail, the Lua line with the script around it, BuildKit's error.
const FAILING_NEEDLES: &[&str] = &["failing-step", "build.lua:4:", ">>>    4 |", "exit 3", "exit code: 3"];

// ---------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------

pub(super) fn docker_addr(env: &Env) -> String {
    format!("docker://unix://{}", env.d.socket().display())
}

fn docker_config(env: &Env, image: &str) -> Result<Value> {
    let out = env.d.docker_output(&["image", "inspect", image])?;
    let v: Value = serde_json::from_str(&out).context("parsing docker image inspect")?;
    v.get(0).cloned().context("docker image inspect returned no image")
}

/// `luakit solve build.lua` on the Docker daemon (its `moby` exporter):
/// the image has the files and the config, the same config as the
/// frontend's (`docker build` with `# syntax=`) of the same script; steps
/// are named `[build.lua:N]`; the printed digest is the image's id.
pub fn dockerd_solve(env: &Env) -> Result<()> {
    let dir = env.fixtures.join("config");
    let image = "luakit-e2e-solve";
    let s = solve(
        &env.luakit,
        &dir,
        &["--addr", &docker_addr(env), "-t", image, "--progress", "plain", "build.lua"],
        &env.work.join("solve"),
    )?
    .ok()?;
    let digest = s.digest()?;
    ensure!(s.stderr.contains("[build.lua:2]"), "no step named [build.lua:2]\n{}", s.describe());
    let v = docker_config(env, image)?;
    ensure!(v["Id"].as_str() == Some(digest), "image id {} is not the printed digest {digest}", v["Id"]);
    let c = &v["Config"];
    ensure!(c["Entrypoint"] == serde_json::json!(["/bin/echo", "ep"]), "Entrypoint: {}", c["Entrypoint"]);
    let envs = c["Env"].as_array().cloned().unwrap_or_default();
    ensure!(envs.iter().any(|e| e == "BASE_MARKER=busybox"), "the base image's Env is not inherited: {envs:?}");
    let out = env.d.docker_output(&["run", "--rm", image])?;
    ensure!(out.trim_end() == "ep hello", "docker run output: {out:?}");

    // The frontend route, the same script: the same config.
    let frontend_tag = "luakit-e2e-solve-frontend";
    let fe = env
        .d
        .docker()
        .current_dir(&dir)
        .args(["build", "--progress=plain", "-f", "build.lua", "-t", frontend_tag, "."])
        .stdin(Stdio::null())
        .output()?;
    util::check_output("docker build (frontend route)", &fe)?;
    let f = docker_config(env, frontend_tag)?;
    ensure!(f["Config"] == v["Config"], "the configs differ:\nfrontend: {}\nsolve:    {}", f["Config"], v["Config"]);
    Ok(())
}

/// A `.pb` (from `luakit build`) solved directly, with rawjson progress and
/// the exporter's response written by `--metadata-file`.
pub fn dockerd_solve_pb(env: &Env) -> Result<()> {
    let dir = env.fixtures.join("buildctl-path");
    let work = env.work.join("solve-pb");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let def = work.join("def.pb");
    let o = Command::new(&env.luakit).current_dir(&dir).args(["build", "build.lua", "-o"]).arg(&def).output()?;
    util::check_output("luakit build", &o)?;
    let meta = work.join("metadata.json");
    let s = solve(
        &env.luakit,
        &dir,
        &[
            "--addr",
            &docker_addr(env),
            "-t",
            "luakit-e2e-solve-pb",
            "--progress",
            "rawjson",
            "--metadata-file",
            &meta.to_string_lossy(),
            &def.to_string_lossy(),
        ],
        &work.join("solve"),
    )?
    .ok()?;
    let digest = s.digest()?;
    let m: Value = serde_json::from_slice(&fs::read(&meta)?).context("the metadata file is not JSON")?;
    ensure!(m["containerimage.digest"] == digest, "metadata: {m}");
    let mut vertexes = 0;
    for line in s.stderr.lines() {
        let v: Value = serde_json::from_str(line).with_context(|| format!("a rawjson line is not JSON: {line:?}"))?;
        vertexes += v["vertexes"].as_array().map_or(0, Vec::len);
    }
    ensure!(vertexes > 0, "rawjson progress has no vertexes\n{}", s.describe());
    let out = env.d.docker_output(&["run", "--rm", "luakit-e2e-solve-pb", "cat", "/srv/artifact.txt"])?;
    ensure!(out.trim_end() == "built-by-run", "file: {out:?}");
    Ok(())
}

pub fn dockerd_solve_failing(env: &Env) -> Result<()> {
    let dir = env.fixtures.join("failing");
    solve(&env.luakit, &dir, &["--addr", &docker_addr(env), "build.lua"], &env.work.join("solve-failing"))?
        .fails_with(FAILING_NEEDLES)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// buildkitd
// ---------------------------------------------------------------------------

/// `luakit solve build.lua` on buildkitd, pushed to the registry and read
/// back: the files' layer and the config, the same config as the
/// frontend's (`buildctl --frontend gateway.v0`) of the same script.
pub fn buildkitd_solve(c: &Ctx) -> Result<()> {
    let case = "solve";
    let work = c.dir(case)?;
    let dir = c.fixtures.join("config");
    let reg = c.registry.addr();
    let name = format!("{reg}/luakit-e2e/solve:1");
    let s = solve(
        &c.luakit,
        &dir,
        &["--addr", &c.bk.addr(), "--output", &format!("type=image,name={name},push=true"), "build.lua"],
        &work.join("solve"),
    )?
    .ok()?;
    let digest = s.digest()?.to_string();
    ensure!(s.stderr.contains("[build.lua:2]"), "no step named [build.lua:2]\n{}", s.describe());
    let client = c.registry.client();
    let fetched = client.get_manifest("luakit-e2e/solve", "1")?;
    ensure!(fetched.digest == digest, "pushed manifest {} is not the printed digest {digest}", fetched.digest);
    let (manifest, config) = client.image("luakit-e2e/solve", "1", "amd64")?;
    ensure!(manifest["layers"].as_array().is_some_and(|l| !l.is_empty()), "no layers: {manifest}");
    let cc = &config["config"];
    ensure!(cc["Entrypoint"] == serde_json::json!(["/bin/echo", "ep"]), "Entrypoint: {}", cc["Entrypoint"]);
    let envs = cc["Env"].as_array().cloned().unwrap_or_default();
    ensure!(envs.iter().any(|e| e == "BASE_MARKER=busybox"), "the base image's Env is not inherited: {envs:?}");

    let fe_name = format!("{reg}/luakit-e2e/solve-frontend:1");
    c.frontend_build("config", "solve-frontend", &[&format!("--output=type=image,name={fe_name},push=true")])
        .and_then(|b| if b.ok { Ok(()) } else { bail!("the frontend build failed:\n{}", tail(&b.output, 40)) })?;
    let (_, fe_config) = client.image("luakit-e2e/solve-frontend", "1", "amd64")?;
    ensure!(fe_config["config"] == *cc, "the configs differ:\nfrontend: {}\nsolve:    {cc}", fe_config["config"]);
    Ok(())
}

/// A `.pb` solved directly on buildkitd, pushed, `--metadata-file` written.
pub fn buildkitd_solve_pb(c: &Ctx) -> Result<()> {
    let case = "solve-pb";
    let work = c.dir(case)?;
    let dir = c.fixtures.join("buildctl-path");
    let def = work.join("def.pb");
    let o = Command::new(&c.luakit).current_dir(&dir).args(["build", "build.lua", "-o"]).arg(&def).output()?;
    util::check_output("luakit build", &o)?;
    let meta = work.join("metadata.json");
    let name = format!("{}/luakit-e2e/solve-pb:1", c.registry.addr());
    let s = solve(
        &c.luakit,
        &dir,
        &[
            "--addr",
            &c.bk.addr(),
            "-t",
            &name,
            "--push",
            "--metadata-file",
            &meta.to_string_lossy(),
            &def.to_string_lossy(),
        ],
        &work.join("solve"),
    )?
    .ok()?;
    let digest = s.digest()?;
    let m: Value = serde_json::from_slice(&fs::read(&meta)?).context("the metadata file is not JSON")?;
    ensure!(m["containerimage.digest"] == digest, "metadata: {m}");
    let fetched = c.registry.client().get_manifest("luakit-e2e/solve-pb", "1")?;
    ensure!(fetched.digest == digest, "pushed manifest {} is not the printed digest {digest}", fetched.digest);
    Ok(())
}

pub fn buildkitd_solve_failing(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-failing")?;
    solve(&c.luakit, &c.fixtures.join("failing"), &["--addr", &c.bk.addr(), "build.lua"], &work.join("solve"))?
        .fails_with(FAILING_NEEDLES)?;
    Ok(())
}

/// No daemon at the address, and a daemon of the wrong kind (buildkitd
/// addressed as a Docker daemon): clear errors, exit 1.
pub fn buildkitd_solve_unreachable(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-unreachable")?;
    let dir = c.fixtures.join("config");
    let missing = work.join("no-daemon.sock");
    let addr = format!("unix://{}", missing.display());
    solve(&c.luakit, &dir, &["--addr", &addr, "build.lua"], &work.join("missing"))?
        .fails_with(&[&format!("cannot connect to BuildKit at {addr}")])?;
    let wrong = format!("docker://{}", c.bk.addr());
    solve(&c.luakit, &dir, &["--addr", &wrong, "--connect-timeout", "10s", "build.lua"], &work.join("wrong"))?
        .fails_with(&["cannot connect to BuildKit at docker://unix://", "h2c"])?;
    solve(&c.luakit, &dir, &["--addr", "ftp://x", "build.lua"], &work.join("bad"))?
        .fails_with(&["invalid BuildKit address"])?;
    Ok(())
}

/// Ctrl-C during a step: luakit ends at once, killed by SIGINT (status 130
/// in a shell), which closes its connection, and buildkitd cancels the
/// build.
pub fn buildkitd_solve_interrupt(c: &Ctx) -> Result<()> {
    use std::os::unix::process::ExitStatusExt as _;
    let work = c.dir("solve-interrupt")?;
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    // A duration of its own, to find the step's `sleep` among processes (the
    // shell execs it: its command line is `sleep SECS`).
    let secs = 600 + nonce % 3000;
    fs::write(
        work.join("build.lua"),
        format!("bk.export(bk.image(\"busybox:latest\"):run(\"echo {nonce}; sleep {secs}\"))\n"),
    )?;
    let err_path = work.join("solve.log");
    let offset = c.bk.log_len();
    let mut child = Command::new(&c.luakit)
        .current_dir(&work)
        .args(["solve", "--addr", &c.bk.addr(), "--progress", "plain", "build.lua"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(fs::File::create(&err_path)?))
        .spawn()?;
    let t0 = std::time::Instant::now();
    // The step's output line (`#N 0.123 NONCE`; its name holds `echo NONCE;`).
    while !fs::read_to_string(&err_path).unwrap_or_default().contains(&format!(" {nonce}\n")) {
        if t0.elapsed() > Duration::from_secs(60) || child.try_wait()?.is_some() {
            let _ = child.kill();
            bail!("the step never started:\n{}", fs::read_to_string(&err_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let marker = format!("sleep {secs}");
    let running = || util::processes().iter().any(|(_, _, argv)| argv.trim_end().ends_with(&marker));
    ensure!(running(), "the step's process is not found (by its command line) while it runs");
    let pid = i32::try_from(child.id())?;
    let o = Command::new("kill").args(["-INT", &pid.to_string()]).output()?;
    util::check_output("kill -INT", &o)?;
    let status = util::wait_timeout(&mut child, Duration::from_secs(10))?;
    let Some(status) = status else {
        let _ = child.kill();
        bail!("luakit solve did not end within 10s of SIGINT");
    };
    ensure!(status.signal() == Some(2), "luakit solve did not die of SIGINT: {status}");
    // The daemon cancels the build: the step's process (its command line
    // is `sleep SECS`) does not run on.
    let t1 = std::time::Instant::now();
    while running() {
        if t1.elapsed() > Duration::from_secs(30) {
            bail!("the step still runs 30s after luakit solve was interrupted:\n{}", tail(&c.bk.log_since(offset), 30));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// the client session, both engines
// ---------------------------------------------------------------------------

/// The script of the `solve-context` cases: copies the `context` local
/// (its `.dockerignore` keeps `ignored.txt` out) and reads the secret `tok`
/// in a run step, writing what it saw to `/out/result`.
const CONTEXT_SCRIPT: &str = r#"local ctx = bk.local_("context")
local st = bk.image("alpine:3.19")
  :copy(ctx, ".", "/ctx")
  :run('mkdir -p /out && echo "$(cat /ctx/keep.txt) $(cat /run/secrets/tok) $(test -e /ctx/ignored.txt && echo present || echo absent)" > /out/result',
    { mounts = { bk.secret("/run/secrets/tok") } })
bk.export(st)
"#;

/// What `/out/result` must hold.
const CONTEXT_RESULT: &str = "kept s3cret absent";

/// A context directory `ctx` (the script, `keep.txt`, `ignored.txt` and a
/// `.dockerignore` naming it) and the secret file `secret.txt` beside it.
fn context_fixture(work: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let ctx = work.join("ctx");
    let _ = fs::remove_dir_all(&ctx);
    fs::create_dir_all(&ctx)?;
    fs::write(ctx.join("build.lua"), CONTEXT_SCRIPT)?;
    fs::write(ctx.join("keep.txt"), "kept\n")?;
    fs::write(ctx.join("ignored.txt"), "must not be sent\n")?;
    fs::write(ctx.join(".dockerignore"), "# the e2e case\nignored.txt\n")?;
    let secret = work.join("secret.txt");
    fs::write(&secret, "s3cret")?;
    Ok((ctx, secret))
}

/// `luakit solve` with the client session on the Docker daemon: the
/// default `context=.` local filtered by its `.dockerignore`, and
/// `--secret`; the image is run to read what the build step saw.
pub fn dockerd_solve_context(env: &Env) -> Result<()> {
    let work = env.work.join("solve-context");
    fs::create_dir_all(&work)?;
    let (ctx, secret) = context_fixture(&work)?;
    let image = "luakit-e2e-solve-context";
    let secret_arg = format!("id=tok,src={}", secret.display());
    solve(
        &env.luakit,
        &ctx,
        &["--addr", &docker_addr(env), "--load", "-t", image, "--secret", &secret_arg, "build.lua"],
        &work.join("solve"),
    )?
    .ok()?;
    let out = env.d.docker_output(&["run", "--rm", image, "cat", "/out/result"])?;
    ensure!(out.trim_end() == CONTEXT_RESULT, "/out/result: {out:?}");
    Ok(())
}

/// The same on buildkitd, with `--local context=DIR` from another
/// directory: pushed to the registry, `/out/result` read from the last layer.
pub fn buildkitd_solve_context(c: &Ctx) -> Result<()> {
    let case = "solve-context";
    let work = c.dir(case)?;
    let (ctx, secret) = context_fixture(&work)?;
    let name = format!("{}/luakit-e2e/solve-context:1", c.registry.addr());
    let local_arg = format!("context={}", ctx.display());
    let secret_arg = format!("id=tok,src={}", secret.display());
    let script = ctx.join("build.lua");
    solve(
        &c.luakit,
        &work,
        &[
            "--addr",
            &c.bk.addr(),
            "--output",
            &format!("type=image,name={name},push=true"),
            "--local",
            &local_arg,
            "--secret",
            &secret_arg,
            &script.to_string_lossy(),
        ],
        &work.join("solve"),
    )?
    .ok()?;
    let client = c.registry.client();
    let (manifest, _) = client.image("luakit-e2e/solve-context", "1", "amd64")?;
    let last = manifest["layers"]
        .as_array()
        .and_then(|l| l.last())
        .and_then(|d| d["digest"].as_str())
        .with_context(|| format!("no layers: {manifest}"))?;
    let blob = work.join("last-layer.tar.gz");
    fs::write(&blob, client.get_blob("luakit-e2e/solve-context", last)?)?;
    let out = Command::new("tar").arg("-xzOf").arg(&blob).arg("out/result").output()?;
    util::check_output("tar (the last layer)", &out)?;
    let got = String::from_utf8_lossy(&out.stdout);
    ensure!(got.trim_end() == CONTEXT_RESULT, "/out/result: {got:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// SSH agent forwarding, both engines
// ---------------------------------------------------------------------------

/// A running `ssh-agent` (Debian's openssh-client) holding one new
/// ed25519 key; killed when dropped.
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
    /// The key's comment, which `ssh-add -l` lists.
    comment: String,
    /// The key's fingerprint (`SHA256:…`), unique to this run.
    fingerprint: String,
}

impl Agent {
    fn start(work: &Path) -> Result<Agent> {
        let socket = work.join("agent.sock");
        let _ = fs::remove_file(&socket);
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run ssh-agent (Debian's openssh-client)")?;
        let mut agent = Agent { child, socket, comment: "luakit-e2e-key".to_string(), fingerprint: String::new() };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !agent.socket.exists() {
            ensure!(std::time::Instant::now() < deadline, "ssh-agent did not create {}", agent.socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        let key = work.join("id_ed25519");
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", &agent.comment, "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .output()?;
        util::check_output("ssh-keygen", &out)?;
        let out =
            Command::new("ssh-add").arg(&key).env("SSH_AUTH_SOCK", &agent.socket).stdin(Stdio::null()).output()?;
        util::check_output("ssh-add", &out)?;
        let out = Command::new("ssh-keygen").arg("-lf").arg(key.with_extension("pub")).output()?;
        util::check_output("ssh-keygen -l", &out)?;
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        agent.fingerprint =
            listed.split_whitespace().nth(1).context("ssh-keygen -l printed no fingerprint")?.to_string();
        Ok(agent)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A context with the host's `ssh-add`, its shared libraries and loader
/// (the busybox base has no SSH client), and a script that lists the
/// forwarded agent's keys in a run step with an SSH mount; the result,
/// `/keys`, is exported alone. The run's command names `nonce`, so that
/// no cached result of an earlier agent is reused.
fn ssh_fixture(work: &Path, nonce: &str) -> Result<std::path::PathBuf> {
    let ctx = work.join("ctx");
    let _ = fs::remove_dir_all(&ctx);
    fs::create_dir_all(ctx.join("lib"))?;
    let tool = Path::new("/usr/bin/ssh-add");
    fs::copy(tool, ctx.join("ssh-add"))?;
    let out = Command::new("ldd").arg(tool).output().context("cannot run ldd")?;
    util::check_output("ldd /usr/bin/ssh-add", &out)?;
    let mut loader = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/…/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else { continue };
        let name = Path::new(path).file_name().context("a library without a name")?.to_string_lossy().into_owned();
        fs::copy(path, ctx.join("lib").join(&name)).with_context(|| format!("copying {path}"))?;
        if name.starts_with("ld-linux") {
            loader = Some(name);
        }
    }
    let loader = loader.context("ldd names no dynamic loader for ssh-add")?;
    let script = format!(
        r#"local tools = bk.local_("context")
local listed = bk.image("alpine:3.19"):run(
    "/tools/lib/{loader} --library-path /tools/lib /tools/ssh-add -l > /keys 2>&1 # {nonce}",
    {{ mounts = {{ bk.bind(tools, "/tools"), bk.ssh() }} }}
)
bk.export(bk.scratch():copy(listed, "/keys", "/keys"))
"#
    );
    fs::write(ctx.join("build.lua"), script)?;
    Ok(ctx)
}

/// `luakit solve --ssh default` with a real agent: the run step lists the
/// agent's key through the forwarded socket (written out with
/// `--output type=local`).
fn solve_ssh(luakit: &Path, addr: &str, work: &Path) -> Result<()> {
    let agent = Agent::start(work)?;
    let ctx = ssh_fixture(work, &agent.fingerprint)?;
    let out = work.join("out");
    let _ = fs::remove_dir_all(&out);
    let output = format!("type=local,dest={}", out.display());
    let sock = agent.socket.to_string_lossy().into_owned();
    solve_env(
        luakit,
        &ctx,
        &["--addr", addr, "--ssh", "default", "--output", &output, "build.lua"],
        &work.join("solve"),
        &[("SSH_AUTH_SOCK", &sock)],
    )?
    .ok()?;
    let keys = fs::read_to_string(out.join("keys")).context("the build wrote no /keys")?;
    ensure!(
        keys.contains(&agent.fingerprint) && keys.contains(&agent.comment),
        "ssh-add -l in the build did not list the agent's key {} ({}): {keys:?}",
        agent.fingerprint,
        agent.comment
    );
    // Without --ssh the step (run again, not taken from the cache) cannot
    // have the agent: a clear failure.
    let _ = fs::remove_dir_all(&out);
    let without = solve_env(
        luakit,
        &ctx,
        &["--addr", addr, "--no-cache", "--output", &output, "build.lua"],
        &work.join("solve-without"),
        &[],
    )?;
    ensure!(!without.ok, "luakit solve without --ssh succeeded\n{}", without.describe());
    ensure!(without.stderr.to_lowercase().contains("ssh"), "the error does not mention SSH\n{}", without.describe());
    Ok(())
}

/// [`solve_ssh`] on the Docker daemon.
pub fn dockerd_solve_ssh(env: &Env) -> Result<()> {
    let work = env.work.join("solve-ssh");
    fs::create_dir_all(&work)?;
    solve_ssh(&env.luakit, &docker_addr(env), &work)
}

/// [`solve_ssh`] on buildkitd.
pub fn buildkitd_solve_ssh(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-ssh")?;
    solve_ssh(&c.luakit, &c.bk.addr(), &work)
}
