//! Where outputs go: never over the script, through symbolic links, into
//! FIFOs as they are, both files or neither, no temporary file left behind
//! by a signal, and a closed stdout is an error.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::inputs::mkfifo;
use crate::util::{R, decode, dir_entries, luakit, workspace};

const IMAGE: &str = "fixtures/conformance/c01_image/build.lua";
const CONFIG: &str = "fixtures/cli/image_config/build.lua";

/// A copy of the image_config fixture as `dir/build.lua`.
fn script_in(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let script = dir.join("build.lua");
    std::fs::copy(workspace().join(CONFIG), &script)?;
    Ok(script)
}

#[test]
fn an_output_that_is_the_script_is_refused_before_evaluating() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let script = script_in(d)?;
    let before = std::fs::read(&script)?;
    std::os::unix::fs::symlink("build.lua", d.join("alias.lua"))?;
    for args in [
        vec!["-o".to_string(), script.display().to_string()],
        vec!["-o".to_string(), format!("{}/./build.lua", d.display())],
        vec!["-o".to_string(), d.join("alias.lua").display().to_string()],
        vec!["--image-config".to_string(), script.display().to_string()],
    ] {
        luakit()
            .arg("build")
            .args(&args)
            .arg(&script)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("itself: refusing to overwrite it"));
        assert_eq!(std::fs::read(&script)?, before, "{args:?}");
    }
    // -o and --image-config naming one file.
    let out = d.join("out.pb");
    luakit()
        .arg("build")
        .arg("-o")
        .arg(&out)
        .arg("--image-config")
        .arg(d.join(".").join("out.pb"))
        .arg(&script)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("are the same file"));
    assert!(!out.exists());
    Ok(())
}

#[test]
fn output_goes_through_a_symlink_which_stays_a_symlink() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::create_dir(d.join("real"))?;
    std::fs::write(d.join("real/def.pb"), "old")?;
    std::os::unix::fs::symlink("real/def.pb", d.join("link.pb"))?;
    luakit().args(["build", IMAGE, "-o"]).arg(d.join("link.pb")).assert().success();
    assert!(std::fs::symlink_metadata(d.join("link.pb"))?.file_type().is_symlink(), "still a link");
    assert_eq!(decode(&std::fs::read(d.join("real/def.pb"))?)?.def.len(), 2, "the target got the definition");
    assert_eq!(dir_entries(&d.join("real"))?, ["def.pb"], "no temporary file left");
    assert_eq!(dir_entries(d)?, ["link.pb", "real"]);
    Ok(())
}

#[test]
fn output_into_a_fifo_is_written_as_is() -> R {
    let dir = tempfile::tempdir()?;
    let fifo = dir.path().join("def.pb");
    mkfifo(&fifo)?;
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        std::fs::File::open(reader_path)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    luakit().args(["build", IMAGE, "-o"]).arg(&fifo).timeout(Duration::from_secs(60)).assert().success();
    let bytes = reader.join().map_err(|_| "reader panicked")??;
    assert_eq!(decode(&bytes)?.def.len(), 2);
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::symlink_metadata(&fifo)?.file_type().is_fifo(), "still a FIFO");
    assert_eq!(dir_entries(dir.path())?, ["def.pb"]);
    Ok(())
}

#[test]
fn a_failing_image_config_leaves_the_definition_untouched() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let script = script_in(d)?;
    let out = d.join("out.pb");
    std::fs::write(&out, "previous build")?;
    luakit()
        .arg("build")
        .arg(&script)
        .arg("-o")
        .arg(&out)
        .arg("--image-config")
        .arg(d.join("missing-dir/config.json"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing-dir"));
    assert_eq!(std::fs::read(&out)?, b"previous build");
    assert_eq!(dir_entries(d)?, ["build.lua", "out.pb"]);
    Ok(())
}

#[test]
fn a_closed_stdout_is_an_error_and_dev_null_is_not() -> R {
    let bin = assert_cmd::cargo::cargo_bin("luakit");
    for (args, code) in [("build", 1), ("dag", 1), ("version", 1)] {
        let tail = if args == "version" { String::new() } else { format!(" {IMAGE}") };
        let closed = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec '{}' {args}{tail} >&-", bin.display()))
            .current_dir(workspace())
            .output()?;
        assert_eq!(closed.status.code(), Some(code), "{args}: {}", String::from_utf8_lossy(&closed.stderr));
        assert_eq!(String::from_utf8_lossy(&closed.stderr), "error: cannot write to standard output: it is closed\n");
        let null = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec '{}' {args}{tail} >/dev/null", bin.display()))
            .current_dir(workspace())
            .output()?;
        assert!(null.status.success(), "{args}: {}", String::from_utf8_lossy(&null.stderr));
    }
    Ok(())
}

#[test]
fn a_reader_that_goes_away_is_quiet() -> R {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    // A definition much larger than a pipe's buffer.
    std::fs::write(
        &script,
        "local s = bk.image('alpine')\nfor i = 1, 3000 do s = s:run('echo ' .. i) end\nbk.export(s)\n",
    )?;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("luakit"))
        .arg("build")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no message for a closed pipe");
    assert_eq!(out.status.code(), Some(1), "the definition was not delivered");
    Ok(())
}

/// Waits until `dir` holds a hidden `*.tmp` file; its name.
fn wait_for_temp(dir: &Path, limit: Duration) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(names) = dir_entries(dir) {
            if let Some(t) = names.into_iter().find(|n| n.starts_with('.') && n.ends_with(".tmp")) {
                return Some(t);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A build held while writing: `-o` is a FIFO nobody reads (opening it
/// blocks, as it does for a shell), the image config is already in its
/// temporary file.
fn held_build(d: &Path) -> Result<std::process::Child, Box<dyn std::error::Error>> {
    let script = script_in(d)?;
    mkfifo(&d.join("def.pb"))?;
    Ok(std::process::Command::new(assert_cmd::cargo::cargo_bin("luakit"))
        .arg("build")
        .arg(&script)
        .arg("-o")
        .arg(d.join("def.pb"))
        .arg("--image-config")
        .arg(d.join("config.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?)
}

#[test]
fn a_signal_while_writing_removes_the_temporary_files() -> R {
    use std::os::unix::process::ExitStatusExt as _;
    for (signal, number) in [("TERM", 15), ("INT", 2)] {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let mut child = held_build(d)?;
        let temp = wait_for_temp(d, Duration::from_secs(60));
        if temp.is_none() {
            let _ = child.kill();
        }
        assert!(temp.is_some(), "the image config's temporary file appears while -o blocks");
        let killed =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status()?;
        assert!(killed.success());
        let status = child.wait()?;
        assert_eq!(status.signal(), Some(number), "dies of SIG{signal}: {status:?}");
        assert_eq!(dir_entries(d)?, ["build.lua", "def.pb"], "no temporary file, no half-written config");
    }
    Ok(())
}

/// `build`, `dag` and `validate` end the process without the C library's
/// exit handlers once done (main.rs, `exit_now`): what they print through
/// a pipe arrives whole, warnings included, and the exit status is kept.
#[test]
fn the_quick_exit_delivers_everything_and_keeps_the_status() -> R {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(
        &script,
        r#"
print("a line from print")
local s = bk.image("alpine:3.19")
for i = 1, 2000 do s = s:run("echo " .. i) end
bk.export(s)
"#,
    )?;
    let file = dir.path().join("out.pb");
    let written = luakit().args(["build", "-o"]).arg(&file).arg(&script).output()?;
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    let piped = luakit().arg("build").arg(&script).output()?;
    assert!(piped.status.success());
    assert!(piped.stdout.len() > 200_000, "a Definition of 2,000 ops");
    assert_eq!(piped.stdout, std::fs::read(&file)?, "the whole Definition through the pipe");
    assert_eq!(String::from_utf8_lossy(&piped.stderr), "a line from print\n");
    let dag = luakit().args(["dag", "--format", "text"]).arg(&script).output()?;
    assert!(dag.status.success());
    let text = String::from_utf8(dag.stdout)?;
    assert!(text.contains("echo 2000"), "the last op is shown");
    assert!(text.ends_with('\n'));
    let bad = dir.path().join("bad.lua");
    std::fs::write(&bad, "bk.export(bk.image(42))\n")?;
    let failed = luakit().arg("validate").arg(&bad).output()?;
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).starts_with("error: "));
    let usage = luakit().args(["dag", "--no-such-flag"]).output()?;
    assert_eq!(usage.status.code(), Some(2));
    Ok(())
}
