//! States as Lua values, made and read on Lua's C API.
//!
//! Every step of a build script makes a state (`s = s:run(…)`), so making
//! one, finding its method and reading it back is the evaluation's hottest
//! path. As an mlua userdata, that cost a registered reference per
//! argument, a protected call per value made, and a Lua function call per
//! method lookup (mlua puts one in front of a type that has both methods
//! and an `__index` handler). Here a state is a plain Lua userdata block
//! holding an [`LState`], with a metatable of its own:
//! - `__index`: the table of methods; a name it does not hold reaches that
//!   table's own `__index`, which raises the "no such method" error;
//! - `__gc`: drops the `LState` and takes the metatable away, so that a
//!   finalised state a weak table still shows is no longer a state;
//! - `__name = "state"` (Lua's own messages say "a state value"),
//!   `__metatable = false`, `__tostring`, `__eq` and `__newindex`.
//!
//! The methods a script calls most (`run`, `copy`, `mkfile`, `mkdir`, `rm`,
//! `with_env`, `with_workdir`, `with_user`) are C functions that read their
//! arguments straight off the stack when they have the common shape
//! (strings, lists of strings, the usual options) and make the state
//! through the same code as the general function. Any other call, including
//! every call with a mistake in it, goes to the general function (an mlua
//! function over [`mlua::Value`]s), which gives the same result or the
//! error message. Only calls that cannot raise a Lua error are made while
//! Rust values are alive (see [`crate::raw`]); the two that can (making the
//! result's block, calling the general function) run when there are none.

use std::ffi::c_int;
use std::panic::AssertUnwindSafe;

use luakit_graph::CopyOptions;
use mlua::{AnyUserData, Function, Lua, MultiValue, Table, Value, ffi};

use crate::api;
use crate::raw::{Raw, Running, list_at, pairs_at, read, walk_at};
use crate::userdata::{LState, STATE_METHODS, describe_state};

// A block from `lua_newuserdatauv` is aligned for any Lua value: 8 bytes.
const _: () = assert!(std::mem::align_of::<LState>() <= 8);

/// The state type of one Lua VM (kept as app data).
struct StateType {
    /// The metatable every state has.
    metatable: Table,
    /// Its address, which identifies a state.
    id: usize,
}

/// A state method as an mlua function.
type General = fn(&Lua, MultiValue) -> mlua::Result<Value>;

/// Installs the state type: to run before any state is made.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let metatable = lua.create_table()?;
    let methods = lua.create_table()?;
    let general: &[(&str, General, Option<ffi::lua_CFunction>)] = &[
        ("run", api::st_run, Some(method::<RUN>)),
        ("copy", api::st_copy, Some(method::<COPY>)),
        ("mkdir", api::st_mkdir, Some(method::<MKDIR>)),
        ("mkfile", api::st_mkfile, Some(method::<MKFILE>)),
        ("rm", api::st_rm, Some(method::<RM>)),
        ("symlink", api::st_symlink, None),
        ("with_env", api::st_with_env, Some(method::<WITH_ENV>)),
        ("with_workdir", api::st_with_workdir, Some(method::<WITH_WORKDIR>)),
        ("with_user", api::st_with_user, Some(method::<WITH_USER>)),
        ("with_metadata", api::st_with_metadata, None),
        ("output", api::st_output, None),
    ];
    for (name, f, fast) in general {
        let f = lua.create_function(*f)?;
        #[cfg(test)]
        let fast = if tests::GENERAL_ONLY.get() { &None } else { fast };
        match fast {
            Some(m) => methods.raw_set(*name, fast_method(lua, *m, &metatable, f)?)?,
            None => methods.raw_set(*name, f)?,
        }
    }
    methods.raw_set("get_env", lua.create_function(api::st_get_env)?)?;
    methods.raw_set("get_workdir", lua.create_function(api::st_get_workdir)?)?;
    methods.raw_set("get_user", lua.create_function(api::st_get_user)?)?;
    debug_assert_eq!(methods.pairs::<String, Value>().count(), STATE_METHODS.len());

    let missing = lua.create_table()?;
    missing.raw_set(
        "__index",
        lua.create_function(|lua, (_, key): (Value, Value)| -> mlua::Result<Value> {
            Err(crate::userdata::no_such_method(lua, &key))
        })?,
    )?;
    methods.set_metatable(Some(missing))?;

    metatable.raw_set("__index", methods)?;
    metatable.raw_set("__name", "state")?;
    metatable.raw_set("__metatable", false)?;
    // SAFETY: `collect` is a Lua C function (see there).
    metatable.raw_set("__gc", unsafe { lua.create_c_function(collect)? })?;
    metatable.raw_set(
        "__tostring",
        lua.create_function(|_, v: Value| Ok(get(&v).map(|s| describe_state(&s)).unwrap_or_default()))?,
    )?;
    metatable.raw_set(
        "__eq",
        lua.create_function(|_, (a, b): (Value, Value)| {
            Ok(match (get(&a), get(&b)) {
                (Some(a), Some(b)) => a.state == b.state,
                _ => false,
            })
        })?,
    )?;
    metatable.raw_set(
        "__newindex",
        lua.create_function(|lua, (_, key, _): (Value, Value, Value)| -> mlua::Result<()> {
            Err(crate::userdata::cannot_set(lua, &key))
        })?,
    )?;
    let id = metatable.to_pointer() as usize;
    lua.set_app_data(StateType { metatable, id });
    Ok(())
}

/// The state `v` holds, if it is one.
pub(crate) fn get(v: &Value) -> Option<LState> {
    match v {
        Value::UserData(ud) => with_state(ud, LState::clone),
        _ => None,
    }
}

/// Whether `ud` is a state.
pub(crate) fn is_state(ud: &AnyUserData) -> bool {
    with_state(ud, |_| ()).is_some()
}

fn with_state<T>(ud: &AnyUserData, f: impl FnOnce(&LState) -> T) -> Option<T> {
    let lua = ud.weak_lua().upgrade();
    let id = lua.app_data_ref::<StateType>()?.id;
    lua.exec_raw_lua(|raw| {
        let state = raw.state();
        // SAFETY: one slot for the value and one for its metatable, made
        // sure of first; pushing a value mlua holds and reading its
        // metatable do not raise; the block of a userdata whose metatable
        // is the state type's holds an `LState` (it is set only once the
        // block is written, and taken away when it is dropped), alive while
        // the value is on the stack.
        unsafe {
            if ffi::lua_checkstack(state, 2) == 0 {
                return None;
            }
            let top = ffi::lua_gettop(state);
            raw.push(ud).ok()?;
            let out = if ffi::lua_getmetatable(state, -1) != 0 && ffi::lua_topointer(state, -1) as usize == id {
                Some(f(&*ffi::lua_touserdata(state, top + 1).cast::<LState>()))
            } else {
                None
            };
            ffi::lua_settop(state, top);
            out
        }
    })
}

/// A new Lua value holding `s`.
pub(crate) fn value(lua: &Lua, s: LState) -> mlua::Result<Value> {
    let Some(t) = lua.app_data_ref::<StateType>() else {
        return Err(mlua::Error::runtime("internal error: the state type is not installed"));
    };
    lua.exec_raw_lua(|raw| {
        let state = raw.state();
        // SAFETY: three slots, made sure of first. The block is made by a
        // protected call (an allocation failure comes back as a status,
        // never as a jump over this frame); it is written before it gets
        // the metatable with `__gc`, and setting a metatable does not raise.
        unsafe {
            if ffi::lua_checkstack(state, 3) == 0 {
                return Err(mlua::Error::StackError);
            }
            ffi::lua_pushcfunction(state, new_block);
            if ffi::lua_pcall(state, 0, 1, 0) != ffi::LUA_OK {
                ffi::lua_pop(state, 1);
                return Err(mlua::Error::MemoryError("not enough memory".to_string()));
            }
            ffi::lua_touserdata(state, -1).cast::<LState>().write(s);
            raw.push(&t.metatable)?;
            ffi::lua_setmetatable(state, -2);
            Ok(raw.pop_value())
        }
    })
}

/// Pushes an uninitialised block for an [`LState`] (no metatable yet).
unsafe extern "C-unwind" fn new_block(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a Lua C function; an allocation failure raises here, inside
    // the protected call, with no Rust value alive.
    unsafe { ffi::lua_newuserdatauv(state, std::mem::size_of::<LState>(), 0) };
    1
}

/// `__gc`: drops the state and takes its metatable away.
unsafe extern "C-unwind" fn collect(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls `__gc` once, on a userdata that has the state
    // metatable (it is not reachable by scripts: `__metatable` hides it),
    // so the block holds an `LState`. Without its metatable the value is
    // no longer taken for a state, nor collected again.
    unsafe {
        let p = ffi::lua_touserdata(state, 1).cast::<LState>();
        if !p.is_null() && ffi::lua_getmetatable(state, 1) != 0 {
            ffi::lua_pop(state, 1);
            ffi::lua_pushnil(state);
            ffi::lua_setmetatable(state, 1);
            std::ptr::drop_in_place(p);
        }
    }
    0
}

// The methods with a path on the stack, as the parameter of `method`.
const RUN: u8 = 0;
const COPY: u8 = 1;
const MKDIR: u8 = 2;
const MKFILE: u8 = 3;
const RM: u8 = 4;
const WITH_ENV: u8 = 5;
const WITH_WORKDIR: u8 = 6;
const WITH_USER: u8 = 7;

/// The C closure of a method's path on the stack `f` (a `method`):
/// upvalue 1 is the state metatable, 2 the general function.
fn fast_method(lua: &Lua, f: ffi::lua_CFunction, metatable: &Table, general: Function) -> mlua::Result<Function> {
    lua.exec_raw_lua(|raw| {
        let state = raw.state();
        // SAFETY: slots made sure of first; this runs while the API is
        // installed, before any limit is set.
        unsafe {
            if ffi::lua_checkstack(state, 3) == 0 {
                return Err(mlua::Error::StackError);
            }
            raw.push(metatable)?;
            raw.push(&general)?;
            ffi::lua_pushcclosure(state, f, 2);
            match raw.pop_value() {
                Value::Function(f) => Ok(f),
                _ => Err(mlua::Error::runtime("internal error: not a function")),
            }
        }
    })
}

/// A state method on the stack: the state it makes from arguments of the
/// common shape, else the general function's results.
unsafe extern "C-unwind" fn method<const M: u8>(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a Lua C function with the upvalues of `fast_method`. The
    // result's block is made first, while no Rust value is alive (a memory
    // error jumps over nothing to drop); the arguments are read with calls
    // that cannot raise (`Args`); the block is written and gets its
    // metatable (which does not raise). Otherwise every Rust value of the
    // attempt is gone before the general function is called (which may
    // raise) with the arguments as they came.
    unsafe {
        let n = ffi::lua_gettop(state);
        if ffi::lua_checkstack(state, 8) != 0 {
            let block = ffi::lua_newuserdatauv(state, std::mem::size_of::<LState>(), 0).cast::<LState>();
            let made = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let args = Args { state, n, thread: Running::from_ptr(state) };
                let this = args.state(1)?;
                let lua = Lua::get_or_init_from_ptr(state);
                let s = fast(lua, M, &args, this)?;
                api::announce(lua, &s);
                Some(s)
            }));
            if let Ok(Some(s)) = made {
                #[cfg(test)]
                tests::FAST_MADE.set(tests::FAST_MADE.get() + 1);
                block.write(s);
                ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
                ffi::lua_setmetatable(state, -2);
                return 1;
            }
            ffi::lua_settop(state, n);
        }
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, n, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}

/// The arguments of a call, 1 to `n`, read without raising.
struct Args {
    state: *mut ffi::lua_State,
    n: c_int,
    /// The same thread, for the script's frame.
    thread: Running,
}

impl Args {
    /// The type of argument `i` (`LUA_TNONE` past the last).
    fn ty(&self, i: c_int) -> c_int {
        if i > self.n {
            return ffi::LUA_TNONE;
        }
        // SAFETY: `i` is an argument's index.
        unsafe { ffi::lua_type(self.state, i) }
    }

    /// Argument `i` as text (a string of valid UTF-8 without NUL bytes).
    fn text(&self, i: c_int) -> Option<&str> {
        // The bytes live while the argument is on the stack, as long as the call.
        (i <= self.n).then(|| text_at(self.state, i)).flatten()
    }

    /// Argument `i` as non-empty text.
    fn nonempty(&self, i: c_int) -> Option<&str> {
        self.text(i).filter(|t| !t.is_empty())
    }

    /// Argument `i` when it is a state.
    fn state(&self, i: c_int) -> Option<&LState> {
        if self.ty(i) != ffi::LUA_TUSERDATA {
            return None;
        }
        // SAFETY: as in `with_state`, the metatable compared with upvalue 1
        // of the running closure (the state metatable).
        unsafe {
            if ffi::lua_getmetatable(self.state, i) == 0 {
                return None;
            }
            let ours = ffi::lua_rawequal(self.state, -1, ffi::lua_upvalueindex(1)) != 0;
            ffi::lua_settop(self.state, -2);
            ours.then(|| &*ffi::lua_touserdata(self.state, i).cast::<LState>())
        }
    }

    /// Whether argument `i` is absent, nil or an empty table (no options).
    fn no_options(&self, i: c_int) -> bool {
        match self.ty(i) {
            ffi::LUA_TNONE | ffi::LUA_TNIL => true,
            // SAFETY: a table, and the stack room `method` made sure of.
            ffi::LUA_TTABLE => unsafe { walk_at(self.state, i, |_, _| false) },
            _ => false,
        }
    }
}

/// The value at `idx` as text.
fn text_at<'s>(state: *mut ffi::lua_State, idx: c_int) -> Option<&'s str> {
    // SAFETY: `idx` is a valid index; see `read`.
    match unsafe { read(state, idx) } {
        Raw::Text(t) => Some(t),
        _ => None,
    }
}

/// The table at `idx` as a run's `env`: `{"K=v", …}` in order, or
/// `{K = "v"}` in key order (what `env_pairs` accepts, without its errors).
///
/// # Safety
/// As [`walk_at`].
unsafe fn env_at(state: *mut ffi::lua_State, idx: c_int) -> Option<Vec<(String, String)>> {
    // SAFETY: as the caller guarantees.
    unsafe {
        if ffi::lua_rawlen(state, idx) > 0 {
            return list_at(state, idx)?
                .into_iter()
                .map(|s| match s.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
                    _ => None,
                })
                .collect();
        }
        pairs_at(state, idx).filter(|pairs| pairs.iter().all(|(k, _)| !k.is_empty() && !k.contains('=')))
    }
}

/// The state method `m` makes from arguments of the common shape; `None`
/// for anything else (the general function then answers).
fn fast(lua: &Lua, m: u8, a: &Args, this: &LState) -> Option<LState> {
    let (state, thread) = (a.state, a.thread);
    match m {
        RUN => {
            let args = match a.ty(2) {
                ffi::LUA_TSTRING => {
                    let cmd = a.text(2)?;
                    if cmd.trim().is_empty() {
                        return None;
                    }
                    vec!["/bin/sh".to_string(), "-c".to_string(), cmd.to_string()]
                }
                // SAFETY: a table, and the stack room `method` made sure of.
                ffi::LUA_TTABLE => unsafe { list_at(state, 2) }.filter(|l| !l.is_empty())?,
                _ => return None,
            };
            let mut ro = luakit_graph::RunOptions { args, ..Default::default() };
            match a.ty(3) {
                ffi::LUA_TNONE | ffi::LUA_TNIL => {}
                ffi::LUA_TTABLE => {
                    // SAFETY: a table, and the stack room `method` made sure of.
                    let complete = unsafe {
                        walk_at(state, 3, |k, v| match text_at(state, k) {
                            Some("cwd") => text_at(state, v)
                                .filter(|c| !c.is_empty())
                                .map(|c| ro.cwd = Some(c.to_string()))
                                .is_some(),
                            Some("user") => text_at(state, v).map(|u| ro.user = Some(u.to_string())).is_some(),
                            Some("env") => {
                                ffi::lua_type(state, v) == ffi::LUA_TTABLE
                                    && env_at(state, v).map(|e| ro.env = e).is_some()
                            }
                            _ => false,
                        })
                    };
                    if !complete {
                        return None;
                    }
                }
                _ => return None,
            }
            let cwd = luakit_graph::state::resolve_dir(&this.state.meta().dir, ro.cwd.as_deref().unwrap_or("."));
            api::run_state(lua, thread, this, ro, cwd, &[]).ok()
        }
        COPY => {
            let from = a.state(2)?;
            let (src, dest) = (a.nonempty(3)?, a.nonempty(4)?);
            if !a.no_options(5) {
                return None;
            }
            let co = CopyOptions::default();
            api::file_state(lua, thread, this, src.len() + dest.len(), |op| {
                this.state.copy(&from.state, src, dest, co, op)
            })
            .ok()
        }
        MKDIR => {
            let path = a.nonempty(2)?;
            if !a.no_options(3) {
                return None;
            }
            api::file_state(lua, thread, this, path.len(), |op| this.state.mkdir(path, 0o755, true, None, op)).ok()
        }
        MKFILE => {
            let path = a.nonempty(2)?;
            if a.ty(3) != ffi::LUA_TSTRING || !a.no_options(4) {
                return None;
            }
            let mut len = 0;
            // SAFETY: argument 3 is a string (no conversion in place).
            let data = unsafe {
                let p = ffi::lua_tolstring(state, 3, &mut len);
                std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()
            };
            api::file_state(lua, thread, this, path.len() + data.len(), |op| {
                this.state.mkfile(path, 0o644, data, None, op)
            })
            .ok()
        }
        RM => {
            let path = a.nonempty(2)?;
            if !a.no_options(3) {
                return None;
            }
            api::file_state(lua, thread, this, path.len(), |op| this.state.rm(path, false, false, op)).ok()
        }
        WITH_ENV => {
            let key = a.nonempty(2)?;
            let value = a.text(3)?;
            if key.contains('=') {
                return None;
            }
            Some(this.derive(this.state.with_env(key, value)))
        }
        WITH_WORKDIR => Some(this.derive(this.state.with_dir(a.nonempty(2)?))),
        WITH_USER => Some(this.derive(this.state.with_user(a.nonempty(2)?))),
        // No such method: the general function answers.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::EvalOptions;
    use crate::eval::Session;

    thread_local! {
        /// Install the general functions only (no paths on the stack).
        pub(super) static GENERAL_ONLY: Cell<bool> = const { Cell::new(false) };
        /// How many states the paths on the stack made.
        pub(super) static FAST_MADE: Cell<usize> = const { Cell::new(0) };
    }

    /// The Definition (bytes, with source map) the script exports, or its
    /// error message; and how many states the stack paths made.
    fn evaluate(body: &str, general_only: bool) -> (Result<Vec<u8>, String>, usize) {
        let script = format!(
            "local base = bk.image('alpine:3.19')\nlocal ctx = bk.local_('context')\nlocal s = {body}\nbk.export(s)\n"
        );
        GENERAL_ONLY.set(general_only);
        FAST_MADE.set(0);
        let opts = EvalOptions {
            target_platform: "linux/amd64".parse().expect("platform"),
            local_unique_id: "test".to_string(),
            ..EvalOptions::default()
        };
        let clock = Arc::new(Mutex::new(Instant::now() + Duration::from_secs(30)));
        let session = Session::new(&opts, false, clock).expect("session");
        let ev = session
            .add_file("build.lua", script.as_bytes())
            .and_then(|()| session.run_file("build.lua", script.as_bytes()))
            .and_then(|()| session.finish("build.lua"));
        GENERAL_ONLY.set(false);
        let out = ev.map_err(|e| e.to_string()).and_then(|ev| {
            let mopts = luakit_llb::MarshalOptions {
                platform: opts.target_platform.clone(),
                source_map: true,
                daemon_caps: None,
                name_ops: false,
            };
            luakit_llb::marshal(&ev.state, &mopts).map(|d| luakit_llb::encode(&d)).map_err(|e| e.to_string())
        });
        (out, FAST_MADE.get())
    }

    /// Calls the stack paths take: the same Definition as the general functions.
    const TAKEN: &[&str] = &[
        r#"base:run("echo hi")"#,
        r#"base:run({"sh", "-c", "x"})"#,
        r#"base:run({"a"}, nil)"#,
        r#"base:run("x", {})"#,
        r#"base:run("x", nil, 5)"#,
        r#"base:run("x", {cwd = "/w"})"#,
        r#"base:run("x", {cwd = "rel/./a/../b"})"#,
        r#"base:with_workdir("/a"):run("x", {cwd = "b"})"#,
        r#"base:run("x", {env = {B = "2", A = "1", C = ""}})"#,
        r#"base:run("x", {env = {"A=1", "B=x=y", "A=3"}})"#,
        r#"base:run("x", {env = {}})"#,
        r#"base:with_env("A", "0"):run("x", {env = {A = "1"}})"#,
        r#"base:run("x", {user = "me"})"#,
        r#"base:run("x", {user = ""})"#,
        r#"base:run("x", {cwd = "/w", env = {N = "1"}, user = "u"})"#,
        r#"base:run("héllo ünïcode")"#,
        r#"base:copy(ctx, "a", "b")"#,
        r#"base:copy(ctx, "./a/", "b/.", {})"#,
        r#"base:with_workdir("/app"):copy(base, "/etc/x", "rel/")"#,
        r#"base:mkdir("/a")"#,
        r#"base:mkdir("a/b", {})"#,
        r#"bk.scratch():mkdir("/a")"#,
        r#"base:mkfile("/f", "data")"#,
        r#"base:mkfile("f", "")"#,
        r#"base:mkfile("/f", "\0\255")"#,
        r#"base:rm("/x")"#,
        r#"base:rm("x/*", {})"#,
        r#"base:with_env("K", "v"):run("env")"#,
        r#"base:with_env("K", ""):run("env")"#,
        r#"base:with_workdir("w"):with_workdir("../v"):run("pwd")"#,
        r#"base:with_user("u"):run("id")"#,
        // Located on the coroutine's stack (line 4), not the main thread's (5).
        "coroutine.wrap(function()\n    return base:run('in a coroutine')\nend)()",
    ];

    /// Calls the stack paths leave to the general functions: valid calls
    /// with other options, and mistakes (the same message).
    const LEFT: &[&str] = &[
        r#"base:run("")"#,
        r#"base:run("  ")"#,
        r#"base:run({})"#,
        r#"base:run({1})"#,
        r#"base:run({"a", x = 1})"#,
        r#"base:run({"a", nil, "c"})"#,
        r#"base:run(5)"#,
        r#"base:run()"#,
        r#"base:run("\255")"#,
        r#"base:run("a\0b")"#,
        r#"base:run("x", 5)"#,
        r#"base:run("x", {cwd = ""})"#,
        r#"base:run("x", {cwd = 5})"#,
        r#"base:run("x", {bogus = 1})"#,
        r#"base:run("x", {[1] = "a"})"#,
        r#"base:run("x", {env = {A = 1}})"#,
        r#"base:run("x", {env = {"A"}})"#,
        r#"base:run("x", {env = {"=x"}})"#,
        r#"base:run("x", {env = {["A=B"] = "1"}})"#,
        r#"base:run("x", {env = {[""] = "1"}})"#,
        r#"base:run("x", {env = "A=1"})"#,
        r#"base:run("x", {env = {"A=1", B = "2"}})"#,
        r#"base:run("x", {network = "host"})"#,
        r#"base:run("x", {mounts = {bk.cache("/c")}})"#,
        r#"base.run("x")"#,
        r#"base:copy("context", "a", "b")"#,
        r#"base:copy(ctx, "", "b")"#,
        r#"base:copy(ctx, "a")"#,
        r#"base:copy(ctx, "a", "b", {mode = "0644"})"#,
        r#"base:copy(ctx, "a", "b", {bogus = 1})"#,
        r#"base:copy(ctx, "a", "b", 5)"#,
        r#"base:mkfile("/f")"#,
        r#"base:mkfile("/f", 5)"#,
        r#"base:mkfile("/f", "x", {mode = 384})"#,
        r#"base:mkfile("", "x")"#,
        r#"base:mkdir("")"#,
        r#"base:mkdir("a\0b")"#,
        r#"base:mkdir("/a", {make_parents = false})"#,
        r#"base:rm("/x", {allow_not_found = true})"#,
        r#"base:with_env("A=B", "v")"#,
        r#"base:with_env({A = "1"})"#,
        r#"base:with_env("A")"#,
        r#"base:with_env("", "v")"#,
        r#"base:with_env("K", "\255")"#,
        r#"base:with_workdir("")"#,
        r#"base:with_user(5)"#,
    ];

    #[test]
    fn stack_paths_make_what_the_general_functions_make() {
        for body in TAKEN {
            let (fast, made) = evaluate(body, false);
            let (general, _) = evaluate(body, true);
            assert!(fast.is_ok(), "{body}: {fast:?}");
            assert!(made >= 1, "{body}: the stack path was not taken");
            assert_eq!(fast, general, "{body}");
        }
    }

    #[test]
    fn a_state_made_in_a_coroutine_is_located_on_its_stack() {
        let body = TAKEN.last().expect("the coroutine case");
        let (bytes, _) = evaluate(body, false);
        let def = luakit_llb::decode(&bytes.expect("a Definition")).expect("it decodes");
        let lines: Vec<i32> = def
            .source
            .iter()
            .flat_map(|s| s.locations.values())
            .flat_map(|l| &l.locations)
            .flat_map(|l| &l.ranges)
            .filter_map(|r| r.start.as_ref().map(|p| p.line))
            .collect();
        // bk.image on line 1, the run on line 4.
        assert!(lines.contains(&4) && !lines.contains(&5), "{lines:?}");
    }

    #[test]
    fn other_calls_get_the_general_functions_answer() {
        for body in LEFT {
            let (fast, made) = evaluate(body, false);
            let (general, _) = evaluate(body, true);
            assert_eq!(made, 0, "{body}: a stack path made a state");
            assert_eq!(fast, general, "{body}");
        }
    }

    #[test]
    fn a_finalised_state_is_no_longer_a_state() {
        // A weak-keyed table keeps a finalised key until the next cycle:
        // the state must not be usable from there.
        let (out, _) = evaluate(
            "(function()
                local weak = setmetatable({}, { __mode = 'k' })
                weak[base:run('x')] = true
                local seen_finalised, gone = false, false
                for _ = 1, 5000 do
                    for i = 1, 200 do local garbage = { i } end
                    gone = true
                    for k in pairs(weak) do
                        gone = false
                        if not pcall(function() return k:run('y') end) then
                            seen_finalised = true
                            assert(tostring(k):find('^userdata: '), tostring(k))
                        end
                    end
                    if gone then break end
                end
                assert(gone, 'the state was never collected')
                assert(seen_finalised, 'the finalised state was never seen')
                return base
            end)()",
            false,
        );
        assert!(out.is_ok(), "{out:?}");
    }
}
