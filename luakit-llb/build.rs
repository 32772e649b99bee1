//! Generates the LLB protobuf types from `proto/` with protox (no system protoc).

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const OPS_PROTO: &str = "github.com/moby/buildkit/solver/pb/ops.proto";
const HAND_WRITTEN: [&str; 5] = ["SourceOp", "BuildOp", "OpMetadata", "Source", "Definition"];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed={PROTO_ROOT}/{OPS_PROTO}");

    let files = protox::compile([OPS_PROTO], [PROTO_ROOT])?;

    let mut config = prost_build::Config::new();
    // Sorted maps: map entries are written in key order, as Go's deterministic
    // marshalling does.
    config.btree_map(["."]);
    // The messages with map fields are written by hand (src/pb/go_maps.rs):
    // prost drops default keys and values from map entries, Go never does.
    for message in HAND_WRITTEN {
        config.extern_path(format!(".pb.{message}"), format!("crate::pb::{message}"));
    }
    config.compile_fds(files)?;
    Ok(())
}
