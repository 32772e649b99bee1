//! `luakit.lock`: the base images a script builds on, pinned with their
//! exact configs, so that the same script gives the same Definition and
//! image config on every route and offline (docs/user-guide.md,
//! "Reproducible builds").
//!
//! The file is TOML, like `Cargo.lock`, written next to the main script:
//!
//! ```toml
//! # This file is written by `luakit lock`. Do not edit it by hand.
//! version = 1
//!
//! [[image]]
//! ref = "docker.io/library/alpine:3.19"
//! digest = "sha256:…"          # the top-level digest (index or manifest)
//! media_type = "application/vnd.oci.image.index.v1+json"
//!
//! [[image.platform]]
//! platform = "linux/amd64"
//! manifest = "sha256:…"        # that platform's manifest
//! config_digest = "sha256:…"   # sha256 of `config`, checked on reading
//! config = '{"architecture":"amd64",…}'
//! ```
//!
//! `config` holds the config blob's exact bytes as a TOML string (a config
//! is JSON, so UTF-8; TOML strings round-trip every Unicode text exactly),
//! so a review sees what changed. Images are sorted by reference and
//! platforms by platform; there are no timestamps; the same [`Lock`] always
//! serializes to the same bytes. A file of another `version` is refused.
//!
//! [`LockResolver`] resolves `bk.image` references from a lock, returning
//! the top-level digest (the source is pinned to it, as BuildKit's
//! `ResolveImageConfig` pins it) and the config parsed from the exact bytes.

mod resolver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use luakit_graph::Platform;

pub use resolver::{LockResolver, Missing, RecordingResolver, Used};

/// The file name of the lock, next to the main script.
pub const LOCK_FILE: &str = "luakit.lock";

/// The lock format this crate reads and writes.
pub const LOCK_VERSION: i64 = 1;

const HEADER: &str = "# This file is written by `luakit lock`. Do not edit it by hand.\n";

/// Why a lock could not be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The file could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or not the lock's shape.
    #[error("{}: not a valid lock file", path.display())]
    Syntax {
        /// The file (`luakit.lock` when parsed from bytes).
        path: PathBuf,
        /// The TOML error (it names the line and column).
        #[source]
        source: toml::de::Error,
    },
    /// A `version` this build of luakit does not know.
    #[error("{}: lock file version {found} is not supported (this luakit reads version {LOCK_VERSION}); regenerate it with `luakit lock`", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found (`none` when missing).
        found: String,
    },
    /// An entry that is inconsistent: a bad reference or platform, a
    /// duplicate, a config whose digest does not match.
    #[error("{}: image '{reference}': {reason}", path.display())]
    Entry {
        /// The file.
        path: PathBuf,
        /// The image's `ref`.
        reference: String,
        /// What is wrong.
        reason: String,
    },
}

/// A lock: the pinned images, by normalized reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    /// Normalized reference (`docker.io/library/alpine:3.19`) → its pin.
    pub images: BTreeMap<String, LockedImage>,
}

/// One image reference, pinned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedImage {
    /// The top-level digest (the index's, or the manifest's when the
    /// reference names a single manifest): what the source is pinned to.
    pub digest: String,
    /// The top-level media type.
    pub media_type: String,
    /// Per platform (`linux/arm64/v8`, normalized): its pin.
    pub platforms: BTreeMap<String, LockedPlatform>,
}

/// One platform of a locked image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedPlatform {
    /// The platform's manifest digest.
    pub manifest: String,
    /// `sha256:` of [`LockedPlatform::config`].
    pub config_digest: String,
    /// The config blob, exactly as the registry served it.
    pub config: String,
}

impl LockedPlatform {
    /// A platform entry for `config` (its digest computed).
    pub fn new(manifest: impl Into<String>, config: impl Into<String>) -> Self {
        let config = config.into();
        LockedPlatform { manifest: manifest.into(), config_digest: sha256_digest(config.as_bytes()), config }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The key of a platform in the lock: normalized, `os/arch[/variant]`.
pub fn platform_key(platform: &Platform) -> String {
    platform.normalized().to_string()
}

// The file's shape. Vectors (sorted on writing) rather than maps keep the
// `[[image]]` tables in one place each and reviewable.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLock {
    version: i64,
    #[serde(default, rename = "image")]
    images: Vec<FileImage>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileImage {
    #[serde(rename = "ref")]
    reference: String,
    digest: String,
    media_type: String,
    #[serde(default, rename = "platform")]
    platforms: Vec<FilePlatform>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePlatform {
    platform: String,
    manifest: String,
    config_digest: String,
    config: String,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: Option<toml::Value>,
}

impl Lock {
    /// The lock file of a script: `luakit.lock` in its directory.
    pub fn path_for_script(script: &Path) -> PathBuf {
        script.parent().unwrap_or(Path::new("")).join(LOCK_FILE)
    }

    /// Reads and checks the lock at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Lock>, LockError> {
        match std::fs::read(path) {
            Ok(bytes) => Lock::parse_at(path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LockError::Io { action: "read", path: path.to_path_buf(), source }),
        }
    }

    /// Parses and checks a lock's bytes (errors name `luakit.lock`).
    pub fn parse(bytes: &[u8]) -> Result<Lock, LockError> {
        Lock::parse_at(Path::new(LOCK_FILE), bytes)
    }

    /// Parses and checks a lock's bytes; errors name `path`.
    ///
    /// Checked: the version; every reference is normalized and appears
    /// once; every platform parses, is normalized and appears once; every
    /// config matches its `config_digest` and parses as an image config.
    pub fn parse_at(path: &Path, bytes: &[u8]) -> Result<Lock, LockError> {
        let syntax = |source| LockError::Syntax { path: path.to_path_buf(), source };
        let text = String::from_utf8_lossy(bytes);
        let version: VersionOnly = toml::from_str(&text).map_err(syntax)?;
        match version.version {
            Some(toml::Value::Integer(LOCK_VERSION)) => {}
            other => {
                let found = other.map_or_else(|| "none".to_string(), |v| v.to_string());
                return Err(LockError::Version { path: path.to_path_buf(), found });
            }
        }
        let file: FileLock = toml::from_str(&text).map_err(syntax)?;
        let mut lock = Lock::default();
        for image in file.images {
            let bad = |reason: String| LockError::Entry {
                path: path.to_path_buf(),
                reference: image.reference.clone(),
                reason,
            };
            match luakit_graph::normalize_image_ref(&image.reference) {
                Ok(n) if n == image.reference => {}
                Ok(n) => return Err(bad(format!("the reference is not normalized (expected '{n}')"))),
                Err(e) => return Err(bad(e.to_string())),
            }
            if !is_digest(&image.digest) {
                return Err(bad(format!("digest '{}' is not sha256:<64 hex>", image.digest)));
            }
            let mut platforms = BTreeMap::new();
            for p in &image.platforms {
                let parsed = Platform::parse(&p.platform).map_err(|e| bad(e.to_string()))?;
                let key = platform_key(&parsed);
                if key != p.platform {
                    return Err(bad(format!("platform '{}' is not normalized (expected '{key}')", p.platform)));
                }
                if !is_digest(&p.manifest) {
                    return Err(bad(format!("{key}: manifest '{}' is not sha256:<64 hex>", p.manifest)));
                }
                let actual = sha256_digest(p.config.as_bytes());
                if actual != p.config_digest {
                    return Err(bad(format!(
                        "{key}: the config does not match its config_digest {} (it hashes to {actual})",
                        p.config_digest
                    )));
                }
                if let Err(e) = luakit_image_config::ImageConfig::from_json(p.config.as_bytes()) {
                    return Err(bad(format!("{key}: the config is not an image config: {e}")));
                }
                let entry = LockedPlatform {
                    manifest: p.manifest.clone(),
                    config_digest: p.config_digest.clone(),
                    config: p.config.clone(),
                };
                if platforms.insert(key.clone(), entry).is_some() {
                    return Err(bad(format!("platform {key} appears twice")));
                }
            }
            let locked = LockedImage { digest: image.digest.clone(), media_type: image.media_type.clone(), platforms };
            if lock.images.insert(image.reference.clone(), locked).is_some() {
                return Err(bad("the image appears twice".to_string()));
            }
        }
        Ok(lock)
    }

    /// The file's bytes: sorted, no timestamps; the same lock gives the
    /// same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let file = FileLock {
            version: LOCK_VERSION,
            images: self
                .images
                .iter()
                .map(|(reference, image)| FileImage {
                    reference: reference.clone(),
                    digest: image.digest.clone(),
                    media_type: image.media_type.clone(),
                    platforms: image
                        .platforms
                        .iter()
                        .map(|(platform, p)| FilePlatform {
                            platform: platform.clone(),
                            manifest: p.manifest.clone(),
                            config_digest: p.config_digest.clone(),
                            config: p.config.clone(),
                        })
                        .collect(),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("the lock's shape is plain TOML tables and strings");
        let mut out = String::from(HEADER);
        out.push_str(&body);
        out.into_bytes()
    }

    /// Writes the lock to `path` atomically (a sibling temporary file,
    /// synced, renamed over it).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io { action: "write", path: path.to_path_buf(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let result = (|| {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// The entry for `reference` (normalized) on `platform`, if locked.
    pub fn get(&self, reference: &str, platform: &Platform) -> Option<(&LockedImage, &LockedPlatform)> {
        let image = self.images.get(reference)?;
        let p = image.platforms.get(&platform_key(platform))?;
        Some((image, p))
    }
}

/// `sha256:` and 64 lower-case hex digits.
fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[cfg(test)]
mod tests;
