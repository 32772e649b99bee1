//! `--no-cache` on a finished Definition: every op's metadata says
//! `ignore_cache`, so BuildKit runs every step again instead of using its
//! cache. This is what buildctl does to a Definition it reads with
//! `--no-cache`, and what the Dockerfile frontend does to every op of the
//! stages its `no-cache` option names. The ops themselves (and so their
//! digests) are unchanged; only the metadata map grows.

use crate::caps::id;
use crate::digest::Digest;
use crate::pb;

/// Marks every op of `def` `ignore_cache` (with the `meta.ignorecache`
/// cap, as BuildKit's Go client records it).
pub fn ignore_cache_all(def: &mut pb::Definition) {
    for op in &def.def {
        let md = def.metadata.entry(Digest::of(op).as_str().to_owned()).or_default();
        md.ignore_cache = true;
        md.caps.insert(id::META_IGNORE_CACHE.to_string(), true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_marked_and_nothing_else_changes() {
        let ops = vec![b"op-a".to_vec(), b"op-b".to_vec()];
        let a = Digest::of(&ops[0]).as_str().to_owned();
        let b = Digest::of(&ops[1]).as_str().to_owned();
        let mut def = pb::Definition { def: ops.clone(), ..Default::default() };
        let mut kept = pb::OpMetadata::default();
        kept.description.insert("llb.customname".into(), "step".into());
        def.metadata.insert(a.clone(), kept);
        ignore_cache_all(&mut def);
        assert_eq!(def.def, ops);
        assert_eq!(def.metadata.len(), 2);
        for d in [&a, &b] {
            let md = &def.metadata[d];
            assert!(md.ignore_cache, "{d}");
            assert_eq!(md.caps.get(id::META_IGNORE_CACHE), Some(&true));
        }
        assert_eq!(def.metadata[&a].description.get("llb.customname").map(String::as_str), Some("step"));
    }
}
