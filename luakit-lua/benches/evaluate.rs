//! Evaluation benchmarks: generated straight-line scripts of 1,000 and
//! 10,000 ops (mixed run/mkdir/mkfile/copy over a few images), with and
//! without the source map. The whole pipeline (evaluate, marshal, config)
//! is luakit's `build` benchmark.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luakit_graph::Platform;
use luakit_lua::{EvalOptions, evaluate};

#[path = "common/script.rs"]
mod common;

use common::script;

fn bench(c: &mut Criterion) {
    let amd64 = Platform::new("linux", "amd64", "");
    let opts = EvalOptions { target_platform: amd64, local_unique_id: "bench".into(), ..Default::default() };
    let mut group = c.benchmark_group("evaluate_only");
    for n in [1_000usize, 10_000] {
        let src = script(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| evaluate("build.lua", src.as_bytes(), &opts).expect("evaluates"))
        });
    }
    group.finish();
    let no_map = EvalOptions { source_map: false, ..opts.clone() };
    let mut group = c.benchmark_group("evaluate_only_no_source_map");
    for n in [1_000usize, 10_000] {
        let src = script(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| evaluate("build.lua", src.as_bytes(), &no_map).expect("evaluates"))
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
