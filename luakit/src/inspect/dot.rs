//! The Graphviz DOT view: one box per op (kind, custom name, summary,
//! short digest), one edge per input, dashed boxes for inputs the
//! Definition does not hold, and the result.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use luakit_llb::describe::{kind, summary};

use super::Graph;
use super::summary::{custom_name, short, truncate};

/// Escapes text for a double-quoted DOT string (`\n` there is a line break).
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn dot(g: &Graph<'_>) -> String {
    let mut out = String::from("digraph llb {\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for node in &g.ops {
        let mut label = kind(&node.op).to_string();
        if let Some(name) = custom_name(g, &node.digest) {
            label.push('\n');
            label.push_str(&truncate(name, 48));
        }
        let s = summary(&node.op);
        if !s.is_empty() {
            label.push('\n');
            label.push_str(&truncate(&s, 48));
        }
        label.push('\n');
        label.push_str(short(&node.digest));
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", dot_escape(&node.digest), dot_escape(&label));
        for input in &node.op.inputs {
            if g.node(&input.digest).is_none() {
                missing.insert(&input.digest);
            }
        }
    }
    for d in &missing {
        let label = format!("not in definition\n{}", short(d));
        let _ = writeln!(out, "  \"{}\" [label=\"{}\", style=dashed];", dot_escape(d), dot_escape(&label));
    }
    for node in &g.ops {
        for input in &node.op.inputs {
            let _ = write!(out, "  \"{}\" -> \"{}\"", dot_escape(&input.digest), dot_escape(&node.digest));
            if input.index != 0 {
                let _ = write!(out, " [label=\"{}\"]", input.index);
            }
            out.push_str(";\n");
        }
    }
    if let Some(t) = &g.terminal {
        out.push_str("  \"result\" [label=\"result\", shape=doubleoctagon];\n");
        let _ = write!(out, "  \"{}\" -> \"result\"", dot_escape(&t.input.digest));
        if t.input.index != 0 {
            let _ = write!(out, " [label=\"{}\"]", t.input.index);
        }
        out.push_str(";\n");
        if g.node(&t.input.digest).is_none() && !missing.contains(t.input.digest.as_str()) {
            let label = format!("not in definition\n{}", short(&t.input.digest));
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\", style=dashed];",
                dot_escape(&t.input.digest),
                dot_escape(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}
