//! BuildKit gateway frontend for luakit: `luakit frontend` runs [`run`], which
//! speaks the `LLBBridge` gRPC protocol over the process's stdin/stdout (the
//! way BuildKit starts a frontend image), evaluates the build script from the
//! `dockerfile` local, solves the Definition and returns it with the image
//! config. [`control::solve_on_docker`] solves a Definition through BuildKit's
//! Control API on a Docker daemon (the `buildctl build` path). Message types
//! of BuildKit's `frontend/gateway/pb/gateway.proto` and
//! `api/services/control/control.proto` are generated at build time; LLB types (`pb.*`) come from [`luakit_llb::pb`].

#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
pub mod pb;

pub mod control;
mod error;
mod gateway;
mod opts;
mod stdio;

pub use error::FrontendError;
pub use gateway::{CONFIG_METADATA_KEY, image_config_metadata, llb_caps, name_ops, run, run_with_opts};
pub use opts::BuildOpts;
