//! The `bk` functions and state methods: Lua values in, graph calls out.
//!
//! Each function checks its arguments (names, types, unknown options) and
//! hands the graph crate plain option structs; the graph does the rest.
//!
//! This module builds the `bk` table and holds the argument helpers every
//! area shares; the functions live by area: `sources.rs` (`bk.image`, `bk.git`,
//! …), `run.rs` (`st:run`), `mounts.rs` (`bk.cache`, `bk.secret`, …),
//! `fileops.rs` (`st:copy`, `st:mkdir`, …), `export.rs` (`bk.export`,
//! `bk.exported`, image config) and `state.rs` (`st:with_*`, `st:get_*`,
//! `bk.platform`, `bk.arg`, `bk.merge`/`bk.diff`).

use mlua::{Lua, MultiValue, Table, Value};

use crate::opts::{Fail, R, shown, text, type_name};
use crate::userdata::LState;

mod export;
mod fileops;
mod mounts;
mod run;
mod sources;
mod state;

pub(crate) use self::export::*;
pub(crate) use self::fileops::*;
pub(crate) use self::mounts::*;
pub(crate) use self::run::*;
pub(crate) use self::sources::*;
pub(crate) use self::state::*;

/// Positional arguments of a call.
struct Args(Vec<Value>);

/// What a missing argument reads as.
const NIL: &Value = &Value::Nil;

impl Args {
    fn new(args: MultiValue) -> Self {
        Args(args.into_vec())
    }

    /// Argument `i` (from 0), nil when absent. Borrowed: a copy of a table
    /// or a string would be one more Lua reference to make and free.
    fn get(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(NIL)
    }

    /// The state a method was called on (`st:method(…)`).
    fn this(&self, method: &str) -> R<LState> {
        self.0.first().and_then(crate::lstate::get).ok_or_else(|| method_call_error(method))
    }
}

fn method_call_error(method: &str) -> Fail {
    Fail::Msg(format!("call it as a method, with ':' (state:{method}(…)), not with '.'"))
}

/// A required string argument.
fn req_string(v: &Value, pos: usize, name: &str) -> R<String> {
    match v {
        Value::String(s) => text(s).map_err(|m| Fail::Msg(format!("argument {pos} ({name}) {m}"))),
        Value::Nil => Err(format!("argument {pos} ({name}) is missing: expected a string").into()),
        other => Err(format!("argument {pos} ({name}) must be a string, got {}", type_name(other)).into()),
    }
}

/// A required non-empty string argument.
fn req_nonempty(v: &Value, pos: usize, name: &str) -> R<String> {
    let s = req_string(v, pos, name)?;
    if s.is_empty() {
        return Err(format!("argument {pos} ({name}) must not be empty").into());
    }
    Ok(s)
}

/// A required state argument.
fn req_state(v: &Value, pos: usize, name: &str) -> R<LState> {
    if let Some(s) = crate::lstate::get(v) {
        return Ok(s);
    }
    let hint = if matches!(v, Value::String(_)) { " (use bk.image(…) or bk.local_(…) to make one)" } else { "" };
    Err(format!("argument {pos} ({name}) must be a state, got {}{hint}", type_name(v)).into())
}

/// A rough size of strings, for the graph memory estimate.
fn size_of<'a>(items: impl IntoIterator<Item = &'a String>) -> usize {
    items.into_iter().map(String::len).sum()
}

const NODE_BYTES: usize = 512;

/// The Lua value of a state a `bk` function made (the node sink is told).
fn ud(lua: &Lua, s: LState) -> mlua::Result<Value> {
    announce(lua, &s);
    crate::lstate::value(lua, s)
}

/// Tells the node sink, if any, of the op a state made.
pub(crate) fn announce(lua: &Lua, s: &LState) {
    if let Some(out) = s.state.output() {
        if let Some(ctx) = lua.app_data_ref::<crate::ctx::Ctx>() {
            if let Some(sink) = &ctx.opts.node_sink {
                sink.node(&out.node);
            }
        }
    }
}

/// Every options table of the API, by the name a script writer knows the
/// function by (the Dockerfile words table is checked against these).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const OPTION_SETS: &[(&str, &[&str])] = &[
    ("bk.image", IMAGE_OPTS),
    ("bk.local_", LOCAL_OPTS),
    ("bk.git", GIT_OPTS),
    ("bk.http", HTTP_OPTS),
    ("st:run", RUN_OPTS),
    ("st:copy", COPY_OPTS),
    ("st:mkdir", MKDIR_OPTS),
    ("st:mkfile", MKFILE_OPTS),
    ("st:rm", RM_OPTS),
    ("st:symlink", SYMLINK_OPTS),
    ("st:with_metadata", METADATA_OPTS),
    ("bk.cache", CACHE_OPTS),
    ("bk.secret", SECRET_OPTS),
    ("bk.ssh", SSH_OPTS),
    ("bk.tmpfs", TMPFS_OPTS),
    ("bk.bind", BIND_OPTS),
    ("bk.export", EXPORT_OPTS),
    ("healthcheck", HEALTHCHECK_OPTS),
];

/// Names of `bk` functions, for "did you mean".
pub(crate) const BK_FUNCTIONS: &[&str] = &[
    "image",
    "scratch",
    "local_",
    "git",
    "http",
    "https",
    "merge",
    "diff",
    "export",
    "exported",
    "platform",
    "arg",
    "target_platform",
    "build_platform",
    "cache",
    "secret",
    "ssh",
    "tmpfs",
    "bind",
];

/// Builds the `bk` table.
pub(crate) fn bk_table(lua: &Lua) -> mlua::Result<Table> {
    crate::lstate::install(lua)?;
    let bk = lua.create_table()?;
    bk.set("image", lua.create_function(bk_image)?)?;
    bk.set("scratch", lua.create_function(bk_scratch)?)?;
    let local = lua.create_function(bk_local)?;
    bk.set("local_", local.clone())?;
    bk.set("local", local)?;
    bk.set("git", lua.create_function(bk_git)?)?;
    bk.set("http", lua.create_function(|lua, args| bk_http(lua, args, "bk.http"))?)?;
    bk.set("https", lua.create_function(|lua, args| bk_http(lua, args, "bk.https"))?)?;
    bk.set("merge", lua.create_function(bk_merge)?)?;
    bk.set("diff", lua.create_function(bk_diff)?)?;
    bk.set("export", lua.create_function(bk_export)?)?;
    bk.set("exported", lua.create_function(bk_exported)?)?;
    bk.set("platform", lua.create_function(bk_platform)?)?;
    bk.set("arg", lua.create_function(bk_arg)?)?;
    bk.set("target_platform", lua.create_function(bk_target_platform)?)?;
    bk.set("build_platform", lua.create_function(bk_build_platform)?)?;
    bk.set("cache", lua.create_function(bk_cache)?)?;
    bk.set("secret", lua.create_function(bk_secret)?)?;
    bk.set("ssh", lua.create_function(bk_ssh)?)?;
    bk.set("tmpfs", lua.create_function(bk_tmpfs)?)?;
    bk.set("bind", lua.create_function(bk_bind)?)?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_, key): (Value, Value)| -> mlua::Result<Value> {
            let key = match &key {
                Value::String(s) => shown(s),
                Value::Integer(i) => format!("[{i}]"),
                other => format!("[{}]", type_name(other)),
            };
            let hint = match crate::opts::suggest(&key, BK_FUNCTIONS) {
                Some(k) => format!(" (did you mean bk.{k}?)"),
                None => String::new(),
            };
            let name = if key.starts_with('[') { format!("bk{key}") } else { format!("bk.{key}") };
            Err(crate::ctx::api_error(lua, &name, format!("there is no such function in the bk API{hint}")))
        })?,
    )?;
    mt.set("__metatable", false)?;
    bk.set_metatable(Some(mt))?;
    read_only(lua, bk)
}

/// The table scripts see as `bk`: reads go to `functions`, writes are
/// refused (a script that replaced or removed `bk.image` would break every
/// module that uses it, and the error would point somewhere else), and
/// `pairs` lists the functions in name order.
fn read_only(lua: &Lua, functions: Table) -> mlua::Result<Table> {
    let proxy = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set("__index", functions.clone())?;
    mt.set(
        "__newindex",
        lua.create_function(|lua, (_, key, _): (Value, Value, Value)| -> mlua::Result<()> {
            let name = match &key {
                Value::String(s) => format!("bk.{}", shown(s)),
                Value::Integer(i) => format!("bk[{i}]"),
                other => format!("bk[{}]", type_name(other)),
            };
            Err(crate::ctx::api_error(
                lua,
                &name,
                "the bk table is read-only: its functions cannot be replaced, removed or added to (keep your own helpers in a local table or a module)".to_string(),
            ))
        })?,
    )?;
    let mut names: Vec<String> = Vec::new();
    for pair in functions.pairs::<String, Value>() {
        names.push(pair?.0);
    }
    names.sort();
    mt.set(
        "__pairs",
        lua.create_function(move |lua, _: Value| {
            let (functions, names) = (functions.clone(), names.clone());
            let next = lua.create_function(move |lua, (_, key): (Value, Option<String>)| {
                let i = match key {
                    None => 0,
                    Some(k) => names.iter().position(|n| *n == k).map_or(names.len(), |i| i + 1),
                };
                match names.get(i) {
                    Some(n) => Ok((Value::String(lua.create_string(n)?), functions.raw_get::<Value>(n.as_str())?)),
                    None => Ok((Value::Nil, Value::Nil)),
                }
            })?;
            Ok((next, Value::Nil, Value::Nil))
        })?,
    )?;
    mt.set("__metatable", false)?;
    proxy.set_metatable(Some(mt))?;
    Ok(proxy)
}
