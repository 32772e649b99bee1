//! luakit-client: talking to BuildKit from outside, as `buildctl` does.
//!
//! [`addr`] finds BuildKit (`--addr`, `BUILDKIT_HOST`, buildkitd's socket,
//! a Docker daemon) and opens a gRPC channel to it; [`control::solve`]
//! sends `Control.Solve` (with a Definition, or with a gateway build running
//! alongside on the same connection) and follows its progress, which
//! [`progress`] shows as buildctl does (`luakit solve`). The message types of
//! BuildKit's `api/services/control/control.proto` are generated at build
//! time (module [`pb`]); LLB types (`pb.*`) come from [`luakit_llb::pb`].
//!
//! [`session`] runs the client session a solve names: the services the
//! daemon calls back for locals, secrets, SSH agents and registry
//! credentials.
//!
//! [`build`] is the whole of `luakit solve` as a library: a [`Build`]
//! (a script, built by luakit-frontend's gateway build running on the
//! client, or a Definition) with its outputs, locals, secrets and cache
//! options, solved with progress to a callback; [`docker::load`] puts a
//! `docker` tarball into a Docker daemon.
//!
//! This crate is the client side of BuildKit; the gateway side (a frontend
//! that BuildKit runs) is luakit-frontend, which [`build`] runs in-process
//! for scripts. This crate evaluates no scripts itself.
//!
//! Invariants: no Lua and no build logic of its own; a failed solve is an `Err` with
//! BuildKit's status as its source; progress is best effort and never fails
//! a build.
#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod addr;
pub mod build;
pub mod control;
pub mod docker;
pub mod progress;
pub mod session;

pub use addr::{Address, AddressError};
pub use build::{Build, BuildError, Built, Dest, Output};
pub use control::{ControlError, Gateway, SolveRequest, new_ref, solve};
