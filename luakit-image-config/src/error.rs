//! Why an image config could not be parsed or built.

/// An error of [`crate::ImageConfig::from_json`] or [`crate::build_config`].
///
/// Messages name the offending value and say what is wrong with it; callers
/// (the Lua adapter, the CLI) add where it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The bytes are not an image config JSON document.
    #[error("invalid image config JSON: {source}")]
    InvalidJson {
        /// The parser's error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// An environment variable name that is empty or contains `=` or NUL.
    #[error("invalid environment variable name '{key}': {reason}")]
    InvalidEnvKey {
        /// The name given.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An environment variable value containing a NUL byte.
    #[error("invalid value for environment variable '{key}': must not contain a NUL byte")]
    InvalidEnvValue {
        /// The variable's name.
        key: String,
    },
    /// An `expose` entry that is not `port[-port][/tcp|udp|sctp]`.
    #[error("invalid port '{port}' in expose: {reason}")]
    InvalidPort {
        /// The entry given.
        port: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An empty volume path.
    #[error("volume path must not be empty")]
    EmptyVolume,
    /// An empty label name.
    #[error("label name must not be empty")]
    EmptyLabelKey,
    /// An empty working directory.
    #[error("workdir must not be empty")]
    EmptyWorkdir,
    /// A stop signal that is neither a signal name nor a signal number.
    #[error("invalid stop signal '{signal}': expected a signal name such as \"SIGTERM\" or a number from 1 to 255")]
    InvalidStopSignal {
        /// The signal given.
        signal: String,
    },
    /// A healthcheck whose test or options do not make sense.
    #[error("invalid healthcheck: {reason}")]
    InvalidHealthcheck {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A healthcheck duration that is too short or too long.
    #[error("invalid healthcheck {field}: {reason}")]
    InvalidDuration {
        /// `interval`, `timeout`, `start_period` or `start_interval`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Text that is not a Go-style duration (`30s`, `1m30s`, `500ms`).
    #[error("invalid duration '{text}': expected a number with a unit, such as \"30s\", \"1m30s\" or \"500ms\"")]
    InvalidDurationText {
        /// The text given.
        text: String,
    },
    /// An empty `os` or `arch` for the config's platform.
    #[error("image platform {field} must not be empty")]
    EmptyPlatform {
        /// `os` or `arch`.
        field: &'static str,
    },
}
