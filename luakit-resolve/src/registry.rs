//! The OCI distribution API (v2) client: token auth (a `Bearer` challenge's
//! realm, service and scope, or `Basic`), manifests with the full `Accept`
//! list (OCI index and image manifest, Docker manifest list and schema 2;
//! schema 1 refused), platform selection skipping attestation manifests,
//! blobs checked against their sha256.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use luakit::Platform;
use serde::Deserialize;

use crate::Error;
use crate::credentials::DockerConfig;
use crate::reference::Target;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

const MAX_MANIFEST: u64 = 4 << 20;
const MAX_CONFIG: u64 = 16 << 20;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) reached over plain HTTP; loopback ones always are.
    pub insecure: Vec<String>,
    /// Connect and read timeout of each request.
    pub timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions { insecure: Vec::new(), timeout: Duration::from_secs(30) }
    }
}

/// One reference resolved for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The top-level digest (index or manifest), what sources pin to.
    pub digest: String,
    /// The top-level media type.
    pub media_type: String,
    /// The platform's manifest digest.
    pub manifest: String,
    /// The config blob, exactly as served (checked against its digest).
    pub config: String,
}

/// A registry client (one per command; caches tokens).
pub struct Registry {
    agent: ureq::Agent,
    options: RegistryOptions,
    credentials: DockerConfig,
    tokens: Mutex<BTreeMap<(String, String), String>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("options", &self.options).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<DescPlatform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DescPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: String,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion", default)]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default)]
    config: Option<Descriptor>,
}

struct Fetched {
    body: Vec<u8>,
    content_type: String,
    digest_header: Option<String>,
}

impl Registry {
    /// A client with `options` and the credentials of `credentials`.
    pub fn new(options: RegistryOptions, credentials: DockerConfig) -> Registry {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(options.timeout)
            .timeout_read(options.timeout)
            .timeout_write(options.timeout)
            .build();
        Registry { agent, options, credentials, tokens: Mutex::new(BTreeMap::new()) }
    }

    /// The top-level digest and media type `reference` names now (HEAD).
    pub fn head(&self, reference: &str) -> Result<(String, String), Error> {
        let target = Target::parse(reference)?;
        let f = self.fetch(&target, "HEAD", &format!("manifests/{}", target.object), ACCEPT, 0)?;
        match f.digest_header {
            Some(d) => Ok((d, f.content_type)),
            // No digest header: GET and hash.
            None => {
                let f = self.fetch(&target, "GET", &format!("manifests/{}", target.object), ACCEPT, MAX_MANIFEST)?;
                Ok((luakit::lock::sha256_digest(&f.body), f.content_type))
            }
        }
    }

    /// Resolves `reference` for `platform`: top-level digest, the platform's
    /// manifest and its exact config.
    pub fn resolve(&self, reference: &str, platform: &Platform) -> Result<Resolved, Error> {
        let target = Target::parse(reference)?;
        let top = self.fetch(&target, "GET", &format!("manifests/{}", target.object), ACCEPT, MAX_MANIFEST)?;
        let digest = luakit::lock::sha256_digest(&top.body);
        if let Some(header) = &top.digest_header
            && header != &digest
        {
            return Err(self.integrity(&target, format!("the manifest hashes to {digest}, the registry says {header}")));
        }
        if target.object.starts_with("sha256:") && target.object != digest {
            return Err(self.integrity(&target, format!("the manifest hashes to {digest}, not {}", target.object)));
        }
        let parsed = parse_manifest(&target, &top)?;
        let media_type = media_type(&top, &parsed);
        let (manifest_digest, manifest) = if media_type == OCI_INDEX || media_type == DOCKER_LIST {
            let child = select(&target, &parsed.manifests, platform)?;
            let f = self.fetch(&target, "GET", &format!("manifests/{child}"), ACCEPT, MAX_MANIFEST)?;
            let actual = luakit::lock::sha256_digest(&f.body);
            if actual != child {
                return Err(self.integrity(&target, format!("manifest {child} hashes to {actual}")));
            }
            let m = parse_manifest(&target, &f)?;
            (child, m)
        } else {
            (digest.clone(), parsed)
        };
        let config = manifest.config.ok_or_else(|| Error::Manifest {
            reference: target.reference.clone(),
            reason: format!("manifest {manifest_digest} has no config"),
        })?;
        let blob = self.fetch(&target, "GET", &format!("blobs/{}", config.digest), "*/*", MAX_CONFIG)?;
        let actual = luakit::lock::sha256_digest(&blob.body);
        if actual != config.digest {
            return Err(self.integrity(&target, format!("config blob {} hashes to {actual}", config.digest)));
        }
        let config = String::from_utf8(blob.body).map_err(|_| Error::Manifest {
            reference: target.reference.clone(),
            reason: "the image config is not UTF-8 JSON".to_string(),
        })?;
        Ok(Resolved { digest, media_type, manifest: manifest_digest, config })
    }

    fn integrity(&self, target: &Target, reason: String) -> Error {
        Error::Integrity { reference: target.reference.clone(), reason }
    }

    fn scheme(&self, target: &Target) -> &'static str {
        if target.is_loopback() || self.options.insecure.iter().any(|h| h == &target.host || h == &target.domain) {
            "http"
        } else {
            "https"
        }
    }

    /// One request, answering an auth challenge once.
    fn fetch(&self, target: &Target, method: &str, path: &str, accept: &str, limit: u64) -> Result<Fetched, Error> {
        let url = format!("{}://{}/v2/{}/{path}", self.scheme(target), target.host, target.repository);
        let key = (target.host.clone(), target.repository.clone());
        let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let mut authorization = cached;
        for attempt in 0..2 {
            let mut req = self.agent.request(method, &url).set("Accept", accept);
            if let Some(a) = &authorization {
                req = req.set("Authorization", a);
            }
            match req.call() {
                Ok(resp) => return read(target, resp, limit),
                Err(ureq::Error::Status(401, resp)) if attempt == 0 => {
                    let challenge = resp.header("www-authenticate").unwrap_or_default().to_string();
                    let a = self.answer(target, &challenge)?;
                    if let Ok(mut t) = self.tokens.lock() {
                        t.insert(key.clone(), a.clone());
                    }
                    authorization = Some(a);
                }
                Err(ureq::Error::Status(code @ (401 | 403), _)) => {
                    return Err(Error::AuthRefused { registry: target.domain.clone(), status: code });
                }
                Err(ureq::Error::Status(404, _)) => {
                    return Err(Error::NotFound { reference: target.reference.clone(), what: path.to_string() });
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let body = resp.into_string().unwrap_or_default();
                    return Err(Error::Status {
                        registry: target.domain.clone(),
                        status: code,
                        message: body.chars().take(200).collect(),
                    });
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(Error::Unreachable { registry: target.domain.clone(), reason: t.to_string() });
                }
            }
        }
        Err(Error::AuthRefused { registry: target.domain.clone(), status: 401 })
    }

    /// The `Authorization` value answering `challenge`.
    fn answer(&self, target: &Target, challenge: &str) -> Result<String, Error> {
        let credential = self.credentials.credential(&target.domain)?;
        let basic = credential.as_ref().map(|c| {
            let raw = format!("{}:{}", c.username, c.secret);
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
        });
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => basic.ok_or_else(|| Error::AuthRefused { registry: target.domain.clone(), status: 401 }),
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| Error::Status {
                    registry: target.domain.clone(),
                    status: 401,
                    message: format!("a Bearer challenge without realm: {challenge}"),
                })?;
                let scope =
                    params.get("scope").cloned().unwrap_or_else(|| format!("repository:{}:pull", target.repository));
                let mut req = self.agent.get(realm).query("scope", &scope);
                if let Some(service) = params.get("service") {
                    req = req.query("service", service);
                }
                if let Some(b) = &basic {
                    req = req.set("Authorization", b);
                }
                let resp = match req.call() {
                    Ok(r) => r,
                    Err(ureq::Error::Status(code, _)) => {
                        return Err(Error::AuthRefused { registry: target.domain.clone(), status: code });
                    }
                    Err(ureq::Error::Transport(t)) => {
                        return Err(Error::Unreachable { registry: realm.clone(), reason: t.to_string() });
                    }
                };
                #[derive(Deserialize)]
                struct Token {
                    #[serde(default)]
                    token: String,
                    #[serde(default)]
                    access_token: String,
                }
                let body = read(target, resp, 1 << 20)?.body;
                let t: Token = serde_json::from_slice(&body).map_err(|e| Error::Status {
                    registry: target.domain.clone(),
                    status: 200,
                    message: format!("the token endpoint's reply is not JSON: {e}"),
                })?;
                let token = if t.token.is_empty() { t.access_token } else { t.token };
                Ok(format!("Bearer {token}"))
            }
            _ => Err(Error::AuthRefused { registry: target.domain.clone(), status: 401 }),
        }
    }
}

fn read(target: &Target, resp: ureq::Response, limit: u64) -> Result<Fetched, Error> {
    let content_type =
        resp.header("content-type").unwrap_or_default().split(';').next().unwrap_or_default().trim().to_string();
    let digest_header = resp.header("docker-content-digest").map(str::to_string);
    let mut body = Vec::new();
    if limit > 0 {
        resp.into_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| Error::Unreachable { registry: target.domain.clone(), reason: e.to_string() })?;
        if body.len() as u64 > limit {
            return Err(Error::Manifest {
                reference: target.reference.clone(),
                reason: format!("a response over {limit} bytes"),
            });
        }
    }
    Ok(Fetched { body, content_type, digest_header })
}

fn parse_manifest(target: &Target, f: &Fetched) -> Result<Manifest, Error> {
    if SCHEMA1.contains(&f.content_type.as_str()) {
        return Err(schema1(target));
    }
    let m: Manifest = serde_json::from_slice(&f.body)
        .map_err(|e| Error::Manifest { reference: target.reference.clone(), reason: format!("not a manifest: {e}") })?;
    if m.schema_version == 1 {
        return Err(schema1(target));
    }
    Ok(m)
}

fn schema1(target: &Target) -> Error {
    Error::Manifest {
        reference: target.reference.clone(),
        reason: "a Docker schema 1 manifest (deprecated, not supported: push the image again)".to_string(),
    }
}

fn media_type(f: &Fetched, m: &Manifest) -> String {
    if !m.media_type.is_empty() {
        m.media_type.clone()
    } else if !m.manifests.is_empty() {
        OCI_INDEX.to_string()
    } else if [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&f.content_type.as_str()) {
        f.content_type.clone()
    } else {
        OCI_MANIFEST.to_string()
    }
}

/// The digest of the index entry for `want`: an exact (normalized) match,
/// else the first of the same OS and architecture when `want` names no
/// variant. Attestation manifests (and `unknown/unknown`) are skipped.
fn select(target: &Target, entries: &[Descriptor], want: &Platform) -> Result<String, Error> {
    let want = want.normalized();
    let mut candidates = Vec::new();
    let mut offered = Vec::new();
    for e in entries {
        let Some(p) = &e.platform else { continue };
        if e.annotations.get("vnd.docker.reference.type").is_some_and(|t| t == "attestation-manifest")
            || p.os == "unknown"
            || p.architecture == "unknown"
        {
            continue;
        }
        let _ = &e.media_type;
        let platform = Platform::new(p.os.clone(), p.architecture.clone(), p.variant.clone()).normalized();
        offered.push(platform.to_string());
        candidates.push((platform, e.digest.clone()));
    }
    if let Some((_, d)) = candidates.iter().find(|(p, _)| *p == want) {
        return Ok(d.clone());
    }
    if want.variant.is_empty()
        && let Some((_, d)) = candidates.iter().find(|(p, _)| p.os == want.os && p.arch == want.arch)
    {
        return Ok(d.clone());
    }
    Err(Error::NoPlatform { reference: target.reference.clone(), platform: want.to_string(), offered })
}

/// `Bearer realm="…",service="…"` → ("Bearer", {realm, service}).
fn parse_challenge(header: &str) -> (String, BTreeMap<String, String>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::parse_challenge;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p.get("realm").map(String::as_str), Some("https://auth.docker.io/token"));
        assert_eq!(p.get("service").map(String::as_str), Some("registry.docker.io"));
        assert_eq!(p.get("scope").map(String::as_str), Some("repository:library/alpine:pull"));
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((s.as_str(), p.get("realm").map(String::as_str)), ("Basic", Some("Registry Realm")));
    }
}
