//! BuildKit LLB for luakit: the protobuf types of BuildKit's `solver/pb`
//! (`ops.proto`, generated at build time with protox + prost), and the
//! marshaller that turns a [`luakit_graph`] graph into a `pb::Definition`
//! exactly as BuildKit's Go client (`client/llb`) would.
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
pub mod describe;
pub mod digest;
pub mod inspect;
pub mod marshal;
mod naming;
pub mod no_cache;

pub use caps::CapSet;
pub use digest::Digest;
pub use inspect::{DecodeError, DecodedOp, Inspection, TerminalOp, decode, inspect};
pub use marshal::{MarshalError, MarshalOptions, Marshalled, encode, marshal, marshal_full, pb_platform};
pub use no_cache::ignore_cache_all;
