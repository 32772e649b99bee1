//! Escape attempts: each is refused with a clear message.

use crate::common::{err, eval, eval_in, fixtures, opts};

const EXPORT: &str = "\nbk.export(bk.scratch())";

fn run_ok(src: &str) {
    let full = format!("{src}{EXPORT}");
    if let Err(e) = eval(&full) {
        panic!("script should run:\n{full}\nerror: {e}");
    }
}

#[test]
fn removed_libraries_say_so() {
    let cases = [
        ("os.execute('id')", "build.lua:1: os.execute is not available in build scripts (sandboxed)"),
        ("os.getenv('HOME')", "build.lua:1: os.getenv is not available in build scripts (sandboxed)"),
        ("local t = os.time()", "build.lua:1: os.time is not available in build scripts (sandboxed)"),
        ("io.open('/etc/passwd')", "build.lua:1: io.open is not available in build scripts (sandboxed)"),
        ("io.popen('id')", "build.lua:1: io.popen is not available in build scripts (sandboxed)"),
        ("debug.getinfo(1)", "build.lua:1: debug.getinfo is not available in build scripts (sandboxed)"),
        ("debug.sethook()", "build.lua:1: debug.sethook is not available in build scripts (sandboxed)"),
        ("loadfile('/etc/passwd')", "build.lua:1: loadfile is not available in build scripts (sandboxed)"),
        ("dofile('/etc/passwd')", "build.lua:1: dofile is not available in build scripts (sandboxed)"),
        ("collectgarbage()", "build.lua:1: collectgarbage is not available in build scripts (sandboxed)"),
        (
            "package.loadlib('libc.so.6', 'system')",
            "build.lua:1: package.loadlib is not available in build scripts (sandboxed)",
        ),
        ("local f = string.dump(print)", "build.lua:1: string.dump is not available in build scripts (sandboxed)"),
        ("local f = ('x').dump(print)", "build.lua:1: string.dump is not available in build scripts (sandboxed)"),
        ("os.exit = 1", "build.lua:1: os.exit is not available in build scripts (sandboxed)"),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src}");
    }
}

#[test]
fn only_the_documented_globals_exist() {
    run_ok(
        r#"
local allowed = {}
for _, k in ipairs({ "bk", "require", "print", "assert", "error", "pcall", "xpcall", "ipairs", "pairs",
    "next", "select", "type", "tostring", "tonumber", "rawequal", "rawget", "rawset", "rawlen",
    "setmetatable", "getmetatable", "string", "table", "math", "utf8", "coroutine", "_G", "_VERSION",
    "load", "package", "os", "io", "debug", "loadfile", "dofile", "collectgarbage" }) do
  allowed[k] = true
end
for k in pairs(_G) do
  assert(allowed[k], "unexpected global " .. tostring(k))
end
assert(package.cpath == nil or type(package.cpath) == "function")
assert(warn == nil)
"#,
    );
}

/// The header of a Lua 5.4 binary chunk, built by hand (string.dump is gone).
const BYTECODE: &str = r#""\27Lua\84\0\25\147\13\10\26\10\4\8\8\120\86\0\0\0\0\0\0\0\0\0\0\0\40\119\64\1""#;

#[test]
fn binary_chunks_are_refused_with_the_line() {
    let msg = "load: binary chunks are not available in build scripts (sandboxed)";
    let cases = [
        // a string of bytecode, in every mode that could load it
        format!("local x = 1\nlocal f = load({BYTECODE})"),
        format!("local x = 1\nlocal f = load({BYTECODE}, 'x', 't')"),
        format!("local x = 1\nlocal f = load({BYTECODE}, 'x', 'bt')"),
        format!("local x = 1\nlocal f = load({BYTECODE}, 'x', 'bt', {{}})"),
        // asking for binary mode, whatever the chunk
        "local x = 1\nlocal f = load('return 3', 'chunk', 'b')".to_string(),
        "local x = 1\nlocal f = load(function() return nil end, 'chunk', 'b')".to_string(),
        // a reader whose first piece is bytecode
        "local x = 1\nlocal parts, i = { '\\27Lua\\84\\0', '' }, 0\nlocal h = load(function() i = i + 1; return parts[i] end)"
            .to_string(),
    ];
    for src in &cases {
        let want = if src.contains("parts") { format!("build.lua:3: {msg}") } else { format!("build.lua:2: {msg}") };
        assert_eq!(err(src), want, "{src}");
    }
    // pcall sees the same message, as a string.
    run_ok(&format!(
        "local ok, e = pcall(load, {BYTECODE})\nassert(not ok and e == 'build.lua:1: {msg}', tostring(e))"
    ));
}

#[test]
fn text_chunks_still_load() {
    run_ok(
        r#"
assert(load("return 1 + 1")() == 2)
assert(load("return x", "chunk", "t", { x = 5 })() == 5)
assert(load("return 4", "chunk", "bt")() == 4)
-- a reader function, in pieces (the first one checked, then replayed)
local parts = { "return ", "6", nil }
local i = 0
assert(load(function() i = i + 1; return parts[i] end)() == 6)
-- an empty reader is an empty chunk
assert(load(function() return nil end)() == nil)
-- load's own failures stay nil, message
local f, e = load("return +")
assert(f == nil and e:find("unexpected symbol", 1, true), e)
local g, e2 = load(function() error("reader broke") end)
assert(g == nil and e2:find("reader broke", 1, true), e2)
local h, e3 = load(function() return {} end)
assert(h == nil and e3:find("reader function must return a string", 1, true), e3)
"#,
    );
}

#[test]
fn string_metatable_is_protected() {
    run_ok(
        r#"
assert(getmetatable("") == false, "string metatable is reachable")
local ok, e = pcall(setmetatable, "", {})
assert(not ok)
assert(("abc"):upper() == "ABC")
"#,
    );
    // Changing the string library only changes this script's own VM.
    let a = eval("string.upper = function() return 'hacked' end\nbk.export(bk.scratch())");
    assert!(a.is_ok());
    run_ok("assert(('x'):upper() == 'X')");
}

#[test]
fn gc_metamethods_are_refused() {
    assert_eq!(
        err("setmetatable({}, { __gc = function() while true do end end })"),
        "build.lua:1: setmetatable: __gc metamethods are not available in build scripts (sandboxed)"
    );
}

#[test]
fn require_stays_inside_the_script_directory() {
    let dir = fixtures().join("modules");
    let cases = [
        (
            "require('../x')",
            "build.lua:1: require: module name '../x' leaves the script's directory: require only loads files inside it",
        ),
        (
            "require('libs/../../x')",
            "build.lua:1: require: module name 'libs/../../x' leaves the script's directory: require only loads files inside it",
        ),
        (
            "require('/etc/passwd')",
            "build.lua:1: require: module name '/etc/passwd' is an absolute path: require only loads files inside the script's directory, by a relative name such as \"libs/go\"",
        ),
        (
            "require('..')",
            "build.lua:1: require: module name '..' leaves the script's directory: require only loads files inside it",
        ),
        ("require(42)", "build.lua:1: require: module name must be a string, got number"),
    ];
    for (src, want) in cases {
        let got = eval_in(&dir, src, opts()).expect_err(src).to_string();
        assert_eq!(got, want, "{src}");
    }
}

#[test]
fn symlinks_out_of_the_directory_are_refused() {
    let tmp = std::env::temp_dir().join(format!("luakit-lua-symlink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("dir")).expect("mkdir");
    std::fs::write(tmp.join("secret.lua"), "return 'secret'").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(tmp.join("secret.lua"), tmp.join("dir/leak.lua")).expect("symlink");
    let got = eval_in(&tmp.join("dir"), "require('leak')", opts()).expect_err("refused").to_string();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(
        got,
        "build.lua:1: require: cannot read module 'leak.lua': 'leak.lua' leads outside the script's directory"
    );
}

#[test]
fn random_is_deterministic() {
    let src =
        "bk.export(bk.scratch():mkfile('/r', tostring(math.random(1, 1000000)) .. ' ' .. tostring(math.random())))";
    let a = crate::common::render(&eval(src).expect("runs"));
    math_reseed_does_not_use_the_clock();
    let b = crate::common::render(&eval(src).expect("runs"));
    assert_eq!(a, b);
}

fn math_reseed_does_not_use_the_clock() {
    run_ok(
        "math.randomseed()\nlocal a = math.random(1, 1000000)\nmath.randomseed()\nassert(a == math.random(1, 1000000))",
    );
}

#[test]
fn caught_errors_are_strings() {
    run_ok(
        r#"
local ok, e = pcall(bk.image, "")
assert(not ok and type(e) == "string", type(e))
assert(e == "build.lua:2: bk.image: identifier must not be empty", e)
local ok2, e2 = pcall(function() bk.scratch():run("x", { cdw = "/" }) end)
assert(e2:find("unknown option 'cdw'", 1, true), e2)
local ok3, e3 = xpcall(function() bk.image("") end, function(m) return "handled: " .. m end)
assert(e3 == "handled: build.lua:7: bk.image: identifier must not be empty", e3)
local co = coroutine.create(function() bk.image("") end)
local ok4, e4 = coroutine.resume(co)
assert(not ok4 and type(e4) == "string", type(e4))
"#,
    );
}

#[test]
fn print_goes_to_stderr_and_does_not_fail() {
    run_ok("print('hello from a build script', 1, nil, bk.scratch(), bk.platform('linux', 'arm64'))");
}

#[test]
fn first_hash_line_is_skipped_and_lines_stay_right() {
    let e = eval("# syntax=luakit/frontend\n\nbk.image('')").expect_err("fails");
    assert_eq!(e.to_string(), "build.lua:3: bk.image: identifier must not be empty");
    let e = eval("#!/usr/bin/env luakit\nerror('x')").expect_err("fails");
    assert_eq!(e.to_string(), "build.lua:2: x");
}
