//! The project's documents show what luakit does.
//!
//! - Every Lua example of README.md and docs/api.md is a script that
//!   `luakit validate` accepts, or a test file (`-- name_test.lua`) that
//!   `luakit test` passes; an example whose first line is `-- path.lua` is
//!   also a file the later examples of the same document can `require`.
//! - Where a ```text block directly follows an example, it is what luakit
//!   prints for it: `error: …` from `luakit validate`, or the report of
//!   `luakit test`. docs/user-guide.md's examples are fragments (complete
//!   copies are fixtures/guide/*.lua); its examples with a file name, and
//!   those followed by their output, are checked the same way.
//! - Every other error message the documents quote (an inline
//!   `` `build.lua:3: …` ``) is made by a script listed here, and is
//!   exactly what luakit prints for it. Messages ending in `…` are patterns.

use std::collections::BTreeMap;

use crate::util::{R, luakit, text, workspace};

/// A fenced block of a Markdown document.
struct Block {
    lang: String,
    body: String,
    /// Line of the opening fence (1-based).
    line: usize,
    /// Only blank lines between the previous block and this one.
    follows: bool,
}

/// The fenced blocks of `doc`, with indented fences (in lists) dedented.
fn blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut last_end: Option<usize> = None;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(lang) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let indent = lines[i].len() - trimmed.len();
        let start = i;
        let mut body = String::new();
        i += 1;
        while i < lines.len() && !lines[i].trim_start().starts_with("```") {
            let l = lines[i];
            body.push_str(l.get(indent.min(l.len() - l.trim_start().len())..).unwrap_or(l));
            body.push('\n');
            i += 1;
        }
        let follows = last_end.is_some_and(|e| lines[e + 1..start].iter().all(|l| l.trim().is_empty()));
        out.push(Block { lang: lang.trim().to_string(), body, line: start + 1, follows });
        last_end = Some(i);
        i += 1;
    }
    out
}

/// The file an example names on its first line (`-- libs/go.lua`).
fn file_name(body: &str) -> Option<String> {
    let first = body.lines().next()?.strip_prefix("-- ")?.trim();
    let ok = first.ends_with(".lua") && first.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    ok.then(|| first.to_string())
}

/// What checking one document found: the error messages its examples print.
#[derive(Default)]
struct Checked {
    messages: Vec<String>,
    examples: usize,
}

/// Runs every example of `doc` (see the module docs); `complete` says
/// whether unnamed examples are whole scripts.
fn check_document(path: &str, complete: bool, wrong: &mut Vec<String>) -> Result<Checked, Box<dyn std::error::Error>> {
    let doc = std::fs::read_to_string(workspace().join(path))?;
    let blocks = blocks(&doc);
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = Checked::default();
    for (k, b) in blocks.iter().enumerate() {
        if b.lang != "lua" {
            continue;
        }
        let name = file_name(&b.body);
        let output = blocks.get(k + 1).filter(|n| n.follows && n.lang == "text").map(|n| n.body.trim_end());
        if let Some(n) = &name {
            files.insert(n.clone(), b.body.clone());
        }
        let is_test = name.as_deref().is_some_and(|n| n.ends_with("_test.lua"));
        let is_module = name.as_deref().is_some_and(|n| !is_test && n != "build.lua");
        if is_module || (name.is_none() && !complete && output.is_none()) {
            continue;
        }
        let dir = tempfile::tempdir()?;
        for (n, body) in &files {
            let p = dir.path().join(n);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, body)?;
        }
        let script = name.clone().unwrap_or_else(|| "build.lua".to_string());
        std::fs::write(dir.path().join(&script), &b.body)?;
        checked.examples += 1;
        let at = format!("{path}:{}", b.line);
        if is_test {
            let out = luakit().current_dir(dir.path()).args(["test", &script]).output()?;
            let stdout = text(&out.stdout);
            match output {
                Some(want) => {
                    if stdout.trim_end() != want {
                        wrong.push(format!("{at}: luakit test prints\n{stdout}but the document shows\n{want}"));
                    }
                    let failed = want.lines().any(|l| l.starts_with("FAIL "));
                    if out.status.success() == failed {
                        wrong.push(format!("{at}: exit status {:?}", out.status.code()));
                    }
                }
                None if !out.status.success() => wrong.push(format!("{at}: luakit test fails:\n{stdout}")),
                None => {}
            }
            continue;
        }
        let out = luakit().current_dir(dir.path()).args(["validate", &script]).output()?;
        let stderr = text(&out.stderr);
        match output {
            Some(want) if want.starts_with("error: ") => {
                if out.status.code() != Some(1) || stderr.trim_end() != want {
                    wrong.push(format!("{at}: luakit validate prints\n{stderr}but the document shows\n{want}"));
                }
                checked.messages.push(want["error: ".len()..].to_string());
            }
            _ if !out.status.success() => wrong.push(format!("{at}: luakit validate fails: {stderr}")),
            _ => {}
        }
    }
    Ok(checked)
}

/// Files besides build.lua, as (path, content).
type Files = &'static [(&'static str, &'static str)];

/// Error messages the documents quote inline, and a script that makes each
/// (with extra files).
const QUOTED: &[(&str, &str, Files)] = &[
    (
        "build.lua:3: bk.imag: there is no such function in the bk API (did you mean bk.image?)",
        "local a = 1\nlocal b = 2\nbk.imag('alpine')",
        &[],
    ),
    (
        "build.lua:1: bk.imag: there is no such function in the bk API (did you mean bk.image?)",
        "bk.imag('alpine')",
        &[],
    ),
    (
        "build.lua:3: load: binary chunks are not available in build scripts (sandboxed)",
        "local a = 1\nlocal b = 2\nlocal f = load('\\27Lua')",
        &[],
    ),
    ("build.lua:1: stack overflow (runaway recursion?)", "local function f() return 1 + f() end\nf()", &[]),
    (
        "build.lua:7: bk.run: unknown option 'cdw' (did you mean 'cwd'?)",
        "local base = bk.image('alpine:3.19')\n\n\n\n\n\nbk.export(base:run('make', { cdw = '/src' }))",
        &[],
    ),
    (
        "build.lua:2: state:rnu: a state has no such method (did you mean state:run?)",
        "local s = bk.image('alpine:3.19')\nbk.export(s:rnu('make'))",
        &[],
    ),
    (
        "build.lua:1: require: module name '../x' leaves the script's directory: require only loads files inside it",
        "require('../x')",
        &[],
    ),
    ("build.lua:2: attempt to index a nil value (local 't')", "local t = nil\nt.x = 1", &[]),
    ("build.lua:2: unexpected symbol near <eof>", "local x =\nbk.export(", &[]),
    ("build.lua:2: bk.image: identifier must not be empty", "local ok = true\nbk.image('')", &[]),
    (
        "build.lua:1: require: module 'libs.og' not found (searched libs/og.lua and libs/og/init.lua, relative to the script's directory; did you mean 'libs.go'?)",
        "require('libs.og')",
        &[("libs/go.lua", "return {}")],
    ),
];

#[test]
fn examples_and_messages_in_the_documents_are_real() -> R {
    let mut wrong = Vec::new();
    let mut verified: Vec<String> = Vec::new();
    let mut examples = 0;
    for (path, complete) in [("README.md", true), ("docs/api.md", true), ("docs/user-guide.md", false)] {
        let c = check_document(path, complete, &mut wrong)?;
        verified.extend(c.messages);
        examples += c.examples;
    }
    for (message, script, extra) in QUOTED {
        let dir = tempfile::tempdir()?;
        for (p, body) in *extra {
            let p = dir.path().join(p);
            std::fs::create_dir_all(p.parent().ok_or("a parent")?)?;
            std::fs::write(p, body)?;
        }
        std::fs::write(dir.path().join("build.lua"), script)?;
        let out = luakit().current_dir(dir.path()).args(["validate", "build.lua"]).output()?;
        let got = text(&out.stderr);
        if got.trim_end() != format!("error: {message}") {
            wrong.push(format!("script\n{script}\nprints\n{got}instead of\nerror: {message}"));
        }
        verified.push(message.to_string());
    }
    verified.push(caps_message()?);
    for path in ["README.md", "docs/api.md", "docs/user-guide.md", "docs/dag-json.md", "ARCHITECTURE.md"] {
        let doc = std::fs::read_to_string(workspace().join(path))?;
        for quoted in quoted_messages(&doc) {
            if !quoted.ends_with('…') && !verified.contains(&quoted) {
                wrong.push(format!("{path} quotes `{quoted}`, which no checked script prints"));
            }
        }
    }
    assert!(examples >= 30, "only {examples} examples were checked");
    assert!(wrong.is_empty(), "{} problems:\n\n{}", wrong.len(), wrong.join("\n\n"));
    Ok(())
}

/// Inline code that is an error message with a location (`build.lua:3: …`),
/// quotes around it removed.
fn quoted_messages(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, span) in doc.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let s = span.trim_matches('"');
        let Some((file, rest)) = s.split_once(':') else { continue };
        let located = file.ends_with(".lua")
            && file.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
            && rest
                .split_once(": ")
                .is_some_and(|(line, _)| !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()));
        if located {
            out.push(s.to_string());
        }
    }
    out
}

/// The message docs/api.md shows for a feature an old daemon lacks: the
/// real one, from evaluating a script and marshalling it for a daemon that
/// reports BuildKit v0.8.3 and has no `mergeop` cap.
fn caps_message() -> Result<String, Box<dyn std::error::Error>> {
    use luakit::llb::caps::id;
    let script = "local base = bk.image('alpine:3.19')\n\n\n\n\nlocal a = base:mkfile('/a', 'a')\nlocal b = base:mkfile('/b', 'b')\n\nbk.export(bk.merge(a, b))";
    let mut caps =
        luakit::CapSet::new([id::SOURCE_IMAGE, id::FILE_BASE, id::CONSTRAINTS, id::PLATFORM, id::META_DESCRIPTION]);
    caps.version = "v0.8.3".to_string();
    let opts = luakit::BuildOptions {
        eval: luakit::EvalOptions {
            target_platform: luakit::Platform::new("linux", "amd64", ""),
            ..luakit::EvalOptions::default()
        },
        daemon_caps: Some(caps),
        ..luakit::BuildOptions::default()
    };
    let script = luakit::Script::new("build.lua", script.as_bytes().to_vec());
    match luakit::build(&script, &opts, std::sync::Arc::new(luakit::Unresolved)) {
        Ok(_) => Err("marshalling for a daemon without mergeop must fail".into()),
        Err(e) => Ok(e.to_string()),
    }
}

#[test]
fn fences_and_file_names_are_read_as_written() {
    let doc =
        "a\n\n```lua\n-- libs/x.lua\nreturn 1\n```\n\n```text\nout\n```\n- item\n\n  ```lua\n  local y = 2\n  ```\n";
    let b = blocks(doc);
    assert_eq!(b.len(), 3);
    assert_eq!((b[0].lang.as_str(), b[0].line, b[0].follows), ("lua", 3, false));
    assert_eq!(file_name(&b[0].body).as_deref(), Some("libs/x.lua"));
    assert!(b[1].follows && b[1].body == "out\n");
    assert!(!b[2].follows && b[2].body == "local y = 2\n");
    assert_eq!(file_name("local x = 1\n"), None);
    assert_eq!(
        quoted_messages("see `build.lua:3: boom` and `\"x.lua:1: y\"`, not `a:b: c`"),
        ["build.lua:3: boom", "x.lua:1: y"]
    );
}
