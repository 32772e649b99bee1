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
    /// Nothing that speaks BuildKit's gateway protocol answered on
    /// stdin/stdout: the peer is silent, sends something else, or is gone.
    #[error(
        "no BuildKit gateway on stdin/stdout: {reason} (luakit frontend is started by BuildKit from the frontend image; see luakit frontend --help)"
    )]
    Handshake {
        /// What happened.
        reason: String,
    },
    /// A gateway call failed.
    #[error("gateway call {call} failed: {}", status_text(status))]
    Call {
        /// The LLBBridge method.
        call: &'static str,
        /// The gRPC status (its message is shown; its transport-level source,
        /// a debug dump of library internals, is not).
        status: tonic::Status,
    },
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// Anything else that stopped the build before a result could be returned.
    #[error("{0}")]
    Other(String),
}

/// A gRPC status as one readable line: its message, or its code's
/// description when it has none.
pub(crate) fn status_text(status: &tonic::Status) -> String {
    let message = status.message().trim();
    if message.is_empty() { status.code().description().to_string() } else { message.to_string() }
}

/// A status that failed below gRPC (the connection), with the innermost
/// cause of its source chain, which says what happened ("connection closed
/// before message completed", "frame with invalid size"…) where the status
/// only says "transport error".
pub(crate) fn status_cause(status: &tonic::Status) -> String {
    let mut text = status_text(status);
    let mut source = std::error::Error::source(status);
    let mut innermost = None;
    while let Some(e) = source {
        innermost = Some(e.to_string());
        source = e.source();
    }
    if let Some(cause) = innermost.filter(|c| !text.contains(c.as_str())) {
        text = format!("{text}: {cause}");
    }
    text
}
