//! File operations on a state: `st:copy`, `st:mkdir`, `st:mkfile`, `st:rm`,
//! `st:symlink`.

use luakit_graph::{Chown, CopyOptions};
use mlua::{Lua, MultiValue, Value};

use luakit_graph::{OpOptions, State};

use crate::ctx::{api, charged_op_options};
use crate::opts::{Opts, R, type_name};
use crate::raw::Running;
use crate::userdata::LState;

use super::{Args, NODE_BYTES, req_nonempty, req_state, ud};

pub(super) const MKDIR_OPTS: &[&str] = crate::reference::MKDIR.names;
pub(super) const MKFILE_OPTS: &[&str] = crate::reference::MKFILE.names;
pub(super) const RM_OPTS: &[&str] = crate::reference::RM.names;
pub(super) const SYMLINK_OPTS: &[&str] = crate::reference::SYMLINK.names;

pub(super) const COPY_OPTS: &[&str] = crate::reference::COPY.names;

/// `st:copy(from, src, dest, opts)`
pub(crate) fn st_copy(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.copy", || {
        let a = Args::new(args);
        let this = a.this("copy")?;
        let from = req_state(a.get(1), 1, "from")?;
        let src = req_nonempty(a.get(2), 2, "src")?;
        let dest = req_nonempty(a.get(3), 3, "dest")?;
        let opts = Opts::new(a.get(4), COPY_OPTS)?;
        let d = CopyOptions::default();
        let co = CopyOptions {
            owner: opts.owner("owner")?,
            mode: opts.mode("mode")?,
            follow_symlink: opts.boolean("follow_symlink")?.unwrap_or(d.follow_symlink),
            copy_dir_contents: opts.boolean("copy_dir_contents")?.unwrap_or(d.copy_dir_contents),
            attempt_unpack_docker_compatibility: opts
                .boolean("attempt_unpack")?
                .unwrap_or(d.attempt_unpack_docker_compatibility),
            create_dest_path: opts.boolean("create_dest_path")?.unwrap_or(d.create_dest_path),
            allow_wildcard: opts.boolean("allow_wildcard")?.unwrap_or(d.allow_wildcard),
            allow_empty_wildcard: opts.boolean("allow_empty_wildcard")?.unwrap_or(d.allow_empty_wildcard),
            include_patterns: opts.string_list("include")?.unwrap_or_default(),
            exclude_patterns: opts.string_list("exclude")?.unwrap_or_default(),
            ..d
        };
        file_state(lua, Running::current(lua), &this, src.len() + dest.len(), |op| {
            this.state.copy(&from.state, &src, &dest, co, op)
        })
    })?;
    ud(lua, st)
}

/// `st:mkdir(path, {mode, make_parents, owner})`
pub(crate) fn st_mkdir(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.mkdir", || {
        let a = Args::new(args);
        let this = a.this("mkdir")?;
        let path = req_nonempty(a.get(1), 1, "path")?;
        let opts = Opts::new(a.get(2), MKDIR_OPTS)?;
        let mode = opts.mode("mode")?.unwrap_or(0o755);
        let parents = opts.boolean("make_parents")?.unwrap_or(true);
        let owner = opts.owner("owner")?;
        file_state(lua, Running::current(lua), &this, path.len(), |op| {
            this.state.mkdir(&path, mode, parents, owner, op)
        })
    })?;
    ud(lua, st)
}

/// `st:mkfile(path, data, {mode, owner})`
pub(crate) fn st_mkfile(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.mkfile", || {
        let a = Args::new(args);
        let this = a.this("mkfile")?;
        let path = req_nonempty(a.get(1), 1, "path")?;
        let data = match a.get(2) {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Nil => {
                return Err("argument 2 (data) is missing: expected a string (use \"\" for an empty file)".into());
            }
            other => return Err(format!("argument 2 (data) must be a string, got {}", type_name(other)).into()),
        };
        let opts = Opts::new(a.get(3), MKFILE_OPTS)?;
        let mode = opts.mode("mode")?.unwrap_or(0o644);
        let owner: Option<Chown> = opts.owner("owner")?;
        file_state(lua, Running::current(lua), &this, path.len() + data.len(), |op| {
            this.state.mkfile(&path, mode, data, owner, op)
        })
    })?;
    ud(lua, st)
}

/// `st:rm(path, {allow_not_found, allow_wildcard})`
pub(crate) fn st_rm(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.rm", || {
        let a = Args::new(args);
        let this = a.this("rm")?;
        let path = req_nonempty(a.get(1), 1, "path")?;
        let opts = Opts::new(a.get(2), RM_OPTS)?;
        let not_found = opts.boolean("allow_not_found")?.unwrap_or(false);
        let wildcard = opts.boolean("allow_wildcard")?.unwrap_or(false);
        file_state(lua, Running::current(lua), &this, path.len(), |op| this.state.rm(&path, not_found, wildcard, op))
    })?;
    ud(lua, st)
}

/// `st:symlink(oldpath, newpath, {owner})`
pub(crate) fn st_symlink(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.symlink", || {
        let a = Args::new(args);
        let this = a.this("symlink")?;
        let old = req_nonempty(a.get(1), 1, "oldpath")?;
        let new = req_nonempty(a.get(2), 2, "newpath")?;
        let opts = Opts::new(a.get(3), SYMLINK_OPTS)?;
        let owner = opts.owner("owner")?;
        file_state(lua, Running::current(lua), &this, old.len() + new.len(), |op| {
            this.state.symlink(&old, &new, owner, op)
        })
    })?;
    ud(lua, st)
}

/// The state a file operation makes, once its arguments are read (by the
/// functions above or by the paths on the stack): counts its op, with
/// `text` bytes of paths and data, against the memory limit, and `make`s it
/// with its script location (the caller's frame on `thread`).
pub(crate) fn file_state(
    lua: &Lua,
    thread: Running,
    this: &LState,
    text: usize,
    make: impl FnOnce(OpOptions) -> State,
) -> R<LState> {
    Ok(this.derive(make(charged_op_options(lua, thread, NODE_BYTES + text)?)))
}
