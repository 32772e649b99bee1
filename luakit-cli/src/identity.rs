//! The default `local.unique` id of `bk.local_` sources: stable on one
//! machine for one script directory, different across machines and
//! directories, so two clients never share a sync and one machine always
//! produces the same bytes.

use std::path::Path;

/// blake3 of the machine's identity and the script's absolute directory, as
/// 32 hex digits.
pub fn default_local_unique_id(script: &Path) -> String {
    local_unique_id(&machine_identity(), &script_dir(script))
}

/// The pure part: `machine` and `dir` hashed with a separator.
pub fn local_unique_id(machine: &str, dir: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"luakit local.unique v1\0");
    h.update(machine.as_bytes());
    h.update(b"\0");
    h.update(dir.as_bytes());
    let hex = h.finalize().to_hex();
    hex[..32].to_string()
}

/// `/etc/machine-id` if readable and non-empty, else the host name, else
/// `unknown-host`.
fn machine_identity() -> String {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    read("/etc/machine-id")
        .or_else(|| read("/proc/sys/kernel/hostname"))
        .or_else(|| read("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// The script's directory, absolute (canonical when it exists).
fn script_dir(script: &Path) -> String {
    let abs = std::path::absolute(script).unwrap_or_else(|_| script.to_path_buf());
    let dir = abs.parent().map(Path::to_path_buf).unwrap_or(abs);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    dir.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_distinct() {
        let a = local_unique_id("m1", "/src/app");
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, local_unique_id("m1", "/src/app"));
        assert_ne!(a, local_unique_id("m2", "/src/app"));
        assert_ne!(a, local_unique_id("m1", "/src/other"));
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(local_unique_id("ab", "c"), local_unique_id("a", "bc"));
    }

    #[test]
    fn same_dir_same_id() {
        let a = default_local_unique_id(Path::new("fixtures/x/build.lua"));
        let b = default_local_unique_id(Path::new("fixtures/x/other.lua"));
        assert_eq!(a, b);
    }
}
