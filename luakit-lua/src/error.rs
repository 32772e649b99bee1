//! Errors of script evaluation, and how Lua errors become them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a script could not be evaluated.
///
/// `Display` gives one line a script writer can act on, starting with the
/// file and line where that is known: `build.lua:3: bk.image: identifier must not be empty`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptError {
    /// A `bk` function was called wrongly.
    #[error("{file}:{line}: {function}: {message}")]
    Api {
        /// Script file (relative to the main script's directory).
        file: String,
        /// Line of the call.
        line: u32,
        /// The function, e.g. `bk.image` or `bk.run`.
        function: String,
        /// What was wrong.
        message: String,
    },
    /// An error raised by Lua code (`error(…)`, a failed `assert`, a runtime
    /// error such as indexing nil). `message` is Lua's, which starts with
    /// `file:line:` when Lua knows the position.
    #[error("{message}")]
    Lua {
        /// File, when the message names one.
        file: Option<String>,
        /// Line, when the message names one.
        line: Option<u32>,
        /// The message as Lua gives it.
        message: String,
    },
    /// The script (or a required module) does not parse.
    #[error("{message}")]
    Syntax {
        /// File.
        file: String,
        /// Line, when known.
        line: Option<u32>,
        /// Lua's message, starting with `file:line:`.
        message: String,
    },
    /// The script never called `bk.export`.
    #[error("{file}: no bk.export() call — nothing to build")]
    NoExport {
        /// The main script.
        file: String,
    },
    /// The target asked for (`--target`, the frontend's `target` option) is
    /// not the name of any `bk.export`.
    #[error("{file}: {}", crate::targets::unknown_message(target, known))]
    UnknownTarget {
        /// The main script.
        file: String,
        /// The name asked for.
        target: String,
        /// The names the script's exports have, in call order.
        known: Vec<String>,
    },
    /// The script recursed deeper than the Lua stack allows (runaway
    /// recursion); reported instead of crashing the process.
    #[error("{}stack overflow (runaway recursion?)", location_prefix(file, line))]
    StackOverflow {
        /// File, when known.
        file: Option<String>,
        /// Line, when known.
        line: Option<u32>,
    },
    /// The evaluation ran longer than allowed.
    #[error("evaluation timed out after {}", format_duration(*limit))]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The evaluation used more memory than allowed.
    #[error("evaluation exceeded the memory limit of {}", format_bytes(*limit))]
    MemoryLimit {
        /// The limit in bytes.
        limit: usize,
    },
    /// The script file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A bug in luakit rather than in the script.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ScriptError {
    /// The file the error is in, when known.
    pub fn file(&self) -> Option<&str> {
        match self {
            ScriptError::Api { file, .. }
            | ScriptError::Syntax { file, .. }
            | ScriptError::NoExport { file }
            | ScriptError::UnknownTarget { file, .. } => Some(file),
            ScriptError::Lua { file, .. } | ScriptError::StackOverflow { file, .. } => file.as_deref(),
            _ => None,
        }
    }

    /// The line the error is at, when known.
    pub fn line(&self) -> Option<u32> {
        match self {
            ScriptError::Api { line, .. } => Some(*line),
            ScriptError::Lua { line, .. }
            | ScriptError::Syntax { line, .. }
            | ScriptError::StackOverflow { line, .. } => *line,
            _ => None,
        }
    }
}

fn location_prefix(file: &Option<String>, line: &Option<u32>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{f}:{l}: "),
        (Some(f), None) => format!("{f}: "),
        _ => String::new(),
    }
}

/// `30s`, `1.5s`, `250ms`.
pub(crate) fn format_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// A byte count as limits are shown: `512 MiB`, `64 KiB`, `1000 bytes`.
pub fn format_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    const GIB: usize = 1024 * MIB;
    if n >= GIB && n % GIB == 0 {
        format!("{} GiB", n / GIB)
    } else if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n % KIB == 0 {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// An error raised inside the Lua VM by luakit itself, carried through Lua
/// as an mlua external error and recognised again on the way out.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// A `bk` call failed.
    Api { file: String, line: u32, function: String, message: String },
    /// A `bk` call failed where no script line is known.
    ApiNoLine { function: String, message: String },
    /// The time limit was hit.
    Timeout(Duration),
    /// The memory limit was hit.
    Memory(usize),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Api { file, line, function, message } => write!(f, "{file}:{line}: {function}: {message}"),
            Fault::ApiNoLine { function, message } => write!(f, "{function}: {message}"),
            Fault::Timeout(d) => write!(f, "evaluation timed out after {}", format_duration(*d)),
            Fault::Memory(n) => write!(f, "evaluation exceeded the memory limit of {}", format_bytes(*n)),
        }
    }
}

impl std::error::Error for Fault {}

impl Fault {
    /// Whether a script must not be able to catch this (limits).
    pub(crate) fn is_fatal(&self) -> bool {
        matches!(self, Fault::Timeout(_) | Fault::Memory(_))
    }
}

/// Lua's message without the `stack traceback:` mlua appends.
pub(crate) fn strip_traceback(msg: &str) -> &str {
    match msg.find("\nstack traceback:") {
        Some(i) => &msg[..i],
        None => msg,
    }
    .trim_end()
}

/// `file:line: rest` → (file, line); `None` when the message does not start so.
pub(crate) fn split_location(msg: &str) -> Option<(String, u32)> {
    let first = msg.lines().next()?;
    // The file part may contain ':' only in odd names; take the first ':<digits>:'.
    let bytes = first.as_bytes();
    let mut i = 0;
    while let Some(off) = first[i..].find(':') {
        let colon = i + off;
        let rest = &first[colon + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with(':') && colon > 0 {
            let line = digits.parse().ok()?;
            return Some((first[..colon].to_string(), line));
        }
        i = colon + 1;
        if i >= bytes.len() {
            break;
        }
    }
    None
}

/// The Fault somewhere in an mlua error chain.
pub(crate) fn find_fault(err: &mlua::Error) -> Option<&Fault> {
    err.downcast_ref::<Fault>()
}

/// The innermost mlua error (under callback wrappers and context).
pub(crate) fn innermost(err: &mlua::Error) -> &mlua::Error {
    let mut e = err;
    loop {
        match e {
            mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => e = cause,
            _ => return e,
        }
    }
}

/// A short message for an error as a script sees it (what `pcall` returns).
pub(crate) fn script_message(err: &mlua::Error) -> String {
    if let Some(f) = find_fault(err) {
        return f.to_string();
    }
    match innermost(err) {
        mlua::Error::RuntimeError(m) => strip_traceback(m).to_string(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".to_string(),
        mlua::Error::BadArgument { to, pos, cause, .. } => {
            let inner = script_message(cause);
            match to {
                Some(to) => format!("bad argument #{pos} to '{to}' ({inner})"),
                None => format!("bad argument #{pos} ({inner})"),
            }
        }
        other => strip_traceback(&other.to_string()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split() {
        assert_eq!(split_location("build.lua:3: boom"), Some(("build.lua".into(), 3)));
        assert_eq!(split_location("libs/go.lua:12: x: y"), Some(("libs/go.lua".into(), 12)));
        assert_eq!(split_location("boom"), None);
        assert_eq!(split_location("a:b: c"), None);
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(format_bytes(1000), "1000 bytes");
    }
}
