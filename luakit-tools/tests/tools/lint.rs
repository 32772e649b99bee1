//! `luakit lint` on fixtures/lint: every rule fires on bad.lua (a module's
//! finding points into the module), allow comments silence them, a clean
//! script and the examples give nothing.

use std::path::{Path, PathBuf};

use luakit_tools::lint::{RULES, lint_paths};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

fn report(path: &str) -> Result<String, Box<dyn std::error::Error>> {
    let r = lint_paths(&[root().join(path)])?;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let base = root();
    Ok(r.findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            f.file = f.file.strip_prefix(&base).map(Path::to_path_buf).unwrap_or(f.file);
            format!("{f}\n")
        })
        .collect())
}

#[test]
fn every_rule_fires_with_file_line_and_hint() -> TestResult {
    let text = report("fixtures/lint/bad.lua")?;
    // unlocked-image needs a lock beside the script: its own test.
    for (rule, _) in RULES.iter().filter(|(r, _)| *r != "unlocked-image") {
        assert!(text.contains(&format!(": {rule}: ")), "{rule} did not fire:\n{text}");
    }
    assert!(text.contains("fixtures/lint/libs/helper.lua:4: network-host"), "{text}");
    insta::assert_snapshot!(text);
    Ok(())
}

#[test]
fn allow_comments_silence_their_line_and_the_next() -> TestResult {
    assert_eq!(report("fixtures/lint/allowed.lua")?, "");
    Ok(())
}

#[test]
fn clean_scripts_and_the_examples_have_no_findings() -> TestResult {
    assert_eq!(report("fixtures/lint/clean.lua")?, "");
    assert_eq!(report("examples")?, "");
    Ok(())
}

#[test]
fn scripts_that_fail_are_errors_and_modules_are_skipped() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("broken.lua"), "bk.export(bk.image('alpine:3.19'):run('x', { cdw = '/' }))\n")?;
    std::fs::write(dir.path().join("module.lua"), "return {}\n")?;
    std::fs::write(dir.path().join("thing_test.lua"), "function test_x() end\n")?;
    let r = lint_paths(&[dir.path().to_path_buf()])?;
    // All three get the Lua checks; only broken.lua is evaluated.
    assert_eq!(r.checked.len(), 3);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].contains("broken.lua:1: bk.run: unknown option 'cdw'"), "{:?}", r.errors);
    Ok(())
}

#[test]
fn images_missing_from_the_lock_are_found_when_there_is_a_lock() -> TestResult {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(
        &script,
        "local a = bk.image(\"alpine:3.19\")\nlocal b = bk.image(\"busybox:1.36\")\nbk.export(bk.merge({ a, b }), { user = \"1000\" })\n",
    )?;
    let lint = || -> Result<Vec<String>, Box<dyn std::error::Error>> {
        Ok(lint_paths(std::slice::from_ref(&script))?
            .findings
            .iter()
            .map(|f| format!("{}: {}", f.line, f.rule))
            .collect())
    };
    // No lock: nothing to compare with.
    assert_eq!(lint()?, Vec::<String>::new());
    let mut lock = luakit::lock::Lock::default();
    lock.images.insert(
        "docker.io/library/alpine:3.19".to_string(),
        luakit::lock::LockedImage { digest: format!("sha256:{}", "a".repeat(64)), ..Default::default() },
    );
    lock.write(&dir.path().join("luakit.lock"))?;
    assert_eq!(lint()?, ["2: unlocked-image"]);
    Ok(())
}

#[test]
fn general_lua_checks_run_on_every_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("build.lua"), "local unused = 1\nbk.export(bk.scratch(), { user = \"1000\" })\n")?;
    std::fs::write(dir.path().join("helper.lua"), "return { x = undefined_name }\n")?;
    let r = lint_paths(&[dir.path().to_path_buf()])?;
    let found: Vec<String> = r
        .findings
        .iter()
        .map(|f| format!("{}:{}: {}", f.file.file_name().unwrap_or_default().to_string_lossy(), f.line, f.rule))
        .collect();
    assert_eq!(found, ["build.lua:1: unused_variable", "helper.lua:1: undefined_variable"]);
    Ok(())
}
