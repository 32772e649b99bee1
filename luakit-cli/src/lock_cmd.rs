//! `luakit.lock` on the command line: the resolver `build`, `dag`,
//! `validate` and `test` use (the lock beside the script when there is one,
//! `--locked` to require it, `--resolve` to ask registries for the rest),
//! and `luakit lock` (write, `--update`, `--verify [--remote]`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use luakit::lock::{Lock, LockResolver, Missing, RecordingResolver, Used};
use luakit::{
    BuildOptions, EvalOptions, ImageResolver, Platform, ResolveError, ResolveMode, ResolvedImage, Script,
    StaticResolver, Unresolved,
};

use crate::{EvalArgs, LockArgs};

/// The image resolver of a script evaluation: the lock beside `script`
/// when there is one (with `--locked`, a reference it lacks fails the
/// script), over the registries (`--resolve`) or the images of
/// `--resolved-images`, else none (images stay unresolved).
pub fn resolver(script: Option<&Path>, a: &EvalArgs) -> anyhow::Result<Arc<dyn ImageResolver>> {
    let fallback: Arc<dyn ImageResolver> = match &a.resolved_images {
        _ if a.resolve => registry::resolver(&a.insecure_registries, a.timeout)?,
        None => Arc::new(Unresolved),
        Some(path) => {
            let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Arc::new(StaticResolver::from_json(&json).with_context(|| format!("in {}", path.display()))?)
        }
    };
    let Some(script) = script else {
        return Ok(fallback);
    };
    let path = Lock::path_for_script(script);
    match Lock::read(&path)? {
        Some(lock) => {
            let missing = if a.locked { Missing::Fail } else { Missing::Fallback(fallback) };
            Ok(Arc::new(LockResolver::new(Arc::new(lock), missing)))
        }
        None if a.locked => anyhow::bail!("--locked: there is no {}; run `luakit lock`", path.display()),
        None => Ok(fallback),
    }
}

/// Evaluates `script` for `platform` through `resolver`, returning what it asked for.
fn used_images(
    script: &Script,
    a: &LockArgs,
    platform: &Platform,
    resolver: Arc<dyn ImageResolver>,
) -> anyhow::Result<Vec<Used>> {
    let recorder = Arc::new(RecordingResolver::new(resolver));
    let opts = BuildOptions {
        eval: EvalOptions {
            target_platform: platform.clone(),
            args: a.args.iter().cloned().collect(),
            ..EvalOptions::default()
        },
        daemon_caps: None,
        name_ops: false,
    };
    luakit::build(script, &opts, recorder.clone())
        .with_context(|| format!("cannot evaluate {} for {platform}", a.script.display()))?;
    Ok(recorder.used().into_iter().collect())
}

/// `luakit lock`.
pub fn lock(a: LockArgs) -> anyhow::Result<ExitCode> {
    let path = Lock::path_for_script(&a.script);
    let platforms: Vec<Platform> = if a.platforms.is_empty() {
        vec![Platform::host()]
    } else {
        a.platforms.iter().flat_map(|p| p.0.iter().cloned()).collect()
    };
    let script = Script::from_path(&a.script)?;
    if a.verify {
        return verify(&a, &path, &script, &platforms);
    }

    let old = Lock::read(&path)?.unwrap_or_default();
    let mut kept = old.clone();
    match &a.update {
        Some(refs) if refs.is_empty() => kept.images.clear(),
        Some(refs) => {
            for r in refs {
                let normalized = luakit::graph::normalize_image_ref(r)
                    .with_context(|| format!("--update {r}: not an image reference"))?;
                if kept.images.remove(&normalized).is_none() {
                    anyhow::bail!("--update {r}: {normalized} is not in {}", path.display());
                }
            }
        }
        None => {}
    }
    let registry = registry::resolver_typed(&a.insecure_registries, Duration::from_secs(30))?;
    let kept = Arc::new(kept);
    for platform in &platforms {
        let locker = Arc::new(Locker { lock: kept.clone(), registry: registry.clone() });
        used_images(&script, &a, platform, locker)?;
    }
    let mut new = (*kept).clone();
    for (reference, image) in registry.resolved().images {
        let entry = new
            .images
            .entry(reference)
            .or_insert_with(|| luakit::lock::LockedImage { platforms: Default::default(), ..image.clone() });
        entry.digest = image.digest;
        entry.media_type = image.media_type;
        entry.platforms.extend(image.platforms);
    }
    // An --update of an image the script no longer uses keeps its old pin.
    for (reference, image) in &old.images {
        new.images.entry(reference.clone()).or_insert_with(|| image.clone());
    }
    for (reference, image) in &new.images {
        match old.images.get(reference) {
            Some(before) if before.digest != image.digest => {
                println!("{reference} {} → {}", before.digest, image.digest);
            }
            Some(_) => {}
            None => println!("{reference} {}", image.digest),
        }
    }
    if new != old || !path.exists() {
        new.write(&path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit lock --verify [--remote]`.
fn verify(a: &LockArgs, path: &Path, script: &Script, platforms: &[Platform]) -> anyhow::Result<ExitCode> {
    let Some(lock) = Lock::read(path)? else {
        anyhow::bail!("there is no {}; run `luakit lock`", path.display());
    };
    let lock = Arc::new(lock);
    let mut missing = Vec::new();
    for platform in platforms {
        let resolver = Arc::new(LockResolver::new(lock.clone(), Missing::Fallback(Arc::new(Unresolved))));
        for used in used_images(script, a, platform, resolver)? {
            let p = Platform::parse(&used.platform).unwrap_or_else(|_| platform.clone());
            if lock.get(&used.reference, &p).is_none() {
                missing.push(format!("{} for {}", used.reference, used.platform));
            }
        }
    }
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        anyhow::bail!("{} lacks {}; run `luakit lock`", path.display(), missing.join(", "));
    }
    if a.remote {
        let drift = registry::drift(&lock, &a.insecure_registries)?;
        if !drift.is_empty() {
            for line in &drift {
                println!("{line}");
            }
            anyhow::bail!(
                "{}: {} image(s) moved in their registries; run `luakit lock --update`",
                path.display(),
                drift.len()
            );
        }
    }
    eprintln!("{}: {} image(s) locked, all present and intact", path.display(), lock.images.len());
    Ok(ExitCode::SUCCESS)
}

/// `luakit lock`'s resolver: the kept entries of the lock; a new platform
/// of a locked image from the locked digest; anything else from the tag.
struct Locker {
    lock: Arc<Lock>,
    registry: Arc<registry::Resolver>,
}

impl ImageResolver for Locker {
    fn resolve(
        &self,
        normalized_ref: &str,
        platform: &Platform,
        mode: ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        if self.lock.get(normalized_ref, platform).is_some() {
            return LockResolver::new(self.lock.clone(), Missing::Fail).resolve(normalized_ref, platform, mode);
        }
        let pin = self.lock.images.get(normalized_ref).map(|i| i.digest.as_str());
        registry::resolve(&self.registry, normalized_ref, pin, platform)
    }
}

#[cfg(feature = "registry")]
mod registry {
    //! The registry side, with the `registry` feature.

    use std::sync::Arc;
    use std::time::Duration;

    use luakit::lock::Lock;
    use luakit::{ImageConfig, ImageResolver, Platform, ResolveError, ResolvedImage};
    use luakit_resolve::{DockerConfig, Registry, RegistryOptions, RegistryResolver};

    pub type Resolver = RegistryResolver;

    pub fn resolver_typed(insecure: &[String], timeout: Duration) -> anyhow::Result<Arc<Resolver>> {
        let credentials = DockerConfig::load_default()?;
        let options = RegistryOptions { insecure: insecure.to_vec(), timeout };
        Ok(Arc::new(RegistryResolver::new(Registry::new(options, credentials))))
    }

    pub fn resolver(insecure: &[String], timeout: Duration) -> anyhow::Result<Arc<dyn ImageResolver>> {
        Ok(resolver_typed(insecure, timeout)?)
    }

    pub fn resolve(
        r: &Resolver,
        reference: &str,
        pin: Option<&str>,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let resolved = r.resolve_entry(reference, pin, platform)?;
        let config = ImageConfig::from_json(resolved.config.as_bytes())?;
        Ok(Some(ResolvedImage { digest: resolved.digest, config }))
    }

    /// `ref locked → now` for each locked tag that names another digest now.
    pub fn drift(lock: &Lock, insecure: &[String]) -> anyhow::Result<Vec<String>> {
        let credentials = DockerConfig::load_default()?;
        let registry = Registry::new(
            RegistryOptions { insecure: insecure.to_vec(), timeout: Duration::from_secs(30) },
            credentials,
        );
        let mut out = Vec::new();
        for (reference, image) in &lock.images {
            if reference.contains('@') {
                continue;
            }
            let (now, _) = registry.head(reference)?;
            if now != image.digest {
                out.push(format!("{reference} {} → {now}", image.digest));
            }
        }
        Ok(out)
    }
}

#[cfg(not(feature = "registry"))]
mod registry {
    //! Without the `registry` feature: every registry operation is refused.

    use std::sync::Arc;
    use std::time::Duration;

    use luakit::lock::Lock;
    use luakit::{ImageResolver, Platform, ResolveError, ResolvedImage};

    const NO: &str =
        "this luakit was built without the `registry` feature: it cannot resolve images through registries";

    pub enum Resolver {}

    impl Resolver {
        pub fn resolved(&self) -> Lock {
            match *self {}
        }
    }

    pub fn resolver_typed(_: &[String], _: Duration) -> anyhow::Result<Arc<Resolver>> {
        anyhow::bail!(NO)
    }

    pub fn resolver(_: &[String], _: Duration) -> anyhow::Result<Arc<dyn ImageResolver>> {
        anyhow::bail!(NO)
    }

    pub fn resolve(
        r: &Resolver,
        _: &str,
        _: Option<&str>,
        _: &Platform,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        match *r {}
    }

    pub fn drift(_: &Lock, _: &[String]) -> anyhow::Result<Vec<String>> {
        anyhow::bail!(NO)
    }
}
