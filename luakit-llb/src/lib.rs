//! BuildKit LLB for luakit: the protobuf types of BuildKit's `solver/pb`
//! (`ops.proto`, generated at build time with protox + prost), and the
//! marshaller that turns a [`luakit_graph`] graph into a `pb::Definition`
//! exactly as BuildKit's Go client (`client/llb`) would.
//!
//! This is layer 1 of luakit (ARCHITECTURE.md in the repository): it
//! depends only on luakit-graph, and the `luakit` crate (the library face)
//! and luakit-client use it.
//!
//! # Design
//!
//! - [`marshal()`] walks a graph inputs-first with an explicit stack, encodes
//!   each node once, de-duplicates ops by digest, adds the terminal op, the
//!   caps each op needs and the source map (naming steps after their
//!   script line when [`MarshalOptions`] asks for it); [`marshal_full`]
//!   also returns the terminal digest, and [`encode`] writes the bytes.
//!   [`marshal_full`] and [`Pipeline`] give a [`Definition`]: the bytes,
//!   written as the ops are put in order (no `pb::Definition` is built on
//!   the way), with the message decoded from them when it is read.
//!   [`check()`] makes the same checks without producing anything.
//! - [`Pipeline`] does the same work while a script is still making the
//!   graph: fed each node as it is made (it is a
//!   [`luakit_graph::NodeSink`]), it encodes and hashes ops on a worker
//!   thread, and its `finish` gives the bytes [`marshal_full`] would.
//! - [`CapSet`] is what a daemon supports: given one, only caps it knows
//!   are recorded and features it lacks are refused ([`MarshalError`]).
//! - [`decode`] and [`inspect()`] read any Definition (luakit's or another
//!   frontend's) back into its ops in a deterministic order; [`describe`]
//!   says what an op does, for step names and `luakit dag`.
//! - [`pb`] holds the protobuf types; the five messages with maps are
//!   written by hand so that map entries encode exactly as Go's do.
//!
//! # Invariants
//!
//! For every graph, the bytes are what `client/llb` v0.11.6 would produce
//! (the conformance vectors under `fixtures/conformance` in the repository
//! check it); output is deterministic; an op's digest is the sha256 of its
//! encoding ([`Digest`]).
//!
//! # Example
//!
//! ```
//! use luakit_graph::{image, ImageOptions, Platform, RunOptions};
//! use luakit_llb::{encode, marshal, MarshalOptions, pb};
//!
//! let base = image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() })?;
//! let built = base.run(RunOptions {
//!     args: vec!["/bin/sh".into(), "-c".into(), "echo hi > /hi".into()],
//!     ..Default::default()
//! })?;
//! let def: pb::Definition = marshal(built.root(), &MarshalOptions::new(Platform::new("linux", "amd64", "")))?;
//! assert_eq!(def.def.len(), 3); // image, exec, terminal
//! let bytes = encode(&def); // what `buildctl build` reads on stdin
//! assert!(!bytes.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod caps;
mod definition;
pub mod describe;
pub mod digest;
pub mod inspect;
pub mod marshal;
mod naming;
pub mod no_cache;

pub use caps::CapSet;
pub use definition::Definition;
pub use digest::Digest;
pub use inspect::{DecodeError, DecodedOp, Inspection, TerminalOp, decode, inspect};
pub use marshal::{
    MarshalError, MarshalOptions, Marshalled, Pipeline, check, encode, marshal, marshal_full, pb_platform,
};
pub use no_cache::ignore_cache_all;
