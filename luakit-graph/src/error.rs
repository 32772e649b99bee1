//! Errors of graph construction.

/// Why a graph could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A platform string that does not parse.
    #[error("invalid platform '{platform}': {reason}")]
    InvalidPlatform {
        /// The text given.
        platform: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An image reference that does not parse.
    #[error("{reason}")]
    InvalidImageRef {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A git URL that does not parse.
    #[error("invalid git URL '{url}': {reason}")]
    InvalidGitUrl {
        /// The text given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An HTTP source URL without `http://` or `https://`.
    #[error("invalid URL '{url}': must start with http:// or https://")]
    InvalidHttpUrl {
        /// The text given.
        url: String,
    },
    /// A name that must not be empty.
    #[error("{what} name must not be empty")]
    EmptyName {
        /// What was being named.
        what: &'static str,
    },
    /// An exec without arguments.
    #[error("command must not be empty")]
    EmptyArgs,
    /// A mount at `/`.
    #[error("a mount cannot replace the root filesystem '/'")]
    MountOverRoot,
    /// Two mounts at the same path.
    #[error("two mounts at '{dest}'")]
    DuplicateMount {
        /// The path.
        dest: String,
    },
    /// An output asked of a mount that has none.
    #[error("'{dest}' is not a writable mount of this run (writable mounts: {})", if writable.is_empty() { "none".to_string() } else { writable.join(", ") })]
    NoSuchMountOutput {
        /// The path asked for.
        dest: String,
        /// The writable mounts there are.
        writable: Vec<String>,
    },
    /// A mount output asked of something that is not an exec.
    #[error("not the result of a run")]
    NotAnExec,
    /// Metadata set on scratch.
    #[error("scratch has no operation to attach metadata to")]
    ScratchHasNoOp,
    /// A merge of fewer than two states.
    #[error("needs at least two states, got {given}")]
    MergeTooFew {
        /// How many were given.
        given: usize,
    },
}
