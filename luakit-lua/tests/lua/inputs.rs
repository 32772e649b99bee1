//! Files that are not regular files, or too large: scripts and modules are
//! refused with a message naming what they are, at once (never a hang in
//! `open` on a FIFO, never an endless read of a device).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use luakit_lua::{EvalOptions, ScriptError};

use crate::common::{eval_in, opts};

/// A fresh directory under the system temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luakit-lua-inputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on a thread and fails the test if it takes more than 20 s (the
/// calls under test used to block forever).
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("finished without blocking")
}

#[test]
fn a_fifo_script_is_refused_without_blocking() {
    let dir = scratch("fifo-script");
    let fifo = dir.join("build.lua");
    mkfifo(&fifo);
    let e = within(move || luakit_lua::evaluate_file(&fifo, opts())).expect_err("a FIFO");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(e, ScriptError::Io { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.ends_with("build.lua: it is a FIFO (named pipe), not a regular file"), "{msg}");
}

#[test]
fn a_device_script_is_refused() {
    let e = within(|| luakit_lua::evaluate_file(Path::new("/dev/zero"), opts())).expect_err("a device");
    assert_eq!(e.to_string(), "cannot read /dev/zero: it is a character device, not a regular file");
    let e = within(|| luakit_lua::run_test_file(Path::new("/dev/zero"), &opts())).expect_err("a device");
    assert_eq!(e.to_string(), "cannot read /dev/zero: it is a character device, not a regular file");
}

#[test]
fn a_script_larger_than_the_memory_limit_is_refused_before_reading_it_all() {
    let dir = scratch("large");
    let script = dir.join("build.lua");
    std::fs::write(&script, format!("-- {}\nbk.export(bk.scratch())\n", "x".repeat(64 * 1024))).expect("write");
    let o = EvalOptions { memory_limit: 16 * 1024, ..opts() };
    let e = luakit_lua::evaluate_file(&script, o).expect_err("too large");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(e.to_string().ends_with("build.lua: it is larger than the memory limit of 16 KiB"), "{e}");
}

#[test]
fn a_fifo_module_is_named_as_such_not_missing() {
    let dir = scratch("fifo-module");
    mkfifo(&dir.join("pipe.lua"));
    let d = dir.clone();
    let e = within(move || eval_in(&d, "require('pipe')", opts())).expect_err("a FIFO");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        e.to_string(),
        "build.lua:1: require: cannot read module 'pipe.lua': it is a FIFO (named pipe), not a regular file"
    );
}

#[test]
fn a_directory_named_like_a_module_is_not_silently_skipped() {
    let dir = scratch("dir-module");
    std::fs::create_dir_all(dir.join("odd.lua")).expect("mkdir");
    let e = eval_in(&dir, "require('odd')", opts()).expect_err("a directory");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        e.to_string(),
        "build.lua:1: require: cannot read module 'odd.lua': it is a directory, not a regular file"
    );
}

#[test]
fn a_nul_in_a_module_name_is_named_and_escaped() {
    let dir = scratch("nul");
    let e = eval_in(&dir, "require('libs\\0evil')", opts()).expect_err("a NUL");
    let _ = std::fs::remove_dir_all(&dir);
    let msg = e.to_string();
    assert_eq!(msg, "build.lua:1: require: module name 'libs\\0evil' contains a NUL byte, which no file name can");
    assert!(!msg.contains('\0'));
    // Other control characters are escaped too.
    let dir = scratch("newline");
    let e = eval_in(&dir, "require('a\\nb')", opts()).expect_err("missing");
    let _ = std::fs::remove_dir_all(&dir);
    let msg = e.to_string();
    assert!(!msg.contains('\n') && msg.contains("module 'a\\nb' not found"), "{msg}");
}
