//! BuildKit gateway frontend for luakit.
//!
//! This is layer 4 of luakit (ARCHITECTURE.md in the repository): it
//! depends on the `luakit` crate only (LLB types come from `luakit::pb`),
//! and the `luakit frontend` and `luakit solve` commands call it. It is the
//! gateway side of BuildKit: code that BuildKit runs (or that a client runs
//! on BuildKit's behalf) to turn a build request into a Definition.
//! Talking to BuildKit from outside (the Control API) is luakit-client's.
//!
//! # Design
//!
//! `luakit frontend` runs [`run`], which speaks the `LLBBridge` gRPC
//! protocol over the process's stdin/stdout (the way BuildKit starts a
//! frontend image): it reads the options BuildKit passes in the environment
//! ([`BuildOpts`]), reads the script from the `dockerfile` local, builds it
//! with `luakit::build` (images resolved through the gateway), solves the
//! Definition and returns it with the image config. [`serve`] does the same
//! over any byte stream (an in-process bridge, a test). Both call
//! [`serve_channel`], the one gateway build, which `luakit solve` also runs
//! over its Control connection to BuildKit (calls tagged with the solve's
//! ref, [`BuildId`]), with the script read on the client
//! ([`ScriptInput::Given`]). [`llb_caps`] turns the daemon's `Ping` answer
//! into the [`luakit::CapSet`] the marshaller checks features against.
//!
//! The message types of BuildKit's `frontend/gateway/pb/gateway.proto` are
//! generated at build time into [`pb`], client and server side (the server
//! for in-process bridges and tests).
//!
//! # Invariants
//!
//! - build failures (script, marshal and solve errors) go back to BuildKit
//!   as the build's result, with the script's file and line; an `Err` of
//!   this crate ([`FrontendError`]) means the gateway itself could not be
//!   talked to;
//! - the frontend builds exactly what the CLI builds for the same script,
//!   options and resolved images (both go through `luakit::build`; a test
//!   of luakit-cli compares the two routes byte for byte).
//!
//! # Example
//!
//! ```
//! use luakit_frontend::BuildOpts;
//!
//! // What BuildKit puts in a frontend's environment for
//! // `docker buildx build --platform linux/arm64 -f app.lua --build-arg V=1 .`
//! let opts = BuildOpts::from_vars([
//!     ("BUILDKIT_FRONTEND_OPT_0".to_string(), "filename=app.lua".to_string()),
//!     ("BUILDKIT_FRONTEND_OPT_1".to_string(), "platform=linux/arm64".to_string()),
//!     ("BUILDKIT_FRONTEND_OPT_2".to_string(), "build-arg:V=1".to_string()),
//!     ("BUILDKIT_SESSION_ID".to_string(), "s1".to_string()),
//! ])?;
//! assert_eq!(opts.filename(), "app.lua");
//! assert_eq!(opts.target_platform()?.to_string(), "linux/arm64");
//! assert_eq!(opts.build_args()["V"], "1");
//! assert_eq!(opts.session_id, "s1");
//! # Ok::<(), luakit_frontend::FrontendError>(())
//! ```

#![deny(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

mod dockerignore;
mod error;
mod gateway;
mod lock;
mod multi;
mod opts;
mod stdio;

pub use error::FrontendError;
pub use gateway::{BUILD_ID_HEADER, BuildId, ScriptInput, Served, llb_caps, run, run_with_opts, serve, serve_channel};
pub use opts::BuildOpts;
