//! `luakit types`: the stubs list every function, method and option of the
//! runtime's API tables, and the runtime knows every option the stubs list.
//! With `emmylua_check` installed (`target/tools/bin`, or `EMMYLUA_CHECK`),
//! the stubs are proven with a real analyzer.

use std::path::{Path, PathBuf};
use std::process::Command;

use luakit_lua::reference::{FUNCTIONS, METHODS, TABLES};
use luakit_tools::types::stubs;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// The block of a `---@class` in the stubs.
fn class_block<'a>(stubs: &'a str, class: &str) -> &'a str {
    let head = format!("---@class {class}\n");
    let start = stubs.find(&head).unwrap_or_else(|| panic!("no class {class}"));
    let rest = &stubs[start + head.len()..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn stubs_name_every_function_method_and_option() {
    let s = stubs();
    assert!(s.starts_with("---@meta"));
    for f in FUNCTIONS {
        assert!(s.contains(&format!("function bk.{}(", f.name)), "bk.{}", f.name);
    }
    assert!(s.contains("bk[\"local\"] = bk.local_"));
    for m in METHODS {
        assert!(s.contains(&format!("function State:{}(", m.name)), "state:{}", m.name);
    }
    for t in TABLES {
        let block = class_block(&s, t.class);
        for o in t.options {
            let q = if o.required { "" } else { "?" };
            assert!(block.contains(&format!("---@field {}{q} {} ", o.name, o.ty)), "{}.{}", t.class, o.name);
        }
        assert_eq!(block.lines().count(), t.options.len(), "{} has fields the runtime does not know", t.class);
    }
    assert!(s.contains("---@param opts? bk.RunOptions\n---@return bk.State\nfunction State:run(cmd, opts) end"));
}

/// A call whose last argument is the option table `OPTS`, per class.
fn probe(class: &str) -> Option<&'static str> {
    Some(match class {
        "bk.ImageOptions" => "bk.image('alpine', OPTS)",
        "bk.LocalOptions" => "bk.local_('context', OPTS)",
        "bk.GitOptions" => "bk.git('https://example.com/r.git', OPTS)",
        "bk.HttpOptions" => "bk.http('https://example.com/f', OPTS)",
        "bk.RunOptions" => "bk.image('alpine'):run('true', OPTS)",
        "bk.CopyOptions" => "bk.image('alpine'):copy(bk.scratch(), 'a', 'b', OPTS)",
        "bk.MkdirOptions" => "bk.image('alpine'):mkdir('/d', OPTS)",
        "bk.MkfileOptions" => "bk.image('alpine'):mkfile('/f', '', OPTS)",
        "bk.RmOptions" => "bk.image('alpine'):rm('/f', OPTS)",
        "bk.SymlinkOptions" => "bk.image('alpine'):symlink('/a', '/b', OPTS)",
        "bk.Metadata" => "bk.image('alpine'):with_metadata(OPTS)",
        "bk.CacheOptions" => "bk.cache('/c', OPTS)",
        "bk.SecretOptions" => "bk.secret('/s', OPTS)",
        "bk.SshOptions" => "bk.ssh(OPTS)",
        "bk.TmpfsOptions" => "bk.tmpfs('/t', OPTS)",
        "bk.BindOptions" => "bk.bind(bk.scratch(), '/b', OPTS)",
        "bk.ExportOptions" => "bk.export(bk.scratch(), OPTS)",
        "bk.Healthcheck" => "bk.export(bk.scratch(), { healthcheck = OPTS })",
        "bk.OwnerTable" => "bk.image('alpine'):mkdir('/d', { owner = OPTS })",
        "bk.PlatformTable" => "bk.image('alpine', { platform = OPTS })",
        _ => return None,
    })
}

#[test]
fn the_runtime_knows_every_option_of_the_stubs() {
    for t in TABLES {
        let call = probe(t.class).unwrap_or_else(|| panic!("no probe for {}", t.class));
        // A value no option accepts: the error must be about its type, not its name.
        for o in t.options {
            let script = format!(
                "local ok, err = pcall(function() return {} end)\nassert(not ok and not err:find('unknown option', 1, true), tostring(err))\n",
                call.replace("OPTS", &format!("{{ {} = coroutine.create(print) }}", o.name))
            );
            let opts = luakit_lua::EvalOptions::default();
            let r = luakit_lua::evaluate("probe.lua", format!("{script}bk.export(bk.scratch())\n").as_bytes(), &opts);
            if let Err(e) = r {
                panic!("{}.{}: {e}", t.class, o.name);
            }
        }
        // Options with a fixed set of values: the runtime takes each value
        // the stubs list, and refuses another one naming the same set.
        for o in t.options {
            let values: Vec<&str> = o.ty.split('|').collect();
            if !values.iter().all(|v| v.starts_with('"')) {
                continue;
            }
            for v in &values {
                let script = format!(
                    "bk.export(bk.scratch())\nlocal _ = {}\n",
                    call.replace("OPTS", &format!("{{ {} = {v} }}", o.name))
                );
                let r = luakit_lua::evaluate("probe.lua", script.as_bytes(), &luakit_lua::EvalOptions::default());
                assert!(r.is_ok(), "{}.{} = {v}: {:?}", t.class, o.name, r.err());
            }
            let script = format!(
                "bk.export(bk.scratch())\nlocal _ = {}\n",
                call.replace("OPTS", &format!("{{ {} = \"bogus\" }}", o.name))
            );
            let err = luakit_lua::evaluate("probe.lua", script.as_bytes(), &luakit_lua::EvalOptions::default())
                .expect_err("a value outside the set is refused")
                .to_string();
            let listed = values.join(", ").replace('"', "'");
            assert!(err.contains(&format!("must be one of {listed}")), "{}.{}: {err}", t.class, o.name);
        }
        // And a name that is not listed is refused.
        let script = format!(
            "local ok, err = pcall(function() return {} end)\nassert(not ok and err:find(\"unknown option 'no_such_option'\", 1, true), tostring(err))\nbk.export(bk.scratch())\n",
            call.replace("OPTS", "{ no_such_option = 1 }")
        );
        let r = luakit_lua::evaluate("probe.lua", script.as_bytes(), &luakit_lua::EvalOptions::default());
        assert!(r.is_ok(), "{}: {:?}", t.class, r.err());
    }
}

/// The analyzer: `EMMYLUA_CHECK` (which must then exist: CI sets it),
/// else `target/tools/bin/emmylua_check`, else `emmylua_check` on `PATH`.
fn emmylua_check() -> Result<Option<PathBuf>, String> {
    if let Some(p) = std::env::var_os("EMMYLUA_CHECK") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(Some(p)) } else { Err(format!("EMMYLUA_CHECK={} does not exist", p.display())) };
    }
    let p = root().join("target/tools/bin/emmylua_check");
    if p.is_file() {
        return Ok(Some(p));
    }
    Ok(std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|d| d.join("emmylua_check")).find(|p| p.is_file())))
}

/// Runs the analyzer on `scripts` (relative path, text) laid out in one
/// directory next to the stubs, as `luakit init` writes them; returns its
/// output and whether it found nothing.
fn analyze(tool: &Path, scripts: &[(String, String)]) -> Result<(String, bool), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    luakit_tools::init::init(dir.path())?;
    std::fs::remove_file(dir.path().join("build.lua"))?;
    std::fs::remove_file(dir.path().join("build_test.lua"))?;
    for (name, text) in scripts {
        // The analyzer reads Lua, not luakit's `#` first line.
        let text = if text.starts_with('#') { format!("--{text}") } else { text.clone() };
        std::fs::write(dir.path().join(name), text)?;
    }
    let out = Command::new(tool)
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join(".luarc.json"))
        .arg("--warnings-as-errors")
        .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((text, out.status.success()))
}

/// The Lua files of `dir` (not recursive), as (file name, text).
fn scripts_of(dir: &Path) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for f in luakit_tools::files::lua_files(&[dir.to_path_buf()])? {
        if f.parent() == Some(dir) {
            let name = f.file_name().ok_or("a file name")?.to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&f)?));
        }
    }
    Ok(out)
}

#[test]
fn a_real_analyzer_accepts_the_examples_and_catches_wrong_options() -> TestResult {
    let Some(tool) = emmylua_check()? else {
        eprintln!("emmylua_check not installed (cargo install emmylua_check --root target/tools): skipped");
        return Ok(());
    };
    // Each example directory as a project of its own (its test file
    // requires "build" from beside it), then the guide's scripts together.
    let mut projects = Vec::new();
    for entry in std::fs::read_dir(root().join("examples"))? {
        let dir = entry?.path();
        if dir.is_dir() {
            projects.push(dir);
        }
    }
    projects.sort();
    projects.push(root().join("fixtures/guide"));
    let mut checked = 0;
    for dir in &projects {
        let scripts = scripts_of(dir)?;
        checked += scripts.len();
        let (out, ok) = analyze(&tool, &scripts)?;
        assert!(ok, "diagnostics on {}:\n{out}", dir.display());
    }
    assert!(checked >= 10, "only {checked} scripts were checked");
    // Wrong types, names of functions and methods, missing required fields
    // and values outside a fixed set are caught. (A misspelt key in an
    // option table is not: EmmyLua does not check table literals for extra
    // keys; `luakit validate` reports it with "did you mean".)
    for bad in [
        "bk.export(bk.image(\"alpine\"):run(\"make\", { cwd = 1 }))\n",
        "bk.export(bk.image(\"alpine\"):run(\"make\", { network = \"hots\" }))\n",
        "bk.export(bk.image(\"alpine\"):rnu(\"make\"))\n",
        "bk.export(bk.imag(\"alpine\"))\n",
        "bk.export(bk.scratch(), { healthcheck = { interval = \"30s\" } })\n",
        "bk.export(bk.image(\"alpine\"):copy(\"ctx\", \".\", \"/src\"))\n",
    ] {
        let (out, ok) = analyze(&tool, &[("bad.lua".to_string(), bad.to_string())])?;
        assert!(!ok, "no diagnostic for {bad}{out}");
        assert!(out.contains("bad.lua:1:"), "{out}");
    }
    Ok(())
}
