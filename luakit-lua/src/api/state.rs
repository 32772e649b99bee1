//! State methods and state-level functions: `with_env`/`with_workdir`/
//! `with_user`/`with_metadata`, `output`, `get_*`, `bk.platform`, `bk.arg`,
//! `bk.target_platform`/`bk.build_platform`, `bk.merge`/`bk.diff`.

use std::sync::Arc;

use luakit_graph::state::resolve_dir;
use luakit_graph::{ProgressGroup, State};
use mlua::{Lua, MultiValue, Value};

use crate::ctx::{api, charge, op_options, with_ctx};
use crate::opts::{Fail, Opts, platform, platform_from_parts, sequence, text, type_name};
use crate::userdata::{ExecInfo, LPlatform, LState};

use super::run::env_pairs;
use super::{Args, NODE_BYTES, req_nonempty, req_state, req_string, ud};

pub(super) const METADATA_OPTS: &[&str] = crate::reference::METADATA.names;

/// `bk.merge(a, b, …)` or `bk.merge({a, b, …})`
pub(crate) fn bk_merge(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.merge", || {
        let a = Args::new(args);
        let (items, listed): (Vec<Value>, bool) = match (a.0.len(), a.0.first()) {
            (1, Some(Value::Table(t))) => {
                (sequence(t).map_err(|e| e.map_msg(|m| format!("the list of states {m}")))?, true)
            }
            _ => (a.0.clone(), false),
        };
        let mut states = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            match req_state(v, i + 1, "state") {
                Ok(s) => states.push(s),
                Err(_) if listed => {
                    return Err(format!("item {} of the list must be a state, got {}", i + 1, type_name(v)).into());
                }
                Err(e) => return Err(e),
            }
        }
        if states.len() < 2 {
            return Err(format!("needs at least two states, got {}", states.len()).into());
        }
        let graph_states: Vec<State> = states.iter().map(|s| s.state.clone()).collect();
        charge(lua, NODE_BYTES + 64 * states.len())?;
        let merged = luakit_graph::merge(&graph_states, op_options(lua)?)?;
        Ok(states[0].derive(merged))
    })?;
    ud(lua, st)
}

/// `bk.diff(lower, upper)`
pub(crate) fn bk_diff(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.diff", || {
        let a = Args::new(args);
        let lower = req_state(a.get(0), 1, "lower")?;
        let upper = req_state(a.get(1), 2, "upper")?;
        charge(lua, NODE_BYTES)?;
        Ok(upper.derive(luakit_graph::diff(&lower.state, &upper.state, op_options(lua)?)))
    })?;
    ud(lua, st)
}

/// `bk.platform(os, arch, variant)`
pub(crate) fn bk_platform(lua: &Lua, args: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.platform", || {
        let a = Args::new(args);
        if let (v @ Value::String(s), Value::Nil) = (a.get(0), a.get(1)) {
            if s.as_bytes().contains(&b'/') {
                return Ok(LPlatform(platform(v)?));
            }
        }
        let os = req_nonempty(a.get(0), 1, "os")?;
        let arch = req_nonempty(a.get(1), 2, "arch")?;
        let variant = match a.get(2) {
            Value::Nil => String::new(),
            v => req_string(v, 3, "variant")?,
        };
        Ok(LPlatform(platform_from_parts(&os, &arch, &variant)?))
    })
}

/// `bk.arg(name, default)`
pub(crate) fn bk_arg(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    api(lua, "bk.arg", || {
        let a = Args::new(args);
        let name = req_nonempty(a.get(0), 1, "name")?;
        let given = with_ctx(lua, |c| c.opts.args.get(&name).cloned())?;
        match given {
            Some(v) => Ok(Value::String(lua.create_string(v)?)),
            None => Ok(a.get(1).clone()),
        }
    })
}

pub(crate) fn bk_target_platform(lua: &Lua, _: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.target_platform", || Ok(LPlatform(with_ctx(lua, |c| c.opts.target_platform.clone())?)))
}

pub(crate) fn bk_build_platform(lua: &Lua, _: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.build_platform", || Ok(LPlatform(with_ctx(lua, |c| c.opts.build_platform.clone())?)))
}

/// `st:with_env(key, value)` or `st:with_env({K = "v"})`
pub(crate) fn st_with_env(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_env", || {
        let a = Args::new(args);
        let this = a.this("with_env")?;
        let pairs = match (a.get(1), a.get(2)) {
            (t @ Value::Table(_), Value::Nil) => env_pairs(t).map_err(|m| Fail::Msg(format!("argument 1 {m}")))?,
            (Value::Table(_), other) => {
                return Err(
                    format!("takes a table or a key and a value, not a table and a {}", type_name(other)).into()
                );
            }
            (k, v) => {
                let key = req_nonempty(k, 1, "key")?;
                if key.contains('=') {
                    return Err(format!("argument 1 (key) '{key}' must not contain '='").into());
                }
                let value = match v {
                    Value::String(s) => text(s).map_err(|m| Fail::Msg(format!("argument 2 (value) {m}")))?,
                    Value::Nil => return Err("argument 2 (value) is missing: expected a string".into()),
                    other => {
                        return Err(format!("argument 2 (value) must be a string, got {}", type_name(other)).into());
                    }
                };
                vec![(key, value)]
            }
        };
        let mut state = this.state.clone();
        for (k, v) in &pairs {
            state = state.with_env(k, v);
        }
        Ok(this.derive(state))
    })?;
    ud(lua, st)
}

/// `st:with_workdir(path)`
pub(crate) fn st_with_workdir(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_workdir", || {
        let a = Args::new(args);
        let this = a.this("with_workdir")?;
        let dir = req_nonempty(a.get(1), 1, "path")?;
        Ok(this.derive(this.state.with_dir(&dir)))
    })?;
    ud(lua, st)
}

/// `st:with_user(user)`
pub(crate) fn st_with_user(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_user", || {
        let a = Args::new(args);
        let this = a.this("with_user")?;
        let user = req_nonempty(a.get(1), 1, "user")?;
        Ok(this.derive(this.state.with_user(&user)))
    })?;
    ud(lua, st)
}

/// `st:with_metadata({description, progress_group, ignore_cache})`
pub(crate) fn st_with_metadata(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_metadata", || {
        let a = Args::new(args);
        let this = a.this("with_metadata")?;
        if matches!(a.get(1), Value::Nil) {
            return Err("argument 1 (metadata) is missing: expected a table {description = …, progress_group = …, ignore_cache = …}".into());
        }
        let opts = Opts::new(a.get(1), METADATA_OPTS)?;
        let description = opts.string("description")?;
        let group = opts.string("progress_group")?;
        let ignore = opts.boolean("ignore_cache")?;
        if this.state.is_scratch() {
            return Err("scratch has no operation to attach metadata to".into());
        }
        let apply = |m: &mut luakit_graph::OpMetadata| {
            if let Some(d) = description {
                m.description.insert("llb.customname".to_string(), d);
            }
            if let Some(g) = group {
                m.progress_group = Some(Box::new(ProgressGroup { id: g.clone(), name: g, weak: false }));
            }
            if let Some(i) = ignore {
                m.ignore_cache = i;
            }
        };
        // A run result stays one: its mount outputs follow the renamed exec.
        if let Some(info) = &this.exec {
            if this.state.output().is_some_and(|o| Arc::ptr_eq(&o.node, info.exec.node())) {
                let exec = info.exec.with_op_metadata(apply);
                let state = this.state.with_output(exec.root().output().cloned());
                let mut out = this.derive(state);
                out.exec = Some(Arc::new(ExecInfo { exec, cwd: info.cwd.clone() }));
                return Ok(out);
            }
        }
        let state = this.state.with_op_metadata(apply)?;
        Ok(this.derive(state))
    })?;
    ud(lua, st)
}

/// `run_result:output(dest)`
pub(crate) fn st_output(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.output", || {
        let a = Args::new(args);
        let this = a.this("output")?;
        let dest = req_nonempty(a.get(1), 1, "dest")?;
        let Some(info) = &this.exec else {
            return Err(
                "only the result of a run has mount outputs (call it on what st:run(…) returned, before any other method)"
                    .into(),
            );
        };
        let dest = resolve_dir(&info.cwd, &dest);
        let state = info.exec.mount_output(&dest)?;
        Ok(LState::new(state))
    })?;
    ud(lua, st)
}

/// `st:get_env(key)`: the value of an environment variable of the state, or nil.
pub(crate) fn st_get_env(lua: &Lua, args: MultiValue) -> mlua::Result<Option<String>> {
    api(lua, "bk.get_env", || {
        let a = Args::new(args);
        let this = a.this("get_env")?;
        let key = req_nonempty(a.get(1), 1, "key")?;
        Ok(this.state.meta().env.get(&key).map(str::to_string))
    })
}

/// `st:get_workdir()`
pub(crate) fn st_get_workdir(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    api(lua, "bk.get_workdir", || Ok(Args::new(args).this("get_workdir")?.state.meta().dir.clone()))
}

/// `st:get_user()`
pub(crate) fn st_get_user(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    api(lua, "bk.get_user", || Ok(Args::new(args).this("get_user")?.state.meta().user.clone()))
}
