//! `run_test_file`: each test has a time budget of its own, and one stuck
//! inside a C function fails alone; the tests after it still run.

use std::time::Duration;

use luakit_lua::{EvalOptions, run_test_file};

use crate::common::opts;

#[test]
fn a_test_stuck_in_a_c_function_fails_alone() {
    let dir = std::env::temp_dir().join(format!("luakit-lua-budget-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("stuck_test.lua");
    std::fs::write(
        &file,
        r#"function test_a() assert(true) end
function test_b_stuck()
  -- Seconds of backtracking inside one C call: the instruction hook that
  -- enforces the time limit never runs.
  local n = 22
  string.find(string.rep("a", n), string.rep("a?", n) .. string.rep("a", n) .. "b")
end
function test_c() assert(true) end
function test_d() error("boom") end
"#,
    )
    .expect("write");
    let o = EvalOptions { timeout: Duration::from_millis(500), ..opts() };
    let r = run_test_file(&file, &o).expect("readable");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(r.passed, 2, "{r:?}");
    assert_eq!(
        r.failed,
        vec![
            ("test_b_stuck".to_string(), "evaluation timed out after 500ms".to_string()),
            ("test_d".to_string(), "stuck_test.lua:9: boom".to_string()),
        ]
    );
}
