//! BuildKit gateway frontend for luakit: `luakit frontend` runs [`run`], which
//! speaks the `LLBBridge` gRPC protocol over the process's stdin/stdout (the
//! way BuildKit starts a frontend image), builds the script from the
//! `dockerfile` local with `luakit::build`, solves the Definition and returns
//! it with the image config. [`serve`] does the same over any byte stream
//! (an in-process bridge, a test). Both call [`serve_channel`], the one
//! gateway build, which `luakit solve` also runs over its Control
//! connection to BuildKit (calls tagged with the solve's ref, [`BuildId`]),
//! with the script read on the client ([`ScriptInput::Given`]). Message types of BuildKit's
//! `frontend/gateway/pb/gateway.proto` are generated at build time, client
//! and server side (the server for in-process bridges and tests); LLB types
//! (`pb.*`) come from `luakit::pb`. Talking to BuildKit from outside (the
//! Control API) is luakit-client's.

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

pub use dockerignore::read_all as read_dockerignore;
pub use error::FrontendError;
pub use gateway::{BUILD_ID_HEADER, BuildId, ScriptInput, Served, llb_caps, run, run_with_opts, serve, serve_channel};
pub use opts::BuildOpts;
