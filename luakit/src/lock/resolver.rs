//! Resolvers around a lock: [`LockResolver`] answers from `luakit.lock`
//! (and, for what is not locked, fails or asks another resolver);
//! [`RecordingResolver`] notes every reference and platform a script asks
//! for, so that `luakit lock` knows what to pin and `--verify` what must be
//! there.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use luakit_graph::{Platform, ResolveMode};
use luakit_image_config::ImageConfig;
use luakit_lua::{ImageResolver, ResolveError, ResolvedImage};

use super::{LOCK_FILE, Lock, platform_key};

/// What a [`LockResolver`] does with a reference the lock does not have.
#[derive(Clone)]
pub enum Missing {
    /// Fail the script at the `bk.image` call (`--locked`).
    Fail,
    /// Ask this resolver (the registry, the gateway, or [`crate::Unresolved`]).
    Fallback(Arc<dyn ImageResolver>),
}

impl std::fmt::Debug for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Fail => f.write_str("Fail"),
            Missing::Fallback(_) => f.write_str("Fallback(..)"),
        }
    }
}

/// Resolves references from a [`Lock`]: the top-level digest (the source
/// is pinned to it) and the config parsed from the locked bytes, whatever
/// the `resolve` mode (the lock is the answer, offline).
#[derive(Debug, Clone)]
pub struct LockResolver {
    lock: Arc<Lock>,
    missing: Missing,
}

impl LockResolver {
    /// A resolver over `lock`, doing `missing` for what it lacks.
    pub fn new(lock: Arc<Lock>, missing: Missing) -> Self {
        LockResolver { lock, missing }
    }

    /// The lock it answers from.
    pub fn lock(&self) -> &Lock {
        &self.lock
    }
}

/// Why a reference is not in the lock (with `--locked`).
#[derive(Debug, thiserror::Error)]
#[error("not in {LOCK_FILE} for {platform}; run `luakit lock`")]
struct NotLocked {
    platform: String,
}

impl ImageResolver for LockResolver {
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        mode: ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        match self.lock.get(normalized_ref, platform) {
            Some((image, p)) => {
                // Checked when the lock was parsed; parsed again here so the
                // config is exactly what those bytes say.
                let config = ImageConfig::from_json(p.config.as_bytes())?;
                Ok(Some(ResolvedImage { digest: image.digest.clone(), config }))
            }
            None => match &self.missing {
                Missing::Fail => Err(Box::new(NotLocked { platform: platform_key(platform) })),
                Missing::Fallback(next) => next.resolve(normalized_ref, platform, mode),
            },
        }
    }
}

/// One reference a script asked for, on one platform.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Used {
    /// The normalized reference.
    pub reference: String,
    /// The platform, normalized (`os/arch[/variant]`).
    pub platform: String,
}

/// Passes every request to an inner resolver and notes it.
pub struct RecordingResolver {
    inner: Arc<dyn ImageResolver>,
    used: Mutex<BTreeSet<Used>>,
}

impl std::fmt::Debug for RecordingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingResolver").field("used", &self.used()).finish_non_exhaustive()
    }
}

impl RecordingResolver {
    /// Records what is asked of `inner`.
    pub fn new(inner: Arc<dyn ImageResolver>) -> Self {
        RecordingResolver { inner, used: Mutex::new(BTreeSet::new()) }
    }

    /// Every reference and platform asked for so far, sorted.
    pub fn used(&self) -> BTreeSet<Used> {
        self.used.lock().map(|u| u.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

impl ImageResolver for RecordingResolver {
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        mode: ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let used = Used { reference: normalized_ref.to_string(), platform: platform_key(platform) };
        match self.used.lock() {
            Ok(mut u) => u.insert(used),
            Err(poisoned) => poisoned.into_inner().insert(used),
        };
        self.inner.resolve(normalized_ref, platform, mode)
    }
}
