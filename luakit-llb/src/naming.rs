//! Step names, recorded while marshalling ([`crate::MarshalOptions::name_ops`]):
//! each op the script located gets the `llb.customname` `[file:line] what`
//! (`what` from [`crate::describe::step_name`]) unless the script named it,
//! so that BuildKit's progress output and the failing step it reports point
//! at the Lua line. Metadata is not part of an op's digest: the graph and
//! its cache keys stay the same.
//!
//! Names come from the op's own location and its `pb::Op` as it is encoded,
//! so nothing is decoded again. Like BuildKit's client, a named op and the
//! terminal op record the `meta.description` cap; nothing is named when the
//! daemon lacks that cap.

use rustc_hash::FxHashMap as HashMap;

use luakit_graph::Node;

use crate::caps::id;
use crate::digest::Digest;
use crate::{MarshalOptions, describe, pb};

/// The name `node`, encoded as `op`, gets: its first location (with a
/// line) and what the op does; none for an op without a location.
pub(crate) fn step_name(node: &Node, op: &pb::Op) -> Option<String> {
    let at = node
        .locations
        .iter()
        .find_map(|l| l.ranges.first().map(|r| format!("{}:{}", l.file.filename, r.start_line)))?;
    describe::step_name(op).map(|what| format!("[{at}] {what}"))
}

/// The metadata key of a step's display name.
const CUSTOM_NAME: &str = "llb.customname";

/// Names of the located ops, by digest, until they are applied.
pub(crate) struct StepNames {
    enabled: bool,
    names: HashMap<Digest, String>,
}

impl StepNames {
    /// Names steps when `opts` asks for it and the daemon (if known) can
    /// show descriptions.
    pub(crate) fn new(opts: &MarshalOptions) -> Self {
        let enabled = opts.name_ops && opts.daemon_caps.as_ref().is_none_or(|d| d.supports(id::META_DESCRIPTION));
        StepNames { enabled, names: HashMap::default() }
    }

    /// Whether ops are named (else `record` and `apply` do nothing).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records `name` for the op `digest`: the name of the first node of
    /// that digest that has one (see [`step_name`]).
    pub(crate) fn record(&mut self, digest: &Digest, name: String) {
        if !self.enabled || self.names.contains_key(digest) {
            return;
        }
        self.names.insert(digest.clone(), name);
    }

    /// Names the ops in their merged `metadata`, skipping those the script
    /// named; returns whether any op was named.
    pub(crate) fn apply(&mut self, index: &HashMap<Digest, usize>, metadata: &mut [crate::marshal::Meta]) -> bool {
        let mut named = false;
        for (digest, name) in self.names.drain() {
            // Only emitted ops are named, and each has its metadata slot.
            let Some(md) = index.get(&digest).and_then(|&i| metadata.get_mut(i)) else {
                continue;
            };
            if md.description.contains_key(CUSTOM_NAME) {
                continue;
            }
            md.description.insert(CUSTOM_NAME.to_string(), name);
            md.caps_mut().insert(id::META_DESCRIPTION.to_string(), true);
            named = true;
        }
        named
    }
}
