//! `run_test_file`, the engine of `luakit test`.

use std::time::Duration;

use luakit_lua::{EvalOptions, TestReport, run_test_file};

use crate::common::{fixtures, opts};

fn run(name: &str) -> TestReport {
    let o = EvalOptions { timeout: Duration::from_millis(500), ..opts() };
    run_test_file(&fixtures().join("test_runner").join(name), &o).expect("file readable")
}

#[test]
fn test_functions_run_in_sorted_order_and_failures_have_lines() {
    let r = run("mixed_test.lua");
    assert_eq!(r.passed, 3, "{r:?}");
    assert_eq!(
        r.failed,
        vec![
            (
                "test_assert_failure_has_a_line".to_string(),
                "mixed_test.lua:15: expected user root, got app".to_string()
            ),
            (
                "test_bk_error_is_reported".to_string(),
                "mixed_test.lua:19: bk.run: unknown option 'cdw' (did you mean 'cwd'?)".to_string()
            ),
            ("test_runaway_loop_times_out".to_string(), "evaluation timed out after 500ms".to_string()),
        ]
    );
}

#[test]
fn a_file_without_tests_is_one_test() {
    assert_eq!(run("plain_test.lua"), TestReport { passed: 1, failed: vec![] });
}

#[test]
fn a_file_that_fails_to_run_is_one_failure() {
    let r = run("broken_test.lua");
    assert_eq!(r.passed, 0);
    assert_eq!(r.failed, vec![("broken_test.lua".to_string(), "broken_test.lua:3: setup failed".to_string())]);
}

#[test]
fn a_missing_file_is_an_error() {
    let e = run_test_file(&fixtures().join("test_runner/none_test.lua"), &opts()).expect_err("missing");
    assert!(matches!(e, luakit_lua::ScriptError::Io { .. }));
}

#[test]
fn tests_can_read_what_bk_export_made() {
    let r = run("exported_test.lua");
    assert_eq!(r, TestReport { passed: 8, failed: vec![] });
}

#[test]
fn bk_exported_is_only_for_tests() {
    assert_eq!(
        crate::common::err("bk.export(bk.scratch())\nlocal e = bk.exported()"),
        "build.lua:2: bk.exported: is only available in test files (luakit test); a build script's bk.export is its result"
    );
}
