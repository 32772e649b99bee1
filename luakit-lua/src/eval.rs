//! One evaluation: the sandboxed Lua VM, its limits, running the script
//! and turning what it did (or how it failed) into Rust values.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use luakit_graph::SourceFile;
use mlua::chunk::ChunkMode;
use mlua::{Lua, LuaOptions, StdLib, Value};

use crate::ctx::{Ctx, api, with_ctx};
use crate::error::{Fault, ScriptError, find_fault, innermost, script_message, split_location, strip_traceback};
use crate::interrupt::{self, Watched};
use crate::opts::{Fail, shown, text, type_name};
use crate::{Clock, EvalOptions, Evaluation};

const PRELUDE: &str = include_str!("prelude.lua");

/// The prelude compiled (Lua 5.4 bytecode, with its debug information:
/// chunk name `=luakit` and lines, which error messages use). Loading it
/// skips parsing the prelude at every start, a sixth of an empty script's
/// run. The test `prelude_bytecode_is_the_prelude_compiled` keeps it in
/// step with `prelude.lua` (`LUAKIT_WRITE_PRELUDE=1` rewrites it).
const PRELUDE_BYTECODE: &[u8] = include_bytes!("prelude.luac");

/// The prelude as a function: from its bytecode, or from its text when
/// this Lua cannot load that bytecode (another Lua release).
fn load_prelude(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.load(PRELUDE_BYTECODE)
        .set_name("=luakit")
        .set_mode(ChunkMode::Binary)
        .into_function()
        .or_else(|_| compile_prelude(lua))
}

/// The prelude compiled from its text.
fn compile_prelude(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.load(PRELUDE).set_name("=luakit").set_mode(ChunkMode::Text).into_function()
}

/// Globals a script may see (docs/api.md, "12.1 Globals"), plus the stubs that explain
/// what was removed.
const ALLOWED_GLOBALS: &[&str] = &[
    "bk",
    "require",
    "print",
    "assert",
    "error",
    "pcall",
    "xpcall",
    "ipairs",
    "pairs",
    "next",
    "select",
    "type",
    "tostring",
    "tonumber",
    "rawequal",
    "rawget",
    "rawset",
    "rawlen",
    "setmetatable",
    "getmetatable",
    "string",
    "table",
    "math",
    "utf8",
    "coroutine",
    "_G",
    "_VERSION",
    "load",
    "package",
    "os",
    "io",
    "debug",
    "loadfile",
    "dofile",
    "collectgarbage",
];

/// Registry names of the original `xpcall` and of the handler of errors
/// the script does not catch.
const XPCALL: &str = "luakit.xpcall";
const UNCAUGHT: &str = "luakit.uncaught";

/// A sandboxed Lua VM with the `bk` API installed.
pub(crate) struct Session {
    /// First, so that it is dropped before the VM is closed.
    _watched: Watched,
    pub lua: Lua,
    timed_out: Arc<AtomicBool>,
    deadline: Clock,
    timeout: Duration,
    memory_limit: usize,
}

/// A session whose evaluation is over, on its way out: dropped, it frees
/// the VM, or leaves it for the process's exit.
pub(crate) struct Spent {
    session: Option<Session>,
    free: bool,
}

impl Spent {
    pub(crate) fn new(session: Session, free: bool) -> Self {
        Spent { session: Some(session), free }
    }
}

impl Drop for Spent {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else { return };
        if self.free {
            drop(session);
        } else {
            // The signal watch ends here, on the VM's thread, as it must;
            // the VM is never closed.
            let Session { _watched, lua, .. } = session;
            drop(_watched);
            std::mem::forget(lua);
        }
    }
}

fn internal(e: mlua::Error) -> ScriptError {
    ScriptError::Internal(e.to_string())
}

/// The script's text as stock Lua reads a file: without a UTF-8 byte-order
/// mark, and with a first line starting with `#` blanked (the line count
/// stays the same, so line numbers stay right).
pub(crate) fn skip_hash_line(source: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let source = source.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(source);
    if source.first() == Some(&b'#') {
        let end = source.iter().position(|&b| b == b'\n').unwrap_or(source.len());
        let mut out = Vec::with_capacity(source.len());
        out.extend_from_slice(&source[end..]);
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(source)
    }
}

impl Session {
    pub(crate) fn new(opts: &EvalOptions, test_mode: bool, clock: Clock) -> Result<Session, ScriptError> {
        let libs = StdLib::STRING | StdLib::TABLE | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE;
        let lua = Lua::new_with(libs, LuaOptions::new()).map_err(internal)?;
        lua.set_app_data(Ctx {
            opts: opts.clone(),
            files: HashMap::new(),
            last_file: None,
            module_paths: HashMap::new(),
            resolved: HashMap::new(),
            exports: Vec::new(),
            warnings: Vec::new(),
            test_mode,
            graph_bytes: 0,
            clock: clock.clone(),
        });
        // The time limit (see `interrupt`), installed before the prelude.
        let timed_out = Arc::new(AtomicBool::new(false));
        let time_check = {
            let (flag, deadline, limit) = (timed_out.clone(), clock.clone(), opts.timeout);
            lua.create_function(move |_, ()| {
                let due = *deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if flag.load(Ordering::Relaxed) || Instant::now() >= due {
                    flag.store(true, Ordering::Relaxed);
                    return Err(mlua::Error::external(Fault::Timeout(limit)));
                }
                Ok(())
            })
            .map_err(internal)?
        };
        interrupt::install(&lua, time_check).map_err(internal)?;
        let watched = Watched::new(&lua);
        let session = Session {
            _watched: watched,
            lua,
            timed_out,
            deadline: clock,
            timeout: opts.timeout,
            memory_limit: opts.memory_limit,
        };
        session.install().map_err(internal)?;
        session.lua.set_memory_limit(opts.memory_limit).map_err(internal)?;
        Ok(session)
    }

    /// Restarts the clock (for each test function of `luakit test`).
    pub(crate) fn reset_clock(&self) {
        *self.deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now() + self.timeout;
        self.timed_out.store(false, Ordering::Relaxed);
    }

    fn install(&self) -> mlua::Result<()> {
        let lua = &self.lua;
        let g = lua.globals();
        let limit = self.memory_limit;
        let errmsg = lua.create_function(move |lua, v: Value| -> mlua::Result<Value> {
            match &v {
                Value::Error(e) => {
                    if find_fault(e).is_some_and(Fault::is_fatal) {
                        return Err((**e).clone());
                    }
                    if matches!(innermost(e), mlua::Error::MemoryError(_)) {
                        return Err(mlua::Error::external(Fault::Memory(limit)));
                    }
                    Ok(Value::String(lua.create_string(script_message(e))?))
                }
                Value::String(s) if s.as_bytes().as_ref() == b"not enough memory" => {
                    Err(mlua::Error::external(Fault::Memory(limit)))
                }
                _ => Ok(v),
            }
        })?;
        let is_fatal = lua.create_function(|_, v: Value| {
            Ok(match &v {
                Value::Error(e) => {
                    find_fault(e).is_some_and(Fault::is_fatal) || matches!(innermost(e), mlua::Error::MemoryError(_))
                }
                Value::String(s) => s.as_bytes().as_ref() == b"not enough memory",
                _ => false,
            })
        })?;
        let write_stderr = lua.create_function(|_, s: mlua::LuaString| {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&s.as_bytes());
            let _ = err.flush();
            Ok(())
        })?;
        let module_path = lua.create_function(module_path)?;
        let module_load = lua.create_function(module_load)?;
        let raise = lua.create_function(|lua, (function, message): (String, String)| -> mlua::Result<()> {
            Err(crate::ctx::api_error(lua, &function, message))
        })?;
        let bk = crate::api::bk_table(lua)?;
        let locate = crate::frames::handler(lua, crate::frames::Mode::Caught)?;
        lua.set_named_registry_value(XPCALL, g.get::<Value>("xpcall")?)?;
        lua.set_named_registry_value(UNCAUGHT, crate::frames::handler(lua, crate::frames::Mode::Uncaught)?)?;
        let prelude = load_prelude(lua)?;
        prelude.call::<()>((
            g.get::<Value>("pcall")?,
            g.get::<Value>("xpcall")?,
            g.get::<Value>("load")?,
            g.get::<Value>("setmetatable")?,
            g.get::<Value>("getmetatable")?,
            errmsg,
            is_fatal,
            write_stderr,
            module_path,
            module_load,
            raise,
            bk,
            locate,
        ))?;
        crate::builtins::install(lua)?;
        let mut remove = Vec::new();
        for pair in g.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let keep = matches!(&k, Value::String(s) if ALLOWED_GLOBALS.contains(&shown(s).as_str()));
            if !keep {
                remove.push(k);
            }
        }
        for k in remove {
            g.raw_set(k, Value::Nil)?;
        }
        Ok(())
    }

    /// Registers a script file for source maps and error locations.
    pub(crate) fn add_file(&self, name: &str, data: &[u8]) -> Result<(), ScriptError> {
        let file = Arc::new(SourceFile { filename: name.to_string(), data: data.to_vec(), language: String::new() });
        with_ctx(&self.lua, |c| {
            c.files.insert(name.to_string(), file);
            c.last_file = None;
        })
        .map_err(|_| ScriptError::Internal("no evaluation context".to_string()))
    }

    /// Runs a script file (already registered with [`Session::add_file`]).
    pub(crate) fn run_file(&self, name: &str, source: &[u8]) -> Result<(), ScriptError> {
        let chunk = compile(&self.lua, name, source).map_err(|e| match self.map_error(e) {
            // Lua gives no position when it refuses the whole file
            // (a binary chunk): the file's first line is the place.
            ScriptError::Syntax { line: None, message, .. } => {
                ScriptError::Syntax { file: name.to_string(), line: Some(1), message: format!("{name}:1: {message}") }
            }
            other => other,
        })?;
        self.reset_clock();
        self.call(&chunk)
    }

    /// Calls a function of the script (its main chunk, a test function)
    /// under the message handler that gives every error its script
    /// position ([`crate::frames`]).
    pub(crate) fn call(&self, f: &mlua::Function) -> Result<(), ScriptError> {
        let xpcall: mlua::Function = self.lua.named_registry_value(XPCALL).map_err(internal)?;
        let handler: mlua::Function = self.lua.named_registry_value(UNCAUGHT).map_err(internal)?;
        let out = xpcall.call::<mlua::MultiValue>((f.clone(), handler)).map_err(|e| self.map_error(e))?;
        let mut values = out.into_iter();
        match (values.next(), values.next()) {
            (Some(Value::Boolean(true)), _) => Ok(()),
            (_, Some(Value::Error(e))) => Err(self.map_error(*e)),
            (_, Some(Value::String(s))) => Err(self.map_error(mlua::Error::RuntimeError(shown(&s)))),
            (_, other) => Err(self.map_error(mlua::Error::RuntimeError(format!(
                "(error object is a {} value)",
                type_name(&other.unwrap_or(Value::Nil))
            )))),
        }
    }

    /// Turns an error out of the VM into a [`ScriptError`].
    pub(crate) fn map_error(&self, err: mlua::Error) -> ScriptError {
        if self.timed_out.load(Ordering::Relaxed) {
            return ScriptError::Timeout { limit: self.timeout };
        }
        if let Some(f) = find_fault(&err) {
            return match f.clone() {
                Fault::Api { file, line, function, message } => ScriptError::Api { file, line, function, message },
                f @ Fault::ApiNoLine { .. } => ScriptError::Lua { file: None, line: None, message: f.to_string() },
                Fault::Timeout(limit) => ScriptError::Timeout { limit },
                Fault::Memory(limit) => ScriptError::MemoryLimit { limit },
            };
        }
        match innermost(&err) {
            mlua::Error::MemoryError(_) => ScriptError::MemoryLimit { limit: self.memory_limit },
            mlua::Error::SyntaxError { message, .. } => {
                let loc = split_location(message);
                ScriptError::Syntax {
                    file: loc.as_ref().map(|(f, _)| f.clone()).unwrap_or_default(),
                    line: loc.map(|(_, l)| l),
                    message: message.clone(),
                }
            }
            mlua::Error::RuntimeError(m) => {
                let m = strip_traceback(m);
                if m == "not enough memory" {
                    return ScriptError::MemoryLimit { limit: self.memory_limit };
                }
                let loc = split_location(m);
                if m.ends_with("stack overflow") || m.contains("stack overflow (") || m.ends_with("C stack overflow") {
                    return ScriptError::StackOverflow {
                        file: loc.as_ref().map(|(f, _)| f.clone()),
                        line: loc.map(|(_, l)| l),
                    };
                }
                ScriptError::Lua {
                    file: loc.as_ref().map(|(f, _)| f.clone()),
                    line: loc.map(|(_, l)| l),
                    message: m.to_string(),
                }
            }
            mlua::Error::StackError => ScriptError::StackOverflow { file: None, line: None },
            other => {
                let m = strip_traceback(&other.to_string()).to_string();
                let loc = split_location(&m);
                ScriptError::Lua { file: loc.as_ref().map(|(f, _)| f.clone()), line: loc.map(|(_, l)| l), message: m }
            }
        }
    }

    /// What the script exported, as an [`Evaluation`].
    /// What the script exported. The VM stays with the session, so that the
    /// caller decides when (and on which thread) it is torn down.
    pub(crate) fn finish(&self, main: &str) -> Result<Evaluation, ScriptError> {
        let mut ctx = self
            .lua
            .remove_app_data::<Ctx>()
            .ok_or_else(|| ScriptError::Internal("no evaluation context".to_string()))?;
        let targets: Vec<String> = ctx.exports.iter().filter_map(|e| e.target.clone()).collect();
        let index = crate::targets::select(main, &ctx.exports, ctx.opts.target.as_deref())?;
        let export = ctx.exports.swap_remove(index);
        Ok(Evaluation {
            state: export.state.state,
            export: export.options,
            base_config: export.state.base_config.map(|c| (*c).clone()),
            target_platform: ctx.opts.target_platform,
            target: export.target,
            targets,
            warnings: ctx.warnings,
        })
    }
}

/// Compiles a script file (the main script or a module), explaining the
/// syntax errors Lua's own words leave puzzling.
fn compile(lua: &Lua, name: &str, source: &[u8]) -> mlua::Result<mlua::Function> {
    let text = skip_hash_line(source);
    lua.load(text.as_ref()).set_name(format!("@{name}")).set_mode(ChunkMode::Text).into_function().map_err(
        |e| match e {
            mlua::Error::SyntaxError { message, incomplete_input } => {
                mlua::Error::SyntaxError { message: explain_syntax(message, source), incomplete_input }
            }
            other => other,
        },
    )
}

/// `bk.local("context")` does not parse (`local` is a keyword): Lua says
/// `<name> expected near 'local'`; say what to write instead.
fn explain_syntax(message: String, source: &[u8]) -> String {
    let Some((file, line)) = split_location(&message) else { return message };
    if !message.ends_with("<name> expected near 'local'") || !crate::locate::indexes_bk_local(source, line) {
        return message;
    }
    let args = crate::locate::local_call_args(source, line).unwrap_or_else(|| "…".to_string());
    format!(
        "{file}:{line}: bk.local({args}) is not valid Lua, because local is a keyword: use bk.local_({args}) or bk[\"local\"]({args})"
    )
}

/// Checks a module name and turns it into a path without extension:
/// `libs/go` and `libs.go` give `libs/go`.
pub(crate) fn module_base(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("module name must not be empty".to_string());
    }
    // Shown with control characters escaped: a NUL or a newline in a name
    // must not reach the terminal raw.
    let shown = name.escape_debug();
    if name.contains('\0') {
        return Err(format!("module name '{shown}' contains a NUL byte, which no file name can"));
    }
    if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':') {
        return Err(format!(
            "module name '{shown}' is an absolute path: require only loads files inside the script's directory, by a relative name such as \"libs/go\""
        ));
    }
    if name.contains('\\') {
        return Err(format!("module name '{shown}' must use '/' as its separator"));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(format!("module name '{shown}' leaves the script's directory: require only loads files inside it"));
    }
    let trimmed = name.strip_suffix(".lua").unwrap_or(name);
    let slashed = trimmed.contains('/');
    let parts: Vec<&str> = if slashed { trimmed.split('/').collect() } else { trimmed.split('.').collect() };
    let mut out = Vec::new();
    for p in parts {
        match p {
            ".." => {
                return Err(format!(
                    "module name '{shown}' leaves the script's directory: require only loads files inside it"
                ));
            }
            "" | "." if slashed => {}
            "" => return Err(format!("module name '{shown}' is not a valid module name")),
            p => out.push(p),
        }
    }
    if out.is_empty() {
        return Err(format!("module name '{shown}' is not a valid module name"));
    }
    Ok(out.join("/"))
}

/// `require`'s first step: finds the module's file and registers it.
fn module_path(lua: &Lua, name: Value) -> mlua::Result<String> {
    api(lua, "require", || {
        let name = match &name {
            Value::String(s) => {
                // A NUL is named with the module name (escaped), as the
                // other mistakes in a module name are.
                let bytes = s.as_bytes();
                if bytes.contains(&0) {
                    module_base(&String::from_utf8_lossy(&bytes))?;
                }
                text(s).map_err(|m| Fail::Msg(format!("module name {m}")))?
            }
            other => return Err(format!("module name must be a string, got {}", type_name(other)).into()),
        };
        if let Some(p) = with_ctx(lua, |c| c.module_paths.get(&name).cloned())? {
            return Ok(p);
        }
        let base = module_base(&name)?;
        let candidates = [format!("{base}.lua"), format!("{base}/init.lua")];
        let loader = with_ctx(lua, |c| c.opts.loader.clone())?;
        for path in &candidates {
            match crate::ctx::off_the_clock(lua, || loader.load(path)) {
                Ok(Some(bytes)) => {
                    let file = Arc::new(SourceFile { filename: path.clone(), data: bytes, language: String::new() });
                    with_ctx(lua, |c| {
                        c.files.entry(path.clone()).or_insert(file);
                        c.module_paths.insert(name.clone(), path.clone());
                    })?;
                    return Ok(path.clone());
                }
                Ok(None) => {}
                Err(e) => return Err(Fail::Msg(format!("cannot read module '{}': {e}", path.escape_debug()))),
            }
        }
        let listed = crate::ctx::off_the_clock(lua, || loader.list());
        let hint = match nearest_module(&name, &base, &listed) {
            Some(m) => format!("; did you mean '{m}'?"),
            None => String::new(),
        };
        Err(format!(
            "module '{}' not found (searched {}, relative to the script's directory{hint})",
            name.escape_debug(),
            candidates.join(" and ").escape_debug()
        )
        .into())
    })
}

/// The module among `files` (paths of `.lua` files) nearest to the one
/// `require(name)` did not find (`base`: its path without extension), in
/// the style `name` is written in (`libs.go` or `libs/go`).
pub(crate) fn nearest_module(name: &str, base: &str, files: &[String]) -> Option<String> {
    let mut modules: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_suffix(".lua"))
        .map(|m| m.strip_suffix("/init").unwrap_or(m).to_string())
        .filter(|m| !m.is_empty() && m != base)
        .collect();
    modules.sort();
    modules.dedup();
    let refs: Vec<&str> = modules.iter().map(String::as_str).collect();
    let last = |m: &str| m.rsplit('/').next().unwrap_or(m).to_string();
    let found = crate::opts::suggest(base, &refs).map(str::to_string).or_else(|| {
        // The same file name in another directory (`require("go")` for libs/go.lua).
        let same: Vec<&String> = modules.iter().filter(|m| last(m) == last(base)).collect();
        (same.len() == 1).then(|| same[0].clone())
    })?;
    let dotted = !name.contains('/') && !found.contains('.');
    Some(if dotted { found.replace('/', ".") } else { found })
}

/// `require`'s second step: compiles the module's file.
fn module_load(lua: &Lua, path: String) -> mlua::Result<mlua::Function> {
    let file = api(lua, "require", || {
        with_ctx(lua, |c| c.files.get(&path).cloned())?
            .ok_or_else(|| Fail::Msg(format!("module '{path}' was not found")))
    })?;
    compile(lua, &path, &file.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_bytecode_is_the_prelude_compiled() {
        let lua = Lua::new();
        let fresh = compile_prelude(&lua).expect("the prelude compiles").dump(false);
        if std::env::var_os("LUAKIT_WRITE_PRELUDE").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/prelude.luac");
            std::fs::write(&path, &fresh).expect("write prelude.luac");
        }
        assert!(
            fresh == PRELUDE_BYTECODE,
            "src/prelude.luac is not prelude.lua compiled: run `LUAKIT_WRITE_PRELUDE=1 cargo test -p luakit-lua prelude_bytecode` and commit it"
        );
        // And it loads as the prelude (keeping its chunk name for messages).
        let f = load_prelude(&lua).expect("loads");
        let info = f.info();
        assert_eq!(info.source.as_deref(), Some("=luakit"));
    }

    #[test]
    fn module_names() {
        assert_eq!(module_base("libs/go"), Ok("libs/go".to_string()));
        assert_eq!(module_base("libs.go"), Ok("libs/go".to_string()));
        assert_eq!(module_base("libs/go.lua"), Ok("libs/go".to_string()));
        assert_eq!(module_base("./libs//go"), Ok("libs/go".to_string()));
        assert!(module_base("../x").is_err());
        assert!(module_base("/etc/passwd").is_err());
        assert!(module_base("a/../../x").is_err());
        assert!(module_base("..").is_err());
        assert!(module_base("").is_err());
        // A NUL is named as such, and shown escaped.
        assert_eq!(
            module_base("a\0b"),
            Err("module name 'a\\0b' contains a NUL byte, which no file name can".to_string())
        );
        assert!(module_base("../\n").is_err_and(|e| e.contains("'../\\n'") && !e.contains('\n')));
    }

    #[test]
    fn nearest_modules() {
        let files: Vec<String> =
            ["build.lua", "libs/go.lua", "libs/node/init.lua", "tools.lua"].iter().map(|s| s.to_string()).collect();
        assert_eq!(nearest_module("libs.og", "libs/og", &files).as_deref(), Some("libs.go"));
        assert_eq!(nearest_module("libs/og", "libs/og", &files).as_deref(), Some("libs/go"));
        assert_eq!(nearest_module("go", "go", &files).as_deref(), Some("libs.go"));
        assert_eq!(nearest_module("libs.nod", "libs/nod", &files).as_deref(), Some("libs.node"));
        assert_eq!(nearest_module("tool", "tool", &files).as_deref(), Some("tools"));
        assert_eq!(nearest_module("nothere", "nothere", &files), None);
        assert_eq!(nearest_module("x", "x", &[]), None);
    }

    #[test]
    fn hash_line_is_blanked_keeping_lines() {
        assert_eq!(skip_hash_line(b"#!/x\nlocal a").as_ref(), b"\nlocal a");
        assert_eq!(skip_hash_line(b"local a").as_ref(), b"local a");
        assert_eq!(skip_hash_line(b"# only").as_ref(), b"");
        assert_eq!(skip_hash_line(b"\xEF\xBB\xBFlocal a").as_ref(), b"local a");
        assert_eq!(skip_hash_line(b"\xEF\xBB\xBF#!/x\nlocal a").as_ref(), b"\nlocal a");
        assert_eq!(skip_hash_line(b"\xEF\xBBlocal a").as_ref(), b"\xEF\xBBlocal a");
    }
}
