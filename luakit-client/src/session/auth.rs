//! `moby.filesync.v1.Auth`: registry credentials for the daemon (pulling
//! and pushing images), from a Docker `config.json`: a `credHelpers` entry
//! for the host, else the `credsStore` helper, else the `auths` entry
//! (base64 `user:password` in `auth`, or an `identitytoken`). Helpers run
//! as `docker-credential-NAME get` with the host on stdin. A host with no
//! credentials gets an empty answer (anonymous access). `FetchToken`,
//! `GetTokenAuthority` and `VerifyTokenAuthority` answer `Unimplemented`, on
//! which BuildKit falls back to `Credentials` and fetches tokens itself.

use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine as _;
use tokio::io::AsyncWriteExt as _;
use tonic::{Request, Response, Status};

use crate::pb::moby::filesync::v1::auth_server::Auth;
use crate::pb::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse, GetTokenAuthorityRequest,
    GetTokenAuthorityResponse, VerifyTokenAuthorityRequest, VerifyTokenAuthorityResponse,
};

/// Docker Hub's host as the daemon names it, and its key in `config.json`.
const HUB_HOST: &str = "registry-1.docker.io";
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The Auth service, reading `config` (a `config.json` path) on each request.
#[derive(Debug, Clone)]
pub struct AuthService {
    config: PathBuf,
}

impl AuthService {
    /// Serves credentials from the `config.json` at `config` (absent: none).
    pub fn new(config: PathBuf) -> Self {
        AuthService { config }
    }
}

/// Credentials for `host` from a parsed `config.json`, running helpers.
pub async fn credentials(config: &serde_json::Value, host: &str) -> Result<(String, String), String> {
    let key = if host == HUB_HOST { HUB_KEY } else { host };
    let helper = config
        .get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| config.get("credsStore"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty());
    if let Some(helper) = helper {
        return run_helper(helper, key).await;
    }
    let auths = config.get("auths").and_then(|a| a.as_object());
    let entry = auths.and_then(|auths| {
        auths.get(key).or_else(|| {
            auths.iter().find_map(|(k, v)| {
                let bare = k.trim_start_matches("https://").trim_start_matches("http://");
                (bare.split('/').next() == Some(key)).then_some(v)
            })
        })
    });
    let Some(entry) = entry else {
        return Ok((String::new(), String::new()));
    };
    if let Some(token) = entry.get("identitytoken").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
        return Ok((String::new(), token.to_string()));
    }
    if let Some(auth) = entry.get("auth").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|e| format!("the auth of {key} is not base64: {e}"))?;
        let text = String::from_utf8_lossy(&decoded);
        let (user, pass) = text.split_once(':').ok_or_else(|| format!("the auth of {key} is not user:password"))?;
        return Ok((user.to_string(), pass.to_string()));
    }
    let field = |name: &str| entry.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    Ok((field("username"), field("password")))
}

async fn run_helper(helper: &str, host: &str) -> Result<(String, String), String> {
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(host.as_bytes()).await.map_err(|e| format!("cannot write to {program}: {e}"))?;
    }
    let out = child.wait_with_output().await.map_err(|e| format!("{program} failed: {e}"))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        // Helpers say "credentials not found in native keychain" for unknown hosts.
        if msg.contains("credentials not found") {
            return Ok((String::new(), String::new()));
        }
        return Err(format!("{program} get failed: {}", msg.trim()));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("{program} printed no credentials JSON: {e}"))?;
    let field = |name: &str| v.get(name).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let (user, secret) = (field("Username"), field("Secret"));
    // An identity token comes with the user name `<token>`.
    if user == "<token>" { Ok((String::new(), secret)) } else { Ok((user, secret)) }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(&self, request: Request<CredentialsRequest>) -> Result<Response<CredentialsResponse>, Status> {
        let host = request.into_inner().host;
        let config = match tokio::fs::read(&self.config).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Status::internal(format!("{} is not valid JSON: {e}", self.config.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
            Err(e) => return Err(Status::internal(format!("cannot read {}: {e}", self.config.display()))),
        };
        let (username, secret) = credentials(&config, &host).await.map_err(Status::internal)?;
        Ok(Response::new(CredentialsResponse { username, secret }))
    }

    async fn fetch_token(&self, _: Request<FetchTokenRequest>) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("luakit's session answers Credentials only"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("luakit's session answers Credentials only"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("luakit's session answers Credentials only"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn auths_entries_decode() {
        let config = serde_json::json!({"auths": {
            "localhost:5000": {"auth": base64::engine::general_purpose::STANDARD.encode("alice:s3cret")},
            "https://index.docker.io/v1/": {"identitytoken": "tok"},
            "http://other:1234/v2/": {"username": "bob", "password": "pw"},
        }});
        assert_eq!(credentials(&config, "localhost:5000").await, Ok(("alice".into(), "s3cret".into())));
        assert_eq!(credentials(&config, "registry-1.docker.io").await, Ok((String::new(), "tok".into())));
        assert_eq!(credentials(&config, "other:1234").await, Ok(("bob".into(), "pw".into())));
        assert_eq!(credentials(&config, "nowhere").await, Ok((String::new(), String::new())));
    }

    #[tokio::test]
    async fn a_missing_helper_is_an_error() {
        let config = serde_json::json!({"credHelpers": {"r.example": "luakit-no-such-helper"}});
        let err = credentials(&config, "r.example").await.expect_err("an error");
        assert!(err.contains("docker-credential-luakit-no-such-helper"), "{err}");
    }
}
