//! `cargo xtask crates`: every published crate is ready to publish.
//!
//! For each workspace package that is not `publish = false` (all but
//! xtask), from `cargo metadata`:
//!
//! - the package metadata crates.io shows is there: description, license,
//!   repository, rust-version, readme, documentation, keywords, categories;
//! - the readme file it names exists and is not empty;
//! - every dependency on another workspace crate carries a version (a path
//!   alone cannot be published);
//! - a library crate's root file denies missing docs at crate level
//!   (`#![deny(missing_docs)]`) and its crate docs hold at least one Rust
//!   example (a doc-test).
//!
//! A test runs it; `cargo doc` with warnings denied and `cargo package`
//! (what `cargo xtask ci` runs after the tests) check the rest.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Runs the check on this workspace and prints what is missing.
pub fn run() -> Result<()> {
    let problems = problems(&metadata(&crate::root())?)?;
    if problems.is_empty() {
        println!("crates: every published crate has its metadata, README, deny(missing_docs) and a doc-test");
        return Ok(());
    }
    for p in &problems {
        eprintln!("{p}");
    }
    bail!("{} problem(s) with the published crates", problems.len())
}

/// `cargo metadata --no-deps` of the workspace at `root`.
fn metadata(root: &Path) -> Result<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).context("parsing cargo metadata's output")
}

/// Package fields that must be set (non-empty) on every published crate.
const REQUIRED: &[&str] =
    &["description", "license", "repository", "rust_version", "readme", "documentation", "keywords", "categories"];

/// What is missing, one line per problem, naming the crate.
fn problems(meta: &Value) -> Result<Vec<String>> {
    let packages = meta["packages"].as_array().context("cargo metadata lists no packages")?;
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut found = Vec::new();
    for p in packages {
        let name = p["name"].as_str().context("a package without a name")?;
        // `publish = false` is an empty list of registries.
        if p["publish"].as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        let manifest = PathBuf::from(p["manifest_path"].as_str().context("a package without a manifest path")?);
        let dir = manifest.parent().context("a manifest path without a directory")?;
        for field in REQUIRED {
            let set = match &p[*field] {
                Value::String(s) => !s.trim().is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => false,
            };
            if !set {
                found.push(format!("{name}: Cargo.toml has no `{}`", field.replace('_', "-")));
            }
        }
        if let Some(readme) = p["readme"].as_str() {
            let path = dir.join(readme);
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => {}
                Ok(_) => found.push(format!("{name}: {} is empty", path.display())),
                Err(e) => found.push(format!("{name}: cannot read its readme {}: {e}", path.display())),
            }
        }
        for dep in p["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if members.contains(&dep_name) && dep["kind"].as_str() != Some("dev") && dep["req"].as_str() == Some("*") {
                found.push(format!(
                    "{name}: its dependency on {dep_name} has no version (give it one in [workspace.dependencies])"
                ));
            }
        }
        let lib = p["targets"].as_array().into_iter().flatten().find(|t| {
            t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "lib" || k == "rlib" || k == "proc-macro"))
        });
        if let Some(lib) = lib {
            let src = PathBuf::from(lib["src_path"].as_str().context("a library target without a source path")?);
            let text = std::fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
            found.extend(library_root_problems(name, &text));
        }
    }
    Ok(found)
}

/// What a library's root file lacks: the crate-level `deny(missing_docs)`
/// and a Rust example in the crate docs.
fn library_root_problems(name: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    if !text.lines().any(|l| l.trim() == "#![deny(missing_docs)]") {
        found.push(format!("{name}: the crate root has no `#![deny(missing_docs)]`"));
    }
    // An opening fence with no language, or `rust` (not `ignore`d), starts a doc-test.
    let mut in_block = false;
    let mut has_example = false;
    for line in text.lines() {
        let Some(doc) = line.trim_start().strip_prefix("//!") else { continue };
        let Some(lang) = doc.trim().strip_prefix("```") else { continue };
        if in_block {
            in_block = false;
            continue;
        }
        in_block = true;
        let lang = lang.trim();
        has_example |= lang.is_empty() || (lang.starts_with("rust") && !lang.contains("ignore"));
    }
    if !has_example {
        found.push(format!("{name}: the crate docs have no Rust example (doc-test)"));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_crate_is_ready() -> Result<()> {
        let problems = problems(&metadata(&crate::root())?)?;
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        Ok(())
    }

    #[test]
    fn the_check_finds_what_it_looks_for() -> Result<()> {
        let dir = tempfile_dir()?;
        std::fs::write(dir.join("lib.rs"), "//! A crate.\n//!\n//! ```text\n//! not rust\n//! ```\npub fn f() {}\n")?;
        std::fs::write(dir.join("README.md"), "")?;
        let manifest = dir.join("Cargo.toml");
        let meta = serde_json::json!({ "packages": [
            {
                "name": "a", "publish": null, "manifest_path": manifest,
                "description": "A crate", "license": "Apache-2.0", "repository": "https://example.org/a",
                "rust_version": "1.85", "readme": "README.md", "documentation": null,
                "keywords": [], "categories": ["development-tools"],
                "dependencies": [
                    { "name": "b", "kind": null, "req": "*" },
                    { "name": "b", "kind": "dev", "req": "*" },
                    { "name": "serde", "kind": null, "req": "*" },
                ],
                "targets": [{ "kind": ["lib"], "src_path": dir.join("lib.rs") }],
            },
            {
                "name": "b", "publish": [], "manifest_path": manifest,
                "dependencies": [], "targets": [{ "kind": ["bin"], "src_path": dir.join("main.rs") }],
            },
        ]});
        let found = problems(&meta)?;
        let expected = [
            "a: Cargo.toml has no `documentation`",
            "a: Cargo.toml has no `keywords`",
            "is empty",
            "a: its dependency on b has no version",
            "a: the crate root has no `#![deny(missing_docs)]`",
            "a: the crate docs have no Rust example (doc-test)",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for (got, want) in found.iter().zip(expected) {
            assert!(got.contains(want), "{got:?} should say {want:?}");
        }
        std::fs::remove_dir_all(&dir)?;

        let good = "//! A crate.\n//!\n//! ```\n//! assert!(true);\n//! ```\n#![deny(missing_docs)]\n";
        assert!(library_root_problems("c", good).is_empty());
        Ok(())
    }

    /// A fresh directory under the target directory (xtask has no tempfile).
    fn tempfile_dir() -> Result<PathBuf> {
        let dir = crate::root().join("target/xtask-crates-test").join(std::process::id().to_string());
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
}
