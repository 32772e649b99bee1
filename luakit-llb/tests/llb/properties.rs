//! Properties of the Definition decoder (`decode`, `inspect`), checked on
//! generated inputs: arbitrary bytes and mutated valid Definitions never
//! make it panic; the Definitions luakit marshals decode, re-encode to the
//! same bytes and inspect in topological order.
//!
//! The generator is seeded with a fixed seed and runs a bounded number of
//! cases, so a run is reproducible and takes seconds; a failure prints the
//! minimal input. `PROPTEST_CASES` raises the count for a longer local run.

use std::collections::HashSet;

use luakit_graph::{CopyOptions, ImageOptions, OpOptions, Platform, RunOptions, State, image};
use luakit_llb::{MarshalOptions, decode, encode, inspect, marshal, pb};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use prost::Message;

/// A fixed seed and `cases` cases, unless `PROPTEST_RNG_SEED` or
/// `PROPTEST_CASES` ask for others (for a longer run by hand).
fn config(cases: u32) -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(0x6c75_616b_6974_6c6c)
        },
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..default
    }
}

/// One step of building a graph.
#[derive(Debug, Clone)]
enum Step {
    Image(u8),
    Run(Vec<String>, Vec<(String, String)>),
    Mkdir(String, u32),
    Mkfile(String, Vec<u8>),
    Copy(usize, String),
    Merge(usize),
    Diff(usize),
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_.-]{0,12}"
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        any::<u8>().prop_map(Step::Image),
        (prop::collection::vec(".{0,16}", 1..4), prop::collection::vec((name(), ".{0,8}"), 0..3))
            .prop_map(|(a, e)| Step::Run(a, e)),
        (name(), 0u32..0o7777).prop_map(|(p, m)| Step::Mkdir(p, m)),
        (name(), prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(p, d)| Step::Mkfile(p, d)),
        (any::<usize>(), name()).prop_map(|(i, p)| Step::Copy(i, p)),
        any::<usize>().prop_map(Step::Merge),
        any::<usize>().prop_map(Step::Diff),
    ]
}

/// A graph built from the steps; every state made is kept, so that later
/// steps can use earlier ones (shared inputs, de-duplicated ops).
fn build(steps: &[Step]) -> State {
    let base = image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() }).expect("image");
    let mut made = vec![base];
    for s in steps {
        let cur = made.last().cloned().unwrap_or_else(State::scratch);
        let pick = |i: usize| made[i % made.len()].clone();
        let next = match s {
            Step::Image(n) => image(&format!("img{}:v{}", n % 4, n % 3), ImageOptions::default()).expect("image"),
            Step::Run(args, env) => {
                let env = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                match cur.run(RunOptions { args: args.clone(), env, ..Default::default() }) {
                    Ok(exec) => exec.root().clone(),
                    Err(_) => continue,
                }
            }
            Step::Mkdir(p, m) => cur.mkdir(&format!("/{p}"), *m, true, None, OpOptions::default()),
            Step::Mkfile(p, d) => cur.mkfile(&format!("/{p}"), 0o644, d.clone(), None, OpOptions::default()),
            Step::Copy(i, p) => {
                cur.copy(&pick(*i), "/", &format!("/{p}"), CopyOptions::default(), OpOptions::default())
            }
            Step::Merge(i) => luakit_graph::merge(&[cur.clone(), pick(*i)], OpOptions::default()).expect("merge"),
            Step::Diff(i) => luakit_graph::diff(&pick(*i), &cur, OpOptions::default()),
        };
        made.push(next);
    }
    made.last().cloned().unwrap_or_else(State::scratch)
}

fn marshalled(steps: &[Step]) -> Vec<u8> {
    let def = marshal(&build(steps), &MarshalOptions::new(Platform::new("linux", "amd64", ""))).expect("marshal");
    encode(&def)
}

/// Decodes and inspects; checks what holds for any input that decodes.
fn decode_and_inspect(bytes: &[u8]) {
    let Ok(def) = decode(bytes) else { return };
    let Ok(ins) = inspect(&def) else { return };
    let digests: Vec<&str> = ins.ops.iter().map(|o| o.digest.as_str()).collect();
    let unique: HashSet<&str> = digests.iter().copied().collect();
    assert_eq!(unique.len(), digests.len(), "an op is listed twice");
    assert!(ins.ops.len() <= def.def.len());
}

/// A mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::Flip(i, x) if len > 0 => bytes[i % len] ^= x,
        Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
        Mutation::Insert(i, b) => {
            let at = i % (len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i % len;
            bytes.drain(at..(at + n).min(len));
        }
        _ => {}
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    proptest!(config(1024), |(bytes in prop::collection::vec(any::<u8>(), 0..512))| {
        decode_and_inspect(&bytes);
    });
    // Bytes shaped like a Definition: a `def` list of arbitrary entries.
    proptest!(config(512), |(entries in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8))| {
        let def = pb::Definition { def: entries, ..Default::default() };
        decode_and_inspect(&def.encode_to_vec());
    });
}

#[test]
fn marshalled_definitions_round_trip_and_inspect_in_order() {
    proptest!(config(128), |(steps in prop::collection::vec(step(), 0..12))| {
        let bytes = marshalled(&steps);
        let def = decode(&bytes).expect("luakit's own output decodes");
        prop_assert_eq!(encode(&def), bytes.clone(), "decode → encode changed the bytes");
        prop_assert_eq!(marshalled(&steps), bytes, "marshalling is not deterministic");
        let ins = inspect(&def).expect("luakit's own output inspects");
        prop_assert!(ins.terminal.is_some(), "no terminal op");
        prop_assert_eq!(ins.ops.len(), def.def.len() - 1, "ops are de-duplicated, plus the terminal op");
        // Inputs first.
        let mut seen = HashSet::new();
        for op in &ins.ops {
            for input in &op.op.inputs {
                prop_assert!(seen.contains(input.digest.as_str()), "{} before its input {}", op.digest, input.digest);
            }
            seen.insert(op.digest.as_str());
        }
    });
}

#[test]
fn mutated_definitions_never_panic() {
    let strategy = (prop::collection::vec(step(), 1..8), prop::collection::vec(mutation(), 1..4));
    proptest!(config(256), |((steps, mutations) in strategy)| {
        let mut bytes = marshalled(&steps);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_and_inspect(&bytes);
    });
    // Mutations inside one op, in a Definition that still decodes.
    let strategy = (prop::collection::vec(step(), 1..8), any::<usize>(), prop::collection::vec(mutation(), 1..4));
    proptest!(config(256), |((steps, which, mutations) in strategy)| {
        let mut def = decode(&marshalled(&steps)).expect("decodes");
        let n = def.def.len();
        let entry = &mut def.def[which % n];
        for m in &mutations {
            apply(entry, m);
        }
        decode_and_inspect(&def.encode_to_vec());
    });
}
