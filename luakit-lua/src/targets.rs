//! Named exports (`bk.export(st, { target = "api" })`): which export a build
//! builds, and the messages for a target that does not exist or an export
//! that cannot be told from another.

use crate::ScriptError;
use crate::ctx::ExportRecord;

/// The index in `exports` of the export to build: the one named `target`
/// when given, else the last (as a Dockerfile builds its last stage).
pub(crate) fn select(main: &str, exports: &[ExportRecord], target: Option<&str>) -> Result<usize, ScriptError> {
    if exports.is_empty() {
        return Err(ScriptError::NoExport { file: main.to_string() });
    }
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return Ok(exports.len() - 1);
    };
    match exports.iter().rposition(|e| e.target.as_deref() == Some(target)) {
        Some(i) => Ok(i),
        None => Err(ScriptError::UnknownTarget {
            file: main.to_string(),
            target: target.to_string(),
            known: exports.iter().filter_map(|e| e.target.clone()).collect(),
        }),
    }
}

/// `no target 'apu' (the targets are 'api', 'web'; did you mean 'api'?)`.
pub(crate) fn unknown_message(target: &str, known: &[String]) -> String {
    if known.is_empty() {
        return format!(
            "no target '{target}': the script names no targets (name an export with bk.export(state, {{ target = \"{target}\" }}))"
        );
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let listed = names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    let hint = crate::opts::did_you_mean(target, &names);
    let hint = hint.trim().trim_start_matches('(').trim_end_matches(')');
    if hint.is_empty() {
        format!("no target '{target}' (the script's targets are {listed})")
    } else {
        format!("no target '{target}' (the script's targets are {listed}; {hint})")
    }
}

/// Why a further `bk.export` (named `target`, or not) cannot join `previous`,
/// or `None` when it can: every export must have a name of its own.
pub(crate) fn conflict(previous: &[ExportRecord], target: Option<&str>) -> Option<String> {
    let last = previous.last()?;
    if let Some(name) = target {
        if let Some(same) = previous.iter().find(|e| e.target.as_deref() == Some(name)) {
            return Some(format!(
                "target '{name}' is already exported at {}:{}: give each bk.export a target name of its own",
                same.file, same.line
            ));
        }
    }
    if target.is_some() && previous.iter().all(|e| e.target.is_some()) {
        return None;
    }
    let first = previous.iter().find(|e| e.target.is_none()).unwrap_or(last);
    Some(format!(
        "called a second time (the first call is at {}:{}): a script builds one image, like the last stage of a Dockerfile. To export several images from one script, give each export a target name (bk.export(state, {{ target = \"api\" }})) and pick one with --target; otherwise copy what the image needs from other stages with st:copy(stage, src, dest) (bk.merge(a, b) exports one image holding both filesystems, if that is what you meant)",
        first.file, first.line
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_lists_known_and_suggests() {
        let m = unknown_message("apu", &["api".into(), "web".into()]);
        assert_eq!(m, "no target 'apu' (the script's targets are 'api', 'web'; did you mean 'api'?)");
        let m = unknown_message("zzzzzz", &["api".into()]);
        assert_eq!(m, "no target 'zzzzzz' (the script's targets are 'api')");
        assert!(unknown_message("x", &[]).contains("names no targets"));
    }
}
