//! Resolves luakit's base images through a registry (the OCI distribution
//! API v2), for `luakit lock` and `luakit build --resolve`.
//!
//! This is layer 4 of luakit (ARCHITECTURE.md in the repository): it
//! depends on the `luakit` crate and implements its resolver seam
//! ([`luakit::ImageResolver`]); only the CLI uses it. It lives in its own
//! crate so that the gateway frontend, which resolves through BuildKit,
//! does not link an HTTP/TLS stack.
//!
//! # Design
//!
//! - [`Registry`] is the protocol client: token auth challenges, manifests
//!   (OCI index and manifest, Docker manifest list and schema 2; schema 1
//!   is refused), platform selection (variants; attestation manifests
//!   skipped), config blobs verified against their sha256.
//! - [`Target`] splits a reference into the registry host, repository and
//!   tag or digest the API asks for.
//! - [`DockerConfig`] reads credentials from Docker's `config.json` (inline
//!   `auths` entries and credential helpers), as `docker login` wrote them.
//! - [`RegistryResolver`] plugs the client into luakit's resolver seam and
//!   keeps what it resolved as [`luakit::lock::Lock`] entries, so `luakit
//!   lock` can write them.
//!
//! # Invariants
//!
//! Registries on this machine are spoken to over plain HTTP, others over
//! HTTPS unless listed as insecure ([`RegistryOptions`]); content that does
//! not match its digest is refused; every failure is an [`Error`] naming
//! the registry or reference and what went wrong; credentials are never
//! printed (`Credential`'s `Debug` hides the secret).
//!
//! # Example
//!
//! ```
//! use luakit_resolve::{DockerConfig, Target};
//!
//! let target = Target::parse("alpine:3.19")?;
//! assert_eq!(target.reference, "docker.io/library/alpine:3.19");
//! assert_eq!(target.host, "registry-1.docker.io"); // Docker Hub's API host
//! assert_eq!((target.repository.as_str(), target.object.as_str()), ("library/alpine", "3.19"));
//! assert!(Target::parse("127.0.0.1:5000/app@sha256:0123456789012345678901234567890123456789012345678901234567890123")?.is_loopback());
//!
//! // Credentials as `docker login` writes them (`auth` is base64 of `user:password`).
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("config.json");
//! std::fs::write(&path, r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"}}}"#)?;
//! let credential = DockerConfig::load(&path)?.credential("127.0.0.1:5000")?.expect("an entry");
//! assert_eq!((credential.username.as_str(), credential.secret.as_str()), ("user", "pass"));
//! assert!(!format!("{credential:?}").contains("pass"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod credentials;
mod reference;
mod registry;

use std::path::PathBuf;
use std::sync::Mutex;

use luakit::lock::{Lock, LockedImage, LockedPlatform, platform_key};
use luakit::{ImageConfig, ImageResolver, Platform, ResolveError, ResolveMode, ResolvedImage};

pub use credentials::{Credential, DOCKER_HUB_KEY, DockerConfig};
pub use reference::Target;
pub use registry::{Registry, RegistryOptions, Resolved};

/// Why a registry could not resolve a reference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Not an image reference.
    #[error("'{reference}' is not an image reference: {reason}")]
    Reference {
        /// The reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// The registry could not be reached (connection, TLS, timeout).
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable {
        /// The registry (or token endpoint).
        registry: String,
        /// The transport error.
        reason: String,
    },
    /// The registry (or its token endpoint) refused the credentials.
    #[error(
        "registry {registry} refused access (HTTP {status}): check the credentials in Docker's config.json (`docker login {registry}`)"
    )]
    AuthRefused {
        /// The registry.
        registry: String,
        /// 401 or 403.
        status: u16,
    },
    /// The tag, manifest or blob does not exist.
    #[error("{reference}: not found in the registry ({what}): unknown tag or repository?")]
    NotFound {
        /// The reference.
        reference: String,
        /// The object asked for (`manifests/3.19`).
        what: String,
    },
    /// Another HTTP error.
    #[error("registry {registry} answered HTTP {status}: {message}")]
    Status {
        /// The registry.
        registry: String,
        /// The status.
        status: u16,
        /// The start of the body.
        message: String,
    },
    /// A manifest that cannot be used.
    #[error("{reference}: {reason}")]
    Manifest {
        /// The reference.
        reference: String,
        /// Why.
        reason: String,
    },
    /// Content that does not match its digest.
    #[error("{reference}: content does not match its digest: {reason}")]
    Integrity {
        /// The reference.
        reference: String,
        /// What differed.
        reason: String,
    },
    /// No manifest for the platform.
    #[error("{reference} has no image for {platform} (it has: {})", offered.join(", "))]
    NoPlatform {
        /// The reference.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms in the index.
        offered: Vec<String>,
    },
    /// Docker's `config.json` is unreadable or wrong.
    #[error("{}: {reason}", path.display())]
    DockerConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A credential helper failed.
    #[error("credential helper {program}: {reason}")]
    CredentialHelper {
        /// `docker-credential-<name>`.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// The served config is not an image config.
    #[error("{reference}: the image config is invalid")]
    Config {
        /// The reference.
        reference: String,
        /// The parse error.
        #[source]
        source: luakit::ConfigError,
    },
}

/// Resolves `bk.image` through a [`Registry`], remembering every answer
/// as a lock entry ([`RegistryResolver::resolved`]).
#[derive(Debug)]
pub struct RegistryResolver {
    registry: Registry,
    resolved: Mutex<Lock>,
}

impl RegistryResolver {
    /// A resolver over `registry`.
    pub fn new(registry: Registry) -> Self {
        RegistryResolver { registry, resolved: Mutex::new(Lock::default()) }
    }

    /// The registry client.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything resolved so far, as lock entries.
    pub fn resolved(&self) -> Lock {
        self.resolved.lock().map(|l| l.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Resolves `reference` for `platform` and records it; with `pin`
    /// (a top-level digest), asks for that digest rather than the tag, so
    /// a new platform of a locked image comes from the same index.
    pub fn resolve_entry(&self, reference: &str, pin: Option<&str>, platform: &Platform) -> Result<Resolved, Error> {
        let target = Target::parse(reference)?;
        let r = match pin {
            Some(digest) if !target.reference.contains('@') => {
                self.registry.resolve(&format!("{}@{digest}", target.reference), platform)?
            }
            _ => self.registry.resolve(reference, platform)?,
        };
        let mut lock = self.resolved.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let image = lock.images.entry(target.reference).or_insert_with(|| LockedImage {
            digest: r.digest.clone(),
            media_type: r.media_type.clone(),
            ..LockedImage::default()
        });
        image.digest = r.digest.clone();
        image.media_type = r.media_type.clone();
        image.platforms.insert(platform_key(platform), LockedPlatform::new(r.manifest.clone(), r.config.clone()));
        Ok(r)
    }
}

impl ImageResolver for RegistryResolver {
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        _: ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let r = self.resolve_entry(normalized_ref, None, platform)?;
        let config = ImageConfig::from_json(r.config.as_bytes())
            .map_err(|source| Error::Config { reference: normalized_ref.to_string(), source })?;
        Ok(Some(ResolvedImage { digest: r.digest, config }))
    }
}
