//! The marshal pipeline (ops encoded while the script makes them) gives the
//! same Definition, the same errors and the same checks as marshalling the
//! finished graph, whatever order the nodes were made and reported in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use luakit_graph::*;
use luakit_llb::{CapSet, MarshalOptions, Pipeline, check, encode, marshal_full};

fn base() -> State {
    image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() }).expect("image")
}

fn at(line: i32) -> OpOptions {
    let file =
        Arc::new(SourceFile { filename: "build.lua".into(), data: b"-- script".to_vec(), language: "Lua".into() });
    OpOptions {
        locations: vec![SourceLocation {
            file,
            ranges: vec![SourceRange { start_line: line, start_char: 0, end_line: line, end_char: 0 }],
        }],
        ..Default::default()
    }
}

fn opts() -> MarshalOptions {
    MarshalOptions { name_ops: true, ..MarshalOptions::new(Platform::new("linux", "amd64", "")) }
}

/// Reports `st`'s node, as the evaluation does for each state it hands out.
fn report(p: &Pipeline, st: &State) {
    if let Some(out) = st.output() {
        p.node(&out.node);
    }
}

/// Two chains built in turns (so the order nodes are made in is not the
/// order a walk from the result meets them), a sub-graph built twice (same
/// digest, metadata merged), a described op, an op that is made but not
/// exported; every node is reported as it is made. `n` steps per chain
/// (the worker starts once a few hundred nodes were reported).
fn interleaved(p: &Pipeline, n: usize) -> State {
    let ctx = local("context", LocalOptions::default()).expect("local");
    let (mut a, mut b) = (base(), base());
    report(p, &a);
    report(p, &ctx);
    for i in 0..n {
        a = a.mkfile(&format!("/a{i}"), 0o644, vec![b'a'; i], None, at(10 + i as i32));
        report(p, &a);
        let run = RunOptions {
            args: vec!["sh".into(), "-c".into(), format!("echo {i}")],
            op: at(100 + i as i32),
            ..Default::default()
        };
        b = b.run(run).expect("run").root().clone();
        report(p, &b);
        if i % 7 == 0 {
            let unused = a.copy(&ctx, "nowhere", "/x", CopyOptions::default(), at(500));
            report(p, &unused);
        }
    }
    // The same op twice, from two places in the script.
    let twice1 = a.mkfile("/same", 0o600, b"same".to_vec(), None, at(300));
    let twice2 = a.mkfile("/same", 0o600, b"same".to_vec(), None, at(301));
    report(p, &twice1);
    report(p, &twice2);
    let mut described = OpOptions::default();
    described.metadata.description = BTreeMap::from([("llb.customname".to_string(), "my step".to_string())]);
    let c = b.copy(&twice1, "/same", "/from-a", CopyOptions::default(), described);
    report(p, &c);
    let m = merge(&[twice2, c, b.clone()], at(400)).expect("merge");
    report(p, &m);
    m
}

#[test]
fn the_pipeline_gives_the_bytes_of_marshal_full() {
    for (source_map, n) in [(true, 300), (false, 300), (true, 40)] {
        let o = MarshalOptions { source_map, ..opts() };
        let p = Pipeline::marshal(&o);
        let st = interleaved(&p, n);
        let piped = p.finish(&st).expect("pipeline");
        let whole = marshal_full(&st, &o).expect("marshal");
        assert_eq!(piped.terminal, whole.terminal);
        assert_eq!(piped.definition.bytes(), whole.definition.bytes(), "source_map {source_map}");
        // Both write their bytes without making the message: the bytes
        // are the encoding of the message they decode to (metadata and
        // source map entries in digest order, every map entry as Go writes it).
        assert_eq!(piped.definition.bytes(), encode(&piped.definition).as_slice(), "source_map {source_map}");
        assert_eq!(piped.definition.op_count(), piped.definition.def.len());
        // The unused copies (and the local source only they read) are not
        // in it: n mkfiles, n execs, the image (both chains start from it),
        // the two `/same` ops as one, the copy, the merge and the terminal op.
        assert_eq!(piped.definition.def.len(), n + n + 1 + 1 + 1 + 1 + 1);
    }
}

#[test]
fn nodes_never_reported_are_encoded_at_the_end() {
    let o = opts();
    let p = Pipeline::marshal(&o);
    let quiet = Pipeline::marshal(&o);
    // Made while reporting to `quiet`, which is dropped unfinished.
    let st = interleaved(&quiet, 300);
    drop(quiet);
    let piped = p.finish(&st).expect("pipeline");
    assert_eq!(encode(&piped.definition), encode(&marshal_full(&st, &o).expect("marshal").definition));
}

/// A BuildKit that has neither merge nor symlinks.
fn old_daemon() -> MarshalOptions {
    let mut caps = CapSet::new([
        "source.image",
        "source.local",
        "source.local.unique",
        "exec.meta.base",
        "file.base",
        "constraints",
        "platform",
        "meta.description",
    ]);
    caps.version = "v0.8.3".into();
    MarshalOptions { daemon_caps: Some(caps), ..opts() }
}

#[test]
fn an_op_the_daemon_refuses_only_fails_the_build_when_exported() {
    let o = old_daemon();
    let p = Pipeline::marshal(&o);
    let a = base().mkfile("/a", 0o644, b"a".to_vec(), None, at(1));
    report(&p, &a);
    let refused = merge(&[a.clone(), base()], at(2)).expect("merge");
    report(&p, &refused);
    let piped = p.finish(&a).expect("the merge is not exported");
    assert_eq!(encode(&piped.definition), encode(&marshal_full(&a, &o).expect("marshal").definition));
}

#[test]
fn the_first_error_is_the_one_marshal_reports() {
    let o = old_daemon();
    let p = Pipeline::marshal(&o);
    let a = base().symlink("a", "/b", None, at(3));
    let b = base().symlink("c", "/d", None, at(4));
    // Reported in the other order than a walk meets them.
    report(&p, &b);
    report(&p, &a);
    let m = merge(&[a, b], at(5)).expect("merge");
    report(&p, &m);
    let whole = marshal_full(&m, &o).expect_err("refused");
    let piped = p.finish(&m).expect_err("refused");
    assert_eq!(piped, whole);
    assert!(piped.to_string().starts_with("build.lua:3: symlink needs BuildKit"), "{piped}");
    // The checks alone say the same.
    assert_eq!(check(&m, &o).expect_err("refused"), whole);
}

#[test]
fn a_pipeline_dropped_unfinished_lets_its_nodes_go() {
    let p = Pipeline::marshal(&opts());
    // Enough nodes for the worker to start and take them.
    let mut st = base();
    for i in 0..400 {
        st = st.mkfile(&format!("/a{i}"), 0o644, b"a".to_vec(), None, at(1));
        report(&p, &st);
    }
    let node = st.output().expect("output").node.clone();
    drop(st);
    drop(p);
    // The worker ends and frees what it held: only `node` is left.
    let until = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&node) > 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(Arc::strong_count(&node), 1, "the worker still holds the node");
}
