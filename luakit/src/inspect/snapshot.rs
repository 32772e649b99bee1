//! Snapshot forms of a Definition, for `insta` and code review: every op
//! with every field, but named by its place in the graph instead of by
//! digest.
//!
//! A digest covers the op and, through its inputs, everything below it, so
//! a change to the base image renames every op above it. Here ops are
//! numbered `#1`, `#2`, … in the order a depth-first walk from the result
//! finishes them (inputs in the order the op lists them, each op numbered
//! once, after its inputs): the numbers depend only on the graph's shape,
//! so a change to one op's content changes that op's lines and nothing
//! else. Adding or removing an op renumbers the ops after it in the walk.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::{DagError, Graph, json};
use crate::pb;

/// Version of the snapshot layout (text and JSON); bumped on any change
/// that would rewrite existing snapshots.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The place names of the ops: digest → `#N`, plus the ops in that order.
fn places(g: &Graph<'_>) -> (HashMap<String, String>, Vec<usize>) {
    let mut order: Vec<usize> = Vec::with_capacity(g.ops.len());
    let mut seen = vec![false; g.ops.len()];
    let mut starts: Vec<usize> = Vec::new();
    if let Some(t) = &g.terminal {
        starts.extend(g.index.get(&t.input.digest));
    }
    // Ops the result does not reach (a Definition without a terminal, or
    // one with stray ops) follow in the inspector's order.
    starts.extend(0..g.ops.len());
    for start in starts {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        // (op, next input to visit): an explicit stack, no recursion.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some((op, next)) = stack.last_mut() {
            let inputs = &g.ops[*op].op.inputs;
            if *next < inputs.len() {
                let input = &inputs[*next].digest;
                *next += 1;
                if let Some(&i) = g.index.get(input) {
                    if !seen[i] {
                        seen[i] = true;
                        stack.push((i, 0));
                    }
                }
            } else {
                order.push(*op);
                stack.pop();
            }
        }
    }
    let names = order.iter().enumerate().map(|(n, &i)| (g.ops[i].digest.clone(), format!("#{}", n + 1))).collect();
    (names, order)
}

/// The snapshot model: the JSON view with digests replaced by place names.
fn model(def: &pb::Definition) -> Result<Value, DagError> {
    let g = Graph::new(def)?;
    let (names, order) = places(&g);
    let dag = serde_json::to_value(json::json(&g)?).expect("the JSON model is plain data");
    let Value::Object(mut dag) = dag else { unreachable!("the JSON view is an object") };
    let mut ops_by_digest: HashMap<String, Value> = HashMap::new();
    if let Some(Value::Array(ops)) = dag.remove("ops") {
        for op in ops {
            if let Some(d) = op.get("digest").and_then(Value::as_str) {
                ops_by_digest.insert(d.to_string(), op);
            }
        }
    }
    let rename = |d: &str| names.get(d).cloned().unwrap_or_else(|| format!("(not in this definition: {d})"));
    let mut ops = Vec::with_capacity(order.len());
    for i in order {
        let digest = &g.ops[i].digest;
        let Some(Value::Object(mut op)) = ops_by_digest.remove(digest) else { continue };
        op.remove("digest");
        let mut input_names = Vec::new();
        if let Some(Value::Array(inputs)) = op.get_mut("inputs") {
            for input in inputs.iter_mut() {
                *input = input_ref(input, &rename);
                input_names.push(input.clone());
            }
        }
        // Mounts and file actions point into the input list by position:
        // name the input instead (a file action's input past the list is
        // the result of an earlier action of the same op).
        let index_of = |v: &mut Value, actions: bool| {
            let Some(i) = v.as_i64() else { return };
            *v = match usize::try_from(i) {
                Ok(i) if i < input_names.len() => input_names[i].clone(),
                Ok(i) if actions => Value::String(format!("action {}", i - input_names.len())),
                _ => return,
            };
        };
        if let Some(Value::Object(body)) = op.get_mut("op") {
            for (list, keys, actions) in
                [("mounts", &["input"][..], false), ("actions", &["input", "secondary_input"][..], true)]
            {
                if let Some(Value::Array(items)) = body.get_mut(list) {
                    for item in items.iter_mut() {
                        for key in keys {
                            if let Some(v) = item.get_mut(*key) {
                                index_of(v, actions);
                            }
                        }
                    }
                }
            }
        }
        let mut named = Map::new();
        named.insert("name".to_string(), Value::String(rename(digest)));
        named.extend(op);
        ops.push(Value::Object(named));
    }
    let mut out = Map::new();
    out.insert("snapshot".to_string(), Value::from(SNAPSHOT_VERSION));
    let result = match dag.remove("terminal") {
        Some(Value::Object(t)) => {
            let mut r = Map::new();
            r.insert("op".to_string(), input_ref(&Value::Object(t.clone()), &rename));
            if let Some(m) = t.get("metadata").filter(|m| !m.is_null()) {
                r.insert("metadata".to_string(), m.clone());
            }
            Value::Object(r)
        }
        _ => Value::Null,
    };
    out.insert("result".to_string(), result);
    out.insert("ops".to_string(), Value::Array(ops));
    if let Some(sources) = dag.remove("sources") {
        out.insert("sources".to_string(), sources);
    }
    Ok(Value::Object(out))
}

/// `{digest, index}` → `"#N"` (output 0) or `"#N[index]"`.
fn input_ref(input: &Value, rename: &impl Fn(&str) -> String) -> Value {
    let name = rename(input.get("digest").and_then(Value::as_str).unwrap_or_default());
    match input.get("index").and_then(Value::as_i64) {
        Some(0) | None => Value::String(name),
        Some(i) => Value::String(format!("{name}[{i}]")),
    }
}

/// The JSON snapshot of `def`: the layout of `luakit dag --format json`
/// (docs/dag-json.md), with each op's `digest` replaced by a `name` (`#N`,
/// see the module docs), inputs written `"#N"` (or `"#N[output]"`), the
/// ops in place order, and the terminal as `result`. Pretty-printed, with
/// a final newline.
pub fn snapshot_json(def: &pb::Definition) -> Result<String, DagError> {
    let mut s = serde_json::to_string_pretty(&model(def)?).expect("plain data serializes");
    s.push('\n');
    Ok(s)
}

/// The text snapshot of `def`: one block per op in place order, headed
/// `#N kind`, then every field that is set (empty strings and lists,
/// `false` and `null` are left out), nested values indented. Stable and
/// meant to be read in review:
///
/// ```
/// use luakit::builder::{Image, Run};
/// use luakit::{Export, Platform};
///
/// let st = Image::new("alpine:3.19").build()?.run(Run::shell("make"))?;
/// let build = Export::new(st.root()).target_platform(Platform::new("linux", "amd64", "")).build()?;
/// let text = luakit::inspect::snapshot(&build.definition)?;
/// assert!(text.starts_with("result: #2\n"));
/// assert!(text.contains(
///     "#1 source\n  platform: linux/amd64\n  identifier: docker-image://docker.io/library/alpine:3.19\n"
/// ));
/// assert!(text.contains("#2 exec\n  inputs: #1\n"));
/// assert!(text.contains("    - content_cache: default\n      dest: /\n      input: #1\n"));
/// assert!(!text.contains("sha256:"), "no digests");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn snapshot(def: &pb::Definition) -> Result<String, DagError> {
    let model = model(def)?;
    let mut out = String::new();
    match model.get("result").and_then(|r| r.get("op")).and_then(Value::as_str) {
        Some(op) => {
            let _ = writeln!(out, "result: {op}");
        }
        None => out.push_str("result: none\n"),
    }
    if let Some(meta) = model.get("result").and_then(|r| r.get("metadata")) {
        field(&mut out, 1, "metadata", meta);
    }
    for op in model.get("ops").and_then(Value::as_array).into_iter().flatten() {
        let Value::Object(op) = op else { continue };
        let name = op.get("name").and_then(Value::as_str).unwrap_or("?");
        let kind = op.get("kind").and_then(Value::as_str).unwrap_or("?");
        let _ = writeln!(out, "{name} {kind}");
        // A fixed order: what the op reads, where it runs, what it does,
        // then its metadata; any other field after those.
        const ORDER: [&str; 6] = ["inputs", "platform", "constraints", "op", "metadata", "locations"];
        let rest = op.iter().filter(|(k, _)| !ORDER.contains(&k.as_str()) && *k != "name" && *k != "kind");
        let fields = ORDER.iter().filter_map(|k| op.get_key_value(*k)).chain(rest);
        for (key, value) in fields {
            match (key.as_str(), value) {
                // One line for an input list and a platform.
                ("inputs", Value::Array(items)) if !items.is_empty() => {
                    let refs: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    let _ = writeln!(out, "  inputs: {}", refs.join(", "));
                }
                ("platform", Value::Object(p)) => {
                    let part = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
                    let mut line = format!("{}/{}", part("os"), part("architecture"));
                    if !part("variant").is_empty() {
                        let _ = write!(line, "/{}", part("variant"));
                    }
                    let _ = writeln!(out, "  platform: {line}");
                }
                // Where the script made the op: `file:line`.
                ("locations", Value::Array(locs)) if !locs.is_empty() => {
                    let _ = writeln!(out, "  at: {}", locations(locs).join(", "));
                }
                // The op body's fields sit directly under the op.
                ("op", Value::Object(body)) => {
                    for (k, v) in body {
                        field(&mut out, 1, k, v);
                    }
                }
                _ => field(&mut out, 1, key, value),
            }
        }
    }
    for source in model.get("sources").and_then(Value::as_array).into_iter().flatten() {
        field(&mut out, 0, "source", source);
    }
    Ok(out)
}

/// `file:line` (or `file:first-last`) for each range of each location.
fn locations(locs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for loc in locs {
        let file = loc.get("file").and_then(Value::as_str).unwrap_or("?");
        for range in loc.get("ranges").and_then(Value::as_array).into_iter().flatten() {
            let line = |end: &str| range.get(end).and_then(|p| p.get("line")).and_then(Value::as_i64).unwrap_or(0);
            let (first, last) = (line("start"), line("end"));
            out.push(if first == last { format!("{file}:{first}") } else { format!("{file}:{first}-{last}") });
        }
    }
    out
}

/// Whether a value says nothing (left out of the text form).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

/// A scalar on one line: strings as they are unless they need quoting.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() || s.trim() != s || s.contains(['\n', '"', '\\']) || s.starts_with('[') => {
            Value::String(s.clone()).to_string()
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn field(out: &mut String, depth: usize, key: &str, v: &Value) {
    if is_empty(v) {
        return;
    }
    let pad = "  ".repeat(depth);
    match v {
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let items: Vec<String> = items.iter().map(|i| Value::String(scalar(i)).to_string()).collect();
            let _ = writeln!(out, "{pad}{key}: [{}]", items.join(", "));
        }
        // A set of flags (the caps an op needs): the names of those set.
        Value::Object(o) if o.values().all(Value::is_boolean) => {
            let set: Vec<String> = o
                .iter()
                .filter(|(_, v)| **v == Value::Bool(true))
                .map(|(k, _)| Value::String(scalar(&Value::String(k.clone()))).to_string())
                .collect();
            let _ = writeln!(out, "{pad}{key}: [{}]", set.join(", "));
        }
        Value::Array(items) => {
            let _ = writeln!(out, "{pad}{key}:");
            for item in items {
                match item {
                    Value::Object(o) => {
                        // YAML style: the first field on the dash's line.
                        let mut block = String::new();
                        for (k, v) in o {
                            field(&mut block, depth + 2, k, v);
                        }
                        let inner = "  ".repeat(depth + 2);
                        match block.strip_prefix(&inner) {
                            Some(rest) => {
                                let _ = write!(out, "{pad}  - {rest}");
                            }
                            None => {
                                let _ = writeln!(out, "{pad}  -");
                                out.push_str(&block);
                            }
                        }
                    }
                    other => {
                        let _ = writeln!(out, "{pad}  - {}", scalar(other));
                    }
                }
            }
        }
        Value::Object(o) => {
            let _ = writeln!(out, "{pad}{key}:");
            for (k, v) in o {
                field(out, depth + 1, k, v);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{key}: {}", scalar(other));
        }
    }
}

/// Asserts an `insta` snapshot of a Definition in the text form of
/// [`snapshot`] (ops named by place, not digest). The calling crate needs
/// `insta` among its (dev-)dependencies; the arguments are those of
/// `insta::assert_snapshot!` with a `pb::Definition` in place of the
/// string:
///
/// ```no_run
/// # let build = luakit::Export::new(&luakit::graph::State::scratch()).build()?;
/// luakit::assert_definition_snapshot!(build.definition);
/// luakit::assert_definition_snapshot!("web", build.definition);
/// # Ok::<(), luakit::Error>(())
/// ```
#[macro_export]
macro_rules! assert_definition_snapshot {
    ($def:expr $(,)?) => {{
        let definition_snapshot = $crate::inspect::snapshot(&$def).expect("a Definition luakit can read");
        ::insta::assert_snapshot!(definition_snapshot)
    }};
    ($name:expr, $def:expr $(,)?) => {{
        let definition_snapshot = $crate::inspect::snapshot(&$def).expect("a Definition luakit can read");
        ::insta::assert_snapshot!($name, definition_snapshot)
    }};
}

#[cfg(test)]
mod tests {
    use luakit_llb::Digest;
    use prost::Message as _;

    use super::*;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn input(op: &pb::Op, index: i64) -> pb::Input {
        pb::Input { digest: Digest::of(&op.encode_to_vec()).to_string(), index }
    }

    fn source(id: &str) -> pb::Op {
        pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp { identifier: id.to_string(), attrs: Default::default() })),
            ..Default::default()
        }
    }

    fn definition(ops: &[&pb::Op], result: Option<pb::Input>) -> pb::Definition {
        let mut def = pb::Definition::default();
        def.def.extend(ops.iter().map(|op| op.encode_to_vec()));
        if let Some(r) = result {
            def.def.push(pb::Op { inputs: vec![r], ..Default::default() }.encode_to_vec());
        }
        def
    }

    fn mkdir(path: &str, input: i64) -> pb::FileAction {
        pb::FileAction {
            input,
            secondary_input: -1,
            output: -1,
            action: Some(pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                path: path.to_string(),
                mode: 0o755,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn actions_reading_earlier_actions_and_definitions_without_a_result() -> R {
        let base = source("docker-image://docker.io/library/alpine:3.19");
        // Two actions: the second works on the first's result (index 1 =
        // past the one input: action 0).
        let file = pb::Op {
            inputs: vec![input(&base, 0)],
            op: Some(pb::op::Op::File(pb::FileOp { actions: vec![mkdir("/a", 0), mkdir("/a/b", 1)] })),
            ..Default::default()
        };
        let text = snapshot(&definition(&[&base, &file], Some(input(&file, 0))))?;
        assert!(text.starts_with("result: #2\n"), "{text}");
        assert!(text.contains("    - action: mkdir\n      input: #1\n"), "{text}");
        assert!(text.contains("    - action: mkdir\n      input: action 0\n"), "{text}");

        // No terminal: every op is still named, sources first.
        let other = source("local://context");
        let text = snapshot(&definition(&[&base, &other], None))?;
        assert!(text.starts_with("result: none\n#1 source\n"), "{text}");
        assert!(text.contains("#2 source\n"), "{text}");
        let json: Value = serde_json::from_str(&snapshot_json(&definition(&[&base, &other], None))?)?;
        assert_eq!(json["result"], Value::Null);
        assert_eq!(json["ops"].as_array().map(Vec::len), Some(2));
        Ok(())
    }

    #[test]
    fn deep_chains_render_without_recursion() -> R {
        let t = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| -> Result<usize, String> {
            let mut ops = vec![source("docker-image://docker.io/library/alpine:3.19")];
            for i in 0..10_000 {
                let prev = ops.last().ok_or("an op")?;
                ops.push(pb::Op {
                    inputs: vec![input(prev, 0)],
                    op: Some(pb::op::Op::File(pb::FileOp { actions: vec![mkdir(&format!("/d{i}"), 0)] })),
                    ..Default::default()
                });
            }
            let last = input(ops.last().ok_or("an op")?, 0);
            let refs: Vec<&pb::Op> = ops.iter().collect();
            let text = snapshot(&definition(&refs, Some(last))).map_err(|e| e.to_string())?;
            Ok(text.lines().filter(|l| l.starts_with('#')).count())
        })?;
        let headers = t.join().map_err(|_| "the render overflowed its stack")??;
        assert_eq!(headers, 10_001);
        Ok(())
    }

    #[test]
    fn the_conformance_definitions_snapshot_with_every_op_named() -> R {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance");
        let mut cases = 0;
        for entry in std::fs::read_dir(dir)? {
            let Ok(bytes) = std::fs::read(entry?.path().join("expected.pb")) else { continue };
            let def = pb::Definition::decode(bytes.as_slice())?;
            let text = snapshot(&def)?;
            let json: Value = serde_json::from_str(&snapshot_json(&def)?)?;
            let ops = def.def.len() - 1;
            assert_eq!(text.lines().filter(|l| l.starts_with('#')).count(), ops, "{text}");
            assert_eq!(json["ops"].as_array().map(Vec::len), Some(ops));
            assert!(!text.contains("not in this definition"), "{text}");
            cases += 1;
        }
        assert!(cases >= 20, "only {cases} conformance cases");
        Ok(())
    }
}
