//! luakit-graph: the pure model of a BuildKit build graph.
//!
//! A [`State`] is an immutable, cheaply cloned handle on a filesystem state:
//! an output of an op [`Node`] (or scratch) plus the process defaults (env,
//! working directory, user, platform) later ops inherit. Building on a state
//! returns a new one; nothing is mutated and identity comes from content.
//!
//! [`builder`] writes graphs in Rust with typed builders (`Image`, `Run`,
//! `Copy`, `Mkdir`, mounts, [`Mode`]), as Go's `client/llb` does with
//! functional options.
//!
//! This crate does no I/O and knows nothing of protobuf or Lua: luakit-llb
//! turns a graph into LLB, luakit-lua builds graphs from scripts.
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
pub use state::{DEFAULT_PATH, Env, ExecState, Node, OpOptions, Output, RunOptions, State, StateMeta};
