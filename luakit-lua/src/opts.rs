//! Checking Lua values against what the `bk` API expects: option tables
//! (unknown keys, types), lists, maps, modes, owners and platforms.
//!
//! Every checker returns [`Fail`]: either a message (the caller adds file,
//! line and function) or a Lua error that must travel on unchanged (memory).

use std::collections::BTreeMap;

use luakit_graph::{Chown, Platform, UserRef};
use mlua::{AnyUserData, Table, Value};

use crate::userdata::{LMount, LPlatform};

/// Why a `bk` call failed, before it is given a location.
#[derive(Debug)]
pub(crate) enum Fail {
    /// What was wrong, in words.
    Msg(String),
    /// What was wrong with one option (the message names it): the error
    /// points at the line where `key =` is written, when the script's text
    /// shows it among the call's arguments.
    Option {
        /// The option's name as the script wrote it.
        key: String,
        /// What was wrong, in words.
        message: String,
    },
    /// A Lua error (allocation failure, limit hit, error from Lua code) passed on as is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Self {
        Fail::Lua(e)
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Msg(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Self {
        Fail::Msg(s.to_string())
    }
}

impl From<luakit_graph::GraphError> for Fail {
    fn from(e: luakit_graph::GraphError) -> Self {
        Fail::Msg(e.to_string())
    }
}

impl Fail {
    /// A failure of option `key`.
    pub(crate) fn option(key: &str, message: impl Into<String>) -> Fail {
        Fail::Option { key: key.to_string(), message: message.into() }
    }

    /// The failure as one of option `key` (a failure already about an
    /// option, such as one of a nested table, keeps its own).
    pub(crate) fn at(self, key: &str) -> Fail {
        match self {
            Fail::Msg(message) => Fail::Option { key: key.to_string(), message },
            other => other,
        }
    }

    /// The same failure with its message rewritten (a Lua error passes unchanged).
    pub(crate) fn map_msg(self, f: impl FnOnce(String) -> String) -> Fail {
        match self {
            Fail::Msg(m) => Fail::Msg(f(m)),
            Fail::Option { key, message } => Fail::Option { key, message: f(message) },
            lua @ Fail::Lua(_) => lua,
        }
    }
}

pub(crate) type R<T> = Result<T, Fail>;

/// The name of a value's type as a script writer knows it.
pub(crate) fn type_name(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(_) => "boolean".into(),
        Value::Integer(_) | Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Table(_) => "table".into(),
        Value::Function(_) => "function".into(),
        Value::Thread(_) => "thread".into(),
        Value::UserData(ud) => userdata_name(ud).into(),
        Value::LightUserData(_) => "userdata".into(),
        Value::Error(_) => "error".into(),
        _ => "userdata".into(),
    }
}

fn userdata_name(ud: &AnyUserData) -> &'static str {
    if crate::lstate::is_state(ud) {
        "state"
    } else if ud.is::<LMount>() {
        "mount"
    } else if ud.is::<LPlatform>() {
        "platform"
    } else {
        "userdata"
    }
}

/// Optimal-string-alignment distance (a transposition costs 1).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The closest of `known` to `given`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = given.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for k in known {
        let d = edit_distance(&lower, k);
        let limit = if k.len() <= 3 {
            1
        } else if k.len() <= 6 {
            2
        } else {
            3
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// A ` (did you mean 'x'?)` suffix, or nothing.
pub(crate) fn did_you_mean(given: &str, known: &[&str]) -> String {
    match suggest(given, known) {
        Some(k) => format!(" (did you mean '{k}'?)"),
        None => String::new(),
    }
}

/// The hint for an unknown option: what luakit calls a Dockerfile word
/// (see `words`), else the nearest option by spelling.
pub(crate) fn option_hint(given: &str, known: &[&str]) -> String {
    crate::words::hint(given, known).unwrap_or_else(|| did_you_mean(given, known))
}

/// Text for a table key in a message.
fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => shown(s),
        Value::Integer(i) => format!("[{i}]"),
        Value::Number(n) => format!("[{n}]"),
        other => format!("[{}]", type_name(other)),
    }
}

/// A checked option table: every key is known; getters check types.
///
/// The values are taken in the one pass over the table that checks the
/// keys, so a getter is a scan of a few entries rather than a Lua call
/// (which would also make a Lua string of the key every time).
pub(crate) struct Opts {
    known: &'static [&'static str],
    /// (index into `known`, value) of the options the table sets.
    present: Vec<(usize, Value)>,
}

impl Opts {
    /// Checks `value` (nil or a table) against the known option names.
    pub(crate) fn new(value: &Value, known: &'static [&'static str]) -> R<Opts> {
        let table = match value {
            Value::Nil => return Ok(Opts { known, present: Vec::new() }),
            Value::Table(t) => t,
            other => return Err(format!("options must be a table, got {}", type_name(other)).into()),
        };
        if let Some(present) = crate::raw::options(table, known) {
            return Ok(Opts { known, present });
        }
        let mut unknown: Vec<String> = Vec::new();
        let mut present = Vec::with_capacity(4);
        for_each_pair(table, |k, v| match &k {
            Value::String(s) => {
                let at = {
                    let bytes = s.as_bytes();
                    known.iter().position(|n| n.as_bytes() == &bytes[..])
                };
                match at {
                    Some(i) => present.push((i, v)),
                    None => unknown.push(shown(s)),
                }
                Ok(())
            }
            other => Err(format!(
                "unexpected positional value {} in the options table (options are written name = value)",
                key_text(other)
            )
            .into()),
        })?;
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(Fail::option(name, format!("unknown option '{name}'{}", option_hint(name, known))));
        }
        Ok(Opts { known, present })
    }

    /// The raw value of an option (nil when absent).
    pub(crate) fn raw(&self, key: &str) -> R<Value> {
        Ok(self.get(key).clone())
    }

    /// [`Opts::raw`] without copying the value (a copy of a table or a
    /// string is a new Lua reference). The table was checked to hold known
    /// option names only, so a name it does not set, known or not, is nil
    /// (as a raw read of the table would find: no Lua code runs between
    /// the check and the getters).
    pub(crate) fn get(&self, key: &str) -> &Value {
        const NIL: &Value = &Value::Nil;
        self.present.iter().find(|(i, _)| self.known[*i] == key).map_or(NIL, |(_, v)| v)
    }

    fn wrong(key: &str, expected: &str, v: &Value) -> Fail {
        Fail::option(key, format!("option '{key}' must be {expected}, got {}", type_name(v)))
    }

    pub(crate) fn string(&self, key: &str) -> R<Option<String>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            Value::String(s) => text(s).map(Some).map_err(|m| Fail::Msg(format!("option '{key}' {m}"))),
            v => Err(Self::wrong(key, "a string", v)),
        }
    }

    pub(crate) fn boolean(&self, key: &str) -> R<Option<bool>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            Value::Boolean(b) => Ok(Some(*b)),
            v => Err(Self::wrong(key, "a boolean (true or false)", v)),
        }
    }

    pub(crate) fn integer(&self, key: &str) -> R<Option<i64>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => match as_integer(v) {
                Some(i) => Ok(Some(i)),
                None => Err(Self::wrong(key, "an integer", v)),
            },
        }
    }

    /// A non-negative integer that fits in u32 (uid, gid).
    pub(crate) fn id(&self, key: &str) -> R<Option<u32>> {
        match self.integer(key)? {
            None => Ok(None),
            Some(i) => u32::try_from(i)
                .map(Some)
                .map_err(|_| Fail::option(key, format!("option '{key}' must be between 0 and {}, got {i}", u32::MAX))),
        }
    }

    pub(crate) fn string_list(&self, key: &str) -> R<Option<Vec<String>>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => string_list(v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        }
    }

    pub(crate) fn string_map(&self, key: &str) -> R<Option<BTreeMap<String, String>>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => string_map(v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        }
    }

    pub(crate) fn mode(&self, key: &str) -> R<Option<u32>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => mode(v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        }
    }

    pub(crate) fn owner(&self, key: &str) -> R<Option<Chown>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => owner(v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        }
    }

    pub(crate) fn platform(&self, key: &str) -> R<Option<Platform>> {
        match self.get(key) {
            Value::Nil => Ok(None),
            v => platform(v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        }
    }

    /// One of a fixed set of strings.
    pub(crate) fn choice(&self, key: &str, choices: &[&str]) -> R<Option<String>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) if choices.contains(&s.as_str()) => Ok(Some(s)),
            Some(s) => Err(Fail::option(
                key,
                format!(
                    "option '{key}' must be one of {}, got '{s}'{}",
                    choices.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
                    did_you_mean(&s, choices)
                ),
            )),
        }
    }
}

/// `option 'key' must …`, or `option 'key': invalid …` for a message that
/// is a sentence of its own.
pub(crate) fn option_msg(key: &str, m: &str) -> String {
    if ["unknown ", "invalid ", "unexpected "].iter().any(|p| m.starts_with(p)) {
        format!("option '{key}': {m}")
    } else {
        format!("option '{key}' {m}")
    }
}

/// A Lua string for a message only (invalid UTF-8 shown as U+FFFD). Never
/// for a value that goes into the graph: those go through [`text`].
pub(crate) fn shown(s: &mlua::LuaString) -> String {
    s.to_string_lossy().to_string()
}

/// A string a script hands to `bk`, as the build graph will hold it. This is
/// the one place where script strings become graph text: LLB is protobuf,
/// whose strings must be UTF-8, and every string of an op ends up as a path,
/// an argument, an environment entry, an id, a header or a label, none of
/// which can hold a NUL byte. `Err` says what is wrong, phrased to follow the
/// name of the value (`argument 1 (command) item 2 is not valid UTF-8 …`).
pub(crate) fn text(s: &mlua::LuaString) -> Result<String, String> {
    if let Some(t) = crate::raw::text(s) {
        return Ok(t);
    }
    let bytes = s.as_bytes();
    match std::str::from_utf8(&bytes) {
        Ok(t) => match t.find('\0') {
            Some(at) => Err(format!("contains a NUL byte (at offset {at})")),
            None => Ok(t.to_string()),
        },
        Err(e) => {
            let at = e.valid_up_to();
            Err(format!("is not valid UTF-8 text (byte 0x{:02x} at offset {at})", bytes[at]))
        }
    }
}

/// An integer, also from a float with an integral value.
pub(crate) fn as_integer(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() && n.abs() < 9.0e15 => Some(*n as i64),
        _ => None,
    }
}

/// Visits the entries of `t` in `next` order (raw: no metamethods), as
/// `pairs` would, until `f` fails; its failure is returned. One protected
/// walk of the table, where mlua's pairs iterator re-enters Lua per entry.
pub(crate) fn for_each_pair(t: &Table, mut f: impl FnMut(Value, Value) -> R<()>) -> R<()> {
    let mut failed: Option<Fail> = None;
    let walked = t.for_each::<Value, Value>(|k, v| match f(k, v) {
        Ok(()) => Ok(()),
        Err(e) => {
            failed = Some(e);
            // Only stops the walk: the failure above is what is returned.
            Err(mlua::Error::runtime("stopped"))
        }
    });
    match failed {
        Some(e) => Err(e),
        None => walked.map_err(Fail::Lua),
    }
}

/// The elements of a sequence table, checking that it has no other keys.
/// One pass over the table: each key is either a position of the sequence
/// (its value goes there) or a reason to refuse it.
pub(crate) fn sequence(t: &Table) -> R<Vec<Value>> {
    if let Some(items) = crate::raw::sequence(t) {
        return Ok(items);
    }
    let len = t.raw_len();
    let mut out = vec![Value::Nil; len];
    for_each_pair(t, |k, v| match as_integer(&k) {
        Some(i) if i >= 1 && (i as usize) <= len => {
            out[i as usize - 1] = v;
            Ok(())
        }
        _ => Err(Fail::Msg(format!("has an unexpected key {} (a list was expected)", key_text(&k)))),
    })?;
    Ok(out)
}

/// A list of strings (`{"a", "b"}`); a single string counts as a list of one.
pub(crate) fn string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![text(s)?]),
        Value::Table(t) => {
            if let Some(list) = crate::raw::string_list(t) {
                return Ok(list);
            }
            // As `sequence`, converting each item as it is met: a key that
            // is not a position fails the walk; then the first item (in
            // order) that is not a string, or not valid text, is reported.
            let len = t.raw_len();
            let mut items: Vec<Option<Result<String, String>>> = vec![None; len];
            for_each_pair(t, |k, v| match as_integer(&k) {
                Some(i) if i >= 1 && (i as usize) <= len => {
                    let i = i as usize;
                    items[i - 1] = Some(match &v {
                        Value::String(s) => text(s).map_err(|m| format!("item {i} {m}")),
                        other => Err(format!("must be a list of strings, but item {i} is a {}", type_name(other))),
                    });
                    Ok(())
                }
                _ => Err(Fail::Msg(format!("has an unexpected key {} (a list was expected)", key_text(&k)))),
            })
            .map_err(fail_text)?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, it)| match it {
                    Some(r) => r,
                    None => Err(format!("must be a list of strings, but item {} is a nil", i + 1)),
                })
                .collect()
        }
        other => Err(format!("must be a list of strings, got {}", type_name(other))),
    }
}

/// A table of string keys to string values.
pub(crate) fn string_map(v: &Value) -> Result<BTreeMap<String, String>, String> {
    Ok(string_pairs(v)?.into_iter().collect())
}

/// [`string_map`] as a list of pairs in key order (what iterating the map
/// gives), without building the map.
pub(crate) fn string_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    let Value::Table(t) = v else {
        return Err(format!("must be a table of name = \"value\", got {}", type_name(v)));
    };
    if let Some(pairs) = crate::raw::string_pairs(t) {
        return Ok(pairs);
    }
    let mut out = Vec::new();
    for_each_pair(t, |k, val| {
        let Value::String(k) = k else {
            return Err(format!("must be a table of name = \"value\", but has the key {}", key_text(&k)).into());
        };
        let k = text(&k).map_err(|m| format!("has a key '{}' that {m}", shown(&k).escape_debug()))?;
        match val {
            Value::String(s) => {
                let v = text(&s).map_err(|m| format!("value for '{k}' {m}"))?;
                out.push((k, v));
                Ok(())
            }
            other => Err(format!("value for '{k}' must be a string, got {}", type_name(&other)).into()),
        }
    })
    .map_err(fail_text)?;
    // Table keys are distinct, and so is their text: sorting orders them
    // as the map would.
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

pub(crate) fn fail_text(f: Fail) -> String {
    match f {
        Fail::Msg(m) | Fail::Option { message: m, .. } => m,
        Fail::Lua(e) => e.to_string(),
    }
}

/// A file mode: an octal string (`"0755"`) or an integer. Integers that
/// look like octal written in decimal are refused with a hint.
pub(crate) fn mode(v: &Value) -> Result<u32, String> {
    match v {
        Value::String(s) => {
            let text = shown(s);
            let digits = text.strip_prefix("0o").unwrap_or(&text);
            if digits.is_empty() || digits.len() > 6 || !digits.chars().all(|c| ('0'..='7').contains(&c)) {
                return Err(format!("must be an octal mode such as \"0755\", got \"{text}\""));
            }
            let m = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
            if m > 0o7777 {
                return Err(format!("must be at most \"07777\", got \"{text}\""));
            }
            Ok(m)
        }
        other => {
            let Some(i) = as_integer(other) else {
                return Err(format!("must be an octal string such as \"0755\", got {}", type_name(other)));
            };
            let digits = i.to_string();
            if (3..=4).contains(&digits.len()) && digits.chars().all(|c| ('0'..='7').contains(&c)) {
                return Err(format!(
                    "is the decimal number {i}, which is probably meant as octal: Lua has no octal literals, write \"{}\" (a string)",
                    if digits.len() == 3 { format!("0{digits}") } else { digits }
                ));
            }
            if !(0..=0o7777).contains(&i) {
                return Err(format!("must be between 0 and 4095 (\"07777\"), got {i}"));
            }
            Ok(i as u32)
        }
    }
}

/// A user or group: a name, or an id given as an integer or a numeric string.
fn user_ref(v: &Value, what: &str) -> Result<UserRef, String> {
    match v {
        Value::String(s) => {
            let text = text(s).map_err(|m| format!("{what} {m}"))?;
            if text.is_empty() {
                return Err(format!("{what} must not be empty"));
            }
            if text.chars().all(|c| c.is_ascii_digit()) {
                return text.parse::<u32>().map(UserRef::Id).map_err(|_| format!("{what} id '{text}' is too large"));
            }
            Ok(UserRef::Name(text))
        }
        other => match as_integer(other) {
            Some(i) => u32::try_from(i).map(UserRef::Id).map_err(|_| format!("{what} id {i} is out of range")),
            None => Err(format!("{what} must be a name or a numeric id, got {}", type_name(other))),
        },
    }
}

/// An owner: `"user"`, `"user:group"`, a uid, or `{user = …, group = …}`.
pub(crate) fn owner(v: &Value) -> Result<Chown, String> {
    match v {
        Value::String(s) => {
            let text = text(s)?;
            let (u, g) = match text.split_once(':') {
                Some((u, g)) => (u.to_string(), Some(g.to_string())),
                None => (text.clone(), None),
            };
            let user = parse_name_or_id(&u, "user")?;
            let group = match g {
                Some(g) => Some(parse_name_or_id(&g, "group")?),
                None => None,
            };
            Ok(Chown { user: Some(user), group })
        }
        Value::Table(_) => {
            let opts = Opts::new(v, crate::reference::OWNER.names).map_err(fail_text)?;
            let user = match opts.raw("user").map_err(fail_text)? {
                Value::Nil => None,
                u => Some(user_ref(&u, "user")?),
            };
            let group = match opts.raw("group").map_err(fail_text)? {
                Value::Nil => None,
                g => Some(user_ref(&g, "group")?),
            };
            if user.is_none() && group.is_none() {
                return Err("must name a user, a group or both".to_string());
            }
            Ok(Chown { user, group })
        }
        other => match as_integer(other) {
            Some(_) => Ok(Chown { user: Some(user_ref(other, "user")?), group: None }),
            None => Err(format!(
                "must be \"user\", \"user:group\", a uid or {{user = …, group = …}}, got {}",
                type_name(other)
            )),
        },
    }
}

fn parse_name_or_id(text: &str, what: &str) -> Result<UserRef, String> {
    if text.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return text.parse::<u32>().map(UserRef::Id).map_err(|_| format!("{what} id '{text}' is too large"));
    }
    Ok(UserRef::Name(text.to_string()))
}

/// A platform: a platform value, `"os/arch[/variant]"`, or `{os=…, arch=…, variant=…}`.
pub(crate) fn platform(v: &Value) -> Result<Platform, String> {
    match v {
        Value::String(s) => Platform::parse(&shown(s)).map_err(|e| e.to_string()),
        Value::UserData(ud) => match ud.borrow::<LPlatform>() {
            Ok(p) => Ok(p.0.clone()),
            Err(_) => Err(format!("must be a platform, got {}", type_name(v))),
        },
        Value::Table(_) => {
            let opts = Opts::new(v, crate::reference::PLATFORM.names).map_err(fail_text)?;
            let os = opts.string("os").map_err(fail_text)?.ok_or("needs 'os' (for example \"linux\")")?;
            let arch = opts.string("arch").map_err(fail_text)?.ok_or("needs 'arch' (for example \"amd64\")")?;
            let variant = opts.string("variant").map_err(fail_text)?.unwrap_or_default();
            platform_from_parts(&os, &arch, &variant)
        }
        other => Err(format!(
            "must be a platform (\"linux/arm64\", {{os = …, arch = …}} or bk.platform(…)), got {}",
            type_name(other)
        )),
    }
}

/// A platform from its parts, checked as `Platform::parse` checks a string.
pub(crate) fn platform_from_parts(os: &str, arch: &str, variant: &str) -> Result<Platform, String> {
    let text = if variant.is_empty() { format!("{os}/{arch}") } else { format!("{os}/{arch}/{variant}") };
    Platform::parse(&text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_transpositions_once() {
        assert_eq!(edit_distance("cdw", "cwd"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(suggest("cdw", &["cwd", "env", "user"]), Some("cwd"));
        assert_eq!(suggest("xyz", &["cwd", "env", "user"]), None);
        assert_eq!(suggest("mounst", &["mounts", "env"]), Some("mounts"));
    }

    #[test]
    fn string_lists_report_the_first_problem_in_order() {
        let lua = mlua::Lua::new();
        let list = |src: &str| string_list(&lua.load(src).eval::<Value>().expect("value"));
        assert_eq!(list(r#"{"a", "b", "c"}"#), Ok(vec!["a".to_string(), "b".to_string(), "c".to_string()]));
        assert_eq!(list(r#""one""#), Ok(vec!["one".to_string()]));
        assert_eq!(list("{}"), Ok(Vec::new()));
        // A key that is not a position wins over a bad item.
        assert_eq!(list(r#"{1, "b", x = "y"}"#), Err("has an unexpected key x (a list was expected)".to_string()));
        assert_eq!(list(r#"{"a", 2, "c\0"}"#), Err("must be a list of strings, but item 2 is a number".to_string()));
        assert_eq!(list(r#"{"a\0", 2}"#), Err("item 1 contains a NUL byte (at offset 1)".to_string()));
        assert_eq!(list("{true}"), Err("must be a list of strings, but item 1 is a boolean".to_string()));
        assert_eq!(list("5"), Err("must be a list of strings, got number".to_string()));
    }

    #[test]
    fn string_pairs_come_in_key_order() {
        let lua = mlua::Lua::new();
        let pairs = |src: &str| string_pairs(&lua.load(src).eval::<Value>().expect("value"));
        let want = |l: &[(&str, &str)]| Ok(l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>());
        assert_eq!(
            pairs(r#"{b = "2", a = "1", B = "3", ab = "4"}"#),
            want(&[("B", "3"), ("a", "1"), ("ab", "4"), ("b", "2")])
        );
        assert_eq!(pairs(r#"{a = 1}"#), Err("value for 'a' must be a string, got number".to_string()));
        assert_eq!(pairs(r#"{"x"}"#), Err("must be a table of name = \"value\", but has the key [1]".to_string()));
        let map = string_map(&lua.load(r#"{z = "1", y = "2"}"#).eval::<Value>().expect("value")).expect("a map");
        assert_eq!(map.into_iter().collect::<Vec<_>>(), pairs(r#"{z = "1", y = "2"}"#).expect("pairs"));
    }

    #[test]
    fn modes() {
        let lua = mlua::Lua::new();
        let s = |t: &str| Value::String(lua.create_string(t).expect("string"));
        assert_eq!(mode(&s("0755")), Ok(0o755));
        assert_eq!(mode(&s("644")), Ok(0o644));
        assert_eq!(mode(&Value::Integer(493)), Ok(0o755));
        assert!(mode(&Value::Integer(755)).is_err_and(|e| e.contains("\"0755\"")));
        assert!(mode(&Value::Integer(644)).is_err_and(|e| e.contains("\"0644\"")));
        assert_eq!(mode(&Value::Integer(4095)), Ok(0o7777));
        assert!(mode(&Value::Integer(4000)).is_err());
        assert!(mode(&s("0999")).is_err());
        assert!(mode(&Value::Integer(-1)).is_err());
    }
}
