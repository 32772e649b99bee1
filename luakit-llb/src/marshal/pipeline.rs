//! Marshalling that starts while the script runs.
//!
//! A [`Pipeline`] is a [`NodeSink`]: the evaluation reports each node it
//! makes, and a worker thread encodes and hashes the ops as they come, so
//! that on a machine with a second core the marshal costs little more than
//! putting the encoded ops in order once the script is done. The result is
//! the same Definition, byte for byte, as [`super::marshal_full`] gives for
//! the final state: ops are encoded on their own (an op's bytes depend on
//! its inputs' digests only) and ordered, de-duplicated and given their
//! metadata by the same walk from the exported state. Nodes the script
//! made but did not export are encoded too, and left out.
//!
//! The two threads share one queue and swap buffers, so that neither frees
//! memory the other allocated (a free into another thread's heap takes that
//! heap's lock, and the script's thread would wait on it).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use luakit_graph::{Node, NodeSink, State};

use super::{Encoder, MarshalError, MarshalOptions, Marshalled, assemble};

/// The worker is started when this many nodes wait: below it, encoding
/// the nodes at the end costs less than starting a thread.
const START_AT: usize = 256;

/// The worker is woken when this many nodes wait (waking a thread for each
/// node would cost more than encoding it).
const BATCH: usize = 64;

/// Encodes ops on a thread of its own while the script makes them; see the
/// module documentation.
pub struct Pipeline {
    opts: MarshalOptions,
    shared: Arc<Shared>,
    worker: Mutex<Option<JoinHandle<Finished>>>,
    /// The encoder once finished: what it holds is freed with the
    /// pipeline, wherever its owner drops it, not inside `finish`.
    spent: Mutex<Option<Encoder>>,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

/// What the worker's assembly gave.
type Assembled = Result<Marshalled, MarshalError>;

/// What the worker hands back: its encoder, and the Definition when it was
/// given the state to assemble.
type Finished = (Encoder, Option<Assembled>);

struct Queue {
    nodes: Vec<Arc<Node>>,
    /// The exported state, given by [`Pipeline::finish`]: the worker puts
    /// its Definition together once every node is encoded, on the thread
    /// whose caches hold what it encoded.
    finish: Option<State>,
    /// No more nodes will come (or there is no worker to take them).
    closed: bool,
    /// The worker waits for nodes.
    waiting: bool,
    /// The worker was started.
    started: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Starts a pipeline that marshals with `opts`.
    pub fn marshal(opts: &MarshalOptions) -> Arc<Pipeline> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { nodes: Vec::new(), finish: None, closed: false, waiting: false, started: false }),
            ready: Condvar::new(),
        });
        Arc::new(Pipeline { opts: opts.clone(), shared, worker: Mutex::new(None), spent: Mutex::new(None) })
    }

    /// Starts the worker (once enough nodes wait that it pays): false when
    /// no thread can be started, and the nodes are encoded at the end.
    fn spawn(&self) -> bool {
        let worker_opts = self.opts.clone();
        let theirs = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("luakit-marshal".to_string())
            .spawn(move || work(&theirs, Encoder::new(worker_opts, false)))
            .ok();
        let started = spawned.is_some();
        *self.worker.lock().unwrap_or_else(PoisonError::into_inner) = spawned;
        started
    }

    /// Stops taking nodes and hands back the encoder with everything
    /// reported so far encoded (a fresh one when there is no worker), and
    /// the Definition of `state` when the worker assembled it.
    fn close(&self, state: &State) -> Finished {
        {
            let mut q = self.shared.lock();
            q.closed = true;
            if q.started {
                q.finish = Some(state.clone());
            } else {
                // Never handed over: encoded from the exported state.
                q.nodes = Vec::new();
            }
        }
        self.shared.ready.notify_one();
        let worker = self.worker.lock().unwrap_or_else(PoisonError::into_inner).take();
        worker.and_then(|w| w.join().ok()).unwrap_or_else(|| (Encoder::new(self.opts.clone(), false), None))
    }

    /// The Definition of `state` (which the script made while reporting to
    /// this pipeline), as [`super::marshal_full`] would give it. Ends the
    /// pipeline. The encoded nodes it kept are freed when the pipeline is
    /// dropped (a caller can drop it off its critical path).
    pub fn finish(&self, state: &State) -> Result<Marshalled, MarshalError> {
        let (mut enc, assembled) = self.close(state);
        let m = match assembled {
            Some(m) => m,
            None => assemble(state, &self.opts, &mut enc),
        };
        *self.spent.lock().unwrap_or_else(PoisonError::into_inner) = Some(enc);
        m
    }
}

/// A pipeline dropped unfinished (the script failed) stops its worker,
/// which frees what it encoded.
impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }
}

/// The worker: takes the waiting nodes (swapping in its own emptied
/// buffer) and encodes them, until the queue is closed and empty; then
/// assembles the Definition of the state [`Pipeline::finish`] gave, if any.
fn work(shared: &Shared, mut enc: Encoder) -> Finished {
    luakit_graph::reserve_thread_heap();
    let mut mine: Vec<Arc<Node>> = Vec::with_capacity(1024);
    loop {
        {
            let mut q = shared.lock();
            loop {
                if q.nodes.len() >= BATCH || (q.closed && !q.nodes.is_empty()) {
                    std::mem::swap(&mut q.nodes, &mut mine);
                    break;
                }
                if q.closed {
                    let state = q.finish.take();
                    drop(q);
                    let opts = enc.opts.clone();
                    let assembled = state.map(|s| assemble(&s, &opts, &mut enc));
                    return (enc, assembled);
                }
                q.waiting = true;
                q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                q.waiting = false;
            }
        }
        for node in &mine {
            enc.visit(node);
        }
        mine.clear();
    }
}

impl NodeSink for Pipeline {
    fn node(&self, node: &Arc<Node>) {
        let mut q = self.shared.lock();
        if q.closed {
            return;
        }
        q.nodes.push(node.clone());
        let n = q.nodes.len();
        if n == START_AT && !q.started {
            // A small graph is encoded at the end: a thread would cost more.
            q.started = true;
            drop(q);
            if !self.spawn() {
                let mut q = self.shared.lock();
                q.closed = true;
                q.nodes = Vec::new();
            }
            return;
        }
        let wake = q.waiting && n >= BATCH;
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
    }
}
