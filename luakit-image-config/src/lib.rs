//! luakit-image-config: the OCI image config of an exported luakit build.
//!
//! This is layer 1 of luakit (ARCHITECTURE.md in the repository), beside
//! luakit-llb: it depends only on serde and luakit-graph, and luakit-lua
//! (which validates `bk.export` options at the script's line) and luakit
//! (which builds the config once per build) sit above it.
//!
//! # Design
//!
//! [`ImageConfig`] is the image config JSON that BuildKit's image exporter
//! takes as the `containerimage.config` attribute (and that `docker inspect`
//! shows), with the OCI/Docker key names. [`build_config`] computes it for a
//! `bk.export(state, opts)` call the way a Dockerfile would: it starts from
//! the base image's config (`FROM`), takes the exported state's env, working
//! directory and user ([`StateDefaults`]), then applies the [`ExportOptions`]
//! as `ENV`, `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`,
//! `HEALTHCHECK`, `ENTRYPOINT` and `CMD` would. [`ExportOptions::validate`]
//! runs the same checks without building anything, so a mistake can be
//! reported where it was made. [`config_metadata`] and the two key
//! constants are how the config travels to BuildKit's exporter.
//!
//! # Invariants
//!
//! - no I/O, no Lua, no protobuf: this crate depends on serde and the pure
//!   luakit-graph (for [`DEFAULT_PATH`], kept once there); a test checks
//!   that neither `mlua` nor `prost` is in its dependency tree;
//! - options that pass [`ExportOptions::validate`] never fail
//!   [`build_config`]; every error is a [`ConfigError`] naming the option
//!   and what was wrong with it;
//! - serialization is deterministic: every map is a `BTreeMap`, and fields
//!   this crate does not model are kept in `extra` maps so that a base
//!   image's config survives a parse → serialize round trip;
//! - no clock: `created` is never invented (BuildKit's exporter fills it in
//!   from the layers it adds).
//!
//! # Example
//!
//! ```
//! use luakit_image_config::{build_config, ExportOptions, ImageConfig, StateDefaults};
//!
//! // The base image's config, as a registry serves it.
//! let base: ImageConfig = serde_json::from_str(
//!     r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]}}"#,
//! )?;
//! let state = StateDefaults { env: vec!["PATH=/bin".into()], workdir: "/app".into(), user: String::new() };
//! let opts = ExportOptions {
//!     entrypoint: Some(vec!["/app/server".into()]),
//!     expose: vec!["8080".into()],
//!     ..Default::default()
//! };
//! opts.validate(("linux", "amd64", ""))?;
//! let config = build_config(Some(&base), &state, ("linux", "amd64", ""), &opts)?;
//! assert_eq!(config.config.entrypoint, ["/app/server"]);
//! // A new ENTRYPOINT without CMD clears the inherited CMD, as in Docker.
//! assert!(config.config.cmd.is_empty());
//! assert_eq!(config.config.working_dir, "/app");
//! assert!(config.config.exposed_ports.contains("8080/tcp"));
//!
//! // A port that is no port is an error that says why.
//! let bad = ExportOptions { expose: vec!["http".into()], ..Default::default() };
//! assert!(bad.validate(("linux", "amd64", "")).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod config;
mod error;
mod export;
mod exporter;

pub use config::{ContainerConfig, HealthcheckConfig, History, ImageConfig, RootFs};
pub use error::ConfigError;
pub use export::{
    DEFAULT_PATH, ExportOptions, HISTORY_COMMENT, Healthcheck, StateDefaults, build_config, expand_port_spec,
    parse_duration,
};
pub use exporter::{CONFIG_METADATA_KEY, DIGEST_RESPONSE_KEY, config_metadata};
