//! Evaluate + encode benchmarks: generated straight-line scripts of 1,000
//! and 10,000 ops (mixed run/mkdir/mkfile/copy over a few images), through
//! luakit-lua and luakit-llb, with the source map on (the default).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luakit_graph::Platform;
use luakit_llb::{MarshalOptions, encode, marshal};
use luakit_lua::{EvalOptions, evaluate};

/// A script of `n` op-creating lines.
pub fn script(n: usize) -> String {
    let mut s = String::from(
        "local base = bk.image(\"alpine:3.19\")\nlocal tools = bk.image(\"busybox:latest\")\nlocal ctx = bk.local_(\"context\")\nlocal s = base\n",
    );
    for i in 3..n {
        let line = match i % 5 {
            0 => format!("s = s:run(\"make step-{i}\", {{ cwd = \"/src\", env = {{ STEP = \"{i}\" }} }})\n"),
            1 => format!("s = s:mkdir(\"/work/d{i}\", {{ mode = \"0750\" }})\n"),
            2 => format!("s = s:mkfile(\"/work/f{i}\", \"content {i}\")\n"),
            3 => format!("s = s:copy(ctx, \"src/{i}\", \"/app/\")\n"),
            _ => format!("s = s:copy(tools, \"/bin/busybox\", \"/bin/b{i}\")\n"),
        };
        s.push_str(&line);
    }
    s.push_str("bk.export(s)\n");
    s
}

fn bench(c: &mut Criterion) {
    let amd64 = Platform::new("linux", "amd64", "");
    let opts = EvalOptions { target_platform: amd64.clone(), local_unique_id: "bench".into(), ..Default::default() };
    let mopts = MarshalOptions::new(amd64);
    let mut group = c.benchmark_group("evaluate_encode");
    for n in [1_000usize, 10_000] {
        let src = script(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| {
                let eval = evaluate("build.lua", src.as_bytes(), &opts).expect("evaluates");
                encode(&marshal(&eval.state, &mopts).expect("marshals"))
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("evaluate_only");
    for n in [1_000usize, 10_000] {
        let src = script(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &src, |b, src| {
            b.iter(|| evaluate("build.lua", src.as_bytes(), &opts).expect("evaluates"))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("marshal_script_graph");
    for n in [1_000usize, 10_000] {
        let eval = evaluate("build.lua", script(n).as_bytes(), &opts).expect("evaluates");
        group.bench_with_input(BenchmarkId::from_parameter(n), &eval.state, |b, st| {
            b.iter(|| encode(&marshal(st, &mopts).expect("marshals")))
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
