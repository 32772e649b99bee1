//! luakit-client: talking to BuildKit from outside, as `buildctl` does.
//!
//! [`control::solve_on_docker`] solves a Definition through BuildKit's
//! Control API on the BuildKit built into a Docker daemon (`luakit solve`),
//! reporting progress events as the build runs. The message types of
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

pub mod control;
pub mod session;

pub use control::{ControlError, Progress, solve_on_docker};
