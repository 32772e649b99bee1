//! `luakit convert`, `types`, `init`, `fmt` and `lint` as processes: exit
//! codes, output files, and nothing half-written on failure.

use predicates::prelude::*;

use crate::util::{R, luakit};

#[test]
fn convert_writes_a_script_that_validates() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("build.lua");
    luakit().args(["convert", "fixtures/convert/stage-config/Dockerfile", "-o"]).arg(&out).assert().success();
    let text = std::fs::read_to_string(&out)?;
    assert!(text.starts_with("-- Converted from fixtures/convert/stage-config/Dockerfile by luakit convert."));
    luakit().arg("validate").arg(&out).assert().success();
    luakit()
        .args(["convert", "fixtures/convert/shell-forms/Dockerfile", "--syntax", "luakit/frontend:dev"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("# syntax=luakit/frontend:dev\n"))
        .stderr(predicate::str::contains("warning: fixtures/convert/shell-forms/Dockerfile:7: SHELL"));
    Ok(())
}

#[test]
fn convert_refuses_unsupported_instructions_and_writes_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let df = dir.path().join("Dockerfile");
    std::fs::write(&df, "FROM alpine:3.19\nRUN true\nONBUILD RUN make\n")?;
    let out = dir.path().join("build.lua");
    luakit()
        .arg("convert")
        .arg(&df)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Dockerfile:3: ONBUILD is not supported"));
    assert!(!out.exists());
    luakit().args(["convert", "no/such/Dockerfile"]).assert().code(1).stderr(predicate::str::contains("cannot read"));
    Ok(())
}

#[test]
fn types_init_and_test_work_together() -> R {
    luakit().arg("types").assert().success().stdout(predicate::str::starts_with("---@meta"));
    let dir = tempfile::tempdir()?;
    let project = dir.path().join("app");
    luakit().arg("init").arg(&project).assert().success();
    assert!(project.join(".luakit/types/bk.d.lua").is_file());
    luakit().arg("test").arg(&project).assert().success().stdout(predicate::str::contains("2 passed, 0 failed"));
    luakit().arg("validate").arg(project.join("build.lua")).assert().success();
    luakit().arg("lint").arg(&project).assert().success();
    luakit().arg("fmt").arg("--check").arg(&project).assert().success();
    // A second init refuses to overwrite.
    luakit().arg("init").arg(&project).assert().code(1).stderr(predicate::str::contains("already exists"));
    Ok(())
}

#[test]
fn fmt_check_exits_1_and_lists_files() -> R {
    let dir = tempfile::tempdir()?;
    let f = dir.path().join("build.lua");
    std::fs::write(&f, "bk.export( bk.scratch() )\n")?;
    luakit().arg("fmt").arg("--check").arg(dir.path()).assert().code(1).stdout(predicate::str::contains("build.lua"));
    luakit().arg("fmt").arg(dir.path()).assert().success();
    assert_eq!(std::fs::read_to_string(&f)?, "bk.export(bk.scratch())\n");
    luakit().arg("fmt").arg("--check").arg(dir.path()).assert().success();
    Ok(())
}

#[test]
fn lint_exits_1_with_findings_and_0_on_the_examples() -> R {
    luakit().args(["lint", "examples"]).assert().success().stdout("");
    luakit()
        .args(["lint", "fixtures/lint/bad.lua"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("fixtures/lint/bad.lua:11: unused-run:"));
    Ok(())
}
