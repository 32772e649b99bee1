//! Platforms (`os/arch[/variant]`) as BuildKit and the OCI image spec name them.

use std::fmt;

use crate::GraphError;

/// A target platform: operating system, CPU architecture and optional variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in GOARCH spelling, e.g. `amd64`, `arm64`.
    pub arch: String,
    /// Architecture variant, e.g. `v7`; empty when none.
    pub variant: String,
    /// OS version (Windows only); empty when none.
    pub os_version: String,
    /// OS features (Windows only).
    pub os_features: Vec<String>,
}

impl Platform {
    /// A platform from its parts; `variant` may be empty.
    pub fn new(os: impl Into<String>, arch: impl Into<String>, variant: impl Into<String>) -> Self {
        Platform {
            os: os.into(),
            arch: arch.into(),
            variant: variant.into(),
            os_version: String::new(),
            os_features: Vec::new(),
        }
    }

    /// `linux/<arch of this machine>`, the default target platform (and the
    /// platform of the frontend image): the one table from Rust's
    /// architecture names to GOARCH's.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform::new("linux", arch, variant)
    }

    /// Parses `os/arch[/variant]` (as `--platform` and `bk.image{platform=…}` take it).
    ///
    /// The parts are kept as written (after lower-casing and the usual
    /// aliases such as `x86_64` → `amd64`); [`Platform::normalized`] gives the
    /// canonical form used for state platforms.
    pub fn parse(s: &str) -> Result<Self, GraphError> {
        let bad = |why: &str| GraphError::InvalidPlatform { platform: s.to_string(), reason: why.to_string() };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("expected os/arch or os/arch/variant"));
        }
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, ""),
            [os, arch, variant] => (*os, *arch, *variant),
            _ => return Err(bad("expected os/arch or os/arch/variant")),
        };
        for part in [os, arch, variant] {
            if !part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
                return Err(bad("only letters, digits, '_', '-' and '.' are allowed"));
            }
        }
        let os = os.to_ascii_lowercase();
        if !KNOWN_OS.contains(&os.as_str()) {
            return Err(bad(&format!("unknown operating system '{os}'")));
        }
        let (arch, variant) = normalize_arch(&arch.to_ascii_lowercase(), &variant.to_ascii_lowercase());
        if !KNOWN_ARCH.contains(&arch.as_str()) {
            return Err(bad(&format!("unknown architecture '{arch}'")));
        }
        Ok(Platform::new(os, arch, variant))
    }

    /// The canonical form (containerd's `platforms.Normalize`): default
    /// variants dropped (`arm64/v8` → `arm64`), aliases resolved.
    pub fn normalized(&self) -> Self {
        let (arch, mut variant) = normalize_arch(&self.arch, &self.variant);
        if arch == "arm64" && variant == "v8" {
            variant.clear();
        }
        Platform {
            os: self.os.clone(),
            arch,
            variant,
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
        }
    }
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];

const KNOWN_ARCH: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64",
    "s390x", "wasm",
];

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v) = match (arch, variant) {
        ("i386", v) => ("386", v),
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64", "8") => ("arm64", "v8"),
        ("aarch64", v) => ("arm64", v),
        ("armhf", "") => ("arm", "v7"),
        ("armel", "") => ("arm", "v6"),
        ("arm", "") => ("arm", "v7"),
        ("arm", "5" | "6" | "7" | "8") => ("arm", variant),
        (a, v) => (a, v),
    };
    let v = if a == "arm" && v.len() == 1 && v.chars().all(|c| c.is_ascii_digit()) {
        format!("v{v}")
    } else {
        v.to_string()
    };
    (a.to_string(), v)
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_variant_and_normalize_drops_default() {
        let p = Platform::parse("linux/arm64/v8").expect("valid");
        assert_eq!(p.variant, "v8");
        assert_eq!(p.normalized().variant, "");
        assert_eq!(Platform::parse("linux/arm").expect("valid").variant, "v7");
        assert_eq!(Platform::parse("linux/x86_64").expect("valid").arch, "amd64");
    }

    #[test]
    fn parse_rejects_garbage() {
        for s in ["", "linux", "linux//v7", "a/b/c/d", "linux/amd64 ", "plan10/amd64", "linux/z80"] {
            assert!(Platform::parse(s).is_err(), "{s:?} should be refused");
        }
    }
}
