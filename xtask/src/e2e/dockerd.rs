//! The first engine: a private, throw-away Docker daemon (Debian's
//! `docker.io`, dockerd 20.10 with BuildKit v0.8 built in).
//!
//! [`Dockerd::start`] starts a `dockerd` whose data root, exec root, pidfile,
//! log and unix socket all live under a work directory; it never touches
//! `/var/lib/docker`, `/var/run/docker.sock` or a system containerd, runs in
//! its own process group (a terminal's Ctrl-C reaches the suite, which stops
//! it in order) and is stopped again when the [`Dockerd`] value is dropped or
//! the suite is interrupted. Base images come from `images::import_base_images`.
//!
//! Facts found on this machine kind (Debian 12, root, cgroup v1, ext4):
//! - `dockerd` is `/usr/sbin/dockerd` (not /usr/bin). Always use
//!   `/usr/bin/docker` (the Debian 20.10 client): a newer docker client may sit
//!   earlier on PATH (/usr/local/bin/docker, v28) and is not what we test with.
//! - `--iptables=false` is enough; keep the default bridge (`--bridge=none`
//!   breaks `RUN` steps). The `iptables` package still comes in as a hard
//!   dependency of docker.io but is never used.
//! - The daemon answers `docker version` about 0.2 s after spawn; installing
//!   the packages takes about 10 s.
//! - A gateway frontend image imported with
//!   `docker import --change 'ENTRYPOINT ["/bin/x"]'` (or `docker load`ed) is
//!   used by a `# syntax=<name>` first line (or `--build-arg
//!   BUILDKIT_SYNTAX=<name>`, which wins over the file's line) straight from
//!   the local image store: no pull is attempted. The frontend's stderr is NOT
//!   shown in the build output of this BuildKit version: it goes to the
//!   dockerd log, see [`Dockerd::log_tail`].
//! - The imported images contain no libc: a frontend binary put into such an
//!   image must be static or bring its libraries (`luakit frontend-image`
//!   does).
//! - 127.0.0.0/8 registries are insecure (plain HTTP) by default, so
//!   `docker login`/`docker pull 127.0.0.1:PORT/…` work with the local
//!   registries without any daemon option.
//!
//! Environment knobs:
//! - `LUAKIT_E2E_STORAGE_DRIVER`: passed as `--storage-driver` (default: let
//!   dockerd pick; overlay2 works on ext4, use `vfs` on odd filesystems).
//! - `LUAKIT_E2E_KEEP_DATA=1`: keep the data root after the daemon stops.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::util::{self, check_output, process_matches, read_pid, remove_tree, terminate};

/// The Debian docker daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// The Debian docker client (20.10); never the one found on PATH.
pub const DOCKER: &str = "/usr/bin/docker";
/// How long [`Dockerd::start`] waits for the daemon to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Drop`] waits after SIGTERM before sending SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A private dockerd, stopped (and its state removed) on drop.
pub struct Dockerd {
    child: Option<Child>,
    pid: u32,
    /// Directory holding the socket, exec root and pidfile (short path).
    run_dir: PathBuf,
    socket: PathBuf,
    exec_root: PathBuf,
    pidfile: PathBuf,
    data_root: PathBuf,
    docker_config: PathBuf,
    log: PathBuf,
    interrupt_id: u64,
}

impl Dockerd {
    /// Starts dockerd with everything under `work_dir` (created if needed):
    /// `dockerd/data` (data root), `dockerd/run/{docker.sock,exec,dockerd.pid}`
    /// and `dockerd/dockerd.log`. When `work_dir` is so deep that unix socket
    /// paths would pass the 108-byte limit, the `run` part goes to
    /// `/tmp/luakit-e2e-<hash>` instead. A daemon left running by an earlier,
    /// killed run (found through our pidfiles) is stopped first, and stale
    /// sockets, mounts and state are removed. Waits until
    /// `/usr/bin/docker version` answers (at most [`START_TIMEOUT`]).
    pub fn start(work_dir: &Path) -> Result<Dockerd> {
        fs::create_dir_all(work_dir).with_context(|| format!("cannot create {}", work_dir.display()))?;
        let work_dir = fs::canonicalize(work_dir)?;
        let base = work_dir.join("dockerd");
        // containerd's socket is <exec-root>/containerd/containerd.sock.ttrpc
        // and sun_path holds 107 bytes: leave room.
        let run_dir = util::socket_dir(&base.join("run"), "dockerd");
        let d = Dockerd {
            child: None,
            pid: 0,
            socket: run_dir.join("docker.sock"),
            exec_root: run_dir.join("exec"),
            pidfile: run_dir.join("dockerd.pid"),
            run_dir,
            data_root: base.join("data"),
            docker_config: base.join("docker-config"),
            log: base.join("dockerd.log"),
            interrupt_id: 0,
        };
        d.cleanup_stale()?;
        for dir in [&d.run_dir, &d.exec_root, &d.data_root, &d.docker_config] {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let log = fs::File::create(&d.log).with_context(|| format!("cannot create {}", d.log.display()))?;
        let log2 = log.try_clone()?;

        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--iptables=false")
            .arg("--data-root")
            .arg(&d.data_root)
            .arg("--exec-root")
            .arg(&d.exec_root)
            .arg("--pidfile")
            .arg(&d.pidfile)
            .arg("-H")
            .arg(format!("unix://{}", d.socket.display()));
        if let Ok(driver) = std::env::var("LUAKIT_E2E_STORAGE_DRIVER")
            && !driver.is_empty()
        {
            cmd.arg("--storage-driver").arg(driver);
        }
        // dockerd finds containerd, runc, docker-init and docker-proxy on PATH:
        // make sure it is Debian's.
        cmd.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0);
        let t0 = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot start {DOCKERD}"))?;
        let mut d = d;
        d.pid = child.id();
        d.child = Some(child);
        let (pid, exec_root) = (d.pid, d.exec_root.clone());
        d.interrupt_id = util::on_interrupt("dockerd", move || {
            terminate(pid, Duration::from_secs(10));
            kill_trees_mentioning(&exec_root);
            let _ = remove_tree(&exec_root);
        });

        loop {
            if let Some(child) = d.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                d.child = None;
                bail!(
                    "dockerd exited during startup ({status}); last lines of {}:\n{}",
                    d.log.display(),
                    d.log_tail(40)
                );
            }
            let ok = d
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            if t0.elapsed() > START_TIMEOUT {
                let tail = d.log_tail(40);
                // d is dropped here, which stops the daemon.
                bail!(
                    "dockerd did not answer on {} within {}s; last lines of {}:\n{}",
                    d.socket.display(),
                    START_TIMEOUT.as_secs(),
                    d.log.display(),
                    tail
                );
            }
            sleep(Duration::from_millis(100));
        }
        eprintln!(
            "e2e: dockerd (pid {}) ready on {} after {:.1}s",
            d.pid,
            d.socket.display(),
            t0.elapsed().as_secs_f64()
        );
        Ok(d)
    }

    /// `/usr/bin/docker` preconfigured for this daemon: `DOCKER_HOST`,
    /// `DOCKER_BUILDKIT=1` and a private `DOCKER_CONFIG`; contexts and TLS
    /// settings of the caller's environment are removed.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_CONFIG", &self.docker_config)
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("BUILDKIT_PROGRESS");
        cmd
    }

    /// Runs `docker <args>` and returns its stdout; fails with its stderr.
    pub fn docker_output(&self, args: &[&str]) -> Result<String> {
        let out = self.docker().args(args).stdin(Stdio::null()).output()?;
        check_output(&format!("docker {}", args.join(" ")), &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `unix:///…/docker.sock`, the value to use as `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Path of the daemon's unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Path of the daemon's log (stdout and stderr of dockerd, containerd and
    /// of gateway frontends run by BuildKit).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Last `n` lines of the daemon log, grpc chatter left out.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("module=grpc")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Current length of the log in bytes: pass it to [`Dockerd::log_since`]
    /// to get what a single build wrote (e.g. a frontend's stderr).
    pub fn log_len(&self) -> u64 {
        fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// Log text written after byte offset `offset`, grpc chatter left out.
    pub fn log_since(&self, offset: u64) -> String {
        util::file_since(&self.log, offset)
            .lines()
            .filter(|l| !l.contains("module=grpc"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops a daemon from an earlier run that was never dropped (its pid is
    /// in our pidfiles), then removes mounts and state it left behind.
    fn cleanup_stale(&self) -> Result<()> {
        if let Some(pid) = read_pid(&self.pidfile)
            && process_matches(pid, "dockerd")
        {
            eprintln!("e2e: stopping stale dockerd (pid {pid}) from an earlier run");
            terminate(pid, STOP_TIMEOUT);
        }
        let containerd_pid = self.exec_root.join("containerd").join("containerd.pid");
        if let Some(pid) = read_pid(&containerd_pid)
            && process_matches(pid, "containerd")
        {
            eprintln!("e2e: stopping stale containerd (pid {pid}) from an earlier run");
            terminate(pid, Duration::from_secs(10));
        }
        // Containers that were running when an earlier daemon died keep
        // running under orphaned containerd shims, whose command lines name
        // our exec root: kill them and everything below them.
        kill_trees_mentioning(&self.exec_root);
        let _ = fs::remove_file(&self.socket);
        let _ = fs::remove_file(&self.pidfile);
        remove_tree(&self.exec_root)?;
        remove_tree(&self.data_root)?;
        Ok(())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        util::forget_on_interrupt(self.interrupt_id);
        if let Some(mut child) = self.child.take() {
            // Containers a test left running would each delay the shutdown
            // by their 10s stop timeout: remove them first.
            if let Ok(ids) = self.docker_output(&["ps", "-aq"]) {
                let ids: Vec<&str> = ids.split_whitespace().collect();
                if !ids.is_empty() {
                    let _ = self
                        .docker()
                        .args(["rm", "-f"])
                        .args(&ids)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
            let _ = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status();
            let t0 = Instant::now();
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if t0.elapsed() < STOP_TIMEOUT => sleep(Duration::from_millis(100)),
                    _ => {
                        eprintln!("e2e: dockerd did not stop within {}s, killing it", STOP_TIMEOUT.as_secs());
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        // containerd normally exits with dockerd; make sure.
        let containerd_pid = self.exec_root.join("containerd").join("containerd.pid");
        if let Some(pid) = read_pid(&containerd_pid)
            && process_matches(pid, "containerd")
        {
            terminate(pid, Duration::from_secs(10));
        }
        kill_trees_mentioning(&self.exec_root);
        let _ = fs::remove_file(&self.socket);
        let _ = fs::remove_file(&self.pidfile);
        if let Err(e) = remove_tree(&self.exec_root) {
            eprintln!("e2e: {e:#}");
        }
        if std::env::var("LUAKIT_E2E_KEEP_DATA").map(|v| v == "1").unwrap_or(false) {
            eprintln!("e2e: keeping {}", self.data_root.display());
        } else if let Err(e) = remove_tree(&self.data_root) {
            eprintln!("e2e: {e:#}");
        }
        if self.run_dir.starts_with("/tmp") {
            let _ = fs::remove_dir(&self.run_dir);
        }
    }
}

/// SIGKILLs every live dockerd, containerd or containerd-shim whose command
/// line contains `path` (ours all name the exec root), and all their
/// descendants (container processes), children first.
fn kill_trees_mentioning(path: &Path) {
    let needle = path.to_string_lossy().into_owned();
    let roots: Vec<u32> = util::processes()
        .into_iter()
        .filter(|(_, _, cmdline)| {
            let argv0 = cmdline.split(' ').next().unwrap_or_default();
            let exe = Path::new(argv0).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            let daemonish = exe == "dockerd" || exe == "containerd" || exe.starts_with("containerd-shim");
            daemonish && cmdline.contains(&needle)
        })
        .map(|p| p.0)
        .collect();
    let order = util::with_descendants(&roots);
    if order.is_empty() {
        return;
    }
    eprintln!("e2e: killing {} leftover process(es) of a dockerd: {:?}", order.len(), order);
    util::kill_all(&order);
}
