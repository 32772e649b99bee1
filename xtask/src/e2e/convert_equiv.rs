//! `luakit convert` checked end to end on dockerd 20.10: a Dockerfile built
//! with `docker build`, and the `build.lua` that `luakit convert --syntax
//! luakit/frontend:dev` makes of it built through the luakit frontend, in the
//! same context directory, must give the same image: the same config
//! (`docker image inspect`: Env, Cmd, Entrypoint, WorkingDir, User,
//! ExposedPorts, Labels, Healthcheck, Volumes, StopSignal) and the same
//! files (`docker export` of a container of each: every path's type, mode,
//! owner, size, content digest and link target; modification times are not
//! compared). Image ids, creation times and history are inherent differences
//! and are not looked at.
//!
//! The fixtures are the ones `fixtures/convert/e2e.txt` lists, except those
//! of [`NOT_ON_DOCKERD`] (dockerd 20.10's built-in Dockerfile frontend
//! rejects the Dockerfile itself), and the Dockerfiles of the [`EXAMPLES`]
//! (as `example-<dir>`). Those of [`NOT_ON_DOCKERD`] are compared on
//! buildkitd v0.11.6 instead ([`check_buildkitd`]): its Dockerfile frontend
//! (`dockerfile.v0`) builds the Dockerfile, the luakit frontend image
//! (`gateway.v0`) the converted script, both exported as OCI images whose
//! configs and unpacked root filesystems are compared the same way; some
//! language builds are compared there as well. The language builds run on
//! stand-in base images whose toolchains are shell scripts
//! ([`super::toolchains`]); [`MUST_HAVE`] names files those must have made,
//! so that tools doing nothing cannot pass as equal.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::FRONTEND_TAG;
use super::cases_dockerd::Env;
use super::util::{run_logged, tail};

/// The fixtures of `fixtures/convert/e2e.txt` that are no dockerd case, and
/// why: dockerd 20.10's built-in Dockerfile frontend (BuildKit v0.8) fails on
/// the Dockerfile itself, before any comparison. They are compared on
/// buildkitd v0.11.6 instead ([`check_buildkitd`]).
pub const NOT_ON_DOCKERD: &[(&str, &str)] = &[
    ("heredocs", "Dockerfile heredocs need the Dockerfile frontend 1.4 (Docker 23+)"),
    ("mounts", "`--mount=type=tmpfs,…,size=` is not known to the v0.8 frontend (\"unexpected key 'size'\")"),
];

/// How long one build may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// The config fields compared (under `Config` of `docker image inspect`).
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Labels",
    "Healthcheck",
    "Volumes",
    "StopSignal",
];

/// Build secrets a fixture's `RUN --mount=type=secret` steps read: fixture
/// → (id, content). Both builds get the same ones.
const SECRETS: &[(&str, &[(&str, &str)])] = &[(
    "node-secret-files",
    &[("npmrc", "//registry.npmjs.org/:_authToken=e2e-npm-token\n"), ("sentry", "e2e-sentry-token")],
)];

/// The examples whose Dockerfile is compared like a fixture's (as
/// `example-<dir>`), and those that are not, with the reason.
pub const EXAMPLES: &[&str] = &["go", "node", "python"];
pub const EXAMPLES_NOT_COMPARED: &[(&str, &str)] = &[(
    "merge-diff",
    "`apk add curl jq` on alpine:3.19 (the suite has no apk stand-in, and the Dockerfile copies the installed \
     programs' files out of /usr/lib); COPY heredocs and --link also need the Dockerfile frontend 1.4",
)];

/// The directory of `fixture`: `examples/<dir>` for `example-<dir>`, else
/// `fixtures/convert/<fixture>`.
fn source_dir(fixture: &str) -> PathBuf {
    match fixture.strip_prefix("example-") {
        Some(dir) => crate::root().join("examples").join(dir),
        None => crate::root().join("fixtures/convert").join(fixture),
    }
}

/// Paths (without the leading `/`) the built image of a fixture must have
/// (`!path`: must not have), so that a build whose tools did nothing cannot
/// pass as equal: what the stand-in toolchains make.
const MUST_HAVE: &[(&str, &[&str])] = &[
    ("go-multistage", &["usr/local/bin/app"]),
    (
        "node-secret-files",
        &[
            "app/node_modules/express/package.json",
            "!app/node_modules/nodemon",
            "app/dist/server.js",
            "app/dist/sentry.txt",
        ],
    ),
    (
        "python-venv",
        &[
            "venv/bin/gunicorn",
            "venv/lib/python3.12/site-packages/flask/__init__.py",
            "venv/pyvenv.cfg",
            "home/app/src/app.py",
        ],
    ),
    ("rust-cargo", &["bin/server", "!usr/share/doc/libssl-dev", "!nonexistent"]),
    ("example-go", &["server", "home/nonroot"]),
    (
        "example-node",
        &["app/dist/index.js", "app/node_modules/fastify/package.json", "!app/node_modules/typescript", "home/node"],
    ),
    ("example-python", &["venv/lib/python3.12/site-packages/flask/__init__.py", "app/app/__main__.py", "home/app"]),
];

/// Fails unless `listing` (of the `who` image) has the [`MUST_HAVE`] paths.
fn has_expected_paths(fixture: &str, who: &str, listing: &BTreeMap<String, String>) -> Result<()> {
    for p in MUST_HAVE.iter().filter(|(f, _)| *f == fixture).flat_map(|(_, p)| p.iter()) {
        match p.strip_prefix('!') {
            Some(absent) => ensure!(!listing.contains_key(absent), "the {who} image has /{absent}"),
            None => ensure!(listing.contains_key(*p), "the {who} image has no /{p}"),
        }
    }
    Ok(())
}

/// The fixture's files (not its expected config) copied to a fresh `ctx`,
/// its Dockerfile without a leading `# syntax=` line: that line makes
/// BuildKit pull the named Dockerfile frontend image, which needs the
/// network; the engines' built-in frontends build the Dockerfile instead.
/// Returns the fixture's secrets as `id=<id>,src=<file>` specs (the files
/// are written next to `ctx`, outside the build context).
fn copy_fixture(fixture: &str, ctx: &Path) -> Result<Vec<String>> {
    let src = source_dir(fixture);
    if ctx.exists() {
        fs::remove_dir_all(ctx)?;
    }
    copy_dir(&src, ctx)?;
    let _ = fs::remove_file(ctx.join("expect.json"));
    let df = ctx.join("Dockerfile");
    let text = fs::read_to_string(&df)?;
    if let Some((first, rest)) = text.split_once('\n')
        && first.trim_start().starts_with("# syntax=")
    {
        fs::write(&df, rest)?;
    }
    let mut specs = Vec::new();
    for (id, content) in SECRETS.iter().filter(|(f, _)| *f == fixture).flat_map(|(_, s)| s.iter()) {
        let file = ctx.with_extension(format!("secret-{id}"));
        fs::write(&file, content)?;
        specs.push(format!("id={id},src={}", file.display()));
    }
    Ok(specs)
}

/// `luakit convert Dockerfile -o <script>` in `ctx`; returns the script's
/// path: `build.lua` in a directory of its own next to `ctx`, so that a
/// `COPY . .` of the converted build copies what the Dockerfile's did.
fn convert(luakit: &Path, ctx: &Path, syntax: Option<&str>) -> Result<PathBuf> {
    let dir = ctx.with_extension("script");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let script = dir.join("build.lua");
    let mut cmd = Command::new(luakit);
    cmd.current_dir(ctx).args(["convert", "Dockerfile", "-o"]).arg(&script).stdin(Stdio::null());
    if let Some(image) = syntax {
        cmd.args(["--syntax", image]);
    }
    let out = cmd.output().with_context(|| format!("cannot run {}", luakit.display()))?;
    if !out.status.success() {
        bail!("`luakit convert Dockerfile` failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    Ok(script)
}

/// The differences of two image configs, over [`CONFIG_FIELDS`].
fn diff_configs(a: &Value, b: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    for field in CONFIG_FIELDS {
        let (x, y) = (normalize(a.get(*field)), normalize(b.get(*field)));
        if x != y {
            diffs.push(format!("config {field}:\n    docker build: {x}\n    luakit:       {y}"));
        }
    }
    diffs
}

/// Fails listing `diffs` (and the script) unless there are none.
fn no_differences(mut diffs: Vec<String>, script: &Path, reference: &str) -> Result<()> {
    if diffs.is_empty() {
        return Ok(());
    }
    let script = fs::read_to_string(script).unwrap_or_default();
    let n = diffs.len();
    diffs.truncate(40);
    bail!(
        "{n} difference(s) between {reference} and the converted build.lua:\n  {}\n--- build.lua:\n{script}",
        diffs.join("\n  ")
    )
}

/// Builds `fixtures/convert/<fixture>/Dockerfile` on buildkitd with its
/// Dockerfile frontend and the converted `build.lua` with the luakit
/// frontend image, both exported as OCI images, and compares their configs
/// and root filesystems.
pub fn check_buildkitd(c: &super::cases_buildkitd::Ctx, fixture: &str) -> Result<()> {
    let work = c.dir(&format!("convert-{fixture}"))?;
    let ctx = work.join("ctx");
    let secrets = copy_fixture(fixture, &ctx)?;
    let script = convert(&c.luakit, &ctx, None)?;
    let script_dir = script.parent().context("the script has a directory")?;
    let mut images = Vec::new();
    for (who, frontend) in [("dockerfile", None), ("luakit", Some(&c.frontend))] {
        let tar = work.join(format!("{who}.tar"));
        let mut cmd = c.bk.buildctl();
        cmd.args(["build", "--progress=plain"]);
        match frontend {
            None => cmd.args(["--frontend", "dockerfile.v0"]),
            Some(image) => cmd
                .args(["--frontend", "gateway.v0"])
                .arg(format!("--opt=source={image}"))
                .arg("--opt=filename=build.lua"),
        };
        cmd.arg(format!("--local=context={}", ctx.display()))
            .arg(format!(
                "--local=dockerfile={}",
                if frontend.is_some() { script_dir } else { ctx.as_path() }.display()
            ))
            .arg(format!("--output=type=oci,dest={}", tar.display()));
        for spec in &secrets {
            cmd.arg(format!("--secret={spec}"));
        }
        c.run_buildctl(cmd, &format!("convert-{fixture}-{who}"))?.ok().with_context(|| format!("the {who} build"))?;
        let img = super::oci::OciImage::open(&tar, &work.join(format!("{who}-layout")))?;
        let rootfs = work.join(format!("{who}-rootfs"));
        img.unpack_rootfs(&rootfs)?;
        ensure!(rootfs.join("bin/sh").exists(), "the {who} image has no /bin/sh");
        let listing = tree_entries(&rootfs)?;
        has_expected_paths(fixture, who, &listing)?;
        images.push((img.settings().clone(), listing));
    }
    let (a, b) = (&images[0], &images[1]);
    let mut diffs = diff_configs(&a.0, &b.0);
    diffs.extend(diff_files(&a.1, &b.1));
    no_differences(diffs, &script, "the Dockerfile frontend")
}

/// Path → description of every entry under `root` (type, mode, owner,
/// size, content digest, link target), as [`tar_entries`] describes a
/// `docker export`.
fn tree_entries(root: &Path) -> Result<BTreeMap<String, String>> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = e?.path();
            let m = path.symlink_metadata()?;
            let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
            let owner = format!("{}:{}", m.uid(), m.gid());
            let mode = m.mode() & 0o7777;
            let desc = if m.file_type().is_symlink() {
                format!("symlink -> {}", fs::read_link(&path)?.display())
            } else if m.is_dir() {
                dirs.push(path.clone());
                format!("dir {mode:o} {owner}")
            } else {
                let digest = crate::e2e::util::sha256_file(&path)?;
                format!("file {mode:o} {owner} {} {digest}", m.len())
            };
            out.insert(rel, desc);
        }
    }
    Ok(out)
}

/// Builds `fixtures/convert/<fixture>/Dockerfile` both ways and compares.
pub fn check(env: &Env, fixture: &str) -> Result<()> {
    if let Some((_, why)) = NOT_ON_DOCKERD.iter().find(|(n, _)| *n == fixture) {
        bail!("{fixture} cannot be built by dockerd 20.10: {why}");
    }
    if let Some(dir) = fixture.strip_prefix("example-") {
        if let Some((_, why)) = EXAMPLES_NOT_COMPARED.iter().find(|(n, _)| *n == dir) {
            bail!("examples/{dir} cannot be built offline: {why}");
        }
        ensure!(EXAMPLES.contains(&dir), "examples/{dir} is not in convert_equiv::EXAMPLES");
    }
    let ctx = env.work.join(format!("convert-{fixture}"));
    // The Dockerfile is built first, in the fixture's files alone.
    let secrets = copy_fixture(fixture, &ctx)?;
    let docker_tag = format!("luakit-e2e-convert-{fixture}-docker");
    let luakit_tag = format!("luakit-e2e-convert-{fixture}-luakit");
    build(env, &ctx, &ctx.join("Dockerfile"), &docker_tag, &secrets, &format!("convert-{fixture}-docker"))?;
    let script = convert(&env.luakit, &ctx, Some(FRONTEND_TAG))?;
    build(env, &ctx, &script, &luakit_tag, &secrets, &format!("convert-{fixture}-luakit"))?;

    let mut diffs = diff_configs(&config(env, &docker_tag)?, &config(env, &luakit_tag)?);
    let (fa, fb) = (files(env, &docker_tag)?, files(env, &luakit_tag)?);
    for (who, listing) in [("docker build", &fa), ("luakit", &fb)] {
        ensure!(
            listing.contains_key("bin/sh"),
            "the export of the {who} image has no /bin/sh: {} entries",
            listing.len()
        );
        has_expected_paths(fixture, who, listing)?;
    }
    diffs.extend(diff_files(&fa, &fb));
    no_differences(diffs, &script, "`docker build`")
}

/// `docker build -f <file> -t <tag> [--secret <spec>]… .` in `ctx`; fails
/// with the build output.
fn build(env: &Env, ctx: &Path, file: &Path, tag: &str, secrets: &[String], log: &str) -> Result<()> {
    let mut cmd = env.d.docker();
    cmd.current_dir(ctx).args(["build", "--progress=plain", "-f"]).arg(file).args(["-t", tag]).stdin(Stdio::null());
    for spec in secrets {
        cmd.arg("--secret").arg(spec);
    }
    cmd.arg(".");
    let offset = env.d.log_len();
    let (status, output) = run_logged(cmd, &env.work.join(format!("{log}.log")), BUILD_TIMEOUT)?;
    if !status.is_some_and(|s| s.success()) {
        bail!(
            "docker build -f {} failed\n{}\n--- daemon log:\n{}",
            file.display(),
            tail(&output, 60),
            tail(&env.d.log_since(offset), 30)
        );
    }
    Ok(())
}

/// `Config` of `docker image inspect <tag>`.
fn config(env: &Env, tag: &str) -> Result<Value> {
    let out = env.d.docker_output(&["image", "inspect", tag])?;
    let v: Value = serde_json::from_str(&out).context("parsing docker image inspect")?;
    v.get(0).and_then(|i| i.get("Config")).cloned().context("docker image inspect gave no Config")
}

/// Absent, null, `""`, `[]` and `{}` mean the same in an image config.
fn normalize(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Object(o)) if o.is_empty() => Value::Null,
        Some(v) => v.clone(),
    }
}

/// Every path of the image's filesystem (a `docker export` of a container
/// made from it, not started) with its type, mode, owner, size, content
/// digest and link target.
fn files(env: &Env, tag: &str) -> Result<BTreeMap<String, String>> {
    let cid = env.d.docker_output(&["create", "--entrypoint", "/bin/sh", tag])?.trim().to_string();
    let out = env.d.docker().args(["export", &cid]).stdin(Stdio::null()).output();
    let _ = env.d.docker_output(&["rm", "-f", &cid]);
    let out = out.context("cannot run docker export")?;
    ensure!(out.status.success(), "docker export {tag} failed: {}", String::from_utf8_lossy(&out.stderr));
    tar_entries(&out.stdout).with_context(|| format!("reading the export of {tag}"))
}

/// The differences of two file listings, one line each.
fn diff_files(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (p, x) in a {
        match b.get(p) {
            None => out.push(format!("only in docker build: /{p} ({x})")),
            Some(y) if x != y => out.push(format!("/{p}:\n    docker build: {x}\n    luakit:       {y}")),
            _ => {}
        }
    }
    for (p, y) in b {
        if !a.contains_key(p) {
            out.push(format!("only in luakit: /{p} ({y})"));
        }
    }
    out
}

/// A tar header number: octal text, or base-256 when the high bit is set.
fn tar_num(field: &[u8]) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Ok(field[1..].iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)));
    }
    let s = std::str::from_utf8(field)?.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).with_context(|| format!("bad tar number {s:?}"))
}

fn tar_str(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Path → description of every entry of a tar stream (ustar, with PAX and
/// GNU long-name records, as Docker writes them).
fn tar_entries(data: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut pos = 0;
    let mut pax: BTreeMap<String, String> = BTreeMap::new();
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    while pos + 512 <= data.len() {
        let h = &data[pos..pos + 512];
        if h.iter().all(|b| *b == 0) {
            break;
        }
        let mut size = tar_num(&h[124..136])?;
        if let Some(s) = pax.get("size") {
            size = s.parse()?;
        }
        let body_start = pos + 512;
        let body_end = body_start + size as usize;
        ensure!(body_end <= data.len(), "truncated tar entry at byte {pos}");
        let body = &data[body_start..body_end];
        pos = body_start + (size as usize).div_ceil(512) * 512;
        let kind = h[156];
        match kind {
            b'x' => {
                pax = parse_pax(body)?;
                continue;
            }
            b'g' => continue,
            b'L' => {
                long_name = Some(tar_str(body));
                continue;
            }
            b'K' => {
                long_link = Some(tar_str(body));
                continue;
            }
            _ => {}
        }
        let prefix = tar_str(&h[345..500]);
        let name = tar_str(&h[0..100]);
        let full = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let path = pax.remove("path").or(long_name.take()).unwrap_or(full);
        let link = pax.remove("linkpath").or(long_link.take()).unwrap_or_else(|| tar_str(&h[157..257]));
        let uid = pax.get("uid").map(|s| s.parse()).transpose()?.unwrap_or(tar_num(&h[108..116])?);
        let gid = pax.get("gid").map(|s| s.parse()).transpose()?.unwrap_or(tar_num(&h[116..124])?);
        pax.clear();
        let mode = tar_num(&h[100..108])? & 0o7777;
        let path = path.trim_start_matches("./").trim_end_matches('/').to_string();
        if path.is_empty() {
            continue;
        }
        let desc = match kind {
            b'0' | 0 | b'7' => format!("file {mode:04o} {uid}:{gid} {} bytes sha256:{:x}", size, Sha256::digest(body)),
            b'1' => format!("hardlink {mode:04o} {uid}:{gid} -> {link}"),
            b'2' => format!("symlink {uid}:{gid} -> {link}"),
            b'5' => format!("dir {mode:04o} {uid}:{gid}"),
            b'3' | b'4' => format!("device {} {mode:04o} {uid}:{gid}", kind as char),
            b'6' => format!("fifo {mode:04o} {uid}:{gid}"),
            other => format!("type {} {mode:04o} {uid}:{gid}", other as char),
        };
        out.insert(path, desc);
    }
    Ok(out)
}

/// `len key=value\n` records of a PAX extended header.
fn parse_pax(body: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ').context("bad PAX record")?;
        let len: usize = std::str::from_utf8(&rest[..sp])?.parse()?;
        ensure!(len > sp && len <= rest.len(), "bad PAX record length");
        let rec = String::from_utf8_lossy(&rest[sp + 1..len]).trim_end_matches('\n').to_string();
        if let Some((k, v)) = rec.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
        rest = &rest[len..];
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            fs::copy(e.path(), &dest).with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ustar header + body.
    fn entry(name: &str, kind: u8, mode: u32, body: &[u8], link: &str) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(format!("{mode:07o}").as_bytes());
        h[108..115].copy_from_slice(b"0001750");
        h[116..123].copy_from_slice(b"0001750");
        h[124..135].copy_from_slice(format!("{:011o}", body.len()).as_bytes());
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        let mut out = h;
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    #[test]
    fn reads_files_links_dirs_and_pax_paths() -> Result<()> {
        let mut tar = entry("app/", b'5', 0o755, b"", "");
        tar.extend(entry("app/run.sh", b'0', 0o4755, b"echo hi\n", ""));
        tar.extend(entry("app/sh", b'2', 0o777, b"", "/bin/sh"));
        let rec = format!(" path=app/{}\n", "x".repeat(120));
        let long = format!("{}{rec}", rec.len() + 3);
        tar.extend(entry("PaxHeaders/x", b'x', 0o644, long.as_bytes(), ""));
        tar.extend(entry("app/short", b'0', 0o600, b"", ""));
        tar.extend(vec![0u8; 1024]);
        let m = tar_entries(&tar)?;
        assert_eq!(m["app"], "dir 0755 1000:1000");
        assert!(m["app/run.sh"].starts_with("file 4755 1000:1000 8 bytes sha256:"), "{}", m["app/run.sh"]);
        assert_eq!(m["app/sh"], "symlink 1000:1000 -> /bin/sh");
        assert!(m.contains_key(&format!("app/{}", "x".repeat(120))), "{m:?}");
        assert!(!m.contains_key("app/short"), "the PAX path replaces the header's name");
        assert_eq!(m.len(), 4);
        Ok(())
    }

    #[test]
    fn file_differences_are_named() {
        let a: BTreeMap<String, String> =
            [("a".to_string(), "file 0644".to_string()), ("b".to_string(), "dir".to_string())].into();
        let b: BTreeMap<String, String> =
            [("a".to_string(), "file 0755".to_string()), ("c".to_string(), "dir".to_string())].into();
        let d = diff_files(&a, &b);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d[0].contains("/a:") && d[0].contains("0644") && d[0].contains("0755"));
        assert_eq!(d[1], "only in docker build: /b (dir)");
        assert_eq!(d[2], "only in luakit: /c (dir)");
    }

    /// Every fixture of fixtures/convert/e2e.txt is a dockerd case or is
    /// listed with the reason it is not.
    #[test]
    fn every_e2e_fixture_is_a_case() -> Result<()> {
        let list = fs::read_to_string(crate::root().join("fixtures/convert/e2e.txt"))?;
        let cases: Vec<&str> = super::super::cases_dockerd::cases().iter().map(|c| c.name).collect();
        let on_buildkitd: Vec<&str> = super::super::cases_buildkitd::cases().iter().map(|c| c.name).collect();
        for f in list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let is_case = cases.contains(&format!("convert-{f}").as_str());
            let excluded = NOT_ON_DOCKERD.iter().any(|(n, _)| *n == f);
            assert!(is_case != excluded, "{f}: a dockerd case ({is_case}) or excluded ({excluded}), exactly one");
            if excluded {
                assert!(on_buildkitd.contains(&format!("convert-{f}").as_str()), "{f} is compared on neither engine");
            }
        }
        Ok(())
    }

    #[test]
    fn empty_config_values_are_equal() {
        assert_eq!(normalize(None), normalize(Some(&serde_json::json!([]))));
        assert_eq!(normalize(Some(&serde_json::json!({}))), Value::Null);
        assert_ne!(normalize(Some(&serde_json::json!(["sh"]))), Value::Null);
    }

    /// Every example Dockerfile is a dockerd case (`convert-example-<dir>`)
    /// or listed with the reason it is not.
    #[test]
    fn every_example_is_compared_or_excused() -> Result<()> {
        let cases: Vec<&str> = super::super::cases_dockerd::cases().iter().map(|c| c.name).collect();
        let mut seen = 0;
        for e in fs::read_dir(crate::root().join("examples"))? {
            let dir = e?.path();
            if !dir.join("Dockerfile").exists() {
                continue;
            }
            seen += 1;
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let compared = EXAMPLES.contains(&name.as_str());
            let excused = EXAMPLES_NOT_COMPARED.iter().any(|(n, _)| *n == name);
            assert!(compared != excused, "examples/{name}: compared ({compared}) or excused ({excused}), exactly one");
            if compared {
                assert!(cases.contains(&format!("convert-example-{name}").as_str()), "examples/{name} has no case");
            }
        }
        assert_eq!(seen, EXAMPLES.len() + EXAMPLES_NOT_COMPARED.len());
        Ok(())
    }
}
