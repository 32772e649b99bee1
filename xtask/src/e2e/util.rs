//! Process, filesystem and hashing helpers shared by the e2e modules, and the
//! clean-up that runs when the suite is interrupted (SIGINT/SIGTERM/SIGHUP).
//!
//! Only std, anyhow, sha2 and signal-hook; every outside action goes through
//! `std::process::Command` (kill, tar, gzip, umount, …).

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Fails with the command's output when it did not succeed.
pub fn check_output(what: &str, out: &Output) -> Result<()> {
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

/// Runs `cmd` (stdin closed) and returns its stdout; fails with its output.
pub fn output_of(mut cmd: Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot run {shown}"))?;
    check_output(&shown, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` with stdout and stderr going to `log` (created), killing it
/// after `timeout`. Returns the exit status (`None` when it was killed) and
/// what it printed.
pub fn run_logged(mut cmd: Command, log: &Path, timeout: Duration) -> Result<(Option<ExitStatus>, String)> {
    let f = fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdout(Stdio::from(f.try_clone()?))
        .stderr(Stdio::from(f))
        .spawn()
        .with_context(|| format!("cannot run {shown}"))?;
    let status = wait_timeout(&mut child, timeout)?;
    let mut output = fs::read_to_string(log).unwrap_or_default();
    if status.is_none() {
        output.push_str(&format!("\n(killed after {}s)", timeout.as_secs()));
    }
    Ok((status, output))
}

/// Waits for `child` at most `timeout`; kills it then (returns `None`).
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        sleep(Duration::from_millis(50));
    }
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of the file at `path` (empty when unreadable).
pub fn file_tail(path: &Path, n: usize) -> String {
    tail(&fs::read_to_string(path).unwrap_or_default(), n)
}

/// Text of `path` after byte `offset`.
pub fn file_since(path: &Path, offset: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    let start = (offset as usize).min(buf.len());
    String::from_utf8_lossy(&buf[start..]).into_owned()
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// `sha256:<hex>` of the file at `path`, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a port on 127.0.0.1")?;
    Ok(l.local_addr()?.port())
}

/// A directory for unix sockets: `preferred` when its paths stay well below
/// the 108-byte `sun_path` limit, else `/tmp/luakit-e2e-<what>-<hash>`.
pub fn socket_dir(preferred: &Path, what: &str) -> PathBuf {
    if preferred.as_os_str().len() <= 60 {
        return preferred.to_path_buf();
    }
    let mut h = DefaultHasher::new();
    preferred.hash(&mut h);
    PathBuf::from(format!("/tmp/luakit-e2e-{what}-{:016x}", h.finish()))
}

/// True when the ELF file has no PT_INTERP program header (static or
/// static-pie). Only 64-bit little-endian ELF is understood.
pub fn is_static_elf(path: &Path) -> Result<bool> {
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

// ---------------------------------------------------------------- processes

pub fn read_pid(pidfile: &Path) -> Option<u32> {
    fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// True when `pid` is alive and its command line's first word ends in `name`.
pub fn process_matches(pid: u32, name: &str) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    Path::new(argv0.as_ref()).file_name().map(|f| f == name).unwrap_or(false)
}

/// True while `pid` runs (a zombie counts as gone).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat.rsplit(')').next().and_then(|s| s.split_whitespace().next()), Some("Z") | Some("X")),
        Err(_) => false,
    }
}

/// `(pid, ppid, argv joined by spaces)` of every live process but this one.
pub fn processes() -> Vec<(u32, u32, String)> {
    let me = std::process::id();
    let mut v = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return v;
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
        v.push((pid, ppid, String::from_utf8_lossy(&raw).replace('\0', " ")));
    }
    v
}

/// `roots` and all their live descendants, parents before children.
pub fn with_descendants(roots: &[u32]) -> Vec<u32> {
    let procs = processes();
    let mut order: Vec<u32> = roots.iter().copied().filter(|p| alive(*p)).collect();
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
    order
}

/// SIGKILLs `pids`, last first, and waits (up to 5 s) until they are gone.
pub fn kill_all(pids: &[u32]) {
    for pid in pids.iter().rev() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stderr(Stdio::null()).status();
    }
    let t0 = Instant::now();
    while pids.iter().any(|p| alive(*p)) && t0.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, wait up to `timeout`, then SIGKILL (for a process that may not
/// be our child, so it is polled through /proc).
pub fn terminate(pid: u32, timeout: Duration) {
    let pid_s = pid.to_string();
    let _ = Command::new("kill").args(["-TERM", &pid_s]).stderr(Stdio::null()).status();
    let t0 = Instant::now();
    while alive(pid) && t0.elapsed() < timeout {
        sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        kill_all(&[pid]);
    }
}

// ---------------------------------------------------------------- mounts

/// Mount points at or below `dir`, deepest first (from /proc/self/mountinfo).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
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
pub fn remove_tree(dir: &Path) -> Result<()> {
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

// ---------------------------------------------------------------- interruption

type StopFn = Box<dyn FnOnce() + Send>;

/// What to run when the suite is interrupted: one entry per running daemon.
static ON_INTERRUPT: Mutex<Vec<(u64, &'static str, StopFn)>> = Mutex::new(Vec::new());
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Registers `stop` to run if the suite is interrupted before
/// [`forget_on_interrupt`] is called with the returned id (daemons call that
/// when they stop normally). The latest registered runs first.
pub fn on_interrupt(name: &'static str, stop: impl FnOnce() + Send + 'static) -> u64 {
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Ok(mut v) = ON_INTERRUPT.lock() {
        v.push((id, name, Box::new(stop)));
    }
    id
}

/// Drops the entry [`on_interrupt`] made.
pub fn forget_on_interrupt(id: u64) {
    if let Ok(mut v) = ON_INTERRUPT.lock() {
        v.retain(|(i, _, _)| *i != id);
    }
}

/// Starts a thread that, on SIGINT, SIGTERM or SIGHUP, stops every daemon
/// registered with [`on_interrupt`] (latest first) and exits with 130. The
/// daemons run in their own process groups, so a terminal's Ctrl-C reaches
/// only this process and the test commands, and the daemons are stopped in
/// order, their mounts and state removed.
pub fn install_interrupt_handler() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install the signal handler")?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!("\ne2e: interrupted (signal {sig}); stopping the daemons");
            let stops: Vec<(u64, &'static str, StopFn)> =
                ON_INTERRUPT.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default();
            for (_, name, stop) in stops.into_iter().rev() {
                eprintln!("e2e: stopping {name}");
                stop();
            }
            std::process::exit(130);
        }
    });
    Ok(())
}
