//! luakit-lua: the `bk` API on a sandboxed Lua 5.4 (mlua).
//!
//! This is layer 2 of luakit (ARCHITECTURE.md in the repository): it
//! depends on luakit-graph and luakit-image-config, and the `luakit` crate
//! (the library face) runs it as the first step of its one pipeline,
//! before luakit-llb marshals the graph. The `bk` functions themselves are
//! described in docs/api.md.
//!
//! # Design
//!
//! This crate is an adapter: it runs a build script, checks every value the
//! script hands to `bk` (option names, types, modes, owners, platforms) and
//! turns it into luakit-graph calls. It holds no graph logic of its own.
//!
//! - [`evaluate`] and [`evaluate_file`] run a script with [`EvalOptions`]
//!   and return an [`Evaluation`]: the exported state, the `bk.export`
//!   options and what is known of the base image's config;
//!   [`run_test_file`] runs a file's `test_*` functions (`luakit test`).
//! - [`ModuleLoader`] is how `require` reads modules ([`FsLoader`] from a
//!   directory, [`NoModules`] for none); [`ImageResolver`] is the seam
//!   through which `bk.image` references are pinned and their configs
//!   learnt. This crate defines both traits and calls them; other crates
//!   implement the resolvers.
//! - [`reference`](mod@reference) is the machine-readable table of the `bk` options that
//!   the editor stubs and the docs are generated from.
//!
//! # Invariants
//!
//! - the VM only has the globals docs/api.md lists ("12.1 Globals"); removed ones are stubs
//!   that raise `… is not available in build scripts (sandboxed)`;
//! - evaluation is bounded in time and memory and never panics or aborts:
//!   it runs on its own thread with a large stack, and returns within the
//!   time limit (plus a short grace) even if the script is stuck;
//! - every error carries the script file and line, the `bk` function and
//!   what was wrong ([`ScriptError`]);
//! - the same script, options and files give the same graph, always.
//!
//! # Example
//!
//! ```
//! use luakit_lua::{evaluate, EvalOptions};
//!
//! let script = br#"
//!     local st = bk.image("alpine:3.19"):run("echo hi > /hi", { cwd = "/work" })
//!     bk.export(st, { cmd = { "cat", "/hi" } })
//! "#;
//! let eval = evaluate("build.lua", script, &EvalOptions::default())?;
//! assert_eq!(eval.export.cmd.as_deref(), Some(&["cat".to_string(), "/hi".to_string()][..]));
//! assert!(!eval.state.is_scratch());
//!
//! // A mistake names the file, the line and what was wrong.
//! let err = evaluate("build.lua", b"bk.image(42)", &EvalOptions::default()).unwrap_err();
//! assert!(err.to_string().contains("build.lua:1"), "{err}");
//! # Ok::<(), luakit_lua::ScriptError>(())
//! ```

#![deny(missing_docs)]

mod api;
mod builtins;
mod ctx;
mod error;
mod eval;
mod frames;
mod fsread;
#[allow(unsafe_code)] // The time limit's hook, signal handler and coroutine functions.
mod interrupt;
mod locate;
#[allow(unsafe_code)] // Lua C functions and API calls (see the module).
mod lstate;
mod opts;
#[cfg(test)]
mod proptests;
#[allow(unsafe_code)] // Lua API calls that cannot raise (see the module).
mod raw;
pub mod reference;
mod targets;
mod userdata;
mod words;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::{ScriptError, format_bytes};
pub use fsread::read_regular_file;
use luakit_graph::Platform;
use luakit_image_config::{ExportOptions, ImageConfig};

/// Reads the files a script `require`s, by path relative to the main
/// script's directory (`/`-separated, already checked to stay inside it).
pub trait ModuleLoader: Send + Sync {
    /// The file's bytes, `Ok(None)` when there is no such file, `Err` with
    /// a message when it exists but cannot be read.
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String>;

    /// The `.lua` files there are (relative, `/`-separated paths), for the
    /// "did you mean" of a `require` that finds nothing. The default lists
    /// none; a listing may stop short in a large tree.
    fn list(&self) -> Vec<String> {
        Vec::new()
    }
}

/// How many directory entries [`FsLoader::list`] looks at, at most.
const LIST_ENTRIES: usize = 10_000;
/// How deep [`FsLoader::list`] goes below the script's directory.
const LIST_DEPTH: usize = 8;

/// A [`ModuleLoader`] reading files under a directory. It refuses absolute
/// paths, `..`, symbolic links that lead outside the directory, files that
/// are not regular files (a FIFO, a device) and files larger than the
/// default memory limit.
#[derive(Debug, Clone)]
pub struct FsLoader {
    /// The main script's directory.
    pub root: PathBuf,
}

impl ModuleLoader for FsLoader {
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String> {
        load_module(&self.root, relative_path, EvalOptions::default().memory_limit)
    }

    fn list(&self) -> Vec<String> {
        list_modules(&self.root)
    }
}

/// A [`ModuleLoader`] like [`FsLoader`] that reads no module larger than
/// `max_bytes` (an evaluation's memory limit).
pub fn limited_fs_loader(root: PathBuf, max_bytes: usize) -> Arc<dyn ModuleLoader> {
    Arc::new(ScriptDirLoader { root, max_bytes })
}

/// The [`FsLoader`] of [`evaluate_file`]: reads no more than the
/// evaluation's memory limit.
struct ScriptDirLoader {
    root: PathBuf,
    max_bytes: usize,
}

impl ModuleLoader for ScriptDirLoader {
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String> {
        load_module(&self.root, relative_path, self.max_bytes)
    }

    fn list(&self) -> Vec<String> {
        list_modules(&self.root)
    }
}

fn load_module(root: &Path, relative_path: &str, max_bytes: usize) -> Result<Option<Vec<u8>>, String> {
    let rel = Path::new(relative_path);
    if relative_path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("'{}' is not a path inside the script's directory", relative_path.escape_debug()));
    }
    let path = root.join(rel);
    // Only a missing file is "not found": one that exists but is not a
    // regular file (a FIFO, a directory) is an error that says so.
    match std::fs::metadata(&path) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    }
    let root = root.canonicalize().map_err(|e| format!("{}: {e}", root.display()))?;
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(&root) {
        return Err(format!("'{}' leads outside the script's directory", relative_path.escape_debug()));
    }
    read_regular_file(&real, max_bytes).map(Some).map_err(|e| e.to_string())
}

/// The `.lua` files below the directory, sorted; directories whose name
/// starts with `.`, `node_modules` and `target` are skipped, symbolic
/// links are not followed, and the walk is bounded (breadth first, in
/// name order, so that a bounded listing is always the same).
fn list_modules(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = 0usize;
    let mut queue = std::collections::VecDeque::from([(root.to_path_buf(), String::new(), 0usize)]);
    while let Some((dir, prefix, depth)) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            seen += 1;
            if seen > LIST_ENTRIES {
                queue.clear();
                break;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                if depth < LIST_DEPTH && !name.starts_with('.') && name != "node_modules" && name != "target" {
                    queue.push_back((entry.path(), format!("{prefix}{name}/"), depth + 1));
                }
            } else if kind.is_file() && name.ends_with(".lua") {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    out.sort();
    out
}

/// A [`ModuleLoader`] that has no modules (the default for [`evaluate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Why an [`ImageResolver`] could not resolve a reference: whatever error
/// its source gave (a gRPC status, an I/O or JSON error…), with its causes.
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves image references to a digest and config (docs/api.md, "Image resolution").
///
/// The one seam through which `bk.image` references are resolved: the
/// gateway, a daemon, a registry or a lock file plug in here (the `luakit`
/// crate exports it with a no-op implementation); this crate only calls it.
pub trait ImageResolver: Send + Sync {
    /// Resolves `normalized_ref` (`docker.io/library/alpine:3.19`) for
    /// `platform`; `mode` is the script's `bk.image{resolve = …}` (`Default`
    /// leaves the choice to the resolver's own setting).
    ///
    /// `Ok(None)` leaves the image unresolved (not pinned, its config
    /// unknown), as when there is no resolver at all; `Err` fails the
    /// script at the `bk.image` call.
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        mode: luakit_graph::ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError>;
}

/// What an [`ImageResolver`] found.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Manifest digest, `sha256:…`.
    pub digest: String,
    /// The image's OCI config.
    pub config: ImageConfig,
}

/// Settings of one evaluation.
#[derive(Clone)]
pub struct EvalOptions {
    /// The platform ops build for (`--platform`).
    pub target_platform: Platform,
    /// The platform of the machine that builds (`bk.build_platform()`).
    pub build_platform: Platform,
    /// `--arg NAME=VALUE` / `build-arg:NAME`, for `bk.arg`.
    pub args: BTreeMap<String, String>,
    /// The `local.unique` attribute of `bk.local_` sources.
    pub local_unique_id: String,
    /// Frontend mode: the client session, recorded as `local.session` instead.
    pub local_session_id: Option<String>,
    /// Record each op's script location (default true).
    pub source_map: bool,
    /// Time limit (default 30 s).
    pub timeout: Duration,
    /// Memory limit in bytes (default 512 MiB).
    pub memory_limit: usize,
    /// Resolves `bk.image` references; `None` leaves them unresolved.
    pub resolver: Option<Arc<dyn ImageResolver>>,
    /// Reads modules for `require`.
    pub loader: Arc<dyn ModuleLoader>,
    /// The export to build when the script names several
    /// (`bk.export(st, { target = "api" })`, `--target api`); `None` builds
    /// the last export, as a Dockerfile builds its last stage.
    pub target: Option<String>,
    /// Exclude patterns added to `bk.local_(name)` per local name, before the
    /// script's own (the frontend puts the context's `.dockerignore` here).
    pub local_excludes: BTreeMap<String, Vec<String>>,
    /// Told of each state the script makes, as it makes it (a marshaller
    /// that encodes ops while the script runs).
    pub node_sink: Option<Arc<dyn luakit_graph::NodeSink>>,
    /// The process ends once it has used the result (a command-line run):
    /// the VM, and in `luakit::build` the graph, are not freed but left
    /// for the exit, which takes back a process's memory at once. Off by
    /// default: they are freed on a thread of the lowest priority.
    pub leave_to_exit: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            target_platform: Platform::host(),
            build_platform: Platform::host(),
            args: BTreeMap::new(),
            local_unique_id: String::new(),
            local_session_id: None,
            source_map: true,
            timeout: Duration::from_secs(30),
            memory_limit: 512 * 1024 * 1024,
            resolver: None,
            loader: Arc::new(NoModules),
            target: None,
            local_excludes: BTreeMap::new(),
            node_sink: None,
            leave_to_exit: false,
        }
    }
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("target_platform", &self.target_platform)
            .field("build_platform", &self.build_platform)
            .field("args", &self.args)
            .field("local_unique_id", &self.local_unique_id)
            .field("local_session_id", &self.local_session_id)
            .field("source_map", &self.source_map)
            .field("timeout", &self.timeout)
            .field("memory_limit", &self.memory_limit)
            .field("resolver", &self.resolver.is_some())
            .field("target", &self.target)
            .field("local_excludes", &self.local_excludes)
            .field("node_sink", &self.node_sink.is_some())
            .field("leave_to_exit", &self.leave_to_exit)
            .finish_non_exhaustive()
    }
}

/// The result of evaluating a build script.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The exported state.
    pub state: luakit_graph::State,
    /// The `bk.export` options (the image config to apply).
    pub export: ExportOptions,
    /// The resolved config of the image the exported state is built on, if known.
    pub base_config: Option<ImageConfig>,
    /// The target platform the script was evaluated for.
    pub target_platform: Platform,
    /// The name of the export built (`bk.export(st, { target = … })`), if it has one.
    pub target: Option<String>,
    /// The names of all named exports, in the order the script made them.
    pub targets: Vec<String>,
    /// Warnings to show the user (each starts with `file:line:` when known).
    pub warnings: Vec<String>,
}

/// What [`run_test_file`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// How many tests passed (a file without `test_` functions counts as one test).
    pub passed: usize,
    /// Tests that failed: (test name or file, message with file:line).
    pub failed: Vec<(String, String)>,
}

/// Stack of the evaluation thread: deep enough for Lua's own recursion limits.
const EVAL_STACK: usize = 64 * 1024 * 1024;
/// How long past the time limit a stuck evaluation is waited for.
const GRACE: Duration = Duration::from_secs(2);

/// The deadline of an evaluation: the VM's time limit fires at it, and
/// [`isolated_then_drop`] gives up on a stuck VM a grace period after it. Time spent
/// outside the script (resolving images, reading modules) moves it on.
pub(crate) type Clock = Arc<Mutex<Instant>>;

/// How long the thread waiting for `thread` (an evaluation) waits before it
/// looks at the clock again: until the deadline, and 100 ms at most. At or
/// past the deadline, it first tells the evaluation (see `interrupt`); it
/// does so again at each look until the evaluation ends or is given up.
fn next_look(clock: &Clock, thread: &std::thread::JoinHandle<()>) -> Duration {
    const MOST: Duration = Duration::from_millis(100);
    let deadline = *clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        interrupt::signal(thread);
        MOST
    } else {
        left.min(MOST)
    }
}

/// Runs `f` on a thread of its own; gives up (with a timeout error) when the
/// thread is still running a grace period after the clock's deadline.
/// What `f` returns beside its result is dropped on that thread after the
/// result is sent (the Lua VM: freeing it then overlaps with the caller's
/// next step instead of delaying the result).
fn isolated_then_drop<T: Send + 'static, L: 'static>(
    timeout: Duration,
    clock: Clock,
    f: impl FnOnce() -> (Result<T, ScriptError>, Option<L>) + Send + 'static,
) -> Result<T, ScriptError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("luakit-lua".to_string()).stack_size(EVAL_STACK).spawn(move || {
        let (r, leftover) = match std::panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok((r, leftover)) => (Ok(r), leftover),
            Err(panic) => (Err(panic), None),
        };
        let _ = tx.send(r);
        // Freeing the VM is nobody's wait: it only gets a core nothing
        // else needs (a process that exits first never finishes it).
        lower_thread_priority();
        drop(leftover);
    });
    let thread = match spawned {
        Ok(thread) => thread,
        Err(e) => return Err(ScriptError::Internal(format!("cannot start the evaluation thread: {e}"))),
    };
    loop {
        match rx.recv_timeout(next_look(&clock, &thread)) {
            Ok(Ok(r)) => return r,
            Ok(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_string());
                return Err(ScriptError::Internal(msg));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let deadline = *clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if Instant::now() > deadline + GRACE {
                    // The thread is stuck in a C function the time limit cannot
                    // interrupt; leave it and report the limit.
                    return Err(ScriptError::Timeout { limit: timeout });
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ScriptError::Internal("the evaluation thread stopped".to_string()));
            }
        }
    }
}

/// Evaluates a build script: runs it in the sandbox and returns the state
/// it exported with `bk.export`, and the export options.
///
/// `script_name` is the file name errors and the source map show
/// (`build.lua`); required modules are read through `opts.loader`.
pub fn evaluate(script_name: &str, source: &[u8], opts: &EvalOptions) -> Result<Evaluation, ScriptError> {
    let name = script_name.to_string();
    let source = source.to_vec();
    let opts = opts.clone();
    let timeout = opts.timeout;
    let clock: Clock = Arc::new(Mutex::new(Instant::now() + timeout));
    isolated_then_drop(timeout, clock.clone(), move || {
        let session = match eval::Session::new(&opts, false, clock) {
            Ok(s) => s,
            Err(e) => return (Err(e), None),
        };
        let r = session.add_file(&name, &source).and_then(|()| session.run_file(&name, &source));
        let r = r.and_then(|_| session.finish(&name));
        // The VM (every value the script made) is freed after the result
        // is handed over, while the caller goes on marshalling, unless the
        // process's exit is to take it back.
        (r, Some(eval::Spent::new(session, !opts.leave_to_exit)))
    })
}

/// Evaluates the build script at `path`; modules are read from its
/// directory. An empty `local_unique_id` is replaced by
/// [`default_local_unique_id`] of that directory.
pub fn evaluate_file(path: &Path, mut opts: EvalOptions) -> Result<Evaluation, ScriptError> {
    let source = read_regular_file(path, opts.memory_limit)
        .map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
    let dir = script_dir(path);
    if opts.local_unique_id.is_empty() {
        opts.local_unique_id = default_local_unique_id(&dir);
    }
    opts.loader = Arc::new(ScriptDirLoader { root: dir, max_bytes: opts.memory_limit });
    evaluate(&file_name(path), &source, &opts)
}

fn script_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| path.display().to_string())
}

/// The default `local.unique` id: a blake3 hash of this machine's identity
/// (`/etc/machine-id`, else the host name) and the absolute script
/// directory, so that one machine always produces the same bytes for a
/// script and two machines never share a file sync.
pub fn default_local_unique_id(script_dir: &Path) -> String {
    let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .unwrap_or_default();
    let dir = script_dir.canonicalize().unwrap_or_else(|_| script_dir.to_path_buf());
    let mut h = blake3::Hasher::new();
    h.update(b"luakit local.unique v1\0");
    h.update(machine.as_bytes());
    h.update(b"\0");
    h.update(dir.to_string_lossy().as_bytes());
    h.finalize().to_hex()[..32].to_string()
}

/// Runs a Lua test file for `luakit test`: the file is run with `bk`
/// available (no export needed, several allowed); then each global function
/// whose name starts with `test_` is called, in sorted order, and counts as
/// one test. A file without such functions counts as one test, passed when
/// it runs without error. Failures carry `file:line`.
///
/// Each test has the full time limit of its own. A test stuck inside one C
/// function (where the time limit cannot interrupt it) fails on its own
/// after the limit and a short grace; the VM it is stuck in is abandoned,
/// and the tests after it run in a fresh one (the file is run again first).
///
/// Only a file that cannot be read is an `Err`; everything the file does
/// wrong is a failed test.
pub fn run_test_file(path: &Path, opts: &EvalOptions) -> Result<TestReport, ScriptError> {
    let source = read_regular_file(path, opts.memory_limit)
        .map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
    let dir = script_dir(path);
    let mut opts = opts.clone();
    if opts.local_unique_id.is_empty() {
        opts.local_unique_id = default_local_unique_id(&dir);
    }
    opts.loader = Arc::new(ScriptDirLoader { root: dir, max_bytes: opts.memory_limit });
    let name = file_name(path);
    let source: Arc<[u8]> = source.into();
    let mut report = TestReport::default();
    // Tests already reported (they come in sorted order), and VMs left behind.
    let mut start = 0usize;
    let mut abandoned = 0usize;
    loop {
        match run_tests_from(&name, &source, &opts, start, &mut report) {
            TestRun::Finished => return Ok(report),
            TestRun::Stuck { next, total } => {
                abandoned += 1;
                start = next;
                if start >= total {
                    return Ok(report);
                }
                if abandoned >= MAX_STUCK_TESTS {
                    let message = format!(
                        "not run: {abandoned} tests of this file were stuck in a C function (each left a VM running)"
                    );
                    report.failed.push((format!("{name} ({} more tests)", total - start), message));
                    return Ok(report);
                }
            }
        }
    }
}

/// How many stuck tests of one file are abandoned before the rest of the
/// file is given up (each leaves a thread running until the process ends).
const MAX_STUCK_TESTS: usize = 4;

/// How a run of a test file's VM ended.
enum TestRun {
    /// Every test (from the start index on) was reported, or the file failed.
    Finished,
    /// The test at `next - 1` was stuck in a C function; `total` tests exist.
    Stuck { next: usize, total: usize },
}

/// What the test thread reports, as it goes.
enum TestEvent {
    /// The file ran; it has this many tests.
    Listed(usize),
    /// Test `index` (`name`) started.
    Started(usize, String),
    Passed,
    Failed(String),
    /// The file itself failed (load, syntax, top-level error).
    FileFailed(String),
    Finished,
}

/// Runs `source` in a fresh VM on its own thread, then its tests from
/// index `start` on, adding each outcome to `report` as it arrives.
fn run_tests_from(
    name: &str,
    source: &Arc<[u8]>,
    opts: &EvalOptions,
    start: usize,
    report: &mut TestReport,
) -> TestRun {
    let timeout = opts.timeout;
    let clock: Clock = Arc::new(Mutex::new(Instant::now() + timeout));
    let (tx, rx) = mpsc::channel::<TestEvent>();
    let thread_clock = clock.clone();
    let (thread_name, thread_source, thread_opts) = (name.to_string(), source.clone(), opts.clone());
    let spawned = std::thread::Builder::new().name("luakit-test".to_string()).stack_size(EVAL_STACK).spawn(move || {
        let panic_tx = tx.clone();
        let r = std::panic::catch_unwind(AssertUnwindSafe(move || {
            test_thread(&thread_name, &thread_source, &thread_opts, thread_clock, start, &tx)
        }));
        if let Err(panic) = r {
            let _ = panic_tx.send(TestEvent::FileFailed(format!("internal error: {}", panic_message(&panic))));
        }
    });
    let thread = match spawned {
        Ok(thread) => thread,
        Err(e) => {
            report.failed.push((name.to_string(), format!("internal error: cannot start the test thread: {e}")));
            return TestRun::Finished;
        }
    };
    let mut total = None;
    let mut current: Option<(usize, String)> = None;
    loop {
        match rx.recv_timeout(next_look(&clock, &thread)) {
            Ok(TestEvent::Listed(n)) => {
                if n == 0 && start == 0 {
                    report.passed += 1;
                }
                total = Some(n);
            }
            Ok(TestEvent::Started(i, test)) => current = Some((i, test)),
            Ok(TestEvent::Passed) => {
                report.passed += 1;
                current = None;
            }
            Ok(TestEvent::Failed(message)) => {
                let test = current.take().map_or_else(|| name.to_string(), |(_, t)| t);
                report.failed.push((test, message));
            }
            Ok(TestEvent::FileFailed(message)) => {
                let who = current.take().map_or_else(|| name.to_string(), |(_, t)| t);
                report.failed.push((who, message));
                return TestRun::Finished;
            }
            Ok(TestEvent::Finished) => return TestRun::Finished,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let deadline = *clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if Instant::now() <= deadline + GRACE {
                    continue;
                }
                // Stuck in a C function the time limit cannot interrupt:
                // leave the thread, report the limit.
                let message = ScriptError::Timeout { limit: timeout }.to_string();
                return match (current.take(), total) {
                    (Some((i, test)), Some(total)) => {
                        report.failed.push((test, message));
                        TestRun::Stuck { next: i + 1, total }
                    }
                    _ => {
                        report.failed.push((name.to_string(), message));
                        TestRun::Finished
                    }
                };
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                report.failed.push((name.to_string(), "internal error: the test thread stopped".to_string()));
                return TestRun::Finished;
            }
        }
    }
}

/// The body of a test thread: runs the file, then its tests from `start`.
fn test_thread(
    name: &str,
    source: &[u8],
    opts: &EvalOptions,
    clock: Clock,
    start: usize,
    tx: &mpsc::Sender<TestEvent>,
) {
    let send = |e: TestEvent| {
        let _ = tx.send(e);
    };
    let session = match eval::Session::new(opts, true, clock) {
        Ok(s) => s,
        Err(e) => return send(TestEvent::FileFailed(e.to_string())),
    };
    if let Err(e) = session.add_file(name, source).and_then(|()| session.run_file(name, source)) {
        return send(TestEvent::FileFailed(e.to_string()));
    }
    let mut tests: Vec<(String, mlua::Function)> = Vec::new();
    for pair in session.lua.globals().pairs::<mlua::Value, mlua::Value>() {
        let Ok((mlua::Value::String(k), mlua::Value::Function(f))) = pair else { continue };
        let k = k.to_string_lossy().to_string();
        if k.starts_with("test_") {
            tests.push((k, f));
        }
    }
    tests.sort_by(|a, b| a.0.cmp(&b.0));
    send(TestEvent::Listed(tests.len()));
    for (i, (test, f)) in tests.into_iter().enumerate().skip(start) {
        session.reset_clock();
        send(TestEvent::Started(i, test));
        match session.call(&f) {
            Ok(()) => send(TestEvent::Passed),
            Err(e) => send(TestEvent::Failed(e.to_string())),
        }
    }
    send(TestEvent::Finished);
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// Makes the calling thread the last to get a CPU: for work nobody waits
/// for, such as freeing a large graph or VM after the result is handed
/// over, so that it never slows the threads that produce the result.
/// Best effort: where the priority cannot be changed, nothing happens.
#[doc(hidden)]
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    // SAFETY: gettid and setpriority only read their integer arguments;
    // on Linux, PRIO_PROCESS with a thread id changes that thread only.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        if let Ok(tid) = libc::id_t::try_from(tid) {
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 19);
        }
    }
}
