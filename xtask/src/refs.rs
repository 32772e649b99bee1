//! `cargo xtask refs`: the repository stands alone.
//!
//! No document, comment or fixture may point at files outside the
//! repository — the shared drafts it was started from, a specification
//! kept elsewhere, "section N" of a document a reader does not have. The
//! project's own docs (`docs/`, `README.md`, `ARCHITECTURE.md`) are what
//! code and docs cite. This check reads every tracked text file (`git
//! ls-files`, or a walk of the tree when git is not there) and lists each
//! line that holds such a reference; a test runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// What a reference to something outside the repository looks like
/// (compared case-insensitively). Built from pieces, so that this file
/// does not match itself.
fn patterns() -> Vec<String> {
    [
        ["..", "/shared"].concat(),
        ["/work", "/shared"].concat(),
        ["spec", ".md"].concat(),
        ["spec", " section"].concat(),
        ["seed", "/"].concat(),
    ]
    .into_iter()
    .collect()
}

/// `path:line: text` of every line of the repository's text files that
/// refers outside it.
pub fn outside_references(root: &Path) -> Result<Vec<String>> {
    let patterns = patterns();
    let mut found = Vec::new();
    for rel in tracked_files(root)? {
        let Ok(bytes) = std::fs::read(root.join(&rel)) else { continue };
        if bytes.contains(&0) {
            continue; // binary
        }
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            if patterns.iter().any(|p| lower.contains(p.as_str())) {
                found.push(format!("{}:{}: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    Ok(found)
}

/// The repository's files, relative to `root`.
fn tracked_files(root: &Path) -> Result<Vec<PathBuf>> {
    let git = Command::new("git").args(["ls-files", "-z"]).current_dir(root).output();
    if let Ok(out) = git.as_ref()
        && out.status.success()
    {
        let paths = out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty());
        return Ok(paths.map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned())).collect());
    }
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(root.join(&dir)).with_context(|| format!("listing {}", dir.display()))?;
        for e in entries {
            let e = e?;
            let name = e.file_name();
            let rel = dir.join(&name);
            let kind = e.file_type()?;
            if kind.is_dir() {
                if name != ".git" && name != "target" {
                    stack.push(rel);
                }
            } else if kind.is_file() {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `cargo xtask refs`: fails when anything refers outside the repository.
pub fn run() -> Result<()> {
    let found = outside_references(&crate::root())?;
    if !found.is_empty() {
        bail!(
            "{} line(s) refer to files outside the repository; cite the project's own docs instead:\n{}",
            found.len(),
            found.join("\n")
        );
    }
    println!("refs: no references outside the repository");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_refers_outside_the_repository() -> Result<()> {
        let found = outside_references(&crate::root())?;
        assert!(found.is_empty(), "references outside the repository:\n{}", found.join("\n"));
        Ok(())
    }

    #[test]
    fn the_check_finds_what_it_looks_for() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-refs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs"))?;
        let bad = [
            ["see ", "..", "/shared/", "SPEC", ".md"].concat(),
            ["as ", "SPEC", " section 7 says"].concat(),
            ["-- (", "seed", "/user-guide.md)"].concat(),
        ];
        std::fs::write(dir.join("docs/a.md"), format!("fine\n{}\n", bad.join("\n")))?;
        std::fs::write(dir.join("b.rs"), "// cites docs/api.md\n")?;
        std::fs::write(dir.join("c.bin"), [0u8, b'S', b'P', b'E', b'C', b'.', b'm', b'd'])?;
        let found = outside_references(&dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<&str> = found.iter().map(|f| f.split(": ").next().unwrap_or_default()).collect();
        assert_eq!(lines, ["docs/a.md:2", "docs/a.md:3", "docs/a.md:4"]);
        Ok(())
    }
}
