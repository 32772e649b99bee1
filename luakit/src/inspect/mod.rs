//! Reading and showing any LLB `Definition` (luakit's own, or one that
//! another frontend such as the Dockerfile frontend produced): the reader
//! ([`read_definition`], [`decode_definition`]) and the renderers behind
//! `luakit dag`, one file per format — [`Format::Text`] (a tree, `text`),
//! [`Format::Json`] (stable JSON documented in `docs/dag-json.md`, `json`)
//! and [`Format::Dot`] (Graphviz, `dot`), with the short pieces text and DOT
//! share in `summary`. Ops are described by the one describer,
//! [`luakit_llb::describe`], which also names build steps.
//!
//! [`snapshot`] and [`snapshot_json`] are the forms for snapshot tests:
//! ops named by their place in the graph (`#1`, `#2`, …) rather than by
//! digest, so that a snapshot changes only where the graph did.
//!
//! Rendering is pure: a Definition in, a `String` out. No Lua.
//!
//! Invariants:
//! - ops are listed once per digest, in a deterministic topological order
//!   (inputs before the ops that use them; ties broken by digest);
//! - the terminal op of a Definition (the last `def` entry, with no op body
//!   and one input) is not an op of the graph: it names the result;
//! - nothing recurses on graph depth (a 10,000-op chain renders without
//!   growing the stack).

mod dot;
mod json;
mod snapshot;
mod summary;
mod text;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use luakit_llb::{DecodedOp as OpNode, Inspection, TerminalOp, inspect};
use prost::Message as _;

pub use json::JSON_VERSION;
pub use snapshot::{SNAPSHOT_VERSION, snapshot, snapshot_json};

use crate::{Error, pb};

/// How `luakit dag` prints a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable tree from the result down.
    Text,
    /// Stable JSON (`docs/dag-json.md`).
    Json,
    /// Graphviz DOT.
    Dot,
}

/// A `def` entry that is not a valid protobuf `Op`.
pub type DagError = luakit_llb::DecodeError;

/// Renders `def` in `format`.
pub fn render(def: &pb::Definition, format: Format) -> Result<String, DagError> {
    let graph = Graph::new(def)?;
    Ok(match format {
        Format::Text => text::text(&graph),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&json::json(&graph)?)
                .expect("the JSON model holds only strings, numbers, bools, maps with string keys");
            s.push('\n');
            s
        }
        Format::Dot => dot::dot(&graph),
    })
}

/// Decodes a serialized `pb::Definition` (as `luakit build` writes it);
/// `name` says where the bytes came from, for the error.
pub fn decode_definition(name: &Path, bytes: &[u8]) -> Result<pb::Definition, Error> {
    pb::Definition::decode(bytes).map_err(|source| Error::NotADefinition { path: name.to_path_buf(), source })
}

/// Reads and decodes the Definition file at `path`, reading at most
/// `max_bytes` and only from a regular file (not a FIFO or a device).
pub fn read_definition(path: &Path, max_bytes: usize) -> Result<pb::Definition, Error> {
    let bytes = luakit_lua::read_regular_file(path, max_bytes)
        .map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
    decode_definition(path, &bytes)
}

/// Number of hex digits shown for a digest in text and DOT.
const SHORT: usize = 12;

/// A decoded Definition in topological order.
struct Graph<'a> {
    def: &'a pb::Definition,
    /// The result: input of the terminal op.
    terminal: Option<TerminalOp>,
    /// Ops, inputs first, ties by digest.
    ops: Vec<OpNode>,
    /// Digest → position in `ops`.
    index: HashMap<String, usize>,
}

impl<'a> Graph<'a> {
    fn new(def: &'a pb::Definition) -> Result<Self, DagError> {
        let Inspection { terminal, ops } = inspect(def)?;
        let index = ops.iter().enumerate().map(|(i, n)| (n.digest.clone(), i)).collect();
        Ok(Graph { def, terminal, ops, index })
    }

    fn metadata(&self, digest: &str) -> Option<&'a pb::OpMetadata> {
        self.def.metadata.get(digest)
    }

    fn node(&self, digest: &str) -> Option<&OpNode> {
        self.index.get(digest).map(|&i| &self.ops[i])
    }

    /// Ops no other op reads, sorted by digest (the entry points when the
    /// Definition has no terminal op).
    fn roots(&self) -> Vec<&str> {
        let used: BTreeSet<&str> =
            self.ops.iter().flat_map(|n| n.op.inputs.iter().map(|i| i.digest.as_str())).collect();
        let mut roots: Vec<&str> = self.ops.iter().map(|n| n.digest.as_str()).filter(|d| !used.contains(d)).collect();
        roots.sort_unstable();
        roots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use luakit_llb::Digest;
    use prost::Message;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance")
    }

    fn cases() -> Vec<(String, pb::Definition)> {
        let mut v: Vec<(String, pb::Definition)> = std::fs::read_dir(fixtures())
            .expect("fixtures dir")
            .filter_map(Result::ok)
            .filter_map(|e| {
                let bytes = std::fs::read(e.path().join("expected.pb")).ok()?;
                let def = pb::Definition::decode(bytes.as_slice()).expect("fixture decodes");
                Some((e.file_name().to_string_lossy().into_owned(), def))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(v.len(), 21, "conformance cases (15 made by Go, 6 derived from its rules)");
        v
    }

    fn op_bytes(op: &pb::Op) -> Vec<u8> {
        op.encode_to_vec()
    }

    fn digest(op: &pb::Op) -> String {
        Digest::of(&op_bytes(op)).to_string()
    }

    fn input(op: &pb::Op, index: i64) -> pb::Input {
        pb::Input { digest: digest(op), index }
    }

    /// A Definition of `ops` plus a terminal op on `result`.
    fn definition(ops: &[&pb::Op], result: Option<pb::Input>) -> pb::Definition {
        let mut def = pb::Definition::default();
        for op in ops {
            def.def.push(op_bytes(op));
        }
        if let Some(r) = result {
            def.def.push(op_bytes(&pb::Op { inputs: vec![r], ..Default::default() }));
        }
        def
    }

    fn source(id: &str) -> pb::Op {
        pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp { identifier: id.to_string(), attrs: Default::default() })),
            ..Default::default()
        }
    }

    fn exec(args: &[&str], root: &pb::Op) -> pb::Op {
        pb::Op {
            inputs: vec![input(root, 0)],
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    args: args.iter().map(|a| a.to_string()).collect(),
                    cwd: "/".into(),
                    ..Default::default()
                }),
                mounts: vec![pb::Mount { dest: "/".into(), input: 0, output: 0, ..Default::default() }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn every_conformance_case_renders_in_every_format() -> R {
        for (case, def) in cases() {
            for f in [Format::Text, Format::Json, Format::Dot] {
                let out = render(&def, f)?;
                assert!(!out.is_empty(), "{case} {f:?}");
            }
            let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
            let ops = v["ops"].as_array().ok_or("ops")?;
            assert_eq!(ops.len(), def.def.len() - 1, "{case}: every op but the terminal");
            // Digests are the sha256 of the entries, and inputs come first.
            let all: BTreeSet<String> = def.def.iter().map(|b| Digest::of(b).to_string()).collect();
            let mut seen = BTreeSet::new();
            for op in ops {
                let d = op["digest"].as_str().ok_or("digest")?;
                assert!(all.contains(d), "{case}: {d}");
                for i in op["inputs"].as_array().ok_or("inputs")? {
                    assert!(seen.contains(i["digest"].as_str().ok_or("input digest")?), "{case}: input after user");
                }
                seen.insert(d.to_string());
            }
            let term = v["terminal"]["digest"].as_str().ok_or("terminal")?;
            assert!(seen.contains(term), "{case}");
            let last = Digest::of(def.def.last().ok_or("def")?).to_string();
            assert_eq!(v["terminal"]["op_digest"], serde_json::Value::String(last));
        }
        Ok(())
    }

    #[test]
    fn output_does_not_depend_on_def_order() -> R {
        for (case, def) in cases() {
            let mut shuffled = def.clone();
            let n = shuffled.def.len() - 1;
            shuffled.def[..n].reverse();
            shuffled.def[..n].rotate_left(n / 2);
            for f in [Format::Text, Format::Json, Format::Dot] {
                assert_eq!(render(&def, f)?, render(&shuffled, f)?, "{case} {f:?}");
            }
        }
        Ok(())
    }

    #[test]
    fn text_tree_prints_shared_subgraphs_once() -> R {
        let base = source("docker-image://docker.io/library/alpine:3.19");
        let a = exec(&["/bin/sh", "-c", "echo a"], &base);
        let b = exec(&["/bin/sh", "-c", "echo b"], &base);
        let merge = pb::Op {
            inputs: vec![input(&a, 0), input(&b, 0)],
            op: Some(pb::op::Op::Merge(pb::MergeOp {
                inputs: vec![pb::MergeInput { input: 0 }, pb::MergeInput { input: 1 }],
            })),
            ..Default::default()
        };
        let def = definition(&[&base, &a, &b, &merge], Some(input(&merge, 0)));
        let text = render(&def, Format::Text)?;
        let short_base = &digest(&base)[7..19];
        assert_eq!(text.matches(short_base).count(), 2, "{text}");
        assert_eq!(text.matches("alpine").count(), 1, "{text}");
        assert!(text.contains("(shown above)"), "{text}");
        assert!(text.contains("[layer 1]"), "{text}");
        assert!(text.starts_with(&format!("{} merge", &digest(&merge)[7..19])), "{text}");
        Ok(())
    }

    #[test]
    fn dot_escapes_labels_and_labels_non_zero_outputs() -> R {
        let base = source("docker-image://docker.io/library/alpine:3.19");
        let run = exec(&["/bin/sh", "-c", "echo \"hi\\there\"\nnext"], &base);
        let user = pb::Op { inputs: vec![input(&run, 1)], ..exec(&["true"], &base) };
        let def = definition(&[&base, &run, &user], Some(input(&user, 0)));
        let dot = render(&def, Format::Dot)?;
        assert!(dot.starts_with("digraph llb {"), "{dot}");
        // The summary shell-quotes the argument; DOT escaping comes on top.
        assert!(dot.contains(r#"\"echo \\\"hi\\\\there\\\"\\nnext\""#), "{dot}");
        assert!(dot.contains("[label=\"1\"]"), "{dot}");
        // Every line's quotes balance once escapes are removed.
        for line in dot.lines() {
            let unescaped = line.replace("\\\\", "").replace("\\\"", "");
            assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
        }
        Ok(())
    }

    /// Ops luakit's marshaller never emits: a BuildOp with a nested
    /// definition, an exec with proxy env and ulimits, binary mkfile data.
    #[test]
    fn foreign_definition_renders_every_field() -> R {
        let base = source("docker-image://docker.io/docker/dockerfile:1");
        let inner = definition(&[&base], Some(input(&base, 0)));
        let build = pb::Op {
            inputs: vec![input(&base, 0)],
            op: Some(pb::op::Op::Build(pb::BuildOp {
                builder: -1,
                inputs: [("context".to_string(), pb::BuildInput { input: 0 })].into_iter().collect(),
                def: Some(inner),
                attrs: [("filename".to_string(), "Dockerfile".to_string())].into_iter().collect(),
            })),
            ..Default::default()
        };
        let mut run = exec(&["make"], &build);
        if let Some(pb::op::Op::Exec(e)) = &mut run.op {
            let meta = e.meta.as_mut().ok_or("meta")?;
            meta.proxy_env = Some(pb::ProxyEnv { http_proxy: "http://proxy:3128".into(), ..Default::default() });
            meta.ulimit = vec![pb::Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }];
            e.network = 7; // not a NetMode
        }
        let file = pb::Op {
            inputs: vec![input(&run, 0)],
            op: Some(pb::op::Op::File(pb::FileOp {
                actions: vec![pb::FileAction {
                    input: 0,
                    secondary_input: -1,
                    output: 0,
                    action: Some(pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: "/bin.dat".into(),
                        mode: 0o600,
                        data: vec![0xff, 0x00],
                        owner: None,
                        timestamp: -1,
                    })),
                }],
            })),
            ..Default::default()
        };
        let def = definition(&[&base, &build, &run, &file], Some(input(&file, 0)));
        let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
        let ops = v["ops"].as_array().ok_or("ops")?;
        let kinds: Vec<&str> = ops.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds, ["source", "build", "exec", "file"]);
        assert_eq!(ops[1]["op"]["attrs"]["filename"], "Dockerfile");
        assert_eq!(ops[1]["op"]["inputs"]["context"], 0);
        assert_eq!(ops[1]["op"]["builder"], serde_json::Value::Null);
        assert_eq!(ops[1]["op"]["definition"]["ops"][0]["kind"], "source");
        assert_eq!(ops[2]["op"]["proxy_env"]["http_proxy"], "http://proxy:3128");
        assert_eq!(ops[2]["op"]["ulimits"][0]["hard"], 2048);
        assert_eq!(ops[2]["op"]["network"], "unknown(7)");
        assert_eq!(ops[3]["op"]["actions"][0]["action"], "mkfile");
        assert_eq!(ops[3]["op"]["actions"][0]["mode"], "0600");
        assert_eq!(ops[3]["op"]["actions"][0]["data"]["hex"], "ff00");
        assert_eq!(ops[3]["op"]["actions"][0]["secondary_input"], serde_json::Value::Null);
        assert_eq!(ops[3]["metadata"], serde_json::Value::Null);
        let text = render(&def, Format::Text)?;
        assert!(text.contains("build Dockerfile") && text.contains("[context]"), "{text}");
        Ok(())
    }

    #[test]
    fn without_terminal_every_root_is_shown() -> R {
        let a = source("local://a");
        let b = source("local://b");
        let def = definition(&[&b, &a], None);
        let text = render(&def, Format::Text)?;
        assert!(text.contains("no terminal op") && text.contains("local://a") && text.contains("local://b"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
        assert_eq!(v["terminal"], serde_json::Value::Null);
        assert_eq!(v["ops"].as_array().map(Vec::len), Some(2));
        let empty = render(&pb::Definition::default(), Format::Text)?;
        assert!(empty.contains("(no ops)"), "{empty}");
        Ok(())
    }

    #[test]
    fn missing_inputs_are_shown_not_fatal() -> R {
        let ghost = source("local://ghost");
        let run = exec(&["true"], &ghost);
        let def = definition(&[&run], Some(input(&run, 0)));
        assert!(render(&def, Format::Text)?.contains("(not in this definition)"));
        assert!(render(&def, Format::Dot)?.contains("style=dashed"));
        Ok(())
    }

    #[test]
    fn corrupt_entries_are_an_error() {
        let def = pb::Definition { def: vec![vec![0xff, 0xff, 0xff]], ..Default::default() };
        let e = render(&def, Format::Text).expect_err("not an op");
        assert!(matches!(e, luakit_llb::DecodeError::Op { entry: 0, .. }), "{e}");
        assert!(e.to_string().contains("entry 0"), "{e}");
    }

    #[test]
    fn long_chains_render_in_linear_space_without_recursion() -> R {
        let mut ops = vec![source("docker-image://docker.io/library/alpine:3.19")];
        for i in 0..20_000 {
            let prev = ops.last().ok_or("ops")?;
            ops.push(exec(&["/bin/sh", "-c", &format!("echo {i}")], prev));
        }
        let refs: Vec<&pb::Op> = ops.iter().collect();
        let last = ops.last().ok_or("ops")?;
        let def = definition(&refs, Some(input(last, 0)));
        let text = render(&def, Format::Text)?;
        assert_eq!(text.lines().count(), 20_001);
        assert!(text.len() < 20_001 * 200, "{} bytes", text.len());
        render(&def, Format::Json)?;
        render(&def, Format::Dot)?;
        Ok(())
    }
}
