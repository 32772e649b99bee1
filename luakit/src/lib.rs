//! luakit as a library: Lua build scripts to BuildKit LLB and OCI image
//! configs, through one pipeline that every front door uses.
//!
//! This is layer 3 of luakit (ARCHITECTURE.md in the repository), the
//! library face: the CLI, the gateway frontend, the registry resolver and
//! embedders depend on it rather than on the plumbing below it.
//!
//! This crate is the porcelain over luakit's plumbing crates (as gitoxide's
//! `gix` is over its `gix-*` crates): luakit-graph (the pure build graph),
//! luakit-image-config (the OCI image config), luakit-llb (BuildKit's wire
//! format: marshal, decode, caps) and luakit-lua (the sandboxed `bk` API).
//! They are re-exported as [`graph`], [`image_config`], [`llb`] and [`lua`],
//! and the types a front door needs are re-exported at the top.
//!
//! - [`build`] runs a [`Script`] with [`BuildOptions`]: evaluate → marshal
//!   (naming steps while marshalling, when asked) → image config, each once.
//!   The `luakit` CLI (`build`, `dag`, `validate`), the gateway frontend and
//!   the conformance tests all call it, so the same script, options and
//!   resolved images give the same Definition and config on every route.
//! - [`ImageResolver`] is the one seam through which image references are
//!   resolved: the gateway, a daemon, a registry or a lock file implement
//!   it; [`Unresolved`] and [`StaticResolver`] come with this crate.
//! - [`inspect`] reads any Definition and renders it (text, JSON, DOT), as
//!   `luakit dag` shows it; [`lock`] reads and writes `luakit.lock`
//!   (pinned image digests and configs) and resolves from it.
//!
//! Invariants: one pipeline (no other function evaluates and then
//! marshals); the same script, options and resolved images give the same
//! bytes on every route; every failure is an [`Error`] that says which
//! step failed and why, with the script's file and line when it has one.
//!
//! ```
//! use std::sync::Arc;
//! use luakit::{BuildOptions, Platform, Script, Unresolved};
//!
//! let script = Script::new("build.lua", r#"
//!     local st = bk.image("alpine:3.19"):run("echo hi > /hi")
//!     bk.export(st, { cmd = { "cat", "/hi" } })
//! "#);
//! let mut opts = BuildOptions::default();
//! opts.eval.target_platform = Platform::new("linux", "amd64", "");
//! let build = luakit::build(&script, &opts, Arc::new(Unresolved))?;
//! assert_eq!(build.definition.def.len(), 3); // image, exec, terminal
//! assert_eq!(build.image_config.config.cmd, ["cat", "/hi"]);
//! # Ok::<(), luakit::Error>(())
//! ```
//!
//! Builds can also be written in Rust, no Lua involved: [`builder`] has
//! the graph builders (`Image`, `Run`, `Copy`, mounts, `Mode`), [`Export`]
//! turns a state into the same [`Build`] a script gives, and
//! [`inspect::snapshot`] renders a Definition for snapshot tests
//! (docs/library.md).
#![deny(missing_docs)]

mod build;
mod error;
mod export;
pub mod inspect;
pub mod lock;
mod multi;
mod resolve;
mod teardown;

/// The Rust examples of docs/library.md, run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/library.md")]
mod library_md {}

pub use luakit_graph as graph;
pub use luakit_graph::builder;
pub use luakit_image_config as image_config;
pub use luakit_llb as llb;
pub use luakit_lua as lua;

pub use build::{Build, BuildOptions, Script, Validated, build, run_test_file, validate};
pub use error::Error;
pub use export::{Export, Port, Protocol, ResolvedBase, resolve_image};
pub use lock::{Lock, LockError, LockResolver};
pub use multi::{build_platforms, parse_platforms, validate_platforms};
pub use resolve::{StaticResolver, Unresolved};

pub use luakit_graph::{Platform, ResolveMode};
pub use luakit_image_config::{
    CONFIG_METADATA_KEY, ConfigError, DIGEST_RESPONSE_KEY, ExportOptions, ImageConfig, config_metadata,
};
pub use luakit_llb::{CapSet, DecodeError, Digest, MarshalError, pb};
pub use luakit_lua::{
    EvalOptions, FsLoader, ImageResolver, ModuleLoader, NoModules, ResolveError, ResolvedImage, ScriptError, TestReport,
};
