//! Reading what `buildctl build --output type=oci,dest=FILE` writes: an OCI
//! image layout in a tar. [`OciImage::open`] unpacks it and follows
//! `index.json` → manifest (choosing `linux/amd64` from an index) → config;
//! [`OciImage::unpack_rootfs`] applies the layers in order (with whiteouts)
//! to a directory, to check the built files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

use super::util;

pub struct OciImage {
    /// The unpacked layout.
    pub dir: PathBuf,
    /// `index.json`.
    #[allow(dead_code)]
    pub index: Value,
    pub manifest: Value,
    /// The image config (`config.Env`, `config.User`, `rootfs`, …).
    pub config: Value,
}

impl OciImage {
    /// Unpacks the layout tar `tar` into `dir` and reads it.
    pub fn open(tar: &Path, dir: &Path) -> Result<OciImage> {
        util::remove_tree(dir)?;
        fs::create_dir_all(dir)?;
        let o = Command::new("tar").arg("-C").arg(dir).arg("-xf").arg(tar).output().context("cannot run tar")?;
        util::check_output("tar -xf (OCI layout)", &o)?;
        let index = read_json(&dir.join("index.json"))?;
        let layout = read_json(&dir.join("oci-layout"))?;
        ensure!(layout["imageLayoutVersion"] == "1.0.0", "oci-layout: {layout}");
        let mut desc = index["manifests"].get(0).cloned().context("index.json lists no manifest")?;
        let mut manifest = read_json(&blob_path(dir, &desc)?)?;
        if manifest["manifests"].is_array() {
            // A nested index (multi-platform result): take linux/amd64.
            desc = manifest["manifests"]
                .as_array()
                .and_then(|ms| ms.iter().find(|m| m["platform"]["architecture"] == "amd64"))
                .cloned()
                .context("the image index has no linux/amd64 manifest")?;
            manifest = read_json(&blob_path(dir, &desc)?)?;
        }
        let config = read_json(&blob_path(dir, &manifest["config"])?)?;
        Ok(OciImage { dir: dir.to_path_buf(), index, manifest, config })
    }

    /// Unpacks the layout tar `tar` into `dir` and reads every image of the
    /// image index it holds: `(platform as os/arch[/variant], image)`, in
    /// the index's order.
    pub fn open_index(tar: &Path, dir: &Path) -> Result<Vec<(String, OciImage)>> {
        util::remove_tree(dir)?;
        fs::create_dir_all(dir)?;
        let o = Command::new("tar").arg("-C").arg(dir).arg("-xf").arg(tar).output().context("cannot run tar")?;
        util::check_output("tar -xf (OCI layout)", &o)?;
        let index = read_json(&dir.join("index.json"))?;
        let desc = index["manifests"].get(0).cloned().context("index.json lists no manifest")?;
        let nested = read_json(&blob_path(dir, &desc)?)?;
        let list = nested["manifests"].as_array().context("not an image index (one platform only?)")?;
        let mut out = Vec::new();
        for m in list {
            let p = &m["platform"];
            let mut id = format!("{}/{}", p["os"].as_str().unwrap_or(""), p["architecture"].as_str().unwrap_or(""));
            if let Some(v) = p["variant"].as_str().filter(|v| !v.is_empty()) {
                id = format!("{id}/{v}");
            }
            let manifest = read_json(&blob_path(dir, m)?)?;
            let config = read_json(&blob_path(dir, &manifest["config"])?)?;
            out.push((id, OciImage { dir: dir.to_path_buf(), index: index.clone(), manifest, config }));
        }
        Ok(out)
    }

    /// `config.config` (Env, Cmd, Entrypoint, User, WorkingDir, …).
    pub fn settings(&self) -> &Value {
        &self.config["config"]
    }

    /// Applies the layers to `dest` (created; emptied first).
    pub fn unpack_rootfs(&self, dest: &Path) -> Result<()> {
        util::remove_tree(dest)?;
        fs::create_dir_all(dest)?;
        for l in self.manifest["layers"].as_array().context("the manifest has no layers")? {
            apply_layer(&blob_path(&self.dir, l)?, dest)?;
        }
        Ok(())
    }
}

fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_slice(&fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        .with_context(|| format!("{} is not JSON", path.display()))
}

fn blob_path(dir: &Path, desc: &Value) -> Result<PathBuf> {
    let d = desc["digest"].as_str().with_context(|| format!("descriptor without digest: {desc}"))?;
    let (alg, hex) = d.split_once(':').context("malformed digest")?;
    let p = dir.join("blobs").join(alg).join(hex);
    ensure!(p.is_file(), "blob {d} is missing from the layout");
    ensure!(util::sha256_file(&p)? == d, "blob {d} does not match its digest");
    Ok(p)
}

/// Extracts the layer tar (any compression GNU tar detects) over `dest`,
/// first applying its whiteouts (`.wh.NAME` removes NAME, `.wh..wh..opq`
/// empties its directory).
pub fn apply_layer(blob: &Path, dest: &Path) -> Result<()> {
    let list = Command::new("tar").arg("-tf").arg(blob).output().context("cannot run tar")?;
    util::check_output("tar -tf (layer)", &list)?;
    for entry in String::from_utf8_lossy(&list.stdout).lines() {
        let entry = entry.trim_start_matches("./").trim_end_matches('/');
        let (parent, name) = match entry.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", entry),
        };
        let Some(target) = name.strip_prefix(".wh.") else { continue };
        let dir = dest.join(parent);
        if target == ".wh..opq" {
            if let Ok(rd) = fs::read_dir(&dir) {
                for e in rd.flatten() {
                    remove_any(&e.path())?;
                }
            }
        } else {
            remove_any(&dir.join(target))?;
        }
    }
    let o = Command::new("tar")
        .arg("-C")
        .arg(dest)
        .args(["--exclude=.wh.*", "-xf"])
        .arg(blob)
        .output()
        .context("cannot run tar")?;
    util::check_output("tar -xf (layer)", &o)
}

fn remove_any(p: &Path) -> Result<()> {
    match p.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display())),
        Ok(_) => fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}
