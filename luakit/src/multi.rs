//! Builds for several target platforms: the script is evaluated once per
//! platform (`bk.target_platform()` differs in each), the evaluations run in
//! parallel, and each goes through [`crate::build`] as a single-platform
//! build does. What a frontend returns as one image index, and what `luakit
//! dag`/`validate` show and check per platform.

use std::sync::Arc;

use luakit_graph::Platform;
use luakit_lua::ImageResolver;

use crate::{Build, BuildOptions, Error, Script, Validated};

/// Parses a comma-separated platform list (`linux/amd64,linux/arm/v7`, as
/// `--platform` and the frontend's `platform` option give it) into
/// normalised platforms, in order, without duplicates. Empty items are
/// skipped; an empty list gives an empty vector.
pub fn parse_platforms(list: &str) -> Result<Vec<Platform>, luakit_graph::GraphError> {
    let mut out: Vec<Platform> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p = Platform::parse(item)?.normalized();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Builds `script` once for each of `platforms` (`opts.eval.target_platform`
/// is replaced by each in turn), in parallel, and returns the builds in the
/// order of `platforms`. The first failure, in that order, is returned
/// wrapped in [`Error::Platform`] naming its platform. With one platform this
/// is [`crate::build`] (its error is not wrapped).
pub fn build_platforms(
    script: &Script,
    opts: &BuildOptions,
    platforms: &[Platform],
    resolver: Arc<dyn ImageResolver>,
) -> Result<Vec<Build>, Error> {
    per_platform(script, opts, platforms, resolver, crate::build)
}

/// [`crate::validate`] for each of `platforms`, as [`build_platforms`]
/// builds them (same order, same errors).
pub fn validate_platforms(
    script: &Script,
    opts: &BuildOptions,
    platforms: &[Platform],
    resolver: Arc<dyn ImageResolver>,
) -> Result<Vec<Validated>, Error> {
    per_platform(script, opts, platforms, resolver, crate::validate)
}

/// One platform's build or check.
type Each<T> = fn(&Script, &BuildOptions, Arc<dyn ImageResolver>) -> Result<T, Error>;

fn per_platform<T: Send>(
    script: &Script,
    opts: &BuildOptions,
    platforms: &[Platform],
    resolver: Arc<dyn ImageResolver>,
    each: Each<T>,
) -> Result<Vec<T>, Error> {
    if let [only] = platforms {
        let mut o = opts.clone();
        o.eval.target_platform = only.clone();
        return Ok(vec![each(script, &o, resolver)?]);
    }
    let results: Vec<Result<T, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = platforms
            .iter()
            .map(|p| {
                let mut o = opts.clone();
                o.eval.target_platform = p.clone();
                let resolver = resolver.clone();
                scope.spawn(move || each(script, &o, resolver))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(Error::Script(luakit_lua::ScriptError::Internal("a build thread panicked".to_string())))
                })
            })
            .collect()
    });
    platforms
        .iter()
        .zip(results)
        .map(|(p, r)| r.map_err(|e| Error::Platform { platform: p.to_string(), source: Box::new(e) }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_lists_are_normalised_and_deduplicated() {
        let ps = parse_platforms("linux/amd64, linux/arm64/v8,linux/arm,,linux/amd64").expect("valid");
        let shown: Vec<String> = ps.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        assert!(parse_platforms("linux/amd64,linux/z80").is_err());
        assert!(parse_platforms("").expect("empty").is_empty());
    }
}
