//! Marshal benchmarks: mixed exec/file/source graphs of 1,000 and 10,000 ops
#![allow(unsafe_code)] // the counting allocator below
//! with shared sub-graphs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Counts live and peak heap bytes, to check that marshal memory grows
/// linearly with the number of ops.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes used by one marshal+encode of `g` (above what was live before).
fn marshal_peak(g: &State, opts: &MarshalOptions) -> usize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let bytes = encode(&marshal(g, opts).expect("marshal"));
    let peak = PEAK.load(Ordering::Relaxed) - base;
    drop(bytes);
    peak
}

fn bench(c: &mut Criterion) {
    let opts = MarshalOptions::new(Platform::new("linux", "amd64", ""));
    for n in [1_000usize, 10_000] {
        let g = graph(n);
        let peak = marshal_peak(&g, &opts);
        println!("marshal memory: {n} ops -> peak {} KiB ({} bytes/op)", peak / 1024, peak / n);
    }
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
