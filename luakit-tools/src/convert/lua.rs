//! Writing Lua source: string literals, identifiers and table keys.

/// Lua's reserved words (5.4).
pub(crate) const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
    "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// A Lua string literal for `s`: a long bracket string for multi-line text
/// (when that keeps it exact), else a double-quoted string with escapes.
pub(crate) fn quote(s: &str) -> String {
    if s.contains('\n') && !s.starts_with('\n') && !s.contains('\r') && s.chars().all(|c| c == '\n' || !c.is_control())
    {
        // [[…]] drops a newline right after the opening bracket, so the
        // text starts on the next line; pick a level not used inside.
        let mut level = 0;
        loop {
            let eq = "=".repeat(level);
            if !s.contains(&format!("]{eq}]")) && !s.ends_with(&format!("]{eq}")) {
                return format!("[{eq}[\n{s}]{eq}]");
            }
            level += 1;
        }
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written as a bare name (`a.b`, `{ name = … }`).
pub(crate) fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

/// A table key: `name` or `["any text"]`.
pub(crate) fn key(s: &str) -> String {
    if is_ident(s) { s.to_string() } else { format!("[{}]", quote(s)) }
}

/// A Lua local name made from any text (`GO_VERSION` → `go_version`,
/// `my-stage` → `my_stage`).
pub(crate) fn snake(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_string();
    if out.is_empty() {
        "x".to_string()
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else if KEYWORDS.contains(&out.as_str()) {
        format!("{out}_")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_through_lua_syntax() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quote("x\ty"), r#""x\ty""#);
        assert_eq!(quote("line1\nline2\n"), "[[\nline1\nline2\n]]");
        assert_eq!(quote("a]]b\nc"), "[=[\na]]b\nc]=]");
        assert_eq!(quote("ends]\nx]"), "[=[\nends]\nx]]=]");
        assert_eq!(quote("\nleading"), r#""\nleading""#);
    }

    #[test]
    fn names() {
        assert_eq!(snake("GO_VERSION"), "go_version");
        assert_eq!(snake("my-stage.2"), "my_stage_2");
        assert_eq!(snake("end"), "end_");
        assert_eq!(snake("1st"), "_1st");
        assert_eq!(key("org.opencontainers.image.title"), "[\"org.opencontainers.image.title\"]");
        assert_eq!(key("version"), "version");
        assert_eq!(key("end"), "[\"end\"]");
    }
}
