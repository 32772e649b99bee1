//! Generated Control API and client-session types (`proto/`, built by
//! `build.rs`), nested the way the package names nest.

/// `moby.*`
pub mod moby {
    /// `moby.buildkit.*`
    pub mod buildkit {
        /// `moby.buildkit.v1`: the Control service (Solve, Status, Session).
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.rs"));
        }
        /// `moby.buildkit.secrets.v1`: the session's Secrets service.
        pub mod secrets {
            /// `moby.buildkit.secrets.v1`
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.secrets.v1.rs"));
            }
        }
    }
    /// `moby.filesync.v1`: the session's FileSync, FileSend and Auth services.
    pub mod filesync {
        /// `moby.filesync.v1`
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.filesync.v1.rs"));
        }
    }
    /// `moby.sshforward.v1`: the session's SSH agent forwarding.
    pub mod sshforward {
        /// `moby.sshforward.v1`
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.sshforward.v1.rs"));
        }
    }
}

/// `containerd.*`
pub mod containerd {
    /// `containerd.services`
    pub mod services {
        /// `containerd.services.content`
        pub mod content {
            /// `containerd.services.content.v1`: the content store a session
            /// serves for the local cache exporter and importer.
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/containerd.services.content.v1.rs"));
            }
        }
    }
}

/// `fsutil.*`
pub mod fsutil {
    /// `fsutil.types`: DiffCopy's packets and file stats.
    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/fsutil.types.rs"));
    }
}

/// `grpc.*`
pub mod grpc {
    /// `grpc.health`
    pub mod health {
        /// `grpc.health.v1`: the health check BuildKit polls on a session.
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
        }
    }
}
