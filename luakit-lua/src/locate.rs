//! Finding where in a script's text something is written, for error
//! locations finer than the line Lua reports for a call.
//!
//! Lua gives the line of a call (the line of its opening parenthesis), not
//! of the option inside a multi-line option table that was wrong. This
//! module reads the script's own text with a small Lua lexer (names,
//! strings, long brackets, comments, numbers, punctuation; no parser) and
//! finds the option's `key =` among the call's arguments. Whenever the
//! text does not show the option there (an options table built elsewhere
//! and passed as a variable, a call through another name), it finds
//! nothing and the call's line stands.

/// A token and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Kind,
    line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Name(String),
    /// A string literal's contents (escapes in short strings are kept as
    /// written; only names are compared with it).
    Str(String),
    Number,
    /// Punctuation and operators (`=`, `==`, `(`, `[`, `..`, …).
    Punct(&'static str),
}

const PUNCT: &[&str] = &[
    "...", "..", "==", "~=", "<=", ">=", "//", "::", "<<", ">>", "+", "-", "*", "/", "%", "^", "#", "&", "~", "|", "<",
    ">", "=", "(", ")", "{", "}", "[", "]", ";", ":", ",", ".",
];

/// The tokens of `source`, as far as it can be read (an unterminated string
/// or comment ends the list). A first line starting with `#` and a UTF-8
/// byte order mark are skipped, as luakit skips them before Lua sees the text.
fn lex(source: &[u8]) -> Vec<Token> {
    let s = source.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(source);
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    if s.first() == Some(&b'#') {
        i = s.iter().position(|&b| b == b'\n').unwrap_or(s.len());
    }
    while i < s.len() {
        let c = s[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => i += 1,
            b'-' if s.get(i + 1) == Some(&b'-') => {
                i += 2;
                if let Some(level) = long_bracket_level(s, i) {
                    match skip_long(s, i, level, &mut line) {
                        Some((end, _)) => i = end,
                        None => return out,
                    }
                } else {
                    while i < s.len() && s[i] != b'\n' {
                        i += 1;
                    }
                }
            }
            b'[' if long_bracket_level(s, i).is_some() => {
                let level = long_bracket_level(s, i).unwrap_or(0);
                let start = line;
                match skip_long(s, i, level, &mut line) {
                    Some((end, text)) => {
                        out.push(Token { kind: Kind::Str(text), line: start });
                        i = end;
                    }
                    None => return out,
                }
            }
            b'"' | b'\'' => {
                let start = line;
                let mut text = Vec::new();
                i += 1;
                loop {
                    match s.get(i) {
                        None | Some(b'\n') => return out,
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            // An escaped newline continues the string on the next line.
                            if let Some(&n) = s.get(i + 1) {
                                if n == b'\n' {
                                    line += 1;
                                }
                                text.push(b'\\');
                                text.push(n);
                            }
                            i += 2;
                        }
                        Some(&b) => {
                            text.push(b);
                            i += 1;
                        }
                    }
                }
                out.push(Token { kind: Kind::Str(String::from_utf8_lossy(&text).into_owned()), line: start });
            }
            b'0'..=b'9' => {
                i = skip_number(s, i);
                out.push(Token { kind: Kind::Number, line });
            }
            b'.' if s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = skip_number(s, i);
                out.push(Token { kind: Kind::Number, line });
            }
            c if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 => {
                let start = i;
                while i < s.len() && (s[i] == b'_' || s[i].is_ascii_alphanumeric() || s[i] >= 0x80) {
                    i += 1;
                }
                out.push(Token { kind: Kind::Name(String::from_utf8_lossy(&s[start..i]).into_owned()), line });
            }
            _ => match PUNCT.iter().find(|p| s[i..].starts_with(p.as_bytes())) {
                Some(p) => {
                    out.push(Token { kind: Kind::Punct(p), line });
                    i += p.len();
                }
                None => i += 1,
            },
        }
    }
    out
}

/// `[[` → 0, `[==[` → 2; `None` when `s[i..]` opens no long bracket.
fn long_bracket_level(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while s.get(j) == Some(&b'=') {
        j += 1;
    }
    (s.get(j) == Some(&b'[')).then_some(j - i - 1)
}

/// Skips a long bracket opened at `i`; returns the index after it and its text.
fn skip_long(s: &[u8], i: usize, level: usize, line: &mut u32) -> Option<(usize, String)> {
    let body = i + level + 2;
    let mut close = Vec::with_capacity(level + 2);
    close.push(b']');
    close.extend(std::iter::repeat_n(b'=', level));
    close.push(b']');
    let mut j = body;
    while j < s.len() {
        if s[j..].starts_with(&close) {
            return Some((j + close.len(), String::from_utf8_lossy(&s[body..j]).into_owned()));
        }
        if s[j] == b'\n' {
            *line += 1;
        }
        j += 1;
    }
    None
}

fn skip_number(s: &[u8], mut i: usize) -> usize {
    let hex = s[i..].starts_with(b"0x") || s[i..].starts_with(b"0X");
    let exp: &[u8] = if hex { b"pP" } else { b"eE" };
    while i < s.len() {
        let c = s[i];
        if exp.contains(&c) && matches!(s.get(i + 1), Some(b'+' | b'-')) {
            i += 2;
        } else if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// The index of the token that closes the bracket opened at `open`.
fn matching(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Kind::Punct("(" | "{" | "[") => depth += 1,
            Kind::Punct(")" | "}" | "]") => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The line where option `key` is written in a call of `function` (its last
/// name part: `bk.run` → `run`) whose arguments open on `call_line`.
///
/// The option is a table field `key = …` or `["key"] = …` inside the call's
/// argument list, at any depth (an option of a nested table, such as
/// `healthcheck = { … }`, counts); the shallowest one wins, then the first.
/// `None` when no such call or field is in the text.
pub(crate) fn option_line(source: &[u8], call_line: u32, function: &str, key: &str) -> Option<u32> {
    let name = function.rsplit(['.', ':']).next().unwrap_or(function);
    // bk.local_ is also reached as bk["local"].
    let alias = name.strip_suffix('_');
    let tokens = lex(source);
    for (i, t) in tokens.iter().enumerate() {
        let callee_end = match &t.kind {
            Kind::Name(n) if n == name => i,
            Kind::Str(n) if Some(n.as_str()) == alias && i > 0 && tokens[i - 1].kind == Kind::Punct("[") => {
                match tokens.get(i + 1) {
                    Some(Token { kind: Kind::Punct("]"), .. }) => i + 1,
                    _ => continue,
                }
            }
            _ => continue,
        };
        let Some(open) = tokens.get(callee_end + 1) else { continue };
        if open.line != call_line || !matches!(open.kind, Kind::Punct("(" | "{")) {
            continue;
        }
        let Some(close) = matching(&tokens, callee_end + 1) else { continue };
        if let Some(line) = field_line(&tokens[callee_end + 1..=close], key) {
            return Some(line);
        }
    }
    None
}

/// The line of the shallowest `key =` / `["key"] =` table field in `span`.
fn field_line(span: &[Token], key: &str) -> Option<u32> {
    let mut best: Option<(usize, u32)> = None;
    let mut depth = 0usize;
    for (j, t) in span.iter().enumerate() {
        match &t.kind {
            Kind::Punct("(" | "{" | "[") => depth += 1,
            Kind::Punct(")" | "}" | "]") => depth = depth.saturating_sub(1),
            _ => {}
        }
        let kind_at = |k: usize| span.get(k).map(|t| &t.kind);
        let field_start = |k: usize| k > 0 && matches!(kind_at(k - 1), Some(Kind::Punct("{" | "," | ";")));
        let found = match &t.kind {
            Kind::Name(n) => n == key && field_start(j) && kind_at(j + 1) == Some(&Kind::Punct("=")),
            Kind::Str(n) => {
                n == key
                    && j > 0
                    && kind_at(j - 1) == Some(&Kind::Punct("["))
                    && field_start(j - 1)
                    && kind_at(j + 1) == Some(&Kind::Punct("]"))
                    && kind_at(j + 2) == Some(&Kind::Punct("="))
            }
            _ => false,
        };
        // A bracketed key is one level inside its own `[`.
        let depth = if matches!(t.kind, Kind::Str(_)) { depth.saturating_sub(1) } else { depth };
        if found && best.is_none_or(|(d, _)| depth < d) {
            best = Some((depth, t.line));
        }
    }
    best.map(|(_, line)| line)
}

/// The argument text of a `.local(…)` call written on `line`, when it is
/// short and on that line (`"context"` in `bk.local("context")`).
pub(crate) fn local_call_args(source: &[u8], line: u32) -> Option<String> {
    let text = String::from_utf8_lossy(source);
    let l = text.lines().nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let at = l.find(".local")?;
    let rest = l[at + ".local".len()..].trim_start();
    let inner = rest.strip_prefix('(')?;
    let mut depth = 1usize;
    for (k, ch) in inner.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let args = inner[..k].trim();
                    return (args.chars().count() <= 60).then(|| args.to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether `line` of `source` has `bk.local`: indexing `bk` with the
/// keyword `local`, the cause of Lua's `<name> expected near 'local'`.
pub(crate) fn indexes_bk_local(source: &[u8], line: u32) -> bool {
    let tokens = lex(source);
    tokens.windows(3).any(|w| {
        w[2].line == line
            && w[0].kind == Kind::Name("bk".to_string())
            && matches!(w[1].kind, Kind::Punct("." | ":"))
            && w[2].kind == Kind::Name("local".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"# syntax=luakit/frontend
local base = bk.image("alpine") -- { workdir = "x" } in a comment
local app = base
  :run("make", {
    env = { workdir = "not an option" },
    --[[ workdir = "commented out" ]]
    note = [[
      workdir = "in a long string"
    ]],
    workdir = "/app",
  })
  :run("x", { ["workdir"] = "/b" })
bk.export(app, {
  ports = { "80" },
})
"#;

    #[test]
    fn finds_the_option_line_in_a_multi_line_call() {
        let src = SCRIPT.as_bytes();
        assert_eq!(option_line(src, 4, "bk.run", "workdir"), Some(10));
        assert_eq!(option_line(src, 12, "bk.run", "workdir"), Some(12));
        assert_eq!(option_line(src, 13, "bk.export", "ports"), Some(14));
        // nested option tables count, shallowest first
        assert_eq!(option_line(src, 4, "bk.run", "env"), Some(5));
        // not in this call / not the call's line / not written at all
        assert_eq!(option_line(src, 4, "bk.run", "ports"), None);
        assert_eq!(option_line(src, 3, "bk.run", "workdir"), None);
        assert_eq!(option_line(src, 13, "bk.export", "cmd"), None);
    }

    #[test]
    fn table_call_sugar_and_bracketed_names() {
        let src =
            b"local m = bk.ssh{\n  target = '/run/ssh',\n}\nlocal c = bk[\"local\"](\"ctx\", {\n  excludes = {},\n})";
        assert_eq!(option_line(src, 1, "bk.ssh", "target"), Some(2));
        assert_eq!(option_line(src, 4, "bk.local_", "excludes"), Some(5));
    }

    #[test]
    fn lexing_keeps_lines_across_strings_and_comments() {
        let toks = lex(b"a = 'x\\\ny'\n--[==[\n]]\n]==]\nb = 0x1p+4 .. 1e-3\n\"unterminated");
        let names: Vec<(String, u32)> = toks
            .iter()
            .filter_map(|t| match &t.kind {
                Kind::Name(n) => Some((n.clone(), t.line)),
                _ => None,
            })
            .collect();
        assert_eq!(names, [("a".to_string(), 1), ("b".to_string(), 6)]);
        assert!(toks.iter().any(|t| t.kind == Kind::Punct("..")));
    }

    #[test]
    fn local_keyword_calls() {
        let src = b"local x = 1\nlocal c = bk.local(\"context\", { include = { \"*.go\" } })\n";
        assert!(indexes_bk_local(src, 2));
        assert!(!indexes_bk_local(src, 1));
        assert!(!indexes_bk_local(b"x.local(1)", 1));
        assert_eq!(local_call_args(src, 2).as_deref(), Some("\"context\", { include = { \"*.go\" } }"));
        assert_eq!(local_call_args(b"bk.local(\n", 1), None);
    }
}
