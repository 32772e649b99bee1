//! `luakit solve`'s outputs written to this machine through the session's
//! FileSend, each checked by reading the result: a tarball of the files
//! (to a file and to standard output), an OCI layout (index → manifest →
//! config with the script's Env and Cmd), a `docker load` tarball
//! (`manifest.json` → config), a local directory (contents, modes, a
//! symlink; other files kept), `--load` on buildkitd into the e2e Docker
//! daemon (then `docker image inspect`), and a failed build leaving no file.
//! On the Docker daemon: `local` and `tar`, and a clear error for `oci` and
//! `docker`, which its BuildKit lacks.
//!
//! The cases are listed in [`super::cases_dockerd::cases`] and
//! [`super::cases_buildkitd::cases`].

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use super::cases_buildkitd::Ctx;
use super::cases_dockerd::Env;
use super::cases_solve::{Solved, docker_addr, solve_env};
use super::oci::OciImage;
use super::util;

/// A small image: a directory with its own mode, an executable, a text
/// file and a symlink (made by a run step: BuildKit v0.11 has no symlink
/// file op) copied onto scratch; Env and Cmd in its config.
const SCRIPT: &str = r##"local made = bk.image("busybox:latest"):run(
  "mkdir -p /app/bin && printf '#!/bin/sh\\necho hi\\n' > /app/bin/run.sh && chmod 0755 /app/bin/run.sh " ..
  "&& chmod 0750 /app/bin && echo 'outputs e2e' > /app/readme.txt && chmod 0640 /app/readme.txt " ..
  "&& ln -s readme.txt /app/link")
local st = bk.scratch():copy(made, "/app", "/app")
bk.export(st, { env = { OUT_CASE = "outputs" }, cmd = { "/app/bin/run.sh" } })
"##;

/// A script whose only step fails.
const FAILING: &str = r#"bk.export(bk.image("alpine:3.19"):run("echo failing-output; exit 3"))
"#;

/// `<dir>/build.lua` (the outputs script) and `<dir>/failing.lua`.
fn scripts(dir: &Path) -> Result<()> {
    fs::write(dir.join("build.lua"), SCRIPT)?;
    fs::write(dir.join("failing.lua"), FAILING)?;
    Ok(())
}

fn run(luakit: &Path, dir: &Path, addr: &str, args: &[&str], log: &str, env: &[(&str, &str)]) -> Result<Solved> {
    let mut all = vec!["--addr", addr, "--progress", "plain"];
    all.extend_from_slice(args);
    solve_env(luakit, dir, &all, &dir.join(log), env)
}

/// `tar -tvf`'s lines for `tar`.
fn tar_listing(tar: &Path) -> Result<String> {
    let o = Command::new("tar").arg("-tvf").arg(tar).output().context("cannot run tar")?;
    util::check_output("tar -tvf", &o)?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The listing line of `path` (`tar -tv` prints `./`-less names here).
fn tar_line<'a>(listing: &'a str, path: &str) -> Result<&'a str> {
    listing
        .lines()
        .find(|l| l.split_whitespace().nth(5).is_some_and(|n| n.trim_start_matches("./").trim_end_matches('/') == path))
        .with_context(|| format!("{path} is not in the tarball:\n{listing}"))
}

fn tar_file(tar: &Path, path: &str) -> Result<String> {
    let o = Command::new("tar").arg("-xOf").arg(tar).arg(path).output().context("cannot run tar")?;
    util::check_output(&format!("tar -xOf {path}"), &o)?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The files of the script's tarball: names, modes, content, the symlink.
fn check_files_tar(tar: &Path) -> Result<()> {
    let l = tar_listing(tar)?;
    ensure!(tar_line(&l, "app/bin/run.sh")?.starts_with("-rwxr-xr-x"), "run.sh's mode:\n{l}");
    ensure!(tar_line(&l, "app/readme.txt")?.starts_with("-rw-r-----"), "readme.txt's mode:\n{l}");
    ensure!(tar_line(&l, "app/bin")?.starts_with("drwxr-x---"), "bin's mode:\n{l}");
    ensure!(tar_line(&l, "app/link")?.contains("-> readme.txt"), "the symlink:\n{l}");
    let text = tar_file(tar, "app/readme.txt")?;
    ensure!(text == "outputs e2e\n", "app/readme.txt: {text:?}");
    Ok(())
}

/// The script's files in a directory.
fn check_files_dir(dir: &Path) -> Result<()> {
    let mode = |p: &str| -> Result<u32> {
        Ok(fs::symlink_metadata(dir.join(p)).with_context(|| format!("{p} was not written"))?.permissions().mode()
            & 0o7777)
    };
    ensure!(mode("app/bin/run.sh")? == 0o755, "run.sh: {:o}", mode("app/bin/run.sh")?);
    ensure!(mode("app/readme.txt")? == 0o640, "readme.txt: {:o}", mode("app/readme.txt")?);
    ensure!(mode("app/bin")? == 0o750, "bin: {:o}", mode("app/bin")?);
    let text = fs::read_to_string(dir.join("app/readme.txt"))?;
    ensure!(text == "outputs e2e\n", "app/readme.txt: {text:?}");
    let link = fs::read_link(dir.join("app/link")).context("app/link is not a symlink")?;
    ensure!(link == Path::new("readme.txt"), "app/link -> {}", link.display());
    Ok(())
}

/// The image config's Env holds OUT_CASE and its Cmd the script's.
fn check_config(settings: &Value, what: &str) -> Result<()> {
    let env = settings["Env"].as_array().cloned().unwrap_or_default();
    ensure!(env.contains(&json!("OUT_CASE=outputs")), "{what}: Env {env:?}");
    ensure!(settings["Cmd"] == json!(["/app/bin/run.sh"]), "{what}: Cmd {}", settings["Cmd"]);
    Ok(())
}

/// No temporary files of an output left in `dir`.
fn no_temporaries(dir: &Path) -> Result<()> {
    let left: Vec<String> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    ensure!(left.is_empty(), "temporary files left in {}: {left:?}", dir.display());
    Ok(())
}

// ---------------------------------------------------------------------------
// buildkitd
// ---------------------------------------------------------------------------

/// `type=tar` to a file and to standard output (`dest=-`, which then holds
/// the tarball alone); a failed build leaves no file behind.
pub fn buildkitd_tar(c: &Ctx) -> Result<()> {
    let dir = c.dir("solve-tar")?;
    scripts(&dir)?;
    let addr = c.bk.addr();
    // The destination's directory must exist, as for any file output.
    run(&c.luakit, &dir, &addr, &["--output", "type=tar,dest=out/files.tar", "build.lua"], "nodir", &[])?
        .fails_with(&["cannot create a file in out"])?;
    fs::create_dir_all(dir.join("out"))?;
    run(&c.luakit, &dir, &addr, &["--output", "type=tar,dest=out/files.tar", "build.lua"], "file", &[])?.ok()?;
    check_files_tar(&dir.join("out/files.tar"))?;
    no_temporaries(&dir.join("out"))?;

    run(&c.luakit, &dir, &addr, &["--output", "type=tar,dest=-", "build.lua"], "stdout", &[])?.ok()?;
    let piped = dir.join("stdout.stdout");
    check_files_tar(&piped).context("the tarball on standard output")?;

    run(&c.luakit, &dir, &addr, &["--output", "type=tar,dest=out/failed.tar", "failing.lua"], "failing", &[])?
        .fails_with(&["exit code: 3"])?;
    ensure!(!dir.join("out/failed.tar").exists(), "a failed build left out/failed.tar");
    no_temporaries(&dir.join("out"))?;
    Ok(())
}

/// `type=oci` with a name: the layout's index names the image, its
/// manifest is the printed digest, its config has the script's Env and Cmd.
pub fn buildkitd_oci(c: &Ctx) -> Result<()> {
    let dir = c.dir("solve-oci")?;
    scripts(&dir)?;
    let s = run(
        &c.luakit,
        &dir,
        &c.bk.addr(),
        &["--output", "type=oci,dest=image.tar,name=luakit-e2e/outputs:1", "build.lua"],
        "oci",
        &[],
    )?
    .ok()?;
    let img = OciImage::open(&dir.join("image.tar"), &dir.join("layout"))?;
    check_config(img.settings(), "the OCI config")?;
    let desc = &img.index["manifests"][0];
    ensure!(desc["digest"].as_str() == Some(s.digest()?), "index.json: {} is not the printed digest", desc["digest"]);
    ensure!(desc["annotations"].to_string().contains("luakit-e2e/outputs:1"), "no name in index.json: {desc}");
    let rootfs = dir.join("rootfs");
    img.unpack_rootfs(&rootfs)?;
    check_files_dir(&rootfs)?;
    Ok(())
}

/// `type=docker` to standard output with `-t`: `manifest.json` names the
/// tag and its config has the script's Env and Cmd.
pub fn buildkitd_docker(c: &Ctx) -> Result<()> {
    let dir = c.dir("solve-docker")?;
    scripts(&dir)?;
    run(
        &c.luakit,
        &dir,
        &c.bk.addr(),
        &["--output", "type=docker,dest=-", "-t", "luakit-e2e/outputs:2", "build.lua"],
        "docker",
        &[],
    )?
    .ok()?;
    let unpacked = dir.join("unpacked");
    fs::create_dir_all(&unpacked)?;
    let o = Command::new("tar").arg("-C").arg(&unpacked).arg("-xf").arg(dir.join("docker.stdout")).output()?;
    util::check_output("tar -xf (docker tarball)", &o)?;
    let manifest: Value = serde_json::from_slice(&fs::read(unpacked.join("manifest.json"))?)?;
    let first = &manifest[0];
    ensure!(first["RepoTags"].to_string().contains("luakit-e2e/outputs:2"), "RepoTags: {}", first["RepoTags"]);
    let config_path = first["Config"].as_str().context("manifest.json has no Config")?;
    let config: Value = serde_json::from_slice(&fs::read(unpacked.join(config_path))?)?;
    check_config(&config["config"], "the docker tarball's config")?;
    ensure!(first["Layers"].as_array().is_some_and(|l| !l.is_empty()), "no layers: {first}");
    Ok(())
}

/// `type=local`: the files with their modes and the symlink, written into
/// an existing directory whose other files stay.
pub fn buildkitd_local(c: &Ctx) -> Result<()> {
    let dir = c.dir("solve-local")?;
    scripts(&dir)?;
    let out = dir.join("out");
    fs::create_dir_all(&out)?;
    fs::write(out.join("mine.txt"), "kept\n")?;
    run(&c.luakit, &dir, &c.bk.addr(), &["--output", "type=local,dest=out", "build.lua"], "local", &[])?.ok()?;
    check_files_dir(&out)?;
    ensure!(fs::read_to_string(out.join("mine.txt"))? == "kept\n", "a file already there was not kept");
    Ok(())
}

/// `--load` on buildkitd: the docker tarball posted to the e2e Docker
/// daemon (`DOCKER_HOST`), which then has the image with its config.
pub fn buildkitd_load(c: &Ctx) -> Result<()> {
    let d = c.dockerd.context("solve-load needs the e2e Docker daemon too")?;
    let dir = c.dir("solve-load")?;
    scripts(&dir)?;
    let image = "luakit-e2e-load:1";
    let _ = d.docker_output(&["image", "rm", "-f", image]);
    let host = d.host();
    let s = run(
        &c.luakit,
        &dir,
        &c.bk.addr(),
        &["--load", "-t", image, "build.lua"],
        "load",
        &[("DOCKER_HOST", host.as_str())],
    )?
    .ok()?;
    ensure!(s.stderr.contains("Loaded image"), "docker's answer is not shown\n{}", s.describe());
    let out = d.docker_output(&["image", "inspect", image])?;
    let v: Value = serde_json::from_str(&out).context("docker image inspect")?;
    check_config(&v[0]["Config"], "the loaded image")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// dockerd
// ---------------------------------------------------------------------------

/// The Docker daemon's BuildKit: `type=local` and `type=tar` work through
/// the session; `oci` and `docker` are refused with a clear error.
pub fn dockerd_outputs(env: &Env) -> Result<()> {
    let dir: PathBuf = env.work.join("solve-outputs");
    util::remove_tree(&dir)?;
    fs::create_dir_all(&dir)?;
    scripts(&dir)?;
    let addr = docker_addr(env);
    run(&env.luakit, &dir, &addr, &["--output", "type=local,dest=out", "build.lua"], "local", &[])?.ok()?;
    check_files_dir(&dir.join("out"))?;
    run(&env.luakit, &dir, &addr, &["--output", "type=tar,dest=files.tar", "build.lua"], "tar", &[])?.ok()?;
    check_files_tar(&dir.join("files.tar"))?;
    for kind in ["oci", "docker"] {
        let spec = format!("type={kind},dest=x.tar");
        run(&env.luakit, &dir, &addr, &["--output", &spec, "build.lua"], kind, &[])?
            .fails_with(&[&format!("has no {kind} exporter"), "buildkitd"])?;
        ensure!(!dir.join("x.tar").exists(), "a refused output left x.tar");
    }
    Ok(())
}
