//! Reading Lua tables and strings straight off the Lua stack.
//!
//! mlua reads a table with a protected call, and hands out each key and
//! value as a reference it registers and later frees; reading a string
//! clones its reference to keep the bytes alive. For the small tables and
//! strings of a typical API call (`{ "sh", "-c", cmd }`, `{ cwd = "/w" }`)
//! that bookkeeping costs several times the reading itself.
//!
//! These readers walk a table with `lua_next` and read strings with
//! `lua_tolstring`, on the calling function's own stack. They use only
//! Lua API functions that cannot raise an error: `lua_next` fails only on
//! a key the table does not hold (the walk passes back the key it was
//! given), strings are read only when they are strings (never numbers,
//! which `lua_tolstring` would convert in place), and stack space is
//! checked with `lua_checkstack`, which reports failure instead of raising
//! it. So no Lua error can unwind through Rust frames here.
//!
//! They serve the common case only: each says `None` when a value is
//! anything it does not read (a wrong type, text that is not valid UTF-8
//! or holds a NUL byte, no stack space), and the caller then takes its
//! general path, which gives the same result or the error message.

use mlua::state::RawLua;
use mlua::{IntoLua, Lua, LuaString, Table, Value, ffi};

/// A key or value as the walk reads it.
pub(crate) enum Raw<'s> {
    /// A string, when it is valid UTF-8 text without NUL bytes.
    Text(&'s str),
    /// An integer (a float is `Other`).
    Int(i64),
    /// Anything else, including a string that is not valid text.
    Other,
}

/// Reads the value at `idx` of `state`.
///
/// # Safety
/// `idx` must be a valid index of `state`.
pub(crate) unsafe fn read<'s>(state: *mut ffi::lua_State, idx: i32) -> Raw<'s> {
    // SAFETY: the caller guarantees `idx`; the bytes of a string on the
    // stack stay valid while it is there, which outlasts every use the
    // walk makes of them.
    unsafe {
        match ffi::lua_type(state, idx) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(state, idx, &mut len);
                let bytes = std::slice::from_raw_parts(p.cast::<u8>(), len);
                match std::str::from_utf8(bytes) {
                    Ok(t) if !bytes.contains(&0) => Raw::Text(t),
                    _ => Raw::Other,
                }
            }
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, idx) != 0 => Raw::Int(ffi::lua_tointeger(state, idx)),
            _ => Raw::Other,
        }
    }
}

/// Runs `f` with `value` pushed on the calling function's stack (at index
/// `top + 1`, `f` given that index) and `slots` more stack slots free,
/// then puts the stack back to its height on entry. `None` when there is
/// no room, or the value cannot be pushed.
fn with_pushed<T>(
    lua: &Lua,
    value: impl IntoLua,
    slots: i32,
    f: impl FnOnce(&RawLua, *mut ffi::lua_State, i32) -> Option<T>,
) -> Option<T> {
    lua.exec_raw_lua(|raw| {
        let state = raw.state();
        // SAFETY: see the module documentation: every call here (and in
        // the callers' `f`) is one that cannot raise a Lua error, and the
        // stack is put back to its height on entry whatever happens.
        unsafe {
            if ffi::lua_checkstack(state, slots + 1) == 0 {
                return None;
            }
            let top = ffi::lua_gettop(state);
            let out = match raw.push(value) {
                Ok(()) => f(raw, state, top + 1),
                Err(_) => None,
            };
            ffi::lua_settop(state, top);
            out
        }
    })
}

/// Walks the pairs of `t` (raw: no metamethods), calling `f` with each key
/// and value, and a way to take the value as an mlua [`Value`] (a
/// registered reference, as mlua's own walk makes for every value), until
/// it returns false. True when every pair was seen; false when stopped or
/// when the walk could not run.
pub(crate) fn walk_values(t: &Table, mut f: impl FnMut(Raw<'_>, Raw<'_>, &dyn Fn() -> Value) -> bool) -> bool {
    // A key, a value and a copy of the value above the table.
    with_pushed(&t.weak_lua().upgrade(), t, 3, |raw, state, table| {
        // SAFETY: as in `with_pushed`; `table` holds the table, and a slot
        // was reserved for the copy of the value, taken at the top.
        unsafe {
            Some(walk_at(state, table, |k, v| {
                let value = || {
                    ffi::lua_pushvalue(state, v);
                    raw.pop_value()
                };
                f(read(state, k), read(state, v), &value)
            }))
        }
    })
    .unwrap_or(false)
}

/// The text of `s` when it is valid UTF-8 without NUL bytes (what
/// `opts::text` accepts), else `None`.
pub(crate) fn text(s: &LuaString) -> Option<String> {
    with_pushed(&s.weak_lua().upgrade(), s, 0, |_, state, at| {
        // SAFETY: `at` holds the string while it is read.
        match unsafe { read(state, at) } {
            Raw::Text(t) => Some(t.to_string()),
            _ => None,
        }
    })
}

/// A list of strings (`{"a", "b"}`, positions 1..n and nothing else), when
/// every item is text.
pub(crate) fn string_list(t: &Table) -> Option<Vec<String>> {
    // SAFETY: `at` holds the table; `list_at` needs two slots.
    with_pushed(&t.weak_lua().upgrade(), t, 2, |_, state, at| unsafe { list_at(state, at) })
}

/// The pairs of a table of text keys to text values, in key order.
pub(crate) fn string_pairs(t: &Table) -> Option<Vec<(String, String)>> {
    // SAFETY: `at` holds the table; `pairs_at` needs two slots.
    with_pushed(&t.weak_lua().upgrade(), t, 2, |_, state, at| unsafe { pairs_at(state, at) })
}

/// Walks the pairs of the table at `idx` of `state` (raw: no metamethods),
/// calling `f` with the stack indices of each key and value until it
/// returns false. True when every pair was seen; the stack is as it was.
///
/// # Safety
/// `idx` must hold a table, and two stack slots must be free (and two more
/// for each walk `f` makes).
pub(crate) unsafe fn walk_at(state: *mut ffi::lua_State, idx: i32, mut f: impl FnMut(i32, i32) -> bool) -> bool {
    // SAFETY: as the caller guarantees; `lua_next` raises only on a key the
    // table does not hold, and each step passes back the key it was given.
    unsafe {
        let idx = ffi::lua_absindex(state, idx);
        let top = ffi::lua_gettop(state);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, idx) != 0 {
            if !f(top + 1, top + 2) {
                ffi::lua_settop(state, top);
                return false;
            }
            // Keep the key for the next step.
            ffi::lua_settop(state, top + 1);
        }
        true
    }
}

/// The table at `idx` as a list of text ([`string_list`]).
///
/// # Safety
/// As [`walk_at`].
pub(crate) unsafe fn list_at(state: *mut ffi::lua_State, idx: i32) -> Option<Vec<String>> {
    // SAFETY: as the caller guarantees; keys and values are read where
    // the walk puts them.
    unsafe {
        let len = ffi::lua_rawlen(state, idx);
        // Items come in order 1..n from a table's array part: they are
        // pushed as they come, and put in place only when they do not.
        let mut items: Vec<String> = Vec::with_capacity(len);
        let mut placed: Option<Vec<Option<String>>> = None;
        let complete = walk_at(state, idx, |k, v| match (read(state, k), read(state, v)) {
            (Raw::Int(i), Raw::Text(s)) if i >= 1 && (i as usize) <= len => {
                match &mut placed {
                    None if i as usize == items.len() + 1 => items.push(s.to_string()),
                    None => {
                        let mut all: Vec<Option<String>> = std::mem::take(&mut items).into_iter().map(Some).collect();
                        all.resize(len, None);
                        all[i as usize - 1] = Some(s.to_string());
                        placed = Some(all);
                    }
                    Some(all) => all[i as usize - 1] = Some(s.to_string()),
                }
                true
            }
            _ => false,
        });
        if !complete {
            return None;
        }
        match placed {
            None => (items.len() == len).then_some(items),
            Some(all) => all.into_iter().collect(),
        }
    }
}

/// The table at `idx` as text keys to text values, in key order
/// ([`string_pairs`]).
///
/// # Safety
/// As [`walk_at`].
pub(crate) unsafe fn pairs_at(state: *mut ffi::lua_State, idx: i32) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    // SAFETY: as the caller guarantees; keys and values are read where
    // the walk puts them.
    let complete = unsafe {
        walk_at(state, idx, |k, v| match (read(state, k), read(state, v)) {
            (Raw::Text(k), Raw::Text(v)) => {
                out.push((k.to_string(), v.to_string()));
                true
            }
            _ => false,
        })
    };
    if !complete {
        return None;
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Some(out)
}

/// A Lua thread of the VM that is running a call now: the thread a `bk`
/// function was called on, whose stack holds the script's frames. Only
/// such a thread is made into one, so reading its stack is sound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Running(*mut ffi::lua_State);

impl Running {
    /// The thread mlua runs the current Rust function on (the caller's).
    pub(crate) fn current(lua: &Lua) -> Self {
        Running(lua.exec_raw_lua(|raw| raw.state()))
    }

    /// The thread itself.
    pub(crate) fn as_ptr(self) -> *mut ffi::lua_State {
        self.0
    }

    /// # Safety
    /// `state` must be a thread of the VM that is running (the one a C
    /// function was called on), for as long as the value is used.
    pub(crate) unsafe fn from_ptr(state: *mut ffi::lua_State) -> Self {
        Running(state)
    }
}

/// The nearest calling frame of the running thread (level 1 up to 199) that runs a script file
/// (chunk name `@file`) at a known line, as `f(file, line)`: what
/// `Lua::inspect_stack` with `source()` and `current_line()` finds level by
/// level, read with one `lua_getinfo("Sl")` per level; the file name is
/// given as the chunk name's bytes after the `@`. `None` when no frame
/// qualifies.
pub(crate) fn script_frame<T>(thread: Running, f: impl FnOnce(&[u8], i32) -> T) -> Option<T> {
    let state = thread.0;
    for level in 1..200 {
        // SAFETY: `state` is a running Lua thread (see `Running`). An
        // all-zero `lua_Debug` is a valid value of the plain C struct;
        // `lua_getstack` and `lua_getinfo` with "Sl" fill it without
        // allocating or raising, and `source` then points to the chunk
        // name, a NUL-terminated string the function keeps alive while it
        // runs (it is on the stack).
        unsafe {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            if ffi::lua_getstack(state, level, &mut ar) == 0 {
                return None;
            }
            if ffi::lua_getinfo(state, c"Sl".as_ptr(), &mut ar) == 0 || ar.source.is_null() {
                continue;
            }
            let source = std::ffi::CStr::from_ptr(ar.source).to_bytes();
            let Some(file) = source.strip_prefix(b"@") else { continue };
            if ar.currentline < 0 {
                continue;
            }
            return Some(f(file, ar.currentline));
        }
    }
    None
}

/// The elements of a sequence table (positions 1..n and nothing else).
pub(crate) fn sequence(t: &Table) -> Option<Vec<Value>> {
    let len = t.raw_len();
    let mut out = vec![Value::Nil; len];
    let complete = walk_values(t, |k, _, value| match k {
        Raw::Int(i) if i >= 1 && (i as usize) <= len => {
            out[i as usize - 1] = value();
            true
        }
        _ => false,
    });
    complete.then_some(out)
}

/// The options an options table sets, each as the position of its name in
/// `known` and its value, when every key is a known name.
pub(crate) fn options(t: &Table, known: &[&str]) -> Option<Vec<(usize, Value)>> {
    let mut present = Vec::with_capacity(4);
    let complete = walk_values(t, |k, _, value| match k {
        Raw::Text(name) => match known.iter().position(|n| *n == name) {
            Some(i) => {
                present.push((i, value()));
                true
            }
            None => false,
        },
        _ => false,
    });
    complete.then_some(present)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn table(lua: &Lua, src: &str) -> Table {
        lua.load(format!("return {src}")).eval().expect("a table")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn lists_of_text_are_read_and_anything_else_is_left_to_the_general_path() {
        let lua = Lua::new();
        assert_eq!(string_list(&table(&lua, r#"{"a", "b", "c"}"#)), Some(strings(&["a", "b", "c"])));
        assert_eq!(string_list(&table(&lua, "{}")), Some(Vec::new()));
        // Items kept in the hash part, walked in no particular order.
        let hashed = "(function() local t = {} for i = 40, 1, -1 do t[i] = 'x' .. i end return t end)()";
        let expected: Vec<String> = (1..=40).map(|i| format!("x{i}")).collect();
        assert_eq!(string_list(&table(&lua, hashed)), Some(expected));
        for other in [
            r#"{"a", 1}"#,
            r#"{"a", nil, "c"}"#,
            r#"{"a\0b"}"#,
            r#"{"\xff"}"#,
            r#"{x = "a"}"#,
            r#"{"a", x = "b"}"#,
            r#"{[1.5] = "a"}"#,
            r#"{[0] = "a"}"#,
            r#"{{"nested"}}"#,
        ] {
            assert_eq!(string_list(&table(&lua, other)), None, "{other}");
        }
    }

    #[test]
    fn text_maps_are_read_in_key_order() {
        let lua = Lua::new();
        let pairs = string_pairs(&table(&lua, r#"{B = "2", A = "1", C = ""}"#));
        let expected = [("A", "1"), ("B", "2"), ("C", "")];
        assert_eq!(pairs, Some(expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()));
        for other in [r#"{A = 1}"#, r#"{"x"}"#, r#"{A = "\0"}"#, r#"{["\xff"] = "v"}"#, r#"{A = {}}"#] {
            assert_eq!(string_pairs(&table(&lua, other)), None, "{other}");
        }
    }

    #[test]
    fn options_tables_with_known_names_only() {
        let lua = Lua::new();
        let known = ["cwd", "env", "user"];
        let mut got = options(&table(&lua, r#"{user = "me", cwd = "/w", env = {N = "1"}}"#), &known).expect("known");
        got.sort_by_key(|(i, _)| *i);
        assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(matches!(&got[0].1, Value::String(s) if s.to_str().expect("text") == "/w"));
        assert!(matches!(&got[1].1, Value::Table(_)));
        for other in [r#"{bogus = 1}"#, r#"{cwd = "/", [1] = "x"}"#, r#"{["c\xffwd"] = 1}"#] {
            assert!(options(&table(&lua, other), &known).is_none(), "{other}");
        }
        assert!(options(&table(&lua, "{}"), &known).is_some_and(|p| p.is_empty()));
    }

    #[test]
    fn sequences_keep_their_values_in_order() {
        let lua = Lua::new();
        let items = sequence(&table(&lua, r#"{1, "x", {}, true}"#)).expect("a sequence");
        assert!(matches!(
            items.as_slice(),
            [Value::Integer(1), Value::String(_), Value::Table(_), Value::Boolean(true)]
        ));
        assert!(sequence(&table(&lua, r#"{1, x = 2}"#)).is_none());
    }

    #[test]
    fn text_is_valid_utf8_without_nul() {
        let lua = Lua::new();
        let s = |src: &str| -> LuaString { lua.load(format!("return {src}")).eval().expect("a string") };
        assert_eq!(text(&s(r#""héllo""#)), Some("héllo".to_string()));
        assert_eq!(text(&s(r#""a\0b""#)), None);
        assert_eq!(text(&s(r#""\xff""#)), None);
    }

    #[test]
    fn walks_leave_the_stack_as_they_found_it() {
        let lua = Lua::new();
        let f = lua
            .create_function(|lua, t: Table| {
                let top = || lua.exec_raw_lua(|raw| unsafe { ffi::lua_gettop(raw.state()) });
                let before = top();
                let stopped = !walk_values(&t, |_, _, _| false);
                let full = walk_values(&t, |_, _, _| true);
                let list = string_list(&t);
                Ok((before == top(), stopped, full, list.is_some()))
            })
            .expect("function");
        let (same, stopped, full, list): (bool, bool, bool, bool) = f.call(table(&lua, r#"{"a", "b"}"#)).expect("call");
        assert!(same && stopped && full && list);
    }
}
