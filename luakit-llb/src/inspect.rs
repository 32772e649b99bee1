//! Decoding any Definition (luakit's, buildctl's Dockerfile frontend's, any
//! tool's) for inspection: ops by digest in a deterministic topological
//! order, and the terminal op.

use std::collections::{BTreeSet, HashMap};

use prost::Message;

use crate::digest::Digest;
use crate::pb;

/// Why bytes are not a Definition.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The Definition itself does not decode.
    #[error("not an LLB definition: {0}")]
    Definition(#[source] prost::DecodeError),
    /// One `def` entry does not decode as an op.
    #[error("def entry {entry} is not an LLB op: {source}")]
    Op {
        /// Position in `def`.
        entry: usize,
        /// The protobuf error.
        #[source]
        source: prost::DecodeError,
    },
}

/// Decodes a serialized `pb::Definition`.
pub fn decode(bytes: &[u8]) -> Result<pb::Definition, DecodeError> {
    pb::Definition::decode(bytes).map_err(DecodeError::Definition)
}

/// The terminal op: the last `def` entry, with no op body and one input.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalOp {
    /// Digest of the terminal op itself (its metadata carries the graph-wide caps).
    pub op_digest: String,
    /// The result: which output of which op.
    pub input: pb::Input,
}

/// One op of a decoded Definition, with the digest BuildKit knows it by.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedOp {
    /// `sha256:…` of its bytes.
    pub digest: String,
    /// The op itself, decoded from its bytes (inputs refer to other ops by digest).
    pub op: pb::Op,
}

/// A Definition's ops, inputs first (ties by digest), and its terminal op.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The terminal op, if the Definition has one.
    pub terminal: Option<TerminalOp>,
    /// Every other op once, in topological order.
    pub ops: Vec<DecodedOp>,
}

/// Decodes every op of `def` and orders them.
///
/// Memory stays close to one decoded op per distinct digest: ops are
/// decoded once into the result vector and ordered in place, and the
/// ordering works on indices (a Definition of 100,000 small ops costs
/// well under a kilobyte per op on top of its bytes).
pub fn inspect(def: &pb::Definition) -> Result<Inspection, DecodeError> {
    let mut terminal = None;
    let last = def.def.len().checked_sub(1);
    let mut ops: Vec<DecodedOp> = Vec::with_capacity(def.def.len());
    for (i, bytes) in def.def.iter().enumerate() {
        let mut op = pb::Op::decode(bytes.as_slice()).map_err(|source| DecodeError::Op { entry: i, source })?;
        let digest = Digest::of(bytes).to_string();
        if Some(i) == last && op.op.is_none() && op.inputs.len() == 1 {
            terminal = Some(TerminalOp { op_digest: digest, input: op.inputs[0].clone() });
            continue;
        }
        compact(&mut op);
        ops.push(DecodedOp { digest, op });
    }
    let order = topological(&ops, terminal.as_ref().map(|t| t.op_digest.as_str()));
    Ok(Inspection { terminal, ops: permute(ops, &order) })
}

/// Gives back the spare capacity decoding left in an op's vectors (a vector
/// grown by one push holds room for four: three unused mounts of an exec
/// are most of its size).
fn compact(op: &mut pb::Op) {
    op.inputs.shrink_to_fit();
    match &mut op.op {
        Some(pb::op::Op::Exec(e)) => {
            e.mounts.shrink_to_fit();
            if let Some(m) = &mut e.meta {
                m.args.shrink_to_fit();
                m.env.shrink_to_fit();
            }
        }
        Some(pb::op::Op::File(f)) => f.actions.shrink_to_fit(),
        Some(pb::op::Op::Merge(m)) => m.inputs.shrink_to_fit(),
        _ => {}
    }
}

/// The positions in `ops` of the ops to list, in Kahn's order over the
/// digests present: ready ops are taken in digest order. An op whose digest
/// appeared earlier in `def`, or is the terminal op's, is left out.
/// Leftovers (only possible in a corrupt file) follow, by digest.
fn topological(ops: &[DecodedOp], terminal: Option<&str>) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    let mut kept: Vec<usize> = Vec::with_capacity(ops.len());
    for (i, o) in ops.iter().enumerate() {
        if Some(o.digest.as_str()) == terminal {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = index.entry(o.digest.as_str()) {
            e.insert(i);
            kept.push(i);
        }
    }
    // Edges dep → user, as (dep, user) pairs sorted by dep (a compact
    // adjacency list); each op counts its distinct inputs present.
    let mut pending: Vec<usize> = vec![0; ops.len()];
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let mut deps: Vec<usize> = Vec::new();
    for &u in &kept {
        deps.clear();
        deps.extend(ops[u].op.inputs.iter().filter_map(|i| index.get(i.digest.as_str()).copied()).filter(|&d| d != u));
        deps.sort_unstable();
        deps.dedup();
        pending[u] = deps.len();
        edges.extend(deps.iter().map(|&d| (d, u)));
    }
    edges.sort_unstable();
    let users = |d: usize| {
        let start = edges.partition_point(|&(x, _)| x < d);
        edges[start..].iter().take_while(move |&&(x, _)| x == d).map(|&(_, u)| u)
    };
    let mut ready: BTreeSet<(&str, usize)> =
        kept.iter().filter(|&&i| pending[i] == 0).map(|&i| (ops[i].digest.as_str(), i)).collect();
    let mut done = vec![false; ops.len()];
    let mut order: Vec<usize> = Vec::with_capacity(kept.len());
    while let Some((_, d)) = ready.pop_first() {
        done[d] = true;
        order.push(d);
        for u in users(d) {
            pending[u] -= 1;
            if pending[u] == 0 {
                ready.insert((ops[u].digest.as_str(), u));
            }
        }
    }
    if order.len() < kept.len() {
        let mut left: Vec<usize> = kept.iter().copied().filter(|&i| !done[i]).collect();
        left.sort_unstable_by(|&a, &b| ops[a].digest.cmp(&ops[b].digest));
        order.extend(left);
    }
    order
}

/// `ops` reordered so that entry `k` is the old entry `order[k]`; entries
/// not in `order` are dropped. In place: no second copy of the ops.
fn permute(mut ops: Vec<DecodedOp>, order: &[usize]) -> Vec<DecodedOp> {
    let n = ops.len();
    // Where each entry goes: its place in `order`, or past the end.
    let mut dest: Vec<usize> = vec![usize::MAX; n];
    for (k, &i) in order.iter().enumerate() {
        dest[i] = k;
    }
    for (spare, d) in (order.len()..).zip(dest.iter_mut().filter(|d| **d == usize::MAX)) {
        *d = spare;
    }
    for i in 0..n {
        while dest[i] != i {
            let j = dest[i];
            ops.swap(i, j);
            dest.swap(i, j);
        }
    }
    ops.truncate(order.len());
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(inputs: &[&str]) -> pb::Op {
        pb::Op {
            inputs: inputs.iter().map(|d| pb::Input { digest: d.to_string(), index: 0 }).collect(),
            op: Some(pb::op::Op::Source(pb::SourceOp { identifier: "local://x".into(), attrs: Default::default() })),
            ..Default::default()
        }
    }

    fn decoded(digest: &str, inputs: &[&str]) -> DecodedOp {
        DecodedOp { digest: digest.to_string(), op: op(inputs) }
    }

    #[test]
    fn inputs_come_first_and_ties_go_by_digest() {
        let ops = vec![decoded("c", &["a", "b"]), decoded("b", &["a"]), decoded("a", &[]), decoded("0", &["c"])];
        let order = topological(&ops, None);
        let digests: Vec<String> = permute(ops, &order).into_iter().map(|o| o.digest).collect();
        assert_eq!(digests, ["a", "b", "c", "0"]);
    }

    #[test]
    fn duplicates_and_the_terminal_are_left_out_and_cycles_follow_by_digest() {
        let ops = vec![
            decoded("b", &["a"]),
            decoded("z", &["y"]),
            decoded("y", &["z"]),
            decoded("a", &[]),
            decoded("b", &[]),
            decoded("t", &["b"]),
        ];
        let order = topological(&ops, Some("t"));
        let out = permute(ops, &order);
        let digests: Vec<&str> = out.iter().map(|o| o.digest.as_str()).collect();
        assert_eq!(digests, ["a", "b", "y", "z"]);
        // The first of two entries with one digest is kept.
        assert_eq!(out[1].op.inputs.len(), 1);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(decode(b"\xff\xff\xff"), Err(DecodeError::Definition(_))));
        let def = pb::Definition { def: vec![vec![0xff, 0xff]], ..Default::default() };
        let err = inspect(&def).expect_err("not an op");
        assert!(err.to_string().starts_with("def entry 0 is not an LLB op"), "{err}");
    }
}
