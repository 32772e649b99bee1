//! Generates the LLB protobuf types from `proto/` with protox (no system protoc).

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const OPS_PROTO: &str = "github.com/moby/buildkit/solver/pb/ops.proto";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed={PROTO_ROOT}/{OPS_PROTO}");

    let files = protox::compile([OPS_PROTO], [PROTO_ROOT])?;

    let mut config = prost_build::Config::new();
    // Sorted maps: prost then writes map entries in key order, as Go's
    // deterministic marshalling does.
    config.btree_map(["."]);
    config.compile_fds(files)?;
    Ok(())
}
