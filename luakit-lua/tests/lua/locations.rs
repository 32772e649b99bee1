//! Every script error names the script's file and line — also when it is
//! raised inside a built-in luakit wraps, in C, in Rust, or with a value
//! that is not a message — and never luakit's own internals.

use crate::common::{err, eval, eval_in, opts};

/// (script, the whole error message).
const UNCAUGHT: &[(&str, &str)] = &[
    // Built-ins luakit wraps: the position was luakit's prelude.
    ("local x = 1\nstring.rep('x', 2, {})", "build.lua:2: bad argument #3 to 'rep' (string expected, got table)"),
    ("local s = ('x'):rep(1e10)", "build.lua:1: resulting string too large"),
    ("setmetatable(1, {})", "build.lua:1: bad argument #1 to 'setmetatable' (table expected, got number)"),
    ("\n\ntable.move({}, 1, 2, 1, 5)", "build.lua:3: bad argument #5 to 'move' (table expected, got number)"),
    ("local f = load(nil)", "build.lua:1: bad argument #1 to 'load' (function expected, got nil)"),
    ("math.randomseed({})", "build.lua:1: bad argument #1 to 'randomseed' (number expected, got table)"),
    (
        "print(setmetatable({}, { __tostring = function() return {} end }))",
        "build.lua:1: '__tostring' must return a string",
    ),
    ("for _ in pairs(setmetatable({}, { __pairs = 5 })) do end", "build.lua:1: attempt to call a number value"),
    // Raised in C or Rust without a position.
    ("local t = nil\nfor _ in ipairs(t) do end", "build.lua:2: attempt to index a nil value"),
    ("next({}, 'nope')", "build.lua:1: invalid key to 'next'"),
    (
        "local p = bk.platform('linux/amd64')\nlocal x = p .. {}",
        "build.lua:2: attempt to concatenate a platform with a table value",
    ),
    // error() with something that is not a message, or without a position.
    ("\nerror(nil)", "build.lua:2: (error object is a nil value)"),
    ("error({ code = 1 })", "build.lua:1: (error object is a table value)"),
    ("error(true)", "build.lua:1: (error object is a boolean value)"),
    ("error(42)", "build.lua:1: 42"),
    ("error(setmetatable({}, { __tostring = function() return 'custom failure' end }))", "build.lua:1: custom failure"),
    ("error('no position', 0)", "build.lua:1: no position"),
    ("local function f() error('from f', 2) end\n\nf()", "build.lua:3: from f"),
    ("assert(false, { reason = 'x' })", "build.lua:1: (error object is a table value)"),
    ("assert(nil)", "build.lua:1: assertion failed!"),
    ("local ok, e = pcall(error, { 1 })\nerror(e)", "build.lua:2: (error object is a table value)"),
    // Coroutines.
    (
        "local co = coroutine.create(function()\n  string.rep('x', 1, {})\nend)\nlocal ok, e = coroutine.resume(co)\nerror(e, 0)",
        "build.lua:2: bad argument #3 to 'rep' (string expected, got table)",
    ),
    (
        "local f = coroutine.wrap(function()\n  coroutine.yield(1)\n  error('second')\nend)\nf()\nf()",
        "build.lua:6: build.lua:3: second",
    ),
];

#[test]
fn uncaught_errors_name_the_script_line() {
    let mut wrong = Vec::new();
    for (script, want) in UNCAUGHT {
        let got = err(script);
        if got != *want {
            wrong.push(format!("script: {script}\n  want: {want}\n  got:  {got}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} messages differ:\n{}", wrong.len(), UNCAUGHT.len(), wrong.join("\n"));
}

#[test]
fn caught_errors_name_the_script_line_and_keep_error_values() {
    let ev = eval(
        r#"
local function second(ok, e) assert(not ok) return e end
assert(second(pcall(string.rep, "x", 1, {})) == "build.lua:3: bad argument #3 to 'rep' (string expected, got table)")
assert(second(pcall(setmetatable, 1, {})) == "build.lua:4: bad argument #1 to 'setmetatable' (table expected, got number)")
assert(second(pcall(next, {}, "nope")) == "build.lua:5: invalid key to 'next'")
assert(second(pcall(function() return bk.platform("linux/amd64") .. bk.scratch() end))
  == "build.lua:6: attempt to concatenate a platform with a state value")
-- A value raised with error stays as raised, as in stock Lua.
assert(second(pcall(error, "bare", 0)) == "bare")
assert(second(pcall(error)) == nil)
local t = { code = 7 }
assert(second(pcall(error, t)) == t)
-- xpcall's handler gets the located message.
local ok, e = xpcall(function() string.rep("x", 1, {}) end, function(m) return "handled: " .. m end)
assert(not ok and e == "handled: build.lua:14: bad argument #3 to 'rep' (string expected, got table)", e)
-- an error in the handler is returned, not raised
local ok2, e2 = xpcall(error, function() error("in handler", 0) end, "x")
assert(not ok2 and e2 == "in handler", e2)
-- coroutines
local co = coroutine.create(function() local x = nil .. "x" end)
local ok3, e3 = coroutine.resume(co)
assert(not ok3 and e3 == "build.lua:20: attempt to concatenate a nil value", e3)
local co2 = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
local _, y = coroutine.resume(co2, 1)
local _, z = coroutine.resume(co2, 10)
assert(y == 2 and z == 20)
-- a tail call into a built-in keeps the caller's line
local function make(mt) return setmetatable(1, mt) end
assert(second(pcall(make, {})) == "build.lua:28: bad argument #1 to 'setmetatable' (table expected, got number)")
bk.export(bk.scratch())
"#,
    );
    assert!(ev.is_ok(), "{:?}", ev.err());
}

#[test]
fn errors_in_modules_name_the_module_line() {
    let dir = std::env::temp_dir().join(format!("luakit-lua-locations-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("libs")).expect("mkdir");
    std::fs::write(
        dir.join("libs/rep.lua"),
        "local M = {}\nfunction M.go()\n  return string.rep('x', 1, {})\nend\nreturn M",
    )
    .expect("write");
    std::fs::write(dir.join("libs/top.lua"), "\nerror({})\n").expect("write");
    std::fs::write(dir.join("libs/bom.lua"), "\u{feff}#!/shebang\nreturn 5").expect("write");
    let a = eval_in(&dir, "local m = require('libs.rep')\nm.go()", opts()).expect_err("fails").to_string();
    let b = eval_in(&dir, "\nrequire('libs.top')", opts()).expect_err("fails").to_string();
    let c = eval_in(&dir, "assert(require('libs.bom') == 5)\nbk.export(bk.scratch())", opts());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(a, "libs/rep.lua:3: bad argument #3 to 'rep' (string expected, got table)");
    assert_eq!(b, "libs/top.lua:2: (error object is a table value)");
    assert!(c.is_ok(), "a module with a byte-order mark loads: {:?}", c.err());
}

#[test]
fn internal_names_do_not_leak() {
    let cases = [
        (
            "local s = bk.scratch()\nlocal x = s + 1",
            "build.lua:2: attempt to perform arithmetic on a state value (local 's')",
        ),
        ("local x = bk.image('a') < bk.image('b')", "build.lua:1: attempt to compare two state values"),
        ("local m = bk.cache('/c')\nm.x = 1", "build.lua:2: attempt to index a mount value (local 'm')"),
        (
            "local p = bk.platform('linux/amd64')\nlocal x = p.osx",
            "build.lua:2: platform: a platform has no field 'osx' (its fields are os, arch and variant)",
        ),
        (
            "local p = bk.platform('linux/amd64')\np.os = 'windows'",
            "build.lua:2: platform: cannot set 'os': a platform cannot be changed (make another with bk.platform(os, arch, variant))",
        ),
        (
            "local s = bk.scratch()\ns.dir = '/x'",
            "build.lua:2: state: cannot set 'dir': a state cannot be changed (its methods return new states)",
        ),
        (
            "local x = bk.scratch()[1]",
            "build.lua:1: state: a state has no number index: its methods are named (state:run, state:copy, …)",
        ),
        ("bk[1]()", "build.lua:1: bk[1]: there is no such function in the bk API"),
        ("local f = bk[true]", "build.lua:1: bk[boolean]: there is no such function in the bk API"),
        (
            "bk.image = nil\nbk.image('alpine')",
            "build.lua:1: bk.image: the bk table is read-only: its functions cannot be replaced, removed or added to (keep your own helpers in a local table or a module)",
        ),
        (
            "function bk.helper() end",
            "build.lua:1: bk.helper: the bk table is read-only: its functions cannot be replaced, removed or added to (keep your own helpers in a local table or a module)",
        ),
        (
            "bk.image('a'):run('x', { cwd = bk.platform('linux/amd64') })",
            "build.lua:1: bk.run: option 'cwd' must be a string, got platform",
        ),
        (
            "bk.merge({ bk.scratch(), bk.cache('/c') })",
            "build.lua:1: bk.merge: item 2 of the list must be a state, got mount",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
    // bk can still be read and listed, in name order.
    let ev = eval(
        "local names = {}\nfor k in pairs(bk) do names[#names + 1] = k end\n\
         assert(table.concat(names, ' ') == 'arg bind build_platform cache diff export exported git http https image local local_ merge platform scratch secret ssh target_platform tmpfs', table.concat(names, ' '))\n\
         assert(getmetatable(bk) == false and getmetatable(bk.scratch()) == false)\nbk.export(bk.scratch())",
    );
    assert!(ev.is_ok(), "{:?}", ev.err());
}

#[test]
fn a_byte_order_mark_is_skipped_and_lines_stay_right() {
    let e = eval("\u{feff}local x = 1\n\nbk.image('')").expect_err("fails");
    assert_eq!(e.to_string(), "build.lua:3: bk.image: identifier must not be empty");
    let e = eval("\u{feff}#!/usr/bin/env luakit\nerror('x')").expect_err("fails");
    assert_eq!(e.to_string(), "build.lua:2: x");
    assert!(eval("\u{feff}bk.export(bk.scratch())").is_ok());
    // Only at the very start.
    let e = eval("local x = 1\n\u{feff}").expect_err("fails");
    assert_eq!(e.to_string(), "build.lua:2: unexpected symbol near '<\\239>'");
}

#[test]
fn a_binary_script_is_refused_at_its_first_line() {
    let e = luakit_lua::evaluate("build.lua", b"\x1bLua\x54\x00\x19\x93", &opts()).expect_err("refused");
    assert_eq!(e.to_string(), "build.lua:1: attempt to load a binary chunk (mode is 't')");
    assert_eq!((e.file(), e.line()), (Some("build.lua"), Some(1)));
}
