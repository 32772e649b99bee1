//! Graph → `pb::Definition`, as BuildKit's Go client (`client/llb`) marshals it.
//!
//! A post-order walk from the exported state: each node is encoded once
//! (memoised by node identity), its sha256 digest computed once, and ops with
//! equal digests are emitted once with their metadata merged. Caps are
//! derived from op content; when the daemon's caps are known, features it
//! lacks are dropped (where the meaning survives) or refused.
//!
//! This module holds the walk, digests, de-duplication, metadata, the
//! terminal op, caps recording and the source map; each op kind is encoded in
//! its own file: `source.rs`, `exec.rs`, `file.rs`, `merge_diff.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use luakit_graph::{Node, Op, Output, Platform, SourceFile, State};
use prost::Message;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::caps::{self, CapSet, id};
use crate::digest::Digest;
use crate::naming::StepNames;
use crate::pb;

mod exec;
mod file;
mod merge_diff;
mod pipeline;
mod source;

pub use pipeline::Pipeline;

/// Settings of a marshal.
#[derive(Debug, Clone)]
pub struct MarshalOptions {
    /// The target platform, used for ops without their own.
    pub platform: Platform,
    /// Include the source map (`Definition.source`).
    pub source_map: bool,
    /// The daemon's caps, when known (frontend mode); `None` marshals for
    /// current BuildKit.
    pub daemon_caps: Option<CapSet>,
    /// Name each located op `[file:line] what` (`llb.customname`) unless
    /// the script named it, when the daemon can show descriptions (see
    /// `naming`). Off by default: BuildKit's client does not name ops.
    pub name_ops: bool,
}

impl MarshalOptions {
    /// Marshal for `platform`, with a source map, for current BuildKit.
    pub fn new(platform: Platform) -> Self {
        MarshalOptions { platform, source_map: true, daemon_caps: None, name_ops: false }
    }
}

/// Why a graph could not be marshalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MarshalError {
    /// The script uses a feature the daemon does not support.
    #[error("{location}{feature} needs BuildKit {needed} or newer (the daemon{version} lacks the '{cap}' capability)")]
    Unsupported {
        /// `file:line: ` of the op, or empty.
        location: String,
        /// What the script asked for.
        feature: String,
        /// The cap id.
        cap: String,
        /// The first BuildKit release that has it.
        needed: String,
        /// ` (BuildKit vX)` when the daemon said, or empty.
        version: String,
    },
    /// An op that BuildKit would refuse.
    #[error("{location}{message}")]
    Invalid {
        /// `file:line: ` of the op, or empty.
        location: String,
        /// What is wrong.
        message: String,
    },
}

/// A marshalled graph: the definition plus, for each op digest, its position
/// in `def` (the terminal op is last).
#[derive(Debug, Clone)]
pub struct Marshalled {
    /// The protobuf definition.
    pub definition: pb::Definition,
    /// Digest of the terminal op, if any.
    pub terminal: Option<Digest>,
}

/// Marshals the graph behind `state` into a Definition.
pub fn marshal(state: &State, opts: &MarshalOptions) -> Result<pb::Definition, MarshalError> {
    Ok(marshal_full(state, opts)?.definition)
}

/// Runs every check [`marshal`] makes (caps against `opts.daemon_caps`,
/// mounts, inputs, metadata) and reports the first failure, as `marshal`
/// would, without producing a Definition: ops are not encoded nor hashed,
/// no metadata or source map is collected. What `luakit validate` needs.
/// Returns the number of graph nodes checked.
pub fn check(state: &State, opts: &MarshalOptions) -> Result<usize, MarshalError> {
    check_encoded(state, Encoder::new(opts.clone(), true))
}

/// Like [`marshal`], also returning the terminal digest.
pub fn marshal_full(state: &State, opts: &MarshalOptions) -> Result<Marshalled, MarshalError> {
    assemble(state, opts, Encoder::new(opts.clone(), false))
}

/// The first error of the graph behind `state`, in the order a marshal
/// meets them, else the number of nodes; `enc` encodes (checks) what it
/// has not seen yet.
fn check_encoded(state: &State, mut enc: Encoder) -> Result<usize, MarshalError> {
    let Some(out) = state.output() else {
        return Ok(0);
    };
    enc.visit(&out.node);
    let mut count = 0;
    each_once(&out.node, enc.memo.len(), |node| {
        count += 1;
        enc.status(node)
    })?;
    Ok(count)
}

/// Walks the graph under `root` inputs first, each node once (the
/// post-order BuildKit's client uses), with an explicit stack so that deep
/// chains cannot overflow the call stack. A node `is_done` says is done is
/// neither visited nor descended into; `f` visits a node and must make it
/// done. Stops at the first error `f` gives.
fn post_order<'g, D>(
    root: &'g Arc<Node>,
    done: &mut D,
    is_done: impl Fn(&D, &Arc<Node>) -> bool,
    mut f: impl FnMut(&mut D, &'g Arc<Node>) -> Result<(), MarshalError>,
) -> Result<(), MarshalError> {
    let mut stack: Vec<(&Arc<Node>, bool)> = vec![(root, false)];
    let mut inputs: Vec<&Arc<Node>> = Vec::new();
    while let Some((node, expanded)) = stack.pop() {
        if is_done(done, node) {
            continue;
        }
        if expanded {
            f(done, node)?;
            continue;
        }
        stack.push((node, true));
        inputs.clear();
        node.for_each_input(|o| inputs.push(&o.node));
        for inp in inputs.iter().rev() {
            if !is_done(done, inp) {
                stack.push((inp, false));
            }
        }
    }
    Ok(())
}

/// [`post_order`] over every node under `root`, once each.
fn each_once<'g>(
    root: &'g Arc<Node>,
    capacity: usize,
    mut f: impl FnMut(&'g Arc<Node>) -> Result<(), MarshalError>,
) -> Result<(), MarshalError> {
    let mut done: FxHashSet<usize> = FxHashSet::with_capacity_and_hasher(capacity, Default::default());
    post_order(
        root,
        &mut done,
        |done, node| done.contains(&(Arc::as_ptr(node) as usize)),
        |done, node| {
            done.insert(Arc::as_ptr(node) as usize);
            f(node)
        },
    )
}

/// The Definition of the graph behind `state` from its encoded nodes: ops
/// in the walk's order, one per digest, metadata merged per digest, the
/// terminal op, the caps of the Definition and the source map. `enc`
/// encodes what it has not seen yet first.
fn assemble(state: &State, opts: &MarshalOptions, mut enc: Encoder) -> Result<Marshalled, MarshalError> {
    if let Some(out) = state.output() {
        enc.visit(&out.node);
    }
    // At most one op per node the encoder saw.
    let n = enc.memo.len();
    let mut m = Assembler {
        seen: FxHashMap::with_capacity_and_hasher(n, Default::default()),
        def: pb::Definition { def: Vec::with_capacity(n + 1), ..Default::default() },
        metadata: Vec::with_capacity(n + 1),
        digests: Vec::with_capacity(n + 1),
        sources: SourceCollector {
            locations: if opts.source_map { Vec::with_capacity(n) } else { Vec::new() },
            ..Default::default()
        },
        any_meta: MetaFlags::default(),
        names: StepNames::new(opts),
    };
    let Some(out) = state.output() else {
        return Ok(Marshalled { definition: m.def, terminal: None });
    };
    each_once(&out.node, n, |node| {
        let e = enc.take(node)?;
        m.add(node, e, opts.source_map);
        Ok(())
    })?;
    let dgst = enc.digest(&out.node)?;
    drop(enc);
    // As BuildKit's client does: the terminal op records that descriptions are used.
    if m.names.apply(&m.seen, &mut m.metadata) {
        m.any_meta.description = true;
    }
    let terminal = pb::Op {
        inputs: vec![pb::Input { digest: dgst.as_str().to_owned(), index: i64::from(out.index) }],
        ..Default::default()
    };
    let bytes = terminal.encode_to_vec();
    let tdgst = Digest::of(&bytes);
    let t = m.slot(&tdgst, bytes);
    let mut caps = BTreeMap::new();
    caps.insert(id::CONSTRAINTS.to_string(), true);
    caps.insert(id::PLATFORM.to_string(), true);
    if m.any_meta.ignore_cache {
        caps.insert(id::META_IGNORE_CACHE.to_string(), true);
    }
    if m.any_meta.description {
        caps.insert(id::META_DESCRIPTION.to_string(), true);
    }
    if let Some(dc) = &opts.daemon_caps {
        caps.retain(|c, _| dc.supports(c));
    }
    let md = &mut m.metadata[t];
    for (k, v) in caps {
        md.caps.insert(k, v);
    }
    // Built by position, sorted by digest once (a sorted map of random keys
    // grown one insert at a time costs cache misses on every op). The
    // positions are sorted, not the large entries.
    let order = by_digest(&m.digests);
    let mut metadata = std::mem::take(&mut m.metadata);
    // Collected in key order (a sorted input is built without comparing keys again).
    m.def.metadata = order
        .iter()
        .map(|&i| (m.digests[i as usize].as_str().to_owned(), std::mem::take(&mut metadata[i as usize])))
        .collect();
    drop(metadata);
    if opts.source_map {
        m.def.source = m.sources.finish(&order, &m.digests);
    }
    Ok(Marshalled { definition: m.def, terminal: Some(tdgst) })
}

/// The positions of `digests` in the order of the digests (as strings).
/// Digests of this marshal all start `sha256:`; the eight characters after
/// it, read as one big-endian number, order them as the strings do, and
/// only equal numbers need the strings compared.
fn by_digest(digests: &[Digest]) -> Vec<u32> {
    const PREFIX: &str = "sha256:";
    let mut order: Vec<u32> = (0..digests.len() as u32).collect();
    let key = |d: &Digest| -> Option<u64> {
        let hex = d.as_str().strip_prefix(PREFIX)?.as_bytes().get(..8)?;
        Some(u64::from_be_bytes(hex.try_into().ok()?))
    };
    match digests.iter().map(key).collect::<Option<Vec<u64>>>() {
        Some(keys) => order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            keys[a].cmp(&keys[b]).then_with(|| digests[a].cmp(&digests[b]))
        }),
        None => order.sort_unstable_by(|&a, &b| digests[a as usize].cmp(&digests[b as usize])),
    }
    order
}

#[derive(Default)]
struct MetaFlags {
    ignore_cache: bool,
    description: bool,
}

/// What encoding one node gives. It depends on the node (and the nodes
/// under it) only, not on where a walk meets it, so nodes can be encoded
/// as the script makes them and put in order later.
struct Encoded {
    digest: Digest,
    /// The op's bytes (taken when the op is emitted; empty when checking).
    bytes: Vec<u8>,
    /// The caps the op records, under the daemon's policy, without the
    /// description cap (the Definition records that one).
    caps: BTreeMap<String, bool>,
    /// The description, unless the daemon cannot show it.
    description: BTreeMap<String, String>,
    /// The step name the op gets when ops are named.
    name: Option<String>,
}

/// What encoding a node gave, small (the memo holds one per node).
enum Outcome {
    /// Checked only: every check passed.
    Checked,
    Encoded(Box<Encoded>),
    Failed(Box<MarshalError>),
}

/// Encodes nodes, each once (memoised by node identity; the memo keeps
/// each node alive, so an address is never reused for another node while
/// the encoder lives), inputs first. A node that cannot be encoded keeps
/// its error, as do the nodes above it; a walk reports the first one.
pub(crate) struct Encoder {
    opts: Arc<MarshalOptions>,
    /// Node address → the node and what encoding it gave. The internal
    /// maps use a fast non-cryptographic hash (their keys are addresses and
    /// digests made here, not outside input an attacker picks).
    memo: FxHashMap<usize, (Arc<Node>, Outcome)>,
    /// Only the checks: ops are built (their encoders make the checks) but
    /// neither encoded nor hashed; every node gets the same empty digest.
    check_only: bool,
    /// The digest every node gets when only checking.
    unnamed: Digest,
}

impl Encoder {
    fn new(opts: MarshalOptions, check_only: bool) -> Self {
        Encoder {
            opts: Arc::new(opts),
            memo: FxHashMap::default(),
            check_only,
            unnamed: Digest::from_string(String::new()),
        }
    }

    fn outcome(&self, node: &Arc<Node>) -> Option<&Outcome> {
        self.memo.get(&(Arc::as_ptr(node) as usize)).map(|(_, r)| r)
    }

    /// Whether `node` (visited already) passed every check.
    fn status(&self, node: &Arc<Node>) -> Result<(), MarshalError> {
        match self.outcome(node) {
            Some(Outcome::Checked | Outcome::Encoded(_)) => Ok(()),
            Some(Outcome::Failed(e)) => Err((**e).clone()),
            None => Err(not_encoded(node)),
        }
    }

    fn digest(&self, node: &Arc<Node>) -> Result<Digest, MarshalError> {
        match self.outcome(node) {
            Some(Outcome::Checked) => Ok(self.unnamed.clone()),
            Some(Outcome::Encoded(e)) => Ok(e.digest.clone()),
            Some(Outcome::Failed(e)) => Err((**e).clone()),
            None => Err(not_encoded(node)),
        }
    }

    /// What encoding `node` gave, with its bytes moved out.
    fn take(&mut self, node: &Arc<Node>) -> Result<Encoded, MarshalError> {
        match self.memo.get_mut(&(Arc::as_ptr(node) as usize)).map(|(_, r)| r) {
            Some(Outcome::Encoded(e)) => Ok(Encoded {
                digest: e.digest.clone(),
                bytes: std::mem::take(&mut e.bytes),
                caps: std::mem::take(&mut e.caps),
                description: std::mem::take(&mut e.description),
                name: e.name.take(),
            }),
            Some(Outcome::Failed(e)) => Err((**e).clone()),
            Some(Outcome::Checked) | None => Err(not_encoded(node)),
        }
    }

    /// Encodes `root` and everything under it not encoded yet, inputs first.
    pub(crate) fn visit(&mut self, root: &Arc<Node>) {
        let visited = post_order(
            root,
            self,
            |enc, node| enc.outcome(node).is_some(),
            |enc, node| {
                let r = match enc.encode_node(node) {
                    Ok(Some(e)) => Outcome::Encoded(Box::new(e)),
                    Ok(None) => Outcome::Checked,
                    Err(e) => Outcome::Failed(Box::new(e)),
                };
                enc.memo.insert(Arc::as_ptr(node) as usize, (node.clone(), r));
                Ok(())
            },
        );
        debug_assert!(visited.is_ok(), "encoding keeps errors per node");
    }

    fn input_of(&mut self, out: &Output) -> Result<pb::Input, MarshalError> {
        if self.outcome(&out.node).is_none() {
            self.visit(&out.node);
        }
        let d = self.digest(&out.node)?;
        Ok(pb::Input { digest: d.as_str().to_owned(), index: i64::from(out.index) })
    }

    /// `None` when only checking.
    fn encode_node(&mut self, node: &Arc<Node>) -> Result<Option<Encoded>, MarshalError> {
        let opts = self.opts.clone();
        let mut caps = CapRecorder { caps: BTreeMap::new(), daemon: opts.daemon_caps.as_ref(), node };
        let platform = node.constraints.platform.as_ref().unwrap_or(&opts.platform);
        let mut op = pb::Op {
            constraints: Some(pb::WorkerConstraints { filter: node.constraints.worker_constraints.clone() }),
            ..Default::default()
        };
        match &node.op {
            Op::Source(src) => {
                op.op = Some(pb::op::Op::Source(self.source(src, &mut caps)?));
                if src.is_platform_specific() {
                    op.platform = Some(pb_platform(platform));
                }
            }
            Op::Exec(exec) => {
                let (inputs, e) = self.exec(exec, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Exec(e));
                op.platform = Some(pb_platform(platform));
            }
            Op::File(file) => {
                let (inputs, f) = self.file(file, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::File(f));
                op.platform = Some(pb_platform(platform));
            }
            Op::Merge(merge) => {
                let (inputs, m) = self.merge(merge, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Merge(m));
            }
            Op::Diff(diff) => {
                let (inputs, d) = self.diff(diff, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Diff(d));
            }
        }
        // A description the daemon cannot show is dropped or refused.
        let mut description = BTreeMap::new();
        if !node.metadata.description.is_empty()
            && caps.optional(id::META_DESCRIPTION, "with_metadata description")?
            && !self.check_only
        {
            description = node.metadata.description.clone();
        }
        if self.check_only {
            return Ok(None);
        }
        let bytes = op.encode_to_vec();
        let digest = Digest::of(&bytes);
        let name = if opts.name_ops { crate::naming::step_name(node, &op) } else { None };
        caps.caps.remove(id::META_DESCRIPTION);
        Ok(Some(Encoded { digest, bytes, caps: caps.caps, description, name }))
    }
}

fn not_encoded(node: &Node) -> MarshalError {
    MarshalError::Invalid { location: location_prefix(node), message: "internal error: op was not encoded".to_string() }
}

/// Puts encoded ops in order: one per digest, metadata merged per digest.
struct Assembler {
    /// Digest → its position in `def.def` (emitted already).
    seen: FxHashMap<Digest, usize>,
    def: pb::Definition,
    /// Op metadata by position in `def.def`, merged over nodes with the
    /// same digest.
    metadata: Vec<pb::OpMetadata>,
    /// The digest of each op in `def.def`, by position.
    digests: Vec<Digest>,
    sources: SourceCollector,
    any_meta: MetaFlags,
    names: StepNames,
}

impl Assembler {
    /// The position of the op `dgst` in the Definition, emitting `bytes`
    /// (with empty metadata) the first time the digest is seen.
    fn slot(&mut self, dgst: &Digest, bytes: Vec<u8>) -> usize {
        if let Some(&i) = self.seen.get(dgst) {
            return i;
        }
        let i = self.def.def.len();
        self.def.def.push(bytes);
        self.metadata.push(pb::OpMetadata::default());
        self.digests.push(dgst.clone());
        self.seen.insert(dgst.clone(), i);
        i
    }

    /// Emits `node`, encoded as `e`, in walk order.
    fn add(&mut self, node: &Node, e: Encoded, source_map: bool) {
        if let Some(name) = e.name {
            self.names.record(&e.digest, name);
        }
        let slot = self.slot(&e.digest, e.bytes);
        let md_in = &node.metadata;
        let md = &mut self.metadata[slot];
        if md_in.ignore_cache {
            md.ignore_cache = true;
            self.any_meta.ignore_cache = true;
        }
        // The first node of a digest gives its maps as they are.
        if !e.description.is_empty() {
            self.any_meta.description = true;
            if md.description.is_empty() {
                md.description = e.description;
            } else {
                md.description.extend(e.description);
            }
        }
        if md.caps.is_empty() {
            md.caps = e.caps;
        } else {
            md.caps.extend(e.caps);
        }
        if let Some(pg) = &md_in.progress_group {
            md.progress_group = Some(pb::ProgressGroup { id: pg.id.clone(), name: pg.name.clone(), weak: pg.weak });
        }
        if source_map {
            self.sources.add(slot, node);
        }
    }
}

/// Collects the source map: files in first-use order, locations per op
/// (by its position in the Definition, in visit order).
#[derive(Default)]
struct SourceCollector {
    files: Vec<Arc<SourceFile>>,
    index: FxHashMap<*const SourceFile, usize>,
    /// The locations of the op at each position of `def.def`.
    locations: Vec<Vec<pb::Location>>,
}

impl SourceCollector {
    fn add(&mut self, slot: usize, node: &Node) {
        if node.locations.is_empty() {
            return;
        }
        if self.locations.len() <= slot {
            self.locations.resize_with(slot + 1, Vec::new);
        }
        for loc in &node.locations {
            let ptr = Arc::as_ptr(&loc.file);
            let idx = match self.index.get(&ptr) {
                Some(i) => *i,
                None => match self.files.iter().position(|f| **f == *loc.file) {
                    Some(i) => {
                        self.index.insert(ptr, i);
                        i
                    }
                    None => {
                        self.files.push(loc.file.clone());
                        self.index.insert(ptr, self.files.len() - 1);
                        self.files.len() - 1
                    }
                },
            };
            let ranges = loc
                .ranges
                .iter()
                .map(|r| pb::Range {
                    start: Some(pb::Position { line: r.start_line, character: r.start_char }),
                    end: Some(pb::Position { line: r.end_line, character: r.end_char }),
                })
                .collect();
            self.locations[slot].push(pb::Location { source_index: idx as i32, ranges });
        }
    }

    /// The source map, its locations keyed by digest: `order` lists the
    /// positions sorted by their digests.
    fn finish(mut self, order: &[u32], digests: &[Digest]) -> Option<pb::Source> {
        if self.files.is_empty() {
            return None;
        }
        // Collected in key order (a sorted input is built without comparing keys again).
        let locations = order
            .iter()
            .filter_map(|&i| {
                let locs = std::mem::take(self.locations.get_mut(i as usize)?);
                (!locs.is_empty()).then(|| (digests[i as usize].as_str().to_owned(), pb::Locations { locations: locs }))
            })
            .collect();
        Some(pb::Source {
            locations,
            infos: self
                .files
                .iter()
                .map(|f| pb::SourceInfo {
                    filename: f.filename.clone(),
                    data: f.data.clone(),
                    definition: None,
                    language: f.language.clone(),
                })
                .collect(),
        })
    }
}

fn location_prefix(node: &Node) -> String {
    node.locations
        .first()
        .and_then(|l| l.ranges.first().map(|r| format!("{}:{}: ", l.file.filename, r.start_line)))
        .unwrap_or_default()
}

/// A graph platform as LLB spells it.
pub fn pb_platform(p: &Platform) -> pb::Platform {
    pb::Platform {
        architecture: p.arch.clone(),
        os: p.os.clone(),
        variant: p.variant.clone(),
        os_version: p.os_version.clone(),
        os_features: p.os_features.clone(),
    }
}

/// Per-op cap recording under the daemon's cap policy.
struct CapRecorder<'a> {
    caps: BTreeMap<String, bool>,
    daemon: Option<&'a CapSet>,
    node: &'a Node,
}

impl CapRecorder<'_> {
    /// Records `cap` for a feature the op cannot do without.
    fn require(&mut self, cap: &str, feature: &str) -> Result<(), MarshalError> {
        if let Some(d) = self.daemon {
            if !d.supports(cap) {
                return Err(MarshalError::Unsupported {
                    location: location_prefix(self.node),
                    feature: feature.to_string(),
                    cap: cap.to_string(),
                    needed: caps::introduced_in(cap).to_string(),
                    version: if d.version.is_empty() { String::new() } else { format!(" (BuildKit {})", d.version) },
                });
            }
        }
        self.caps.insert(cap.to_owned(), true);
        Ok(())
    }

    /// Records `cap` if the daemon has it; returns false when the feature
    /// must be left out (only for caps whose meaning survives without it).
    fn optional(&mut self, cap: &str, feature: &str) -> Result<bool, MarshalError> {
        if let Some(d) = self.daemon {
            if !d.supports(cap) {
                if caps::droppable(cap) {
                    return Ok(false);
                }
                return self.require(cap, feature).map(|()| true);
            }
        }
        self.caps.insert(cap.to_owned(), true);
        Ok(true)
    }

    /// Records `cap` only if the daemon knows it (caps that BuildKit never enforced).
    fn soft(&mut self, cap: &str) {
        if self.daemon.is_none_or(|d| d.supports(cap)) {
            self.caps.insert(cap.to_owned(), true);
        }
    }
}

/// Encodes a Definition to bytes.
pub fn encode(def: &pb::Definition) -> Vec<u8> {
    // The exact length would take a walk of every nested message before
    // the one that writes them: the buffer is sized from the ops and
    // about 200 bytes of metadata and source map per op, and grows if
    // that is short.
    let ops: usize = def.def.iter().map(|b| b.len() + 4).sum();
    let mut buf = Vec::with_capacity(ops + def.metadata.len() * 200 + 1024);
    def.encode_raw(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The positions sorted by the digests as plain strings.
    fn plain(digests: &[Digest]) -> Vec<u32> {
        let mut order: Vec<u32> = (0..digests.len() as u32).collect();
        order.sort_by(|&a, &b| digests[a as usize].cmp(&digests[b as usize]));
        order
    }

    #[test]
    fn digests_are_ordered_as_strings() {
        // Real digests, digests sharing their first eight hex digits (the
        // number ties), and a duplicate.
        let mut digests: Vec<Digest> = (0..300u32).map(|i| Digest::of(&i.to_le_bytes())).collect();
        digests.push(Digest::from_string(format!("sha256:0123456f{}", "0".repeat(56))));
        digests.push(Digest::from_string(format!("sha256:0123456f{}", "f".repeat(56))));
        digests.push(Digest::from_string(format!("sha256:0123456f{}", "1".repeat(56))));
        digests.push(digests[7].clone());
        let order = by_digest(&digests);
        let sorted: Vec<&str> = order.iter().map(|&i| digests[i as usize].as_str()).collect();
        let expected: Vec<&str> = plain(&digests).iter().map(|&i| digests[i as usize].as_str()).collect();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn other_strings_are_ordered_as_strings() {
        let digests: Vec<Digest> =
            ["sha512:ab", "sha256:ffff", "", "sha256:00000000aa", "sha256:00000000a", "blake3:01"]
                .iter()
                .map(|s| Digest::from_string((*s).to_string()))
                .collect();
        let order = by_digest(&digests);
        let sorted: Vec<&str> = order.iter().map(|&i| digests[i as usize].as_str()).collect();
        let expected: Vec<&str> = plain(&digests).iter().map(|&i| digests[i as usize].as_str()).collect();
        assert_eq!(sorted, expected);
    }
}
