//! A normalized image reference split into what the distribution API
//! needs: the registry host (Docker Hub's API host for `docker.io`), the
//! repository, and the tag or digest to ask for.

use crate::Error;

/// Where and what to ask a registry for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The reference as written in the lock (`docker.io/library/alpine:3.19`).
    pub reference: String,
    /// The domain of the reference (`docker.io`, `127.0.0.1:5000`).
    pub domain: String,
    /// The host the API is on (`registry-1.docker.io` for `docker.io`).
    pub host: String,
    /// The repository (`library/alpine`).
    pub repository: String,
    /// The tag or digest asked for (a digest wins over a tag).
    pub object: String,
}

impl Target {
    /// Splits `reference` (normalized here first).
    pub fn parse(reference: &str) -> Result<Target, Error> {
        let normalized = luakit::graph::normalize_image_ref(reference)
            .map_err(|e| Error::Reference { reference: reference.to_string(), reason: e.to_string() })?;
        let (name_tag, digest) = match normalized.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (normalized.as_str(), None),
        };
        let last_slash = name_tag.rfind('/').unwrap_or(0);
        let (name, tag) = match name_tag[last_slash..].rfind(':') {
            Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
            None => (name_tag, None),
        };
        let (domain, repository) = name.split_once('/').ok_or_else(|| Error::Reference {
            reference: reference.to_string(),
            reason: "no registry domain".to_string(),
        })?;
        let host = if domain == "docker.io" { "registry-1.docker.io" } else { domain };
        let object = digest.or(tag).unwrap_or("latest");
        Ok(Target {
            reference: normalized.clone(),
            domain: domain.to_string(),
            host: host.to_string(),
            repository: repository.to_string(),
            object: object.to_string(),
        })
    }

    /// Whether the registry is on this machine (plain HTTP is allowed).
    pub fn is_loopback(&self) -> bool {
        let host = match self.host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => self.host.as_str(),
        };
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn splits_references() -> Result<(), crate::Error> {
        let t = Target::parse("alpine:3.19")?;
        assert_eq!(
            (t.host.as_str(), t.repository.as_str(), t.object.as_str()),
            ("registry-1.docker.io", "library/alpine", "3.19")
        );
        let t = Target::parse("127.0.0.1:5000/luakit-e2e/multi:1")?;
        assert_eq!(
            (t.host.as_str(), t.repository.as_str(), t.object.as_str()),
            ("127.0.0.1:5000", "luakit-e2e/multi", "1")
        );
        assert!(t.is_loopback());
        let d = format!("sha256:{}", "a".repeat(64));
        let t = Target::parse(&format!("localhost:5000/x:1@{d}"))?;
        assert_eq!(t.object, d);
        assert!(t.is_loopback());
        assert!(!Target::parse("registry.example.com/x")?.is_loopback());
        Ok(())
    }
}
