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
//! This crate is the client side of BuildKit; the gateway side (a frontend
//! that BuildKit runs) is luakit-frontend. Neither evaluates scripts: a
//! Definition comes from `luakit::build`.
//!
//! Invariants: no Lua and no build logic; a failed solve is an `Err` with
//! BuildKit's status as its source; progress is best effort and never fails
//! a build.
#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod addr;
pub mod cache;
pub mod control;
pub mod progress;
pub mod session;
pub mod tls;

pub use addr::{Address, AddressError};
pub use control::{ControlError, Gateway, SolveRequest, new_ref, solve};
