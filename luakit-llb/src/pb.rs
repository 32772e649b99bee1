// The `pb` package of BuildKit's ops.proto. build.rs generates it, except the
// five messages with map fields: those are written by hand in `go_maps` so that
// their map entries are encoded exactly as Go encodes them.
include!(concat!(env!("OUT_DIR"), "/pb.rs"));

pub(crate) mod go_maps;

pub use go_maps::{BuildOp, Definition, OpMetadata, Source, SourceOp};
