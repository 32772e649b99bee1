//! The short, shared pieces of the text and DOT views: shortened digests,
//! one-line truncation, an op's custom name, what each input of an op is
//! for. What an op does comes from the one describer,
//! [`luakit_llb::describe`].

use super::{Graph, SHORT};
use crate::pb;

/// The first [`SHORT`] hex digits of a digest.
pub(super) fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.get(..SHORT).unwrap_or(hex)
}

/// An enum value's protobuf name in lower case, or `unknown(N)`.
pub(super) fn enum_name<E: TryFrom<i32>>(v: i32, name: impl Fn(E) -> &'static str) -> String {
    match E::try_from(v) {
        Ok(e) => name(e).to_ascii_lowercase(),
        Err(_) => format!("unknown({v})"),
    }
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The `llb.customname` of an op, if its metadata has one.
pub(super) fn custom_name<'a>(g: &Graph<'a>, digest: &str) -> Option<&'a str> {
    g.metadata(digest).and_then(|m| m.description.get("llb.customname")).map(String::as_str)
}

/// Whether a mount reads one of the exec's inputs: only bind and cache
/// mounts can (Go's client leaves `input` at 0 on secret and ssh mounts),
/// and only with a non-negative index.
pub(super) fn reads_input(m: &pb::Mount) -> bool {
    m.input >= 0 && matches!(pb::MountType::try_from(m.mount_type), Ok(pb::MountType::Bind | pb::MountType::Cache))
}

/// What each input of `op` is for ("/" for a root mount, "from" for a copy
/// source, "layer 3"…), one entry per input, in one pass over the op (an
/// op may have 100,000 inputs).
pub(super) fn edge_roles(op: &pb::Op) -> Vec<String> {
    let n = op.inputs.len();
    let mut roles: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut add = |i: i64, role: String| {
        if let Some(r) = usize::try_from(i).ok().and_then(|i| roles.get_mut(i))
            && !r.contains(&role)
        {
            r.push(role);
        }
    };
    match &op.op {
        Some(pb::op::Op::Exec(e)) => {
            for m in e.mounts.iter().filter(|m| reads_input(m)) {
                add(m.input, m.dest.clone());
            }
        }
        Some(pb::op::Op::File(f)) => {
            for a in &f.actions {
                add(a.input, "base".to_string());
                add(a.secondary_input, "from".to_string());
            }
        }
        Some(pb::op::Op::Merge(m)) => {
            for (k, x) in m.inputs.iter().enumerate() {
                add(x.input, format!("layer {k}"));
            }
        }
        Some(pb::op::Op::Diff(d)) => {
            if let Some(l) = d.lower {
                add(l.input, "lower".to_string());
            }
            if let Some(u) = d.upper {
                add(u.input, "upper".to_string());
            }
        }
        Some(pb::op::Op::Build(b)) => {
            add(b.builder, "builder".to_string());
            for (k, x) in &b.inputs {
                add(x.input, k.clone());
            }
        }
        Some(pb::op::Op::Source(_)) | None => {}
    }
    roles.into_iter().enumerate().map(|(i, r)| if r.is_empty() { format!("input {i}") } else { r.join(",") }).collect()
}
