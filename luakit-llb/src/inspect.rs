//! Decoding any Definition (luakit's, buildctl's Dockerfile frontend's, any
//! tool's) for inspection: ops by digest in a deterministic topological
//! order, and the terminal op.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

/// One decoded op.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedOp {
    /// `sha256:…` of its bytes.
    pub digest: String,
    /// The op.
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
pub fn inspect(def: &pb::Definition) -> Result<Inspection, DecodeError> {
    let mut decoded: BTreeMap<String, pb::Op> = BTreeMap::new();
    let mut terminal = None;
    let last = def.def.len().checked_sub(1);
    for (i, bytes) in def.def.iter().enumerate() {
        let op = pb::Op::decode(bytes.as_slice()).map_err(|source| DecodeError::Op { entry: i, source })?;
        let digest = Digest::of(bytes).to_string();
        if Some(i) == last && op.op.is_none() && op.inputs.len() == 1 {
            terminal = Some(TerminalOp { op_digest: digest, input: op.inputs[0].clone() });
            continue;
        }
        decoded.entry(digest).or_insert(op);
    }
    if let Some(t) = &terminal {
        // An identical entry earlier in `def` is the same terminal op.
        decoded.remove(&t.op_digest);
    }
    Ok(Inspection { terminal, ops: topological(decoded) })
}

/// Kahn's algorithm over the digests present; ready ops are taken in digest
/// order. Leftovers (only possible in a corrupt file) follow, by digest.
fn topological(mut ops: BTreeMap<String, pb::Op>) -> Vec<DecodedOp> {
    let mut pending: BTreeMap<&str, usize> = BTreeMap::new();
    let mut users: HashMap<&str, Vec<&str>> = HashMap::new();
    for (d, op) in &ops {
        let deps: BTreeSet<&str> =
            op.inputs.iter().map(|i| i.digest.as_str()).filter(|i| ops.contains_key(*i) && *i != d).collect();
        pending.insert(d.as_str(), deps.len());
        for dep in deps {
            users.entry(dep).or_default().push(d.as_str());
        }
    }
    let mut ready: BTreeSet<&str> = pending.iter().filter(|(_, n)| **n == 0).map(|(d, _)| *d).collect();
    let mut order: Vec<String> = Vec::with_capacity(ops.len());
    while let Some(d) = ready.pop_first() {
        pending.remove(d);
        order.push(d.to_string());
        for u in users.get(d).map(Vec::as_slice).unwrap_or_default() {
            if let Some(n) = pending.get_mut(u) {
                *n -= 1;
                if *n == 0 {
                    ready.insert(u);
                }
            }
        }
    }
    order.extend(pending.keys().map(|d| d.to_string()));
    order.into_iter().filter_map(|digest| ops.remove(&digest).map(|op| DecodedOp { digest, op })).collect()
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

    #[test]
    fn inputs_come_first_and_ties_go_by_digest() {
        let mut ops = BTreeMap::new();
        ops.insert("c".to_string(), op(&["a", "b"]));
        ops.insert("b".to_string(), op(&["a"]));
        ops.insert("a".to_string(), op(&[]));
        ops.insert("0".to_string(), op(&["c"]));
        let order: Vec<String> = topological(ops).into_iter().map(|o| o.digest).collect();
        assert_eq!(order, ["a", "b", "c", "0"]);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(decode(b"\xff\xff\xff"), Err(DecodeError::Definition(_))));
        let def = pb::Definition { def: vec![vec![0xff, 0xff]], ..Default::default() };
        let err = inspect(&def).expect_err("not an op");
        assert!(err.to_string().starts_with("def entry 0 is not an LLB op"), "{err}");
    }
}
