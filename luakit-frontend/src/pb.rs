// Generated gateway types, one module per proto package, nested the way the
// package names nest so that the generated `super::` paths resolve.

/// `moby.*`
pub mod moby {
    /// `moby.buildkit.*`
    pub mod buildkit {
        /// `moby.buildkit.v1.*` (the Control service itself is luakit-client's)
        pub mod v1 {
            /// `moby.buildkit.v1.frontend`: LLBBridge and its messages.
            pub mod frontend {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.frontend.rs"));
            }
            /// `moby.buildkit.v1.types`: worker records.
            pub mod types {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.types.rs"));
            }
            /// `moby.buildkit.v1.apicaps`: capability records.
            pub mod apicaps {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.apicaps.rs"));
            }
            /// `moby.buildkit.v1.sourcepolicy`: source policies.
            pub mod sourcepolicy {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/moby.buildkit.v1.sourcepolicy.rs"
                ));
            }
        }
    }
}

/// `fsutil.*`
pub mod fsutil {
    /// `fsutil.types`: file stat records.
    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/fsutil.types.rs"));
    }
}

/// `google.*`
pub mod google {
    /// `google.rpc`: the gRPC error status.
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}
