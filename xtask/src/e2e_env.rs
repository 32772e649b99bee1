//! End-to-end test environment: a private, throw-away Docker daemon with
//! BuildKit, plus locally made base images, for `cargo xtask e2e`.
//!
//! The machines this project runs on (developers' and CI) reach only package
//! registries: no image can ever be pulled. So this module
//!
//! 1. installs Debian's `docker.io` (dockerd 20.10.24, which has BuildKit
//!    v0.8.x built in) and `busybox-static` with apt when they are missing
//!    ([`ensure_packages`]);
//! 2. starts a private `dockerd` whose data root, exec root, pidfile, log and
//!    unix socket all live under a work directory ([`Dockerd::start`]); it
//!    never touches `/var/lib/docker`, `/var/run/docker.sock` or a system
//!    containerd, and is stopped again when the [`Dockerd`] value is dropped;
//! 3. builds a tiny root filesystem out of the static busybox binary and
//!    imports it as `alpine:3.19`, `busybox:latest` and `debian:bookworm-slim`
//!    ([`import_base_images`]), so that build scripts naming those images
//!    resolve from the local image store without any network.
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
//!   `docker import --change 'ENTRYPOINT ["/bin/x"]'` is used by a
//!   `# syntax=<name>` first line (or `--build-arg BUILDKIT_SYNTAX=<name>`,
//!   which wins over the file's line) straight from the local image store:
//!   no pull is attempted. The frontend's stderr is NOT shown in the build
//!   output of this BuildKit version: it goes to the dockerd log, see
//!   [`Dockerd::log_tail`].
//! - The imported images contain no libc: a frontend binary put into such an
//!   image must be static (e.g. `RUSTFLAGS='-C target-feature=+crt-static'
//!   cargo build --target x86_64-unknown-linux-gnu`, which gives a
//!   static-pie binary; no musl target is installed here).
//!
//! Environment knobs:
//! - `LUAKIT_E2E_STORAGE_DRIVER`: passed as `--storage-driver` (default: let
//!   dockerd pick; overlay2 works on ext4, use `vfs` on odd filesystems).
//! - `LUAKIT_E2E_KEEP_DATA=1`: keep the data root after the daemon stops.
//!
//! Only std and anyhow; every outside action goes through
//! `std::process::Command` (apt-get, dockerd, docker, kill, tar, umount).

#![allow(dead_code)]

use anyhow::{Context, Result, bail};
use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The Debian docker daemon.
pub const DOCKERD: &str = "/usr/sbin/dockerd";
/// The Debian docker client (20.10); never the one found on PATH.
pub const DOCKER: &str = "/usr/bin/docker";
/// The static busybox from Debian's `busybox-static`.
pub const BUSYBOX: &str = "/bin/busybox";
/// Debian packages the e2e environment needs.
/// Debian packages the tests need: dockerd + client, a static busybox for
/// base images, and graphviz (`dot`), which checks `luakit dag --format dot`.
pub const PACKAGES: &[&str] = &["docker.io", "busybox-static", "graphviz"];

/// Graphviz's `dot`.
pub const DOT: &str = "/usr/bin/dot";
/// Tags under which the busybox root filesystem is imported.
pub const BASE_IMAGE_TAGS: &[&str] = &["alpine:3.19", "busybox:latest", "debian:bookworm-slim"];
/// `PATH` baked into the base images (and used to run dockerd itself).
pub const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long [`Dockerd::start`] waits for the daemon to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Drop`] waits after SIGTERM before sending SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes sure dockerd, the docker client and a static busybox are installed,
/// installing them with apt-get when they are not.
pub fn ensure_packages() -> Result<()> {
    let busybox_ok = Path::new(BUSYBOX).exists() && is_static_elf(Path::new(BUSYBOX)).unwrap_or(false);
    if Path::new(DOCKERD).exists() && Path::new(DOCKER).exists() && Path::new(DOT).exists() && busybox_ok {
        return Ok(());
    }
    eprintln!(
        "e2e: installing {} with apt-get (dockerd at {DOCKERD}, client at {DOCKER}, static busybox at {BUSYBOX})",
        PACKAGES.join(" ")
    );
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run `apt-get {}` (is this a Debian machine?)", args.join(" ")))?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}); the e2e tests need the Debian packages {} \
                 (run as root, with the Debian package archive reachable)",
                args.join(" "),
                PACKAGES.join(", ")
            );
        }
        Ok(())
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend_from_slice(PACKAGES);
    apt(&args)?;
    for p in [DOCKERD, DOCKER, BUSYBOX, DOT] {
        if !Path::new(p).exists() {
            bail!("{p} is still missing after installing {}", PACKAGES.join(" "));
        }
    }
    if !is_static_elf(Path::new(BUSYBOX))? {
        bail!("{BUSYBOX} is not statically linked even after installing busybox-static");
    }
    Ok(())
}

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
        let mut run_dir = base.join("run");
        if run_dir.as_os_str().len() > 60 {
            let mut h = DefaultHasher::new();
            work_dir.hash(&mut h);
            run_dir = PathBuf::from(format!("/tmp/luakit-e2e-{:016x}", h.finish()));
        }
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
            .stderr(Stdio::from(log2));
        let t0 = Instant::now();
        let child = cmd.spawn().with_context(|| format!("cannot start {DOCKERD}"))?;
        let mut d = d;
        d.pid = child.id();
        d.child = Some(child);

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
        let mut buf = Vec::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_end(&mut buf);
        }
        let start = (offset as usize).min(buf.len());
        String::from_utf8_lossy(&buf[start..])
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
        if self.run_dir.to_string_lossy().starts_with("/tmp/luakit-e2e-") {
            let _ = fs::remove_dir(&self.run_dir);
        }
    }
}

/// Builds a busybox root filesystem under `work_dir/rootfs` (busybox, a
/// symlink per applet, `/etc/passwd` with `root` and `app` (uid/gid 1000),
/// `/etc/group`, `/tmp` (1777), `/root`, `/home/app`), packs it with `tar`
/// into `work_dir/rootfs.tar` and imports it as `alpine:3.19`,
/// `busybox:latest` and `debian:bookworm-slim`, each with
/// `ENV PATH=…`, `ENV BASE_MARKER=busybox`, `WORKDIR /` and `CMD ["/bin/sh"]`.
pub fn import_base_images(d: &Dockerd, work_dir: &Path) -> Result<()> {
    let tar = make_rootfs_tar(work_dir)?;
    let tar_s = tar.to_string_lossy().into_owned();
    let path_change = format!("ENV PATH={IMAGE_PATH}");
    let (first, rest) = BASE_IMAGE_TAGS.split_first().context("no base image tags")?;
    d.docker_output(&[
        "import",
        "--change",
        &path_change,
        "--change",
        "ENV BASE_MARKER=busybox",
        "--change",
        "WORKDIR /",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        &tar_s,
        first,
    ])
    .context("importing the busybox base image")?;
    for tag in rest {
        d.docker_output(&["tag", first, tag])?;
    }
    Ok(())
}

/// Imports `rootfs_tar` (made by [`make_rootfs_tar`] plus extra files, e.g. a
/// static frontend binary) as `tag` with `ENTRYPOINT [entrypoint]`, the way a
/// gateway frontend image for `# syntax=<tag>` is made without a registry.
pub fn import_frontend_image(d: &Dockerd, rootfs_tar: &Path, tag: &str, entrypoint: &str) -> Result<()> {
    let change = format!(r#"ENTRYPOINT ["{entrypoint}"]"#);
    let tar_s = rootfs_tar.to_string_lossy().into_owned();
    d.docker_output(&["import", "--change", &change, &tar_s, tag])
        .with_context(|| format!("importing frontend image {tag}"))?;
    Ok(())
}

/// Creates `work_dir/rootfs` (see [`import_base_images`]) and
/// `work_dir/rootfs.tar`; returns the tarball's path. `extra` files
/// (source on the host, absolute destination in the image, mode) are copied
/// in as well.
pub fn make_rootfs_tar_with(work_dir: &Path, name: &str, extra: &[(&Path, &str, u32)]) -> Result<PathBuf> {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let root = work_dir.join(name);
    remove_tree(&root)?;
    for dir in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "etc",
        "root",
        "home/app",
        "tmp",
        "var/tmp",
        "proc",
        "sys",
        "dev",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("var/tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000))?;

    if !is_static_elf(Path::new(BUSYBOX))? {
        bail!("{BUSYBOX} is not statically linked: install busybox-static (see ensure_packages)");
    }
    fs::copy(BUSYBOX, root.join("bin/busybox"))?;
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
    let list = Command::new(BUSYBOX).arg("--list-full").output()?;
    check_output("busybox --list-full", &list)?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let link = root.join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         app:x:1000:1000:app:/home/app:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")?;
    fs::write(root.join("etc/hostname"), "luakit-e2e\n")?;
    for (src, dest, mode) in extra {
        let dest = root.join(dest.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(src, &dest).with_context(|| format!("copying {} into the rootfs", src.display()))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(*mode))?;
    }

    let tar = work_dir.join(format!("{name}.tar"));
    let out = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-cf"])
        .arg(&tar)
        .arg(".")
        .output()
        .context("cannot run tar")?;
    check_output("tar", &out)?;
    Ok(tar)
}

/// [`make_rootfs_tar_with`] without extra files, named `rootfs`.
pub fn make_rootfs_tar(work_dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(work_dir)?;
    make_rootfs_tar_with(work_dir, "rootfs", &[])
}

// ---------------------------------------------------------------- helpers

fn check_output(what: &str, out: &Output) -> Result<()> {
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// True when the ELF file has no PT_INTERP program header (static or
/// static-pie). Only 64-bit little-endian ELF is understood.
fn is_static_elf(path: &Path) -> Result<bool> {
    let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" || data[4] != 2 || data[5] != 1 {
        bail!("{} is not a 64-bit little-endian ELF file", path.display());
    }
    let u16_at = |o: usize| u16::from_le_bytes([data[o], data[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into()?) as usize;
    let phentsize = u16_at(0x36);
    let phnum = u16_at(0x38);
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > data.len() {
            bail!("{}: truncated program headers", path.display());
        }
        let p_type = u32::from_le_bytes(data[o..o + 4].try_into()?);
        if p_type == 3 {
            return Ok(false); // PT_INTERP: dynamically linked
        }
    }
    Ok(true)
}

fn read_pid(pidfile: &Path) -> Option<u32> {
    fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// True when `pid` is alive and its command line's first word ends in `name`.
fn process_matches(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    Path::new(argv0.as_ref()).file_name().map(|f| f == name).unwrap_or(false)
}

/// SIGTERM, wait up to `timeout`, then SIGKILL (for a process that is not
/// our child, so it is polled through /proc).
fn terminate(pid: u32, timeout: Duration) {
    let pid_s = pid.to_string();
    let _ = Command::new("kill").args(["-TERM", &pid_s]).stderr(Stdio::null()).status();
    let t0 = Instant::now();
    while alive(pid) && t0.elapsed() < timeout {
        sleep(Duration::from_millis(100));
    }
    if alive(pid) {
        let _ = Command::new("kill").args(["-KILL", &pid_s]).stderr(Stdio::null()).status();
        let t0 = Instant::now();
        while alive(pid) && t0.elapsed() < Duration::from_secs(5) {
            sleep(Duration::from_millis(100));
        }
    }
}

/// SIGKILLs every live dockerd, containerd or containerd-shim whose command
/// line contains `path` (ours all name the exec root), and all their
/// descendants (container processes), children first.
fn kill_trees_mentioning(path: &Path) {
    let needle = path.to_string_lossy().into_owned();
    let me = std::process::id();
    let mut procs: Vec<(u32, u32, bool)> = Vec::new(); // (pid, ppid, mentions path)
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me || !alive(pid) {
            continue;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let argv0 = String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
        let exe = Path::new(&argv0).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let daemonish = exe == "dockerd" || exe == "containerd" || exe.starts_with("containerd-shim");
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        procs.push((pid, ppid, daemonish && cmdline.contains(&needle)));
    }
    // Breadth-first from the roots; kill in reverse order (leaves first).
    let mut order: Vec<u32> = procs.iter().filter(|p| p.2).map(|p| p.0).collect();
    let mut i = 0;
    while i < order.len() {
        let parent = order[i];
        for p in &procs {
            if p.1 == parent && !order.contains(&p.0) {
                order.push(p.0);
            }
        }
        i += 1;
    }
    if order.is_empty() {
        return;
    }
    eprintln!("e2e: killing {} leftover process(es) of an earlier dockerd: {:?}", order.len(), order);
    for pid in order.iter().rev() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
    }
    let t0 = Instant::now();
    while order.iter().any(|p| alive(*p)) && t0.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u32) -> bool {
    // A zombie still has /proc/<pid>; treat it as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()), Some("Z") | Some("X")),
        Err(_) => false,
    }
}

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn unescape_mountinfo(s: &str) -> String {
    // Octal escapes: \040 (space), \011 (tab), \012 (newline), \134 (backslash).
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts whatever is mounted below `dir`, then deletes it. Refuses to
/// delete while something is still mounted there.
fn remove_tree(dir: &Path) -> Result<()> {
    if dir.symlink_metadata().is_err() {
        return Ok(());
    }
    let dir = fs::canonicalize(dir)?;
    for m in mounts_under(&dir) {
        let _ = Command::new("umount").arg("-l").arg(&m).stderr(Stdio::null()).status();
    }
    let left = mounts_under(&dir);
    if !left.is_empty() {
        bail!(
            "not removing {}: still mounted below it: {}",
            dir.display(),
            left.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))
}
