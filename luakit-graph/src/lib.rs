//! luakit-graph: the pure model of a BuildKit build graph.
//!
//! This is layer 0 of luakit (ARCHITECTURE.md in the repository): every
//! other crate builds on it, and it depends on none of them. It is to
//! luakit what BuildKit's Go `client/llb` package is to Go programs: a way
//! to describe, in memory, the graph of sources, commands and file
//! operations a build is made of.
//!
//! # Design
//!
//! A [`State`] is an immutable, cheaply cloned handle on a filesystem state:
//! an [`Output`] of an op [`Node`] (or scratch) plus the process defaults
//! ([`StateMeta`]: env, working directory, user, platform, hostname,
//! network, security) that later ops inherit. Building on a state returns a
//! new one; nothing is mutated, nodes are shared through `Arc`, and a node's
//! identity comes from its content (luakit-llb digests it).
//!
//! - Sources start a graph: [`image`], [`local`], [`git`], [`http`],
//!   [`oci_layout`], and [`State::scratch`].
//! - [`State::run`] adds an exec op (the result is an [`ExecState`], whose
//!   writable mounts are states too); [`State::copy`], [`State::mkdir`],
//!   [`State::mkfile`], [`State::rm`] and [`State::symlink`] add file ops;
//!   [`merge`] and [`diff`] combine states.
//! - [`Op`] and the types of [`op`] are the nodes' payloads, close to
//!   BuildKit's protobuf messages but in plain Rust.
//!
//! # Invariants
//!
//! - No I/O, no protobuf, no Lua: luakit-llb turns a graph into LLB and
//!   luakit-lua builds graphs from scripts (a test of luakit-image-config
//!   fails if `mlua` or `prost` enters this crate's dependency tree).
//! - Path resolution (Go's `path.Clean`, relative paths against the state's
//!   working directory, trailing-slash rules), image reference
//!   normalisation and git URL parsing happen here, once, the way
//!   `client/llb` does them, so that every consumer sees the same graph.
//! - Invalid input is a [`GraphError`] that names what was wrong, never a
//!   panic.
//!
//! # Example
//!
//! ```
//! use luakit_graph::{image, ImageOptions, RunOptions, State};
//!
//! let base = image("alpine:3.19", ImageOptions::default())?.with_dir("/src");
//! let built = base.run(RunOptions { args: vec!["make".into()], ..Default::default() })?;
//! // The exec inherits the working directory; the base state is unchanged.
//! assert_eq!(built.root().meta().dir, "/src");
//! assert_ne!(built.root(), &base);
//! // References are normalised as Docker does.
//! assert_eq!(luakit_graph::normalize_image_ref("alpine:3.19")?, "docker.io/library/alpine:3.19");
//! // An exec needs a command: an error, not a panic.
//! assert!(State::scratch().run(RunOptions::default()).is_err());
//! # Ok::<(), luakit_graph::GraphError>(())
//! ```
//!
//! # Building in Rust
//!
//! [`builder`] writes graphs in Rust with typed builders (`Image`, `Run`,
//! `Copy`, `Mkdir`, mounts, [`Mode`]), as Go's `client/llb` does with
//! functional options.
#![deny(missing_docs)]

pub mod builder;
mod error;
pub mod op;
mod platform;
pub mod reference;
pub mod source;
pub mod state;

pub use builder::Mode;
pub use error::GraphError;
pub use op::*;
pub use platform::Platform;
pub use source::{
    GitOptions, GitProtocol, HttpOptions, ImageOptions, LocalOptions, ResolveMode, diff, git, http, image,
    is_implicit_ssh_transport, local, merge, normalize_image_ref, oci_layout, parse_git_protocol,
};
pub use state::{DEFAULT_PATH, Env, ExecState, Node, NodeSink, OpOptions, Output, RunOptions, State, StateMeta};

/// Whether [`reserve_thread_heap`] reserves anything (see
/// [`set_thread_heap_reservation`]).
static RESERVE_THREAD_HEAP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns [`reserve_thread_heap`] on (the default) or off. A program whose
/// global allocator is not glibc's `malloc` turns it off: the reservation
/// only helps glibc, and elsewhere it is work for nothing (with mimalloc,
/// each of its blocks is a large allocation, mapped and given back).
#[doc(hidden)]
pub fn set_thread_heap_reservation(on: bool) {
    RESERVE_THREAD_HEAP.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Makes the calling thread's heap large enough up front for a big graph.
///
/// glibc's malloc grows the heap of a thread other than the main one a few
/// pages at a time, with an `mprotect` call each time, and each call stops
/// the process's page faults on every thread for a moment: a thread that
/// builds or encodes a graph of tens of thousands of ops made thousands of
/// them. Allocating and freeing a few megabytes in blocks below malloc's
/// `mmap` threshold grows that heap once; the freed pages are never touched,
/// so they cost address space, not memory. Does nothing once turned off by
/// [`set_thread_heap_reservation`].
#[doc(hidden)]
pub fn reserve_thread_heap() {
    if !RESERVE_THREAD_HEAP.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    const BLOCK: usize = 96 * 1024;
    const BLOCKS: usize = 160;
    let blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|_| Vec::with_capacity(BLOCK)).collect();
    drop(std::hint::black_box(blocks));
}
