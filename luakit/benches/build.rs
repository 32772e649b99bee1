//! Build benchmarks: `luakit::build` (evaluate, marshal, image config) of
//! generated straight-line scripts of 1,000 and 10,000 ops, encoded as
//! `luakit build` writes them, with the source map on (the default); and
//! the marshal of an evaluated script's graph alone.

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luakit::llb::{MarshalOptions, encode, marshal};
use luakit::{BuildOptions, EvalOptions, Platform, Script, Unresolved};

#[path = "../../luakit-lua/benches/common/script.rs"]
mod common;

use common::script;

fn bench(c: &mut Criterion) {
    let amd64 = Platform::new("linux", "amd64", "");
    let eval = EvalOptions { target_platform: amd64.clone(), local_unique_id: "bench".into(), ..Default::default() };
    let opts = BuildOptions { eval: eval.clone(), ..Default::default() };
    let mut group = c.benchmark_group("build_encode");
    for n in [1_000usize, 10_000] {
        let script = Script::new("build.lua", script(n));
        group.bench_with_input(BenchmarkId::from_parameter(n), &script, |b, script| {
            b.iter(|| luakit::build(script, &opts, Arc::new(Unresolved)).expect("builds").definition_bytes())
        });
    }
    group.finish();
    let mopts = MarshalOptions::new(amd64);
    let mut group = c.benchmark_group("marshal_script_graph");
    for n in [1_000usize, 10_000] {
        let evaluated = luakit::lua::evaluate("build.lua", script(n).as_bytes(), &eval).expect("evaluates");
        group.bench_with_input(BenchmarkId::from_parameter(n), &evaluated.state, |b, st| {
            b.iter(|| encode(&marshal(st, &mopts).expect("marshals")))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
