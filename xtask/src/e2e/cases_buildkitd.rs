//! The cases on the second engine, a standalone buildkitd v0.11.6.
//!
//! Two routes:
//! - the frontend: `buildctl build --frontend gateway.v0 --opt
//!   source=<registry>/luakit/frontend:dev --local context=<fixture> --local
//!   dockerfile=<fixture>` ([`Ctx::frontend_build`]), the same fixtures as the
//!   dockerd cases; results exported with `--output type=local` (files) or
//!   `type=oci` (files and config, read with [`super::oci`]);
//! - the pipe: `luakit build x.lua [--image-config cfg.json] | buildctl build
//!   …` ([`Ctx::pipe_build`]), for scripts without a frontend.
//!
//! Where BuildKit v0.11 differs from dockerd's v0.8, the cases check the new
//! behaviour: merge and diff build (dockerd's refuses them), the image
//! exporter takes `containerimage.config` from the command line, and
//! results are pushed to and pulled from the local registries.
//!
//! Adding a case: a fixture directory under `fixtures/e2e/`, a
//! `fn case_x(c: &Ctx) -> Result<()>` and a line in [`cases`]
//! (`Case::exclusive` when it must not overlap other buildkitd cases).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::buildkitd::Buildkitd;
use super::oci::OciImage;
use super::registry::Registry;
use super::runner::Case;
use super::util::{self, tail};

/// How long one `buildctl build` may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// Every case, in the order they are queued.
pub fn cases<'a>() -> Vec<Case<Ctx<'a>>> {
    vec![
        Case::new("cache", case_cache),
        Case::new("readme-pipe", case_readme_pipe),
        Case::new("run", case_run),
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
        Case::new("config-base", case_config_base),
        Case::new("multi-platform", case_multi_platform),
        Case::new("multi-index", case_multi_index),
        Case::new("multi-index-3", case_multi_index_3),
        Case::new("targets", case_targets),
        Case::new("registry-auth", case_registry_auth),
        Case::new("registry-cache", case_registry_cache),
        Case::new("lock", super::cases_lock::case_lock),
        Case::new("lock-multi", super::cases_lock::case_lock_multi),
        Case::new("solve", super::cases_solve::buildkitd_solve),
        Case::new("solve-pb", super::cases_solve::buildkitd_solve_pb),
        Case::new("solve-failing", super::cases_solve::buildkitd_solve_failing),
        Case::new("solve-unreachable", super::cases_solve::buildkitd_solve_unreachable),
        Case::new("solve-interrupt", super::cases_solve::buildkitd_solve_interrupt),
        Case::new("solve-context", super::cases_solve::buildkitd_solve_context),
        Case::new("solve-ssh", super::cases_solve::buildkitd_solve_ssh),
        Case::new("solve-tar", super::cases_solve_outputs::buildkitd_tar),
        Case::new("solve-oci", super::cases_solve_outputs::buildkitd_oci),
        Case::new("solve-docker", super::cases_solve_outputs::buildkitd_docker),
        Case::new("solve-local", super::cases_solve_outputs::buildkitd_local),
        Case::new("solve-load", super::cases_solve_outputs::buildkitd_load),
        Case::new("solve-no-cache", super::cases_solve_opts::buildkitd_no_cache),
        Case::new("solve-tls", super::cases_solve_opts::buildkitd_tls),
        Case::new("solve-cache", super::cases_solve_opts::buildkitd_cache),
        Case::new("solve-cache-local", super::cases_solve_opts::buildkitd_cache_local),
        Case::new("session", case_session),
        Case::exclusive("session-measure", case_session_measure),
        Case::new("session-auth", case_session_auth),
        Case::new("embed", case_embed),
        // `luakit convert` equivalence for the fixtures dockerd 20.10's
        // Dockerfile frontend cannot build (`convert_equiv::NOT_ON_DOCKERD`).
        Case::new("convert-heredocs", |c| super::convert_equiv::check_buildkitd(c, "heredocs")),
        Case::new("convert-mounts", |c| super::convert_equiv::check_buildkitd(c, "mounts")),
        // Fixtures and examples on the stand-in toolchain images that dockerd
        // compares too, on the newer engine as well.
        Case::new("convert-go-multistage", |c| super::convert_equiv::check_buildkitd(c, "go-multistage")),
        Case::new("convert-node-secret-files", |c| super::convert_equiv::check_buildkitd(c, "node-secret-files")),
        Case::new("convert-python-venv", |c| super::convert_equiv::check_buildkitd(c, "python-venv")),
        Case::new("convert-rust-cargo", |c| super::convert_equiv::check_buildkitd(c, "rust-cargo")),
        Case::new("convert-example-go", |c| super::convert_equiv::check_buildkitd(c, "example-go")),
        Case::new("convert-example-node", |c| super::convert_equiv::check_buildkitd(c, "example-node")),
        Case::new("convert-example-python", |c| super::convert_equiv::check_buildkitd(c, "example-python")),
    ]
}

/// The buildkitd cases that need the e2e Docker daemon as well (it is
/// started when one of them is selected).
pub const NEEDS_DOCKERD: &[&str] = &["solve-load"];

/// What the buildkitd cases share.
pub struct Ctx<'a> {
    pub bk: &'a Buildkitd,
    /// The plain registry (docker.io mirror, frontend image, pushes, cache).
    pub registry: &'a Registry,
    /// The registry that requires credentials.
    pub auth_registry: &'a Registry,
    /// The `luakit` binary under test.
    pub luakit: PathBuf,
    pub fixtures: PathBuf,
    /// A work directory of the buildkitd cases (`<work>/<case>/…`).
    pub work: PathBuf,
    /// The frontend image: `<registry>/luakit/frontend:dev`.
    pub frontend: String,
    /// The e2e Docker daemon, when it runs (see [`NEEDS_DOCKERD`]).
    pub dockerd: Option<&'a super::dockerd::Dockerd>,
}

/// A finished `buildctl build`.
pub struct Build {
    pub ok: bool,
    /// buildctl's output (progress and error).
    pub output: String,
    /// What buildkitd logged meanwhile.
    pub log: String,
}

impl Build {
    fn describe(&self) -> String {
        format!("buildctl output:\n{}\n--- buildkitd log:\n{}", tail(&self.output, 60), tail(&self.log, 30))
    }

    pub(super) fn ok(self) -> Result<Build> {
        if !self.ok {
            bail!("buildctl build failed\n{}", self.describe());
        }
        Ok(self)
    }

    fn fails_with(self, needles: &[&str]) -> Result<Build> {
        if self.ok {
            bail!("buildctl build succeeded but must fail\n{}", self.describe());
        }
        for n in needles {
            if !self.output.contains(n) {
                bail!("the build error does not mention {n:?}\n{}", self.describe());
            }
        }
        Ok(self)
    }
}

impl Ctx<'_> {
    /// A fresh directory `<work>/<name>`.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.work.join(name);
        util::remove_tree(&d)?;
        fs::create_dir_all(&d)?;
        Ok(d)
    }

    pub(super) fn run_buildctl(&self, mut cmd: Command, log_name: &str) -> Result<Build> {
        let offset = self.bk.log_len();
        cmd.stdin(Stdio::null());
        let (status, output) = util::run_logged(cmd, &self.work.join(format!("{log_name}.log")), BUILD_TIMEOUT)?;
        Ok(Build { ok: status.is_some_and(|s| s.success()), output, log: self.bk.log_since(offset) })
    }

    /// `buildctl build --frontend gateway.v0 --opt source=<frontend image>`
    /// of `fixtures/e2e/<fixture>/build.lua` (context and dockerfile locals:
    /// the fixture directory), with `extra` arguments (`--opt
    /// build-arg:X=y`, `--secret …`, `--output …`; none: no export).
    pub fn frontend_build(&self, fixture: &str, log_name: &str, extra: &[&str]) -> Result<Build> {
        self.frontend_build_with_config(fixture, log_name, extra, None)
    }

    /// [`Ctx::frontend_build`] with `DOCKER_CONFIG` set to `docker_config`
    /// (credentials) instead of the daemon's empty one.
    pub fn frontend_build_with_config(
        &self,
        fixture: &str,
        log_name: &str,
        extra: &[&str],
        docker_config: Option<&Path>,
    ) -> Result<Build> {
        let dir = self.fixtures.join(fixture);
        ensure!(dir.join("build.lua").exists(), "{} is missing", dir.join("build.lua").display());
        let mut cmd = self.bk.buildctl();
        cmd.args(["build", "--progress=plain", "--frontend", "gateway.v0"])
            .arg(format!("--opt=source={}", self.frontend))
            .arg("--opt=filename=build.lua")
            .arg(format!("--local=context={}", dir.display()))
            .arg(format!("--local=dockerfile={}", dir.display()))
            .args(extra);
        if let Some(cfg) = docker_config {
            cmd.env("DOCKER_CONFIG", cfg);
        }
        self.run_buildctl(cmd, log_name)
    }

    /// [`Ctx::frontend_build`] exporting the result's files to
    /// `<work>/<case>/out` (`--output type=local`); returns that directory.
    pub fn build_local(&self, case: &str, fixture: &str, extra: &[&str]) -> Result<PathBuf> {
        let out = self.dir(case)?.join("out");
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.push(format!("--output=type=local,dest={}", out.display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.frontend_build(fixture, case, &args)?.ok()?;
        Ok(out)
    }

    /// [`Ctx::frontend_build`] exporting an OCI image (`--output type=oci`),
    /// read and unpacked (`<work>/<case>/rootfs`).
    pub fn build_oci(&self, case: &str, fixture: &str, extra: &[&str]) -> Result<(OciImage, PathBuf)> {
        let dir = self.dir(case)?;
        let tar = dir.join("image.tar");
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.push(format!("--output=type=oci,dest={}", tar.display()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.frontend_build(fixture, case, &args)?.ok()?;
        let img = OciImage::open(&tar, &dir.join("layout"))?;
        let rootfs = dir.join("rootfs");
        img.unpack_rootfs(&rootfs)?;
        Ok((img, rootfs))
    }

    /// `luakit build <script> [luakit_args] | buildctl build [buildctl_args]`
    /// through a real pipe, run in the script's directory.
    pub fn pipe_build(
        &self,
        script: &Path,
        luakit_args: &[&str],
        buildctl_args: &[&str],
        log_name: &str,
        docker_config: Option<&Path>,
    ) -> Result<Build> {
        let dir = script.parent().context("script without a directory")?;
        let mut luakit = Command::new(&self.luakit)
            .current_dir(dir)
            .arg("build")
            .arg(script)
            .args(luakit_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.luakit.display()))?;
        let def = luakit.stdout.take().context("no stdout")?;
        let mut cmd = self.bk.buildctl();
        cmd.current_dir(dir).args(["build", "--progress=plain"]).args(buildctl_args);
        if let Some(cfg) = docker_config {
            cmd.env("DOCKER_CONFIG", cfg);
        }
        let offset = self.bk.log_len();
        let log = self.work.join(format!("{log_name}.log"));
        let f = fs::File::create(&log)?;
        let mut child = cmd
            .stdin(Stdio::from(def))
            .stdout(Stdio::from(f.try_clone()?))
            .stderr(Stdio::from(f))
            .spawn()
            .context("cannot run buildctl")?;
        let status = util::wait_timeout(&mut child, BUILD_TIMEOUT)?;
        let lk = luakit.wait_with_output()?;
        let mut output = fs::read_to_string(&log).unwrap_or_default();
        if !lk.status.success() {
            output = format!("luakit build failed ({}):\n{}\n{output}", lk.status, String::from_utf8_lossy(&lk.stderr));
        }
        Ok(Build {
            ok: lk.status.success() && status.is_some_and(|s| s.success()),
            output,
            log: self.bk.log_since(offset),
        })
    }

    /// A copy of `fixtures/e2e/<fixture>` in `<work>/<case>/src` (for routes
    /// that write files next to the script).
    fn fixture_copy(&self, case: &str, fixture: &str) -> Result<PathBuf> {
        let dest = self.dir(case)?.join("src");
        let o = Command::new("cp").arg("-a").arg(self.fixtures.join(fixture)).arg(&dest).output()?;
        util::check_output("cp -a", &o)?;
        Ok(dest)
    }
}

fn expect_eq(what: &str, got: &str, want: &str) -> Result<()> {
    ensure!(got == want, "{what}: expected {want:?}, got {got:?}");
    Ok(())
}

/// The content of `path` (absolute, in the image) under `root`, without
/// trailing newlines.
fn file(root: &Path, path: &str) -> Result<String> {
    let p = root.join(path.trim_start_matches('/'));
    let s = fs::read_to_string(&p).with_context(|| format!("reading {path} in the result"))?;
    Ok(s.trim_end().to_string())
}

pub(super) fn expect_file(root: &Path, path: &str, want: &str) -> Result<()> {
    expect_eq(path, &file(root, path)?, want)
}

fn expect_absent(root: &Path, path: &str) -> Result<()> {
    let p = root.join(path.trim_start_matches('/'));
    ensure!(p.symlink_metadata().is_err(), "{path} is in the result but must not be");
    Ok(())
}

fn mode(root: &Path, path: &str) -> Result<u32> {
    let p = root.join(path.trim_start_matches('/'));
    Ok(fs::symlink_metadata(&p).with_context(|| format!("stat {path}"))?.permissions().mode() & 0o7777)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The `buildctl --output` CSV field carrying `containerimage.config`, as
/// the README says to write it: the JSON in a quoted field, its quotes
/// doubled.
fn config_output_field(config_json: &str) -> String {
    format!("\"containerimage.config={}\"", config_json.replace('\n', "").replace('"', "\"\""))
}

// ------------------------------------------------------------------ cases

fn case_run(c: &Ctx) -> Result<()> {
    // OCI export: a local export does not keep owners, the image's layers do.
    let (_, out) = c.build_oci("run", "run", &[])?;
    expect_file(&out, "/out-shell.txt", "shell-ok")?;
    expect_file(&out, "/out-argv.txt", "argv-ok")?;
    expect_file(&out, "/out-env.txt", "hello-env")?;
    expect_file(&out, "/out-cwd.txt", "/work")?;
    expect_file(&out, "/home/app/whoami.txt", "app")?;
    let uid = fs::metadata(out.join("home/app/whoami.txt"))?.uid();
    ensure!(uid == 1000, "/home/app/whoami.txt is owned by uid {uid}, not app (1000)");
    Ok(())
}

fn case_fileops(c: &Ctx) -> Result<()> {
    // OCI export: the layers (with whiteouts) must give the same tree.
    let (_, root) = c.build_oci("fileops", "fileops", &[])?;
    expect_file(&root, "/data/sub/hello.txt", "hello-file")?;
    ensure!(mode(&root, "/data/sub")? == 0o750, "mode of /data/sub: {:o}", mode(&root, "/data/sub")?);
    ensure!(
        mode(&root, "/data/sub/hello.txt")? == 0o600,
        "mode of /data/sub/hello.txt: {:o}",
        mode(&root, "/data/sub/hello.txt")?
    );
    expect_absent(&root, "/data/gone.txt")?;
    expect_file(&root, "/data/ctx.txt", "from-context")?;
    expect_file(&root, "/data/artifact.txt", "from-builder")?;
    expect_file(&root, "/etc/hostname", "luakit-e2e")
}

fn case_symlink(c: &Ctx) -> Result<()> {
    // FileOp symlink needs BuildKit v0.17; v0.11.6 lacks it too, and the
    // frontend names the daemon's version.
    c.frontend_build("symlink", "symlink", &[])?.fails_with(&["build.lua:3", "file.symlink.create", "v0.17"])?;
    Ok(())
}

fn case_cache(c: &Ctx) -> Result<()> {
    let out = c.build_local("cache", "cache", &["--opt=build-arg:BUST=1"])?;
    expect_file(&out, "/count.txt", "1")?;
    let out = c.build_local("cache", "cache", &["--opt=build-arg:BUST=2"])?;
    // The second run saw the first run's line in the cache mount.
    expect_file(&out, "/count.txt", "2")?;
    let left = fs::read_dir(out.join("cache")).map(|d| d.count()).unwrap_or(0);
    ensure!(left == 0, "{left} entries under /cache in the result");
    Ok(())
}

fn case_secret(c: &Ctx) -> Result<()> {
    let dir = c.dir("secret-src")?;
    let secret = dir.join("tok.txt");
    fs::write(&secret, "s3cret-token")?;
    let spec = format!("--secret=id=tok,src={}", secret.display());
    let out = c.build_local("secret", "secret", &[&spec])?;
    expect_file(&out, "/secret-upper.txt", "S3CRET-TOKEN")?;
    expect_absent(&out, "/run/secrets/tok")
}

fn case_mounts(c: &Ctx) -> Result<()> {
    let out = c.build_local("mounts", "mounts", &[])?;
    expect_file(&out, "/result/copied.txt", "bound-input")?;
    expect_file(&out, "/result/bind-mode.txt", "ro")?;
    expect_file(&out, "/result/tmpfs.txt", "tmpfs-yes")?;
    expect_absent(&out, "/scratch/t")
}

fn case_config(c: &Ctx) -> Result<()> {
    let (img, _) = c.build_oci("config", "config", &[])?;
    let s = img.settings();
    ensure!(strings(&s["Entrypoint"]) == ["/bin/echo", "ep"], "Entrypoint: {}", s["Entrypoint"]);
    ensure!(strings(&s["Cmd"]) == ["hello"], "Cmd: {}", s["Cmd"]);
    let envs = strings(&s["Env"]);
    for want in ["BASE_MARKER=busybox", "APP_MODE=prod", "FROM_STATE=yes"] {
        ensure!(envs.iter().any(|e| e == want), "Env lacks {want}: {envs:?}");
    }
    ensure!(envs.iter().any(|e| e.starts_with("PATH=")), "Env lacks PATH: {envs:?}");
    expect_eq("WorkingDir", s["WorkingDir"].as_str().unwrap_or(""), "/srv")?;
    expect_eq("User", s["User"].as_str().unwrap_or(""), "app")?;
    ensure!(s["ExposedPorts"].get("8080/tcp").is_some(), "ExposedPorts: {}", s["ExposedPorts"]);
    expect_eq("label", s["Labels"]["org.example.e2e"].as_str().unwrap_or(""), "config")?;
    expect_eq("architecture", img.config["architecture"].as_str().unwrap_or(""), "amd64")?;
    expect_eq("os", img.config["os"].as_str().unwrap_or(""), "linux")
}

fn case_buildargs(c: &Ctx) -> Result<()> {
    let out = c.build_local("buildargs", "buildargs", &["--opt=build-arg:GREETING=hi-from-cli"])?;
    expect_file(&out, "/args.txt", "hi-from-cli\nother-default\nlinux/amd64")
}

fn case_modules(c: &Ctx) -> Result<()> {
    let out = c.build_local("modules", "modules", &[])?;
    expect_file(&out, "/module.txt", "from-module")
}

fn case_failing(c: &Ctx) -> Result<()> {
    c.frontend_build("failing", "failing", &[])?.fails_with(&["build.lua:4", "exit code: 3"])?;
    Ok(())
}

fn case_script_error(c: &Ctx) -> Result<()> {
    c.frontend_build("script-error", "script-error", &[])?.fails_with(&["build.lua:3", "unknown option 'cdw'"])?;
    Ok(())
}

/// Merge builds on v0.11 (dockerd's v0.8 refuses it): both inputs' files.
fn case_merge(c: &Ctx) -> Result<()> {
    let (img, root) = c.build_oci("merge", "merge", &[])?;
    expect_file(&root, "/a.txt", "a")?;
    expect_file(&root, "/b.txt", "b")?;
    ensure!(root.join("bin/busybox").is_file(), "the merge lost the base image's files");
    // Merge keeps the inputs' layers: the base's, /a.txt's and /b.txt's.
    let n = img.manifest["layers"].as_array().map(Vec::len).unwrap_or(0);
    ensure!(n >= 2, "a merge of two inputs gave {n} layer(s)");
    Ok(())
}

/// Diff builds on v0.11: only what the run added, none of the base.
fn case_diff(c: &Ctx) -> Result<()> {
    let (img, root) = c.build_oci("diff", "diff", &[])?;
    expect_file(&root, "/changed.txt", "changed")?;
    expect_absent(&root, "/bin/busybox")?;
    expect_absent(&root, "/etc/passwd")?;
    let n = img.manifest["layers"].as_array().map(Vec::len).unwrap_or(0);
    ensure!(n == 1, "the diff gave {n} layers (expected 1)");
    Ok(())
}

/// The README's frontend example (the same fixture as dockerd's `readme`).
fn case_readme(c: &Ctx) -> Result<()> {
    let (img, root) = c.build_oci("readme", "readme", &[])?;
    expect_file(&root, "/hello", "hello")?;
    ensure!(strings(&img.settings()["Cmd"]) == ["cat", "/hello"], "Cmd: {}", img.settings()["Cmd"]);
    Ok(())
}

/// The plain pipe: `luakit build --image-config cfg.json | buildctl build
/// --output type=oci,"containerimage.config=…"`: files, mode and config.
fn case_buildctl_path(c: &Ctx) -> Result<()> {
    let case = "buildctl-path";
    let dir = c.dir(case)?;
    let cfg = dir.join("config.json");
    let tar = dir.join("image.tar");
    let script = c.fixtures.join(case).join("build.lua");
    // The config first (the shell expands `$(… config.json)` before the
    // pipeline runs), then the pipe.
    let mut lk = Command::new(&c.luakit);
    lk.arg("build").arg(&script).arg("--image-config").arg(&cfg).arg("-o").arg(dir.join("build.pb"));
    util::output_of(lk)?;
    let config = fs::read_to_string(&cfg).context("luakit build wrote no --image-config file")?;
    let out = format!("type=oci,dest={},{}", tar.display(), config_output_field(&config));
    c.pipe_build(&script, &[], &["--output", &out], case, None)?.ok()?;
    let img = OciImage::open(&tar, &dir.join("layout"))?;
    let root = dir.join("rootfs");
    img.unpack_rootfs(&root)?;
    expect_file(&root, "/srv/hello.txt", "hello-mkfile")?;
    expect_file(&root, "/srv/artifact.txt", "built-by-run")?;
    ensure!(mode(&root, "/srv/hello.txt")? == 0o640, "mode of /srv/hello.txt: {:o}", mode(&root, "/srv/hello.txt")?);
    let cmd = strings(&img.settings()["Cmd"]);
    ensure!(cmd == ["/bin/cat", "/srv/hello.txt"], "Cmd from containerimage.config: {cmd:?}");
    Ok(())
}

/// The README's "Piping to buildctl" commands, run as written (only the
/// image name changed to the local registry, with `push=true`): the JSON
/// config with quotes and commas survives buildctl's CSV parsing. Then the
/// pushed image is read back from the registry (manifest, config) and used
/// as a base by the frontend, whose run sees its env, user and workdir.
fn case_readme_pipe(c: &Ctx) -> Result<()> {
    let case = "readme-pipe";
    let readme = fs::read_to_string(crate::root().join("README.md")).context("reading README.md")?;
    let snippet = readme
        .split("```sh\n")
        .filter_map(|s| s.split("\n```").next())
        .find(|s| s.contains("containerimage.config") && s.contains("--image-config"))
        .context("README.md has no ```sh block with `--image-config` and `containerimage.config` any more")?;
    let image = format!("{}/luakit-e2e/readme-pipe:1", c.registry.addr());
    ensure!(snippet.contains("example.com/app:latest"), "the README snippet no longer names example.com/app:latest");
    let script = snippet.replace("example.com/app:latest", &format!("{image},push=true"));
    let src = c.fixture_copy(case, "pipe")?;
    let bin = c.dir(&format!("{case}-bin"))?;
    std::os::unix::fs::symlink(&c.luakit, bin.join("luakit"))?;
    std::os::unix::fs::symlink(c.bk.buildctl_path(), bin.join("buildctl"))?;
    let mut sh = Command::new("sh");
    sh.current_dir(&src)
        .args(["-euc", &script])
        .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()))
        .env("BUILDKIT_HOST", c.bk.addr())
        .env("DOCKER_CONFIG", c.bk.docker_config());
    c.run_buildctl(sh, case)?.ok().context("running the README's buildctl commands")?;

    // Back from the registry.
    let (repo, tag) = ("luakit-e2e/readme-pipe", "1");
    let (manifest, config) = c.registry.client().image(repo, tag, "amd64")?;
    ensure!(manifest["layers"].as_array().is_some_and(|l| !l.is_empty()), "pushed manifest without layers");
    let s = &config["config"];
    let envs = strings(&s["Env"]);
    ensure!(envs.iter().any(|e| e == "GREETING=hello, \"quoted\" world"), "Env: {envs:?}");
    ensure!(
        strings(&s["Entrypoint"]) == ["/bin/sh", "-c", "echo \"$GREETING\" from $(pwd)"],
        "Entrypoint: {}",
        s["Entrypoint"]
    );
    expect_eq("User", s["User"].as_str().unwrap_or(""), "app")?;
    expect_eq("WorkingDir", s["WorkingDir"].as_str().unwrap_or(""), "/srv")?;
    expect_eq("label", s["Labels"]["org.example.e2e"].as_str().unwrap_or(""), "pipe, with \"comma\"")?;

    // And as a base for another build, through the frontend.
    let arg = format!("--opt=build-arg:IMAGE={image}");
    let out = c.build_local(&format!("{case}-pullback"), "pipe-pullback", &[&arg])?;
    expect_file(&out, "/tmp/greeting.txt", "hello, \"quoted\" world")?;
    expect_file(&out, "/tmp/who.txt", "app")?;
    expect_file(&out, "/tmp/pwd.txt", "/srv")?;
    expect_file(&out, "/tmp/hello.txt", "hello-pipe")
}

/// A base whose config sets Env, WorkingDir and User: a run on it sees
/// them, and the exported image inherits them.
fn case_config_base(c: &Ctx) -> Result<()> {
    let (img, root) = c.build_oci("config-base", "config-base", &[])?;
    expect_file(&root, "/tmp/greeting.txt", "hello-from-base")?;
    expect_file(&root, "/tmp/who.txt", "app")?;
    expect_file(&root, "/tmp/pwd.txt", "/home/app")?;
    let s = img.settings();
    expect_eq("User", s["User"].as_str().unwrap_or(""), "app")?;
    expect_eq("WorkingDir", s["WorkingDir"].as_str().unwrap_or(""), "/home/app")?;
    let envs = strings(&s["Env"]);
    ensure!(envs.iter().any(|e| e == "BASE_GREETING=hello-from-base"), "Env: {envs:?}");
    Ok(())
}

/// The multi-platform index: each platform's image is picked from it (the
/// arm64 one only copied from, the amd64 one run), through the pipe route.
fn case_multi_platform(c: &Ctx) -> Result<()> {
    let case = "multi-platform";
    let out = c.dir(case)?.join("out");
    let script = c.fixtures.join(case).join("build.lua");
    c.pipe_build(&script, &[], &[&format!("--output=type=local,dest={}", out.display())], case, None)?.ok()?;
    expect_file(&out, "/arm64.txt", "arm64")?;
    expect_file(&out, "/amd64.txt", "amd64")?;
    expect_file(&out, "/ran.txt", "amd64")
}

/// Builds `multi-index` through the frontend for `platforms` into an OCI
/// index and checks each platform's image: its files, its config and the
/// platform in the index.
fn check_multi_index(c: &Ctx, case: &str, platforms: &str) -> Result<()> {
    let dir = c.dir(case)?;
    let tar = dir.join("image.tar");
    let opt = format!("--opt=platform={platforms}");
    let output = format!("--output=type=oci,dest={}", tar.display());
    c.frontend_build("multi-index", case, &[&opt, &output])?.ok()?;
    let images = OciImage::open_index(&tar, &dir.join("layout"))?;
    let want: Vec<&str> = platforms.split(',').collect();
    let got: Vec<&str> = images.iter().map(|(p, _)| p.as_str()).collect();
    ensure!(got == want, "the index's platforms: expected {want:?}, got {got:?}");
    for (platform, img) in &images {
        let root = dir.join(format!("rootfs-{}", platform.replace('/', "-")));
        img.unpack_rootfs(&root)?;
        expect_file(&root, "/platform.txt", platform)?;
        let arch = platform.split('/').nth(1).unwrap_or("");
        let variant = platform.split('/').nth(2).unwrap_or("");
        expect_eq("config architecture", img.config["architecture"].as_str().unwrap_or(""), arch)?;
        expect_eq("config variant", img.config["variant"].as_str().unwrap_or(""), variant)?;
        let env = strings(&img.settings()["Env"]);
        ensure!(env.iter().any(|e| *e == format!("PLATFORM={platform}")), "{platform}: Env {env:?}");
        expect_eq("Cmd", &strings(&img.settings()["Cmd"]).join(" "), &format!("/{arch}"))?;
        match arch {
            "amd64" | "arm64" => expect_file(&root, "/marker.txt", arch)?,
            _ => expect_absent(&root, "/marker.txt")?,
        }
        if arch == "amd64" {
            expect_file(&root, "/ran.txt", "ran")?;
        } else {
            expect_absent(&root, "/ran.txt")?;
        }
    }
    Ok(())
}

/// Two platforms through the frontend: one OCI index, one image each.
fn case_multi_index(c: &Ctx) -> Result<()> {
    check_multi_index(c, "multi-index", "linux/amd64,linux/arm64")
}

/// Three platforms, one with a variant (no base image for it).
fn case_multi_index_3(c: &Ctx) -> Result<()> {
    check_multi_index(c, "multi-index-3", "linux/amd64,linux/arm64,linux/arm/v7")
}

/// Named targets (`--opt target=api`; the default is the last export) and
/// the context's `.dockerignore` (a file and a pattern kept out, a `!`
/// re-include kept in).
fn case_targets(c: &Ctx) -> Result<()> {
    let out = c.build_local("targets", "targets", &["--opt=target=api"])?;
    expect_file(&out, "/which.txt", "api")?;
    expect_file(&out, "/ctx/keep.txt", "kept")?;
    expect_file(&out, "/ctx/logs/keep.log", "kept")?;
    expect_absent(&out, "/ctx/secret.txt")?;
    expect_absent(&out, "/ctx/logs/a.log")?;
    let out = c.build_local("targets-default", "targets", &[])?;
    expect_file(&out, "/which.txt", "web")?;
    expect_absent(&out, "/ctx")?;
    c.frontend_build("targets", "targets-unknown", &["--opt=target=wbe"])?
        .fails_with(&["no target 'wbe'", "did you mean 'web'?"])?;
    Ok(())
}

/// The registry with htpasswd auth: pushing without credentials fails, with
/// a docker `config.json` (as `docker login` writes it) it works; the
/// frontend then pulls the pushed image as a base with the same credentials
/// and fails without them.
fn case_registry_auth(c: &Ctx) -> Result<()> {
    let case = "registry-auth";
    let reg = c.auth_registry;
    ensure!(super::registry::Client::new(reg.addr()).ping()? == 401, "the auth registry answers without credentials");
    ensure!(reg.client().ping()? == 200, "the auth registry refuses its credentials");
    ensure!(
        super::registry::Client::new(reg.addr()).with_basic_auth("luakit", "wrong").ping()? == 401,
        "the auth registry accepts a wrong password"
    );
    let creds = c.dir(&format!("{case}-docker-config"))?;
    reg.write_docker_config(&creds)?;
    let image = format!("{}/luakit-e2e/pushed:1", reg.addr());
    let script = c.fixtures.join(case).join("push.lua");
    let output = format!("--output=type=image,name={image},push=true");
    let anon = c.pipe_build(&script, &[], &[&output], &format!("{case}-anon"), None)?;
    anon.fails_with(&["failed to push", "401"])?;
    c.pipe_build(&script, &[], &[&output], case, Some(&creds))?.ok()?;
    reg.client().get_manifest("luakit-e2e/pushed", "1").context("the pushed image is not in the registry")?;

    // Pull it back as a base, through the frontend.
    let arg = format!("--opt=build-arg:IMAGE={image}");
    let out = c.dir(&format!("{case}-pull"))?.join("out");
    let dest = format!("--output=type=local,dest={}", out.display());
    c.frontend_build_with_config(case, &format!("{case}-pull-anon"), &[&arg, &dest], None)?
        .fails_with(&["cannot resolve", "401"])?;
    c.frontend_build_with_config(case, &format!("{case}-pull"), &[&arg, &dest], Some(&creds))?.ok()?;
    expect_file(&out, "/pushed.txt", "pushed")?;
    expect_file(&out, "/auth.txt", "pulled-with-auth")
}

/// Cache export to the registry (`--export-cache type=registry,mode=max`
/// on the pipe route): the cache manifest and every blob it names are in the
/// registry, and one of its layers holds the very `/rand.txt` the build
/// exported.
///
/// Not checked here: importing it. On v0.11 `buildctl build --import-cache`
/// is dropped without a frontend (moby/buildkit#5155, fixed in v0.15);
/// through a gateway build it works when the frontend passes the
/// `cache-imports` option on to its solves, as luakit's does (the case
/// `solve-cache` imports through `luakit solve`).
fn case_registry_cache(c: &Ctx) -> Result<()> {
    let case = "registry-cache";
    let dir = c.dir(case)?;
    let script = c.fixtures.join(case).join("build.lua");
    let (repo, tag) = ("luakit-e2e/cache", "rc");
    let cache_ref = format!("{}/{repo}:{tag}", c.registry.addr());
    let out = dir.join("out");
    c.pipe_build(
        &script,
        &[],
        &[
            &format!("--output=type=local,dest={}", out.display()),
            &format!("--export-cache=type=registry,ref={cache_ref},mode=max"),
        ],
        case,
        None,
    )?
    .ok()?;
    let value = file(&out, "/rand.txt")?;
    ensure!(value.len() == 32, "/rand.txt is not 16 random bytes in hex: {value:?}");

    let client = c.registry.client();
    let m = client.get_manifest(repo, tag).context("no cache manifest in the registry")?;
    let v = m.json()?;
    let mut descs: Vec<Value> = Vec::new();
    for key in ["manifests", "layers"] {
        descs.extend(v[key].as_array().cloned().unwrap_or_default());
    }
    if v["config"].is_object() {
        descs.push(v["config"].clone());
    }
    let cache_config = descs
        .iter()
        .find(|d| d["mediaType"] == "application/vnd.buildkit.cacheconfig.v0")
        .with_context(|| format!("the cache manifest has no BuildKit cache config: {v}"))?;
    let cfg: Value = serde_json::from_slice(&client.get_blob(repo, cache_config["digest"].as_str().unwrap_or(""))?)?;
    ensure!(cfg["records"].as_array().is_some_and(|r| !r.is_empty()), "the cache config has no records: {cfg}");
    let mut found = false;
    for d in descs.iter().filter(|d| d["mediaType"].as_str().is_some_and(|m| m.contains("tar"))) {
        let digest = d["digest"].as_str().context("layer without digest")?;
        let blob = dir.join(digest.replace(':', "-"));
        fs::write(&blob, client.get_blob(repo, digest)?)?;
        let list = util::output_of({
            let mut t = Command::new("tar");
            t.arg("-tf").arg(&blob);
            t
        })?;
        if let Some(name) = list.lines().find(|l| l.trim_start_matches("./") == "rand.txt") {
            let got = util::output_of({
                let mut t = Command::new("tar");
                t.arg("-xOf").arg(&blob).arg(name);
                t
            })?;
            expect_eq("/rand.txt in the exported cache", got.trim_end(), &value)?;
            found = true;
        }
    }
    ensure!(found, "no layer of the exported cache holds /rand.txt");
    Ok(())
}

/// A client session (locals, patterns, `.dockerignore`, a secret) through
/// the Control API: [`super::session`].
fn case_session(c: &Ctx) -> Result<()> {
    let work = c.dir("session")?;
    let socket = c.bk.addr().trim_start_matches("unix://").to_string();
    super::session::run(super::session::Engine::Buildkitd(Path::new(&socket)), &c.luakit, &c.fixtures, &work)
}

/// Registry credentials through the session's Auth service:
/// [`super::session::push_with_credentials`].
fn case_session_auth(c: &Ctx) -> Result<()> {
    let work = c.dir("session-auth")?;
    let socket = c.bk.addr().trim_start_matches("unix://").to_string();
    super::session::push_with_credentials(Path::new(&socket), &c.luakit, &work, c.auth_registry)
}

/// The transfer of a 200 MiB context of 10,000 files, and of one changed
/// file after it: [`super::session::measure`].
fn case_session_measure(c: &Ctx) -> Result<()> {
    let work = c.dir("session-measure")?;
    let socket = c.bk.addr().trim_start_matches("unix://").to_string();
    super::session::measure(super::session::Engine::Buildkitd(Path::new(&socket)), &c.luakit, &work)
}

/// The services file of the `embed` case: one service built in alpine and
/// shipped on busybox, both offline base images of the mirror.
const EMBED_SERVICES: &str = r#"[defaults]
platform = "linux/amd64"
context_id = "e2e-embed"

[[service]]
name = "hello"
builder = "alpine:3.19"
runtime = "busybox:latest"
source = "services/hello"
build = ["cat greeting.txt > /out/greeting.txt", "echo \"$E2E\" > /out/env.txt", "ls /var/cache/e2e > /dev/null"]
caches = ["/var/cache/e2e"]
env = { E2E = "from-the-env" }
mode = 0o640
owner = "1000:1000"
cmd = ["cat", "/app/greeting.txt"]
ports = [8080]
"#;

/// examples/embed end to end: the example tool writes the Definition and
/// image config of a service built with luakit's Rust API (no Lua), and
/// buildctl solves that Definition with the context, exporting an OCI image
/// carrying the generated config. The image has what the build step wrote
/// to its `/out` mount, with the mode and owner asked for.
fn case_embed(c: &Ctx) -> Result<()> {
    let case = "embed";
    let dir = c.dir(case)?;
    let context = dir.join("context");
    fs::create_dir_all(context.join("services/hello"))?;
    fs::write(context.join("services/hello/greeting.txt"), "hello from the context\n")?;
    let services = dir.join("services.toml");
    fs::write(&services, EMBED_SERVICES)?;
    let embed = c.luakit.with_file_name("embed");
    ensure!(embed.exists(), "{} is missing: `cargo test --workspace --no-run` builds it", embed.display());
    let out = dir.join("out");
    let o = Command::new(&embed).arg(&services).arg(&out).output()?;
    util::check_output("embed", &o)?;
    let config = fs::read_to_string(out.join("hello.json"))?;

    let tar = dir.join("image.tar");
    let mut cmd = c.bk.buildctl();
    cmd.args(["build", "--progress=plain"]).arg(format!("--local=context={}", context.display())).arg(format!(
        "--output=type=oci,dest={},{}",
        tar.display(),
        config_output_field(&config)
    ));
    let offset = c.bk.log_len();
    let log = c.work.join(format!("{case}.log"));
    let f = fs::File::create(&log)?;
    let mut child = cmd
        .stdin(Stdio::from(fs::File::open(out.join("hello.llb"))?))
        .stdout(Stdio::from(f.try_clone()?))
        .stderr(Stdio::from(f))
        .spawn()
        .context("cannot run buildctl")?;
    let status = util::wait_timeout(&mut child, BUILD_TIMEOUT)?;
    let build = Build {
        ok: status.is_some_and(|s| s.success()),
        output: fs::read_to_string(&log).unwrap_or_default(),
        log: c.bk.log_since(offset),
    };
    build.ok()?;

    let img = OciImage::open(&tar, &dir.join("layout"))?;
    let root = dir.join("rootfs");
    img.unpack_rootfs(&root)?;
    expect_file(&root, "/app/greeting.txt", "hello from the context")?;
    expect_file(&root, "/app/env.txt", "from-the-env")?;
    ensure!(
        mode(&root, "/app/greeting.txt")? == 0o640,
        "mode of /app/greeting.txt: {:o}",
        mode(&root, "/app/greeting.txt")?
    );
    let uid = fs::symlink_metadata(root.join("app/greeting.txt"))?.uid();
    ensure!(uid == 1000, "owner of /app/greeting.txt: {uid}");
    ensure!(root.join("bin/busybox").exists(), "the runtime image's own files are missing");
    let s = img.settings();
    ensure!(strings(&s["Cmd"]) == ["cat", "/app/greeting.txt"], "Cmd: {}", s["Cmd"]);
    ensure!(s["ExposedPorts"].get("8080/tcp").is_some(), "ExposedPorts: {}", s["ExposedPorts"]);
    ensure!(strings(&s["Env"]).iter().any(|e| e == "E2E=from-the-env"), "Env: {}", s["Env"]);
    expect_eq("title label", s["Labels"]["org.opencontainers.image.title"].as_str().unwrap_or(""), "hello")
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_output_field_is_one_csv_field() {
        // What the README's `tr -d '\n' | sed 's/"/""/g'` makes of it.
        assert_eq!(
            super::config_output_field("{\"Env\":[\"A=x, \\\"y\\\"\"]}\n"),
            r#""containerimage.config={""Env"":[""A=x, \""y\""""]}""#
        );
    }
}
