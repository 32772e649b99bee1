//! `luakit frontend-image`: the luakit frontend as a `docker load`-able
//! image archive, built without a registry, a Dockerfile or a daemon.
//!
//! The archive is in the format `docker save` writes (and `docker load`,
//! containerd's importer and skopeo's `docker-archive:` read): a
//! `manifest.json` naming the config `<sha256>.json` and the layer
//! `<sha256>/layer.tar`. The single layer holds the luakit binary at
//! `/bin/luakit` and, when the binary is dynamically linked, its ELF
//! interpreter and the shared libraries `ldd` lists, stored (symlinks
//! resolved) at the paths the loader looks for, so the image runs `FROM
//! scratch`. The entrypoint is `/bin/luakit frontend`; the labels are those
//! BuildKit reads from a frontend image (as its own Dockerfile frontend
//! image sets them).
//!
//! The bytes are deterministic: the same binary, libraries, tag and creation
//! time give the same archive (sorted entries, mtime 0, uid/gid 0). The
//! image's `created` time — what `docker images` shows — is
//! `SOURCE_DATE_EPOCH` when it is set, else the time this luakit binary was
//! built from (its commit's time, recorded at compile time), so that the
//! same build always makes the same image.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use luakit::Platform;
use luakit::image_config::{History, ImageConfig, RootFs};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The tag `luakit frontend-image` gives the image by default; a build
/// script selects it with `# syntax=luakit/frontend:dev`.
pub const DEFAULT_TAG: &str = "luakit/frontend:dev";

/// Where the luakit binary is in the image.
pub const BINARY_PATH: &str = "/bin/luakit";

/// When this binary was built, in seconds since 1970: `SOURCE_DATE_EPOCH`
/// of the build, else the time of the commit it was built from (see
/// build.rs); 0 when neither was known.
pub fn build_time() -> u64 {
    env!("LUAKIT_BUILD_TIME").parse().unwrap_or(0)
}

/// The image's creation time, in seconds since 1970: `source_date_epoch`
/// (the `SOURCE_DATE_EPOCH` environment variable) when it is set, else
/// [`build_time`]. Never the current time, so that the archive does not
/// depend on when it was written.
pub fn creation_time(source_date_epoch: Option<&str>) -> anyhow::Result<u64> {
    match source_date_epoch.map(str::trim) {
        None | Some("") => Ok(build_time()),
        Some(s) => s.parse::<u64>().map_err(|_| {
            anyhow::anyhow!("SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01, got '{s}'")
        }),
    }
}

/// `seconds` since 1970 as RFC 3339 in UTC (`2023-11-14T22:13:20Z`), the
/// form image configs use.
pub fn rfc3339(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rem = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// What `write_frontend_image` builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendImageOptions {
    /// The image's `repository:tag` (`docker load` requires a tag;
    /// `:latest` is added when there is none).
    pub tag: String,
    /// The luakit binary to put in the image.
    pub binary: PathBuf,
    /// The image's creation time, in seconds since 1970 (see [`creation_time`]).
    pub created: u64,
}

impl Default for FrontendImageOptions {
    /// [`DEFAULT_TAG`], the running executable (an empty path, refused
    /// by [`write_frontend_image`], when the OS cannot say which it is) and
    /// its [`build_time`].
    fn default() -> Self {
        FrontendImageOptions {
            tag: DEFAULT_TAG.to_string(),
            binary: std::env::current_exe().unwrap_or_default(),
            created: build_time(),
        }
    }
}

/// Writes the frontend image as a `docker load`-able archive to `out`.
///
/// Fails when the binary cannot be read, when it is dynamically linked and
/// its libraries cannot be listed (`ldd`, or the interpreter's `--list`) or
/// read, or when the tag is not a valid `repository[:tag]`.
pub fn write_frontend_image(opts: &FrontendImageOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let image = FrontendImage::build(opts)?;
    image.write_archive(out)
}

/// The parts of the image, before they are put in the archive.
struct FrontendImage {
    repo_tag: String,
    layer: Vec<u8>,
    config: Vec<u8>,
}

impl FrontendImage {
    fn build(opts: &FrontendImageOptions) -> anyhow::Result<Self> {
        let repo_tag = normalize_tag(&opts.tag)?;
        if opts.binary.as_os_str().is_empty() {
            bail!("could not find the luakit executable to put in the image; give its path explicitly");
        }
        let binary = std::fs::read(&opts.binary)
            .with_context(|| format!("reading the luakit binary {}", opts.binary.display()))?;
        let elf = ElfInfo::parse(&binary);

        let mut files = BTreeMap::new();
        let mut lib_dirs = BTreeSet::new();
        if let Some(interp) = elf.as_ref().and_then(|e| e.interpreter.as_deref()) {
            let mut paths = shared_libraries(&opts.binary, interp)?;
            paths.insert(interp.to_string());
            for path in paths {
                let rel = image_path(&path)?;
                let data = std::fs::read(&path)
                    .with_context(|| format!("reading {path}, a library the luakit binary needs"))?;
                match Path::new(&path).parent() {
                    Some(dir) if path != interp => {
                        lib_dirs.insert(dir.to_string_lossy().into_owned());
                    }
                    _ => {}
                }
                files.insert(rel, data);
            }
        }
        files.insert(image_path(BINARY_PATH)?, binary);

        let layer = layer_tar(files)?;
        let diff_id = format!("sha256:{}", sha256_hex(&layer));
        let (arch, variant) = match elf {
            Some(e) => (e.arch, e.variant),
            None => host_arch(),
        };
        let mut env = Vec::new();
        if !lib_dirs.is_empty() {
            // The image has no ld.so.cache: name the directories outright.
            env.push(format!("LD_LIBRARY_PATH={}", lib_dirs.into_iter().collect::<Vec<_>>().join(":")));
        }
        let config = image_config(&arch, &variant, &env, &diff_id, &rfc3339(opts.created));
        Ok(FrontendImage { repo_tag, layer, config })
    }

    fn write_archive(&self, out: &mut dyn Write) -> anyhow::Result<()> {
        let config_name = format!("{}.json", sha256_hex(&self.config));
        let layer_dir = sha256_hex(&self.layer);
        let layer_name = format!("{layer_dir}/layer.tar");
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": [self.repo_tag],
            "Layers": [layer_name],
        }]);
        let manifest = serde_json::to_vec(&manifest).context("encoding manifest.json")?;

        let mut entries: BTreeMap<String, Option<&[u8]>> = BTreeMap::new();
        entries.insert(config_name, Some(&self.config));
        entries.insert(format!("{layer_dir}/"), None);
        entries.insert(layer_name, Some(&self.layer));
        entries.insert("manifest.json".to_string(), Some(&manifest));

        let mut tar = tar::Builder::new(out);
        for (name, data) in entries {
            match data {
                Some(data) => append_file(&mut tar, &name, data, 0o644)?,
                None => append_dir(&mut tar, &name, 0o755)?,
            }
        }
        tar.into_inner().context("writing the image archive")?.flush()?;
        Ok(())
    }
}

/// The image config: OCI/Docker JSON, compact, in a fixed key order.
fn image_config(arch: &str, variant: &str, env: &[String], diff_id: &str, created: &str) -> Vec<u8> {
    let mut image = ImageConfig {
        architecture: arch.to_string(),
        os: "linux".to_string(),
        variant: variant.to_string(),
        created: Some(created.to_string()),
        rootfs: RootFs { kind: "layers".to_string(), diff_ids: vec![diff_id.to_string()], ..RootFs::default() },
        history: vec![History {
            created: Some(created.to_string()),
            created_by: "luakit frontend-image".to_string(),
            comment: concat!("luakit ", env!("CARGO_PKG_VERSION")).to_string(),
            ..History::default()
        }],
        ..ImageConfig::default()
    };
    let config = &mut image.config;
    config.entrypoint = vec![BINARY_PATH.to_string(), "frontend".to_string()];
    config.working_dir = "/".to_string();
    config.env = env.to_vec();
    // No `moby.buildkit.frontend.caps` label: the frontend takes no
    // frontend inputs (named contexts) and answers no subrequests.
    config.labels = [
        ("moby.buildkit.frontend.network.none", "true"),
        ("org.opencontainers.image.title", "luakit frontend"),
        ("org.opencontainers.image.version", env!("CARGO_PKG_VERSION")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    image.to_json()
}

/// The layer: every file with its parent directories, and `/tmp`.
fn layer_tar(files: BTreeMap<String, Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    // Keys: relative paths, directories with a trailing '/', so that a
    // directory sorts before everything in it.
    let mut entries: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    entries.insert("tmp/".to_string(), None);
    for (path, data) in files {
        let mut dir = Path::new(&path).parent();
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            entries.insert(format!("{}/", d.to_string_lossy()), None);
            dir = d.parent();
        }
        entries.insert(path, Some(data));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in &entries {
        match data {
            // Everything stored is an ELF executable or library.
            Some(data) => append_file(&mut tar, path, data, 0o755)?,
            None if path == "tmp/" => append_dir(&mut tar, path, 0o1777)?,
            None => append_dir(&mut tar, path, 0o755)?,
        }
    }
    Ok(tar.into_inner()?)
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut h = header(tar::EntryType::Regular, data.len() as u64, mode);
    tar.append_data(&mut h, path, data).with_context(|| format!("adding {path} to the archive"))
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, mode: u32) -> anyhow::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, mode);
    tar.append_data(&mut h, path, std::io::empty()).with_context(|| format!("adding {path} to the archive"))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `repository[:tag]` with `:latest` added, as `docker load` needs a tag.
fn normalize_tag(tag: &str) -> anyhow::Result<String> {
    if tag.is_empty() {
        bail!("the image tag must not be empty (for example {DEFAULT_TAG})");
    }
    if tag.contains('@') {
        bail!("invalid image tag '{tag}': a digest (@sha256:…) cannot be a tag");
    }
    if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("invalid image tag '{tag}': it must not contain spaces");
    }
    // The tag is after a ':' in the last path component (a ':' before it
    // is a registry port).
    let last_start = tag.rfind('/').map_or(0, |i| i + 1);
    let (repo, tagged) = match tag[last_start..].find(':') {
        Some(i) if last_start + i + 1 == tag.len() => bail!("invalid image tag '{tag}': empty tag after ':'"),
        Some(i) => (&tag[..last_start + i], true),
        None => (tag, false),
    };
    // The registry host (before the first '/') may have upper case; the
    // repository path may not.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        bail!("invalid image tag '{tag}': the repository name must be lower case");
    }
    Ok(if tagged { tag.to_string() } else { format!("{tag}:latest") })
}

/// An absolute path as a relative archive path, refusing `..`.
fn image_path(path: &str) -> anyhow::Result<String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("cannot put '{path}' in the image: not an absolute path");
    }
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir | Component::Prefix(_) => {
                bail!("cannot put '{path}' in the image: '..' in the path")
            }
        }
    }
    if parts.is_empty() {
        bail!("cannot put '{path}' in the image: no file name");
    }
    Ok(parts.join("/"))
}

/// The absolute paths of the shared libraries `binary` loads, as `ldd`
/// lists them (falling back to the interpreter's own `--list`).
fn shared_libraries(binary: &Path, interp: &str) -> anyhow::Result<BTreeSet<String>> {
    let run = |cmd: &mut Command| cmd.env("LC_ALL", "C").output();
    let output = match run(Command::new("ldd").arg(binary)) {
        Ok(out) => out,
        Err(ldd_err) => run(Command::new(interp).arg("--list").arg(binary)).with_context(|| {
            format!(
                "{} is dynamically linked, and neither `ldd` ({ldd_err}) nor its interpreter {interp} \
                 could list its libraries; install ldd or use a statically linked luakit",
                binary.display()
            )
        })?,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "listing the libraries of {} failed ({}): {}{}",
            binary.display(),
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_ldd(&stdout).with_context(|| format!("listing the libraries of {}", binary.display()))
}

/// Parses `ldd` output: `name => /path (0x…)` lines and the interpreter's
/// `/path (0x…)` line; the vDSO (no path) is skipped.
fn parse_ldd(output: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut paths = BTreeSet::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("shared library {} not found", name.trim());
                }
                rest
            }
            None => line,
        };
        let path = path.split(" (0x").next().unwrap_or(path).trim();
        if path.starts_with('/') {
            paths.insert(path.to_string());
        }
    }
    Ok(paths)
}

/// What the ELF header says: the architecture (GOARCH spelling) and the
/// `PT_INTERP` program interpreter of a dynamically linked executable.
#[derive(Debug, PartialEq, Eq)]
struct ElfInfo {
    arch: String,
    variant: String,
    interpreter: Option<String>,
}

impl ElfInfo {
    /// `None` when `data` is not an ELF file (or a truncated one).
    fn parse(data: &[u8]) -> Option<ElfInfo> {
        if data.get(..4)? != b"\x7fELF" {
            return None;
        }
        let is64 = match data.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let le = match data.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        let int = |off: usize, len: usize| -> Option<u64> {
            let b = data.get(off..off.checked_add(len)?)?;
            let mut v = 0u64;
            for i in 0..len {
                let byte = if le { b[len - 1 - i] } else { b[i] };
                v = (v << 8) | u64::from(byte);
            }
            Some(v)
        };
        let machine = int(18, 2)?;
        let (phoff, phentsize, phnum) =
            if is64 { (int(32, 8)?, int(54, 2)?, int(56, 2)?) } else { (int(28, 4)?, int(42, 2)?, int(44, 2)?) };
        let mut interpreter = None;
        for i in 0..phnum {
            let ph = usize::try_from(phoff.checked_add(i.checked_mul(phentsize)?)?).ok()?;
            const PT_INTERP: u64 = 3;
            if int(ph, 4)? != PT_INTERP {
                continue;
            }
            let (offset, size) =
                if is64 { (int(ph + 8, 8)?, int(ph + 32, 8)?) } else { (int(ph + 4, 4)?, int(ph + 16, 4)?) };
            let start = usize::try_from(offset).ok()?;
            let bytes = data.get(start..start.checked_add(usize::try_from(size).ok()?)?)?;
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            interpreter = Some(String::from_utf8_lossy(&bytes[..end]).into_owned());
        }
        let (arch, variant) = match machine {
            3 => ("386", ""),
            62 => ("amd64", ""),
            40 => ("arm", "v7"),
            183 => ("arm64", ""),
            21 if le => ("ppc64le", ""),
            21 => ("ppc64", ""),
            22 => ("s390x", ""),
            243 => ("riscv64", ""),
            258 => ("loong64", ""),
            _ => {
                let (arch, variant) = host_arch();
                return Some(ElfInfo { arch, variant, interpreter });
            }
        };
        Some(ElfInfo { arch: arch.to_string(), variant: variant.to_string(), interpreter })
    }
}

/// This machine's architecture in GOARCH spelling, and its variant (from
/// the one host-arch table, [`Platform::host`]).
fn host_arch() -> (String, String) {
    let host = Platform::host();
    (host.arch, host.variant)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// One entry of a tar archive.
    struct Entry {
        path: String,
        mode: u32,
        kind: tar::EntryType,
        data: Vec<u8>,
    }

    /// Reads a tar archive's entries, in order, checking the fixed metadata.
    fn entries(archive: &[u8]) -> anyhow::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut ar = tar::Archive::new(archive);
        for e in ar.entries()? {
            let mut e = e?;
            let path = e.path()?.to_string_lossy().into_owned();
            let h = e.header().clone();
            assert_eq!((h.mtime()?, h.uid()?, h.gid()?), (0, 0, 0), "{path}");
            let mut data = Vec::new();
            e.read_to_end(&mut data)?;
            out.push(Entry { path, mode: h.mode()?, kind: h.entry_type(), data });
        }
        Ok(out)
    }

    fn find<'a>(entries: &'a [Entry], path: &str) -> anyhow::Result<&'a Entry> {
        entries.iter().find(|e| e.path == path).with_context(|| format!("{path} not in archive"))
    }

    fn file<'a>(entries: &'a [Entry], path: &str) -> anyhow::Result<&'a [u8]> {
        Ok(&find(entries, path)?.data)
    }

    fn archive(binary: &Path, tag: &str) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        let opts = FrontendImageOptions { tag: tag.to_string(), binary: binary.to_path_buf(), created: 1_700_000_000 };
        write_frontend_image(&opts, &mut out)?;
        Ok(out)
    }

    /// Checks the archive's structure and returns its config and layer entries.
    fn check_archive(bytes: &[u8]) -> anyhow::Result<(serde_json::Value, Vec<Entry>)> {
        let outer = entries(bytes)?;
        let names: Vec<&str> = outer.iter().map(|e| e.path.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "entries are sorted");

        let manifest: serde_json::Value = serde_json::from_slice(file(&outer, "manifest.json")?)?;
        let m = &manifest[0];
        let config_name = m["Config"].as_str().context("Config")?;
        let layer_name = m["Layers"][0].as_str().context("Layers")?;
        assert_eq!(m["Layers"].as_array().map(Vec::len), Some(1));
        let config_bytes = file(&outer, config_name)?;
        let layer = file(&outer, layer_name)?;
        // Content-addressed names.
        assert_eq!(config_name, format!("{}.json", sha256_hex(config_bytes)));
        assert_eq!(layer_name, format!("{}/layer.tar", sha256_hex(layer)));

        let config: serde_json::Value = serde_json::from_slice(config_bytes)?;
        assert_eq!(config["rootfs"]["type"], "layers");
        assert_eq!(config["rootfs"]["diff_ids"], json!([format!("sha256:{}", sha256_hex(layer))]));
        assert_eq!(config["os"], "linux");
        assert_eq!(config["config"]["Entrypoint"], json!(["/bin/luakit", "frontend"]));
        assert_eq!(config["config"]["Labels"]["moby.buildkit.frontend.network.none"], "true");
        // It claims no frontend features it does not have.
        assert!(config["config"]["Labels"].get("moby.buildkit.frontend.caps").is_none());
        assert_eq!(config["history"].as_array().map(Vec::len), Some(1));

        let layer_entries = entries(layer)?;
        let lnames: Vec<&str> = layer_entries.iter().map(|e| e.path.as_str()).collect();
        let mut lsorted = lnames.clone();
        lsorted.sort_unstable();
        assert_eq!(lnames, lsorted, "layer entries are sorted");
        // Every directory comes before what is in it.
        for (i, path) in lnames.iter().enumerate() {
            let parent = Path::new(path.trim_end_matches('/')).parent();
            if let Some(parent) = parent.filter(|p| !p.as_os_str().is_empty()) {
                let parent = format!("{}/", parent.to_string_lossy());
                let at = lnames.iter().position(|n| *n == parent).with_context(|| format!("{parent} missing"))?;
                assert!(at < i, "{parent} after {path}");
            }
        }
        let bin = find(&layer_entries, "bin/luakit")?;
        assert_eq!((bin.mode, bin.kind), (0o755, tar::EntryType::Regular));
        let tmp = find(&layer_entries, "tmp/")?;
        assert_eq!((tmp.mode, tmp.kind), (0o1777, tar::EntryType::Directory));
        Ok((config, layer_entries))
    }

    #[test]
    fn creation_times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn source_date_epoch_wins_and_is_checked() -> anyhow::Result<()> {
        assert_eq!(creation_time(Some("1700000000"))?, 1_700_000_000);
        assert_eq!(creation_time(Some(""))?, build_time());
        assert_eq!(creation_time(None)?, build_time());
        let e = creation_time(Some("yesterday")).expect_err("not a number");
        assert_eq!(
            e.to_string(),
            "SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01, got 'yesterday'"
        );
        Ok(())
    }

    /// The image is as old as the build, not 56 years: built from a git
    /// checkout (or with SOURCE_DATE_EPOCH), the binary knows when.
    #[test]
    fn the_build_time_is_known_in_a_checkout() {
        let in_checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.git").exists();
        if in_checkout || !env!("LUAKIT_BUILD_TIME").is_empty() {
            assert!(build_time() > 1_600_000_000, "build time {} ({})", build_time(), rfc3339(build_time()));
        }
    }

    #[test]
    fn the_config_carries_the_creation_time() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let bin = dir.path().join("luakit");
        std::fs::write(&bin, b"not really luakit")?;
        let (config, _) = check_archive(&archive(&bin, DEFAULT_TAG)?)?;
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["history"][0]["created"], "2023-11-14T22:13:20Z");
        let opts = FrontendImageOptions { tag: DEFAULT_TAG.into(), binary: bin, created: 0 };
        let mut other = Vec::new();
        write_frontend_image(&opts, &mut other)?;
        let (config, _) = check_archive(&other)?;
        assert_eq!(config["created"], "1970-01-01T00:00:00Z");
        Ok(())
    }

    #[test]
    fn non_elf_binary_makes_a_single_file_image() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let bin = dir.path().join("luakit");
        std::fs::write(&bin, b"not really luakit")?;
        let bytes = archive(&bin, DEFAULT_TAG)?;
        let (config, layer) = check_archive(&bytes)?;
        assert_eq!(file(&layer, "bin/luakit")?, b"not really luakit");
        let names: Vec<&str> = layer.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(names, ["bin/", "bin/luakit", "tmp/"]);
        assert_eq!(config["architecture"], host_arch().0);
        assert!(config["config"].get("Env").is_none());
        let outer = entries(&bytes)?;
        let manifest: serde_json::Value = serde_json::from_slice(file(&outer, "manifest.json")?)?;
        assert_eq!(manifest[0]["RepoTags"], json!(["luakit/frontend:dev"]));
        Ok(())
    }

    #[test]
    fn same_input_same_bytes() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let bin = dir.path().join("luakit");
        std::fs::write(&bin, b"\x7fELF but truncated")?;
        let a = archive(&bin, "example.com/team/x")?;
        let b = archive(&bin, "example.com/team/x")?;
        assert_eq!(a, b);
        std::fs::write(&bin, b"\x7fELF but truncated!")?;
        assert_ne!(a, archive(&bin, "example.com/team/x")?);
        Ok(())
    }

    /// A dynamically linked executable (a small system one, else this test
    /// binary) brings its interpreter and libraries, symlinks resolved.
    #[test]
    fn dynamic_binary_brings_its_loader_and_libraries() -> anyhow::Result<()> {
        let dynamic = |p: &Path| {
            let elf = ElfInfo::parse(&std::fs::read(p).ok()?)?;
            Some((p.to_path_buf(), elf.arch, elf.interpreter?))
        };
        let current = std::env::current_exe()?;
        let candidates = [Path::new("/usr/bin/env"), Path::new("/bin/true"), current.as_path()];
        let Some((exe, arch, interp)) = candidates.into_iter().find_map(dynamic) else {
            return Ok(()); // a static (musl) system and test build: nothing to bundle
        };
        let bytes = archive(&exe, DEFAULT_TAG)?;
        let (config, layer) = check_archive(&bytes)?;
        assert_eq!(config["architecture"], arch);
        let interp_rel = image_path(&interp)?;
        // Stored as a regular file with the resolved contents.
        let stored = find(&layer, &interp_rel)?;
        assert_eq!(stored.kind, tar::EntryType::Regular);
        assert_eq!(stored.data, std::fs::read(&interp)?);
        assert!(layer.iter().all(|e| e.kind != tar::EntryType::Symlink));
        assert!(layer.iter().any(|e| e.path.contains("libc.so")), "libc bundled");
        let env = config["config"]["Env"][0].as_str().context("Env")?;
        assert!(env.starts_with("LD_LIBRARY_PATH=/"), "{env}");
        Ok(())
    }

    #[test]
    fn elf_headers() {
        // A minimal ELF64 LE header with one PT_INTERP program header.
        let mut elf = vec![0u8; 0x200];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[18..20].copy_from_slice(&183u16.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&1u16.to_le_bytes());
        elf[64..68].copy_from_slice(&3u32.to_le_bytes());
        elf[72..80].copy_from_slice(&0x100u64.to_le_bytes());
        elf[96..104].copy_from_slice(&27u64.to_le_bytes());
        elf[0x100..0x100 + 27].copy_from_slice(b"/lib/ld-linux-aarch64.so.1\0");
        let info = ElfInfo::parse(&elf);
        assert_eq!(
            info,
            Some(ElfInfo {
                arch: "arm64".to_string(),
                variant: String::new(),
                interpreter: Some("/lib/ld-linux-aarch64.so.1".to_string())
            })
        );
        // No program headers: static.
        elf[56..58].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(ElfInfo::parse(&elf).and_then(|i| i.interpreter), None);
        // Truncated or not ELF.
        assert_eq!(ElfInfo::parse(&elf[..10]), None);
        assert_eq!(ElfInfo::parse(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn ldd_output() -> anyhow::Result<()> {
        let out = "\tlinux-vdso.so.1 (0x00007ffc8a5f2000)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0c1a2e0000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1a0ff000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1a33a000)\n\
                   \tlinux-gate.so.1 =>  (0x00007f0c00000000)\n";
        let libs = parse_ldd(out)?;
        assert_eq!(
            libs.into_iter().collect::<Vec<_>>(),
            ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libgcc_s.so.1", "/lib64/ld-linux-x86-64.so.2"]
        );
        let missing = parse_ldd("\tlibfoo.so.1 => not found\n").map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(missing, Err("shared library libfoo.so.1 not found".to_string()));
        assert!(parse_ldd("\tstatically linked\n")?.is_empty());
        Ok(())
    }

    #[test]
    fn tags() -> anyhow::Result<()> {
        assert_eq!(normalize_tag("luakit/frontend:dev")?, "luakit/frontend:dev");
        assert_eq!(normalize_tag("luakit/frontend")?, "luakit/frontend:latest");
        assert_eq!(normalize_tag("localhost:5000/lk")?, "localhost:5000/lk:latest");
        assert_eq!(normalize_tag("Registry.Example.com:5000/lk:V1")?, "Registry.Example.com:5000/lk:V1");
        assert!(normalize_tag("").is_err());
        assert!(normalize_tag("Luakit/frontend").is_err());
        assert!(normalize_tag("luakit/frontend:").is_err());
        assert!(normalize_tag("luakit@sha256:abc").is_err());
        assert!(normalize_tag("luakit frontend").is_err());
        Ok(())
    }

    #[test]
    fn paths_in_the_image() {
        assert_eq!(image_path("/lib64//ld.so").ok().as_deref(), Some("lib64/ld.so"));
        assert!(image_path("lib/x.so").is_err());
        assert!(image_path("/lib/../etc/passwd").is_err());
        assert!(image_path("/").is_err());
    }
}
