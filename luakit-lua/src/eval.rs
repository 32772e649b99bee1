//! One evaluation: the sandboxed Lua VM, its limits, running the script
//! and turning what it did (or how it failed) into Rust values.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use luakit_graph::SourceFile;
use mlua::chunk::ChunkMode;
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value, VmState};

use crate::ctx::{Ctx, api, with_ctx};
use crate::error::{Fault, ScriptError, find_fault, innermost, script_message, split_location, strip_traceback};
use crate::opts::{Fail, lua_str, type_name};
use crate::{Clock, EvalOptions, Evaluation};

const PRELUDE: &str = include_str!("prelude.lua");

/// Globals a script may see (SPEC section 2), plus the stubs that explain
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

/// How often (in VM instructions) the time limit is checked.
const HOOK_EVERY: u32 = 10_000;

/// A sandboxed Lua VM with the `bk` API installed.
pub(crate) struct Session {
    pub lua: Lua,
    timed_out: Arc<AtomicBool>,
    deadline: Clock,
    timeout: Duration,
    memory_limit: usize,
}

fn internal(e: mlua::Error) -> ScriptError {
    ScriptError::Internal(e.to_string())
}

/// The script's text with a first line starting with `#` blanked (the line
/// count stays the same, so line numbers stay right).
pub(crate) fn skip_hash_line(source: &[u8]) -> std::borrow::Cow<'_, [u8]> {
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
            module_paths: HashMap::new(),
            resolved: HashMap::new(),
            export: None,
            warnings: Vec::new(),
            test_mode,
            graph_bytes: 0,
            clock: clock.clone(),
        });
        let session = Session {
            lua,
            timed_out: Arc::new(AtomicBool::new(false)),
            deadline: clock,
            timeout: opts.timeout,
            memory_limit: opts.memory_limit,
        };
        session.install().map_err(internal)?;
        session.lua.set_memory_limit(opts.memory_limit).map_err(internal)?;
        let (flag, deadline, limit) = (session.timed_out.clone(), session.deadline.clone(), session.timeout);
        session
            .lua
            .set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
                let due = *deadline.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if flag.load(Ordering::Relaxed) || Instant::now() >= due {
                    flag.store(true, Ordering::Relaxed);
                    return Err(mlua::Error::external(Fault::Timeout(limit)));
                }
                Ok(VmState::Continue)
            })
            .map_err(internal)?;
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
        let prelude = lua.load(PRELUDE).set_name("=luakit").set_mode(ChunkMode::Text).into_function()?;
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
        ))?;
        let mut remove = Vec::new();
        for pair in g.pairs::<Value, Value>() {
            let (k, _) = pair?;
            let keep = matches!(&k, Value::String(s) if ALLOWED_GLOBALS.contains(&lua_str(s).as_str()));
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
        })
        .map_err(|_| ScriptError::Internal("no evaluation context".to_string()))
    }

    /// Runs a script file (already registered with [`Session::add_file`]).
    pub(crate) fn run_file(&self, name: &str, source: &[u8]) -> Result<(), ScriptError> {
        let text = skip_hash_line(source);
        let chunk = self
            .lua
            .load(text.as_ref())
            .set_name(format!("@{name}"))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| self.map_error(e))?;
        self.reset_clock();
        chunk.call::<()>(()).map_err(|e| self.map_error(e))
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
    pub(crate) fn finish(self, main: &str) -> Result<Evaluation, ScriptError> {
        let mut ctx = self
            .lua
            .remove_app_data::<Ctx>()
            .ok_or_else(|| ScriptError::Internal("no evaluation context".to_string()))?;
        let Some(export) = ctx.export.take() else {
            return Err(ScriptError::NoExport { file: main.to_string() });
        };
        Ok(Evaluation {
            state: export.state.state,
            export: export.options,
            base_config: export.state.base_config.map(|c| (*c).clone()),
            target_platform: ctx.opts.target_platform,
            warnings: ctx.warnings,
        })
    }
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
            Value::String(s) => lua_str(s),
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
        Err(format!(
            "module '{}' not found (searched {}, relative to the script's directory)",
            name.escape_debug(),
            candidates.join(" and ").escape_debug()
        )
        .into())
    })
}

/// `require`'s second step: compiles the module's file.
fn module_load(lua: &Lua, path: String) -> mlua::Result<mlua::Function> {
    let file = api(lua, "require", || {
        with_ctx(lua, |c| c.files.get(&path).cloned())?
            .ok_or_else(|| Fail::Msg(format!("module '{path}' was not found")))
    })?;
    let text = skip_hash_line(&file.data);
    lua.load(text.as_ref()).set_name(format!("@{path}")).set_mode(ChunkMode::Text).into_function()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hash_line_is_blanked_keeping_lines() {
        assert_eq!(skip_hash_line(b"#!/x\nlocal a").as_ref(), b"\nlocal a");
        assert_eq!(skip_hash_line(b"local a").as_ref(), b"local a");
        assert_eq!(skip_hash_line(b"# only").as_ref(), b"");
    }
}
