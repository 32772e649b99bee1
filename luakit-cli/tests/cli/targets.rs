//! `--target` and several `--platform`s on `build`, `dag` and `validate`.

use predicates::prelude::*;

use crate::util::{R, cli_fixture, decode, luakit, text};

#[test]
fn target_picks_the_export_built() -> R {
    let script = cli_fixture("targets");
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.json");
    let config_arg = config.to_string_lossy().into_owned();
    let out = luakit().args(["build", "--image-config", &config_arg, "--target", "api", &script]).output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = std::fs::read_to_string(&config)?;
    assert!(json.contains("\"/api\"") && !json.contains("\"/web\""), "{json}");
    let api = decode(&out.stdout)?;
    let last = decode(&luakit().args(["build", &script]).output()?.stdout)?;
    assert_ne!(api, last, "the default is the last export");
    luakit().args(["validate", "--target", "web", &script]).assert().success();
    luakit()
        .args(["validate", "--target", "wbe", &script])
        .assert()
        .code(1)
        .stderr("error: build.lua: no target 'wbe' (the script's targets are 'api', 'web'; did you mean 'web'?)\n");
    luakit()
        .args(["dag", "--target", "api", &script])
        .assert()
        .success()
        .stdout(predicate::str::contains("/api").and(predicate::str::contains("/web").not()));
    Ok(())
}

#[test]
fn build_refuses_several_platforms() {
    luakit()
        .args(["build", "--platform", "linux/amd64,linux/arm64", &cli_fixture("targets")])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            predicate::str::contains("--platform gives 2 platforms (linux/amd64, linux/arm64)")
                .and(predicate::str::contains("--opt platform=linux/amd64,linux/arm64")),
        );
}

#[test]
fn dag_and_validate_take_several_platforms() {
    let script = cli_fixture("targets");
    luakit().args(["dag", "--platform", "linux/amd64,linux/arm/v7", &script]).assert().success().stdout(
        predicate::str::starts_with("=== platform linux/amd64 ===\n")
            .and(predicate::str::contains("\n=== platform linux/arm/v7 ===\n")),
    );
    luakit().args(["validate", "--platform", "linux/amd64,linux/arm64", &script]).assert().success();
    luakit().args(["validate", "--platform", "linux/amd64,linux/z80", &script]).assert().code(2);
}
