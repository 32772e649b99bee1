//! luakit-lua: the `bk` API on a sandboxed Lua 5.4 (mlua).
//!
//! This crate is an adapter: it runs a build script, checks every value the
//! script hands to `bk` (option names, types, modes, owners, platforms) and
//! turns it into luakit-graph calls. It holds no graph logic of its own.
//!
//! Invariants:
//! - the VM only has the globals of SPEC section 2; removed ones are stubs
//!   that raise `… is not available in build scripts (sandboxed)`;
//! - evaluation is bounded in time and memory and never panics or aborts:
//!   it runs on its own thread with a large stack, and returns within the
//!   time limit (plus a short grace) even if the script is stuck;
//! - every error carries the script file and line, the `bk` function and
//!   what was wrong ([`ScriptError`]);
//! - the same script, options and files give the same graph, always.

mod api;
mod ctx;
mod error;
mod eval;
mod opts;
pub mod reference;
mod userdata;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::ScriptError;
use luakit_graph::Platform;
use luakit_image_config::{ExportOptions, ImageConfig};

/// Reads the files a script `require`s, by path relative to the main
/// script's directory (`/`-separated, already checked to stay inside it).
pub trait ModuleLoader: Send + Sync {
    /// The file's bytes, `Ok(None)` when there is no such file, `Err` with
    /// a message when it exists but cannot be read.
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String>;
}

/// A [`ModuleLoader`] reading files under a directory. It refuses absolute
/// paths, `..`, and symbolic links that lead outside the directory.
#[derive(Debug, Clone)]
pub struct FsLoader {
    /// The main script's directory.
    pub root: PathBuf,
}

impl ModuleLoader for FsLoader {
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String> {
        let rel = Path::new(relative_path);
        if relative_path.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(format!("'{relative_path}' is not a path inside the script's directory"));
        }
        let path = self.root.join(rel);
        if !path.is_file() {
            return Ok(None);
        }
        let root = self.root.canonicalize().map_err(|e| format!("{}: {e}", self.root.display()))?;
        let real = path.canonicalize().map_err(|e| e.to_string())?;
        if !real.starts_with(&root) {
            return Err(format!("'{relative_path}' leads outside the script's directory"));
        }
        std::fs::read(&real).map(Some).map_err(|e| e.to_string())
    }
}

/// A [`ModuleLoader`] that has no modules (the default for [`evaluate`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoModules;

impl ModuleLoader for NoModules {
    fn load(&self, _: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

/// Resolves image references to a digest and config (SPEC section 7).
pub trait ImageResolver: Send + Sync {
    /// Resolves `normalized_ref` (`docker.io/library/alpine:3.19`) for
    /// `platform`; `mode` is the script's `bk.image{resolve = …}` (`Default`
    /// leaves the choice to the resolver's own setting).
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        mode: luakit_graph::ResolveMode,
    ) -> Result<ResolvedImage, String>;
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
    /// Warnings to show the user (each starts with `file:line:` when known).
    pub warnings: Vec<String>,
}

/// What [`run_test_file`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed: (test name or file, message with file:line).
    pub failed: Vec<(String, String)>,
}

/// Stack of the evaluation thread: deep enough for Lua's own recursion limits.
const EVAL_STACK: usize = 64 * 1024 * 1024;
/// How long past the time limit a stuck evaluation is waited for.
const GRACE: Duration = Duration::from_secs(2);

/// The deadline of an evaluation: the VM's time limit fires at it, and
/// [`isolated`] gives up on a stuck VM a grace period after it. Time spent
/// outside the script (resolving images, reading modules) moves it on.
pub(crate) type Clock = Arc<Mutex<Instant>>;

/// Runs `f` on a thread of its own; gives up (with a timeout error) when the
/// thread is still running a grace period after the clock's deadline.
fn isolated<T: Send + 'static>(
    timeout: Duration,
    clock: Clock,
    f: impl FnOnce() -> Result<T, ScriptError> + Send + 'static,
) -> Result<T, ScriptError> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new().name("luakit-lua".to_string()).stack_size(EVAL_STACK).spawn(move || {
        let r = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    if let Err(e) = spawned {
        return Err(ScriptError::Internal(format!("cannot start the evaluation thread: {e}")));
    }
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
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
    isolated(timeout, clock.clone(), move || {
        let session = eval::Session::new(&opts, false, clock)?;
        session.add_file(&name, &source)?;
        session.run_file(&name, &source)?;
        session.finish(&name)
    })
}

/// Evaluates the build script at `path`; modules are read from its
/// directory. An empty `local_unique_id` is replaced by
/// [`default_local_unique_id`] of that directory.
pub fn evaluate_file(path: &Path, mut opts: EvalOptions) -> Result<Evaluation, ScriptError> {
    let source = std::fs::read(path).map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
    let dir = script_dir(path);
    if opts.local_unique_id.is_empty() {
        opts.local_unique_id = default_local_unique_id(&dir);
    }
    opts.loader = Arc::new(FsLoader { root: dir });
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
/// Only a file that cannot be read is an `Err`; everything the file does
/// wrong is a failed test.
pub fn run_test_file(path: &Path, opts: &EvalOptions) -> Result<TestReport, ScriptError> {
    let source = std::fs::read(path).map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
    let dir = script_dir(path);
    let mut opts = opts.clone();
    if opts.local_unique_id.is_empty() {
        opts.local_unique_id = default_local_unique_id(&dir);
    }
    opts.loader = Arc::new(FsLoader { root: dir });
    let name = file_name(path);
    let timeout = opts.timeout;
    let clock: Clock = Arc::new(Mutex::new(Instant::now() + timeout));
    isolated(timeout, clock.clone(), move || {
        let mut report = TestReport::default();
        let session = match eval::Session::new(&opts, true, clock) {
            Ok(s) => s,
            Err(e) => {
                report.failed.push((name, e.to_string()));
                return Ok(report);
            }
        };
        session.add_file(&name, &source)?;
        if let Err(e) = session.run_file(&name, &source) {
            report.failed.push((name, e.to_string()));
            return Ok(report);
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
        if tests.is_empty() {
            report.passed += 1;
            return Ok(report);
        }
        for (test, f) in tests {
            session.reset_clock();
            match f.call::<()>(()) {
                Ok(()) => report.passed += 1,
                Err(e) => report.failed.push((test, session.map_error(e).to_string())),
            }
        }
        Ok(report)
    })
}
