//! Inputs that never end or never open: devices, FIFOs, text that is not a
//! Definition. Each is refused at once with a message naming the file.

use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;

use crate::util::{R, luakit};

/// Generous: every command here used to hang or read forever; now each
/// answers in well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

pub fn mkfifo(path: &Path) -> R {
    let ok = std::process::Command::new("mkfifo").arg(path).status()?.success();
    assert!(ok, "mkfifo {}", path.display());
    Ok(())
}

#[test]
fn devices_are_refused_not_read_forever() {
    for cmd in ["dag", "build", "validate", "solve"] {
        let mut c = luakit();
        c.arg(cmd).arg("/dev/zero");
        if cmd == "solve" {
            c.args(["--docker-socket", "/nonexistent.sock"]);
        }
        c.timeout(PATIENCE)
            .assert()
            .code(1)
            .stderr("error: cannot read /dev/zero: it is a character device, not a regular file\n");
    }
}

#[test]
fn a_fifo_without_a_writer_is_refused_not_waited_on() -> R {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("build.lua");
    mkfifo(&fifo)?;
    for cmd in ["build", "dag", "validate"] {
        luakit()
            .arg(cmd)
            .arg(&fifo)
            .timeout(PATIENCE)
            .assert()
            .code(1)
            .stderr(predicate::str::ends_with("build.lua: it is a FIFO (named pipe), not a regular file\n"));
    }
    let pb = dir.path().join("def.pb");
    mkfifo(&pb)?;
    luakit()
        .arg("dag")
        .arg(&pb)
        .timeout(PATIENCE)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("def.pb: it is a FIFO (named pipe), not a regular file"));
    Ok(())
}

#[test]
fn a_fifo_module_is_named_as_such() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("build.lua"), "local m = require('lib')\nbk.export(bk.scratch())\n")?;
    mkfifo(&dir.path().join("lib.lua"))?;
    luakit().arg("build").arg(dir.path().join("build.lua")).timeout(PATIENCE).assert().code(1).stderr(
        "error: build.lua:1: require: cannot read module 'lib.lua': it is a FIFO (named pipe), not a regular file\n",
    );
    Ok(())
}

#[test]
fn a_script_larger_than_the_memory_limit_is_refused() -> R {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(&script, format!("-- {}\nbk.export(bk.scratch())\n", "x".repeat(9 << 20)))?;
    luakit()
        .args(["build", "--memory-limit", "8MiB"])
        .arg(&script)
        .assert()
        .code(1)
        .stderr(predicate::str::ends_with("build.lua: it is larger than the memory limit of 8 MiB\n"));
    Ok(())
}

#[test]
fn dag_of_a_text_file_says_it_is_neither_a_script_nor_a_definition() -> R {
    let dir = tempfile::tempdir()?;
    let txt = dir.path().join("script.txt");
    std::fs::write(&txt, "bk.export(bk.image('alpine'))\n")?;
    let out = luakit().arg("dag").arg(&txt).output()?;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("script.txt is neither a Lua script nor a valid LLB Definition"),
        "{err}"
    );
    assert!(err.contains("a Lua script's name must end in .lua"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // Text that happens to decode as protobuf (unknown fields only) is not a
    // Definition either.
    std::fs::write(&txt, "8888")?;
    luakit().arg("dag").arg(&txt).assert().code(1).stderr(predicate::str::contains(
        "script.txt is neither a Lua script nor a valid LLB Definition: it holds no LLB ops",
    ));

    // Binary garbage: no text hint, the file named.
    let bin = dir.path().join("garbage.pb");
    std::fs::write(&bin, [0x0a, 0x02, 0xff, 0xff])?;
    luakit().arg("dag").arg(&bin).assert().code(1).stderr(
        predicate::str::contains(
            "garbage.pb is neither a Lua script nor a valid LLB Definition: def entry 0 is not an LLB op",
        )
        .and(predicate::str::contains("looks like text").not()),
    );
    Ok(())
}

#[test]
fn flag_values_with_clear_limits() {
    let script = "fixtures/conformance/c01_image/build.lua";
    luakit().args(["build", "--timeout", "1000000h", script]).assert().code(2).stderr(
        predicate::str::contains("duration '1000000h' is too large").and(predicate::str::contains("zero").not()),
    );
    for size in ["1.5GiB", "0.5g", "768MB", "600m"] {
        luakit().args(["validate", "--memory-limit", size, script]).assert().success();
    }
}
