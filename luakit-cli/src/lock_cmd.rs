//! `luakit.lock` on the command line: the resolver `build`, `dag`,
//! `validate` and `test` use (the lock beside the script when there is one,
//! `--locked` to require it), and `luakit lock --verify`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use luakit::lock::{Lock, LockResolver, Missing, RecordingResolver};
use luakit::{BuildOptions, EvalOptions, ImageResolver, Platform, Script, StaticResolver, Unresolved};

use crate::{EvalArgs, LockArgs, UsageError};

/// The image resolver of a script evaluation: the lock beside `script`
/// when there is one (with `--locked`, a reference it lacks fails the
/// script), over the images of `--resolved-images`, else none (no daemon to
/// ask: images stay unresolved).
pub fn resolver(script: Option<&Path>, a: &EvalArgs) -> anyhow::Result<Arc<dyn ImageResolver>> {
    let fallback: Arc<dyn ImageResolver> = match &a.resolved_images {
        None => Arc::new(Unresolved),
        Some(path) => {
            let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Arc::new(StaticResolver::from_json(&json).with_context(|| format!("in {}", path.display()))?)
        }
    };
    let Some(script) = script else {
        if a.locked {
            return Err(UsageError("--locked needs a script (its luakit.lock is beside it)".to_string()).into());
        }
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

/// `luakit lock`.
pub fn lock(a: LockArgs) -> anyhow::Result<ExitCode> {
    if !a.verify {
        return Err(UsageError(
            "luakit lock: only --verify is available in this build (resolving through a registry is not built in yet)"
                .to_string(),
        )
        .into());
    }
    let path = Lock::path_for_script(&a.script);
    let Some(lock) = Lock::read(&path)? else {
        anyhow::bail!("there is no {}; run `luakit lock`", path.display());
    };
    let lock = Arc::new(lock);
    let platforms = if a.platforms.is_empty() { vec![Platform::host()] } else { a.platforms.clone() };
    let script = Script::from_path(&a.script)?;
    let mut missing = Vec::new();
    for platform in &platforms {
        let recorder = Arc::new(RecordingResolver::new(Arc::new(LockResolver::new(
            lock.clone(),
            Missing::Fallback(Arc::new(Unresolved)),
        ))));
        let opts = BuildOptions {
            eval: EvalOptions {
                target_platform: platform.clone(),
                args: a.args.iter().cloned().collect(),
                ..EvalOptions::default()
            },
            daemon_caps: None,
            name_ops: false,
        };
        luakit::build(&script, &opts, recorder.clone())
            .with_context(|| format!("cannot evaluate {} for {platform}", a.script.display()))?;
        for used in recorder.used() {
            let platform = Platform::parse(&used.platform).unwrap_or_else(|_| platform.clone());
            if lock.get(&used.reference, &platform).is_none() {
                missing.push(format!("{} for {}", used.reference, used.platform));
            }
        }
    }
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        anyhow::bail!("{} lacks {}; run `luakit lock`", path.display(), missing.join(", "));
    }
    eprintln!("{}: {} image(s) locked, all present and intact", path.display(), lock.images.len());
    Ok(ExitCode::SUCCESS)
}
