//! Runs the cases of both engines on a pool of threads and reports them.
//!
//! Every case is a [`Job`]: independent cases run concurrently (the engines
//! are built for concurrent builds; each case uses its own image tags, work
//! directory and output); a case marked `exclusive` (e.g. one that prunes the
//! daemon's cache) runs alone on its engine — it waits until the other cases
//! of that engine are done, while the other engine's cases go on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use anyhow::Result;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Engine {
    Dockerd,
    Buildkitd,
}

impl Engine {
    pub const ALL: [Engine; 2] = [Engine::Dockerd, Engine::Buildkitd];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Dockerd => "dockerd",
            Engine::Buildkitd => "buildkitd",
        }
    }
}

/// A case of one engine: `run` gets the engine's context.
pub struct Case<C> {
    pub name: &'static str,
    /// Runs alone on its engine (after the others of that engine).
    pub exclusive: bool,
    pub run: fn(&C) -> Result<()>,
}

impl<C> Case<C> {
    pub const fn new(name: &'static str, run: fn(&C) -> Result<()>) -> Self {
        Case { name, exclusive: false, run }
    }

    /// A case that must not overlap the engine's other cases (one that
    /// prunes the daemon's cache, restarts it, …).
    #[allow(dead_code)]
    pub const fn exclusive(name: &'static str, run: fn(&C) -> Result<()>) -> Self {
        Case { name, exclusive: true, run }
    }
}

/// A case bound to its context.
pub struct Job<'a> {
    pub engine: Engine,
    pub name: &'static str,
    pub exclusive: bool,
    pub run: Box<dyn Fn() -> Result<()> + Sync + 'a>,
}

pub struct Outcome {
    pub engine: Engine,
    pub name: &'static str,
    pub secs: f64,
    pub error: Option<String>,
}

/// Binds `cases` to `ctx`, keeping those `selected` says yes to.
pub fn jobs<'a, C: Sync>(
    engine: Engine,
    ctx: &'a C,
    cases: Vec<Case<C>>,
    selected: impl Fn(Engine, &str) -> bool,
) -> Vec<Job<'a>> {
    cases
        .into_iter()
        .filter(|c| selected(engine, c.name))
        .map(|c| {
            let f = c.run;
            Job { engine, name: c.name, exclusive: c.exclusive, run: Box::new(move || f(ctx)) }
        })
        .collect()
}

/// Runs `jobs` on `threads` threads: the engines' lists interleaved,
/// exclusive cases last. Prints a PASS/FAIL line per case as it ends.
pub fn run(mut jobs: Vec<Job<'_>>, threads: usize) -> Vec<Outcome> {
    // Interleave the engines so that both daemons work from the start;
    // exclusive cases go last (stable sort keeps the rest in order).
    let mut rank = [0usize; 2];
    let mut keyed: Vec<(bool, usize, Job)> = jobs
        .drain(..)
        .map(|j| {
            let r = &mut rank[j.engine as usize];
            *r += 1;
            (j.exclusive, *r, j)
        })
        .collect();
    keyed.sort_by_key(|(excl, r, _)| (*excl, *r));
    let jobs: Vec<Job> = keyed.into_iter().map(|(_, _, j)| j).collect();

    let locks = [RwLock::new(()), RwLock::new(())];
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1).min(jobs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(i) else { break };
                    let lock = &locks[job.engine as usize];
                    let t = Instant::now();
                    let result = if job.exclusive {
                        let _g = lock.write();
                        (job.run)()
                    } else {
                        let _g = lock.read();
                        (job.run)()
                    };
                    let secs = t.elapsed().as_secs_f64();
                    let error = result.err().map(|e| format!("{e:#}"));
                    match &error {
                        None => println!("PASS {}/{} ({secs:.1}s)", job.engine.name(), job.name),
                        Some(e) => println!("FAIL {}/{} ({secs:.1}s): {e}", job.engine.name(), job.name),
                    }
                    if let Ok(mut o) = outcomes.lock() {
                        o.push(Outcome { engine: job.engine, name: job.name, secs, error });
                    }
                }
            });
        }
    });
    outcomes.into_inner().unwrap_or_default()
}
