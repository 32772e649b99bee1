//! Dockerfile syntax: directives, comments, line continuations, flags,
//! exec (JSON) form and heredocs, as BuildKit's Dockerfile frontend reads
//! them. This is syntax only: variables are expanded by `expand`, meaning
//! is given by the converter.

use super::Fail;

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// The `# syntax=` directive, if any.
    pub syntax: Option<String>,
    /// Instructions and the comments around them, in file order.
    pub items: Vec<Item>,
}

/// One element of a Dockerfile.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    /// A comment line (text after `#`, leading space kept off).
    Comment { text: String },
    /// An empty line (kept to separate comment groups).
    Blank,
    /// An instruction.
    Instruction(Instruction),
}

/// One instruction, with its continuation lines joined.
#[derive(Debug, Clone)]
pub(crate) struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// The keyword in upper case (`RUN`).
    pub keyword: String,
    /// `--name=value` flags before the arguments, in order.
    pub flags: Vec<Flag>,
    /// The arguments after keyword and flags, continuations joined as
    /// Docker joins them (the escape character and newline removed).
    pub rest: String,
    /// The same text, one piece per physical line (for readable output).
    pub pieces: Vec<String>,
    /// Heredocs whose bodies follow the instruction, in order.
    pub heredocs: Vec<Heredoc>,
    /// Comment lines found inside the continued instruction.
    pub inner_comments: Vec<String>,
}

/// A `--name[=value]` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flag {
    pub name: String,
    pub value: Option<String>,
}

/// A here-document (`<<EOF … EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heredoc {
    /// The delimiter word.
    pub name: String,
    /// The body, each line ending in a newline.
    pub content: String,
    /// `<<-`: leading tabs were stripped.
    pub chomp: bool,
    /// Unquoted delimiter: variables in the body are expanded (COPY/ADD).
    pub expand: bool,
}

fn err(line: usize, message: impl Into<String>) -> Fail {
    Fail { line, message: message.into() }
}

/// Instructions that take `--flag` options.
const FLAG_INSTRUCTIONS: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];

/// Instructions that may be followed by heredoc bodies.
const HEREDOC_INSTRUCTIONS: &[&str] = &["RUN", "COPY", "ADD"];

/// Parses Dockerfile text.
pub(crate) fn parse(text: &str) -> Result<Dockerfile, Fail> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut df = Dockerfile { escape: '\\', ..Dockerfile::default() };
    let mut i = 0;
    // Parser directives: only at the very top, before any other line.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else { break };
        match key.as_str() {
            "escape" => match value.as_str() {
                "\\" => df.escape = '\\',
                "`" => df.escape = '`',
                other => return Err(err(i + 1, format!("invalid escape directive '{other}': use \\ or `"))),
            },
            "syntax" => df.syntax = Some(value),
            _ => {}
        }
        i += 1;
    }
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            df.items.push(Item::Blank);
            i += 1;
            continue;
        }
        if let Some(c) = trimmed.strip_prefix('#') {
            df.items.push(Item::Comment { text: comment_text(c) });
            i += 1;
            continue;
        }
        let start = i;
        let mut pieces: Vec<String> = Vec::new();
        let mut inner_comments = Vec::new();
        let mut current = line.to_string();
        loop {
            let t = current.trim_end();
            if let Some(body) = t.strip_suffix(df.escape) {
                pieces.push(body.to_string());
                i += 1;
                // Skip comment and empty lines inside a continuation.
                while i < lines.len() {
                    let l = lines[i].trim();
                    if l.is_empty() {
                        i += 1;
                    } else if let Some(c) = l.strip_prefix('#') {
                        inner_comments.push(comment_text(c));
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i >= lines.len() {
                    break;
                }
                current = lines[i].to_string();
            } else {
                pieces.push(current.clone());
                i += 1;
                break;
            }
        }
        let joined: String = pieces.concat();
        let (keyword, after) = split_keyword(&joined);
        let keyword = keyword.to_ascii_uppercase();
        if !keyword.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(err(start + 1, format!("unknown instruction: {keyword}")));
        }
        let (flags, rest) = if FLAG_INSTRUCTIONS.contains(&keyword.as_str()) {
            split_flags(after, df.escape)
        } else {
            (Vec::new(), after)
        };
        // Pieces without the keyword and flags: drop what precedes `rest`.
        let consumed = joined.len() - rest.len();
        let pieces = trim_pieces(&pieces, consumed);
        let mut heredocs = Vec::new();
        if HEREDOC_INSTRUCTIONS.contains(&keyword.as_str()) {
            for marker in heredoc_markers(rest) {
                let mut content = String::new();
                let mut found = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let body = if marker.chomp { l.trim_start_matches('\t') } else { l };
                    if body == marker.name {
                        found = true;
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !found {
                    return Err(err(start + 1, format!("heredoc <<{} is not terminated", marker.name)));
                }
                heredocs.push(Heredoc { name: marker.name, content, chomp: marker.chomp, expand: marker.expand });
            }
        }
        df.items.push(Item::Instruction(Instruction {
            line: start + 1,
            keyword,
            flags,
            rest: rest.to_string(),
            pieces,
            heredocs,
            inner_comments,
        }));
    }
    while matches!(df.items.last(), Some(Item::Blank)) {
        df.items.pop();
    }
    Ok(df)
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?.trim();
    let (k, v) = rest.split_once('=')?;
    let k = k.trim().to_ascii_lowercase();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((k, v.trim().to_string()))
}

fn comment_text(after_hash: &str) -> String {
    after_hash.strip_prefix(' ').unwrap_or(after_hash).trim_end().to_string()
}

fn split_keyword(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(|c: char| c.is_whitespace()) {
        Some(p) => (&s[..p], s[p..].trim_start()),
        None => (s, ""),
    }
}

/// Leading `--flag[=value]` words, and the text after them.
fn split_flags(s: &str, escape: char) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        if !t.starts_with("--") {
            return (flags, t);
        }
        // The word ends at unquoted whitespace.
        let mut end = t.len();
        let mut quote: Option<char> = None;
        let mut chars = t.char_indices().peekable();
        while let Some((p, c)) = chars.next() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) if c == escape => {
                    chars.next();
                }
                Some(_) => {}
                None if c == '"' || c == '\'' => quote = Some(c),
                None if c == escape => {
                    chars.next();
                }
                None if c.is_whitespace() => {
                    end = p;
                    break;
                }
                None => {}
            }
        }
        let word = &t[2..end];
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(unquote(v))),
            None => (word.to_string(), None),
        };
        flags.push(Flag { name: name.to_ascii_lowercase(), value });
        rest = &t[end..];
    }
}

/// Removes one level of surrounding quotes from a flag value.
fn unquote(v: &str) -> String {
    let b = v.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// The pieces with the first `skip` bytes (keyword and flags) removed.
fn trim_pieces(pieces: &[String], mut skip: usize) -> Vec<String> {
    let mut out = Vec::new();
    for p in pieces {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        out.push(p[skip..].to_string());
        skip = 0;
    }
    if let Some(first) = out.first_mut() {
        *first = first.trim_start().to_string();
    }
    out
}

/// A heredoc marker found in an instruction's arguments.
struct Marker {
    name: String,
    chomp: bool,
    expand: bool,
}

/// The `<<WORD`, `<<-WORD`, `<<"WORD"`, `<<'WORD'` markers in `s`, outside
/// quotes, in order.
fn heredoc_markers(s: &str) -> Vec<Marker> {
    let mut out = Vec::new();
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == '<' && i + 1 < b.len() && b[i + 1] == '<' && (i + 2 >= b.len() || b[i + 2] != '<') {
            let mut j = i + 2;
            let chomp = j < b.len() && b[j] == '-';
            if chomp {
                j += 1;
            }
            let (name, expand, end) = match b.get(j) {
                Some(&q @ ('"' | '\'')) => {
                    let start = j + 1;
                    let mut k = start;
                    while k < b.len() && b[k] != q {
                        k += 1;
                    }
                    (b[start..k.min(b.len())].iter().collect::<String>(), false, k + 1)
                }
                _ => {
                    let start = j;
                    let mut k = start;
                    while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == '_' || b[k] == '-' || b[k] == '.') {
                        k += 1;
                    }
                    (b[start..k].iter().collect::<String>(), true, k)
                }
            };
            if !name.is_empty() {
                out.push(Marker { name, chomp, expand });
            }
            i = end.max(i + 2);
            continue;
        }
        i += 1;
    }
    out
}

/// The exec (JSON array of strings) form of an instruction's arguments,
/// or `None` when they are in shell form.
pub(crate) fn exec_form(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Splits at unquoted whitespace, keeping quotes and escapes in the
/// pieces (they are removed later, when each piece is expanded).
pub(crate) fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => {
                cur.push(c);
                if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Joins continuation pieces of a shell command for display: where a joint
/// is outside quotes, the whitespace around it becomes one space (the shell
/// sees the same words); inside quotes the pieces join exactly, as Docker
/// joins them. Returns the pieces as they should be shown.
pub(crate) fn shell_pieces(pieces: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut quote: Option<char> = None;
    for p in pieces {
        match out.last_mut() {
            Some(last) if quote.is_some() => last.push_str(p),
            Some(last) => {
                let t = p.trim_start();
                if t.is_empty() {
                    continue;
                }
                let trimmed = last.trim_end().len();
                last.truncate(trimmed);
                last.push(' ');
                out.push(t.to_string());
            }
            None => out.push(p.clone()),
        }
        // Track quotes through the piece just added.
        let mut chars = p.chars();
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') if c == '\'' => quote = None,
                Some('"') if c == '"' => quote = None,
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(_) => {}
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '\\' => {
                    chars.next();
                }
                None => {}
            }
        }
    }
    if let Some(last) = out.last_mut() {
        let t = last.trim_end().len();
        last.truncate(t);
    }
    out.retain(|p| !p.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instructions(text: &str) -> Vec<Instruction> {
        parse(text)
            .expect("parses")
            .items
            .into_iter()
            .filter_map(|i| match i {
                Item::Instruction(x) => Some(x),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn continuations_join_without_the_escape() {
        let ins = instructions("RUN apt-get update && \\\n    # a comment\n    apt-get install -y curl\nUSER app\n");
        assert_eq!(ins.len(), 2);
        assert_eq!(ins[0].rest, "apt-get update &&     apt-get install -y curl");
        assert_eq!(ins[0].pieces, ["apt-get update && ", "    apt-get install -y curl"]);
        assert_eq!(ins[0].inner_comments, ["a comment"]);
        assert_eq!(ins[1].line, 4);
    }

    #[test]
    fn escape_directive_and_flags() {
        let df =
            parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nCOPY --from=build --chmod=0755 a `\n  b /c/\n")
                .expect("parses");
        assert_eq!(df.escape, '`');
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let Item::Instruction(copy) = &df.items[1] else { panic!("instruction") };
        assert_eq!(copy.line, 4);
        assert_eq!(
            copy.flags,
            [
                Flag { name: "from".into(), value: Some("build".into()) },
                Flag { name: "chmod".into(), value: Some("0755".into()) }
            ]
        );
        assert_eq!(copy.rest, "a   b /c/");
    }

    #[test]
    fn heredocs_take_the_following_lines() {
        let ins = instructions("RUN <<EOF\necho a\n  echo b\nEOF\nCOPY <<-'X' /f\n\tline $A\n\tX\nUSER u\n");
        assert_eq!(ins[0].heredocs[0].content, "echo a\n  echo b\n");
        assert!(ins[0].heredocs[0].expand);
        assert_eq!(
            ins[1].heredocs[0],
            Heredoc { name: "X".into(), content: "line $A\n".into(), chomp: true, expand: false }
        );
        assert_eq!(ins[2].keyword, "USER");
        assert!(parse("RUN <<EOF\necho\n").is_err());
    }

    #[test]
    fn raw_split_keeps_quotes() {
        assert_eq!(split_raw(r#"A="x y" B=z\ w 'c d'"#, '\\'), [r#"A="x y""#, r"B=z\ w", "'c d'"]);
    }

    #[test]
    fn shell_joints_collapse_outside_quotes() {
        let p = |v: &[&str]| shell_pieces(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            p(&["apt-get update && ", "    apt-get install -y curl"]),
            ["apt-get update && ", "apt-get install -y curl"]
        );
        assert_eq!(p(&["echo 'a ", "   b'"]), ["echo 'a    b'"]);
        assert_eq!(p(&["set -ex; ", "  ", "  true"]), ["set -ex; ", "true"]);
    }

    #[test]
    fn exec_form_is_a_json_string_array() {
        assert_eq!(exec_form(r#"["a", "b c"]"#), Some(vec!["a".to_string(), "b c".to_string()]));
        assert_eq!(exec_form("[not json"), None);
        assert_eq!(exec_form("echo [x]"), None);
    }
}
