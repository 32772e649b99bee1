//! Why a build, a test run or a Definition read failed: one enum over the
//! failures of the crates the pipeline runs, each kept as the typed source
//! (a script error keeps its file and line, a marshal error its op).

use std::path::PathBuf;

use luakit_image_config::ConfigError;
use luakit_llb::{DecodeError, MarshalError};
use luakit_lua::ScriptError;

/// A failure of [`crate::build`], [`crate::run_test_file`], the
/// [`crate::inspect`] reader or a [`crate::StaticResolver`].
///
/// The wrapped errors display as they do on their own (`build.lua:3:
/// bk.image: …`), so a caller may print `Display` as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The script could not be read or evaluated.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The graph could not be marshalled (for the daemon's caps).
    #[error(transparent)]
    Marshal(#[from] MarshalError),
    /// A graph built from Rust was refused (an image reference that does
    /// not parse, an empty command, …).
    #[error(transparent)]
    Graph(#[from] luakit_graph::GraphError),
    /// An image could not be resolved ([`crate::resolve_image`]).
    #[error("cannot resolve '{reference}' for {platform}: {source}")]
    Resolve {
        /// The normalized reference.
        reference: String,
        /// The platform it was resolved for.
        platform: String,
        /// What the resolver said.
        #[source]
        source: luakit_lua::ResolveError,
    },
    /// The image config could not be built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A Definition's op does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The build for one of several target platforms failed.
    #[error("for {platform}: {source}")]
    Platform {
        /// The platform (`linux/arm64`).
        platform: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Bytes that are not a protobuf `pb.Definition`.
    #[error("{} is not an LLB definition (a protobuf pb.Definition)", path.display())]
    NotADefinition {
        /// Where the bytes came from.
        path: PathBuf,
        /// The protobuf error.
        #[source]
        source: prost::DecodeError,
    },
    /// A resolved-images document that is not the expected JSON.
    #[error("invalid resolved images: {reason}")]
    Resolutions {
        /// What is wrong, naming the reference.
        reason: String,
        /// The JSON or config error, if one caused it.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}
