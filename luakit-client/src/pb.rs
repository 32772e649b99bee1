//! Generated Control API types (`control.proto`, built by `build.rs`),
//! nested the way the package name nests.

/// `moby.*`
pub mod moby {
    /// `moby.buildkit.*`
    pub mod buildkit {
        /// `moby.buildkit.v1`: the Control service (Solve, Status).
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.rs"));
        }
    }
}
