//! The resolver seam: every `bk.image` reference is resolved through an
//! [`ImageResolver`] handed to [`crate::build`] — the frontend's gateway
//! resolver, a daemon or registry client, a lock file. This module has the
//! two that need nothing outside: [`Unresolved`] (no resolution: images
//! stay as written, their configs unknown) and [`StaticResolver`] (images
//! resolved ahead of time, from a map or a JSON document).

use std::collections::BTreeMap;

use luakit_graph::{Platform, ResolveMode};
use luakit_image_config::ImageConfig;
use luakit_lua::{ImageResolver, ResolveError, ResolvedImage};

use crate::Error;

/// Resolves nothing: every image stays unresolved (not pinned to a digest,
/// its config unknown), as `luakit build` has it without a daemon.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unresolved;

impl ImageResolver for Unresolved {
    fn resolve(&self, _: &str, _: &Platform, _: ResolveMode) -> Result<Option<ResolvedImage>, ResolveError> {
        Ok(None)
    }
}

/// Images resolved ahead of time: normalized reference → digest and config
/// (one config per reference, whatever the platform asked for). A reference
/// it does not know fails the script, as a registry would.
///
/// The JSON form ([`StaticResolver::from_json`]) maps references (normalized
/// on reading, so `alpine:3.19` is fine) to a digest and the config as
/// `ResolveImageConfig` returns it:
///
/// ```json
/// {"alpine:3.19": {"digest": "sha256:…", "config": {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]}}}}
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    images: BTreeMap<String, ResolvedImage>,
}

impl StaticResolver {
    /// A resolver that knows no image yet.
    pub fn new() -> Self {
        StaticResolver::default()
    }

    /// Adds (or replaces) the resolution of `reference`, normalized as
    /// `bk.image` normalizes it.
    pub fn insert(&mut self, reference: &str, image: ResolvedImage) -> Result<(), Error> {
        let normalized = luakit_graph::normalize_image_ref(reference).map_err(|e| Error::Resolutions {
            reason: format!("'{reference}' is not an image reference"),
            source: Some(Box::new(e)),
        })?;
        self.images.insert(normalized, image);
        Ok(())
    }

    /// Reads the JSON form (see the type's docs).
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let bad = |reason: String, source: Option<Box<dyn std::error::Error + Send + Sync>>| Error::Resolutions {
            reason,
            source,
        };
        let doc: BTreeMap<String, serde_json::Value> = serde_json::from_slice(json)
            .map_err(|e| bad("expected a JSON object of image references".to_string(), Some(Box::new(e))))?;
        let mut resolver = StaticResolver::new();
        for (reference, entry) in doc {
            let digest = entry.get("digest").and_then(|d| d.as_str()).unwrap_or_default().to_string();
            let config = entry
                .get("config")
                .ok_or_else(|| bad(format!("'{reference}' has no \"config\""), None))
                .and_then(|c| {
                    ImageConfig::from_json(c.to_string().as_bytes())
                        .map_err(|e| bad(format!("the config of '{reference}'"), Some(Box::new(e))))
                })?;
            resolver.insert(&reference, ResolvedImage { digest, config })?;
        }
        Ok(resolver)
    }
}

impl ImageResolver for StaticResolver {
    fn resolve(
        &self,
        normalized_ref: &str,
        _: &Platform,
        _: ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        match self.images.get(normalized_ref) {
            Some(image) => Ok(Some(image.clone())),
            None => Err(format!("not among the {} resolved images given", self.images.len()).into()),
        }
    }
}
