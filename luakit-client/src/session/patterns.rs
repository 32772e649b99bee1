//! Docker's path patterns (`.dockerignore`, `include-patterns`,
//! `exclude-patterns`), with moby's patternmatcher semantics: a pattern is
//! cleaned like a Go path, `!` at its start re-includes, `*` matches any run
//! of characters but `/`, `?` one character but `/`, `**/` any number of
//! directories (none included), a trailing `**` anything, `[…]` a character
//! class, `\` escapes the next character. A pattern matches a path when it
//! matches the whole path or one of its parent directories; the last
//! pattern that matches decides.

/// A pattern list that is not valid (an unclosed `[`, a lone `!`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Quest,
    /// `**/` (or `**` inside): any run of characters ending in `/`, or nothing.
    Dirs,
    /// A trailing `**`: anything.
    All,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One cleaned pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    toks: Vec<Tok>,
}

impl Pattern {
    /// Whether the pattern re-includes (`!`).
    pub fn exclusion(&self) -> bool {
        self.exclusion
    }

    /// Whether the pattern matches `path` itself (no parents).
    pub fn matches_exactly(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        match_toks(&self.toks, &chars)
    }

    /// The pattern without a trailing `/**` or `/*` (fsutil's prefix check).
    pub(crate) fn without_trailing_glob(&self) -> &str {
        let s = self.cleaned.as_str();
        let s = s.strip_suffix("/**").unwrap_or(s);
        s.strip_suffix("/*").unwrap_or(s)
    }
}

/// An ordered list of patterns.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

/// Per-pattern results for a directory, handed to its children
/// (patternmatcher's `MatchInfo`); empty when unknown.
pub type MatchInfo = Vec<bool>;

impl Matcher {
    /// Compiles `patterns`; blank ones are skipped.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut m = Matcher::default();
        for raw in patterns {
            let raw = raw.as_ref();
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let mut p = clean(trimmed);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(PatternError { pattern: raw.to_string(), reason: "a lone `!` excludes nothing" });
                }
                exclusion = true;
                m.exclusions = true;
                p = rest.to_string();
            }
            let toks = compile(&p).map_err(|reason| PatternError { pattern: raw.to_string(), reason })?;
            m.patterns.push(Pattern { cleaned: p, exclusion, toks });
        }
        Ok(m)
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern re-includes.
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (slash-separated, relative) is matched, looking at its
    /// parent directories too (the tests' short form of
    /// [`Matcher::matches_using_parent`]).
    #[cfg(test)]
    pub fn matches(&self, path: &str) -> bool {
        self.matches_using_parent(path, &[]).0
    }

    /// patternmatcher's `MatchesUsingParentResults`: `parent` holds the
    /// per-pattern results of the path's directory (empty: unknown, then
    /// every parent directory is tried).
    pub fn matches_using_parent(&self, path: &str, parent: &[bool]) -> (bool, MatchInfo) {
        let mut matched = false;
        let mut info = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.get(i).copied().unwrap_or(false);
            if !hit {
                if pattern.exclusion != matched {
                    continue;
                }
                hit = pattern.matches_exactly(path);
                if !hit && parent.is_empty() {
                    let mut end = 0;
                    while let Some(pos) = path[end..].find('/') {
                        end += pos;
                        if pattern.matches_exactly(&path[..end]) {
                            hit = true;
                            break;
                        }
                        end += 1;
                    }
                }
            }
            info[i] = hit;
            if hit {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }
}

/// Go's `path.Clean` on a slash-separated path (the graph's own).
pub(crate) use luakit_graph::state::clean_path as clean;

fn compile(p: &str) -> Result<Vec<Tok>, &'static str> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i >= chars.len() { Tok::All } else { Tok::Dirs });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Quest),
            '\\' => match chars.get(i) {
                Some(&next) => {
                    toks.push(Tok::Lit(next));
                    i += 1;
                }
                None => toks.push(Tok::Lit('\\')),
            },
            '[' => {
                let mut negated = false;
                if chars.get(i) == Some(&'^') {
                    negated = true;
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                while i < chars.len() {
                    let mut lo = chars[i];
                    i += 1;
                    if lo == ']' && !ranges.is_empty() {
                        closed = true;
                        break;
                    }
                    if lo == '\\' {
                        lo = *chars.get(i).ok_or("unclosed character class")?;
                        i += 1;
                    }
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        hi = chars[i + 1];
                        i += 2;
                        if hi == '\\' {
                            hi = *chars.get(i).ok_or("unclosed character class")?;
                            i += 1;
                        }
                        if hi < lo {
                            return Err("character range out of order");
                        }
                    }
                    ranges.push((lo, hi));
                }
                if !closed {
                    return Err("unclosed character class");
                }
                toks.push(Tok::Class { negated, ranges });
            }
            other => toks.push(Tok::Lit(other)),
        }
    }
    Ok(toks)
}

fn match_toks(toks: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_toks(rest, &s[1..]),
        Tok::Quest => s.first().is_some_and(|c| *c != '/') && match_toks(rest, &s[1..]),
        Tok::Class { negated, ranges } => {
            s.first().is_some_and(|c| {
                let inside = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                inside != *negated && (*c != '/' || !*negated)
            }) && match_toks(rest, &s[1..])
        }
        Tok::Star => {
            for n in 0..=s.len() {
                if match_toks(rest, &s[n..]) {
                    return true;
                }
                if n < s.len() && s[n] == '/' {
                    return false;
                }
            }
            false
        }
        Tok::All => true,
        Tok::Dirs => {
            if match_toks(rest, s) {
                return true;
            }
            (0..s.len()).any(|n| s[n] == '/' && match_toks(rest, &s[n + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Docker's documented `.dockerignore` and patternmatcher
    /// semantics: (patterns, path, matched).
    #[test]
    fn docker_cases() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*"], "fileutils.go", true),
            (&["*.go"], "fileutils.go", true),
            (&["*.go"], "dir/fileutils.go", false),
            (&["**/*.go"], "dir/sub/fileutils.go", true),
            (&["**/*.go"], "fileutils.go", true),
            (&["docs"], "docs/README.md", true),
            (&["docs/"], "docs/README.md", true),
            (&["./docs"], "docs/a/b", true),
            (&["docs"], "docsfile", false),
            (&["*/temp*"], "somedir/temporary.txt", true),
            (&["*/temp*"], "a/b/temporary.txt", false),
            (&["*/*/temp*"], "a/b/temporary.txt", true),
            (&["temp?"], "temp1", true),
            (&["temp?"], "temp/", false),
            (&["temp?"], "temp12", false),
            (&["*.md", "!README.md"], "README.md", false),
            (&["*.md", "!README.md"], "CHANGES.md", true),
            (&["*.md", "!README*.md", "README-secret.md"], "README-secret.md", true),
            (&["*.md", "!README*.md", "README-secret.md"], "README-public.md", false),
            (&["dir", "!dir/keep"], "dir/keep", false),
            (&["dir", "!dir/keep"], "dir/drop", true),
            (&["a/**"], "a/b/c", true),
            (&["a/**"], "ab", false),
            (&["a/**/b"], "a/b", true),
            (&["a/**/b"], "a/x/y/b", true),
            (&["a/**/b"], "a/x/yb", false),
            (&["[a-c]*"], "bar", true),
            (&["[a-c]*"], "dar", false),
            (&["[^a-c]x"], "dx", true),
            (&["[^a-c]x"], "ax", false),
            (&["a\\*b"], "a*b", true),
            (&["a\\*b"], "axb", false),
            (&["../a"], "a", false),
            (&["  spaced  "], "spaced", true),
            (&["dir/*"], "dir", false),
            (&["dir/*"], "dir/x/y", true),
        ];
        for (patterns, path, want) in cases {
            let m = Matcher::new(patterns).expect("valid patterns");
            assert_eq!(m.matches(path), *want, "{patterns:?} on {path:?}");
        }
    }

    #[test]
    fn parent_results_agree_with_a_fresh_match() {
        let m = Matcher::new(&["a", "!a/keep", "**/*.log"]).expect("valid");
        let (dir_hit, dir_info) = m.matches_using_parent("a", &[]);
        assert!(dir_hit);
        for path in ["a/keep", "a/other", "a/x.log"] {
            assert_eq!(m.matches_using_parent(path, &dir_info).0, m.matches(path), "{path}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert_eq!(Matcher::new(&["!"]).expect_err("an error").reason, "a lone `!` excludes nothing");
        assert!(Matcher::new(&["[abc"]).is_err());
        assert!(Matcher::new(&["a", ""]).is_ok());
    }

    #[test]
    fn clean_is_go_path_clean() {
        for (input, want) in
            [("a//b/", "a/b"), ("./a/./b", "a/b"), ("a/../b", "b"), ("../a", "../a"), ("/../a", "/a"), ("", ".")]
        {
            assert_eq!(clean(input), want, "{input}");
        }
    }
}
