//! Build-cache options of a solve (`--cache-to`, `--cache-from`), as
//! BuildKit's Go client prepares them: the entries go in the request's
//! `Cache`, and for a frontend or gateway build the imports also go to the
//! frontend as the `cache-imports` option (a JSON list of `{"Type",
//! "Attrs"}`), which the frontend passes on to its own solves (their
//! `CacheImports`): BuildKit does not apply a Control request's imports to a
//! frontend's solves by itself.
//!
//! A `type=local` cache is a directory on the client (an OCI layout): the
//! daemon reads and writes its blobs through a content store the session
//! serves (id `local:DIR`), an import names the cache manifest by digest
//! (read from the directory's `index.json` unless given), and after an
//! export the client tags the manifest the daemon reports in `index.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::control::{CacheOptions, CacheOptionsEntry};

/// The frontend option naming the cache imports.
pub const CACHE_IMPORTS_OPT: &str = "cache-imports";

/// The `cache-imports` value for `imports` (`None` when there are none).
pub fn imports_opt(imports: &[CacheOptionsEntry]) -> Option<String> {
    if imports.is_empty() {
        return None;
    }
    let list: Vec<Value> = imports
        .iter()
        .map(|e| {
            let attrs: Map<String, Value> = e.attrs.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            json!({ "Type": e.r#type, "Attrs": attrs })
        })
        .collect();
    Some(Value::Array(list).to_string())
}

/// Refuses entries that lack what their type needs: `type=registry`
/// needs `ref=`, a `type=local` export `dest=` and a `type=local` import
/// `src=`.
pub fn check(cache: &CacheOptions) -> Result<(), String> {
    for (flag, entries) in [("--cache-to", &cache.exports), ("--cache-from", &cache.imports)] {
        for e in entries.iter() {
            let missing = |key: &str| e.attrs.get(key).is_none_or(String::is_empty);
            match e.r#type.as_str() {
                "registry" if missing("ref") => return Err(format!("{flag} type=registry needs ref=REF")),
                "local" if flag == "--cache-to" && missing("dest") => {
                    return Err(format!("{flag} type=local needs dest=DIR"));
                }
                "local" if flag == "--cache-from" && missing("src") => {
                    return Err(format!("{flag} type=local needs src=DIR"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The prefix of a local cache directory's content store id.
pub const LOCAL_STORE_PREFIX: &str = "local:";

/// The annotation naming a manifest's tag in an OCI layout's index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The exporter response key carrying the cache manifest's descriptor.
const CACHE_MANIFEST: &str = "cache.manifest";

/// What `type=local` caches need from the client, as BuildKit's Go client
/// prepares them: a content store per directory in the session, the tag
/// to point at the exported manifest in each export directory's
/// `index.json`, and the imports it had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalCaches {
    /// Content stores by id (`local:DIR`, DIR as given).
    pub stores: BTreeMap<String, PathBuf>,
    /// Export directories and the tag their `index.json` gets.
    pub indexes: BTreeMap<PathBuf, String>,
    /// Why an import was left out (its directory has no cache yet).
    pub warnings: Vec<String>,
}

/// Prepares `type=local` entries: export directories are created, and an
/// import without `digest=` gets the digest `index.json` tags `tag=`
/// (default `latest`); an import whose directory or tag is missing is
/// dropped with a warning, so the first build of a `--cache-to` /
/// `--cache-from` pair on the same directory works.
pub fn prepare_local(cache: &mut CacheOptions) -> Result<LocalCaches, String> {
    let mut local = LocalCaches::default();
    for e in cache.exports.iter().filter(|e| e.r#type == "local") {
        let dest = e.attrs.get("dest").cloned().unwrap_or_default();
        if dest.is_empty() {
            return Err("--cache-to type=local needs dest=DIR".into());
        }
        std::fs::create_dir_all(&dest).map_err(|err| format!("--cache-to type=local: cannot create {dest}: {err}"))?;
        let tag = e.attrs.get("tag").cloned().unwrap_or_else(|| "latest".into());
        local.stores.insert(format!("{LOCAL_STORE_PREFIX}{dest}"), PathBuf::from(&dest));
        local.indexes.insert(PathBuf::from(&dest), tag);
    }
    let mut kept = Vec::new();
    for mut e in std::mem::take(&mut cache.imports) {
        if e.r#type != "local" {
            kept.push(e);
            continue;
        }
        let src = e.attrs.get("src").cloned().unwrap_or_default();
        if src.is_empty() {
            return Err("--cache-from type=local needs src=DIR".into());
        }
        if e.attrs.get("digest").is_none_or(String::is_empty) {
            let tag = e.attrs.get("tag").cloned().unwrap_or_else(|| "latest".into());
            match tagged_digest(Path::new(&src), &tag) {
                Ok(Some(digest)) => {
                    e.attrs.insert("digest".into(), digest);
                }
                Ok(None) => {
                    local.warnings.push(format!("local cache import at {src} not found: no manifest tagged {tag:?}"));
                    continue;
                }
                Err(why) => {
                    local.warnings.push(format!("local cache import at {src} not found: {why}"));
                    continue;
                }
            }
        }
        local.stores.insert(format!("{LOCAL_STORE_PREFIX}{src}"), PathBuf::from(&src));
        kept.push(e);
    }
    cache.imports = kept;
    Ok(local)
}

/// The digest of the manifest `tag` names in `dir/index.json`.
fn tagged_digest(dir: &Path, tag: &str) -> Result<Option<String>, String> {
    let path = dir.join("index.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let index: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let manifests = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(manifests
        .iter()
        .find(|m| m.pointer("/annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str) == Some(tag))
        .and_then(|m| m.get("digest").and_then(Value::as_str).map(str::to_string)))
}

/// After the solve: points each export directory's `index.json` tag at the
/// cache manifest the daemon reports (`cache.manifest`), replacing what
/// the tag named before and keeping the other entries.
pub fn update_indexes(indexes: &BTreeMap<PathBuf, String>, response: &BTreeMap<String, String>) -> Result<(), String> {
    let Some(desc) = response.get(CACHE_MANIFEST) else {
        return Ok(());
    };
    let desc: Value =
        serde_json::from_str(desc).map_err(|e| format!("the daemon's {CACHE_MANIFEST} is not JSON: {e}"))?;
    for (dir, tag) in indexes {
        let path = dir.join("index.json");
        let mut index = match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                serde_json::from_str::<Value>(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?
            }
            Ok(_) => json!({}),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let Some(obj) = index.as_object_mut() else {
            return Err(format!("{} is not a JSON object", path.display()));
        };
        if obj.get("schemaVersion").and_then(Value::as_i64).unwrap_or(0) == 0 {
            obj.insert("schemaVersion".into(), json!(2));
        }
        let mut manifests: Vec<Value> = obj.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
        manifests
            .retain(|m| m.pointer("/annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str) != Some(tag));
        let mut entry = desc.clone();
        if let Some(e) = entry.as_object_mut() {
            let annotations = e.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(REF_NAME.into(), json!(tag));
            }
        }
        manifests.push(entry);
        obj.insert("manifests".into(), Value::Array(manifests));
        let text = serde_json::to_string(&index).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(t: &str, attrs: &[(&str, &str)]) -> CacheOptionsEntry {
        CacheOptionsEntry {
            r#type: t.to_string(),
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn imports_as_go_encodes_them() {
        assert_eq!(imports_opt(&[]), None);
        let v = imports_opt(&[entry("registry", &[("ref", "r:5000/c:x")])]).expect("some");
        let v: Value = serde_json::from_str(&v).expect("json");
        assert_eq!(v, json!([{ "Type": "registry", "Attrs": { "ref": "r:5000/c:x" } }]));
    }

    #[test]
    fn entries_missing_their_location_are_refused() {
        let mut c = CacheOptions { imports: vec![entry("local", &[("dest", "d")])], ..CacheOptions::default() };
        assert!(check(&c).expect_err("src").contains("--cache-from type=local needs src=DIR"));
        c.imports = vec![entry("local", &[("src", "d")])];
        c.exports = vec![entry("local", &[])];
        assert!(check(&c).expect_err("dest").contains("--cache-to type=local needs dest=DIR"));
        c.exports = vec![entry("local", &[("dest", "d")])];
        assert_eq!(check(&c), Ok(()));
        c.imports = vec![entry("registry", &[])];
        assert!(check(&c).expect_err("ref").contains("ref=REF"));
        c.imports = vec![entry("registry", &[("ref", "r/c")])];
        c.exports = vec![entry("inline", &[])];
        assert_eq!(check(&c), Ok(()));
    }

    #[test]
    fn local_export_then_import_round_trips_through_index_json() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("cache");
        let d = dir.to_str().expect("utf-8").to_string();
        let mut c = CacheOptions {
            exports: vec![entry("local", &[("dest", &d), ("mode", "max")])],
            imports: vec![entry("local", &[("src", &d)]), entry("registry", &[("ref", "r/c")])],
            ..CacheOptions::default()
        };
        // Nothing exported yet: the import is left out with a warning.
        let local = prepare_local(&mut c).expect("prepare");
        assert!(dir.is_dir(), "the export directory is created");
        assert_eq!(c.imports, vec![entry("registry", &[("ref", "r/c")])]);
        assert_eq!(local.warnings.len(), 1);
        assert!(local.warnings[0].contains("index.json"), "{}", local.warnings[0]);
        assert_eq!(local.stores, BTreeMap::from([(format!("local:{d}"), dir.clone())]));
        assert_eq!(local.indexes, BTreeMap::from([(dir.clone(), "latest".to_string())]));

        let old = format!("sha256:{}", "1".repeat(64));
        let new = format!("sha256:{}", "2".repeat(64));
        std::fs::write(
            dir.join("index.json"),
            json!({"schemaVersion": 2, "manifests": [
                {"digest": old, "size": 1, "annotations": {REF_NAME: "latest"}},
                {"digest": old, "size": 1, "annotations": {REF_NAME: "other"}}
            ]})
            .to_string(),
        )
        .expect("index");
        let desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": new, "size": 42});
        let response = BTreeMap::from([(CACHE_MANIFEST.to_string(), desc.to_string())]);
        update_indexes(&local.indexes, &response).expect("update");
        let index: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).expect("read")).expect("json");
        let manifests = index["manifests"].as_array().expect("manifests");
        assert_eq!(manifests.len(), 2, "the old latest is replaced, other tags kept");
        assert_eq!(manifests[1]["digest"], json!(new));
        assert_eq!(manifests[1]["annotations"][REF_NAME], json!("latest"));

        // Now the import finds the digest `latest` names.
        let mut c = CacheOptions { imports: vec![entry("local", &[("src", &d)])], ..CacheOptions::default() };
        let local = prepare_local(&mut c).expect("prepare");
        assert!(local.warnings.is_empty());
        assert_eq!(c.imports[0].attrs.get("digest"), Some(&new));
        let mut c =
            CacheOptions { imports: vec![entry("local", &[("src", &d), ("tag", "other")])], ..Default::default() };
        prepare_local(&mut c).expect("prepare");
        assert_eq!(c.imports[0].attrs.get("digest"), Some(&old));
        // An explicit digest is kept as given.
        let mut c =
            CacheOptions { imports: vec![entry("local", &[("src", &d), ("digest", &old)])], ..Default::default() };
        prepare_local(&mut c).expect("prepare");
        assert_eq!(c.imports[0].attrs.get("digest"), Some(&old));
    }
}
