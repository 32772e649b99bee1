//! The general Lua checks of `luakit lint`, made by selene-lib (the library
//! of the `selene` linter): unused and undefined variables, shadowing,
//! unbalanced assignments, duplicate table keys, wrong standard-library
//! calls, and the like. The standard library selene checks against is Lua
//! 5.4 as luakit's sandbox has it: `bk` is defined, and the globals the
//! sandbox takes away (`os`, `io`, `debug`, `loadfile`, `dofile`,
//! `collectgarbage`) are reported when used.
//!
//! Each diagnostic becomes a [`Finding`] whose rule is selene's lint name
//! (`unused_variable`, …); it is silenced like luakit's own rules, by
//! `-- luakit: allow unused_variable`, or by selene's `-- selene:
//! allow(unused_variable)`.

use std::path::Path;

use selene_lib::lints::Severity;
use selene_lib::standard_library::{Field, FieldKind, LuaVersion, StandardLibrary};
use selene_lib::{Checker, CheckerConfig, LintVariation};

use super::Finding;

/// Globals luakit's sandbox replaces by stubs that raise an error.
pub(crate) const SANDBOXED: &[&str] = &["os", "io", "debug", "loadfile", "dofile", "collectgarbage"];

/// selene lints that do not fit build scripts, and why.
const OFF: &[(&str, &str)] = &[
    // Test files define `test_*` functions as globals: that is how
    // `luakit test` finds them.
    ("unscoped_variables", "test functions are globals"),
    // `{ "/bin/sh", "-c", cmd, env = … }`-style tables are not luakit's API,
    // but mixed tables are legal Lua and too common to flag.
    ("mixed_table", "legal Lua"),
    // Layout is `luakit fmt`'s business.
    ("multiple_statements", "a matter of layout"),
];

/// The standard library of luakit's sandbox, for selene.
fn standard_library() -> StandardLibrary {
    let mut std = StandardLibrary::from_name("lua53").unwrap_or_default();
    std.lua_versions.push(LuaVersion::Lua54);
    std.globals.retain(|name, _| !SANDBOXED.iter().any(|s| name == s || name.starts_with(&format!("{s}."))));
    for name in SANDBOXED {
        std.globals.insert((*name).to_string(), Field { field_kind: FieldKind::Removed, deprecated: None });
    }
    std.globals.insert("bk".to_string(), Field { field_kind: FieldKind::Any, deprecated: None });
    // selene asks every `assert` for a message; in build scripts and their
    // tests a bare `assert(cond)` is fine (the failure names the line).
    std.globals.insert("assert".to_string(), Field { field_kind: FieldKind::Any, deprecated: None });
    std
}

/// The selene checker with luakit's configuration.
fn checker() -> Option<Checker<serde_json::Value>> {
    let mut config = CheckerConfig::<serde_json::Value>::default();
    for (lint, _) in OFF {
        config.lints.insert((*lint).to_string(), LintVariation::Allow);
    }
    // `_name` is unused on purpose; `test_*` functions are called by
    // `luakit test`.
    config.config.insert(
        "unused_variable".to_string(),
        serde_json::json!({ "allow_unused_self": true, "ignore_pattern": "^_|^test_" }),
    );
    Checker::new(config, standard_library()).ok()
}

/// The Lua findings of `source` (the text of `path`). A file that does not
/// parse gives none: evaluating it reports the syntax error.
pub(crate) fn check(path: &Path, source: &str) -> Vec<Finding> {
    // luakit reads a first line starting with `#` (`# syntax=…`) as a
    // comment; so does this check, keeping every offset after line 1.
    let text = if source.starts_with('#') { format!("--{source}") } else { source.to_string() };
    let parsed = full_moon::parse_fallible(&text, full_moon::LuaVersion::lua54());
    if !parsed.errors().is_empty() {
        return Vec::new();
    }
    let Some(checker) = checker() else { return Vec::new() };
    let ast = parsed.into_ast();
    let mut out: Vec<Finding> = checker
        .test_on(&ast)
        .into_iter()
        .filter(|d| matches!(d.severity, Severity::Error | Severity::Warning))
        .map(|d| {
            let start = usize::try_from(d.diagnostic.primary_label.range.0).unwrap_or(0).min(text.len());
            let line = text.as_bytes()[..start].iter().filter(|b| **b == b'\n').count() + 1;
            let mut message = d.diagnostic.message.clone();
            if let Some(label) = &d.diagnostic.primary_label.message {
                message = format!("{message}: {label}");
            }
            let hint = if d.diagnostic.notes.is_empty() {
                format!("see selene's {} lint; or `-- luakit: allow {}`", d.diagnostic.code, d.diagnostic.code)
            } else {
                d.diagnostic.notes.join("; ")
            };
            Finding { file: path.to_path_buf(), line, rule: d.diagnostic.code, message, hint }
        })
        .collect();
    let allowed = super::allowed_in(source);
    out.retain(|f| !super::is_allowed(&allowed, f));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(source: &str) -> Vec<(usize, &'static str)> {
        check(Path::new("build.lua"), source).into_iter().map(|f| (f.line, f.rule)).collect()
    }

    #[test]
    fn unused_and_undefined_variables_are_found_at_their_line() {
        let found = rules("local base = bk.image(\"alpine:3.19\")\nlocal unused = 1\nbk.export(bsae)\n");
        assert!(found.contains(&(2, "unused_variable")), "{found:?}");
        assert!(found.contains(&(3, "undefined_variable")), "{found:?}");
    }

    #[test]
    fn bk_and_lua_54_syntax_are_known() {
        assert_eq!(rules("local st <const> = bk.scratch()\nbk.export(st)\n"), []);
    }

    #[test]
    fn sandboxed_globals_are_reported() {
        let found = rules("local home = os.getenv(\"HOME\")\nbk.export(bk.scratch(), { env = { HOME = home } })\n");
        assert!(!found.is_empty(), "os.getenv must be reported");
        assert_eq!(found[0].0, 1);
    }

    #[test]
    fn test_functions_may_be_global_and_syntax_lines_are_comments() {
        assert_eq!(rules("# syntax=luakit/frontend:dev\nfunction test_it()\n  assert(true)\nend\n"), []);
    }

    #[test]
    fn findings_can_be_allowed() {
        assert_eq!(rules("-- luakit: allow unused_variable\nlocal unused = 1\n"), []);
        assert_eq!(rules("local unused = 1 -- luakit: allow unused_variable\n"), []);
        assert_eq!(rules("-- selene: allow(unused_variable)\nlocal unused = 1\n"), []);
    }
}
