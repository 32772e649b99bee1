//! The client-session case, on both engines: `luakit build` makes the
//! Definition of `fixtures/e2e/session/build.lua` and the
//! `session_solve` example of luakit-client solves it over the engine's
//! Control API with a session attached (locals, `.dockerignore`,
//! include/exclude patterns, a secret). The build's run step checks what
//! arrived; this side checks the bytes the session sent: every file the
//! patterns let through on the first solve, only the changed file on the
//! second, and a clear failure without the secret.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::util;

/// How long one session solve may take.
const SOLVE_TIMEOUT: Duration = Duration::from_secs(180);

/// Where the engine listens.
pub enum Engine<'a> {
    /// buildkitd's unix socket.
    Buildkitd(&'a Path),
    /// dockerd's API socket.
    Dockerd(&'a Path),
}

/// What one solve reported.
struct Sent {
    bytes: u64,
    files: u64,
}

/// The `session_solve` example beside the `luakit` binary.
fn driver(luakit: &Path) -> Result<PathBuf> {
    let p = luakit.parent().context("luakit has no directory")?.join("examples/session_solve");
    ensure!(p.exists(), "{} was not built (cargo test --workspace --no-run builds it)", p.display());
    Ok(p)
}

fn write_context(dir: &Path) -> Result<u64> {
    fs::create_dir_all(dir.join("sub"))?;
    fs::create_dir_all(dir.join("pad"))?;
    let mut total = 0u64;
    let mut put = |rel: &str, data: &[u8], counted: bool| -> Result<()> {
        fs::write(dir.join(rel), data)?;
        if counted {
            total += data.len() as u64;
        }
        Ok(())
    };
    put(".dockerignore", b"# the client applies this\n*.log\n", true)?;
    put("keep.txt", b"kept", true)?;
    put("ignored.log", b"never sent", false)?;
    put("other.txt", b"other", true)?;
    put("sub/data.txt", b"data", true)?;
    put("sub/skip.txt", b"skip", true)?;
    put("stamp.txt", b"run-1", true)?;
    for i in 0..64 {
        let data: Vec<u8> = (0..16 * 1024).map(|j| ((i * 7 + j) % 251) as u8).collect();
        put(&format!("pad/{i:02}.bin"), &data, true)?;
    }
    Ok(total)
}

fn solve(
    driver: &Path,
    engine: &Engine,
    def: &Path,
    ctx: &Path,
    secret: Option<&Path>,
    key: &str,
    log: &Path,
) -> Result<std::result::Result<Sent, String>> {
    let mut cmd = Command::new(driver);
    match engine {
        Engine::Buildkitd(s) => cmd.arg("--buildkit").arg(s),
        Engine::Dockerd(s) => cmd.arg("--docker").arg(s),
    };
    cmd.arg("--def").arg(def);
    cmd.arg("--local").arg(format!("context={}", ctx.display()));
    cmd.arg("--local").arg(format!("filtered={}", ctx.display()));
    cmd.args(["--dockerignore", "context", "--shared-key", key]);
    if let Some(s) = secret {
        cmd.arg("--secret").arg(format!("id=tok,src={}", s.display()));
    }
    let (status, output) = util::run_logged(cmd, log, SOLVE_TIMEOUT)?;
    if status.is_none_or(|s| !s.success()) {
        return Ok(Err(output));
    }
    let line = output.lines().rev().find(|l| l.starts_with('{')).with_context(|| format!("no JSON in:\n{output}"))?;
    let v: Value = serde_json::from_str(line)?;
    let num = |k: &str| v[k].as_u64().with_context(|| format!("{k} missing in {line}"));
    Ok(Ok(Sent { bytes: num("bytes")?, files: num("files")? }))
}

/// Runs the case; `work` is a fresh directory of the case.
pub fn run(engine: Engine, luakit: &Path, fixtures: &Path, work: &Path) -> Result<()> {
    let driver = driver(luakit)?;
    let ctx = work.join("context");
    let first_total = write_context(&ctx)?;
    // The `filtered` local sends keep.txt and sub/data.txt again.
    let expected_first = first_total + 4 + 4;
    let secret = work.join("tok.txt");
    fs::write(&secret, "s3cret")?;
    let def = work.join("def.pb");
    let script = fixtures.join("session/build.lua");
    let out = Command::new(luakit).arg("build").arg(&script).output().context("cannot run luakit build")?;
    util::check_output("luakit build", &out)?;
    fs::write(&def, &out.stdout)?;
    // A fresh shared key: the daemon has nothing of this context yet.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let key = format!("luakit-e2e-session-{nanos:x}");

    let first = solve(&driver, &engine, &def, &ctx, Some(&secret), &key, &work.join("first.log"))?
        .map_err(|o| anyhow::anyhow!("the first session solve failed:\n{}", util::tail(&o, 40)))?;
    ensure!(
        first.bytes == expected_first,
        "the first solve sent {} bytes, expected {expected_first} (all files but ignored.log, plus the filtered local's two)",
        first.bytes
    );

    // Change one file (new content and modification time): only it is sent.
    fs::write(ctx.join("stamp.txt"), b"run-2")?;
    let f = fs::File::options().write(true).open(ctx.join("stamp.txt"))?;
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))?;
    drop(f);
    let second = solve(&driver, &engine, &def, &ctx, Some(&secret), &key, &work.join("second.log"))?
        .map_err(|o| anyhow::anyhow!("the second session solve failed:\n{}", util::tail(&o, 40)))?;
    ensure!(
        second.bytes == 5 && second.files == 1,
        "the second solve sent {} bytes in {} files, expected only stamp.txt (5 bytes)",
        second.bytes,
        second.files
    );

    // Without the secret the run step (run again: the context changed) cannot
    // mount it: the solve fails and says so.
    fs::write(ctx.join("stamp.txt"), b"run-3")?;
    let f = fs::File::options().write(true).open(ctx.join("stamp.txt"))?;
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(10))?;
    drop(f);
    match solve(&driver, &engine, &def, &ctx, None, &key, &work.join("no-secret.log"))? {
        Ok(_) => bail!("a solve without the secret succeeded"),
        Err(output) => {
            ensure!(output.contains("tok"), "the failure does not name the secret:\n{}", util::tail(&output, 20))
        }
    }
    eprintln!(
        "session: first solve sent {} bytes in {} files; second {} bytes in {} file",
        first.bytes, first.files, second.bytes, second.files
    );
    Ok(())
}

/// Files and size of the measured context.
const MEASURE_FILES: usize = 10_000;
const MEASURE_FILE_SIZE: usize = 20 * 1024;

/// Measures a large transfer (buildkitd): 10,000 files of 20 KiB (200 MiB)
/// in 100 directories, solved as a bare local; then one file changed and
/// solved again. Checks that the second transfer sends that file only and
/// prints both figures. The context is deleted afterwards.
pub fn measure(engine: Engine, luakit: &Path, work: &Path) -> Result<()> {
    let driver = driver(luakit)?;
    let ctx = work.join("big");
    for i in 0..MEASURE_FILES {
        let dir = ctx.join(format!("d{:02}", i / 100));
        if i % 100 == 0 {
            fs::create_dir_all(&dir)?;
        }
        let data: Vec<u8> = (0..MEASURE_FILE_SIZE).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
        fs::write(dir.join(format!("f{i:05}.bin")), data)?;
    }
    let script = work.join("measure.lua");
    fs::write(&script, "bk.export(bk.local_(\"big\"))\n")?;
    let out = Command::new(luakit).arg("build").arg(&script).output().context("cannot run luakit build")?;
    util::check_output("luakit build", &out)?;
    let def = work.join("measure.pb");
    fs::write(&def, &out.stdout)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let key = format!("luakit-e2e-measure-{nanos:x}");
    let run = |log: &str| -> Result<(u64, u64, f64)> {
        let mut cmd = Command::new(&driver);
        match engine {
            Engine::Buildkitd(s) => cmd.arg("--buildkit").arg(s),
            Engine::Dockerd(s) => cmd.arg("--docker").arg(s),
        };
        cmd.arg("--def").arg(&def).arg("--local").arg(format!("big={}", ctx.display()));
        cmd.args(["--shared-key", &key]);
        let (status, output) = util::run_logged(cmd, &work.join(log), SOLVE_TIMEOUT)?;
        ensure!(status.is_some_and(|s| s.success()), "the measured solve failed:\n{}", util::tail(&output, 30));
        let line = output.lines().rev().find(|l| l.starts_with('{')).context("no JSON")?;
        let v: Value = serde_json::from_str(line)?;
        Ok((v["bytes"].as_u64().unwrap_or(0), v["files"].as_u64().unwrap_or(0), v["secs"].as_f64().unwrap_or(0.0)))
    };
    let total = (MEASURE_FILES * MEASURE_FILE_SIZE) as u64;
    let (b1, f1, s1) = run("measure-first.log")?;
    ensure!(
        b1 == total && f1 == MEASURE_FILES as u64,
        "the first transfer sent {b1} bytes in {f1} files, expected {total}"
    );
    let changed = ctx.join("d42/f04242.bin");
    fs::write(&changed, vec![7u8; MEASURE_FILE_SIZE])?;
    fs::File::options()
        .write(true)
        .open(&changed)?
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))?;
    let (b2, f2, s2) = run("measure-second.log")?;
    ensure!(
        b2 == MEASURE_FILE_SIZE as u64 && f2 == 1,
        "the second transfer sent {b2} bytes in {f2} files, expected one file of {MEASURE_FILE_SIZE} bytes"
    );
    eprintln!(
        "session-measure: {MEASURE_FILES} files, {total} bytes: first solve {s1:.2}s ({:.1} MB/s); \
         second (one file changed) {b2} bytes ({:.4}% of the context) in {s2:.2}s",
        total as f64 / s1 / 1e6,
        b2 as f64 * 100.0 / total as f64
    );
    util::remove_tree(&ctx)?;
    Ok(())
}

/// Pushes an image to the registry that requires credentials (buildkitd's
/// image exporter, `push=true`): without a Docker config the push is
/// refused (401); with one the daemon gets the credentials from the
/// session's Auth service and the manifest arrives.
pub fn push_with_credentials(
    socket: &Path,
    luakit: &Path,
    work: &Path,
    registry: &super::registry::Registry,
) -> Result<()> {
    let driver = driver(luakit)?;
    let script = work.join("push.lua");
    fs::write(&script, "bk.export(bk.scratch():mkfile(\"/pushed.txt\", \"via-session\\n\"))\n")?;
    let out = Command::new(luakit).arg("build").arg(&script).output().context("cannot run luakit build")?;
    util::check_output("luakit build", &out)?;
    let def = work.join("push.pb");
    fs::write(&def, &out.stdout)?;
    let config = work.join("docker-config");
    registry.write_docker_config(&config)?;
    let empty = work.join("empty-config");
    fs::create_dir_all(&empty)?;
    let export = format!("image,name={}/luakit-e2e/session-push:1,push=true", registry.addr());
    let push = |config: &Path, log: &str| -> Result<(bool, String)> {
        let mut cmd = Command::new(&driver);
        cmd.arg("--buildkit").arg(socket).arg("--def").arg(&def).arg("--docker-config").arg(config);
        cmd.args(["--export", &export]);
        let (status, output) = util::run_logged(cmd, &work.join(log), SOLVE_TIMEOUT)?;
        Ok((status.is_some_and(|s| s.success()), output))
    };
    let (ok, output) = push(&empty, "push-anon.log")?;
    ensure!(
        !ok && output.contains("401"),
        "a push without credentials did not fail with 401:\n{}",
        util::tail(&output, 20)
    );
    let (ok, output) = push(&config, "push.log")?;
    ensure!(ok, "the push with the session's credentials failed:\n{}", util::tail(&output, 20));
    registry
        .client()
        .get_manifest("luakit-e2e/session-push", "1")
        .context("the pushed image is not in the registry")?;
    Ok(())
}
