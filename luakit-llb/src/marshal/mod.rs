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

use luakit_graph::{Node, Op, Output, Platform, SourceFile, SourceLocation, State};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::caps::{self, CapSet, id};
use crate::definition::Definition;
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
    /// The Definition (its bytes; the message on first use).
    pub definition: Definition,
    /// Digest of the terminal op, if any.
    pub terminal: Option<Digest>,
}

/// Marshals the graph behind `state` into a Definition.
pub fn marshal(state: &State, opts: &MarshalOptions) -> Result<pb::Definition, MarshalError> {
    Ok(marshal_full(state, opts)?.definition.into_message())
}

/// Runs every check [`marshal`] makes (caps against `opts.daemon_caps`,
/// mounts, inputs, metadata) and reports the first failure, as `marshal`
/// would, without producing a Definition: ops are not encoded nor hashed,
/// no metadata or source map is collected. What `luakit validate` needs.
/// Returns the number of graph nodes checked.
pub fn check(state: &State, opts: &MarshalOptions) -> Result<usize, MarshalError> {
    let Some(out) = state.output() else {
        return Ok(0);
    };
    let mut enc = Encoder::new(opts.clone(), true);
    enc.visit(&out.node);
    // A fresh encoder numbers the nodes under the root in the order a
    // marshal's walk meets them (inputs first, each once): the first error
    // that walk reports is the first failed node by number.
    for outcome in &enc.outcomes {
        status(outcome)?;
    }
    Ok(enc.outcomes.len())
}

/// Like [`marshal`], also returning the terminal digest.
pub fn marshal_full(state: &State, opts: &MarshalOptions) -> Result<Marshalled, MarshalError> {
    assemble(state, opts, &mut Encoder::new(opts.clone(), false))
}

/// Walks the graph under `root` inputs first, each node once (the
/// post-order BuildKit's client uses), with an explicit stack so that deep
/// chains cannot overflow the call stack. A node is a handle `N` (a node
/// itself, or its number in an encoder); `inputs` lists a node's inputs
/// in [`Node::for_each_input`]'s order. A node `is_done` says is done is
/// neither visited nor descended into; `f` visits a node and must make it
/// done. Stops at the first error `f` gives.
fn post_order<N: Copy, D>(
    root: N,
    done: &mut D,
    is_done: impl Fn(&D, N) -> bool,
    inputs: impl Fn(N, &mut Vec<N>),
    mut f: impl FnMut(&mut D, N) -> Result<(), MarshalError>,
) -> Result<(), MarshalError> {
    let mut stack: Vec<(N, bool)> = vec![(root, false)];
    let mut listed: Vec<N> = Vec::new();
    while let Some((node, expanded)) = stack.pop() {
        if is_done(done, node) {
            continue;
        }
        if expanded {
            f(done, node)?;
            continue;
        }
        stack.push((node, true));
        listed.clear();
        inputs(node, &mut listed);
        for &inp in listed.iter().rev() {
            if !is_done(done, inp) {
                stack.push((inp, false));
            }
        }
    }
    Ok(())
}

/// A node's inputs, for [`post_order`] over nodes.
fn node_inputs<'g>(node: &'g Arc<Node>, out: &mut Vec<&'g Arc<Node>>) {
    node.for_each_input(|o| out.push(&o.node));
}

/// [`post_order`] over every node under `root`, once each, on the
/// encoder's numbering (`root` and everything under it encoded already):
/// `f` gets each node's number. The walk reads only the numbers of each
/// node's inputs, which the encoder keeps in one array, not the nodes
/// nor a map keyed by their addresses.
fn each_once(
    index: &FxHashMap<usize, u32>,
    edges: &Edges,
    root: &Arc<Node>,
    mut f: impl FnMut(u32) -> Result<(), MarshalError>,
) -> Result<(), MarshalError> {
    let Some(&root) = index.get(&(Arc::as_ptr(root) as usize)) else {
        return Err(not_encoded(root));
    };
    post_order(
        root,
        &mut vec![false; edges.starts.len()],
        |done, id| done[id as usize],
        |id, out| out.extend_from_slice(edges.of(id)),
        |done, id| {
            done[id as usize] = true;
            f(id)
        },
    )
}

/// The inputs of each node an encoder numbered: the numbers of the nodes
/// [`Node::for_each_input`] gives, in its order, node after node.
#[derive(Default)]
struct Edges {
    /// Where each node's inputs start in `inputs`, by number.
    starts: Vec<u32>,
    inputs: Vec<u32>,
}

impl Edges {
    fn of(&self, id: u32) -> &[u32] {
        let start = self.starts[id as usize] as usize;
        let end = self.starts.get(id as usize + 1).map_or(self.inputs.len(), |&e| e as usize);
        &self.inputs[start..end]
    }
}

/// Whether a node (visited already) passed every check.
fn status(outcome: &Outcome) -> Result<(), MarshalError> {
    match outcome {
        Outcome::Checked | Outcome::Encoded(_) => Ok(()),
        Outcome::Failed(e) => Err((**e).clone()),
    }
}

/// The Definition of the graph behind `state` from its encoded nodes: ops
/// in the walk's order, one per digest, metadata merged per digest, the
/// terminal op, the caps of the Definition and the source map. `enc`
/// encodes what it has not seen yet first.
fn assemble(state: &State, opts: &MarshalOptions, enc: &mut Encoder) -> Result<Marshalled, MarshalError> {
    if let Some(out) = state.output() {
        enc.visit(&out.node);
    }
    // At most one op per node the encoder saw.
    let n = enc.nodes.len();
    let names = StepNames::new(opts);
    let unique = !enc.shared_prefix && !names.enabled();
    let mut m = Assembler {
        seen: if unique { FxHashMap::default() } else { FxHashMap::with_capacity_and_hasher(n, Default::default()) },
        unique,
        ops: Vec::with_capacity(n + 1),
        metadata: Vec::with_capacity(n + 1),
        digests: Vec::with_capacity(n + 1),
        sources: SourceCollector {
            locations: if opts.source_map { Vec::with_capacity(n) } else { Vec::new() },
            ..Default::default()
        },
        any_meta: MetaFlags::default(),
        names,
    };
    let Some(out) = state.output() else {
        return Ok(Marshalled { definition: Definition::default(), terminal: None });
    };
    {
        let (index, nodes, edges) = (&enc.index, &enc.nodes, &enc.edges);
        let outcomes = &mut enc.outcomes;
        each_once(index, edges, &out.node, |id| {
            let node = &nodes[id as usize];
            let e = take(&mut outcomes[id as usize], node)?;
            m.add(node, e, opts.source_map);
            Ok(())
        })?;
    }
    let dgst = enc.digest(&out.node)?;
    // As BuildKit's client does: the terminal op records that descriptions are used.
    if m.names.apply(&m.seen, &mut m.metadata) {
        m.any_meta.description = true;
    }
    let terminal = pb::Op {
        inputs: vec![pb::Input { digest: dgst.as_str().to_owned(), index: i64::from(out.index) }],
        ..Default::default()
    };
    let (bytes, tdgst) = framed(&terminal);
    // With no map of digests, the terminal is looked for among the ops
    // when its digest's prefix is one an op has (it never is the same op
    // in practice: an op of its own has an operation).
    let emitted = (m.unique && digest_key(&tdgst).is_none_or(|k| enc.prefixes.contains(&k)))
        .then(|| m.digests.iter().position(|d| *d == tdgst))
        .flatten();
    let t = match emitted {
        Some(t) => t,
        None => m.slot(&tdgst, bytes),
    };
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
    m.metadata[t].caps_mut().extend(caps);
    // Metadata and source map entries are written in digest order: the
    // positions are sorted by digest once (an 8-byte key each), not the
    // entries, and no map is built.
    let order = by_digest(&m.digests);
    let (definition, metadata, digests) = m.write(&order, opts.source_map);
    // Freed with the encoder (in a pipeline, once its owner drops it), not
    // on the way to the Definition.
    enc.spent.push(Box::new((metadata, digests, order)));
    Ok(Marshalled { definition, terminal: Some(tdgst) })
}

/// The eight characters after `sha256:` of a digest, read as one
/// big-endian number: digests order as these numbers do, unless equal.
fn digest_key(d: &Digest) -> Option<u64> {
    let hex = d.as_str().strip_prefix("sha256:")?.as_bytes().get(..8)?;
    Some(u64::from_be_bytes(hex.try_into().ok()?))
}

/// The positions of `digests` in the order of the digests (as strings).
/// Digests of this marshal all start `sha256:` and are lowercase hex; the
/// eight digits after it, as a 32-bit number, order them as the strings
/// do, and only equal numbers need the strings compared.
fn by_digest(digests: &[Digest]) -> Vec<u32> {
    // Each number above its position in one integer: sorting these plain
    // numbers touches no other memory, and equal numbers (rare) are then
    // put in string order.
    let keyed: Option<Vec<u64>> =
        digests.iter().enumerate().map(|(i, d)| Some(u64::from(hex_key(d)?) << 32 | i as u64)).collect();
    let Some(mut keyed) = keyed else {
        let mut order: Vec<u32> = (0..digests.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| digests[a as usize].cmp(&digests[b as usize]));
        return order;
    };
    sort_by_high_half(&mut keyed);
    let mut order: Vec<u32> = keyed.iter().map(|&k| k as u32).collect();
    let mut run = 0;
    for i in 1..=keyed.len() {
        if i == keyed.len() || keyed[i] >> 32 != keyed[run] >> 32 {
            if i - run > 1 {
                order[run..i].sort_unstable_by(|&a, &b| digests[a as usize].cmp(&digests[b as usize]));
            }
            run = i;
        }
    }
    order
}

/// The eight hex digits after `sha256:` as a number (`None` for anything
/// else, such as upper case, which would not order as the string does).
fn hex_key(d: &Digest) -> Option<u32> {
    /// Each byte's value as a lowercase hex digit; 16 when it is none.
    const DIGIT: [u8; 256] = {
        let mut t = [16u8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let hex: &[u8; 8] = d.as_str().strip_prefix("sha256:")?.as_bytes().get(..8)?.try_into().ok()?;
    let (mut k, mut bad) = (0u32, 0u8);
    for &c in hex {
        let v = DIGIT[c as usize];
        bad |= v;
        k = k << 4 | u32::from(v & 15);
    }
    (bad < 16).then_some(k)
}

/// Sorts `keys` by their upper 32 bits, keeping the order of equal ones
/// (a radix sort, a byte a pass: digests are spread evenly, and a
/// comparison sort of a 10,000-op graph's took a tenth of the assembly).
fn sort_by_high_half(keys: &mut Vec<u64>) {
    if keys.len() < 256 {
        // The lower halves are positions, in order: the same order.
        keys.sort_unstable();
        return;
    }
    let mut other = vec![0u64; keys.len()];
    for shift in [32u32, 40, 48, 56] {
        let mut starts = [0usize; 256];
        for &k in keys.iter() {
            starts[(k >> shift) as usize & 0xff] += 1;
        }
        if starts.contains(&keys.len()) {
            // One bucket holds them all: already in order for this byte.
            continue;
        }
        let mut sum = 0;
        for c in &mut starts {
            (*c, sum) = (sum, sum + *c);
        }
        for &k in keys.iter() {
            let b = (k >> shift) as usize & 0xff;
            other[starts[b]] = k;
            starts[b] += 1;
        }
        std::mem::swap(keys, &mut other);
    }
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
    /// The op's bytes, framed as a Definition's field 1 (see [`framed`];
    /// taken when the op is emitted; empty when checking).
    bytes: Vec<u8>,
    /// The caps the op records, under the daemon's policy, without the
    /// description cap (the Definition records that one); shared by the
    /// ops that record the same ones.
    caps: Arc<BTreeMap<String, bool>>,
    /// The description, unless the daemon cannot show it.
    description: BTreeMap<String, String>,
    /// The step name the op gets when ops are named.
    name: Option<String>,
}

/// What encoding a node gave, small (the encoder holds one per node).
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
    /// Node address → the node's number: nodes are numbered in the order
    /// they are encoded (inputs first). The internal maps use a fast
    /// non-cryptographic hash (their keys are addresses and digests made
    /// here, not outside input an attacker picks).
    index: FxHashMap<usize, u32>,
    /// The nodes by number (kept alive: see above); empty when checking.
    nodes: Vec<Arc<Node>>,
    /// What encoding each node gave, by number.
    outcomes: Vec<Outcome>,
    /// Each node's inputs, by number; empty when checking.
    edges: Edges,
    /// Only the checks: ops are built (their encoders make the checks) but
    /// neither encoded nor hashed; every node gets the same empty digest.
    /// Nodes are neither kept nor linked to their inputs: [`check`], the
    /// one user, reads the outcomes in order, and holds the graph (so no
    /// node's address is reused) while its encoder lives.
    check_only: bool,
    /// The digest every node gets when only checking.
    unnamed: Digest,
    /// The distinct cap sets of the ops encoded so far (most ops record
    /// one of a few), so that each op's metadata shares one.
    cap_sets: FxHashMap<BTreeMap<String, bool>, Arc<BTreeMap<String, bool>>>,
    /// The digests of the ops encoded so far, by a prefix of each (eight
    /// bytes of hex), and whether two of them shared one: when none did,
    /// no two nodes give the same op, and the assembly needs no map from
    /// digest to op (see [`Assembler::unique`]).
    prefixes: FxHashSet<u64>,
    shared_prefix: bool,
    /// What assemblies put together the Definition from, kept to be freed
    /// with the encoder.
    spent: Vec<Box<dyn std::any::Any + Send>>,
}

impl Encoder {
    fn new(opts: MarshalOptions, check_only: bool) -> Self {
        Encoder {
            opts: Arc::new(opts),
            index: FxHashMap::default(),
            nodes: Vec::new(),
            outcomes: Vec::new(),
            edges: Edges::default(),
            check_only,
            unnamed: Digest::from_string(String::new()),
            cap_sets: FxHashMap::default(),
            prefixes: FxHashSet::default(),
            shared_prefix: false,
            spent: Vec::new(),
        }
    }

    /// The shared copy of `caps`.
    fn shared_caps(&mut self, caps: BTreeMap<String, bool>) -> Arc<BTreeMap<String, bool>> {
        if let Some(shared) = self.cap_sets.get(&caps) {
            return shared.clone();
        }
        let shared = Arc::new(caps.clone());
        self.cap_sets.insert(caps, shared.clone());
        shared
    }

    fn outcome(&self, node: &Arc<Node>) -> Option<&Outcome> {
        self.index.get(&(Arc::as_ptr(node) as usize)).map(|&id| &self.outcomes[id as usize])
    }

    fn digest(&self, node: &Arc<Node>) -> Result<Digest, MarshalError> {
        match self.outcome(node) {
            Some(Outcome::Checked) => Ok(self.unnamed.clone()),
            Some(Outcome::Encoded(e)) => Ok(e.digest.clone()),
            Some(Outcome::Failed(e)) => Err((**e).clone()),
            None => Err(not_encoded(node)),
        }
    }

    /// Encodes `root` and everything under it not encoded yet, inputs first.
    pub(crate) fn visit(&mut self, root: &Arc<Node>) {
        let visited = post_order(
            root,
            self,
            |enc, node| enc.outcome(node).is_some(),
            node_inputs,
            |enc, node| {
                let r = match enc.encode_node(node) {
                    Ok(Some(e)) => {
                        if !enc.shared_prefix {
                            let fresh = digest_key(&e.digest).is_some_and(|k| enc.prefixes.insert(k));
                            enc.shared_prefix = !fresh;
                        }
                        Outcome::Encoded(Box::new(e))
                    }
                    Ok(None) => Outcome::Checked,
                    Err(e) => Outcome::Failed(Box::new(e)),
                };
                let id = enc.outcomes.len() as u32;
                if !enc.check_only {
                    enc.edges.starts.push(enc.edges.inputs.len() as u32);
                    let (index, inputs) = (&enc.index, &mut enc.edges.inputs);
                    node.for_each_input(|o| {
                        // Inputs come first: each is numbered already.
                        if let Some(&i) = index.get(&(Arc::as_ptr(&o.node) as usize)) {
                            inputs.push(i);
                        }
                    });
                    enc.nodes.push(node.clone());
                }
                enc.index.insert(Arc::as_ptr(node) as usize, id);
                enc.outcomes.push(r);
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
        let mut caps =
            CapRecorder { caps: BTreeMap::new(), daemon: opts.daemon_caps.as_ref(), node, record: !self.check_only };
        let platform = node.constraints.platform.as_deref().unwrap_or(&opts.platform);
        // Checking makes the same checks in the same order, without the
        // parts of the op that no check reads (platform, constraints,
        // exec meta, file actions, caps recorded).
        let full = !self.check_only;
        let mut op = pb::Op {
            constraints: full.then(|| pb::WorkerConstraints { filter: node.constraints.worker_constraints.clone() }),
            ..Default::default()
        };
        match &node.op {
            Op::Source(src) => {
                op.op = Some(pb::op::Op::Source(self.source(src, &mut caps)?));
                if src.is_platform_specific() && full {
                    op.platform = Some(pb_platform(platform));
                }
            }
            Op::Exec(exec) => {
                let (inputs, e) = self.exec(exec, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Exec(e));
                op.platform = full.then(|| pb_platform(platform));
            }
            Op::File(file) => {
                let (inputs, f) = self.file(file, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::File(f));
                op.platform = full.then(|| pb_platform(platform));
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
        let (bytes, digest) = framed(&op);
        let name = if opts.name_ops { crate::naming::step_name(node, &op) } else { None };
        let mut caps = caps.caps;
        caps.remove(id::META_DESCRIPTION);
        let caps = self.shared_caps(caps);
        Ok(Some(Encoded { digest, bytes, caps, description, name }))
    }
}

fn not_encoded(node: &Node) -> MarshalError {
    MarshalError::Invalid { location: location_prefix(node), message: "internal error: op was not encoded".to_string() }
}

/// What encoding `node` gave (its outcome), its bytes moved out: an
/// assembly emits each node once. What stays (the digest) is freed with
/// the encoder, not while the Definition is put together.
fn take(outcome: &mut Outcome, node: &Node) -> Result<Encoded, MarshalError> {
    match outcome {
        Outcome::Encoded(e) => Ok(Encoded {
            digest: e.digest.clone(),
            bytes: std::mem::take(&mut e.bytes),
            caps: e.caps.clone(),
            description: std::mem::take(&mut e.description),
            name: e.name.take(),
        }),
        Outcome::Failed(e) => Err((**e).clone()),
        Outcome::Checked => Err(not_encoded(node)),
    }
}

/// Puts encoded ops in order: one per digest, metadata merged per digest.
struct Assembler<'g> {
    /// Digest → its position in `ops` (emitted already); kept only when
    /// not `unique`.
    seen: FxHashMap<Digest, usize>,
    /// Every node gives an op of its own (the encoder saw no two digests
    /// share a prefix) and no step is named by digest: each node emitted
    /// is a new op, and `seen` is not needed.
    unique: bool,
    /// The encoded ops (each framed as field 1), in the Definition's order.
    ops: Vec<Vec<u8>>,
    /// Op metadata by position in `ops`, merged over nodes with the same
    /// digest.
    metadata: Vec<Meta>,
    /// The digest of each op in `ops`, by position.
    digests: Vec<Digest>,
    sources: SourceCollector<'g>,
    any_meta: MetaFlags,
    names: StepNames,
}

impl<'g> Assembler<'g> {
    /// The position of the op `dgst` in the Definition, emitting `bytes`
    /// (with empty metadata) the first time the digest is seen.
    fn slot(&mut self, dgst: &Digest, bytes: Vec<u8>) -> usize {
        if !self.unique {
            if let Some(&i) = self.seen.get(dgst) {
                return i;
            }
            self.seen.insert(dgst.clone(), self.ops.len());
        }
        let i = self.ops.len();
        self.ops.push(bytes);
        self.metadata.push(Meta::default());
        self.digests.push(dgst.clone());
        i
    }

    /// Emits `node`, encoded as `e`, in walk order.
    fn add(&mut self, node: &'g Node, e: Encoded, source_map: bool) {
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
        match &mut md.caps {
            None => md.caps = Some(e.caps),
            Some(caps) if !Arc::ptr_eq(caps, &e.caps) => {
                Arc::make_mut(caps).extend(e.caps.iter().map(|(k, v)| (k.clone(), *v)));
            }
            Some(_) => {}
        }
        if let Some(pg) = &md_in.progress_group {
            md.progress_group =
                Some(Box::new(pb::ProgressGroup { id: pg.id.clone(), name: pg.name.clone(), weak: pg.weak }));
        }
        if source_map {
            self.sources.add(slot, node);
        }
    }

    /// The Definition, as [`encode`] would write the message these parts
    /// make, without making it: the ops (field 1, kept as they were framed)
    /// and, after them, the metadata (field 2, a map entry per op in the
    /// digest order `order` gives) and the source map (field 3).
    /// Also gives back the metadata and digests it wrote from.
    fn write(self, order: &[u32], source_map: bool) -> (Definition, Vec<Meta>, Vec<Digest>) {
        let Assembler { ops, metadata, digests, sources, .. } = self;
        // A large source map is written on a thread of its own while this
        // one writes the metadata (both in digest order, into pieces that
        // follow each other).
        let parallel = source_map && sources.locations.len() >= PARALLEL_SOURCE_MAP;
        let definition = std::thread::scope(|scope| {
            let source = parallel
                .then(|| {
                    let (sources, digests) = (&sources, &digests);
                    std::thread::Builder::new()
                        .name("luakit-sourcemap".to_string())
                        .spawn_scoped(scope, move || {
                            let mut buf = Vec::with_capacity(sources.guess() + 16);
                            sources.write(order, digests, &mut buf);
                            buf
                        })
                        .ok()
                })
                .flatten();
            let source_room = if source_map && source.is_none() { sources.guess() + 16 } else { 0 };
            let mut rest = write_metadata(&metadata, &digests, order, source_room);
            match source {
                Some(source) => match source.join() {
                    Ok(source) => Definition::from_parts(ops, vec![rest, source]),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                None => {
                    if source_map {
                        sources.write(order, &digests, &mut rest);
                    }
                    Definition::from_parts(ops, vec![rest])
                }
            }
        });
        (definition, metadata, digests)
    }
}

/// How many source locations make the source map worth a thread of its own.
const PARALLEL_SOURCE_MAP: usize = 2_000;

/// The metadata field of a Definition (a map entry per op, in the digest
/// order `order` gives), in a buffer with `room` bytes more to spare.
///
/// Most ops' metadata is only their caps, a set many ops share: its bytes
/// are made once per set. They are made first, so that the buffer is
/// allocated once at its size: growing a buffer of megabytes copies it into
/// fresh pages.
fn write_metadata(metadata: &[Meta], digests: &[Digest], order: &[u32], room: usize) -> Vec<u8> {
    let mut caps_bytes: FxHashMap<*const BTreeMap<String, bool>, Vec<u8>> = FxHashMap::default();
    let mut metadata_len = 0;
    for (md, dgst) in metadata.iter().zip(digests) {
        let len = match &md.caps {
            Some(caps) if md.caps_only() => caps_bytes
                .entry(Arc::as_ptr(caps))
                .or_insert_with(|| {
                    let mut b = Vec::new();
                    pb::go_maps::encode_caps_map(caps, &mut b);
                    b
                })
                .len(),
            _ => md.encoded_len(),
        };
        metadata_len += map_entry_len(2, dgst.as_str().len(), len);
    }
    let mut rest = Vec::with_capacity(metadata_len + room);
    for &i in order {
        let (key, md) = (digests[i as usize].as_str().as_bytes(), &metadata[i as usize]);
        match md.caps.as_ref().filter(|_| md.caps_only()).and_then(|c| caps_bytes.get(&Arc::as_ptr(c))) {
            Some(bytes) => map_entry(2, key, bytes.len(), &mut rest, |buf| buf.extend_from_slice(bytes)),
            None => map_entry(2, key, md.encoded_len(), &mut rest, |buf| md.encode(buf)),
        }
    }
    debug_assert_eq!(rest.len(), metadata_len, "the metadata's length");
    rest
}

/// Appends a length-delimited field `tag` to `out`, its body written by
/// `body` straight into `out` (no buffer of its own, no copy): room for the
/// key and length is left first, sized for a body of about `guess` bytes,
/// and the body is moved only when its real length needs another size.
fn write_in_place(tag: u32, guess: usize, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    out.reserve(guess + 16);
    let head = out.len();
    let room = key_len(tag) + encoded_len_varint(guess as u64);
    out.resize(head + room, 0);
    let start = out.len();
    body(out);
    let len = out.len() - start;
    let mut header = Vec::with_capacity(16);
    encode_key(tag, WireType::LengthDelimited, &mut header);
    encode_varint(len as u64, &mut header);
    let at = head + header.len();
    if at != start {
        if at > start {
            out.resize(at + len, 0);
        }
        out.copy_within(start..start + len, at);
        out.truncate(at + len);
    }
    out[head..at].copy_from_slice(&header);
}

/// An op's bytes as field 1 of a Definition (its key and length first, so
/// that a Definition is its ops' bytes one after the other, then the rest),
/// and the digest of the op's own bytes.
fn framed(op: &pb::Op) -> (Vec<u8>, Digest) {
    let len = op.encoded_len();
    let mut buf = Vec::with_capacity(key_len(1) + encoded_len_varint(len as u64) + len);
    encode_key(1, WireType::LengthDelimited, &mut buf);
    encode_varint(len as u64, &mut buf);
    let start = buf.len();
    op.encode_raw(&mut buf);
    let digest = Digest::of(&buf[start..]);
    (buf, digest)
}

/// The length of what [`map_entry`] writes for a key of `key_bytes` bytes
/// and a value of `len`.
fn map_entry_len(tag: u32, key_bytes: usize, len: usize) -> usize {
    let body = map_entry_body_len(key_bytes, len);
    key_len(tag) + encoded_len_varint(body as u64) + body
}

/// The length of a map entry's message: its key field and its value field.
fn map_entry_body_len(key_bytes: usize, len: usize) -> usize {
    nested_len(key_bytes) + nested_len(len)
}

/// Writes one entry of a `map<string, Message>` field `tag` (as Go does:
/// key and value always present): `value` writes the value's `len` bytes.
fn map_entry(tag: u32, key: &[u8], len: usize, buf: &mut Vec<u8>, value: impl FnOnce(&mut Vec<u8>)) {
    let mut w = Small::new();
    w.nested(tag, map_entry_body_len(key.len(), len));
    w.nested(1, key.len());
    w.flush(buf);
    buf.extend_from_slice(key);
    w.nested(2, len);
    w.flush(buf);
    let start = buf.len();
    value(buf);
    debug_assert_eq!(buf.len() - start, len, "a map value's length");
}

/// The metadata of one op while assembling: the fields of
/// [`pb::OpMetadata`] a marshal sets, written as that message is. The caps
/// of ops that record the same ones are one shared map (see
/// [`Encoder::shared_caps`]), changed only by copying it.
#[derive(Default)]
pub(crate) struct Meta {
    ignore_cache: bool,
    pub(crate) description: BTreeMap<String, String>,
    caps: Option<Arc<BTreeMap<String, bool>>>,
    /// Boxed: rare, and the metadata of every op is kept while assembling.
    progress_group: Option<Box<pb::ProgressGroup>>,
}

impl Meta {
    pub(crate) fn caps_mut(&mut self) -> &mut BTreeMap<String, bool> {
        Arc::make_mut(self.caps.get_or_insert_with(Default::default))
    }

    /// Whether the caps are all there is to write.
    fn caps_only(&self) -> bool {
        !self.ignore_cache && self.description.is_empty() && self.progress_group.is_none()
    }

    fn encoded_len(&self) -> usize {
        use prost::encoding::message;
        let caps = self.caps.as_deref().map_or(0, pb::go_maps::caps_map_len);
        (if self.ignore_cache { 2 } else { 0 })
            + pb::go_maps::string_map_len(2, &self.description)
            + caps
            + self.progress_group.as_ref().map_or(0, |g| message::encoded_len(6, g))
    }

    /// As [`pb::OpMetadata`] writes these fields (1, 2, 5, 6; field 4, the
    /// export cache, is never set by a marshal).
    fn encode(&self, buf: &mut Vec<u8>) {
        if self.ignore_cache {
            prost::encoding::bool::encode(1, &true, buf);
        }
        pb::go_maps::encode_string_map(2, &self.description, buf);
        if let Some(caps) = &self.caps {
            pb::go_maps::encode_caps_map(caps, buf);
        }
        if let Some(group) = &self.progress_group {
            prost::encoding::message::encode(6, group, buf);
        }
    }
}

/// A field's key, length and body, for a nested message of `len` bytes.
fn nested_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// An `int32` field (left out when 0; a negative value takes ten bytes).
fn int32_len(v: i32) -> usize {
    if v == 0 { 0 } else { 1 + encoded_len_varint(i64::from(v) as u64) }
}

/// Keys and varints written into a few bytes on the stack, then appended
/// to the output in one copy (where a varint written straight into a
/// `Vec` checks its room byte by byte).
struct Small {
    bytes: [u8; Small::ROOM],
    len: usize,
}

impl Small {
    /// Room for the most any write below holds before it is flushed: a
    /// location's key, length and file index, and one range (nine keys of
    /// 1 byte and nine varints of at most 10), 99 bytes.
    const ROOM: usize = 128;

    fn new() -> Self {
        Small { bytes: [0; Small::ROOM], len: 0 }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes[self.len] = (v as u8) | 0x80;
            self.len += 1;
            v >>= 7;
        }
        self.bytes[self.len] = v as u8;
        self.len += 1;
    }

    fn key(&mut self, tag: u32, wire_type: WireType) {
        self.varint(u64::from(tag << 3 | wire_type as u32));
    }

    /// A nested message's key and length.
    fn nested(&mut self, tag: u32, len: usize) {
        self.key(tag, WireType::LengthDelimited);
        self.varint(len as u64);
    }

    /// An int32 field, as prost writes it: nothing when zero.
    fn int32(&mut self, tag: u32, v: i32) {
        if v != 0 {
            self.key(tag, WireType::Varint);
            self.varint(i64::from(v) as u64);
        }
    }

    fn flush(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.bytes[..self.len]);
        self.len = 0;
    }
}

/// A `pb::Position` (line, character).
fn position_len(line: i32, character: i32) -> usize {
    int32_len(line) + int32_len(character)
}

/// A `pb::Range`: start and end, both always present.
fn range_len(r: &luakit_graph::SourceRange) -> usize {
    nested_len(position_len(r.start_line, r.start_char)) + nested_len(position_len(r.end_line, r.end_char))
}

/// A `pb::Location`: the file's index in the source map, and the ranges.
fn location_len((_, idx, loc): (u32, i32, &SourceLocation)) -> usize {
    int32_len(idx) + loc.ranges.iter().map(|r| nested_len(range_len(r))).sum::<usize>()
}

/// Writes a `pb::Location` as field 1 of `pb::Locations`, as prost writes
/// the message (the source-map tests compare with its encoding).
fn encode_location(entry: (u32, i32, &SourceLocation), buf: &mut Vec<u8>) {
    let (_, idx, loc) = entry;
    let mut w = Small::new();
    w.nested(1, location_len(entry));
    w.int32(1, idx);
    for r in &loc.ranges {
        w.nested(2, range_len(r));
        for (tag, line, character) in [(1, r.start_line, r.start_char), (2, r.end_line, r.end_char)] {
            w.nested(tag, position_len(line, character));
            w.int32(1, line);
            w.int32(2, character);
        }
        w.flush(buf);
    }
    w.flush(buf);
}

/// Collects the source map: files in first-use order, and the locations of
/// each op (by its position in the Definition, in visit order), written
/// from the graph's own locations when the Definition is written.
#[derive(Default)]
struct SourceCollector<'g> {
    files: Vec<Arc<SourceFile>>,
    /// File (by address) → its index in `files`.
    index: FxHashMap<usize, usize>,
    /// (op position, file index, location), in visit order.
    locations: Vec<(u32, i32, &'g SourceLocation)>,
}

impl<'g> SourceCollector<'g> {
    fn add(&mut self, slot: usize, node: &'g Node) {
        for loc in &node.locations {
            let ptr = Arc::as_ptr(&loc.file) as usize;
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
            self.locations.push((slot as u32, idx as i32, loc));
        }
    }

    /// Appends the source map to `out` as field 3 of a Definition (a
    /// `pb::Source`: locations keyed by digest, in the digest order `order`
    /// gives, then the files), or nothing when no op has a location.
    fn write(&self, order: &[u32], digests: &[Digest], out: &mut Vec<u8>) {
        if self.files.is_empty() {
            return;
        }
        write_in_place(3, self.guess(), out, |buf| self.write_body(order, digests, buf));
    }

    /// About the length of the source map: what a location takes (its
    /// digest key is most of it), and the files.
    fn guess(&self) -> usize {
        if self.files.is_empty() {
            return 0;
        }
        self.locations.len() * 96 + self.files.iter().map(|f| f.data.len() + f.filename.len() + 16).sum::<usize>()
    }

    /// The fields of the source map message (see [`Self::write`]).
    fn write_body(&self, order: &[u32], digests: &[Digest], buf: &mut Vec<u8>) {
        // The locations grouped by op, each group in visit order (a
        // counting sort by position).
        let mut start = vec![0u32; digests.len() + 1];
        for &(slot, _, _) in &self.locations {
            start[slot as usize + 1] += 1;
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        let mut fill = start.clone();
        let mut grouped: Vec<u32> = vec![0; self.locations.len()];
        for (n, &(slot, _, _)) in self.locations.iter().enumerate() {
            grouped[fill[slot as usize] as usize] = n as u32;
            fill[slot as usize] += 1;
        }
        for &i in order {
            let group = &grouped[start[i as usize] as usize..start[i as usize + 1] as usize];
            if group.is_empty() {
                continue;
            }
            // A `Locations` message: its `Location`s as field 1.
            let len: usize = group.iter().map(|&n| nested_len(location_len(self.locations[n as usize]))).sum();
            map_entry(1, digests[i as usize].as_str().as_bytes(), len, buf, |b| {
                for &n in group {
                    encode_location(self.locations[n as usize], b);
                }
            });
        }
        for f in &self.files {
            let info = pb::SourceInfo {
                filename: f.filename.clone(),
                data: f.data.clone(),
                definition: None,
                language: f.language.clone(),
            };
            prost::encoding::message::encode(2, &info, buf);
        }
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
    /// Keep the caps (false when only checking: the checks against the
    /// daemon are made, nothing is kept).
    record: bool,
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
        self.keep(cap);
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
        self.keep(cap);
        Ok(true)
    }

    /// Records `cap` only if the daemon knows it (caps that BuildKit never enforced).
    fn soft(&mut self, cap: &str) {
        if self.daemon.is_none_or(|d| d.supports(cap)) {
            self.keep(cap);
        }
    }

    /// Keeps `cap` among the op's caps, unless only checking.
    fn keep(&mut self, cap: &str) {
        if self.record {
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
    fn a_field_written_in_place_is_the_field_whatever_the_guess() {
        // Bodies across the sizes where a length's varint grows, each with
        // a guess that is right, too small and too large.
        for len in [0usize, 1, 127, 128, 129, 16_383, 16_384, 20_000, 2_097_151, 2_097_152] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut expected = b"before".to_vec();
            encode_key(3, WireType::LengthDelimited, &mut expected);
            encode_varint(len as u64, &mut expected);
            expected.extend_from_slice(&body);
            for guess in [len, 0, len / 3, len * 200 + 1_000_000] {
                let mut out = b"before".to_vec();
                write_in_place(3, guess, &mut out, |b| b.extend_from_slice(&body));
                assert!(out == expected, "body of {len} bytes, guessed {guess}");
            }
        }
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
    fn many_digests_are_ordered_as_strings() {
        // Enough for the radix sort, with runs of equal first digits in
        // several places, and digests that differ only in one byte of
        // the number (each pass of the sort must count).
        let mut digests: Vec<Digest> = (0..5000u32).map(|i| Digest::of(&i.to_le_bytes())).collect();
        for (i, first) in
            ["00000000", "0000000f", "000000f0", "00000f00", "0000f000", "ffffffff", "7fffffff"].iter().enumerate()
        {
            for tail in ["0", "f", "8", "1"] {
                digests.push(Digest::from_string(format!("sha256:{first}{}", tail.repeat(56))));
            }
            digests.insert(i * 700, Digest::from_string(format!("sha256:{first}{}", "4".repeat(56))));
        }
        digests.push(digests[10].clone());
        let order = by_digest(&digests);
        let sorted: Vec<&str> = order.iter().map(|&i| digests[i as usize].as_str()).collect();
        let expected: Vec<&str> = plain(&digests).iter().map(|&i| digests[i as usize].as_str()).collect();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn upper_case_digests_are_ordered_as_strings() {
        let digests: Vec<Digest> = (0..400u32)
            .map(|i| {
                let d = Digest::of(&i.to_le_bytes());
                let s = d.as_str();
                Digest::from_string(if i % 3 == 0 {
                    s.to_uppercase().replace("SHA256", "sha256")
                } else {
                    s.to_string()
                })
            })
            .collect();
        let order = by_digest(&digests);
        let sorted: Vec<&str> = order.iter().map(|&i| digests[i as usize].as_str()).collect();
        let expected: Vec<&str> = plain(&digests).iter().map(|&i| digests[i as usize].as_str()).collect();
        assert_eq!(sorted, expected);
    }

    #[test]
    fn locations_are_written_as_prost_writes_them() {
        use luakit_graph::SourceRange;
        let file = Arc::new(SourceFile { filename: "b.lua".into(), data: b"x".to_vec(), language: "Lua".into() });
        let ranges = vec![
            SourceRange { start_line: 1, start_char: 0, end_line: 1, end_char: 0 },
            SourceRange { start_line: 0, start_char: -1, end_line: 300, end_char: 70000 },
            SourceRange { start_line: i32::MAX, start_char: i32::MIN, end_line: 0, end_char: 0 },
            // Every number its longest (ten bytes): the most a range takes.
            SourceRange { start_line: -1, start_char: i32::MIN, end_line: -7, end_char: -1 },
        ];
        for (idx, ranges) in [
            (0, ranges.clone()),
            (3, ranges.clone()),
            (-2, Vec::new()),
            (200, ranges[1..].to_vec()),
            (-1, ranges[3..].to_vec()),
        ] {
            let loc = SourceLocation { file: file.clone(), ranges };
            let mut ours = Vec::new();
            encode_location((0, idx, &loc), &mut ours);
            let theirs = pb::Location {
                source_index: idx,
                ranges: loc
                    .ranges
                    .iter()
                    .map(|r| pb::Range {
                        start: Some(pb::Position { line: r.start_line, character: r.start_char }),
                        end: Some(pb::Position { line: r.end_line, character: r.end_char }),
                    })
                    .collect(),
            };
            let mut expected = Vec::new();
            prost::encoding::message::encode(1, &theirs, &mut expected);
            assert_eq!(ours, expected, "source index {idx}");
            assert_eq!(nested_len(location_len((0, idx, &loc))), expected.len());
        }
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
