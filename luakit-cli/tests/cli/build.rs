//! `luakit build`: where the definition goes, flag plumbing, exit codes.

use std::process::Stdio;

use luakit::pb;
use predicates::prelude::*;

use crate::util::{R, cli_fixture, decode, dir_entries, luakit, ops, text, workspace};

const IMAGE: &str = "fixtures/conformance/c01_image/build.lua";

fn build_stdout(args: &[&str]) -> Result<pb::Definition, Box<dyn std::error::Error>> {
    let out = luakit().arg("build").args(args).output()?;
    assert!(out.status.success(), "luakit build {args:?}: {}", text(&out.stderr));
    Ok(decode(&out.stdout)?)
}

fn exec_args(def: &pb::Definition) -> Result<Vec<Vec<String>>, Box<dyn std::error::Error>> {
    Ok(ops(def)?
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Exec(e)) => e.meta.map(|m| m.args),
            _ => None,
        })
        .collect())
}

#[test]
fn writes_a_definition_to_a_pipe() -> R {
    use prost::Message as _;
    let def = build_stdout(&[IMAGE])?;
    assert_eq!(def.def.len(), 2, "an image op and the terminal op");
    let term = pb::Op::decode(def.def[1].as_slice())?;
    assert!(term.op.is_none() && term.inputs.len() == 1);
    Ok(())
}

#[test]
fn output_is_deterministic() -> R {
    let script = "fixtures/conformance/c05_multi_stage/build.lua";
    let a = luakit().args(["build", script]).output()?;
    let b = luakit().args(["build", script]).output()?;
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
    Ok(())
}

/// Runs `luakit <args>` with stdout on a pseudo-terminal (util-linux
/// `script`), returning the exit code and what the terminal showed.
pub fn on_terminal(args: &str) -> Result<(i32, String), Box<dyn std::error::Error>> {
    let bin = assert_cmd::cargo::cargo_bin("luakit");
    let cmd = format!("'{}' {args}", bin.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(workspace())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("util-linux `script` is needed to give luakit a terminal: {e}"))?;
    let code = out.status.code().ok_or("script was killed")?;
    Ok((code, format!("{}{}", text(&out.stdout), text(&out.stderr))))
}

#[test]
fn refuses_to_write_binary_to_a_terminal() -> R {
    let (code, shown) = on_terminal(&format!("build {IMAGE}"))?;
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("refusing to write a binary LLB definition to a terminal"), "{shown}");
    assert!(shown.contains("use -o FILE or pipe into buildctl build"), "{shown}");
    // Nothing binary reached the terminal.
    assert!(!shown.contains("docker-image://"), "{shown}");
    Ok(())
}

#[test]
fn a_terminal_is_fine_with_output_file_or_text() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("def.pb");
    let (code, shown) = on_terminal(&format!("build -o '{}' {IMAGE}", out.display()))?;
    assert_eq!(code, 0, "{shown}");
    assert!(decode(&std::fs::read(&out)?)?.def.len() == 2);
    let (code, shown) = on_terminal(&format!("dag {IMAGE}"))?;
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("docker-image://docker.io/library/alpine:3.19"), "{shown}");
    Ok(())
}

#[test]
fn output_file_is_written_whole() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("def.pb");
    luakit().args(["build", "-o"]).arg(&out).arg(IMAGE).assert().success().stdout("");
    assert_eq!(decode(&std::fs::read(&out)?)?.def.len(), 2);
    assert_eq!(dir_entries(dir.path())?, ["def.pb"], "no temporary file is left");
    #[cfg(unix)]
    {
        // A new file gets the usual permissions, not the temp file's 0600.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out)?.permissions().mode() & 0o777;
        assert_eq!(mode & 0o644, 0o644, "{mode:o}");
    }
    // Overwriting replaces the file.
    luakit()
        .args(["build", "--output"])
        .arg(&out)
        .arg("fixtures/conformance/c02_run_shell/build.lua")
        .assert()
        .success();
    assert_eq!(decode(&std::fs::read(&out)?)?.def.len(), 3);
    assert_eq!(dir_entries(dir.path())?, ["def.pb"]);
    Ok(())
}

#[test]
fn a_failed_build_leaves_existing_files_untouched() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("def.pb");
    let config = dir.path().join("config.json");
    std::fs::write(&out, b"precious")?;
    std::fs::write(&config, b"{\"precious\": true}")?;
    luakit()
        .args(["build", "-o"])
        .arg(&out)
        .arg("--image-config")
        .arg(&config)
        .arg(cli_fixture("error"))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: build.lua:3: deliberate failure for the CLI tests"));
    assert_eq!(std::fs::read(&out)?, b"precious");
    assert_eq!(std::fs::read(&config)?, b"{\"precious\": true}");
    assert_eq!(dir_entries(dir.path())?, ["config.json", "def.pb"], "no temporary file is left");
    Ok(())
}

#[test]
fn a_failed_build_creates_no_file() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("def.pb");
    luakit().args(["build", "-o"]).arg(&out).arg(cli_fixture("error")).assert().code(1);
    assert_eq!(dir_entries(dir.path())?, Vec::<String>::new());
    Ok(())
}

#[test]
fn an_unwritable_output_is_an_error() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("missing-dir").join("def.pb");
    luakit()
        .args(["build", "-o"])
        .arg(&out)
        .arg(IMAGE)
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot create a temporary file in"));
    Ok(())
}

#[test]
fn args_reach_bk_arg() -> R {
    let def = build_stdout(&["--arg", "VERSION=1.2.3", "--arg", "OTHER=x=y", &cli_fixture("args")])?;
    let args = exec_args(&def)?;
    assert_eq!(args, [["/bin/sh", "-c", "echo 1.2.3 > /version"]]);
    let def = build_stdout(&[&cli_fixture("args")])?;
    assert_eq!(exec_args(&def)?, [["/bin/sh", "-c", "echo dev > /version"]], "the default without --arg");
    Ok(())
}

#[test]
fn a_malformed_arg_is_a_usage_error() {
    luakit()
        .args(["build", "--arg", "VERSION", &cli_fixture("args")])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'VERSION' is not NAME=VALUE"));
}

#[test]
fn platform_is_set_on_ops() -> R {
    let def = build_stdout(&["--platform", "linux/arm64", IMAGE])?;
    let ops = ops(&def)?;
    assert!(!ops.is_empty());
    for op in ops {
        let p = op.platform.ok_or("platform set")?;
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "arm64"));
    }
    luakit().args(["build", "--platform", "linux", IMAGE]).assert().code(2);
    luakit().args(["build", "--platform", "linux/z80", IMAGE]).assert().code(2);
    Ok(())
}

#[test]
fn image_config_is_written() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.json");
    let out = dir.path().join("def.pb");
    luakit()
        .args(["build", "--platform", "linux/arm64", "-o"])
        .arg(&out)
        .arg("--image-config")
        .arg(&config)
        .arg(cli_fixture("image_config"))
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config)?)?;
    assert_eq!(v["os"], "linux");
    assert_eq!(v["architecture"], "arm64");
    let c = &v["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/app/server"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--port", "8080"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "app");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "demo");
    let env: Vec<&str> = c["Env"].as_array().ok_or("Env")?.iter().filter_map(|e| e.as_str()).collect();
    assert!(env.contains(&"APP_ENV=production"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert_eq!(dir_entries(dir.path())?, ["config.json", "def.pb"]);
    Ok(())
}

#[test]
fn image_config_works_with_stdout_too() -> R {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.json");
    let out = luakit().args(["build", "--image-config"]).arg(&config).arg(IMAGE).output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    decode(&out.stdout)?;
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&config)?)?;
    assert_eq!(v["os"], "linux");
    Ok(())
}

fn local_unique(def: &pb::Definition) -> Result<Option<String>, Box<dyn std::error::Error>> {
    Ok(ops(def)?.into_iter().find_map(|op| match op.op {
        Some(pb::op::Op::Source(s)) if s.identifier.starts_with("local://") => s.attrs.get("local.unique").cloned(),
        _ => None,
    }))
}

#[test]
fn local_unique_id_is_stable_by_default_and_can_be_set() -> R {
    let a = local_unique(&build_stdout(&[&cli_fixture("local")])?)?.ok_or("local.unique set")?;
    let b = local_unique(&build_stdout(&[&cli_fixture("local")])?)?.ok_or("local.unique set")?;
    assert_eq!(a, b, "the same machine and directory give the same id");
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    let set = local_unique(&build_stdout(&["--local-unique-id", "my-id", &cli_fixture("local")])?)?;
    assert_eq!(set.as_deref(), Some("my-id"));
    Ok(())
}

#[test]
fn source_map_is_on_by_default() -> R {
    let def = build_stdout(&[IMAGE])?;
    let src = def.source.ok_or("a source map")?;
    assert_eq!(src.infos.first().map(|i| i.filename.as_str()), Some("build.lua"));
    let def = build_stdout(&["--no-source-map", IMAGE])?;
    assert!(def.source.is_none());
    Ok(())
}

#[test]
fn script_errors_exit_1_with_location() {
    luakit()
        .args(["build", &cli_fixture("error")])
        .assert()
        .code(1)
        .stdout("")
        .stderr("error: build.lua:3: deliberate failure for the CLI tests\n");
    luakit()
        .args(["build", &cli_fixture("no_export")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no bk.export() call"));
    luakit()
        .args(["build", "fixtures/cli/does-not-exist.lua"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot read fixtures/cli/does-not-exist.lua"));
}

#[test]
fn limits_are_enforced() {
    luakit()
        .args(["build", "--timeout", "300ms", &cli_fixture("slow")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timed out after 300ms"));
    luakit()
        .args(["build", "--memory-limit", "8MiB", &cli_fixture("memory")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("memory limit of 8 MiB"));
}

#[test]
fn bad_flag_values_are_usage_errors() {
    for args in [
        vec!["build", "--timeout", "soon", IMAGE],
        vec!["build", "--timeout", "0s", IMAGE],
        vec!["build", "--memory-limit", "lots", IMAGE],
        vec!["build", "--bogus", IMAGE],
        vec!["build"],
        vec!["frobnicate"],
        vec![],
    ] {
        luakit().args(&args).assert().code(2).stdout("");
    }
}

#[test]
fn warnings_go_to_stderr() -> R {
    let out = luakit().args(["build", &cli_fixture("warn")]).output()?;
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(err.starts_with("warning: build.lua:2: bk.image: resolve_digest ignored"), "{err}");
    decode(&out.stdout)?;
    Ok(())
}
