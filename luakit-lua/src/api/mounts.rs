//! Mount constructors for `st:run{mounts = …}`: `bk.cache`, `bk.secret`,
//! `bk.ssh`, `bk.tmpfs`, `bk.bind`.

use luakit_graph::{CacheSharing, Mount, MountKind, State};
use mlua::{Lua, MultiValue, Value};

use crate::ctx::api;
use crate::opts::{Fail, Opts, type_name};
use crate::userdata::LMount;

use super::{Args, req_nonempty, req_state};

pub(super) const CACHE_OPTS: &[&str] = crate::reference::CACHE.names;
pub(super) const SECRET_OPTS: &[&str] = crate::reference::SECRET.names;
pub(super) const SSH_OPTS: &[&str] = crate::reference::SSH.names;
pub(super) const TMPFS_OPTS: &[&str] = crate::reference::TMPFS.names;
pub(super) const BIND_OPTS: &[&str] = crate::reference::BIND.names;

fn mount_ud(lua: &Lua, mount: Mount, source: Option<State>) -> mlua::Result<Value> {
    Ok(Value::UserData(lua.create_userdata(LMount { mount, source })?))
}

/// `bk.cache(dest, {id, sharing, from, selector, readonly})`
pub(crate) fn bk_cache(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let (m, source) = api(lua, "bk.cache", || {
        let a = Args::new(args);
        let dest = req_nonempty(a.get(0), 1, "dest")?;
        let opts = Opts::new(a.get(1), CACHE_OPTS)?;
        let id = opts.string("id")?.unwrap_or_else(|| dest.clone());
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        let sharing = match opts.choice("sharing", &["shared", "private", "locked"])?.as_deref() {
            Some("private") => CacheSharing::Private,
            Some("locked") => CacheSharing::Locked,
            _ => CacheSharing::Shared,
        };
        let from = match opts.raw("from")? {
            Value::Nil => None,
            v => Some(
                req_state(&v, 0, "from")
                    .map_err(|_| Fail::Msg(format!("option 'from' must be a state, got {}", type_name(&v))))?,
            ),
        };
        let selector = opts.string("selector")?.unwrap_or_default();
        if !selector.is_empty() && from.is_none() {
            return Err("option 'selector' needs option 'from' (the state whose sub-path seeds the cache)".into());
        }
        let mount = Mount {
            dest,
            kind: MountKind::Cache {
                id,
                sharing,
                source: from.as_ref().and_then(|f| f.state.output().cloned()),
                selector,
                readonly: opts.boolean("readonly")?.unwrap_or(false),
            },
        };
        Ok((mount, from.map(|f| f.state)))
    })?;
    mount_ud(lua, m, source)
}

/// `bk.secret(dest, {id, uid, gid, mode, optional})`
pub(crate) fn bk_secret(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.secret", || {
        let a = Args::new(args);
        let dest = req_nonempty(a.get(0), 1, "dest")?;
        let opts = Opts::new(a.get(1), SECRET_OPTS)?;
        let id = match opts.string("id")? {
            Some(id) => id,
            None => dest.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string(),
        };
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        Ok(Mount {
            dest,
            kind: MountKind::Secret {
                id,
                uid: opts.id("uid")?.unwrap_or(0),
                gid: opts.id("gid")?.unwrap_or(0),
                mode: opts.mode("mode")?.unwrap_or(0o400),
                optional: opts.boolean("optional")?.unwrap_or(false),
            },
        })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.ssh({dest, id, uid, gid, mode, optional})`
pub(crate) fn bk_ssh(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.ssh", || {
        let a = Args::new(args);
        if let Value::String(_) = a.get(0) {
            return Err("takes an options table, e.g. bk.ssh({ id = \"default\", dest = \"/run/ssh\" })".into());
        }
        let opts = Opts::new(a.get(0), SSH_OPTS)?;
        let dest = opts.string("dest")?.unwrap_or_else(|| "/run/ssh".to_string());
        if dest.is_empty() {
            return Err("option 'dest' must not be empty".into());
        }
        let id = opts.string("id")?.unwrap_or_else(|| "default".to_string());
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        Ok(Mount {
            dest,
            kind: MountKind::Ssh {
                id,
                uid: opts.id("uid")?.unwrap_or(0),
                gid: opts.id("gid")?.unwrap_or(0),
                mode: opts.mode("mode")?.unwrap_or(0o600),
                optional: opts.boolean("optional")?.unwrap_or(false),
            },
        })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.tmpfs(dest, {size})`
pub(crate) fn bk_tmpfs(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.tmpfs", || {
        let a = Args::new(args);
        let dest = req_nonempty(a.get(0), 1, "dest")?;
        let opts = Opts::new(a.get(1), TMPFS_OPTS)?;
        let size = opts.integer("size")?.unwrap_or(0);
        if size < 0 {
            return Err(format!("option 'size' must be 0 or more bytes, got {size}").into());
        }
        Ok(Mount { dest, kind: MountKind::Tmpfs { size } })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.bind(state, dest, {selector, readonly, output})`
pub(crate) fn bk_bind(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let (m, source) = api(lua, "bk.bind", || {
        let a = Args::new(args);
        let from = req_state(a.get(0), 1, "state")?;
        let dest = req_nonempty(a.get(1), 2, "dest")?;
        let opts = Opts::new(a.get(2), BIND_OPTS)?;
        let readonly = opts.boolean("readonly")?.unwrap_or(true);
        let output = opts.boolean("output")?;
        if readonly && output == Some(true) {
            return Err("option 'output = true' needs 'readonly = false' (a read-only mount has no output)".into());
        }
        let mount = Mount {
            dest,
            kind: MountKind::Bind {
                source: from.state.output().cloned(),
                selector: opts.string("selector")?.unwrap_or_default(),
                readonly,
                no_output: !readonly && output == Some(false),
            },
        };
        Ok((mount, from.state))
    })?;
    mount_ud(lua, m, Some(source))
}
