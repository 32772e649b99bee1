//! Generates the Control client and its message types from `proto/` with
//! protox (no system protoc). ops.proto is read from luakit-llb's proto
//! directory and its `pb` package is not generated again: `.pb` maps to
//! `::luakit_llb::pb`, and `.google.protobuf` to `::prost_types` (prost's default).

use std::error::Error;
use std::path::PathBuf;

const CONTROL_PROTO: &str = "github.com/moby/buildkit/api/services/control/control.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let own = manifest_dir.join("proto");
    let llb = manifest_dir.join("../luakit-llb/proto");
    println!("cargo:rerun-if-changed={}", own.display());
    println!("cargo:rerun-if-changed={}", llb.display());

    let files = protox::compile([CONTROL_PROTO], [&own, &llb])?;
    for file in &files.file {
        if let Some(name) = file.name.as_deref() {
            let path = if name.starts_with("google/protobuf/") {
                continue;
            } else if own.join(name).exists() {
                own.join(name)
            } else {
                llb.join(name)
            };
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        // The client reaches the daemon through its own connector (a unix
        // socket upgraded to h2c), so it needs no `connect` on tonic's transport.
        .build_transport(false)
        .extern_path(".pb", "::luakit_llb::pb")
        .btree_map(".")
        .compile_fds(files)?;
    Ok(())
}
