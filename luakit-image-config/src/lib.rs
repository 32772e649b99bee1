//! luakit-image-config: the OCI image config of an exported luakit build.
//!
//! [`ImageConfig`] is the image config JSON that BuildKit's image exporter
//! takes as the `containerimage.config` attribute (and that `docker inspect`
//! shows), with the OCI/Docker key names. [`build_config`] computes it for a
//! `bk.export(state, opts)` call the way a Dockerfile would: it starts from
//! the base image's config (`FROM`), takes the exported state's env, working
//! directory and user, then applies the [`ExportOptions`] as `ENV`,
//! `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`,
//! `HEALTHCHECK`, `ENTRYPOINT` and `CMD` would.
//!
//! Invariants:
//! - no I/O, no Lua, no protobuf: this crate depends on serde and the pure
//!   luakit-graph (for [`DEFAULT_PATH`], kept once there); a test checks
//!   that neither `mlua` nor `prost` is in its dependency tree;
//! - serialization is deterministic: every map is a `BTreeMap`, and fields
//!   this crate does not model are kept in `extra` maps so that a base
//!   image's config survives a parse → serialize round trip;
//! - no clock: `created` is never invented (BuildKit's exporter fills it in
//!   from the layers it adds).
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
