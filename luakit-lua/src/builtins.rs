//! Built-ins the sandbox changes, written in Rust rather than in the Lua
//! prelude. A Lua wrapper would be a frame of luakit's own code between
//! the script and the built-in: a script's `return setmetatable(o, mt)`
//! tail call would replace the script's frame by the wrapper's, and an
//! error would then be blamed on the script's caller. A Rust function, like
//! the C built-in it wraps, keeps the script's frame.
//!
//! - `setmetatable` refuses `__gc` (a finaliser runs outside the time limit);
//! - `string.rep` and `table.move` refuse what would spin in one C call the
//!   instruction hook cannot interrupt;
//! - `math.randomseed()` without a seed seeds 0 (not the clock), and the
//!   generator starts seeded with 0, so that a build is reproducible.

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::error::{innermost, strip_traceback};

/// Largest `table.move` range (elements).
const MOVE_MAX: i64 = 16_777_216;

/// Replaces the built-ins (before the prelude runs).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    let string: Table = g.get("string")?;
    let table: Table = g.get("table")?;
    let math: Table = g.get("math")?;

    let setmetatable: Function = g.get("setmetatable")?;
    g.set(
        "setmetatable",
        lua.create_function(move |_, args: MultiValue| {
            if let Some(Value::Table(mt)) = args.get(1)
                && !matches!(mt.raw_get::<Value>("__gc")?, Value::Nil)
            {
                return Err(mlua::Error::runtime(
                    "setmetatable: __gc metamethods are not available in build scripts (sandboxed)",
                ));
            }
            call(&setmetatable, "setmetatable", args)
        })?,
    )?;

    let rep: Function = string.get("rep")?;
    string.set(
        "rep",
        lua.create_function(move |lua, args: MultiValue| {
            // ("", n) and ("", n, "") would loop n times producing nothing.
            let empty = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.as_bytes().is_empty(),
                None | Some(Value::Nil) => true,
                _ => false,
            };
            let count = match args.get(1) {
                Some(n) => lua.coerce_number(n.clone())?.is_some(),
                None => false,
            };
            if matches!(args.front(), Some(Value::String(s)) if s.as_bytes().is_empty()) && empty(args.get(2)) && count
            {
                return Ok(MultiValue::from_vec(vec![Value::String(lua.create_string("")?)]));
            }
            call(&rep, "rep", args)
        })?,
    )?;

    let move_: Function = table.get("move")?;
    table.set(
        "move",
        lua.create_function(move |_, args: MultiValue| {
            let int = |i: usize| match args.get(i) {
                Some(Value::Integer(n)) => Some(*n),
                Some(Value::Number(n)) if n.fract() == 0.0 && n.is_finite() => Some(*n as i64),
                _ => None,
            };
            if let (Some(f), Some(e)) = (int(1), int(2))
                && e.saturating_sub(f) > MOVE_MAX
            {
                return Err(mlua::Error::runtime(format!(
                    "table.move: a range of more than {MOVE_MAX} elements is not available in build scripts (sandboxed)"
                )));
            }
            call(&move_, "move", args)
        })?,
    )?;

    let randomseed: Function = math.get("randomseed")?;
    randomseed.call::<()>(0)?;
    math.set(
        "randomseed",
        lua.create_function(move |_, args: MultiValue| {
            if args.is_empty() {
                return call(&randomseed, "randomseed", MultiValue::from_vec(vec![Value::Integer(0)]));
            }
            call(&randomseed, "randomseed", args)
        })?,
    )?;
    Ok(())
}

/// Calls the original built-in. Its errors come back without a position
/// (the script's position is added where the error reaches the script) and
/// with the built-in's name where Lua could not find one.
fn call(f: &Function, name: &str, args: MultiValue) -> mlua::Result<MultiValue> {
    f.call::<MultiValue>(args).map_err(|e| match innermost(&e) {
        mlua::Error::RuntimeError(m) => {
            mlua::Error::RuntimeError(strip_traceback(m).replace("to '?'", &format!("to '{name}'")))
        }
        _ => e,
    })
}
