//! `luakit solve`, as far as it runs without a daemon (the real solves are
//! the `solve*` end-to-end cases on both engines): usage errors, addresses,
//! and failures before and at the connection.

use predicates::prelude::*;

use crate::util::{R, cli_fixture, luakit};

#[test]
fn bad_flags_and_outputs_are_usage_errors() {
    luakit().args(["solve", "x.pb", "--no-such-flag"]).assert().code(2);
    luakit()
        .args(["solve", "x.pb", "--addr", "unix:///x", "--docker-socket", "/y"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    luakit()
        .args(["solve", "--addr", "unix:///nonexistent.sock", "--output", "type=tar", "x.lua"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("type=tar needs dest=FILE"));
    luakit()
        .args(["solve", "--addr", "docker://unix:///nonexistent.sock", "--output", "type=oci,dest=x.tar", "x.lua"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no oci exporter"));
    luakit()
        .args(["solve", "--addr", "unix:///nonexistent.sock", "--output", "name=x", "x.lua"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no type="));
}

#[test]
fn a_bad_address_is_named() {
    luakit()
        .args(["solve", "--addr", "ftp://host", "x.pb"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("invalid BuildKit address \"ftp://host\""));
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
        .stderr(predicate::str::starts_with("error: cannot connect to BuildKit at docker://unix://"));
    // A script too, and the address from BUILDKIT_HOST.
    luakit()
        .args(["solve", &cli_fixture("image_config")])
        .env("BUILDKIT_HOST", format!("unix://{}", socket.display()))
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("cannot connect to BuildKit at unix://{}", socket.display())));
    Ok(())
}
