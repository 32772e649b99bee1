//! Marshal benchmarks: mixed exec/file/source graphs of 1,000 and 10,000 ops
//! with shared sub-graphs.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use luakit_graph::{CopyOptions, ImageOptions, LocalOptions, OpOptions, Platform, RunOptions, State, image, local};
use luakit_llb::{MarshalOptions, encode, marshal};

/// A graph of about `n` ops: chains of run/mkdir/copy over a few bases,
/// with copies reaching back into earlier (shared) states.
pub fn graph(n: usize) -> State {
    let bases: Vec<State> = ["alpine:3.19", "debian:bookworm", "golang:1.21", "node:20"]
        .iter()
        .map(|r| image(r, ImageOptions { default_path: true, ..Default::default() }).expect("image"))
        .collect();
    let ctx = local("context", LocalOptions { unique_id: "bench".into(), ..Default::default() }).expect("local");
    let mut history: Vec<State> = bases.clone();
    let mut st = bases[0].clone();
    let mut ops = 5;
    let mut i = 0usize;
    while ops < n {
        st = match i % 4 {
            0 => {
                let args = vec!["/bin/sh".into(), "-c".into(), format!("make step-{i}")];
                st.run(RunOptions { args, ..Default::default() }).expect("run").root().clone()
            }
            1 => st.mkdir(&format!("/work/d{i}"), 0o755, true, None, OpOptions::default()),
            2 => st.copy(&ctx, &format!("src/{i}"), "/app/", CopyOptions::default(), OpOptions::default()),
            _ => {
                let from = &history[(i * 7) % history.len()];
                st.copy(from, "/out", &format!("/from{i}"), CopyOptions::default(), OpOptions::default())
            }
        };
        history.push(st.clone());
        ops += 1;
        i += 1;
    }
    st
}

fn bench(c: &mut Criterion) {
    let opts = MarshalOptions::new(Platform::new("linux", "amd64", ""));
    let mut group = c.benchmark_group("marshal");
    for n in [1_000usize, 10_000] {
        let g = graph(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &g, |b, g| {
            b.iter(|| encode(&marshal(g, &opts).expect("marshal")))
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
