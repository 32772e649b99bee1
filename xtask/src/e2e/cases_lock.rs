//! The `luakit.lock` cases on buildkitd (registered in
//! [`super::cases_buildkitd::cases`]): `luakit lock` against the local
//! registry, then `luakit build --locked | buildctl build` inherits the
//! base's env, workdir and user; the multi-platform index locks per
//! platform; a re-tagged base is reported as drift, moved by `--update`,
//! and builds before the update keep their bytes.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::cases_buildkitd::{Ctx, expect_file};

/// Runs `luakit ARGS` in `dir`; returns (success, stdout, stderr).
fn luakit(c: &Ctx, dir: &Path, args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new(&c.luakit)
        .current_dir(dir)
        .args(args)
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .output()
        .with_context(|| format!("cannot run {}", c.luakit.display()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn ok(r: (bool, String, String), what: &str) -> Result<String> {
    ensure!(r.0, "{what} failed:\n{}\n{}", r.1, r.2);
    Ok(r.1)
}

/// Lock, build offline through the pipe, drift, update.
pub fn case_lock(c: &Ctx) -> Result<()> {
    let case = "lock";
    let dir = c.dir(case)?;
    let reg = c.registry.client();
    // The base under a tag of this case's own, so re-tagging it moves nothing else.
    let repo = "luakit-e2e/config-base";
    let base = reg.get_manifest(repo, "1")?;
    reg.put_manifest(repo, "lock-e2e", &base.media_type, &base.bytes)?;
    let reference = format!("{}/{repo}:lock-e2e", c.registry.addr());
    let script = dir.join("build.lua");
    std::fs::write(
        &script,
        format!(
            "local base = bk.image(\"{reference}\")\n\
             bk.export(base:run(\"echo $BASE_GREETING > /tmp/greeting.txt; id -un > /tmp/who.txt; pwd > /tmp/pwd.txt\"))\n"
        ),
    )?;
    let out = ok(luakit(c, &dir, &["lock", "build.lua", "--platform", "linux/amd64"])?, "luakit lock")?;
    ensure!(out.contains(&reference), "luakit lock printed {out:?}");

    // Offline from here: the build reads only the lock.
    let def = dir.join("def.pb");
    let cfg = dir.join("config.json");
    let args = [
        "build",
        "build.lua",
        "--locked",
        "--platform",
        "linux/amd64",
        "-o",
        "def.pb",
        "--image-config",
        "config.json",
    ];
    ok(luakit(c, &dir, &args)?, "luakit build --locked")?;
    let before = std::fs::read(&def)?;
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg)?)?;
    let s = &config["config"];
    ensure!(s["User"] == "app" && s["WorkingDir"] == "/home/app", "inherited config: {s}");
    ensure!(s["Env"].to_string().contains("BASE_GREETING=hello-from-base"), "inherited Env: {}", s["Env"]);

    let out_dir = dir.join("out");
    c.pipe_build(
        &script,
        &["--locked", "--platform", "linux/amd64"],
        &[&format!("--output=type=local,dest={}", out_dir.display())],
        case,
        None,
    )?
    .ok()?;
    expect_file(&out_dir, "/tmp/greeting.txt", "hello-from-base")?;
    expect_file(&out_dir, "/tmp/who.txt", "app")?;
    expect_file(&out_dir, "/tmp/pwd.txt", "/home/app")?;

    // No drift yet.
    ok(luakit(c, &dir, &["lock", "--verify", "--remote", "build.lua", "--platform", "linux/amd64"])?, "verify")?;

    // Re-tag: the same image, its manifest re-serialized (a new digest).
    let pretty = serde_json::to_vec_pretty(&base.json()?)?;
    let moved = reg.put_manifest(repo, "lock-e2e", &base.media_type, &pretty)?;
    let (pass, stdout, stderr) =
        luakit(c, &dir, &["lock", "--verify", "--remote", "build.lua", "--platform", "linux/amd64"])?;
    ensure!(!pass, "--verify --remote must report the drift");
    ensure!(stdout.contains(&format!("→ {moved}")), "drift report: {stdout:?} {stderr:?}");
    ok(luakit(c, &dir, &args)?, "luakit build after the re-tag")?;
    ensure!(std::fs::read(&def)? == before, "before --update, the build keeps its bytes");

    let out = ok(luakit(c, &dir, &["lock", "build.lua", "--platform", "linux/amd64", "--update"])?, "--update")?;
    ensure!(out.contains(&format!("{reference} ")) && out.contains(&format!("→ {moved}")), "--update printed {out:?}");
    ok(luakit(c, &dir, &args)?, "luakit build after --update")?;
    let after = std::fs::read(&def)?;
    ensure!(after != before, "--update moves the pin");
    ensure!(after.windows(moved.len()).any(|w| w == moved.as_bytes()), "the Definition pins {moved}");
    Ok(())
}

/// The multi-platform index: each platform locked from the one index.
pub fn case_lock_multi(c: &Ctx) -> Result<()> {
    let case = "lock-multi";
    let dir = c.dir(case)?;
    let reference = format!("{}/luakit-e2e/multi:1", c.registry.addr());
    let script = std::fs::read_to_string(c.fixtures.join("multi-platform").join("build.lua"))?
        .replace("\"luakit-e2e/multi:1\"", &format!("\"{reference}\""));
    std::fs::write(dir.join("build.lua"), script)?;
    ok(luakit(c, &dir, &["lock", "build.lua", "--platform", "linux/amd64"])?, "luakit lock")?;
    let lock = std::fs::read_to_string(dir.join("luakit.lock"))?;
    let index = c.registry.client().get_manifest("luakit-e2e/multi", "1")?;
    ensure!(lock.contains(&format!("digest = \"{}\"", index.digest)), "the index digest is locked:\n{lock}");
    ensure!(lock.contains("platform = \"linux/amd64\"") && lock.contains("platform = \"linux/arm64\""), "{lock}");
    ensure!(
        lock.contains("\\\"architecture\\\":\\\"arm64\\\"") || lock.contains("\"architecture\":\"arm64\""),
        "{lock}"
    );
    let out = dir.join("out");
    c.pipe_build(
        &dir.join("build.lua"),
        &["--locked"],
        &[&format!("--output=type=local,dest={}", out.display())],
        case,
        None,
    )?
    .ok()?;
    expect_file(&out, "/arm64.txt", "arm64")?;
    expect_file(&out, "/amd64.txt", "amd64")
}
