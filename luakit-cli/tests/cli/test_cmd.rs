//! `luakit test`: discovery, failure report, summary, exit code.

use predicates::prelude::*;

use crate::util::{R, luakit, text, workspace};

#[test]
fn passing_tests_exit_0() {
    luakit().args(["test", "fixtures/cli/tests"]).assert().success().stdout("3 passed, 0 failed\n");
}

#[test]
fn the_default_path_is_the_current_directory() {
    luakit()
        .current_dir(workspace().join("fixtures/cli/tests"))
        .arg("test")
        .assert()
        .success()
        .stdout("3 passed, 0 failed\n");
}

#[test]
fn failures_are_reported_with_location() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("math_test.lua"),
        "function test_ok()\n    assert(1 + 1 == 2)\nend\n\nfunction test_broken()\n    assert(1 + 1 == 3, \"math is broken\")\nend\n",
    )?;
    std::fs::create_dir(dir.path().join("sub"))?;
    std::fs::write(dir.path().join("sub/syntax_test.lua"), "function test_x(\n")?;
    std::fs::write(dir.path().join("sub/helper.lua"), "error('not a test file')\n")?;
    let out = luakit().arg("test").arg(dir.path()).arg("fixtures/cli/tests").output()?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "FAIL test_broken: math_test.lua:6: math is broken",
            "FAIL syntax_test.lua: syntax_test.lua:2: <name> or '...' expected near <eof>",
            "4 passed, 2 failed",
        ],
        "{stdout}"
    );
    Ok(())
}

#[test]
fn a_single_file_can_be_named() {
    luakit()
        .args(["test", "fixtures/cli/tests/nested/graph_test.lua"])
        .assert()
        .success()
        .stdout("1 passed, 0 failed\n");
}

#[test]
fn no_test_files_is_not_a_failure() -> R {
    let dir = tempfile::tempdir()?;
    luakit()
        .arg("test")
        .arg(dir.path())
        .assert()
        .success()
        .stdout("0 passed, 0 failed\n")
        .stderr(predicate::str::starts_with("warning: no *_test.lua files"));
    Ok(())
}

#[test]
fn a_missing_path_is_a_usage_error() {
    luakit()
        .args(["test", "fixtures/cli/no-such-dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("error: fixtures/cli/no-such-dir"));
}
