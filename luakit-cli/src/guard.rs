//! Process-wide guards: the limits of a whole command (`--timeout` and
//! `--memory-limit` cover reading, evaluating, marshalling, encoding,
//! rendering and writing, not only the Lua evaluation), the temporary files
//! that must not outlive the process, and the standard streams.
//!
//! - Memory: the binary's global allocator counts the bytes live on the
//!   heap. Once [`enforce`] has set a cap, an allocation that would pass it
//!   ends the command: the error names the limit and what the command was
//!   doing, temporary files are removed, the exit code is 1. Nothing is
//!   half-written: outputs are only renamed into place after everything
//!   was computed.
//! - Time: a watchdog thread ends the command the same way when the
//!   deadline passes. During the evaluation it waits a little longer, so
//!   that the evaluation's own time limit (which names the script) reports
//!   first.
//! - Temporary files are registered before they are created and removed on
//!   SIGINT, SIGTERM and SIGHUP too; the process then dies of that signal
//!   (exit status 130, 143, 129 in a shell).
//! - Standard streams: a stdout that was closed at start is remembered:
//!   writing to it is an error, where the bytes would otherwise vanish.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::values::{format_bytes, format_duration};

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

/// The global allocator of the `luakit` binary: mimalloc, counting the
/// bytes in use and refusing to pass the cap.
///
/// A script's evaluation allocates and frees a few small blocks per op on
/// one thread (Lua's strings and tables, the graph's nodes), which glibc's
/// `malloc` serves through its slow paths: mimalloc runs a 10,000-op build
/// in about 20% less time (see the speed issue's notes). Its arenas are
/// committed as pages are used, and freed pages are given back at once
/// ([`tune_allocator`]), so that peak memory stays below glibc's.
pub struct CountingAlloc;

/// The heap allocator under the counting.
static HEAP: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sets mimalloc's options before the first allocation (a constructor of
/// the executable runs after mimalloc's own and before Rust's runtime
/// allocates anything).
#[used]
#[allow(unsafe_code)]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_arena_eager_commit` and `mi_option_purge_delay`: their
/// numbers in the `mi_option_t` enum of mimalloc 3.3 (`include/mimalloc.h`),
/// the version the exact dependency builds.
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
extern "C" fn tune_allocator() {
    // SAFETY: setting an option is allowed at any time; these two take
    // plain numbers (0: commit arena memory as it is used; 0 ms: give freed
    // pages back at once).
    unsafe {
        mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
}

/// Bytes allocated, as far as the threads have settled them (see
/// [`PENDING`]). Signed: a thread may settle a free before the thread that
/// made the allocation has settled it.
static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most bytes that may be allocated at once (no cap until [`enforce`]).
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Set when the process is on its way out: nothing is refused any more (the
/// exit path itself allocates).
static ENDING: AtomicBool = AtomicBool::new(false);

/// How far a thread's own count may drift from [`LIVE`] before it settles.
///
/// The evaluation and the encoder allocate at the same time on two cores;
/// one shared counter updated on every allocation made its cache line
/// travel between them on each call, a fifth of both threads' time. Each
/// thread now counts in [`PENDING`] and settles with `LIVE` once its
/// balance passes this much either way, so that the cap is checked at
/// most this many bytes late per thread (a few threads: well under a
/// megabyte, against limits of megabytes). A thread that ends takes its
/// unsettled balance with it, at most this much.
const SLACK: isize = 64 * 1024;

thread_local! {
    /// This thread's bytes allocated (positive) or freed (negative) that
    /// [`LIVE`] does not count yet; always within `SLACK` of zero. A plain
    /// cell with no destructor, so it can be used from any point of a
    /// thread's life, its end included.
    static PENDING: Cell<isize> = const { Cell::new(0) };
}

/// Adds `delta` to this thread's balance; returns what must be settled
/// with [`LIVE`] now (see [`settle`]; `delta` itself when the thread's
/// storage is gone).
fn balance(delta: isize) -> Option<isize> {
    PENDING
        .try_with(|p| {
            let (kept, settled) = settle(p.get(), delta);
            p.set(kept);
            settled
        })
        .unwrap_or(Some(delta))
}

/// A thread's balance `pending` after `delta` more: what it keeps, and
/// what it settles with [`LIVE`] (all of it, once it reaches [`SLACK`]
/// either way).
fn settle(pending: isize, delta: isize) -> (isize, Option<isize>) {
    let b = pending.saturating_add(delta);
    if b.unsigned_abs() < SLACK.unsigned_abs() { (b, None) } else { (0, Some(b)) }
}

/// Counts `n` more bytes; ends the command when that passes the cap.
fn grow(n: usize) {
    // A size fits an isize (a `Layout` guarantees it).
    if let Some(settle) = balance(n as isize) {
        let live = LIVE.fetch_add(settle, Ordering::Relaxed).saturating_add(settle);
        if live > 0
            && live.unsigned_abs() > CAP.load(Ordering::Relaxed)
            && !ENDING.load(Ordering::Relaxed)
            && current_phase() != Phase::Committing
        {
            memory_exceeded();
        }
    }
}

#[cold]
fn memory_exceeded() -> ! {
    // First: the message below allocates.
    ENDING.store(true, Ordering::Relaxed);
    let limit = LIMITS.get().map_or(0, |l| l.memory);
    fatal(&format!("exceeded the memory limit of {} while {}", format_bytes(limit), current_phase().doing()))
}

fn shrink(n: usize) {
    if let Some(settle) = balance(-(n as isize)) {
        LIVE.fetch_add(settle, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to mimalloc; the
// counting around it never touches the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    // Out of line: inlined into every place that allocates, the counting
    // made the binary 2.4 MB larger, for nothing measurable.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { HEAP.alloc(layout) };
        if p.is_null() {
            shrink(layout.size());
        }
        p
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: as for `alloc`.
        let p = unsafe { HEAP.alloc_zeroed(layout) };
        if p.is_null() {
            shrink(layout.size());
        }
        p
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { HEAP.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old {
            grow(new_size - old);
        }
        // SAFETY: as for `alloc`.
        let p = unsafe { HEAP.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                shrink(new_size - old);
            }
        } else if new_size < old {
            shrink(old - new_size);
        }
        p
    }
}

// ---------------------------------------------------------------------------
// What the command is doing (for the messages), and its deadline
// ---------------------------------------------------------------------------

/// The step a command is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Before any input is read.
    Starting = 0,
    /// Reading an input file.
    Reading,
    /// Running the Lua script (it has its own time limit, reported first).
    Evaluating,
    /// Graph → Definition.
    Marshalling,
    /// Definition → bytes.
    Encoding,
    /// Bytes → Definition.
    Decoding,
    /// Definition → text, JSON or DOT.
    Rendering,
    /// Writing outputs.
    Writing,
    /// Renaming finished outputs into place: quick, allocates next to
    /// nothing, and is interrupted by neither limit (so that two outputs are
    /// both replaced or neither).
    Committing,
    /// Finished; the result is being reported.
    Done,
}

impl Phase {
    const ALL: [Phase; 10] = [
        Phase::Starting,
        Phase::Reading,
        Phase::Evaluating,
        Phase::Marshalling,
        Phase::Encoding,
        Phase::Decoding,
        Phase::Rendering,
        Phase::Writing,
        Phase::Committing,
        Phase::Done,
    ];

    fn doing(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Reading => "reading the input",
            Phase::Evaluating => "evaluating the script",
            Phase::Marshalling => "marshalling the graph into a Definition",
            Phase::Encoding => "encoding the Definition",
            Phase::Decoding => "decoding the Definition",
            Phase::Rendering => "rendering the graph",
            Phase::Writing => "writing the output",
            Phase::Committing => "moving the output into place",
            Phase::Done => "reporting the result",
        }
    }
}

static PHASE: AtomicU8 = AtomicU8::new(Phase::Starting as u8);

/// Records what the command does now.
pub fn set_phase(p: Phase) {
    PHASE.store(p as u8, Ordering::Relaxed);
}

fn current_phase() -> Phase {
    let v = PHASE.load(Ordering::Relaxed);
    Phase::ALL.get(usize::from(v)).copied().unwrap_or(Phase::Done)
}

/// The limits of the running command.
#[derive(Debug, Clone, Copy)]
struct Limits {
    memory: usize,
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// How much longer than the deadline an evaluation is given: its own limit
/// fires at the deadline, and gives up on a script stuck in a C function
/// 2 s later; this leaves it time to report that itself.
const EVAL_GRACE: Duration = Duration::from_secs(4);

/// Applies `--timeout` and `--memory-limit` to the rest of the process,
/// from now. Called once, by the commands that take them.
pub fn enforce(timeout: Duration, memory: usize) {
    if LIMITS.set(Limits { memory }).is_err() {
        return;
    }
    CAP.store(memory, Ordering::Relaxed);
    let deadline = Instant::now().checked_add(timeout);
    let Some(deadline) = deadline else { return };
    // The watchdog never returns: it ends the process at the deadline, or
    // sleeps on until the process ends by itself.
    let spawned = std::thread::Builder::new().name("luakit-deadline".to_string()).spawn(move || {
        loop {
            let now = Instant::now();
            let phase = current_phase();
            let due = match phase {
                Phase::Evaluating => deadline + EVAL_GRACE,
                Phase::Committing | Phase::Done => now + Duration::from_secs(3600),
                _ => deadline,
            };
            if now >= due {
                fatal(&format!("timed out after {} while {}", format_duration(timeout), phase.doing()));
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
        }
    });
    if spawned.is_err() {
        // Without a watchdog only the evaluation's own limit applies.
        eprintln!("warning: cannot start the timeout watchdog; --timeout covers only the evaluation");
    }
}

/// Ends the command: removes the registered temporary files, prints
/// `error: <message>` and exits with status 1. Safe to call from any
/// thread, and from the allocator (nothing is refused once it runs).
pub fn fatal(message: &str) -> ! {
    static ONCE: AtomicBool = AtomicBool::new(false);
    ENDING.store(true, Ordering::Relaxed);
    if ONCE.swap(true, Ordering::SeqCst) {
        // Another thread is already ending the process.
        loop {
            std::thread::park();
        }
    }
    remove_temps();
    let _ = writeln!(std::io::stderr(), "error: {message}");
    std::process::exit(1)
}

// ---------------------------------------------------------------------------
// Temporary files
// ---------------------------------------------------------------------------

/// Registered temporary files; a fixed number of slots, so that registering
/// never allocates while the lock is held.
const TEMP_SLOTS: usize = 8;
static TEMPS: Mutex<[Option<PathBuf>; TEMP_SLOTS]> = Mutex::new([const { None }; TEMP_SLOTS]);

/// A temporary file path that is removed if the process is ended (by a
/// signal, a limit) while this registration lives. Dropping it forgets the
/// path (the owner removes or renames the file itself).
#[derive(Debug)]
pub struct TempRegistration {
    slot: usize,
}

/// Registers `path` before the file is created (so no moment exists where
/// the file is there but unknown). Installs the signal handlers on first use.
pub fn register_temp(path: PathBuf) -> Result<TempRegistration, String> {
    install_signal_cleanup();
    let mut slots = TEMPS.lock().unwrap_or_else(PoisonError::into_inner);
    match slots.iter().position(Option::is_none) {
        Some(slot) => {
            slots[slot] = Some(path);
            Ok(TempRegistration { slot })
        }
        None => Err("too many temporary files at once".to_string()),
    }
}

impl Drop for TempRegistration {
    fn drop(&mut self) {
        let old = TEMPS.lock().unwrap_or_else(PoisonError::into_inner)[self.slot].take();
        drop(old);
    }
}

fn remove_temps() {
    let mut slots = TEMPS.lock().unwrap_or_else(PoisonError::into_inner);
    for p in slots.iter_mut().filter_map(Option::take) {
        let _ = std::fs::remove_file(p);
    }
}

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files, then die of
/// the signal as if it had not been caught.
pub fn install_signal_cleanup() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new().name("luakit-signals".to_string()).spawn(move || {
            if let Some(sig) = signals.forever().next() {
                ENDING.store(true, Ordering::Relaxed);
                remove_temps();
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(128 + sig);
            }
        });
    });
}

// ---------------------------------------------------------------------------
// Standard streams
// ---------------------------------------------------------------------------

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Notes whether stdout was closed when luakit was started. Call first
/// thing in `main`.
///
/// Rust's runtime puts `/dev/null` on a standard descriptor that was closed
/// at start (so that no file opened later can take its place), opened
/// read-write; a shell's `>/dev/null` opens it write-only. So a read-write
/// `/dev/null` on descriptor 1 means stdout was closed (`>&-`), and what
/// luakit writes there would be lost without a word.
pub fn note_standard_streams() {
    STDOUT_CLOSED.store(stdout_was_closed(), Ordering::Relaxed);
}

#[cfg(target_os = "linux")]
fn stdout_was_closed() -> bool {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return true;
    };
    let (Ok(out), Ok(null)) = (std::fs::File::from(fd).metadata(), std::fs::metadata("/dev/null")) else {
        return false;
    };
    if !out.file_type().is_char_device() || out.rdev() != null.rdev() {
        return false;
    }
    // `flags:` in fdinfo is octal; the access mode is its low two bits.
    const O_ACCMODE: u32 = 0o3;
    const O_RDWR: u32 = 0o2;
    std::fs::read_to_string("/proc/self/fdinfo/1")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("flags:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .is_some_and(|flags| flags & O_ACCMODE == O_RDWR)
}

#[cfg(not(target_os = "linux"))]
fn stdout_was_closed() -> bool {
    false
}

/// Whether stdout was closed when luakit started (`luakit build x.lua >&-`).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_small_changes_and_settles_them_at_the_slack() {
        // Below the slack either way: kept.
        assert_eq!(settle(0, 100), (100, None));
        assert_eq!(settle(100, -300), (-200, None));
        assert_eq!(settle(SLACK - 2, 1), (SLACK - 1, None));
        // Reaching it: everything pending is settled, nothing kept.
        assert_eq!(settle(SLACK - 1, 1), (0, Some(SLACK)));
        assert_eq!(settle(-(SLACK - 1), -5), (0, Some(-SLACK - 4)));
        // A large allocation is settled at once, with the balance before it.
        assert_eq!(settle(10, 1 << 30), (0, Some((1 << 30) + 10)));
        // Sizes near the limit of isize do not wrap.
        assert_eq!(settle(SLACK - 1, isize::MAX), (0, Some(isize::MAX)));
    }

    #[test]
    fn a_large_allocation_is_counted_when_it_is_made() {
        // Other tests allocate meanwhile, each by less than the slack per
        // settlement; 64 MiB stands far above that.
        let before = LIVE.load(Ordering::Relaxed);
        let block: Vec<u8> = std::hint::black_box(Vec::with_capacity(64 << 20));
        let during = LIVE.load(Ordering::Relaxed);
        drop(block);
        let after = LIVE.load(Ordering::Relaxed);
        assert!(during - before > 60 << 20, "counted {} bytes", during - before);
        assert!(during - after > 60 << 20, "uncounted {} bytes", during - after);
    }
}
