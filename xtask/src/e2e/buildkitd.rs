//! The second engine: a standalone `buildkitd` v0.11.6 (test binaries the
//! machine provides beside the checkout, see [`install_binaries`]), run as root with
//! its own `--root`, socket and `buildkitd.toml`, the OCI worker on Debian's
//! `runc`, pulling `docker.io/…` through the local registry as a mirror.
//!
//! [`install_binaries`] unpacks `buildkitd`/`buildctl` into
//! `target/buildkit-bin` (they are never committed); [`Buildkitd::start`]
//! starts the daemon (own process group) and waits until `buildctl debug
//! workers` answers; dropping the value (or interrupting the suite) stops it,
//! kills what it left running and removes its state.
//!
//! Facts (BuildKit v0.11.6, Debian 12, root, cgroup v1, ext4):
//! - the overlayfs snapshotter works on ext4 (`LUAKIT_E2E_BK_SNAPSHOTTER=native`
//!   for filesystems where it does not); the daemon answers ~0.3 s after spawn;
//! - `--containerd-worker=false` is needed (no containerd socket);
//! - build containers are `runc run --root <root>/runc-<snapshotter>/executor …`
//!   children of buildkitd: killing processes that name our `--root` cleans
//!   up after a daemon that was SIGKILLed;
//! - the workers' `buildkitVersion` (in `buildctl debug workers --format
//!   '{{json .}}'`) says `v0.11.6`.
//!
//! Environment: `LUAKIT_E2E_BUILDKIT_DIR` (where `install` and the `.xz`
//! binaries are; by default the machine's `shared/buildkit` directory next to
//! the checkout, also tried one level up for git worktrees), `LUAKIT_E2E_BK_SNAPSHOTTER` (`overlayfs`),
//! `LUAKIT_E2E_BK_DEBUG=1` (`buildkitd --debug`), `LUAKIT_E2E_KEEP_DATA=1`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::util;

/// The BuildKit version the suite expects.
pub const VERSION: &str = "v0.11.6";
/// How long [`Buildkitd::start`] waits for the daemon.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds the shared BuildKit directory and unpacks `buildkitd` and
/// `buildctl` into `target_dir/buildkit-bin`; returns that directory.
pub fn install_binaries(repo_root: &Path, target_dir: &Path) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("LUAKIT_E2E_BUILDKIT_DIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => {
            let beside = |up: &Path| up.join("shared").join("buildkit");
            vec![beside(&repo_root.join("..")), beside(&repo_root.join("..").join(".."))]
        }
    };
    let Some(shared) = candidates.iter().find(|d| d.join("install").is_file()) else {
        bail!(
            "BuildKit {VERSION} binaries not found: looked for install in {} (the project's shared/buildkit, \
             beside the repository; set LUAKIT_E2E_BUILDKIT_DIR to its path). The e2e suite runs on two \
             engines and cannot run without the second.",
            candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" and ")
        );
    };
    let dest = target_dir.join("buildkit-bin");
    let out = Command::new("sh")
        .arg(shared.join("install"))
        .arg(&dest)
        .stdin(Stdio::null())
        .output()
        .context("cannot run the BuildKit install script")?;
    util::check_output(&format!("{}/install", shared.display()), &out)?;
    for b in ["buildkitd", "buildctl"] {
        ensure!(dest.join(b).is_file(), "{} was not unpacked", dest.join(b).display());
    }
    let v = util::output_of({
        let mut c = Command::new(dest.join("buildkitd"));
        c.arg("--version");
        c
    })?;
    ensure!(v.contains(VERSION), "{} is not BuildKit {VERSION}: {v}", dest.join("buildkitd").display());
    Ok(dest)
}

/// Registries besides `docker.io` whose pulls go to the mirror as well
/// (repository names without the host): the stand-in distroless image.
pub const MIRRORED_HOSTS: &[&str] = &["gcr.io"];

/// A registry the daemon talks plain HTTP to.
pub struct RegistryHost<'a> {
    pub addr: &'a str,
    /// Whether `docker.io` (and [`MIRRORED_HOSTS`]) pulls go to this
    /// registry first.
    pub docker_io_mirror: bool,
}

/// A running buildkitd, stopped (and its state removed) on drop.
pub struct Buildkitd {
    child: Option<Child>,
    pid: u32,
    bin_dir: PathBuf,
    root: PathBuf,
    run_dir: PathBuf,
    socket: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
    docker_config: PathBuf,
    version: String,
    snapshotter: String,
    interrupt_id: u64,
}

/// Kills buildkitd and runc processes whose command line names `root`, and
/// their descendants.
fn kill_trees_mentioning(root: &Path) {
    let needle = root.to_string_lossy().into_owned();
    let roots: Vec<u32> = util::processes()
        .into_iter()
        .filter(|(_, _, cmdline)| {
            let argv0 = cmdline.split(' ').next().unwrap_or_default();
            let exe = Path::new(argv0).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            (exe == "buildkitd" || exe == "runc") && cmdline.contains(&needle)
        })
        .map(|p| p.0)
        .collect();
    let order = util::with_descendants(&roots);
    if !order.is_empty() {
        eprintln!("e2e: killing {} leftover process(es) of a buildkitd: {:?}", order.len(), order);
        util::kill_all(&order);
    }
}

/// Stops the daemon `pid` (SIGTERM, then SIGKILL) with its containers.
fn stop(pid: u32, root: &Path) {
    let tree = util::with_descendants(&[pid]);
    util::terminate(pid, Duration::from_secs(15));
    // Build containers still running (e.g. a build in progress when the
    // daemon was killed).
    let left: Vec<u32> = tree.into_iter().filter(|p| util::alive(*p)).collect();
    if !left.is_empty() {
        util::kill_all(&left);
    }
    kill_trees_mentioning(root);
}

impl Buildkitd {
    /// Starts buildkitd from `bin_dir` with everything under
    /// `work_dir/buildkitd` (`root/`, `buildkitd.toml`, `buildkitd.log`,
    /// socket in `run/` or, for long paths, under /tmp), trusting plain
    /// HTTP to `registries`. A daemon of an earlier run that was never
    /// stopped is stopped first and its state removed.
    pub fn start(work_dir: &Path, bin_dir: &Path, registries: &[RegistryHost]) -> Result<Buildkitd> {
        Buildkitd::start_with(work_dir, bin_dir, registries, &[])
    }

    /// [`Buildkitd::start`] with `extra` arguments for buildkitd (e.g. a
    /// second `--addr tcp://…` with `--tlscacert/--tlscert/--tlskey`).
    pub fn start_with(
        work_dir: &Path,
        bin_dir: &Path,
        registries: &[RegistryHost],
        extra: &[String],
    ) -> Result<Buildkitd> {
        let base = fs::canonicalize(work_dir)?.join("buildkitd");
        let run_dir = util::socket_dir(&base.join("run"), "buildkitd");
        let snapshotter = std::env::var("LUAKIT_E2E_BK_SNAPSHOTTER")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "overlayfs".to_string());
        let mut d = Buildkitd {
            child: None,
            pid: 0,
            bin_dir: bin_dir.to_path_buf(),
            root: base.join("root"),
            socket: run_dir.join("buildkitd.sock"),
            pidfile: base.join("buildkitd.pid"),
            log: base.join("buildkitd.log"),
            docker_config: base.join("docker-config"),
            run_dir,
            version: String::new(),
            snapshotter,
            interrupt_id: 0,
        };
        if let Some(pid) = util::read_pid(&d.pidfile)
            && util::process_matches(pid, "buildkitd")
        {
            eprintln!("e2e: stopping stale buildkitd (pid {pid}) from an earlier run");
            stop(pid, &d.root);
        }
        kill_trees_mentioning(&d.root);
        util::remove_tree(&d.root)?;
        let _ = fs::remove_file(&d.socket);
        for dir in [&base, &d.run_dir, &d.docker_config] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // An empty docker config: buildctl must not use the caller's credentials.
        fs::write(d.docker_config.join("config.json"), "{}\n")?;

        let mut toml = String::from(
            "# Written by cargo xtask e2e.\n[worker.oci]\n  enabled = true\n[worker.containerd]\n  enabled = false\n",
        );
        let mirrors: Vec<String> =
            registries.iter().filter(|r| r.docker_io_mirror).map(|r| format!("\"{}\"", r.addr)).collect();
        if !mirrors.is_empty() {
            toml.push_str(&format!("[registry.\"docker.io\"]\n  mirrors = [{}]\n", mirrors.join(", ")));
            for host in MIRRORED_HOSTS {
                toml.push_str(&format!("[registry.\"{host}\"]\n  mirrors = [{}]\n", mirrors.join(", ")));
            }
        }
        for r in registries {
            toml.push_str(&format!("[registry.\"{}\"]\n  http = true\n  insecure = true\n", r.addr));
        }
        let config = base.join("buildkitd.toml");
        fs::write(&config, toml)?;

        let log = fs::File::create(&d.log).with_context(|| format!("cannot create {}", d.log.display()))?;
        let mut cmd = Command::new(bin_dir.join("buildkitd"));
        cmd.arg("--root")
            .arg(&d.root)
            .arg("--addr")
            .arg(format!("unix://{}", d.socket.display()))
            .arg("--config")
            .arg(&config)
            .arg(format!("--oci-worker-snapshotter={}", d.snapshotter))
            .arg("--containerd-worker=false")
            .args(extra);
        if std::env::var("LUAKIT_E2E_BK_DEBUG").is_ok_and(|v| v == "1") {
            cmd.arg("--debug");
        }
        // runc from Debian, found on this PATH.
        cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .process_group(0);
        let t0 = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot start {}", bin_dir.join("buildkitd").display()))?;
        d.pid = child.id();
        d.child = Some(child);
        fs::write(&d.pidfile, d.pid.to_string())?;
        let (pid, root) = (d.pid, d.root.clone());
        d.interrupt_id = util::on_interrupt("buildkitd", move || {
            stop(pid, &root);
            let _ = util::remove_tree(&root);
        });

        loop {
            if let Some(child) = d.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                d.child = None;
                bail!(
                    "buildkitd exited during startup ({status}); last lines of {}:\n{}",
                    d.log.display(),
                    util::file_tail(&d.log, 40)
                );
            }
            let out = d.buildctl().args(["debug", "workers", "--format", "{{json .}}"]).stdin(Stdio::null()).output();
            if let Ok(out) = out
                && out.status.success()
            {
                let v: serde_json::Value =
                    serde_json::from_slice(&out.stdout).context("parsing `buildctl debug workers` output")?;
                let w = v.get(0).context("buildkitd has no worker")?;
                d.version = w["buildkitVersion"]["version"].as_str().unwrap_or("unknown").to_string();
                ensure!(d.version == VERSION, "buildkitd reports BuildKit {} (expected {VERSION})", d.version);
                break;
            }
            if t0.elapsed() > START_TIMEOUT {
                bail!(
                    "buildkitd did not answer `buildctl debug workers` on {} within {}s; last lines of {}:\n{}",
                    d.socket.display(),
                    START_TIMEOUT.as_secs(),
                    d.log.display(),
                    util::file_tail(&d.log, 40)
                );
            }
            sleep(Duration::from_millis(100));
        }
        eprintln!(
            "e2e: buildkitd {} (pid {}, {} snapshotter) ready on {} after {:.1}s",
            d.version,
            d.pid,
            d.snapshotter,
            d.socket.display(),
            t0.elapsed().as_secs_f64()
        );
        Ok(d)
    }

    /// `buildctl --addr unix://…` for this daemon, with an empty private
    /// `DOCKER_CONFIG` (no credentials; set `DOCKER_CONFIG` on the command
    /// to use others) and `BUILDKIT_HOST` removed.
    pub fn buildctl(&self) -> Command {
        let mut c = Command::new(self.buildctl_path());
        c.arg("--addr")
            .arg(self.addr())
            .env("DOCKER_CONFIG", &self.docker_config)
            .env_remove("BUILDKIT_HOST")
            .env_remove("BUILDKIT_PROGRESS");
        c
    }

    /// The empty docker config directory [`Buildkitd::buildctl`] uses.
    pub fn docker_config(&self) -> &Path {
        &self.docker_config
    }

    pub fn buildctl_path(&self) -> PathBuf {
        self.bin_dir.join("buildctl")
    }

    /// `unix:///…/buildkitd.sock` (the value for `BUILDKIT_HOST`).
    pub fn addr(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The BuildKit version its worker reports (`v0.11.6`).
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    pub fn log_len(&self) -> u64 {
        fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    pub fn log_since(&self, offset: u64) -> String {
        util::file_since(&self.log, offset)
    }
}

impl Drop for Buildkitd {
    fn drop(&mut self) {
        util::forget_on_interrupt(self.interrupt_id);
        if let Some(mut child) = self.child.take() {
            stop(self.pid, &self.root);
            let _ = child.wait();
        }
        let _ = fs::remove_file(&self.pidfile);
        let _ = fs::remove_file(&self.socket);
        if std::env::var("LUAKIT_E2E_KEEP_DATA").is_ok_and(|v| v == "1") {
            eprintln!("e2e: keeping {}", self.root.display());
        } else if let Err(e) = util::remove_tree(&self.root) {
            eprintln!("e2e: {e:#}");
        }
        if self.run_dir.starts_with("/tmp") {
            let _ = fs::remove_dir(&self.run_dir);
        }
    }
}
