//! `luakit dag`: scripts and Definition files, including ones luakit never
//! writes, in every format.

use luakit::{Digest, pb};
use predicates::prelude::*;
use prost::Message as _;

use crate::util::{R, luakit, text};

const MULTI: &str = "fixtures/conformance/c05_multi_stage/build.lua";

fn dag(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = luakit().arg("dag").args(args).output()?;
    assert!(out.status.success(), "luakit dag {args:?}: {}", text(&out.stderr));
    Ok(text(&out.stdout))
}

#[test]
fn text_is_the_default() -> R {
    let out = dag(&[MULTI])?;
    assert_eq!(out, dag(&["--format", "text", MULTI])?);
    let first = out.lines().next().ok_or("output")?;
    assert!(first.contains(" file copy /out/server -> /app/server"), "{out}");
    assert!(out.contains("[from] "), "{out}");
    assert!(out.contains("source local://context"), "{out}");
    // Digests are shortened to 12 hex digits.
    assert!(!out.contains("sha256:"), "{out}");
    Ok(())
}

#[test]
fn json_of_a_script_matches_its_build() -> R {
    let flags = ["--platform", "linux/amd64", "--local-unique-id", "x"];
    let json: serde_json::Value = serde_json::from_str(&dag(&[&flags[..], &["--format", "json", MULTI]].concat())?)?;
    let built = luakit().arg("build").args(flags).arg(MULTI).output()?;
    assert!(built.status.success());
    let def = pb::Definition::decode(built.stdout.as_slice())?;
    let term = pb::Op::decode(def.def.last().ok_or("terminal")?.as_slice())?;
    assert_eq!(json["version"], 1);
    assert_eq!(json["terminal"]["digest"], term.inputs[0].digest.as_str());
    assert_eq!(json["terminal"]["op_digest"], Digest::of(def.def.last().ok_or("terminal")?).as_str());
    let ops = json["ops"].as_array().ok_or("ops")?;
    assert_eq!(ops.len(), def.def.len() - 1);
    // Topological: every input is listed before its user.
    let mut seen = std::collections::BTreeSet::new();
    for op in ops {
        for i in op["inputs"].as_array().ok_or("inputs")? {
            assert!(seen.contains(i["digest"].as_str().ok_or("digest")?));
        }
        seen.insert(op["digest"].as_str().ok_or("digest")?.to_string());
    }
    let exec = ops.iter().find(|o| o["kind"] == "exec").ok_or("an exec")?;
    assert_eq!(exec["op"]["cwd"], "/app");
    let mounts = exec["op"]["mounts"].as_array().ok_or("mounts")?;
    assert!(mounts.iter().any(|m| m["type"] == "cache" && m["cache"]["id"] == "gomod"), "{mounts:?}");
    assert_eq!(exec["locations"][0]["file"], "build.lua");
    assert_eq!(json["sources"][0]["filename"], "build.lua");
    Ok(())
}

#[test]
fn a_definition_file_renders_like_its_script() -> R {
    let dir = tempfile::tempdir()?;
    let pb_file = dir.path().join("multi.pb");
    luakit().args(["build", "--local-unique-id", "x", "-o"]).arg(&pb_file).arg(MULTI).assert().success();
    let path = pb_file.to_str().ok_or("utf-8 path")?;
    for format in ["text", "json", "dot"] {
        assert_eq!(
            dag(&["--format", format, path])?,
            dag(&["--local-unique-id", "x", "--format", format, MULTI])?,
            "{format}"
        );
    }
    Ok(())
}

fn op_bytes(op: &pb::Op) -> Vec<u8> {
    op.encode_to_vec()
}

fn input(op: &pb::Op) -> pb::Input {
    pb::Input { digest: Digest::of(&op_bytes(op)).to_string(), index: 0 }
}

/// A Definition with ops luakit's marshaller never emits: a BuildOp (as the
/// Dockerfile frontend's `#syntax` forwarding once produced) and an exec
/// with proxy env and extra metadata.
fn foreign_definition() -> pb::Definition {
    let frontend = pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: "docker-image://docker.io/docker/dockerfile:1".into(),
            attrs: Default::default(),
        })),
        ..Default::default()
    };
    let build = pb::Op {
        inputs: vec![input(&frontend)],
        op: Some(pb::op::Op::Build(pb::BuildOp {
            builder: 0,
            inputs: Default::default(),
            def: None,
            attrs: [("filename".to_string(), "Dockerfile".to_string())].into_iter().collect(),
        })),
        ..Default::default()
    };
    let run = pb::Op {
        inputs: vec![input(&build)],
        platform: Some(pb::Platform { os: "linux".into(), architecture: "s390x".into(), ..Default::default() }),
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args: vec!["/bin/sh".into(), "-c".into(), "wget \"http://example.com\"".into()],
                cwd: "/".into(),
                proxy_env: Some(pb::ProxyEnv {
                    http_proxy: "http://proxy.internal:3128".into(),
                    no_proxy: "localhost".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            mounts: vec![pb::Mount { dest: "/".into(), input: 0, output: 0, ..Default::default() }],
            network: pb::NetMode::Host as i32,
            ..Default::default()
        })),
        ..Default::default()
    };
    let terminal = pb::Op { inputs: vec![input(&run)], ..Default::default() };
    let mut def = pb::Definition {
        def: vec![op_bytes(&frontend), op_bytes(&build), op_bytes(&run), op_bytes(&terminal)],
        ..Default::default()
    };
    def.metadata.insert(
        Digest::of(&op_bytes(&run)).to_string(),
        pb::OpMetadata {
            description: [("llb.customname".to_string(), "[2/2] RUN wget".to_string())].into_iter().collect(),
            caps: [("exec.meta.proxyenv".to_string(), true)].into_iter().collect(),
            ignore_cache: true,
            ..Default::default()
        },
    );
    def
}

#[test]
fn renders_a_foreign_definition() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dockerfile.llb");
    std::fs::write(&file, foreign_definition().encode_to_vec())?;
    let path = file.to_str().ok_or("utf-8 path")?;

    let json: serde_json::Value = serde_json::from_str(&dag(&["--format", "json", path])?)?;
    let ops = json["ops"].as_array().ok_or("ops")?;
    let kinds: Vec<&str> = ops.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["source", "build", "exec"]);
    assert_eq!(ops[1]["op"]["builder"], 0);
    assert_eq!(ops[1]["op"]["attrs"]["filename"], "Dockerfile");
    let exec = &ops[2];
    assert_eq!(exec["op"]["proxy_env"]["http_proxy"], "http://proxy.internal:3128");
    assert_eq!(exec["op"]["proxy_env"]["no_proxy"], "localhost");
    assert_eq!(exec["op"]["network"], "host");
    assert_eq!(exec["platform"]["architecture"], "s390x");
    assert_eq!(exec["metadata"]["description"]["llb.customname"], "[2/2] RUN wget");
    assert_eq!(exec["metadata"]["caps"]["exec.meta.proxyenv"], true);
    assert_eq!(exec["metadata"]["ignore_cache"], true);
    assert_eq!(json["terminal"]["digest"], exec["digest"]);

    let tree = dag(&[path])?;
    assert!(tree.contains("exec /bin/sh -c \"wget \\\"http://example.com\\\"\""), "{tree}");
    assert!(tree.contains("# [2/2] RUN wget"), "{tree}");
    assert!(tree.contains("[builder] ") && tree.contains("build Dockerfile"), "{tree}");

    let dot = dag(&["--format", "dot", path])?;
    assert!(dot.starts_with("digraph llb {\n") && dot.ends_with("}\n"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 3, "two edges and the result: {dot}");
    assert!(dot.contains(r#"wget \\\"http://example.com\\\""#), "quotes are escaped: {dot}");
    Ok(())
}

#[test]
fn bad_inputs_fail_cleanly() -> R {
    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("garbage.pb");
    std::fs::write(&garbage, [0xff, 0xff, 0xff, 0xff])?;
    luakit()
        .arg("dag")
        .arg(&garbage)
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("garbage.pb is neither a Lua script nor a valid LLB Definition"));
    luakit()
        .args(["dag", "fixtures/cli/missing.pb"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: cannot read"));
    luakit()
        .args(["dag", "fixtures/cli/error/build.lua"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("build.lua:3:"));
    luakit().args(["dag", "--format", "svg", MULTI]).assert().code(2);
    Ok(())
}

/// Graphviz accepts the DOT output. Needs `dot` (Debian's graphviz, which
/// `cargo xtask ci` and `.ci/run` install): missing, the test fails rather
/// than passing without checking anything.
#[test]
fn graphviz_renders_the_dot_output() -> R {
    use std::io::Write as _;
    let has_dot = std::process::Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    assert!(has_dot, "graphviz `dot` is not installed (apt-get install graphviz, or run `cargo xtask ci`)");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("foreign.pb");
    std::fs::write(&file, foreign_definition().encode_to_vec())?;
    let inputs = [MULTI.to_string(), "fixtures/conformance/c09_diff/build.lua".to_string(), file.display().to_string()];
    for input in inputs {
        let graph = dag(&["--format", "dot", &input])?;
        let mut child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child.stdin.take().ok_or("stdin")?.write_all(graph.as_bytes())?;
        let out = child.wait_with_output()?;
        assert!(out.status.success(), "{input}: {}\n{graph}", text(&out.stderr));
        assert!(text(&out.stdout).contains("<svg"), "{input}");
        assert!(out.stderr.is_empty(), "{input}: {}", text(&out.stderr));
    }
    Ok(())
}
