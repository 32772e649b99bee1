//! The time limit of an evaluation, without a hook on every instruction of
//! the main Lua thread.
//!
//! Lua checks its hook before every instruction of a thread that has one,
//! whatever the hook's count: a count hook costs the whole evaluation a
//! call per instruction (about 5% of the evaluation of a 10,000-op build). So:
//! - the main thread runs with no hook until its deadline. The thread that
//!   waits for the evaluation ([`crate::isolated_then_drop`], the test
//!   runner) sends the evaluation thread [`SIGNAL`] at the deadline; the
//!   handler gives the VM that thread is running a count hook of 1
//!   (`lua_sethook` is the one Lua call made to be used from a signal
//!   handler), and the next instruction runs the check;
//! - a coroutine is stopped by nothing the main thread has while it runs,
//!   so each one gets a count hook when it is made ([`create`], [`wrap`]):
//!   coroutines keep the cost of a hook, the main thread does not;
//! - the check ([`TIME_CHECK`], a function of the session in the registry)
//!   raises the timeout when the deadline has passed. When it has not (the
//!   clock was moved on meanwhile), the main thread's hook is taken away
//!   again and the waiter signals at the new deadline.

use std::cell::Cell;
use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

use mlua::ffi;

/// Registry name of the session's check: a function that raises the
/// timeout when the deadline has passed and returns otherwise.
const TIME_CHECK: &CStr = c"luakit.time_check";

/// Registry names of the standard `coroutine.create` and `coroutine.wrap`.
const CREATE: &CStr = c"luakit.coroutine_create";
const WRAP: &CStr = c"luakit.coroutine_wrap";

/// How often (in VM instructions) a coroutine checks the time limit.
const COROUTINE_CHECK_EVERY: c_int = 10_000;

/// The signal that tells an evaluation thread its deadline has passed.
/// `SIGURG` is ignored by default, so a stray one does nothing.
const SIGNAL: c_int = libc::SIGURG;

thread_local! {
    /// The main thread of the VM this thread evaluates (null when none). A
    /// plain cell without destructor: the signal handler reads it.
    static VM: Cell<*mut ffi::lua_State> = const { Cell::new(std::ptr::null_mut()) };
}

/// While alive, signals to this thread give `main` its check (see the
/// module). To be dropped before the VM is closed.
pub(crate) struct Watched {
    previous: *mut ffi::lua_State,
}

impl Watched {
    /// For `lua`, made outside any callback (its current thread is then
    /// the main one). The caller keeps `lua` open while the value lives,
    /// and drops the value on this thread (the session holds both, and
    /// drops this first; a raw pointer keeps the value on its thread).
    pub(crate) fn new(lua: &mlua::Lua) -> Watched {
        install_handler();
        // A thread inherits its signal mask: one that blocks the signal
        // (a program embedding luakit may block it everywhere) would never
        // be told. Unblocked on this thread only.
        // SAFETY: a zeroed sigset_t is valid to fill; these calls only read
        // and change this thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, SIGNAL);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
        let main = crate::raw::Running::current(lua).as_ptr();
        Watched { previous: VM.with(|vm| vm.replace(main)) }
    }
}

/// Installs the time limit in `lua`, before any script (and before the
/// prelude, which wraps the coroutine functions in its own): `time_check`
/// (see [`TIME_CHECK`]) in the registry, and `coroutine.create` and
/// `coroutine.wrap` that give each coroutine its count hook (the standard
/// ones move to the registry, where these call them).
pub(crate) fn install(lua: &mlua::Lua, time_check: mlua::Function) -> mlua::Result<()> {
    let name = |key: &'static CStr| key.to_str().map_err(mlua::Error::external);
    lua.set_named_registry_value(name(TIME_CHECK)?, time_check)?;
    let coroutine: mlua::Table = lua.globals().get("coroutine")?;
    let functions: [(&str, &'static CStr, ffi::lua_CFunction); 2] = [("create", CREATE, create), ("wrap", WRAP, wrap)];
    for (field, key, f) in functions {
        lua.set_named_registry_value(name(key)?, coroutine.get::<mlua::Value>(field)?)?;
        // SAFETY: both are Lua C functions; what they call was just put in
        // the registry.
        coroutine.set(field, unsafe { lua.create_c_function(f) }?)?;
    }
    Ok(())
}

impl Drop for Watched {
    fn drop(&mut self) {
        VM.with(|vm| vm.set(self.previous));
    }
}

/// The hook: runs the check; on the main thread, takes itself away when
/// the check passes. A coroutine keeps its count hook.
///
/// # Safety
/// A Lua hook, for a VM whose registry has [`TIME_CHECK`].
unsafe extern "C-unwind" fn check(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    // SAFETY: a hook has LUA_MINSTACK free slots; the check is a function
    // (the session set it before any script ran). When it raises, the
    // error leaves through this frame, which holds no Rust value.
    unsafe {
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, TIME_CHECK.as_ptr());
        ffi::lua_call(state, 0, 0);
        let main = ffi::lua_pushthread(state) == 1;
        ffi::lua_pop(state, 1);
        if main {
            ffi::lua_sethook(state, None, 0, 0);
        }
    }
}

/// Calls the standard function the registry holds under `key` with the
/// function argument, leaving its result on top, and gives the coroutine
/// it made its count hook: the result itself, or (`upvalue`) the first
/// upvalue of the function it returned.
///
/// # Safety
/// Called from a Lua C function, for a VM whose registry has `key` and
/// [`TIME_CHECK`]. The argument is checked as the standard function checks
/// it (same message: the caller is called under the same name). No Rust
/// value is alive when the check or the call raises.
unsafe fn standard_then_watch(state: *mut ffi::lua_State, key: &CStr, upvalue: bool) -> c_int {
    // SAFETY: see above; `lua_getupvalue` on a C closure pushes its upvalue
    // (or nothing, returning null, when it has none).
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TFUNCTION);
        ffi::lua_settop(state, 1);
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, key.as_ptr());
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, 1, 1);
        let pushed = upvalue && !ffi::lua_getupvalue(state, -1, 1).is_null();
        if ffi::lua_type(state, -1) == ffi::LUA_TTHREAD {
            let co = ffi::lua_tothread(state, -1);
            ffi::lua_sethook(co, Some(check), ffi::LUA_MASKCOUNT, COROUTINE_CHECK_EVERY);
        }
        if pushed {
            ffi::lua_pop(state, 1);
        }
    }
    1
}

/// `coroutine.create`: the standard one, and the new coroutine gets its
/// count hook.
///
/// # Safety
/// A Lua C function, for a VM whose registry has [`CREATE`].
pub(crate) unsafe extern "C-unwind" fn create(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: see `standard_then_watch`.
    unsafe { standard_then_watch(state, CREATE, false) }
}

/// `coroutine.wrap`: the standard one, and the coroutine inside the
/// function it makes (that function's first upvalue) gets its count hook.
///
/// # Safety
/// A Lua C function, for a VM whose registry has [`WRAP`].
pub(crate) unsafe extern "C-unwind" fn wrap(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: see `standard_then_watch`.
    unsafe { standard_then_watch(state, WRAP, true) }
}

/// Tells `thread` (an evaluation thread) that its deadline has passed.
pub(crate) fn signal(thread: &std::thread::JoinHandle<()>) {
    use std::os::unix::thread::JoinHandleExt as _;
    // SAFETY: the handle is not joined, so its thread id stays valid (a
    // thread that has ended is told nothing).
    unsafe {
        libc::pthread_kill(thread.as_pthread_t(), SIGNAL);
    }
}

/// What [`SIGNAL`] did before this module handled it (called for signals
/// that reach a thread evaluating nothing).
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

fn install_handler() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: a zeroed sigaction is a valid value; the handler below
        // only reads a thread-local cell and makes the calls allowed in a
        // signal handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(SIGNAL, &action, &mut previous);
            previous
        }
    });
}

extern "C" fn on_signal(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let vm = VM.try_with(Cell::get).unwrap_or(std::ptr::null_mut());
    if !vm.is_null() {
        // SAFETY: `vm` is open (see `Watched`); Lua allows `lua_sethook`
        // in a signal handler that interrupts the VM.
        unsafe { ffi::lua_sethook(vm, Some(check), ffi::LUA_MASKCOUNT, 1) };
        return;
    }
    let Some(previous) = PREVIOUS.get() else { return };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        return;
    }
    // SAFETY: the previous handler was installed for this signal, with the
    // signature its flags say.
    unsafe {
        if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = std::mem::transmute(handler);
            f(signal, info, context);
        } else {
            let f: extern "C" fn(c_int) = std::mem::transmute(handler);
            f(signal);
        }
    }
}
