//! Properties of the evaluator, on generated scripts: calls of the `bk`
//! API and of the built-ins with arbitrary values (strings of any bytes,
//! odd numbers, tables, states, mounts, platforms, nil), `error` with
//! anything, caught errors, coroutines. Whatever the script does:
//! - evaluation returns (never panics, never an internal error);
//! - an error names `build.lua` and a line of the script (only the limits
//!   and a missing export have no line);
//! - what reaches the graph is text: no NUL, no U+FFFD the script did not write.
//!
//! Fixed seed and a bounded number of cases: reproducible, and seconds long.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use luakit_llb::{MarshalOptions, decode, encode, inspect, marshal};
use luakit_lua::{EvalOptions, ScriptError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use crate::common::opts;

/// A fixed seed and `cases` cases, unless `PROPTEST_RNG_SEED` or
/// `PROPTEST_CASES` ask for others (for a longer run by hand).
fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(0x6c75_616b_6974_6576)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

/// A Lua string literal holding `bytes` exactly.
fn literal(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\{b:03}")),
        }
    }
    s.push('"');
    s
}

/// A Lua expression of a simple value.
fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| literal(&b)),
        3 => "[a-z/._-]{1,10}".prop_map(|s| literal(s.as_bytes())),
        6 => prop::sample::select(vec![
            "nil", "true", "false", "0", "-1", "1.5", "2^53", "math.huge", "-math.huge", "0/0", "493", "\"0755\"",
            "{}", "bk.scratch()", "bk.image(\"alpine\")", "bk.platform(\"linux/arm64\")", "bk.cache(\"/c\")",
            "bk.tmpfs(\"/t\")", "function() end", "coroutine.create(function() end)", "\"linux/amd64\"",
            "\"/app\"", "\"alpine:3.19\"", "\"https://example.com/f\"", "\"make\"", "string.rep(\"x\", 300)",
            "{ \"/bin/sh\", \"-c\", \"true\" }", "{ A = \"1\" }", "{ \"A=1\" }", "{ nofile = 10 }", "{ 0, 1 }",
            "{ id = \"x\" }", "{ mode = \"0644\" }", "setmetatable({}, { __tostring = function() return \"t\" end })",
        ])
        .prop_map(str::to_string),
    ]
}

/// A Lua expression of some value: mostly simple ones, some tables of them.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => leaf(),
        1 => prop::collection::vec(leaf(), 0..3).prop_map(|v| format!("{{ {} }}", v.join(", "))),
        1 => prop::collection::vec(("[a-z_]{1,8}", leaf()), 0..3).prop_map(|kv| {
            let fields: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
            format!("{{ {} }}", fields.join(", "))
        }),
    ]
}

/// A statement using values («A», «B» and «C»: placeholders no value holds).
fn statement() -> impl Strategy<Value = String> {
    let templates = prop::sample::select(vec![
        "local x = bk.image(«A», «B»)",
        "local x = bk.local_(«A», «B»)",
        "local x = bk.git(«A», «B»)",
        "local x = bk.http(«A», «B»)",
        "local x = bk.merge(«A», «B», «C»)",
        "local x = bk.diff(«A», «B»)",
        "local x = bk.cache(«A», «B»)",
        "local x = bk.secret(«A», «B»)",
        "local x = bk.ssh(«A»)",
        "local x = bk.tmpfs(«A», «B»)",
        "local x = bk.bind(«A», «B», «C»)",
        "local x = bk.platform(«A», «B», «C»)",
        "local x = bk.arg(«A», «B»)",
        "local x = s:run(«A», «B»)",
        "local x = s:run({ \"sh\", «A» }, { cwd = «B», env = «C» })",
        "local x = s:run(\"make\", { mounts = { «A» }, ulimits = «B», valid_exit_codes = «C» })",
        "local x = s:copy(«A», «B», «C»)",
        "local x = s:mkdir(«A», { mode = «B», owner = «C» })",
        "local x = s:mkfile(«A», «B», { mode = «C» })",
        "local x = s:rm(«A», «B»)",
        "local x = s:symlink(«A», «B», «C»)",
        "local x = s:with_env(«A», «B»)",
        "local x = s:with_workdir(«A»)",
        "local x = s:with_user(«A»)",
        "local x = s:with_metadata(«A»)",
        "local x = s:run(\"x\"):output(«A»)",
        "local x = s:get_env(«A»)",
        "bk.export(«A», «B»)",
        "bk.export(s, { env = «A», labels = «B», os = «C» })",
        "bk.export(s, { entrypoint = «A», cmd = «B», expose = «C» })",
        "bk.export(s, { healthcheck = «A», stop_signal = «B», arch = «C» })",
        "error(«A»)",
        "error(«A», 0)",
        "assert(«A», «B»)",
        "local ok, e = pcall(bk.image, «A») assert(ok or type(e) == \"string\" or e == «A»)",
        "local ok, e = pcall(error, «A») error(e, 0)",
        "local x = string.rep(«A», «B», «C»)",
        "local x = setmetatable(«A», «B»)",
        "local x = table.move(«A», «B», «C», 1, {})",
        "local x = next(«A», «B»)",
        "for _ in ipairs(«A») do end",
        "for _ in pairs(«A») do end",
        "local x = tostring(«A») .. tostring(«B»)",
        "local x = «A» .. «B»",
        "local x = «A» + «B»",
        "local x = «A» < «B»",
        "local x = («A»)[«B»]",
        "local t = «A» t[«B»] = «C»",
        "local x = load(«A»)",
        "local x = select(«A», «B», «C»)",
        "local x = coroutine.wrap(function() return «A» .. «B» end)()",
        "local co = coroutine.create(function(v) error(v) end) local ok, e = coroutine.resume(co, «A») error(e, 0)",
        "local x = (\"%d\"):format(«A»)",
        "local x = math.floor(«A»)",
        "local x = require(«A»)",
        "bk.image = «A»",
        "local x = bk[«A»]",
        "local x = («A»).os",
        "s = «A»",
    ]);
    (templates, value(), value(), value())
        .prop_map(|(t, a, b, c)| t.replace("«A»", &a).replace("«B»", &b).replace("«C»", &c))
}

fn script() -> impl Strategy<Value = String> {
    (prop::collection::vec(statement(), 1..6), any::<bool>()).prop_map(|(stmts, export)| {
        let mut s = String::from("local s = bk.image(\"alpine\")\n");
        for st in stmts {
            s.push_str(&st);
            s.push('\n');
        }
        if export {
            s.push_str("bk.export(s)\n");
        }
        s
    })
}

/// Whether a `{:?}` rendering of graph values holds a NUL character (Debug
/// writes it `\0`; every backslash there starts an escape).
fn debug_has_nul(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next() == Some('0') {
            return true;
        }
    }
    false
}

fn check(src: &str, o: &EvalOptions) -> Result<(), TestCaseError> {
    let lines = src.lines().count() as u32;
    let outcome = catch_unwind(AssertUnwindSafe(|| luakit_lua::evaluate("build.lua", src.as_bytes(), o)));
    let Ok(result) = outcome else {
        return Err(TestCaseError::fail(format!("evaluation panicked on:\n{src}")));
    };
    match result {
        Ok(ev) => {
            let def = marshal(&ev.state, &MarshalOptions::new(o.target_platform.clone()));
            let Ok(def) = def else { return Ok(()) };
            let bytes = encode(&def);
            let decoded = decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let ins = inspect(&decoded).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let graph = format!("{:?}{:?}", ins.ops, ev.export);
            prop_assert!(!debug_has_nul(&graph), "a NUL reached the graph:\n{}", src);
            if graph.contains('\u{fffd}') {
                prop_assert!(src.contains('\u{fffd}'), "U+FFFD reached the graph:\n{}", src);
            }
        }
        Err(ScriptError::Timeout { .. } | ScriptError::MemoryLimit { .. }) => {}
        Err(e @ ScriptError::NoExport { .. }) => {
            prop_assert_eq!(e.to_string(), "build.lua: no bk.export() call — nothing to build");
        }
        Err(e @ ScriptError::Internal(_)) => {
            return Err(TestCaseError::fail(format!("internal error {e} on:\n{src}")));
        }
        Err(e) => {
            let text = e.to_string();
            let line = e.line();
            prop_assert_eq!(e.file(), Some("build.lua"), "no file in {:?} for:\n{}", text, src);
            prop_assert!(line.is_some_and(|l| (1..=lines).contains(&l)), "no line in {:?} for:\n{}", text, src);
            let prefix = format!("build.lua:{}: ", line.unwrap_or_default());
            // (`error("")` leaves only the position.)
            let located = text.starts_with(&prefix) || text == prefix.trim_end();
            prop_assert!(located, "{:?} does not start with {:?} for:\n{}", text, prefix, src);
            prop_assert!(!text.contains("luakit:"), "{:?} names luakit's prelude for:\n{}", text, src);
            for internal in ["LState", "LPlatform", "LMount", "Integer(", "setmetatable_", "rawload"] {
                prop_assert!(!text.contains(internal), "{:?} names {} for:\n{}", text, internal, src);
            }
        }
    }
    Ok(())
}

#[test]
fn generated_scripts_never_panic_and_errors_name_a_script_line() {
    let o = EvalOptions { timeout: Duration::from_secs(2), memory_limit: 64 << 20, ..opts() };
    proptest!(config(256), |(src in script())| {
        check(&src, &o)?;
    });
}

#[test]
fn scripts_of_arbitrary_bytes_never_panic() {
    let o = EvalOptions { timeout: Duration::from_secs(2), memory_limit: 64 << 20, ..opts() };
    proptest!(config(256), |(bytes in prop::collection::vec(any::<u8>(), 0..64))| {
        let outcome = catch_unwind(AssertUnwindSafe(|| luakit_lua::evaluate("build.lua", &bytes, &o)));
        prop_assert!(outcome.is_ok(), "panicked");
        if let Ok(Err(e)) = outcome {
            prop_assert!(!matches!(e, ScriptError::Internal(_)), "{}", e);
            prop_assert!(e.to_string().starts_with("build.lua"), "{}", e);
        }
    });
}
