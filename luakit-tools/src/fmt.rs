//! `luakit fmt`: formats build scripts with StyLua's library, in the
//! project's style (4 spaces, 120 columns, double quotes, Lua 5.4), keeping
//! a `#` first line (`# syntax=…`, `#!…`) as it is. Files are rewritten
//! atomically, and only when their text changes.

use std::path::{Path, PathBuf};

/// A script that could not be formatted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("{l}: ")).unwrap_or_default())]
pub struct FormatError {
    /// 1-based line of the first syntax error, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// The StyLua settings of luakit scripts.
pub fn style() -> stylua_lib::Config {
    let mut c = stylua_lib::Config::new();
    c.syntax = stylua_lib::LuaVersion::Lua54;
    c.column_width = 120;
    c.indent_type = stylua_lib::IndentType::Spaces;
    c.indent_width = 4;
    c.quote_style = stylua_lib::QuoteStyle::AutoPreferDouble;
    c.call_parentheses = stylua_lib::CallParenType::Always;
    c.line_endings = stylua_lib::LineEndings::Unix;
    c
}

/// Formats Lua source text. A first line starting with `#` is kept as is.
pub fn format_source(source: &str) -> Result<String, FormatError> {
    let (hash_line, body, offset) = match source.strip_prefix('#') {
        Some(_) => match source.split_once('\n') {
            Some((first, rest)) => (Some(first), rest, 1),
            None => (Some(source), "", 1),
        },
        None => (None, source, 0),
    };
    let mut formatted = format_once(body, offset)?;
    // StyLua sometimes lays out its own output differently (a call it
    // just broke fits another shape); run it to a fixed point so that
    // formatting is idempotent.
    for _ in 0..4 {
        let again = format_once(&formatted, offset)?;
        if again == formatted {
            break;
        }
        formatted = again;
    }
    Ok(match hash_line {
        Some(h) => format!("{h}\n{formatted}"),
        None => formatted,
    })
}

fn format_once(body: &str, offset: usize) -> Result<String, FormatError> {
    stylua_lib::format_code(body, style(), None, stylua_lib::OutputVerification::None).map_err(|e| match e {
        stylua_lib::Error::ParseError(errors) => {
            let first = errors.first();
            FormatError {
                line: first.map(|e| e.range().0.line() + offset),
                message: first.map(|e| e.error_message().to_string()).unwrap_or_else(|| "syntax error".to_string()),
            }
        }
        other => FormatError { line: None, message: other.to_string() },
    })
}

/// What [`format_paths`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FmtReport {
    /// Files looked at.
    pub checked: Vec<PathBuf>,
    /// Files whose formatting differs (rewritten unless `check`).
    pub changed: Vec<PathBuf>,
    /// Files that could not be read, parsed or written: `path:line: message`.
    pub errors: Vec<String>,
}

/// Formats the `.lua` files at `paths` (files, or directories searched
/// recursively, skipping hidden directories and `target`). With `check`,
/// nothing is written: the report lists the files that would change.
pub fn format_paths(paths: &[PathBuf], check: bool) -> Result<FmtReport, crate::ToolError> {
    let files = crate::files::lua_files(paths)?;
    let mut report = FmtReport::default();
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                report.errors.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        report.checked.push(file.clone());
        match format_source(&text) {
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                if !check {
                    if let Err(e) = crate::files::write_atomic(&file, formatted.as_bytes()) {
                        report.errors.push(format!("{}: {e}", file.display()));
                        continue;
                    }
                }
                report.changed.push(file);
            }
            Err(e) => report.errors.push(format!("{}:{e}", display_colon(&file, e.line))),
        }
    }
    Ok(report)
}

fn display_colon(file: &Path, line: Option<usize>) -> String {
    match line {
        Some(_) => file.display().to_string(),
        None => format!("{} ", file.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_project_style() -> Result<(), FormatError> {
        let out = format_source("local x = {a=1,b='two'}\nif x then print(x.a) end\n")?;
        assert_eq!(out, "local x = { a = 1, b = \"two\" }\nif x then\n    print(x.a)\nend\n");
        assert_eq!(format_source(&out)?, out);
        Ok(())
    }

    #[test]
    fn keeps_a_hash_first_line_and_counts_it_in_errors() -> Result<(), FormatError> {
        let out = format_source("# syntax=luakit/frontend:dev\nlocal  x=1\n")?;
        assert_eq!(out, "# syntax=luakit/frontend:dev\nlocal x = 1\n");
        let e = format_source("# syntax=x\nlocal x = 1\nlocal y = = 2\n").expect_err("syntax error");
        assert_eq!(e.line, Some(3), "{e}");
        Ok(())
    }
}
