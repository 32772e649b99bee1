//! `luakit test`: every test has its own time budget (one stuck inside a C
//! function fails alone), and a FAIL line is always one line.

use crate::util::{R, luakit, text};

#[test]
fn a_test_stuck_in_a_c_function_fails_alone() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("stuck_test.lua"),
        r#"function test_a_passes() assert(true) end
function test_b_stuck_in_c()
  -- Backtracking inside string.find: seconds in one C call, which the
  -- time limit (checked between Lua instructions) cannot interrupt.
  local n = 25
  string.find(string.rep("a", n), string.rep("a?", n) .. string.rep("a", n) .. "b")
end
function test_c_passes() assert(1 == 1) end
function test_d_fails() error("boom") end
"#,
    )?;
    let out = luakit().args(["test", "--timeout", "2s"]).arg(dir.path()).output()?;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "FAIL test_b_stuck_in_c: evaluation timed out after 2s",
            "FAIL test_d_fails: stuck_test.lua:9: boom",
            "2 passed, 2 failed",
        ],
        "{stdout}"
    );
    Ok(())
}

#[test]
fn test_names_with_newlines_stay_on_one_line() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("names_test.lua"),
        "_G['test_x\\nFAIL forged: 0 failed'] = function() error('real failure') end\n",
    )?;
    let out = luakit().arg("test").arg(dir.path()).output()?;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["FAIL test_x\\nFAIL forged: 0 failed: names_test.lua:1: real failure", "0 passed, 1 failed"],
        "{stdout}"
    );
    Ok(())
}
