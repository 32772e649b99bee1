//! Generates the Control client, the client-session services and their message types from `proto/` with
//! protox (no system protoc). ops.proto is luakit-llb's (`proto/…/solver/pb/ops.proto` is a
//! symbolic link to it, which `cargo package` stores as a file) and its `pb` package is not generated again: `.pb` maps to
//! `::luakit_llb::pb`, and `.google.protobuf` to `::prost_types` (prost's default).

use std::error::Error;
use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "github.com/moby/buildkit/api/services/control/control.proto",
    // The services a client session serves to the daemon (module `session`).
    "github.com/moby/buildkit/session/filesync/filesync.proto",
    "github.com/moby/buildkit/session/secrets/secrets.proto",
    "github.com/moby/buildkit/session/sshforward/ssh.proto",
    "github.com/moby/buildkit/session/auth/auth.proto",
    // containerd's content service: the local cache directories.
    "github.com/containerd/containerd/api/services/content/v1/content.proto",
    "grpc/health/v1/health.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let own = manifest_dir.join("proto");
    println!("cargo:rerun-if-changed={}", own.display());

    let files = protox::compile(PROTOS, [&own])?;
    for file in &files.file {
        if let Some(name) = file.name.as_deref() {
            if !name.starts_with("google/protobuf/") {
                println!("cargo:rerun-if-changed={}", own.join(name).display());
            }
        }
    }

    tonic_prost_build::configure()
        .build_client(true)
        // Servers for the session services (the client serves them to the
        // daemon); clients too, which the session's tests use as the daemon.
        .build_server(true)
        // The client reaches the daemon through its own connector (a unix
        // socket upgraded to h2c), so it needs no `connect` on tonic's transport.
        .build_transport(false)
        .extern_path(".pb", "::luakit_llb::pb")
        .btree_map(".")
        .compile_fds(files)?;
    Ok(())
}
