//! `luakit solve`, as far as it runs without a Docker daemon (the real solve
//! is covered by the `buildctl-path` end-to-end case): usage errors and
//! failures before and at the connection.

use predicates::prelude::*;

use crate::util::{R, cli_fixture, luakit};

#[test]
fn solve_requires_a_definition_and_a_socket() {
    luakit().arg("solve").assert().code(2).stderr(predicate::str::contains("DEF.pb"));
    luakit().args(["solve", "x.pb"]).assert().code(2).stderr(predicate::str::contains("--docker-socket"));
    luakit().args(["solve", "x.pb", "--docker-socket", "/nonexistent.sock", "--no-such-flag"]).assert().code(2);
}

#[test]
fn solve_of_a_missing_file_fails() {
    luakit()
        .args(["solve", "fixtures/cli/does-not-exist.pb", "--docker-socket", "/nonexistent.sock"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot read fixtures/cli/does-not-exist.pb"));
}

#[test]
fn solve_rejects_what_is_not_a_definition_or_a_config() -> R {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.pb");
    std::fs::write(&bad, b"\xff\xff\xff not protobuf")?;
    luakit()
        .arg("solve")
        .arg(&bad)
        .args(["--docker-socket", "/nonexistent.sock"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a valid LLB Definition"));

    Ok(())
}

#[test]
fn solve_without_a_daemon_fails_cleanly() -> R {
    let dir = tempfile::tempdir()?;
    let def = dir.path().join("def.pb");
    luakit().args(["build", &cli_fixture("image_config"), "-o"]).arg(&def).assert().success();
    let socket = dir.path().join("no-daemon.sock");
    luakit()
        .arg("solve")
        .arg(&def)
        .arg("--docker-socket")
        .arg(&socket)
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot connect to the Docker daemon's BuildKit"));
    Ok(())
}
