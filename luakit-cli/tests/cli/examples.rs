//! The README's examples work with the commands it shows.

use crate::util::{R, decode, luakit, text, workspace};

#[test]
fn every_example_builds_validates_and_renders() -> R {
    let mut scripts: Vec<String> = std::fs::read_dir(workspace().join("examples"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("build.lua").is_file())
        .map(|e| format!("examples/{}/build.lua", e.file_name().to_string_lossy()))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "examples/*/build.lua");
    for script in scripts {
        luakit().args(["validate", &script]).assert().success().stdout("");
        let out = luakit().args(["dag", "--format", "text", &script]).output()?;
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("source docker-image://"), "{script}");
        let out = luakit().args(["build", &script]).output()?;
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
        assert!(decode(&out.stdout)?.def.len() > 1, "{script}");
    }
    Ok(())
}

/// The examples' test files pass under `luakit test`, as the user guide
/// runs them, and there is at least the Go example's.
#[test]
fn the_example_tests_pass() -> R {
    let out = luakit().args(["test", "examples"]).output()?;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let summary = stdout.lines().last().unwrap_or_default();
    let passed: usize = summary.split(' ').next().unwrap_or_default().parse()?;
    assert!(passed >= 7, "{stdout}");
    assert!(summary.ends_with(" passed, 0 failed"), "{stdout}");
    Ok(())
}
