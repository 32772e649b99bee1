//! `--timeout` and `--memory-limit` cover the whole command (reading,
//! evaluating, marshalling, encoding, rendering, writing), not only the Lua
//! evaluation; going over ends the command with a clear error, exit 1, and
//! no output.

use std::time::{Duration, Instant};

use luakit::pb;
use predicates::prelude::*;
use prost::Message as _;

use crate::inputs::mkfifo;
use crate::util::{R, dir_entries, luakit, workspace};

/// A Definition of `n` distinct small source ops merged by one op: small on
/// disk, large decoded.
fn wide_definition(n: usize) -> Vec<u8> {
    let mut def = pb::Definition::default();
    let mut inputs = Vec::with_capacity(n);
    for i in 0..n {
        let op = pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp {
                identifier: format!("local://c{i}"),
                attrs: Default::default(),
            })),
            ..Default::default()
        };
        let bytes = op.encode_to_vec();
        inputs.push(pb::Input { digest: luakit::Digest::of(&bytes).to_string(), index: 0 });
        def.def.push(bytes);
    }
    let merge = pb::Op {
        inputs: inputs.clone(),
        op: Some(pb::op::Op::Merge(pb::MergeOp {
            inputs: (0..n as i64).map(|i| pb::MergeInput { input: i }).collect(),
        })),
        ..Default::default()
    };
    let bytes = merge.encode_to_vec();
    let top = luakit::Digest::of(&bytes).to_string();
    def.def.push(bytes);
    def.def.push(pb::Op { inputs: vec![pb::Input { digest: top, index: 0 }], ..Default::default() }.encode_to_vec());
    def.encode_to_vec()
}

#[test]
fn dag_of_a_definition_honours_the_memory_limit() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wide.pb");
    let bytes = wide_definition(100_000);
    assert!(bytes.len() < 12 << 20, "{} bytes", bytes.len());
    std::fs::write(&file, &bytes)?;
    luakit()
        .args(["dag", "--memory-limit", "24MiB"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: exceeded the memory limit of 24 MiB while "));
    // The same file within the default limit renders.
    luakit().args(["dag", "--format", "dot"]).arg(&file).assert().success();
    Ok(())
}

#[test]
fn dag_of_a_definition_honours_the_timeout() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wide.pb");
    std::fs::write(&file, wide_definition(200_000))?;
    let start = Instant::now();
    luakit()
        .args(["dag", "--timeout", "200ms"])
        .arg(&file)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::starts_with("error: timed out after 200ms while "));
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    Ok(())
}

/// The build is blocked writing into a FIFO nobody reads: the deadline ends
/// it, and the temporary file of the image config goes with it.
#[test]
fn the_timeout_covers_writing_the_output() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::copy(workspace().join("fixtures/cli/image_config/build.lua"), d.join("build.lua"))?;
    mkfifo(&d.join("def.pb"))?;
    let start = Instant::now();
    luakit()
        .args(["build", "--timeout", "1s"])
        .arg(d.join("build.lua"))
        .arg("-o")
        .arg(d.join("def.pb"))
        .arg("--image-config")
        .arg(d.join("config.json"))
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr("error: timed out after 1s while writing the output\n");
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    assert_eq!(dir_entries(d)?, ["build.lua", "def.pb"]);
    Ok(())
}

/// Evaluation limits still report as they did (the script's own message).
#[test]
fn evaluation_limits_keep_their_messages() {
    luakit()
        .args(["build", "--timeout", "300ms", "fixtures/cli/slow/build.lua"])
        .assert()
        .code(1)
        .stderr("error: evaluation timed out after 300ms\n");
}

/// A long chain: whatever step goes over the limit, the command fails
/// cleanly and writes nothing.
#[test]
fn a_long_chain_over_the_memory_limit_writes_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let script = d.join("build.lua");
    std::fs::write(
        &script,
        "local s = bk.image('alpine')\nfor i = 1, 200000 do s = s:run('echo ' .. i) end\nbk.export(s)\n",
    )?;
    luakit()
        .args(["build", "--memory-limit", "32MiB"])
        .arg(&script)
        .arg("-o")
        .arg(d.join("def.pb"))
        .timeout(Duration::from_secs(120))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("memory limit of 32 MiB"));
    assert_eq!(dir_entries(d)?, ["build.lua"]);
    Ok(())
}

/// One op with 50,000 inputs: each edge's role is found once, not by a scan
/// of every input per edge (which took minutes).
#[test]
fn text_of_a_wide_merge_is_not_quadratic() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("wide.pb");
    std::fs::write(&file, wide_definition(50_000))?;
    let out = luakit().args(["dag", "--timeout", "10m"]).arg(&file).timeout(Duration::from_secs(120)).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[layer 49999] "), "the last layer is shown");
    Ok(())
}

/// The heap allocator's options are set by number (guard.rs): the names
/// mimalloc gives those numbers are the options meant, with the values set.
#[test]
fn the_allocator_commits_on_use_and_returns_freed_pages_at_once() -> R {
    let out = luakit().arg("version").env("MIMALLOC_VERBOSE", "1").output()?;
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for option in ["option 'arena_eager_commit': 0", "option 'purge_delay': 0"] {
        assert!(err.lines().any(|l| l.trim_end() == option), "no {option:?} in:\n{err}");
    }
    Ok(())
}
