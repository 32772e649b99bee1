//! Content digests of ops (`sha256:<hex>`), as BuildKit names them.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

/// A content digest in BuildKit's form, `sha256:` and 64 lower-case hex
/// digits: how an op is named in a Definition and its inputs.
///
/// Shared text: the marshaller keeps each op's digest in several tables
/// (memo, de-duplication, source map), and a clone costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(Arc<str>);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let sum = Sha256::digest(bytes);
        let mut s = [0u8; 7 + 64];
        s[..7].copy_from_slice(b"sha256:");
        for (i, b) in sum.into_iter().enumerate() {
            s[7 + 2 * i] = HEX[usize::from(b >> 4)];
            s[8 + 2 * i] = HEX[usize::from(b & 15)];
        }
        // Only ASCII was written.
        Digest(Arc::from(std::str::from_utf8(&s).unwrap_or_default()))
    }

    /// Wraps a digest string.
    pub fn from_string(s: String) -> Self {
        Digest(Arc::from(s))
    }

    /// The full text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first `n` hex digits, for display.
    pub fn short(&self, n: usize) -> &str {
        let hex = self.0.split_once(':').map_or(&*self.0, |(_, h)| h);
        &hex[..n.min(hex.len())]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(Digest::of(b"").as_str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(Digest::of(b"abc").short(12), "ba7816bf8f01");
    }
}
