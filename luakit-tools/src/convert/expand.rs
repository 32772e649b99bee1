//! Dockerfile words: quote removal and `$VAR` / `${VAR}` / `${VAR:-x}` /
//! `${VAR:+x}` expansion, as BuildKit's shell lexer does it, except that a
//! variable whose value is only known when the script runs (a build
//! argument, or the base image's environment) becomes a Lua expression.

use super::Fail;
use super::lua::quote;

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Text known now.
    Lit(String),
    /// A Lua expression that evaluates to a string (never nil).
    Expr {
        /// The Lua code.
        code: String,
        /// It reads the current stage's state (`st:get_env`), so it must be
        /// evaluated where the instruction is, not later.
        dynamic: bool,
    },
}

/// A word: literal text and Lua expressions, concatenated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Word(pub Vec<Part>);

impl Word {
    /// A word of known text.
    pub(crate) fn lit(s: impl Into<String>) -> Word {
        Word(vec![Part::Lit(s.into())])
    }

    /// A word that is one Lua expression.
    pub(crate) fn expr(code: impl Into<String>, dynamic: bool) -> Word {
        Word(vec![Part::Expr { code: code.into(), dynamic }])
    }

    fn push_lit(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(Part::Lit(last)) = self.0.last_mut() {
            last.push_str(s);
        } else {
            self.0.push(Part::Lit(s.to_string()));
        }
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.push_lit(c.encode_utf8(&mut b));
    }

    fn append(&mut self, w: Word) {
        for p in w.0 {
            match p {
                Part::Lit(s) => self.push_lit(&s),
                e => self.0.push(e),
            }
        }
    }

    /// The text, when the word has no expressions.
    pub(crate) fn as_lit(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(l) => s.push_str(l),
                Part::Expr { .. } => return None,
            }
        }
        Some(s)
    }

    /// Whether the word reads the current stage's state.
    pub(crate) fn is_dynamic(&self) -> bool {
        self.0.iter().any(|p| matches!(p, Part::Expr { dynamic: true, .. }))
    }

    /// The word as a Lua expression.
    pub(crate) fn lua(&self) -> String {
        if self.0.is_empty() {
            return "\"\"".to_string();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                Part::Lit(s) => quote(s),
                Part::Expr { code, .. } => code.clone(),
            })
            .collect();
        parts.join(" .. ")
    }

    /// Whether the word is the empty string for sure.
    fn is_empty_lit(&self) -> bool {
        self.as_lit().is_some_and(|s| s.is_empty())
    }
}

/// What a variable name stands for where it is used.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// A value known now (possibly built from build arguments).
    Known(Word),
    /// A Lua expression; `nonnil` when it is always a string, else it may be
    /// nil (an unset build argument). `dynamic` as in [`Part::Expr`].
    Lua { code: String, nonnil: bool, dynamic: bool },
    /// Not set.
    Unset,
}

/// Expands words of one instruction.
pub(crate) struct Expander<'a> {
    /// The escape character.
    pub escape: char,
    /// The instruction's line (for errors).
    pub line: usize,
    /// Resolves a variable name.
    pub scope: &'a dyn Fn(&str) -> Lookup,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One word: whitespace is kept.
    Word,
    /// Several words split at unquoted whitespace.
    Words,
    /// A heredoc body: only `$` expansions; quotes are text.
    Raw,
}

impl Expander<'_> {
    /// One word, quotes removed and variables expanded.
    pub(crate) fn word(&self, s: &str) -> Result<Word, Fail> {
        Ok(self.run(s, Mode::Word)?.into_iter().next().unwrap_or_default())
    }

    /// Words split at unquoted whitespace.
    pub(crate) fn words(&self, s: &str) -> Result<Vec<Word>, Fail> {
        self.run(s, Mode::Words)
    }

    /// A heredoc body with variables expanded.
    pub(crate) fn raw(&self, s: &str) -> Result<Word, Fail> {
        Ok(self.run(s, Mode::Raw)?.into_iter().next().unwrap_or_default())
    }

    fn err(&self, message: String) -> Fail {
        Fail { line: self.line, message }
    }

    fn run(&self, s: &str, mode: Mode) -> Result<Vec<Word>, Fail> {
        let chars: Vec<char> = s.chars().collect();
        let mut words: Vec<Word> = Vec::new();
        let mut cur = Word::default();
        let mut in_word = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if mode == Mode::Words && c.is_whitespace() {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
                continue;
            }
            in_word = true;
            if mode == Mode::Raw {
                if c == self.escape && chars.get(i + 1) == Some(&'$') {
                    cur.push_char('$');
                    i += 2;
                } else if c == '$' {
                    i = self.dollar(&chars, i, &mut cur)?;
                } else {
                    cur.push_char(c);
                    i += 1;
                }
                continue;
            }
            if c == self.escape {
                match chars.get(i + 1) {
                    Some(&n) => cur.push_char(n),
                    None => cur.push_char(c),
                }
                i += 2;
            } else if c == '\'' {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '\'' {
                    cur.push_char(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(self.err("unexpected end of text: missing closing '".to_string()));
                }
                i = j + 1;
            } else if c == '"' {
                let mut j = i + 1;
                loop {
                    let Some(&d) = chars.get(j) else {
                        return Err(self.err("unexpected end of text: missing closing \"".to_string()));
                    };
                    if d == '"' {
                        j += 1;
                        break;
                    }
                    if d == self.escape {
                        match chars.get(j + 1) {
                            Some(&n) if n == '"' || n == '$' || n == self.escape => {
                                cur.push_char(n);
                                j += 2;
                            }
                            _ => {
                                cur.push_char(d);
                                j += 1;
                            }
                        }
                    } else if d == '$' {
                        j = self.dollar(&chars, j, &mut cur)?;
                    } else {
                        cur.push_char(d);
                        j += 1;
                    }
                }
                i = j;
            } else if c == '$' {
                i = self.dollar(&chars, i, &mut cur)?;
            } else {
                cur.push_char(c);
                i += 1;
            }
        }
        if in_word || (mode != Mode::Words && words.is_empty()) {
            words.push(cur);
        }
        Ok(words)
    }

    /// Expands the `$…` at `chars[i]`; returns the index after it.
    fn dollar(&self, chars: &[char], i: usize, out: &mut Word) -> Result<usize, Fail> {
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match chars.get(i + 1) {
            Some('{') => {
                let mut j = i + 2;
                let start = j;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                if name.is_empty() {
                    return Err(self.err("bad substitution: ${} needs a variable name".to_string()));
                }
                // Find the matching close brace.
                let mut depth = 1;
                let mut k = j;
                while k < chars.len() {
                    match chars[k] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    k += 1;
                }
                if k >= chars.len() {
                    return Err(self.err(format!("missing '}}' in ${{{name}…")));
                }
                let modifier: String = chars[j..k].iter().collect();
                let value = (self.scope)(&name);
                let w = if modifier.is_empty() {
                    plain(value)
                } else {
                    let (colon, rest) = match modifier.strip_prefix(':') {
                        Some(r) => (true, r),
                        None => (false, modifier.as_str()),
                    };
                    let Some(op) = rest.chars().next().filter(|c| *c == '-' || *c == '+') else {
                        return Err(self.err(format!(
                            "${{{name}{modifier}}}: only ${{VAR}}, ${{VAR:-default}}, ${{VAR-default}}, ${{VAR:+alt}} and ${{VAR+alt}} are supported"
                        )));
                    };
                    let inner = self.word(&rest[1..])?;
                    if op == '-' { default(value, colon, inner) } else { alternate(value, colon, inner) }
                };
                out.append(w);
                Ok(k + 1)
            }
            Some(&c) if is_name(c) => {
                let mut j = i + 1;
                while j < chars.len() && is_name(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                out.append(plain((self.scope)(&name)));
                Ok(j)
            }
            _ => {
                out.push_char('$');
                Ok(i + 1)
            }
        }
    }
}

/// `$X`.
fn plain(v: Lookup) -> Word {
    match v {
        Lookup::Known(w) => w,
        Lookup::Lua { code, nonnil: true, dynamic } => Word::expr(code, dynamic),
        Lookup::Lua { code, nonnil: false, dynamic } => Word::expr(format!("({code} or \"\")"), dynamic),
        Lookup::Unset => Word::default(),
    }
}

fn dynamic_of(v: &Lookup, w: &Word) -> bool {
    w.is_dynamic() || matches!(v, Lookup::Lua { dynamic: true, .. })
}

/// `${X:-d}` (colon: also when empty) and `${X-d}`.
fn default(v: Lookup, colon: bool, d: Word) -> Word {
    let dynamic = dynamic_of(&v, &d);
    match v {
        Lookup::Unset => d,
        Lookup::Known(w) => match w.as_lit() {
            Some(s) if colon && s.is_empty() => d,
            Some(_) => w,
            None if !colon => w,
            None => Word::expr(format!("({x} ~= \"\" and {x} or {d})", x = w.lua(), d = d.lua()), dynamic),
        },
        Lookup::Lua { code, nonnil, .. } => match (colon, nonnil) {
            (false, true) => Word::expr(code, dynamic),
            (false, false) => Word::expr(format!("({code} or {})", d.lua()), dynamic),
            (true, true) => Word::expr(format!("({code} ~= \"\" and {code} or {})", d.lua()), dynamic),
            (true, false) => Word::expr(format!("(({code} or \"\") ~= \"\" and {code} or {})", d.lua()), dynamic),
        },
    }
}

/// `${X:+a}` (colon: only when not empty) and `${X+a}`.
fn alternate(v: Lookup, colon: bool, a: Word) -> Word {
    let dynamic = dynamic_of(&v, &a);
    let a_lua = if a.is_empty_lit() { "\"\"".to_string() } else { a.lua() };
    match v {
        Lookup::Unset => Word::default(),
        Lookup::Known(w) => match w.as_lit() {
            Some(s) if colon && s.is_empty() => Word::default(),
            Some(_) => a,
            None if !colon => a,
            None => Word::expr(format!("({} ~= \"\" and {a_lua} or \"\")", w.lua()), dynamic),
        },
        Lookup::Lua { code, nonnil, .. } => match (colon, nonnil) {
            (false, true) => a,
            (false, false) => Word::expr(format!("({code} and {a_lua} or \"\")"), dynamic),
            (true, true) => Word::expr(format!("({code} ~= \"\" and {a_lua} or \"\")"), dynamic),
            (true, false) => Word::expr(format!("(({code} or \"\") ~= \"\" and {a_lua} or \"\")"), dynamic),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(name: &str) -> Lookup {
        match name {
            "KNOWN" => Lookup::Known(Word::lit("k")),
            "EMPTY" => Lookup::Known(Word::lit("")),
            "VERSION" => Lookup::Lua { code: "version".into(), nonnil: true, dynamic: false },
            "MAYBE" => Lookup::Lua { code: "maybe".into(), nonnil: false, dynamic: false },
            "PATH" => Lookup::Lua { code: "st:get_env(\"PATH\")".into(), nonnil: false, dynamic: true },
            _ => Lookup::Unset,
        }
    }

    fn ex() -> Expander<'static> {
        Expander { escape: '\\', line: 3, scope: &scope }
    }

    fn lua(s: &str) -> String {
        ex().word(s).expect("expands").lua()
    }

    #[test]
    fn known_values_are_substituted_now() {
        assert_eq!(lua("a-$KNOWN-${KNOWN}"), "\"a-k-k\"");
        assert_eq!(lua("${NOPE:-d}/${EMPTY:-e}/${EMPTY-e}/${KNOWN:+alt}/${NOPE:+alt}"), "\"d/e//alt/\"");
        assert_eq!(lua("'$KNOWN' \"$KNOWN\" \\$KNOWN $ $1x"), "\"$KNOWN k $KNOWN $ \"");
    }

    #[test]
    fn arguments_become_expressions() {
        assert_eq!(lua("golang:${VERSION}-alpine"), "\"golang:\" .. version .. \"-alpine\"");
        assert_eq!(lua("$MAYBE"), "(maybe or \"\")");
        assert_eq!(lua("${MAYBE-x}"), "(maybe or \"x\")");
        assert_eq!(lua("${VERSION:-dev}"), "(version ~= \"\" and version or \"dev\")");
        assert_eq!(lua("${MAYBE:+-$VERSION}"), "((maybe or \"\") ~= \"\" and \"-\" .. version or \"\")");
        let w = ex().word("/venv/bin:$PATH").expect("expands");
        assert!(w.is_dynamic());
        assert_eq!(w.lua(), "\"/venv/bin:\" .. (st:get_env(\"PATH\") or \"\")");
    }

    #[test]
    fn words_split_outside_quotes() {
        let w = ex().words("a \"b c\"  'd e'$KNOWN").expect("expands");
        let lits: Vec<String> = w.iter().map(|w| w.as_lit().expect("literal")).collect();
        assert_eq!(lits, ["a", "b c", "d ek"]);
        assert!(ex().words("").expect("expands").is_empty());
    }

    #[test]
    fn unsupported_and_broken_substitutions_are_errors() {
        let e = ex().word("${VERSION#v}").expect_err("refused");
        assert!(e.line == 3 && e.message.contains("only ${VAR}"), "{e:?}");
        assert!(ex().word("${VERSION").is_err());
        assert!(ex().word("'open").is_err());
        assert_eq!(ex().raw("x '$KNOWN' \\$KNOWN").expect("expands").lua(), "\"x 'k' $KNOWN\"");
    }
}
