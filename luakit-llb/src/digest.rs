//! Content digests of ops (`sha256:<hex>`), as BuildKit names them.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// A `sha256:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Wraps a digest string.
    pub fn from_string(s: String) -> Self {
        Digest(s)
    }

    /// The full text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first `n` hex digits, for display.
    pub fn short(&self, n: usize) -> &str {
        let hex = self.0.split_once(':').map_or(self.0.as_str(), |(_, h)| h);
        &hex[..n.min(hex.len())]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
