//! luakit-client: talking to BuildKit from outside, as `buildctl` does.
//!
//! This is layer 5 of luakit (ARCHITECTURE.md in the repository): it
//! depends on luakit-llb (for the LLB types), on luakit and on
//! luakit-frontend, whose gateway build it runs in-process for scripts, and
//! the `luakit solve` command uses it. It is the client side of BuildKit;
//! the gateway side (a frontend that BuildKit runs) is luakit-frontend.
//! This crate evaluates no scripts itself.
//!
//! # Design
//!
//! - [`build`] is the whole of `luakit solve` as a library: a [`Build`]
//!   (a script, built by luakit-frontend's gateway build running on the
//!   client, or a Definition) with its outputs, locals, secrets and cache
//!   options, solved with progress to a callback; [`docker::load`] puts a
//!   `docker` tarball into a Docker daemon.
//! - [`addr`] finds BuildKit ([`Address`]: `--addr`, `BUILDKIT_HOST`,
//!   buildkitd's socket, a Docker daemon, a buildkitd in a container) and
//!   opens a gRPC channel to it.
//! - [`control::solve`] sends `Control.Solve` ([`SolveRequest`]: with a
//!   Definition, or with a gateway build running alongside on the same
//!   connection, [`Gateway`]) and follows its progress, which [`progress`]
//!   shows as buildctl does.
//! - [`session`] runs the client session a solve names: the services the
//!   daemon calls back for locals (file sync), secrets, SSH agents and
//!   registry credentials.
//!
//! The message types of BuildKit's `api/services/control/control.proto`
//! and of the session services are generated at build time (module [`pb`]);
//! LLB types (`pb.*`) come from [`luakit_llb::pb`].
//!
//! # Invariants
//!
//! No Lua and no build logic of its own; a failed solve is an `Err` with BuildKit's
//! status as its source ([`ControlError`]); progress is best effort and
//! never fails a build; the session serves only the locals, secrets and
//! agents it was given.
//!
//! # Example
//!
//! ```
//! use std::path::PathBuf;
//! use luakit_client::Address;
//! use luakit_client::session::{parse_secret, SecretSource};
//!
//! // The forms `--addr` and `BUILDKIT_HOST` take, as buildctl reads them.
//! assert_eq!(Address::parse("unix:///run/buildkit/buildkitd.sock")?, Address::Unix(PathBuf::from("/run/buildkit/buildkitd.sock")));
//! assert_eq!(Address::parse("tcp://127.0.0.1:1234")?, Address::Tcp("127.0.0.1:1234".into()));
//! assert_eq!(Address::parse("docker-container://bk")?, Address::DockerContainer("bk".into()));
//! // A Docker daemon's built-in BuildKit (exports with its `moby` exporter).
//! assert!(Address::parse("docker://tcp://127.0.0.1:2375")?.is_docker());
//! assert!(Address::parse("http://example").is_err());
//!
//! // `--secret`, as buildctl takes it.
//! let (id, source) = parse_secret("id=npmrc,src=/home/me/.npmrc")?;
//! assert_eq!((id.as_str(), source), ("npmrc", SecretSource::File("/home/me/.npmrc".into())));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod addr;
pub mod build;
pub mod cache;
pub mod control;
pub mod docker;
pub mod progress;
pub mod session;
pub mod tls;

pub use addr::{Address, AddressError};
pub use build::{Build, BuildError, Built, Dest, Output};
pub use control::{ControlError, Gateway, SolveRequest, new_ref, solve};
