//! Base images for the e2e suite, made without any network from Debian's
//! static busybox, and the luakit frontend image, for both engines:
//!
//! - dockerd: `docker import` of the busybox rootfs as `alpine:3.19`,
//!   `busybox:latest`, `busybox:1.36` ([`import_base_images`]);
//! - the registry (buildkitd pulls `docker.io/…` through it as a mirror):
//!   manifests, configs and gzip layers written here and pushed with the
//!   registry HTTP API ([`push_base_images`]) under the Docker Hub names the
//!   scripts use (`library/alpine:3.19`, …), plus
//!   - [`CONFIG_BASE`]: a base whose config sets `Env` (`BASE_GREETING`),
//!     `WorkingDir` (`/home/app`) and `User` (`app`);
//!   - [`MULTI`]: an OCI index with a `linux/amd64` image (busybox plus
//!     `/marker.txt` = `amd64`) and a `linux/arm64` one (only
//!     `/marker.txt` = `arm64`; nothing in it can run here);
//! - the frontend: the `luakit frontend-image` docker-save archive, pushed
//!   as an OCI image ([`push_docker_archive`]).
//!
//! The language and distribution images realistic Dockerfiles start from
//! (`golang:1.22-alpine`, `node:20-alpine`, `python:3.12-slim`,
//! `rust:1.79-slim-bookworm`, `debian:bookworm-slim`,
//! `gcr.io/distroless/static-debian12`, …) are stand-ins under the real
//! names, not the real images: this busybox rootfs with small shell
//! programs in place of `go`, `npm`, `pip`, `cargo`, `apt-get`, `useradd`,
//! … and configs resembling the real ones ([`super::toolchains`]).
//!
//! The busybox rootfs: busybox, a symlink per applet, `/etc/passwd` with
//! `root` and `app` (uid/gid 1000), `/etc/group`, `/tmp` (1777), `/root`,
//! `/home/app`; every image config has `PATH`, `BASE_MARKER=busybox`,
//! `WorkingDir /` and `Cmd ["/bin/sh"]` unless said otherwise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::dockerd::Dockerd;
use super::http::Body;
use super::registry::Client;
use super::util;

/// The static busybox from Debian's `busybox-static`.
pub const BUSYBOX: &str = "/bin/busybox";
/// Tags under which the busybox root filesystem is imported into dockerd
/// (and pushed to the registry, as `library/<name>`).
pub const BASE_IMAGE_TAGS: &[&str] = &["alpine:3.19", "busybox:latest", "busybox:1.36"];
/// `PATH` baked into the base images.
pub const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// A base image (Docker Hub name, pulled through the mirror) whose config
/// sets `Env` `BASE_GREETING=hello-from-base`, `WorkingDir /home/app`, `User app`.
pub const CONFIG_BASE: &str = "luakit-e2e/config-base:1";
/// A multi-platform OCI index (Docker Hub name): `linux/amd64` (runnable)
/// and `linux/arm64` (a marker file only); `/marker.txt` says which.
pub const MULTI: &str = "luakit-e2e/multi:1";

const CREATED: &str = "1970-01-01T00:00:00Z";

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// `name[:tag]` as Docker Hub repository and tag: `alpine:3.19` →
/// (`library/alpine`, `3.19`).
pub fn hub_repo_tag(name: &str) -> (String, String) {
    let (repo, tag) = match name.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (name, "latest"),
    };
    let repo = if repo.contains('/') { repo.to_string() } else { format!("library/{repo}") };
    (repo, tag.to_string())
}

// ---------------------------------------------------------------- rootfs

/// Creates the busybox root filesystem in `work_dir/<name>` (see the module
/// doc) with `extra` files (source on the host, absolute destination in the
/// image, mode) copied in; returns the directory.
pub fn make_rootfs(work_dir: &Path, name: &str, extra: &[(&Path, &str, u32)]) -> Result<PathBuf> {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let root = work_dir.join(name);
    util::remove_tree(&root)?;
    for dir in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "etc",
        "root",
        "home/app",
        "tmp",
        "var/tmp",
        "proc",
        "sys",
        "dev",
    ] {
        fs::create_dir_all(root.join(dir))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("var/tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(root.join("root"), fs::Permissions::from_mode(0o700))?;
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000))?;

    if !util::is_static_elf(Path::new(BUSYBOX))? {
        bail!("{BUSYBOX} is not statically linked: install busybox-static (see e2e::packages)");
    }
    fs::copy(BUSYBOX, root.join("bin/busybox"))?;
    fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
    let list = Command::new(BUSYBOX).arg("--list-full").output()?;
    util::check_output("busybox --list-full", &list)?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim().trim_start_matches('/');
        if applet.is_empty() || applet == "bin/busybox" {
            continue;
        }
        let link = root.join(applet);
        if link.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent)?;
        }
        symlink("/bin/busybox", &link)?;
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         app:x:1000:1000:app:/home/app:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")?;
    fs::write(root.join("etc/hostname"), "luakit-e2e\n")?;
    for (src, dest, mode) in extra {
        let dest = root.join(dest.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(src, &dest).with_context(|| format!("copying {} into the rootfs", src.display()))?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(*mode))?;
    }
    Ok(root)
}

/// Packs `dir` into the tar file `out` (sorted names, mtime 0, numeric owners).
pub fn tar_dir(dir: &Path, out: &Path) -> Result<()> {
    let o = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--numeric-owner", "-C"])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg(".")
        .output()
        .context("cannot run tar")?;
    util::check_output("tar", &o)
}

/// A layer blob on disk.
pub struct Layer {
    pub path: PathBuf,
    pub media_type: &'static str,
    /// Digest of the blob as stored.
    pub digest: String,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
}

impl Layer {
    fn descriptor(&self, media_type: &str) -> Value {
        json!({ "mediaType": media_type, "digest": self.digest, "size": self.size })
    }
}

/// Packs `dir` into `<out>.tar` and `<out>.tar.gz` (`gzip -n`): a gzip layer.
pub fn make_layer(dir: &Path, out: &Path) -> Result<Layer> {
    let tar = out.with_extension("tar");
    let gz = out.with_extension("tar.gz");
    tar_dir(dir, &tar)?;
    let f = fs::File::create(&gz)?;
    let st = Command::new("gzip")
        .args(["-n", "-6", "-c"])
        .arg(&tar)
        .stdout(Stdio::from(f))
        .status()
        .context("cannot run gzip")?;
    ensure!(st.success(), "gzip of {} failed", tar.display());
    Ok(Layer {
        diff_id: util::sha256_file(&tar)?,
        digest: util::sha256_file(&gz)?,
        size: fs::metadata(&gz)?.len(),
        media_type: OCI_LAYER_GZIP,
        path: gz,
    })
}

/// A directory holding only `files` (path in the image → content).
fn files_dir(work_dir: &Path, name: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
    let d = work_dir.join(name);
    util::remove_tree(&d)?;
    fs::create_dir_all(&d)?;
    for (p, content) in files {
        let f = d.join(p.trim_start_matches('/'));
        if let Some(parent) = f.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(f, content)?;
    }
    Ok(d)
}

/// The config part of an image config.
pub struct ImageSettings<'a> {
    pub arch: &'a str,
    pub env: Vec<String>,
    pub workdir: &'a str,
    pub user: &'a str,
    pub cmd: Vec<&'a str>,
    pub entrypoint: Vec<&'a str>,
}

impl ImageSettings<'_> {
    /// The busybox base's settings: `PATH`, `BASE_MARKER=busybox`, `/`, `sh`.
    pub fn busybox(arch: &str) -> ImageSettings<'_> {
        ImageSettings {
            arch,
            env: vec![format!("PATH={IMAGE_PATH}"), "BASE_MARKER=busybox".into()],
            workdir: "/",
            user: "",
            cmd: vec!["/bin/sh"],
            entrypoint: vec![],
        }
    }

    fn config_json(&self, layers: &[&Layer]) -> Vec<u8> {
        let mut c = json!({ "Env": self.env, "WorkingDir": self.workdir });
        if !self.user.is_empty() {
            c["User"] = json!(self.user);
        }
        if !self.cmd.is_empty() {
            c["Cmd"] = json!(self.cmd);
        }
        if !self.entrypoint.is_empty() {
            c["Entrypoint"] = json!(self.entrypoint);
        }
        let v = json!({
            "architecture": self.arch,
            "os": "linux",
            "created": CREATED,
            "config": c,
            "rootfs": { "type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>() },
            "history": layers.iter().map(|_| json!({ "created": CREATED, "created_by": "luakit xtask e2e" })).collect::<Vec<_>>(),
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// Manifest flavour.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker image manifest v2, schema 2.
    Docker,
    Oci,
}

/// Pushes the layers and config of one image to `repo` and its manifest
/// under each of `tags` (none: by digest only); returns the manifest's
/// descriptor (mediaType, digest, size).
pub fn push_image(
    client: &Client,
    repo: &str,
    tags: &[&str],
    settings: &ImageSettings,
    layers: &[&Layer],
    format: Format,
) -> Result<Value> {
    for l in layers {
        client.push_blob(repo, &l.digest, Body::File(&l.path)).with_context(|| format!("pushing a layer of {repo}"))?;
    }
    let config = settings.config_json(layers);
    let config_digest = client.push_blob_bytes(repo, &config)?;
    let (mt, config_mt) = match format {
        Format::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
        Format::Oci => (OCI_MANIFEST, OCI_CONFIG),
    };
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| {
            l.descriptor(match (format, l.media_type) {
                (Format::Docker, OCI_LAYER_GZIP) => DOCKER_LAYER_GZIP,
                (Format::Docker, OCI_LAYER) => "application/vnd.docker.image.rootfs.diff.tar",
                (_, m) => m,
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": { "mediaType": config_mt, "digest": config_digest, "size": config.len() },
        "layers": layer_descs,
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let digest = util::sha256_digest(&bytes);
    if tags.is_empty() {
        client.put_manifest(repo, &digest, mt, &bytes)?;
    }
    for t in tags {
        client.put_manifest(repo, t, mt, &bytes)?;
    }
    Ok(json!({ "mediaType": mt, "digest": digest, "size": bytes.len() }))
}

/// Makes the base images (see the module doc) and pushes them with
/// `client`. Returns the names pushed (Docker Hub style).
pub fn push_base_images(client: &Client, work_dir: &Path) -> Result<Vec<String>> {
    let dir = work_dir.join("images");
    fs::create_dir_all(&dir)?;
    let rootfs = make_rootfs(&dir, "rootfs", &[])?;
    let base = make_layer(&rootfs, &dir.join("busybox-layer"))?;
    let mut pushed = Vec::new();
    let bb = ImageSettings::busybox("amd64");
    for name in BASE_IMAGE_TAGS {
        let (repo, tag) = hub_repo_tag(name);
        push_image(client, &repo, &[&tag], &bb, &[&base], Format::Docker)?;
        pushed.push(name.to_string());
    }

    let (repo, tag) = hub_repo_tag(CONFIG_BASE);
    let settings = ImageSettings {
        arch: "amd64",
        env: vec![format!("PATH={IMAGE_PATH}"), "BASE_MARKER=busybox".into(), "BASE_GREETING=hello-from-base".into()],
        workdir: "/home/app",
        user: "app",
        cmd: vec!["/bin/sh"],
        entrypoint: vec![],
    };
    push_image(client, &repo, &[&tag], &settings, &[&base], Format::Oci)?;
    pushed.push(CONFIG_BASE.to_string());

    let (repo, tag) = hub_repo_tag(MULTI);
    let mut descs = Vec::new();
    for arch in ["amd64", "arm64"] {
        let marker = files_dir(&dir, &format!("marker-{arch}"), &[("marker.txt", &format!("{arch}\n"))])?;
        let marker = make_layer(&marker, &dir.join(format!("marker-{arch}-layer")))?;
        let layers: Vec<&Layer> = if arch == "amd64" { vec![&base, &marker] } else { vec![&marker] };
        let mut d = push_image(client, &repo, &[], &ImageSettings::busybox(arch), &layers, Format::Oci)?;
        d["platform"] = json!({ "architecture": arch, "os": "linux" });
        descs.push(d);
    }
    let index = serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs }))?;
    client.put_manifest(&repo, &tag, OCI_INDEX, &index)?;
    pushed.push(MULTI.to_string());
    Ok(pushed)
}

/// Pushes the image in a `docker save` archive (its first `manifest.json`
/// entry) to `repo:tag` as an OCI image with uncompressed layers (the
/// archive's `layer.tar` files as they are; the registry checks each digest
/// against the config's `diff_ids`). Returns the manifest digest.
pub fn push_docker_archive(client: &Client, archive: &Path, work_dir: &Path, repo: &str, tag: &str) -> Result<String> {
    let dir = work_dir.join("docker-archive");
    util::remove_tree(&dir)?;
    fs::create_dir_all(&dir)?;
    let o = Command::new("tar").arg("-C").arg(&dir).arg("-xf").arg(archive).output().context("cannot run tar")?;
    util::check_output("tar -xf (docker archive)", &o)?;
    let manifest: Value = serde_json::from_slice(&fs::read(dir.join("manifest.json")).context("no manifest.json")?)?;
    let entry = manifest.get(0).context("manifest.json is empty")?;
    let config_path = dir.join(entry["Config"].as_str().context("no Config in manifest.json")?);
    let config = fs::read(&config_path)?;
    let cfg: Value = serde_json::from_slice(&config)?;
    let diff_ids = cfg["rootfs"]["diff_ids"].as_array().context("config without rootfs.diff_ids")?;
    let layer_files = entry["Layers"].as_array().context("no Layers in manifest.json")?;
    ensure!(diff_ids.len() == layer_files.len(), "the archive's layers and diff_ids disagree");
    let mut layers = Vec::new();
    for (file, diff_id) in layer_files.iter().zip(diff_ids) {
        let path = dir.join(file.as_str().context("bad layer name")?);
        let digest = diff_id.as_str().context("bad diff_id")?;
        client.push_blob(repo, digest, Body::File(&path)).with_context(|| format!("pushing layer {digest}"))?;
        layers.push(json!({ "mediaType": OCI_LAYER, "digest": digest, "size": fs::metadata(&path)?.len() }));
    }
    let config_digest = client.push_blob_bytes(repo, &config)?;
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len() },
        "layers": layers,
    });
    let bytes = serde_json::to_vec(&m)?;
    let digest = client.put_manifest(repo, tag, OCI_MANIFEST, &bytes)?;
    let _ = util::remove_tree(&dir);
    Ok(digest)
}

/// Imports the busybox rootfs into dockerd as [`BASE_IMAGE_TAGS`], each with
/// `ENV PATH=…`, `ENV BASE_MARKER=busybox`, `WORKDIR /`, `CMD ["/bin/sh"]`.
pub fn import_base_images(d: &Dockerd, work_dir: &Path) -> Result<()> {
    let dir = work_dir.join("dockerd-images");
    fs::create_dir_all(&dir)?;
    let rootfs = make_rootfs(&dir, "rootfs", &[])?;
    let tar = dir.join("rootfs.tar");
    tar_dir(&rootfs, &tar)?;
    let tar_s = tar.to_string_lossy().into_owned();
    let path_change = format!("ENV PATH={IMAGE_PATH}");
    let (first, rest) = BASE_IMAGE_TAGS.split_first().context("no base image tags")?;
    d.docker_output(&[
        "import",
        "--change",
        &path_change,
        "--change",
        "ENV BASE_MARKER=busybox",
        "--change",
        "WORKDIR /",
        "--change",
        r#"CMD ["/bin/sh"]"#,
        &tar_s,
        first,
    ])
    .context("importing the busybox base image")?;
    for tag in rest {
        d.docker_output(&["tag", first, tag])?;
    }
    Ok(())
}

/// `binary` (at `/bin/luakit-frontend`) and the shared libraries `ldd`
/// lists for it, on the busybox rootfs: a frontend image other than `luakit
/// frontend-image`'s (`LUAKIT_E2E_FRONTEND_BIN`). Returns the rootfs dir.
pub fn frontend_binary_rootfs(binary: &Path, work_dir: &Path) -> Result<PathBuf> {
    let ldd = Command::new("ldd").arg(binary).output().context("cannot run ldd")?;
    let mut libs: Vec<PathBuf> = Vec::new();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    let mut extra: Vec<(&Path, &str, u32)> = vec![(binary, "/bin/luakit-frontend", 0o755)];
    let dests: Vec<String> = libs.iter().map(|l| l.to_string_lossy().into_owned()).collect();
    for (l, dest) in libs.iter().zip(&dests) {
        extra.push((l.as_path(), dest.as_str(), 0o755));
    }
    make_rootfs(work_dir, "frontend-rootfs", &extra)
}

/// The `LUAKIT_E2E_FRONTEND_BIN` frontend image: imported into dockerd
/// (`d`) and/or pushed to the registry (`client`) as `tag`, entrypoint
/// `/bin/luakit-frontend frontend`.
pub fn frontend_from_binary(
    binary: &Path,
    work_dir: &Path,
    d: Option<&Dockerd>,
    client: Option<&Client>,
    tag: &str,
) -> Result<()> {
    // Both engines' setup threads call this at once: one directory each.
    let dir = work_dir.join(if d.is_some() { "frontend-bin-dockerd" } else { "frontend-bin-registry" });
    fs::create_dir_all(&dir)?;
    let rootfs = frontend_binary_rootfs(binary, &dir)?;
    if let Some(d) = d {
        let tar = dir.join("frontend-rootfs.tar");
        tar_dir(&rootfs, &tar)?;
        let tar_s = tar.to_string_lossy().into_owned();
        d.docker_output(&["import", "--change", r#"ENTRYPOINT ["/bin/luakit-frontend", "frontend"]"#, &tar_s, tag])
            .context("importing the frontend image")?;
    }
    if let Some(client) = client {
        let layer = make_layer(&rootfs, &dir.join("frontend-layer"))?;
        let mut s = ImageSettings::busybox("amd64");
        s.cmd = vec![];
        s.entrypoint = vec!["/bin/luakit-frontend", "frontend"];
        let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
        push_image(client, repo, &[t], &s, &[&layer], Format::Oci)?;
    }
    Ok(())
}

/// The image pushed to the registry that requires credentials (the busybox
/// base under this repository and tag).
pub const PRIVATE: &str = "luakit-e2e/private:1";

/// Pushes the busybox base (made by [`push_base_images`] in `work_dir`) as
/// `repo:tag` with `client`.
pub fn push_busybox(client: &Client, work_dir: &Path, name: &str) -> Result<()> {
    let dir = work_dir.join("images");
    let base = make_layer(&dir.join("rootfs"), &dir.join("busybox-layer"))?;
    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, "latest"));
    push_image(client, repo, &[tag], &ImageSettings::busybox("amd64"), &[&base], Format::Docker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hub_repo_tag;

    #[test]
    fn docker_hub_names() {
        let t = |n: &str| hub_repo_tag(n);
        assert_eq!(t("alpine:3.19"), ("library/alpine".into(), "3.19".into()));
        assert_eq!(t("busybox"), ("library/busybox".into(), "latest".into()));
        assert_eq!(t("luakit-e2e/multi:1"), ("luakit-e2e/multi".into(), "1".into()));
    }
}
