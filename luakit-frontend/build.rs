//! Generates the gateway (LLBBridge) client and server and their message types from `proto/`
//! with protox (no system protoc). ops.proto is luakit-llb's (`proto/…/solver/pb/ops.proto` is a
//! symbolic link to it, which `cargo package` stores as a file) and its `pb` package is not generated again: `.pb` maps to
//! `::luakit::pb` (luakit-llb's, re-exported), and `.google.protobuf` to `::prost_types` (prost's default).

use std::error::Error;
use std::path::PathBuf;

const GATEWAY_PROTO: &str = "github.com/moby/buildkit/frontend/gateway/pb/gateway.proto";

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let own = manifest_dir.join("proto");
    println!("cargo:rerun-if-changed={}", own.display());

    let files = protox::compile([GATEWAY_PROTO], [&own])?;
    for file in &files.file {
        if let Some(name) = file.name.as_deref() {
            if !name.starts_with("google/protobuf/") {
                println!("cargo:rerun-if-changed={}", own.join(name).display());
            }
        }
    }

    tonic_prost_build::configure()
        .build_client(true)
        // The server side serves LLBBridge in process (tests answer a
        // frontend's calls with it).
        .build_server(true)
        // A server answers only the calls it implements; the rest are
        // `Unimplemented`, as with a BuildKit that lacks the cap.
        .generate_default_stubs(true)
        // The frontend talks gRPC over its stdin/stdout through its own connector,
        // so the generated client needs no `connect` on tonic's transport.
        .build_transport(false)
        .extern_path(".pb", "::luakit::pb")
        .btree_map(".")
        .compile_fds(files)?;
    Ok(())
}
