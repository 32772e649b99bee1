//! `luakit validate`: nothing on stdout, warnings on stderr, exit 0 or 1.

use predicates::prelude::*;

use crate::util::{R, cli_fixture, luakit};

#[test]
fn a_good_script_prints_nothing() {
    luakit().args(["validate", "fixtures/conformance/c04_mounts/build.lua"]).assert().success().stdout("").stderr("");
}

#[test]
fn warnings_are_printed() {
    luakit()
        .args(["validate", &cli_fixture("warn")])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::starts_with("warning: build.lua:2:"));
}

#[test]
fn errors_exit_1() -> R {
    luakit()
        .args(["validate", &cli_fixture("error")])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("build.lua:3:"));
    luakit().args(["validate", "--arg", "VERSION=1", &cli_fixture("args")]).assert().success();
    luakit().args(["validate"]).assert().code(2);
    Ok(())
}
