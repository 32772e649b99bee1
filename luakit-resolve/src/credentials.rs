//! Registry credentials from Docker's client config
//! (`$DOCKER_CONFIG/config.json`, default `~/.docker/config.json`):
//! `auths` entries (`auth` = base64 of `user:password`), a `credsStore` for
//! every registry, `credHelpers` per registry, run as
//! `docker-credential-<name> get` with the server on standard input.
//! Docker Hub's key is `https://index.docker.io/v1/`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::Error;

/// Docker Hub's key in `config.json`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password, token or secret.
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("username", &self.username).finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Docker's client config, read once.
#[derive(Debug, Default)]
pub struct DockerConfig {
    path: Option<PathBuf>,
    file: ConfigFile,
}

impl DockerConfig {
    /// The config of `$DOCKER_CONFIG` or `~/.docker`; none there is no error.
    pub fn load_default() -> Result<DockerConfig, Error> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("HOME") {
                Some(h) => PathBuf::from(h).join(".docker"),
                None => return Ok(DockerConfig::default()),
            },
        };
        DockerConfig::load(&dir.join("config.json"))
    }

    /// The config at `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<DockerConfig, Error> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DockerConfig::default()),
            Err(source) => return Err(Error::DockerConfig { path: path.to_path_buf(), reason: source.to_string() }),
        };
        let file = serde_json::from_slice(&bytes)
            .map_err(|e| Error::DockerConfig { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(DockerConfig { path: Some(path.to_path_buf()), file })
    }

    /// The credential for registry `domain` (`docker.io`, `host:port`), if any.
    pub fn credential(&self, domain: &str) -> Result<Option<Credential>, Error> {
        let key = if domain == "docker.io" { DOCKER_HUB_KEY } else { domain };
        if let Some(helper) = self.file.cred_helpers.get(key) {
            return run_helper(helper, key);
        }
        let entry = self.file.auths.get(key).or_else(|| {
            // Entries are also written as URLs (`https://host/v1/`).
            self.file.auths.iter().find(|(k, _)| strip_url(k) == key).map(|(_, v)| v)
        });
        if let Some(entry) = entry {
            if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
                let bad = |reason: &str| Error::DockerConfig {
                    path: self.path.clone().unwrap_or_default(),
                    reason: format!("auths.\"{key}\".auth {reason}"),
                };
                let decoded =
                    base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad("is not base64"))?;
                let text = String::from_utf8(decoded).map_err(|_| bad("is not UTF-8"))?;
                let (username, secret) = text.split_once(':').ok_or_else(|| bad("is not user:password"))?;
                return Ok(Some(Credential { username: username.to_string(), secret: secret.to_string() }));
            }
            if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
                return Ok(Some(Credential { username: u.clone(), secret: p.clone() }));
            }
        }
        match &self.file.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, key),
            _ => Ok(None),
        }
    }
}

fn strip_url(key: &str) -> &str {
    let k = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

#[derive(Deserialize)]
struct HelperReply {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-<helper> get`, the server on standard input.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credential>, Error> {
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| Error::CredentialHelper { program: program.clone(), reason };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // The helpers' protocol: "credentials not found in native keychain" means none.
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exited with {}: {said}", out.status)));
    }
    let reply: HelperReply = serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad reply: {e}")))?;
    Ok(Some(Credential { username: reply.username, secret: reply.secret }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auths_entries_decode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("config.json");
        // "user:pa:ss" – a password may hold ':'.
        std::fs::write(
            &path,
            r#"{"auths":{"127.0.0.1:5001":{"auth":"dXNlcjpwYTpzcw=="},"https://index.docker.io/v1/":{"auth":"aHViOmh1Yg=="},"bad:1":{"auth":"!!"}}}"#,
        )?;
        let config = DockerConfig::load(&path)?;
        let c = config.credential("127.0.0.1:5001")?.ok_or("a credential")?;
        assert_eq!((c.username.as_str(), c.secret.as_str()), ("user", "pa:ss"));
        assert_eq!(config.credential("docker.io")?.ok_or("hub")?.username, "hub");
        assert_eq!(config.credential("127.0.0.1:5002")?, None);
        let err = config.credential("bad:1").expect_err("not base64");
        assert!(err.to_string().contains("auths.\"bad:1\".auth is not base64"), "{err}");
        Ok(())
    }
}
