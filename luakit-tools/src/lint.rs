//! `luakit lint`: build-specific checks. Each script is evaluated, and the
//! exported graph is read with its source map, so a finding points at the
//! Lua line that made the step: a `run` whose result never reaches
//! `bk.export`, `apt-get install` without a cache mount or list cleanup, the
//! whole context copied before a dependency install, untagged or `latest`
//! images, secrets in environment variables, `network = "host"`, no user in
//! the final image, integer (decimal) modes.
//!
//! Every Lua file (scripts, modules and tests) also gets the general Lua
//! checks of selene-lib (the `lint/lua.rs` module).
//!
//! A finding is silenced by `-- luakit: allow RULE` on its line or the line
//! above it (several rules separated by commas or spaces).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use luakit_graph::{FileAction, MountKind, NetMode, Node, Op};

use crate::ToolError;

mod lua;

/// The rules, with what they look for.
pub const RULES: &[(&str, &str)] = &[
    ("unused-run", "a run whose result never reaches bk.export"),
    ("apt-no-cache", "apt-get install without a cache mount or removal of /var/lib/apt/lists"),
    ("context-before-deps", "the whole build context copied before a dependency install"),
    ("untagged-image", "an image without a version tag, or tagged latest"),
    ("unlocked-image", "an image not pinned in the script's luakit.lock, when there is one"),
    ("secret-in-env", "a secret-looking value passed in an environment variable"),
    ("network-host", "a run with network = \"host\""),
    ("no-user", "the exported image runs as root (no user set)"),
    ("decimal-mode", "a file mode written as an integer"),
];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, as given or relative to the script's directory for modules.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// The rule's name.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}: {} (fix: {})", self.file.display(), self.line, self.rule, self.message, self.hint)
    }
}

/// What [`lint_paths`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LintReport {
    /// Lua files checked (build scripts are also evaluated).
    pub checked: Vec<PathBuf>,
    /// Findings, sorted by file and line.
    pub findings: Vec<Finding>,
    /// Scripts that could not be evaluated (`file:line: error`).
    pub errors: Vec<String>,
}

/// Lints the Lua files at `paths` (files, or directories searched for
/// `*.lua`): each gets the general Lua checks; build scripts are also
/// evaluated and their graphs checked (test files, `*_test.lua`, and
/// modules, files without a `bk.export` call, are not evaluated).
pub fn lint_paths(paths: &[PathBuf]) -> Result<LintReport, ToolError> {
    let mut report = LintReport::default();
    for file in crate::files::lua_files(paths)? {
        let source = std::fs::read_to_string(&file).map_err(|source| ToolError::Io { path: file.clone(), source })?;
        report.checked.push(file.clone());
        report.findings.extend(lua::check(&file, &source));
        if file.to_string_lossy().ends_with("_test.lua") || !source.contains("bk.export") {
            continue;
        }
        match lint_script(&file, &source) {
            Ok(f) => report.findings.extend(f),
            Err(e) => report.errors.push(format!("{}: {e}", file.display())),
        }
    }
    report.findings.sort();
    Ok(report)
}

/// Lints one script (its text is `source`; modules are read next to it).
/// A script that does not evaluate is an error (with its file and line).
pub fn lint_script(path: &Path, source: &str) -> Result<Vec<Finding>, luakit_lua::ScriptError> {
    let opts = luakit_lua::EvalOptions { local_unique_id: "lint".to_string(), ..luakit_lua::EvalOptions::default() };
    let eval = luakit_lua::evaluate_file(path, opts)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let main_name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut findings = Vec::new();
    let nodes = graph_nodes(eval.state.output().map(|o| &o.node));
    // Where each located op of the graph comes from.
    let at = |node: &Node| -> Option<(PathBuf, usize)> {
        let loc = node.locations.first()?;
        let line = usize::try_from(loc.ranges.first()?.start_line).ok()?;
        let file = if loc.file.filename == main_name { path.to_path_buf() } else { dir.join(&loc.file.filename) };
        Some((file, line))
    };
    let mut run_lines: HashSet<usize> = HashSet::new();
    // The script's lock, when it has one (a lock that does not parse is
    // `luakit build`'s error to report, not a lint finding).
    let lock = luakit::lock::Lock::read(&luakit::lock::Lock::path_for_script(path)).ok().flatten();
    for node in &nodes {
        let Some((file, line)) = at(node) else { continue };
        let mut push = |rule: &'static str, message: String, hint: &str| {
            findings.push(Finding { file: file.clone(), line, rule, message, hint: hint.to_string() });
        };
        match &node.op {
            Op::Exec(e) => {
                if file == path {
                    run_lines.insert(line);
                }
                let cmd = e.meta.args.join(" ");
                if (cmd.contains("apt-get install") || cmd.contains("apt install"))
                    && !cmd.contains("/var/lib/apt/lists")
                    && !e
                        .mounts
                        .iter()
                        .any(|m| matches!(m.kind, MountKind::Cache { .. }) && m.dest.starts_with("/var/cache/apt"))
                {
                    push(
                        "apt-no-cache",
                        "apt-get install keeps the package lists and downloads in the image".to_string(),
                        "mount bk.cache(\"/var/cache/apt\", { sharing = \"locked\" }) and bk.cache(\"/var/lib/apt\", { sharing = \"locked\" }), or end the command with && rm -rf /var/lib/apt/lists/*",
                    );
                }
                if e.network == NetMode::Host {
                    push(
                        "network-host",
                        "the run uses the host's network (needs the network.host entitlement)".to_string(),
                        "use the default sandbox network, or network = \"none\" when the step needs none",
                    );
                }
                for (k, v) in e.meta.env.iter() {
                    if looks_secret(k) && !v.is_empty() {
                        push(
                            "secret-in-env",
                            format!(
                                "{k} is passed as an environment variable: it is stored in the build graph and cache"
                            ),
                            "use secret_env = { NAME = \"secret-id\" } or a bk.secret mount",
                        );
                    }
                }
                if is_dependency_install(&cmd) {
                    if let Some(copy) = whole_context_copy_before(node) {
                        if let Some((cfile, cline)) = at(&copy) {
                            findings.push(Finding {
                                file: cfile,
                                line: cline,
                                rule: "context-before-deps",
                                message: "the whole build context is copied before a dependency install: any file change re-runs the install".to_string(),
                                hint: "copy the dependency manifests first (bk.local_(\"context\", { include = { … } })), install, then copy the rest".to_string(),
                            });
                        }
                    }
                }
            }
            Op::Source(s) => {
                if let Some(reference) = s.identifier.strip_prefix("docker-image://") {
                    if !reference.contains('@') && reference.ends_with(":latest") {
                        push(
                            "untagged-image",
                            format!("{reference} has no version tag: builds change when the image is updated"),
                            "name a version tag (alpine:3.19) or pin a digest (@sha256:…)",
                        );
                    }
                    if let Some(lock) = &lock {
                        if !reference.contains('@') && !lock.images.contains_key(reference) {
                            push(
                                "unlocked-image",
                                format!(
                                    "{reference} is not pinned in {}: each build resolves it afresh",
                                    luakit::lock::LOCK_FILE
                                ),
                                "run `luakit lock` to pin it",
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // A `:run(` line of the main script with no exec of the exported graph.
    for (i, text) in source.lines().enumerate() {
        let code = text.split("--").next().unwrap_or_default();
        if code.contains(":run(") && !run_lines.contains(&(i + 1)) {
            findings.push(Finding {
                file: path.to_path_buf(),
                line: i + 1,
                rule: "unused-run",
                message: "the result of this run never reaches bk.export, so BuildKit never runs it".to_string(),
                hint: "use the returned state (st = st:run(…)), or remove the call".to_string(),
            });
        }
        if let Some(m) = integer_mode(code) {
            findings.push(Finding {
                file: path.to_path_buf(),
                line: i + 1,
                rule: "decimal-mode",
                message: format!("mode {m} is a decimal number (Lua has no octal literals)"),
                hint: format!("write the mode as an octal string, e.g. \"{}\"", octal_of(m)),
            });
        }
    }
    // The image's user.
    let export_line = source
        .lines()
        .position(|l| l.split("--").next().unwrap_or_default().contains("bk.export("))
        .map_or(1, |i| i + 1);
    if eval.state.meta().user.is_empty() && eval.export.user.as_deref().unwrap_or_default().is_empty() {
        findings.push(Finding {
            file: path.to_path_buf(),
            line: export_line,
            rule: "no-user",
            message: "the exported image runs as root: no user is set".to_string(),
            hint: "set user = \"1000:1000\" (or a named user) in bk.export, or st:with_user(…)".to_string(),
        });
    }
    for (k, v) in &eval.export.env {
        if looks_secret(k) && !v.is_empty() {
            findings.push(Finding {
                file: path.to_path_buf(),
                line: export_line,
                rule: "secret-in-env",
                message: format!("{k} is stored in the image config, readable by anyone with the image"),
                hint: "pass secrets at run time, not in the image".to_string(),
            });
        }
    }
    let allowed = allowances(&dir, path, source);
    findings.retain(|f| !allowed.get(&f.file).is_some_and(|a| is_allowed(a, f)));
    findings.sort();
    findings.dedup();
    Ok(findings)
}

/// Every node reachable from `root`, each once, inputs first.
fn graph_nodes(root: Option<&Arc<Node>>) -> Vec<Arc<Node>> {
    let mut out = Vec::new();
    let mut seen: HashSet<*const Node> = HashSet::new();
    let mut stack: Vec<Arc<Node>> = root.cloned().into_iter().collect();
    while let Some(n) = stack.pop() {
        if !seen.insert(Arc::as_ptr(&n)) {
            continue;
        }
        for i in n.inputs() {
            stack.push(i.node.clone());
        }
        out.push(n);
    }
    out
}

/// The copy of a whole local source (no include patterns) on the root
/// filesystem chain below `exec`, if any.
fn whole_context_copy_before(exec: &Node) -> Option<Node> {
    let mut cur = root_input(exec)?;
    for _ in 0..10_000 {
        let next = match &cur.op {
            Op::File(f) => {
                for a in &f.actions {
                    if let FileAction::Copy { from: Some(from), src, opts, .. } = a {
                        if let Op::Source(s) = &from.node.op {
                            let whole = src == "/" || src == "/." || src.is_empty();
                            if s.identifier.starts_with("local://")
                                && whole
                                && !s.attrs.contains_key("local.includepattern")
                                && opts.include_patterns.is_empty()
                            {
                                return Some((*cur).clone());
                            }
                        }
                    }
                }
                f.base.as_ref().map(|b| b.node.clone())
            }
            Op::Exec(_) => root_input(&cur),
            _ => None,
        };
        cur = next?;
    }
    None
}

fn root_input(exec: &Node) -> Option<Arc<Node>> {
    match &exec.op {
        Op::Exec(e) => e.mounts.iter().find(|m| m.dest == "/").and_then(|m| m.source()).map(|o| o.node.clone()),
        _ => None,
    }
}

fn is_dependency_install(cmd: &str) -> bool {
    [
        "npm ci",
        "npm install",
        "yarn install",
        "pnpm install",
        "pip install -r",
        "go mod download",
        "bundle install",
        "composer install",
        "cargo fetch",
    ]
    .iter()
    .any(|p| cmd.contains(p))
}

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "ACCESS_KEY", "PRIVATE_KEY", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
}

/// `mode = 493` or `chmod = 420`: an integer mode on a line of code.
fn integer_mode(code: &str) -> Option<u32> {
    for key in ["mode", "chmod"] {
        let mut rest = code;
        while let Some(p) = rest.find(key) {
            let before = rest[..p].chars().last();
            let after = rest[p + key.len()..].trim_start();
            rest = &rest[p + key.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(v) = after.strip_prefix('=') else { continue };
            let digits: String = v.trim_start().chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && !v.trim_start()[digits.len()..].starts_with(['.', 'x', 'X']) {
                return digits.parse().ok();
            }
        }
    }
    None
}

fn octal_of(m: u32) -> String {
    format!("0{:o}", m & 0o7777)
}

/// `(line, rule)` pairs allowed by `-- luakit: allow RULE` comments, per file.
fn allowances(dir: &Path, main: &Path, main_source: &str) -> BTreeMap<PathBuf, BTreeSet<(usize, String)>> {
    let mut out = BTreeMap::new();
    out.insert(main.to_path_buf(), allowed_in(main_source));
    // Modules are read when a finding points into them.
    if let Ok(entries) = crate::files::lua_files(&[dir.to_path_buf()]) {
        for f in entries {
            if f != main {
                if let Ok(text) = std::fs::read_to_string(&f) {
                    if text.contains("luakit: allow") {
                        out.insert(f, allowed_in(&text));
                    }
                }
            }
        }
    }
    out
}

/// Whether an allow comment on the finding's line or the line above names
/// its rule.
fn is_allowed(allowed: &BTreeSet<(usize, String)>, f: &Finding) -> bool {
    [f.line, f.line.saturating_sub(1)].iter().any(|l| allowed.contains(&(*l, f.rule.to_string())))
}

fn allowed_in(source: &str) -> BTreeSet<(usize, String)> {
    let mut set = BTreeSet::new();
    for (i, line) in source.lines().enumerate() {
        let Some(p) = line.find("luakit: allow") else { continue };
        let rules = &line[p + "luakit: allow".len()..];
        for r in rules.split(|c: char| c == ',' || c.is_whitespace()).filter(|r| !r.is_empty()) {
            set.insert((i + 1, r.to_string()));
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_modes_are_found_in_code() {
        assert_eq!(integer_mode("st:mkdir(\"/d\", { mode = 493 })"), Some(493));
        assert_eq!(integer_mode("{ chmod=420 }"), Some(420));
        assert_eq!(integer_mode("{ mode = \"0755\" }"), None);
        assert_eq!(integer_mode("local filemode = 3"), None);
        assert_eq!(octal_of(493), "0755");
    }

    #[test]
    fn allow_comments_name_rules() {
        let set = allowed_in("x\nbk.export(st) -- luakit: allow no-user, untagged-image\n");
        assert!(set.contains(&(2, "no-user".to_string())));
        assert!(set.contains(&(2, "untagged-image".to_string())));
        assert!(!set.contains(&(1, "no-user".to_string())));
    }
}
