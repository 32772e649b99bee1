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
use rustc_hash::FxHashMap;

use crate::caps::{self, CapSet, id};
use crate::digest::Digest;
use crate::naming::StepNames;
use crate::pb;

mod exec;
mod file;
mod merge_diff;
mod source;

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
    let mut m = Marshaller::new(opts, true);
    if let Some(out) = state.output() {
        m.visit(&out.node)?;
    }
    Ok(m.memo.len())
}

/// Like [`marshal`], also returning the terminal digest.
pub fn marshal_full(state: &State, opts: &MarshalOptions) -> Result<Marshalled, MarshalError> {
    let mut m = Marshaller::new(opts, false);
    let Some(out) = state.output() else {
        return Ok(Marshalled { definition: m.def, terminal: None });
    };
    let dgst = m.visit(&out.node)?;
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
    let mut order: Vec<u32> = (0..m.digests.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| m.digests[a as usize].cmp(&m.digests[b as usize]));
    let mut metadata = std::mem::take(&mut m.metadata);
    m.def.metadata = order
        .iter()
        .map(|&i| (m.digests[i as usize].as_str().to_owned(), std::mem::take(&mut metadata[i as usize])))
        .collect();
    drop(metadata);
    if opts.source_map {
        m.def.source = m.sources.finish();
    }
    Ok(Marshalled { definition: m.def, terminal: Some(tdgst) })
}

#[derive(Default)]
struct MetaFlags {
    ignore_cache: bool,
    description: bool,
}

struct Marshaller<'a> {
    opts: &'a MarshalOptions,
    /// Node identity → digest, so each node is encoded once. The internal
    /// maps use a fast non-cryptographic hash (their keys are addresses and
    /// digests made here, not outside input an attacker picks).
    memo: FxHashMap<*const Node, Digest>,
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
    /// Only the checks: ops are built (their encoders make the checks) but
    /// neither encoded nor hashed; every node gets the same empty digest.
    check_only: bool,
    /// The digest every node gets when only checking.
    unnamed: Digest,
}

impl<'a> Marshaller<'a> {
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

    fn new(opts: &'a MarshalOptions, check_only: bool) -> Self {
        Marshaller {
            opts,
            memo: FxHashMap::default(),
            seen: FxHashMap::default(),
            def: pb::Definition::default(),
            metadata: Vec::new(),
            digests: Vec::new(),
            sources: SourceCollector::default(),
            any_meta: MetaFlags::default(),
            names: StepNames::new(opts),
            check_only,
            unnamed: Digest::from_string(String::new()),
        }
    }
}

/// Collects the source map: files in first-use order, locations per digest.
#[derive(Default)]
struct SourceCollector {
    files: Vec<Arc<SourceFile>>,
    index: FxHashMap<*const SourceFile, usize>,
    /// (digest, location) in visit order; grouped by digest at the end
    /// (cheaper than keeping a map of 10,000 random keys sorted all along).
    locations: Vec<(Digest, pb::Location)>,
}

impl SourceCollector {
    fn add(&mut self, dgst: &Digest, node: &Node) {
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
            self.locations.push((dgst.clone(), pb::Location { source_index: idx as i32, ranges }));
        }
    }

    fn finish(self) -> Option<pb::Source> {
        if self.files.is_empty() {
            return None;
        }
        // Stable: locations of one digest keep their visit order. The
        // positions are sorted, not the (large) entries themselves.
        let mut order: Vec<u32> = (0..self.locations.len() as u32).collect();
        order.sort_by(|&a, &b| self.locations[a as usize].0.cmp(&self.locations[b as usize].0));
        let mut slots: Vec<Option<(Digest, pb::Location)>> = self.locations.into_iter().map(Some).collect();
        let mut grouped: Vec<(String, pb::Locations)> = Vec::new();
        for (d, loc) in order.iter().filter_map(|&i| slots[i as usize].take()) {
            match grouped.last_mut() {
                Some((k, l)) if k.as_str() == d.as_str() => l.locations.push(loc),
                _ => grouped.push((d.as_str().to_owned(), pb::Locations { locations: vec![loc] })),
            }
        }
        Some(pb::Source {
            locations: grouped.into_iter().collect(),
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

impl Marshaller<'_> {
    fn input_of(&mut self, out: &Output) -> Result<pb::Input, MarshalError> {
        let d = match self.memo.get(&Arc::as_ptr(&out.node)) {
            Some(d) => d.clone(),
            None => self.visit(&out.node)?,
        };
        Ok(pb::Input { digest: d.as_str().to_owned(), index: i64::from(out.index) })
    }

    /// Encodes `root` and everything under it, inputs first (the post-order
    /// BuildKit's client uses), with an explicit stack so that deep chains
    /// cannot overflow the call stack.
    fn visit(&mut self, root: &Arc<Node>) -> Result<Digest, MarshalError> {
        let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if self.memo.contains_key(&Arc::as_ptr(&node)) {
                continue;
            }
            if expanded {
                self.encode_node(&node)?;
                continue;
            }
            stack.push((node.clone(), true));
            for inp in node.inputs().into_iter().rev() {
                if !self.memo.contains_key(&Arc::as_ptr(&inp.node)) {
                    stack.push((inp.node.clone(), false));
                }
            }
        }
        self.memo.get(&Arc::as_ptr(root)).cloned().ok_or_else(|| MarshalError::Invalid {
            location: location_prefix(root),
            message: "internal error: op was not encoded".to_string(),
        })
    }

    fn encode_node(&mut self, node: &Arc<Node>) -> Result<Digest, MarshalError> {
        let key = Arc::as_ptr(node);
        let mut caps = CapRecorder { caps: BTreeMap::new(), daemon: self.opts.daemon_caps.as_ref(), node };
        let opts: &MarshalOptions = self.opts;
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
        if self.check_only {
            // The one check of the metadata: a description the daemon
            // cannot show is dropped or refused.
            if !node.metadata.description.is_empty() {
                caps.optional(id::META_DESCRIPTION, "with_metadata description")?;
            }
            let dgst = self.unnamed.clone();
            self.memo.insert(key, dgst.clone());
            return Ok(dgst);
        }
        let bytes = op.encode_to_vec();
        let dgst = Digest::of(&bytes);
        self.memo.insert(key, dgst.clone());
        self.names.record(&dgst, node, &op);

        // Metadata, merged over nodes with the same digest.
        let md_in = &node.metadata;
        let mut description = md_in.description.clone();
        if !description.is_empty() && !caps.optional(id::META_DESCRIPTION, "with_metadata description")? {
            description.clear();
        }
        let slot = self.slot(&dgst, bytes);
        let md = &mut self.metadata[slot];
        if md_in.ignore_cache {
            md.ignore_cache = true;
            self.any_meta.ignore_cache = true;
        }
        if !description.is_empty() {
            self.any_meta.description = true;
            for (k, v) in description {
                md.description.insert(k, v);
            }
        }
        caps.caps.remove(id::META_DESCRIPTION);
        for (k, v) in caps.caps {
            md.caps.insert(k, v);
        }
        if let Some(pg) = &md_in.progress_group {
            md.progress_group = Some(pb::ProgressGroup { id: pg.id.clone(), name: pg.name.clone(), weak: pg.weak });
        }
        if self.opts.source_map {
            self.sources.add(&dgst, node);
        }
        Ok(dgst)
    }
}

/// Encodes a Definition to bytes.
pub fn encode(def: &pb::Definition) -> Vec<u8> {
    def.encode_to_vec()
}
