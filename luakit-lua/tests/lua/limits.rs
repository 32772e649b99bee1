//! Time, memory and recursion limits give clear errors, never a hang or an abort.

use std::time::{Duration, Instant};

use luakit_lua::{EvalOptions, ScriptError};

use crate::common::opts;

fn with_limits(timeout_ms: u64, memory: usize) -> EvalOptions {
    EvalOptions { timeout: Duration::from_millis(timeout_ms), memory_limit: memory, ..opts() }
}

fn eval_with(src: &str, o: &EvalOptions) -> ScriptError {
    luakit_lua::evaluate("build.lua", src.as_bytes(), o).expect_err("must fail")
}

/// Evaluates `src`, which must end with the timeout error; how long it took.
fn time_out(src: &str, o: &EvalOptions) -> Duration {
    let start = Instant::now();
    let e = eval_with(src, o);
    let took = start.elapsed();
    assert!(matches!(e, ScriptError::Timeout { .. }), "{src}: {e:?}");
    took
}

#[test]
fn infinite_loop_times_out() {
    let o = with_limits(300, 64 << 20);
    let start = Instant::now();
    let e = eval_with("while true do end", &o);
    assert!(matches!(e, ScriptError::Timeout { .. }), "{e:?}");
    assert_eq!(e.to_string(), "evaluation timed out after 300ms");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn timeout_cannot_be_caught() {
    let o = with_limits(300, 64 << 20);
    let scripts = [
        "while true do pcall(function() while true do end end) end",
        "while true do xpcall(function() while true do end end, function(e) return e end) end",
        "while true do local co = coroutine.create(function() while true do end end); coroutine.resume(co) end",
        "while true do pcall(string.rep, 'x', 10) end",
    ];
    for s in scripts {
        assert!(time_out(s, &o) < Duration::from_secs(5), "{s}");
    }
}

/// Loops the VM itself must stop at its deadline: the main thread, each
/// way of making a coroutine, coroutines inside coroutines, and the main
/// thread again once a coroutine has ended. The waiting thread gives up on
/// a VM only 2 s after the deadline; an evaluation that ends well before
/// that was stopped by the time limit inside the VM.
#[test]
fn the_vm_stops_itself_at_the_deadline() {
    let o = with_limits(300, 64 << 20);
    let scripts = [
        "while true do end",
        "local i = 0 while true do i = i + 1 end",
        "coroutine.resume(coroutine.create(function() while true do end end))",
        "coroutine.wrap(function() while true do end end)()",
        "coroutine.wrap(function() coroutine.wrap(function() while true do end end)() end)()",
        "coroutine.resume(coroutine.create(function() coroutine.yield() end)) while true do end",
        "local co = coroutine.wrap(function() while true do coroutine.yield() end end) while true do co() end",
        "while true do pcall(coroutine.wrap(function() while true do end end)) end",
        "for _ = 1, 1e12 do local t = {} end",
    ];
    for s in scripts {
        let took = time_out(s, &o);
        assert!(took >= Duration::from_millis(300), "{s}: stopped early, after {took:?}");
        assert!(took < Duration::from_millis(1500), "{s}: not stopped by the VM ({took:?})");
    }
}

/// A program that blocks `SIGURG` (the signal that tells the evaluation
/// its deadline has passed) on its threads still gets its evaluations
/// stopped in time: the evaluation thread unblocks it for itself.
#[test]
#[allow(unsafe_code)] // Blocking a signal for this thread (libc).
fn the_deadline_reaches_an_evaluation_started_with_the_signal_blocked() {
    let handle = std::thread::spawn(|| {
        // SAFETY: a zeroed sigset_t is valid to fill; this changes the mask
        // of this thread only (the evaluation thread inherits it).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGURG);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        time_out("while true do end", &with_limits(300, 64 << 20))
    });
    let took = handle.join().expect("joins");
    assert!(took < Duration::from_millis(1500), "not stopped by the VM ({took:?})");
}

/// Millions of instructions on the main thread and in a coroutine, within
/// the time limit: nothing stops them.
#[test]
fn work_under_the_limit_is_not_stopped() {
    let o = with_limits(10_000, 64 << 20);
    let src = r#"
local n = 0
for i = 1, 2e6 do n = n + i % 7 end
local co = coroutine.wrap(function() for i = 1, 2e6 do n = n + i % 5 end return n end)
assert(co() > 0)
bk.export(bk.scratch():mkfile("/n", tostring(n)))
"#;
    let ev = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    assert!(ev.warnings.is_empty(), "{:?}", ev.warnings);
}

/// The coroutine functions keep the standard messages for a bad argument.
#[test]
fn coroutine_argument_errors_keep_their_messages() {
    let o = with_limits(10_000, 64 << 20);
    for (src, msg) in [
        ("coroutine.create(1)", "build.lua:1: bad argument #1 to 'create' (function expected, got number)"),
        ("coroutine.wrap({})", "build.lua:1: bad argument #1 to 'wrap' (function expected, got table)"),
        ("\ncoroutine.wrap()", "build.lua:2: bad argument #1 to 'wrap' (function expected, got nil)"),
    ] {
        assert_eq!(eval_with(src, &o).to_string(), msg, "{src}");
    }
}

#[test]
fn default_timeout_message() {
    let e = ScriptError::Timeout { limit: Duration::from_secs(30) };
    assert_eq!(e.to_string(), "evaluation timed out after 30s");
}

#[test]
fn allocation_bomb_hits_the_memory_limit() {
    let o = with_limits(10_000, 8 << 20);
    let scripts = [
        "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end",
        "local s = ('x'):rep(64 * 1024 * 1024)",
        "local t = {} while true do t[#t + 1] = {} end",
        // caught memory errors are re-raised
        "local t = {} while true do pcall(function() t[#t + 1] = ('y'):rep(1024 * 1024) .. #t end) end",
    ];
    for s in scripts {
        let e = eval_with(s, &o);
        assert!(matches!(e, ScriptError::MemoryLimit { limit: 8388608 }), "{s}: {e:?}");
        assert_eq!(e.to_string(), "evaluation exceeded the memory limit of 8 MiB");
    }
}

#[test]
fn huge_graphs_count_against_the_memory_limit() {
    let o = with_limits(20_000, 16 << 20);
    let e = eval_with("local s = bk.image('alpine') for i = 1, 1e7 do s = s:run('echo ' .. i) end", &o);
    assert!(matches!(e, ScriptError::MemoryLimit { .. }), "{e:?}");
}

#[test]
fn infinite_recursion_is_a_clear_error() {
    let o = with_limits(10_000, 512 << 20);
    let e = eval_with("local function f(n) return 1 + f(n + 1) end\nf(1)", &o);
    assert!(matches!(e, ScriptError::StackOverflow { .. }), "{e:?}");
    assert!(e.to_string().starts_with("build.lua:1: stack overflow"), "{e}");
    // through metamethods (C stack)
    let e = eval_with("local t = setmetatable({}, { __index = function(t, k) return t[k] end })\nlocal x = t.x", &o);
    assert!(matches!(e, ScriptError::StackOverflow { .. }), "{e:?}");
    // through pcall
    let e = eval_with("local function f() local ok, e = pcall(f) error(e, 0) end\nf()", &o);
    assert!(e.to_string().contains("stack overflow"), "{e}");
}

#[test]
fn recursion_through_require_is_reported() {
    let dir = crate::common::fixtures().join("modules");
    let e = crate::common::eval_in(&dir, "require('libs.cycle_a')", opts()).expect_err("cycle");
    assert_eq!(
        e.to_string(),
        "libs/cycle_b.lua:2: require: circular require: libs/cycle_a.lua -> libs/cycle_b.lua -> libs/cycle_a.lua"
    );
}

#[test]
fn stuck_in_c_still_returns_in_time() {
    // A pattern match that backtracks for seconds inside one C call, where
    // the instruction hook cannot interrupt it.
    let o = with_limits(200, 64 << 20);
    let start = Instant::now();
    let e = eval_with("local s = string.rep('a', 400)\nlocal x = s:find('.-.-.-.-b')\nbk.export(bk.scratch())", &o);
    let took = start.elapsed();
    assert!(matches!(e, ScriptError::Timeout { .. }), "{e:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn empty_string_rep_does_not_spin() {
    let o = with_limits(500, 64 << 20);
    let ev = luakit_lua::evaluate(
        "build.lua",
        b"local s = ('') :rep(1e12) .. string.rep('', 1e12, '')\nbk.export(bk.scratch():mkfile('/x', s))",
        &o,
    );
    assert!(ev.is_ok(), "{:?}", ev.err());
    let e = eval_with("local t = table.move({}, 1, 1e12, 1)", &o);
    assert_eq!(
        e.to_string(),
        "build.lua:1: table.move: a range of more than 16777216 elements is not available in build scripts (sandboxed)"
    );
}

/// An evaluation whose VM is left to the process's exit
/// (`leave_to_exit`) gives the same result, and is limited in time all
/// the same, evaluation after evaluation (each ends its signal watch on
/// its own thread).
#[test]
fn evaluations_left_to_the_exit_give_the_same_result_and_keep_the_limit() {
    let src = r#"
local s = bk.image("alpine:3.19")
for i = 1, 300 do s = s:run("echo " .. i, { env = { N = tostring(i) } }) end
bk.export(s, { cmd = { "sh" } })
"#;
    let left = EvalOptions { leave_to_exit: true, ..opts() };
    let freed = luakit_lua::evaluate("build.lua", src.as_bytes(), &opts()).expect("evaluates");
    for _ in 0..3 {
        let e = luakit_lua::evaluate("build.lua", src.as_bytes(), &left).expect("evaluates");
        let opts = luakit_llb::MarshalOptions::new(e.target_platform.clone());
        assert_eq!(luakit_llb::marshal(&e.state, &opts), luakit_llb::marshal(&freed.state, &opts), "the same graph");
        assert_eq!(e.export, freed.export);
        let took = time_out("while true do end", &EvalOptions { leave_to_exit: true, ..with_limits(200, 64 << 20) });
        assert!(took < Duration::from_secs(2), "stopped after {took:?}");
    }
}
