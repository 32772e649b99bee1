//! Why the frontend failed.

/// Failures of the gateway frontend. Script and marshal errors are not among
/// them: those are returned to BuildKit as the build's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontendError {
    /// An option from BuildKit could not be understood.
    #[error("invalid frontend option {key}: {message}")]
    Option {
        /// The option or environment variable.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The gRPC connection over stdin/stdout could not be set up.
    #[error("cannot connect to BuildKit over stdin/stdout")]
    Connect(#[source] tonic::transport::Error),
    /// A gateway call failed.
    #[error("gateway call {call} failed: {status}")]
    Call {
        /// The LLBBridge method.
        call: &'static str,
        /// The gRPC status.
        #[source]
        status: tonic::Status,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// Anything else that stopped the build before a result could be returned.
    #[error("{0}")]
    Other(String),
}
