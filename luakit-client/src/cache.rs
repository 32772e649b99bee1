//! Build-cache options of a solve (`--cache-to`, `--cache-from`), as
//! BuildKit's Go client prepares them: the entries go in the request's
//! `Cache`, and for a frontend or gateway build the imports also go to the
//! frontend as the `cache-imports` option (a JSON list of `{"Type",
//! "Attrs"}`), which the frontend passes on to its own solves (their
//! `CacheImports`): BuildKit does not apply a Control request's imports to a
//! frontend's solves by itself.

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

/// Refuses entries this client cannot serve: `type=local` needs the
/// session's content store (the daemon reads and writes the directory
/// through the client), which luakit's session does not offer yet.
pub fn check(cache: &CacheOptions) -> Result<(), String> {
    for (flag, entries) in [("--cache-to", &cache.exports), ("--cache-from", &cache.imports)] {
        for e in entries.iter() {
            match e.r#type.as_str() {
                "local" => {
                    return Err(format!(
                        "{flag} type=local: the daemon reads and writes a local cache directory through \
                         the client session's content store, which luakit solve does not offer yet; use \
                         type=registry (or type=inline)"
                    ));
                }
                "registry" if e.attrs.get("ref").is_none_or(String::is_empty) => {
                    return Err(format!("{flag} type=registry needs ref=REF"));
                }
                _ => {}
            }
        }
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
    fn local_and_refless_entries_are_refused() {
        let mut c = CacheOptions { imports: vec![entry("local", &[("src", "d")])], ..CacheOptions::default() };
        assert!(check(&c).expect_err("local").contains("--cache-from type=local"));
        c.imports = vec![entry("registry", &[])];
        assert!(check(&c).expect_err("ref").contains("ref=REF"));
        c.imports = vec![entry("registry", &[("ref", "r/c")])];
        c.exports = vec![entry("inline", &[])];
        assert_eq!(check(&c), Ok(()));
    }
}
