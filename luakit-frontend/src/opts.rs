//! What BuildKit tells a frontend through its environment (as BuildKit's
//! `frontend/gateway/grpcclient` reads it): `BUILDKIT_FRONTEND_OPT_<n>`
//! (`key=value`), `BUILDKIT_SESSION_ID`, `BUILDKIT_WORKERS` (JSON) and
//! `BUILDKIT_EXPORTEDPRODUCT`.

use std::collections::BTreeMap;

use luakit::Platform;

use crate::error::FrontendError;

/// The script read when no `filename` option is given.
pub const DEFAULT_FILENAME: &str = "build.lua";

/// One cache import: its type (`registry`, `local`, `gha`, …) and attributes.
pub type CacheImport = (String, BTreeMap<String, String>);

/// Options of one frontend run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildOpts {
    /// Frontend options (`filename`, `platform`, `build-arg:NAME`, …).
    pub opts: BTreeMap<String, String>,
    /// The client's session (for locals and secrets).
    pub session_id: String,
    /// Platforms of the first worker, in order.
    pub worker_platforms: Vec<Platform>,
    /// The product exporting the result (`docker`, `buildkit`), may be empty.
    pub product: String,
}

impl BuildOpts {
    /// Reads the options from this process's environment.
    pub fn from_env() -> Result<Self, FrontendError> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the options from `(name, value)` pairs of an environment.
    pub fn from_vars<I: IntoIterator<Item = (String, String)>>(vars: I) -> Result<Self, FrontendError> {
        let mut o = BuildOpts::default();
        for (k, v) in vars {
            if k.starts_with("BUILDKIT_FRONTEND_OPT_") {
                match v.split_once('=') {
                    Some((key, value)) => o.opts.insert(key.to_string(), value.to_string()),
                    None => o.opts.insert(v.clone(), String::new()),
                };
            } else if k == "BUILDKIT_SESSION_ID" {
                o.session_id = v;
            } else if k == "BUILDKIT_EXPORTEDPRODUCT" {
                o.product = v;
            } else if k == "BUILDKIT_WORKERS" {
                o.worker_platforms = parse_workers(&v)?;
            }
        }
        Ok(o)
    }

    /// The script's name inside the `dockerfile` local.
    pub fn filename(&self) -> &str {
        match self.opts.get("filename") {
            Some(f) if !f.is_empty() => f,
            _ => DEFAULT_FILENAME,
        }
    }

    /// `build-arg:NAME=value` options as `NAME → value`.
    pub fn build_args(&self) -> BTreeMap<String, String> {
        self.opts.iter().filter_map(|(k, v)| k.strip_prefix("build-arg:").map(|n| (n.to_string(), v.clone()))).collect()
    }

    /// The platform the daemon builds on: the worker's first.
    pub fn build_platform(&self) -> Platform {
        self.worker_platforms.first().cloned().unwrap_or_else(Platform::host)
    }

    /// The platform to build for: the `platform` option (the first of a
    /// comma-separated list), else the build platform.
    pub fn target_platform(&self) -> Result<Platform, FrontendError> {
        match self.opts.get("platform").map(|p| p.split(',').next().unwrap_or("").trim()) {
            Some(p) if !p.is_empty() => Platform::parse(p)
                .map(|p| p.normalized())
                .map_err(|e| FrontendError::Option { key: "platform".into(), message: e.to_string() }),
            _ => Ok(self.build_platform()),
        }
    }

    /// The platforms to build for: every item of the `platform` option (a
    /// comma-separated list, as `docker buildx build --platform a,b` sends
    /// it), normalised and without duplicates; the build platform when the
    /// option is absent or empty.
    pub fn target_platforms(&self) -> Result<Vec<Platform>, FrontendError> {
        let list = self.opts.get("platform").map(String::as_str).unwrap_or("");
        let platforms = luakit::parse_platforms(list)
            .map_err(|e| FrontendError::Option { key: "platform".into(), message: e.to_string() })?;
        Ok(if platforms.is_empty() { vec![self.build_platform()] } else { platforms })
    }

    /// The `target` option (`docker build --target NAME`): the named
    /// `bk.export` to build; `None` when absent or empty.
    pub fn target(&self) -> Option<&str> {
        self.opts.get("target").map(String::as_str).filter(|t| !t.is_empty())
    }

    /// `no-cache` (`docker build --no-cache`, `buildctl build --no-cache`):
    /// present and empty, every step runs again. The Dockerfile frontend
    /// takes a list of stage names there too (`--no-cache-filter`); a
    /// script has no stages, so a value is refused.
    pub fn no_cache(&self) -> Result<bool, FrontendError> {
        match self.opts.get("no-cache").map(String::as_str) {
            None => Ok(false),
            Some("") => Ok(true),
            Some(v) => Err(FrontendError::Option {
                key: "no-cache".into(),
                message: format!(
                    "{v:?} names stages (--no-cache-filter), which a luakit script has not; \
                     use --no-cache alone to run every step again"
                ),
            }),
        }
    }

    /// `cache-imports`: the caches to import (`--cache-from`, `--import-cache`),
    /// a JSON list of `{"Type": …, "Attrs": {…}}` (key case ignored, as Go
    /// reads it); passed on to every solve as its `CacheImports`.
    pub fn cache_imports(&self) -> Result<Vec<CacheImport>, FrontendError> {
        let Some(text) = self.opts.get("cache-imports").filter(|t| !t.trim().is_empty()) else {
            return Ok(Vec::new());
        };
        let bad = |message: String| FrontendError::Option { key: "cache-imports".into(), message };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let list = v.as_array().ok_or_else(|| bad("not a JSON list".to_string()))?;
        let field = |o: &serde_json::Map<String, serde_json::Value>, name: &str| {
            o.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
        };
        list.iter()
            .map(|e| {
                let o = e.as_object().ok_or_else(|| bad(format!("entry {e} is not an object")))?;
                let t = field(o, "type").and_then(|t| t.as_str().map(str::to_string)).unwrap_or_default();
                if t.is_empty() {
                    return Err(bad(format!("entry {e} has no Type")));
                }
                let mut attrs = BTreeMap::new();
                if let Some(a) = field(o, "attrs").filter(|a| !a.is_null()) {
                    let a = a.as_object().ok_or_else(|| bad(format!("Attrs of {e} is not an object")))?;
                    for (k, v) in a {
                        let v = v.as_str().ok_or_else(|| bad(format!("attribute {k} of {e} is not a string")))?;
                        attrs.insert(k.clone(), v.to_string());
                    }
                }
                Ok((t, attrs))
            })
            .collect()
    }

    /// `image-resolve-mode` (`default`, `pull`, `local`), default `default`.
    pub fn resolve_mode(&self) -> &str {
        match self.opts.get("image-resolve-mode") {
            Some(m) if !m.is_empty() => m,
            _ => "default",
        }
    }
}

/// Platforms of the first worker in a `BUILDKIT_WORKERS` JSON list
/// (`[{"id":…,"platforms":[{"architecture":"amd64","os":"linux"}]}]`).
fn parse_workers(json: &str) -> Result<Vec<Platform>, FrontendError> {
    let bad = |message: String| FrontendError::Option { key: "BUILDKIT_WORKERS".into(), message };
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let Some(first) = v.as_array().and_then(|a| a.first()) else {
        return Ok(Vec::new());
    };
    let field = |p: &serde_json::Value, names: &[&str]| -> String {
        names.iter().find_map(|n| p.get(*n).and_then(|x| x.as_str())).unwrap_or("").to_string()
    };
    let platforms = first.get("platforms").or_else(|| first.get("Platforms")).and_then(|p| p.as_array());
    Ok(platforms
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    Platform::new(
                        field(p, &["os", "OS"]),
                        field(p, &["architecture", "Architecture"]),
                        field(p, &["variant", "Variant"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(key: &str, value: &str) -> BuildOpts {
        BuildOpts { opts: BTreeMap::from([(key.to_string(), value.to_string())]), ..BuildOpts::default() }
    }

    #[test]
    fn cache_imports_as_go_writes_them() {
        assert!(BuildOpts::default().cache_imports().expect("absent").is_empty());
        let o = with("cache-imports", r#"[{"Type":"registry","Attrs":{"ref":"r/c:1"}},{"type":"gha","attrs":null}]"#);
        let got = o.cache_imports().expect("valid");
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.as_str(), got[0].1.get("ref").map(String::as_str)), ("registry", Some("r/c:1")));
        assert_eq!((got[1].0.as_str(), got[1].1.len()), ("gha", 0));
        for bad in ["{", "{}", r#"[{"Attrs":{}}]"#, r#"[{"Type":"x","Attrs":{"a":1}}]"#] {
            let e = with("cache-imports", bad).cache_imports().expect_err(bad).to_string();
            assert!(e.contains("cache-imports"), "{e}");
        }
    }

    #[test]
    fn no_cache_as_the_dockerfile_frontend_reads_it() {
        assert!(!BuildOpts::default().no_cache().expect("absent"));
        assert!(with("no-cache", "").no_cache().expect("empty"));
        let e = with("no-cache", "build,test").no_cache().expect_err("stage names").to_string();
        assert!(e.contains("no-cache") && e.contains("build,test"), "{e}");
    }
}
