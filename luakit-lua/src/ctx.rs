//! The per-evaluation context the `bk` functions share: settings, the
//! script files seen so far (for source maps), the export, warnings.

use std::collections::HashMap;
use std::sync::Arc;

use luakit_graph::{OpOptions, SourceFile, SourceLocation, SourceRange};
use mlua::Lua;

use crate::error::Fault;
use crate::opts::{Fail, R};
use crate::userdata::LState;
use crate::{EvalOptions, ResolvedImage};

/// What `bk.export` recorded.
pub(crate) struct ExportRecord {
    pub state: LState,
    pub options: luakit_image_config::ExportOptions,
    pub file: String,
    pub line: u32,
    /// The export's name (`target = "api"`), if given.
    pub target: Option<String>,
}

/// Shared state of one evaluation, kept as Lua app data.
pub(crate) struct Ctx {
    /// The options the evaluation was started with.
    pub opts: EvalOptions,
    /// Script files by name (relative to the main script's directory).
    pub files: HashMap<String, Arc<SourceFile>>,
    /// The file of the last op located (`files` entry by name): ops come in
    /// runs from one file, and the name compares faster than it hashes.
    /// Cleared whenever `files` changes an entry.
    pub last_file: Option<(String, Arc<SourceFile>)>,
    /// Module name → file, as found by `require`.
    pub module_paths: HashMap<String, String>,
    /// Resolved images by (reference, platform).
    pub resolved: HashMap<(String, String), Arc<ResolvedImage>>,
    /// Every `bk.export`, in call order.
    pub exports: Vec<ExportRecord>,
    pub warnings: Vec<String>,
    /// Several exports allowed, none required (`luakit test`).
    pub test_mode: bool,
    /// Rough size of the graph built so far, counted against the memory limit.
    pub graph_bytes: usize,
    /// The evaluation's deadline (moved on by time spent outside the script).
    pub clock: crate::Clock,
}

/// Where the running script is: the nearest script file (chunk named
/// `@file`) on the Lua stack and its current line. Frames of luakit's own
/// Lua code and of C functions are skipped.
pub(crate) fn caller(lua: &Lua) -> Option<(String, u32)> {
    for level in 1..200 {
        let frame = lua.inspect_stack(level, |d| {
            let src = d.source().source.map(|s| s.to_string());
            (src, d.current_line())
        })?;
        if let (Some(src), Some(line)) = frame {
            if let Some(file) = src.strip_prefix('@') {
                return Some((file.to_string(), u32::try_from(line).unwrap_or(u32::MAX)));
            }
        }
    }
    None
}

/// Makes an error raised by `function` at the current script line.
pub(crate) fn api_error(lua: &Lua, function: &str, message: String) -> mlua::Error {
    let fault = match caller(lua) {
        Some((file, line)) => Fault::Api { file, line, function: function.to_string(), message },
        None => Fault::ApiNoLine { function: function.to_string(), message },
    };
    mlua::Error::external(fault)
}

/// Makes an error about option `key` of a call of `function`: at the line
/// where the script writes `key =` among the call's arguments, else at the
/// call's line.
pub(crate) fn option_error(lua: &Lua, function: &str, key: &str, message: String) -> mlua::Error {
    let Some((file, line)) = caller(lua) else {
        return api_error(lua, function, message);
    };
    let source = lua.app_data_ref::<Ctx>().and_then(|c| c.files.get(&file).cloned());
    let line = source.and_then(|sf| crate::locate::option_line(&sf.data, line, function, key)).unwrap_or(line);
    mlua::Error::external(Fault::Api { file, line, function: function.to_string(), message })
}

/// Runs the body of a `bk` function, turning a failure into a located error.
pub(crate) fn api<T>(lua: &Lua, function: &str, f: impl FnOnce() -> R<T>) -> mlua::Result<T> {
    match f() {
        Ok(v) => Ok(v),
        Err(Fail::Lua(e)) => Err(e),
        Err(Fail::Msg(m)) => Err(api_error(lua, function, m)),
        Err(Fail::Option { key, message }) => Err(option_error(lua, function, &key, message)),
    }
}

/// Access to the context (it is installed before any script runs).
pub(crate) fn with_ctx<T>(lua: &Lua, f: impl FnOnce(&mut Ctx) -> T) -> R<T> {
    match lua.app_data_mut::<Ctx>() {
        Some(mut ctx) => Ok(f(&mut ctx)),
        None => Err(Fail::Msg("internal error: no evaluation context".to_string())),
    }
}

impl Ctx {
    /// The registered script file named `name` (a chunk name's bytes, read
    /// as UTF-8 with replacement characters), if any.
    fn source_file(&mut self, name: &[u8]) -> Option<Arc<SourceFile>> {
        if let Some((last, sf)) = &self.last_file {
            if last.as_bytes() == name {
                return Some(sf.clone());
            }
        }
        let name = String::from_utf8_lossy(name);
        let sf = self.files.get(name.as_ref())?.clone();
        self.last_file = Some((name.into_owned(), sf.clone()));
        Some(sf)
    }

    /// The op options of a call running on `thread` (see [`op_options`]).
    fn op_options_at(&mut self, thread: crate::raw::Running) -> OpOptions {
        // Walking the Lua stack costs more than the rest of a small op: only
        // when the location is kept.
        if !self.opts.source_map {
            return OpOptions::default();
        }
        // As `caller`, without copying the file name out of Lua: the nearest
        // script frame is looked up among the files as it is.
        let mut op = OpOptions::default();
        if let Some((Some(sf), line)) = crate::raw::script_frame(thread, |file, line| (self.source_file(file), line)) {
            // Made at its size (one location), not grown into.
            op.locations = vec![SourceLocation {
                file: sf,
                ranges: vec![SourceRange { start_line: line, start_char: 0, end_line: line, end_char: 0 }],
            }];
        }
        op
    }

    /// Adds `bytes` to the graph's size: the memory limit when the Lua
    /// heap (`used`) and the graph pass it, and whether the graph has just
    /// become large.
    fn count(&mut self, used: usize, bytes: usize) -> (Option<usize>, bool) {
        let before = self.graph_bytes;
        self.graph_bytes = self.graph_bytes.saturating_add(bytes);
        let over = (used.saturating_add(self.graph_bytes) > self.opts.memory_limit).then_some(self.opts.memory_limit);
        (over, before < LARGE_GRAPH && self.graph_bytes >= LARGE_GRAPH)
    }
}

/// Op options for an op made now: its source location when source maps are on.
pub(crate) fn op_options(lua: &Lua) -> R<OpOptions> {
    let thread = crate::raw::Running::current(lua);
    with_ctx(lua, |ctx| ctx.op_options_at(thread))
}

/// [`charge`] of a new op's `bytes`, then its [`op_options`] for a call
/// running on Lua thread `thread` (the script's frame is looked for on
/// that thread's stack): what every op asks of the context, with one look
/// at it (the fast paths make several ops per microsecond).
pub(crate) fn charged_op_options(lua: &Lua, thread: crate::raw::Running, bytes: usize) -> R<OpOptions> {
    let used = lua.used_memory();
    let (counted, op) = with_ctx(lua, |ctx| {
        let counted = ctx.count(used, bytes);
        let op = if counted.0.is_none() { ctx.op_options_at(thread) } else { OpOptions::default() };
        (counted, op)
    })?;
    settle(counted)?;
    Ok(op)
}

/// The graph size (as counted by [`charge`]) from which the thread's heap
/// is reserved up front (a few hundred ops).
const LARGE_GRAPH: usize = 256 << 10;

/// Counts `bytes` of new graph against the memory limit.
pub(crate) fn charge(lua: &Lua, bytes: usize) -> R<()> {
    let used = lua.used_memory();
    settle(with_ctx(lua, |ctx| ctx.count(used, bytes))?)
}

/// Acts on what [`Ctx::count`] found: the memory error when over the
/// limit; when the graph has just become large, the thread's heap is grown
/// once now rather than a few pages at a time.
fn settle((over, large): (Option<usize>, bool)) -> R<()> {
    if large {
        luakit_graph::reserve_thread_heap();
    }
    match over {
        Some(limit) => Err(Fail::Lua(mlua::Error::external(Fault::Memory(limit)))),
        None => Ok(()),
    }
}

/// Runs `f` (a resolver or loader call) off the script's clock: the time it
/// takes moves the deadline on.
pub(crate) fn off_the_clock<T>(lua: &Lua, f: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let out = f();
    let spent = start.elapsed();
    if let Some(ctx) = lua.app_data_ref::<Ctx>() {
        let mut deadline = ctx.clock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *deadline += spent;
    }
    out
}
