//! The cases on the first engine, dockerd 20.10 (BuildKit v0.8): each
//! script under `fixtures/e2e/<case>/build.lua` (first line
//! `# syntax=luakit/frontend:dev`) is built with `docker build -f build.lua`
//! and the built image's files (`docker run`) and config (`docker inspect`)
//! are checked, or, for the cases that must fail, the error the build
//! prints. The `buildctl-path` case takes the other route: `luakit build`
//! then `luakit solve` through BuildKit's Control API on the daemon's socket
//! (what `buildctl build` uses). `registry-auth` logs in to the local
//! registry that requires credentials and pulls from it.
//!
//! Adding a case: a fixture directory, a `fn case_x(env: &Env) -> Result<()>`
//! and a line in [`cases`].

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::convert_equiv;
use super::dockerd::Dockerd;
use super::registry::Registry;
use super::runner::Case;
use super::util::{self, tail};

/// How long one `docker build` may take.
const BUILD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

/// Every case, in the order they are queued.
pub fn cases<'a>() -> Vec<Case<Env<'a>>> {
    vec![
        Case::new("cache", case_cache),
        Case::new("run", case_run),
        // Exclusive: dockerd 20.10's BuildKit (v0.8) can panic ("failed to
        // get edge") and take the daemon down when a build that ignores the
        // cache shares a step with a build running at the same time.
        Case::exclusive("no-cache", case_no_cache),
        Case::new("fileops", case_fileops),
        Case::new("symlink", case_symlink),
        Case::new("secret", case_secret),
        Case::new("mounts", case_mounts),
        Case::new("config", case_config),
        Case::new("buildargs", case_buildargs),
        Case::new("modules", case_modules),
        Case::new("failing", case_failing),
        Case::new("script-error", case_script_error),
        Case::new("merge", case_merge),
        Case::new("diff", case_diff),
        Case::new("readme", case_readme),
        Case::new("buildctl-path", case_buildctl_path),
        Case::new("registry-auth", case_registry_auth),
        Case::new("targets", case_targets),
        Case::new("multi-index", case_multi_index),
        // `luakit convert` equivalence (see `convert_equiv`): one case per
        // fixture of fixtures/convert/e2e.txt that dockerd 20.10 can build
        // (`convert_equiv::NOT_ON_DOCKERD`: the others and why).
        Case::new("convert-arg-before-from", |e| convert_equiv::check(e, "arg-before-from")),
        Case::new("convert-busybox-multistage", |e| convert_equiv::check(e, "busybox-multistage")),
        Case::new("convert-env-workdir-user", |e| convert_equiv::check(e, "env-workdir-user")),
        Case::new("convert-escape-labels", |e| convert_equiv::check(e, "escape-labels")),
        Case::new("convert-healthcheck-inherit", |e| convert_equiv::check(e, "healthcheck-inherit")),
        Case::new("convert-shell-forms", |e| convert_equiv::check(e, "shell-forms")),
        Case::new("convert-stage-config", |e| convert_equiv::check(e, "stage-config")),
        Case::new("convert-go-multistage", |e| convert_equiv::check(e, "go-multistage")),
        Case::new("convert-node-secret-files", |e| convert_equiv::check(e, "node-secret-files")),
        Case::new("convert-python-venv", |e| convert_equiv::check(e, "python-venv")),
        Case::new("convert-rust-cargo", |e| convert_equiv::check(e, "rust-cargo")),
        // The examples' Dockerfiles (`convert_equiv::EXAMPLES`).
        Case::new("convert-example-go", |e| convert_equiv::check(e, "example-go")),
        Case::new("convert-example-node", |e| convert_equiv::check(e, "example-node")),
        Case::new("convert-example-python", |e| convert_equiv::check(e, "example-python")),
        Case::new("solve", super::cases_solve::dockerd_solve),
        Case::new("solve-pb", super::cases_solve::dockerd_solve_pb),
        Case::new("solve-failing", super::cases_solve::dockerd_solve_failing),
        Case::new("solve-context", super::cases_solve::dockerd_solve_context),
        Case::new("solve-ssh", super::cases_solve::dockerd_solve_ssh),
        Case::new("solve-outputs", super::cases_solve_outputs::dockerd_outputs),
        Case::exclusive("solve-no-cache", super::cases_solve_opts::dockerd_no_cache),
        Case::new("session", case_session),
    ]
}

/// What the cases share.
pub struct Env<'a> {
    pub d: &'a Dockerd,
    /// The registry that requires credentials.
    pub auth_registry: &'a Registry,
    /// The `luakit` binary under test.
    pub luakit: PathBuf,
    pub fixtures: PathBuf,
    /// A work directory of the dockerd cases.
    pub work: PathBuf,
}

/// A finished `docker build`.
struct Build {
    ok: bool,
    /// The build output (stdout and stderr).
    output: String,
    /// What the daemon logged meanwhile (the frontend's stderr lands there).
    log: String,
}

impl Build {
    fn describe(&self) -> String {
        format!("build output:\n{}\n--- daemon log:\n{}", tail(&self.output, 60), tail(&self.log, 30))
    }
}

impl Env<'_> {
    fn image(case: &str) -> String {
        format!("luakit-e2e-{case}")
    }

    /// `docker build -f build.lua -t luakit-e2e-<case> [extra…] fixtures/e2e/<case>`.
    fn build(&self, case: &str, extra: &[&str]) -> Result<Build> {
        let dir = self.fixtures.join(case);
        ensure!(dir.join("build.lua").exists(), "{} is missing", dir.join("build.lua").display());
        let offset = self.d.log_len();
        let tag = Self::image(case);
        let out_path = self.work.join(format!("build-{case}.log"));
        let out_file = fs::File::create(&out_path)?;
        let mut child = self
            .d
            .docker()
            .current_dir(&dir)
            .args(["build", "--progress=plain", "-f", "build.lua", "-t", &tag])
            .args(extra)
            .arg(".")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_file.try_clone()?))
            .stderr(Stdio::from(out_file))
            .spawn()
            .context("cannot run docker build")?;
        let t0 = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            if t0.elapsed() > BUILD_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        let mut output = fs::read_to_string(&out_path).unwrap_or_default();
        if status.is_none() {
            output.push_str(&format!("\n(docker build killed after {}s)", BUILD_TIMEOUT.as_secs()));
        }
        Ok(Build { ok: status.is_some_and(|s| s.success()), output, log: self.d.log_since(offset) })
    }

    /// Builds and requires success.
    fn build_ok(&self, case: &str, extra: &[&str]) -> Result<Build> {
        let b = self.build(case, extra)?;
        if !b.ok {
            bail!("docker build failed\n{}", b.describe());
        }
        Ok(b)
    }

    /// Builds and requires a failure whose output contains every `needle`.
    fn build_fails_with(&self, case: &str, needles: &[&str]) -> Result<()> {
        let b = self.build(case, &[])?;
        if b.ok {
            bail!("docker build succeeded but must fail\n{}", b.describe());
        }
        for n in needles {
            if !b.output.contains(n) {
                bail!("the build error does not mention {n:?}\n{}", b.describe());
            }
        }
        Ok(())
    }

    /// `docker run --rm --entrypoint <argv0> <image> <args…>`'s stdout.
    fn run_in(&self, case: &str, argv: &[&str]) -> Result<String> {
        let (argv0, rest) = argv.split_first().context("empty argv")?;
        let image = Self::image(case);
        let mut args = vec!["run", "--rm", "--user", "0", "--entrypoint", argv0, image.as_str()];
        args.extend_from_slice(rest);
        self.d.docker_output(&args)
    }

    /// The content of `path` in the case's image.
    fn file(&self, case: &str, path: &str) -> Result<String> {
        self.run_in(case, &["/bin/cat", path]).with_context(|| format!("reading {path} in the built image"))
    }

    /// `docker image inspect`'s record of the case's image.
    fn inspect(&self, case: &str) -> Result<Value> {
        let out = self.d.docker_output(&["image", "inspect", &Self::image(case)])?;
        let v: Value = serde_json::from_str(&out).context("parsing docker image inspect")?;
        v.get(0).cloned().context("docker image inspect returned no image")
    }
}

fn expect_eq(what: &str, got: &str, want: &str) -> Result<()> {
    ensure!(got == want, "{what}: expected {want:?}, got {got:?}");
    Ok(())
}

fn expect_file(env: &Env, case: &str, path: &str, want: &str) -> Result<()> {
    let got = env.file(case, path)?;
    expect_eq(path, got.trim_end(), want)
}

// ------------------------------------------------------------------ cases

fn case_run(env: &Env) -> Result<()> {
    env.build_ok("run", &[])?;
    expect_file(env, "run", "/out-shell.txt", "shell-ok")?;
    expect_file(env, "run", "/out-argv.txt", "argv-ok")?;
    expect_file(env, "run", "/out-env.txt", "hello-env")?;
    expect_file(env, "run", "/out-cwd.txt", "/work")?;
    expect_file(env, "run", "/home/app/whoami.txt", "app")
}

/// `docker build --no-cache` through the luakit frontend: a second build
/// shows the script's steps CACHED, one with `--no-cache` none (the
/// frontend honours the `no-cache` option as the Dockerfile frontend does).
fn case_no_cache(env: &Env) -> Result<()> {
    let script_steps = |out: &str| -> Vec<String> {
        super::cases_solve_opts::cached_steps(out).into_iter().filter(|s| s.contains("[build.lua:")).collect()
    };
    env.build_ok("run", &[])?;
    let again = env.build_ok("run", &[])?;
    ensure!(!script_steps(&again.output).is_empty(), "a second build shows no CACHED step\n{}", again.describe());
    let fresh = env.build_ok("run", &["--no-cache"])?;
    let cached = script_steps(&fresh.output);
    ensure!(cached.is_empty(), "--no-cache still shows CACHED steps {cached:?}\n{}", fresh.describe());
    Ok(())
}

fn case_fileops(env: &Env) -> Result<()> {
    env.build_ok("fileops", &[])?;
    expect_file(env, "fileops", "/data/sub/hello.txt", "hello-file")?;
    let modes = env.run_in("fileops", &["/bin/stat", "-c", "%a %n", "/data/sub", "/data/sub/hello.txt"])?;
    expect_eq("modes", modes.trim_end(), "750 /data/sub\n600 /data/sub/hello.txt")?;
    let gone = env.run_in("fileops", &["/bin/sh", "-c", "test -e /data/gone.txt && echo present || echo absent"])?;
    expect_eq("/data/gone.txt after rm", gone.trim_end(), "absent")?;
    expect_file(env, "fileops", "/data/ctx.txt", "from-context")?;
    expect_file(env, "fileops", "/data/artifact.txt", "from-builder")
}

fn case_symlink(env: &Env) -> Result<()> {
    // FileOp symlink needs a newer BuildKit than Docker 20.10's v0.8.
    env.build_fails_with("symlink", &["build.lua:3", "file.symlink.create", "needs BuildKit v0.17"])
}

fn case_cache(env: &Env) -> Result<()> {
    env.build_ok("cache", &["--build-arg", "BUST=1"])?;
    expect_file(env, "cache", "/count.txt", "1")?;
    env.build_ok("cache", &["--build-arg", "BUST=2"])?;
    // The second run saw the first run's line in the cache mount.
    expect_file(env, "cache", "/count.txt", "2")?;
    let ls = env.run_in("cache", &["/bin/sh", "-c", "ls -A /cache 2>/dev/null | wc -l"])?;
    expect_eq("entries under /cache in the image", ls.trim(), "0")
}

fn case_secret(env: &Env) -> Result<()> {
    let secret = env.work.join("secret-tok.txt");
    fs::write(&secret, "s3cret-token")?;
    let spec = format!("id=tok,src={}", secret.display());
    env.build_ok("secret", &["--secret", &spec])?;
    expect_file(env, "secret", "/secret-upper.txt", "S3CRET-TOKEN")?;
    let gone = env.run_in("secret", &["/bin/sh", "-c", "test -e /run/secrets/tok && echo present || echo absent"])?;
    expect_eq("the secret in the image", gone.trim_end(), "absent")
}

fn case_mounts(env: &Env) -> Result<()> {
    env.build_ok("mounts", &[])?;
    expect_file(env, "mounts", "/result/copied.txt", "bound-input")?;
    expect_file(env, "mounts", "/result/bind-mode.txt", "ro")?;
    expect_file(env, "mounts", "/result/tmpfs.txt", "tmpfs-yes")?;
    let scratch = env.run_in("mounts", &["/bin/sh", "-c", "test -e /scratch/t && echo present || echo absent"])?;
    expect_eq("tmpfs content in the image", scratch.trim_end(), "absent")
}

fn case_config(env: &Env) -> Result<()> {
    env.build_ok("config", &[])?;
    let v = env.inspect("config")?;
    let c = &v["Config"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    ensure!(strings(&c["Entrypoint"]) == ["/bin/echo", "ep"], "Entrypoint: {}", c["Entrypoint"]);
    ensure!(strings(&c["Cmd"]) == ["hello"], "Cmd: {}", c["Cmd"]);
    let envs = strings(&c["Env"]);
    for want in ["BASE_MARKER=busybox", "APP_MODE=prod", "FROM_STATE=yes"] {
        ensure!(envs.iter().any(|e| e == want), "Env lacks {want}: {envs:?}");
    }
    ensure!(envs.iter().any(|e| e.starts_with("PATH=")), "Env lacks PATH: {envs:?}");
    expect_eq("WorkingDir", c["WorkingDir"].as_str().unwrap_or(""), "/srv")?;
    expect_eq("User", c["User"].as_str().unwrap_or(""), "app")?;
    ensure!(c["ExposedPorts"].get("8080/tcp").is_some(), "ExposedPorts: {}", c["ExposedPorts"]);
    expect_eq("label", c["Labels"]["org.example.e2e"].as_str().unwrap_or(""), "config")?;
    // And the config works: the entrypoint runs with the cmd, as user app.
    let out = env.d.docker_output(&["run", "--rm", &Env::image("config")])?;
    expect_eq("docker run output", out.trim_end(), "ep hello")?;
    let who =
        env.d.docker_output(&["run", "--rm", "--entrypoint", "/bin/sh", &Env::image("config"), "-c", "id -un; pwd"])?;
    expect_eq("user and workdir at run time", who.trim_end(), "app\n/srv")
}

fn case_buildargs(env: &Env) -> Result<()> {
    env.build_ok("buildargs", &["--build-arg", "GREETING=hi-from-cli"])?;
    expect_file(env, "buildargs", "/args.txt", "hi-from-cli\nother-default\nlinux/amd64")
}

fn case_modules(env: &Env) -> Result<()> {
    env.build_ok("modules", &[])?;
    expect_file(env, "modules", "/module.txt", "from-module")
}

fn case_failing(env: &Env) -> Result<()> {
    env.build_fails_with("failing", &["build.lua:4", "exit code: 3"])
}

fn case_script_error(env: &Env) -> Result<()> {
    env.build_fails_with("script-error", &["build.lua:3", "unknown option 'cdw'"])
}

fn case_merge(env: &Env) -> Result<()> {
    env.build_fails_with("merge", &["build.lua:4", "mergeop", "v0.10"])
}

fn case_diff(env: &Env) -> Result<()> {
    env.build_fails_with("diff", &["build.lua:4", "diffop", "v0.10"])
}

/// The README's frontend example, exactly as written there: it builds, and
/// the image runs its `cmd` as Docker would.
fn case_readme(env: &Env) -> Result<()> {
    let readme = fs::read_to_string(crate::root().join("README.md")).context("reading README.md")?;
    let script = fs::read_to_string(env.fixtures.join("readme/build.lua"))?;
    ensure!(
        readme.contains(&format!("```lua\n{script}```")),
        "fixtures/e2e/readme/build.lua is not the README's frontend example any more"
    );
    env.build_ok("readme", &[])?;
    let out = env.d.docker_output(&["run", "--rm", &Env::image("readme")])?;
    expect_eq("docker run output", out.trim_end(), "hello")
}

/// Runs `luakit <args…>` from the case's fixture directory and requires success.
fn luakit_ok(env: &Env, case: &str, args: &[&str]) -> Result<String> {
    let mut child = Command::new(&env.luakit)
        .current_dir(env.fixtures.join(case))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", env.luakit.display()))?;
    let t0 = Instant::now();
    while child.try_wait()?.is_none() {
        if t0.elapsed() > BUILD_TIMEOUT {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "`luakit {}` failed ({}):\n{}\n--- daemon log:\n{}",
            args.join(" "),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 60),
            env.d.log_tail(30)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The buildctl path without buildctl: `luakit build --image-config -o`, then
/// `luakit solve` on the daemon's Control API with Docker's image exporter and
/// the config as `containerimage.config` — the image has the files and the
/// config, as with `buildctl build --output type=image,…`.
fn case_buildctl_path(env: &Env) -> Result<()> {
    // `luakit build` output solved through BuildKit's Control API (the API
    // buildctl uses), not through the frontend. Docker's exporter takes no
    // image config from a Control-API solve, so this case checks the
    // filesystem; the config path is the `config` case (frontend).
    let case = "buildctl-path";
    let script = fs::read_to_string(env.fixtures.join(case).join("build.lua"))?;
    ensure!(!script.starts_with("# syntax="), "the {case} script must not name a frontend");
    let def = env.work.join("buildctl-path.pb");
    let def_s = def.to_string_lossy().into_owned();
    let _ = fs::remove_file(&def);
    luakit_ok(env, case, &["build", "build.lua", "-o", &def_s])?;
    let image = Env::image(case);
    let socket = env.d.socket().to_string_lossy().into_owned();
    let digest = luakit_ok(env, case, &["solve", &def_s, "--docker-socket", &socket, "--tag", &image])?;
    let digest = digest.trim();
    ensure!(digest.starts_with("sha256:"), "luakit solve printed no image digest: {digest:?}");
    let v = env.inspect(case)?;
    ensure!(v["Id"].as_str() == Some(digest), "image id {} is not the digest luakit solve printed ({digest})", v["Id"]);

    // The files: from mkfile (with its mode) and from the other stage's run.
    expect_file(env, case, "/srv/hello.txt", "hello-mkfile")?;
    expect_file(env, case, "/srv/artifact.txt", "built-by-run")?;
    let mode = env.run_in(case, &["/bin/stat", "-c", "%a", "/srv/hello.txt"])?;
    expect_eq("mode of /srv/hello.txt", mode.trim_end(), "640")
}

/// The registry with htpasswd auth: anonymous `docker pull` is refused,
/// `docker login` (credentials in the daemon's private `DOCKER_CONFIG`) makes
/// it work, and the pulled image runs.
fn case_registry_auth(env: &Env) -> Result<()> {
    let reg = env.auth_registry;
    let (user, pass) = reg.auth().context("the auth registry has no credentials")?;
    let image = format!("{}/{}", reg.addr(), super::images::PRIVATE);
    let anon = env.d.docker().args(["pull", &image]).stdin(Stdio::null()).output()?;
    ensure!(!anon.status.success(), "an anonymous pull of {image} worked: the registry does not require auth");
    let msg = String::from_utf8_lossy(&anon.stderr);
    ensure!(
        msg.contains("no basic auth credentials") || msg.contains("unauthorized"),
        "the anonymous pull failed, but not for want of credentials: {msg}"
    );
    let mut login = env
        .d
        .docker()
        .args(["login", "--username", user, "--password-stdin", reg.addr()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = login.stdin.take().context("no stdin")?;
        stdin.write_all(pass.as_bytes())?;
    }
    let out = login.wait_with_output()?;
    super::util::check_output("docker login", &out)?;
    let pulled = env.d.docker_output(&["pull", &image]);
    let _ = env.d.docker_output(&["logout", reg.addr()]);
    pulled.context("pulling after docker login")?;
    let out = env.d.docker_output(&["run", "--rm", &image, "grep", "^app:", "/etc/passwd"])?;
    expect_eq("user app in the pulled image", out.trim_end(), "app:x:1000:1000:app:/home/app:/bin/sh")
}

/// Named targets through `docker build --target` (the default is the last
/// export) and the context's `.dockerignore`.
fn case_targets(env: &Env) -> Result<()> {
    env.build_ok("targets", &["--target", "api"])?;
    expect_file(env, "targets", "/which.txt", "api")?;
    expect_file(env, "targets", "/ctx/keep.txt", "kept")?;
    expect_file(env, "targets", "/ctx/logs/keep.log", "kept")?;
    let gone = env.run_in(
        "targets",
        &["/bin/sh", "-c", "for f in /ctx/secret.txt /ctx/logs/a.log; do test -e $f && echo $f; done; true"],
    )?;
    expect_eq("ignored files in the image", gone.trim_end(), "")?;
    env.build_ok("targets", &[])?;
    expect_file(env, "targets", "/which.txt", "web")
}

/// Several platforms on Docker 20.10, whose exporter stores one image:
/// refused before anything is built. The daemon itself checks `docker build
/// --platform` as one platform and names the list; the frontend's own
/// refusal (for clients that pass the list through) is covered by the
/// frontend's tests against a gateway reporting product `docker`.
fn case_multi_index(env: &Env) -> Result<()> {
    let b = env.build("multi-index", &["--platform", "linux/amd64,linux/arm64"])?;
    ensure!(!b.ok, "docker build --platform a,b succeeded but must fail\n{}", b.describe());
    let ours = b.output.contains("building for several platforms (linux/amd64, linux/arm64)");
    let dockers = b.output.contains("\"linux/amd64,linux/arm64\"") && b.output.contains("invalid");
    ensure!(ours || dockers, "the refusal does not name the platforms\n{}", b.describe());
    Ok(())
}

/// A client session (locals, patterns, `.dockerignore`, a secret) through
/// the Control API at `POST /grpc`: [`super::session`].
fn case_session(e: &Env) -> Result<()> {
    let work = e.work.join("session");
    util::remove_tree(&work)?;
    fs::create_dir_all(&work)?;
    super::session::run(super::session::Engine::Dockerd(e.d.socket()), &e.luakit, &e.fixtures, &work)
}
