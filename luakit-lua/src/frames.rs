//! Where a script error happened. Every error a script catches or luakit
//! reports names the script's file and line, the way Lua names them for
//! errors raised in the script's own code.
//!
//! Lua gives an error its position from the function that raised it. That
//! goes wrong in three ways a script writer should never see:
//! - a built-in luakit wraps (`string.rep`, `setmetatable`, `load`, …) raises
//!   from luakit's own Lua code: `luakit:166: bad argument #2 to 'rep'`;
//! - an error raised in C or Rust called from C (`ipairs(nil)`, `next` with
//!   a bad key, a userdata metamethod) has no position at all;
//! - `error(nil)` or `error({})` is not a message.
//!
//! [`handler`] is a message handler (the second argument of `xpcall`): it
//! runs where the error was raised, while the stack is still there, and
//! puts the position of the innermost frame of script code in front of the
//! message when the message has none or names luakit's prelude.
//! Scripts' `pcall`, `xpcall` and `require` and luakit's own calls into the
//! script all run under it.

use mlua::{Function, Lua, Value};

use crate::ctx::caller;
use crate::error::{find_fault, innermost, script_message, split_location};
use crate::opts::type_name;

/// Registry name of the last error value a script caught as raised, and
/// where it was raised.
const RAISED: &str = "luakit.raised";

/// The chunk name of luakit's prelude, as Lua writes it in positions.
const PRELUDE: &[u8] = b"luakit";

/// Local names the prelude gives the built-ins it wraps, and the names a
/// script knows them by (Lua names a function in "bad argument … to 'x'"
/// by the variable it was called through).
const INTERNAL_NAMES: &[(&str, &str)] = &[
    ("setmetatable_", "setmetatable"),
    ("rawsetmetatable", "setmetatable"),
    ("rawgetmetatable", "getmetatable"),
    ("rawload", "load"),
    ("rawpcall", "pcall"),
    ("rawxpcall", "xpcall"),
    ("rawpairs", "pairs"),
    ("next_", "next"),
    ("mathtype", "type"),
];

/// How an error is being handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The script catches it (`pcall`, `xpcall`): a value raised with
    /// `error` stays as the script raised it, as in stock Lua; only
    /// positions are fixed.
    Caught,
    /// Nothing in the script catches it: it becomes the evaluation's error,
    /// so it must be a message with a position.
    Uncaught,
}

/// A message handler for `xpcall` that locates errors (see the module doc).
pub(crate) fn handler(lua: &Lua, mode: Mode) -> mlua::Result<Function> {
    let error_fn: Function = lua.globals().get("error")?;
    let tostring: Function = lua.globals().get("tostring")?;
    lua.create_function(move |lua, v: Value| locate(lua, v, mode, &error_fn, &tostring))
}

fn locate(lua: &Lua, v: Value, mode: Mode, error_fn: &Function, tostring: &Function) -> mlua::Result<Value> {
    match &v {
        Value::Error(e) => {
            // Limits, bk errors (located already) and allocation failures pass unchanged.
            if find_fault(e).is_some() || matches!(innermost(e), mlua::Error::MemoryError(_)) {
                return Ok(v);
            }
            let (message, from_prelude) = scrub(script_message(e).as_bytes());
            let message = String::from_utf8_lossy(&message);
            if !from_prelude && split_location(&message).is_some() {
                return Ok(v);
            }
            match at(lua) {
                Some(at) => Ok(Value::String(lua.create_string(format!("{at}: {message}"))?)),
                None => Ok(v),
            }
        }
        Value::String(s) => {
            let bytes = s.as_bytes().to_vec();
            if bytes == b"not enough memory" {
                return Ok(v);
            }
            let (mut message, from_prelude) = scrub(&bytes);
            let located = split_location(&String::from_utf8_lossy(&message)).is_some();
            // `error("text", 0)` in a script means "no position": keep it so
            // while the script itself handles the error.
            let raised_by_error = raiser(lua).is_some_and(|f| f == *error_fn);
            let wants_position = !located && (from_prelude || mode == Mode::Uncaught || !raised_by_error);
            if wants_position {
                if let Some(at) = at(lua) {
                    let mut out = format!("{at}: ").into_bytes();
                    out.append(&mut message);
                    message = out;
                }
            }
            if message == bytes {
                return Ok(v);
            }
            Ok(Value::String(lua.create_string(&message)?))
        }
        _ if mode == Mode::Caught => {
            // Kept as raised; remember where, for when luakit raises it again
            // (`require` passes a module's error on).
            if let Some(at) = at(lua) {
                let record = lua.create_table()?;
                record.raw_set(1, v.clone())?;
                record.raw_set(2, at)?;
                lua.set_named_registry_value(RAISED, record)?;
            }
            Ok(v)
        }
        other => {
            let text = match other {
                Value::Integer(_) | Value::Number(_) => tostring.call::<String>(other.clone()).ok(),
                Value::Table(_) | Value::UserData(_) if has_tostring(other) => {
                    tostring.call::<mlua::LuaString>(other.clone()).ok().map(|s| s.to_string_lossy())
                }
                _ => None,
            }
            .unwrap_or_else(|| format!("(error object is a {} value)", type_name(other)));
            let position = match passed_on(lua, other) {
                Some(at) => Some(at),
                None => at(lua),
            };
            let text = match position {
                Some(at) if split_location(&text).is_none() => format!("{at}: {text}"),
                _ => text,
            };
            Ok(Value::String(lua.create_string(text)?))
        }
    }
}

/// `file:line` of the innermost script frame.
fn at(lua: &Lua) -> Option<String> {
    caller(lua).map(|(file, line)| format!("{file}:{line}"))
}

/// Where a value luakit's prelude raises again was first raised, if it was
/// recorded then.
fn passed_on(lua: &Lua, v: &Value) -> Option<String> {
    let from_prelude = lua.inspect_stack(2, |d| d.source().source.is_some_and(|s| s.as_bytes() == b"=luakit"))?;
    if !from_prelude {
        return None;
    }
    let record: mlua::Table = lua.named_registry_value(RAISED).ok()?;
    let value: Value = record.raw_get(1).ok()?;
    if value != *v {
        return None;
    }
    record.raw_get::<String>(2).ok()
}

/// The function that raised the error (level 0 is the handler itself).
fn raiser(lua: &Lua) -> Option<Function> {
    lua.inspect_stack(1, |d| d.function())
}

/// Whether `tostring` gives a value's own text (a table with `__tostring`,
/// or one of luakit's values: states, mounts and platforms have one).
fn has_tostring(v: &Value) -> bool {
    match v {
        Value::Table(t) => {
            t.metatable().is_some_and(|mt| !matches!(mt.raw_get::<Value>("__tostring"), Ok(Value::Nil) | Err(_)))
        }
        Value::UserData(_) => true,
        _ => false,
    }
}

/// The message without positions in luakit's prelude, and whether it
/// started with one (then the error is the script's call of a wrapped
/// built-in, and the wrapper's local names become the built-ins' names).
pub(crate) fn scrub(msg: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(msg.len());
    let mut from_prelude = false;
    let mut i = 0;
    while i < msg.len() {
        if let Some(n) = prelude_position(&msg[i..]) {
            // Only at the start, or after another position (`build.lua:3: luakit:166: …`).
            if i == 0 || out.ends_with(b": ") {
                from_prelude |= i == 0;
                i += n;
                continue;
            }
        }
        out.push(msg[i]);
        i += 1;
    }
    if from_prelude {
        for (internal, public) in INTERNAL_NAMES {
            out = replace(&out, format!("'{internal}'").as_bytes(), format!("'{public}'").as_bytes());
        }
    }
    (out, from_prelude)
}

/// The length of `luakit:<digits>: ` at the start of `s`.
fn prelude_position(s: &[u8]) -> Option<usize> {
    let rest = s.strip_prefix(PRELUDE)?.strip_prefix(b":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !rest[digits..].starts_with(b": ") {
        return None;
    }
    Some(PRELUDE.len() + 1 + digits + 2)
}

fn replace(s: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_positions_are_removed() {
        let (m, p) = scrub(b"luakit:166: bad argument #3 to 'rep' (string expected, got table)");
        assert_eq!(String::from_utf8_lossy(&m), "bad argument #3 to 'rep' (string expected, got table)");
        assert!(p);
        let (m, p) = scrub(b"luakit:77: bad argument #1 to 'setmetatable_' (table expected, got number)");
        assert_eq!(String::from_utf8_lossy(&m), "bad argument #1 to 'setmetatable' (table expected, got number)");
        assert!(p);
        let (m, p) = scrub(b"build.lua:5: luakit:166: resulting string too large");
        assert_eq!(String::from_utf8_lossy(&m), "build.lua:5: resulting string too large");
        assert!(!p);
        let (m, p) = scrub(b"build.lua:1: see luakit:1: here");
        assert_eq!(String::from_utf8_lossy(&m), "build.lua:1: see luakit:1: here");
        assert!(!p);
        let (m, _) = scrub(b"luakit:x: y");
        assert_eq!(m, b"luakit:x: y");
    }
}
