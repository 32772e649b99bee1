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

/// What input `i` of `op` is for ("/" for a root mount, "from" for a copy source…).
pub(super) fn edge_role(op: &pb::Op, i: usize) -> String {
    let i = i as i64;
    let roles: Vec<String> = match &op.op {
        Some(pb::op::Op::Exec(e)) => {
            e.mounts.iter().filter(|m| m.input == i && reads_input(m)).map(|m| m.dest.clone()).collect()
        }
        Some(pb::op::Op::File(f)) => {
            let mut r = Vec::new();
            for a in &f.actions {
                if a.input == i && !r.iter().any(|x| x == "base") {
                    r.push("base".to_string());
                }
                if a.secondary_input == i && !r.iter().any(|x| x == "from") {
                    r.push("from".to_string());
                }
            }
            r
        }
        Some(pb::op::Op::Merge(m)) => {
            m.inputs.iter().enumerate().filter(|(_, x)| x.input == i).map(|(k, _)| format!("layer {k}")).collect()
        }
        Some(pb::op::Op::Diff(d)) => {
            let mut r = Vec::new();
            if d.lower.is_some_and(|l| l.input == i) {
                r.push("lower".to_string());
            }
            if d.upper.is_some_and(|u| u.input == i) {
                r.push("upper".to_string());
            }
            r
        }
        Some(pb::op::Op::Build(b)) => {
            let mut r: Vec<String> = b.inputs.iter().filter(|(_, x)| x.input == i).map(|(k, _)| k.clone()).collect();
            if b.builder == i {
                r.insert(0, "builder".to_string());
            }
            r
        }
        Some(pb::op::Op::Source(_)) | None => Vec::new(),
    };
    if roles.is_empty() { format!("input {i}") } else { roles.join(",") }
}
