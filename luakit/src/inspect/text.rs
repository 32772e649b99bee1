//! The text view: a tree from the result down, digests shortened, a
//! sub-graph used twice printed once and then referred to as "(shown
//! above)". Walks with an explicit stack, so deep chains print without
//! recursion, and stops indenting past a depth so they print in linear space.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use luakit_llb::describe::{kind, summary};

use super::Graph;
use super::summary::{custom_name, edge_roles, enum_name, reads_input, short, truncate};
use crate::pb;

/// Indentation stops growing past this depth, so that a long chain prints in
/// linear space.
const MAX_INDENT: usize = 32;

fn op_line(g: &Graph<'_>, digest: &str) -> String {
    let Some(node) = g.node(digest) else {
        return format!("{} (not in this definition)", short(digest));
    };
    let mut line = format!("{} {}", short(digest), kind(&node.op));
    let s = summary(&node.op);
    if !s.is_empty() {
        line.push(' ');
        line.push_str(&truncate(&s, 100));
    }
    // Mounts that read no op of the graph (cache, secret, ssh, tmpfs,
    // scratch) do not show as inputs below: name them here.
    if let Some(pb::op::Op::Exec(e)) = &node.op.op {
        for m in e.mounts.iter().filter(|m| !reads_input(m)) {
            let ty = enum_name(m.mount_type, |t: pb::MountType| t.as_str_name());
            let ty = if ty == "bind" { "scratch" } else { ty.as_str() };
            let _ = write!(line, " +{ty}:{}", m.dest);
        }
    }
    if let Some(name) = custom_name(g, digest) {
        let _ = write!(line, "  # {}", truncate(name, 80));
    }
    line
}

/// ` (output N)` for a non-zero output index; for an exec, with the mount
/// the output comes from.
fn output_suffix(g: &Graph<'_>, digest: &str, index: i64) -> String {
    if index == 0 {
        return String::new();
    }
    let dest = g.node(digest).and_then(|n| match &n.op.op {
        Some(pb::op::Op::Exec(e)) => e.mounts.iter().find(|m| m.output == index).map(|m| m.dest.as_str()),
        _ => None,
    });
    match dest {
        Some(d) => format!(" (output {index}: {d})"),
        None => format!(" (output {index})"),
    }
}

pub(super) fn text(g: &Graph<'_>) -> String {
    let mut out = String::new();
    let roots: Vec<(String, i64)> = match &g.terminal {
        Some(t) => vec![(t.input.digest.clone(), t.input.index)],
        None => {
            out.push_str("(no terminal op: showing every op that no other op reads)\n");
            g.roots().into_iter().map(|d| (d.to_string(), 0)).collect()
        }
    };
    if g.ops.is_empty() {
        out.push_str("(no ops)\n");
        return out;
    }
    let mut printed: BTreeSet<String> = BTreeSet::new();
    // Explicit stack: (digest, prefix for its children, lines already at this level).
    struct Frame {
        digest: String,
        prefix: String,
        next: usize,
        depth: usize,
        /// What each input is for (computed once per printed op).
        roles: Vec<String>,
    }
    let roles_of = |digest: &str| g.node(digest).map(|n| edge_roles(&n.op)).unwrap_or_default();
    for (root, index) in roots {
        out.push_str(&op_line(g, &root));
        out.push_str(&output_suffix(g, &root, index));
        out.push('\n');
        if !printed.insert(root.clone()) {
            continue;
        }
        let roles = roles_of(&root);
        let mut stack = vec![Frame { digest: root, prefix: String::new(), next: 0, depth: 0, roles }];
        while let Some(frame) = stack.last_mut() {
            let inputs = g.node(&frame.digest).map(|n| n.op.inputs.as_slice()).unwrap_or_default();
            let Some(input) = inputs.get(frame.next) else {
                stack.pop();
                continue;
            };
            let i = frame.next;
            frame.next += 1;
            let last = frame.next == inputs.len();
            let role = frame.roles.get(i).cloned().unwrap_or_default();
            let (glyph, cont) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
            let child_prefix =
                if frame.depth < MAX_INDENT { format!("{}{cont}", frame.prefix) } else { frame.prefix.clone() };
            let seen = printed.contains(&input.digest);
            let present = g.node(&input.digest).is_some();
            let _ = write!(out, "{}{glyph}[{role}{}] ", frame.prefix, output_suffix(g, &input.digest, input.index));
            if seen {
                let _ = writeln!(out, "{} (shown above)", short(&input.digest));
                continue;
            }
            out.push_str(&op_line(g, &input.digest));
            out.push('\n');
            if present {
                printed.insert(input.digest.clone());
                let depth = frame.depth + 1;
                let roles = roles_of(&input.digest);
                stack.push(Frame { digest: input.digest.clone(), prefix: child_prefix, next: 0, depth, roles });
            }
        }
    }
    out
}
