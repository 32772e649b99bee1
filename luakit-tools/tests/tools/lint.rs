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
    for (rule, _) in RULES {
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
    assert_eq!(r.checked.len(), 1);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].contains("broken.lua:1: bk.run: unknown option 'cdw'"), "{:?}", r.errors);
    Ok(())
}
