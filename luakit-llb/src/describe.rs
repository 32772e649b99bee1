//! The one op describer: a short, human summary of a decoded `pb::Op`, as
//! `luakit dag` shows it after the op's kind and as the marshaller names
//! steps (`[build.lua:7] /bin/sh -c make`) for BuildKit's progress output.
//! Both use these functions, so that the graph view and the build log
//! describe an op in the same words.

use crate::pb;

/// The op's kind: `source`, `exec`, `file`, `build`, `merge`, `diff`, or
/// `none` for an op without a body (the terminal op).
pub fn kind(op: &pb::Op) -> &'static str {
    match &op.op {
        Some(pb::op::Op::Source(_)) => "source",
        Some(pb::op::Op::Exec(_)) => "exec",
        Some(pb::op::Op::File(_)) => "file",
        Some(pb::op::Op::Build(_)) => "build",
        Some(pb::op::Op::Merge(_)) => "merge",
        Some(pb::op::Op::Diff(_)) => "diff",
        None => "none",
    }
}

/// What the op does, in a few words: a source's identifier, an exec's
/// arguments (shell-quoted where needed), a file op's actions (`copy a ->
/// b; mkdir /x`), a build op's file name, the number of a merge's inputs.
/// Empty for an op without a body. Not truncated; may hold any character.
pub fn summary(op: &pb::Op) -> String {
    match &op.op {
        Some(pb::op::Op::Source(s)) => s.identifier.clone(),
        Some(pb::op::Op::Exec(e)) => {
            let args = e.meta.as_ref().map(|m| m.args.as_slice()).unwrap_or_default();
            args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" ")
        }
        Some(pb::op::Op::File(f)) => f
            .actions
            .iter()
            .map(|a| match &a.action {
                Some(pb::file_action::Action::Copy(c)) => format!("copy {} -> {}", c.src, c.dest),
                Some(pb::file_action::Action::Mkfile(m)) => format!("mkfile {}", m.path),
                Some(pb::file_action::Action::Mkdir(m)) => format!("mkdir {}", m.path),
                Some(pb::file_action::Action::Rm(r)) => format!("rm {}", r.path),
                Some(pb::file_action::Action::Symlink(s)) => format!("symlink {} -> {}", s.newpath, s.oldpath),
                None => "(empty action)".to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(pb::op::Op::Build(b)) => {
            let file = b.attrs.get("llb.customname").or_else(|| b.attrs.get("filename"));
            file.map_or_else(|| format!("{} inputs", b.inputs.len()), |f| f.clone())
        }
        Some(pb::op::Op::Merge(m)) => format!("{} inputs", m.inputs.len()),
        Some(pb::op::Op::Diff(_)) => "lower -> upper".to_string(),
        None => String::new(),
    }
}

/// The name of a build step: the [`summary`] of a source, exec or file op
/// (what it reads, runs or changes says it all), `kind summary` for the
/// others (`merge 2 inputs`, `diff lower -> upper`). `None` for an op
/// without a body.
pub(crate) fn step_name(op: &pb::Op) -> Option<String> {
    match &op.op {
        None => None,
        Some(pb::op::Op::Source(_) | pb::op::Op::Exec(_) | pb::op::Op::File(_)) => Some(summary(op)),
        Some(_) => Some(format!("{} {}", kind(op), summary(op))),
    }
}

/// Quotes a shell word when it needs it.
fn shell_word(w: &str) -> String {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c)) {
        w.to_string()
    } else {
        format!("{w:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[&str]) -> pb::Op {
        pb::Op {
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta { args: args.iter().map(|a| a.to_string()).collect(), ..Default::default() }),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn exec_arguments_are_shell_quoted_where_needed() {
        assert_eq!(summary(&exec(&["/bin/sh", "-c", "make"])), "/bin/sh -c make");
        assert_eq!(summary(&exec(&["/bin/sh", "-c", "echo hi"])), r#"/bin/sh -c "echo hi""#);
        assert_eq!(step_name(&exec(&["true"])).as_deref(), Some("true"));
    }

    #[test]
    fn steps_of_other_kinds_say_their_kind() {
        let merge = pb::Op {
            op: Some(pb::op::Op::Merge(pb::MergeOp {
                inputs: vec![pb::MergeInput { input: 0 }, pb::MergeInput { input: 1 }],
            })),
            ..Default::default()
        };
        assert_eq!(summary(&merge), "2 inputs");
        assert_eq!(step_name(&merge).as_deref(), Some("merge 2 inputs"));
        assert_eq!(step_name(&pb::Op::default()), None);
        assert_eq!(kind(&pb::Op::default()), "none");
    }
}
