//! A fake registry: just enough of the distribution API, on a std TCP
//! listener, one thread per connection, `Connection: close`. Shared with
//! luakit-cli's tests of `luakit lock`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// `sha256:<hex>` of a string.
pub fn sha(s: &str) -> String {
    luakit::lock::sha256_digest(s.as_bytes())
}

pub struct FakeRegistry {
    pub host: String,
    pub index: String,
    pub manifest_amd64: String,
    pub config_amd64: String,
    pub config_arm64: String,
    tokens: Arc<AtomicUsize>,
    routes: Arc<Routes>,
}

struct Routes {
    auth: bool,
    host: String,
    files: Mutex<BTreeMap<String, (String, String)>>,
    tokens: Arc<AtomicUsize>,
}

impl FakeRegistry {
    /// Starts the registry; with `auth`, `user:secret` gets a Bearer token.
    pub fn start(auth: bool) -> std::io::Result<FakeRegistry> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let host = listener.local_addr()?.to_string();
        let config_amd64 = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\",\"BASE=1\"],\"WorkingDir\":\"/srv\",\"User\":\"app\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}\n".to_string();
        let config_arm64 =
            r#"{"architecture":"arm64","variant":"v8","os":"linux","config":{"User":"arm"}}"#.to_string();
        let manifest = |config: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
                sha(config),
                config.len()
            )
        };
        let manifest_amd64 = manifest(&config_amd64);
        let manifest_arm64 = manifest(&config_arm64);
        let attestation = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.in-toto+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1},"layers":[]}"#;
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"unknown","os":"unknown"}},"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#,
            sha(&manifest_amd64),
            sha(attestation),
            sha(&manifest_arm64)
        );
        let oci_index = "application/vnd.oci.image.index.v1+json".to_string();
        let oci_manifest = "application/vnd.oci.image.manifest.v1+json".to_string();
        let tampered_config = "{\"os\":\"linux\",\"architecture\":\"amd64\"}".to_string();
        let tampered_manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"digest":"{}"}}}}"#,
            sha("something else")
        );
        let repo = "/v2/luakit-e2e/multi";
        let mut files = BTreeMap::new();
        for tag in ["1".to_string(), sha(&index)] {
            files.insert(format!("{repo}/manifests/{tag}"), (oci_index.clone(), index.clone()));
        }
        for m in [&manifest_amd64, &manifest_arm64, &attestation.to_string()] {
            files.insert(format!("{repo}/manifests/{}", sha(m)), (oci_manifest.clone(), m.clone()));
        }
        files.insert(format!("{repo}/manifests/single"), (oci_manifest.clone(), manifest_amd64.clone()));
        files.insert(format!("{repo}/manifests/tampered"), (oci_manifest.clone(), tampered_manifest));
        files.insert(format!("{repo}/blobs/{}", sha("something else")), (String::new(), tampered_config));
        files.insert(
            format!("{repo}/manifests/old"),
            (
                "application/vnd.docker.distribution.manifest.v1+prettyjws".to_string(),
                r#"{"schemaVersion":1}"#.to_string(),
            ),
        );
        for c in [&config_amd64, &config_arm64] {
            files.insert(format!("{repo}/blobs/{}", sha(c)), ("application/octet-stream".to_string(), c.clone()));
        }
        let tokens = Arc::new(AtomicUsize::new(0));
        let routes = Arc::new(Routes { auth, host: host.clone(), files: Mutex::new(files), tokens: tokens.clone() });
        let served = routes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = routes.clone();
                std::thread::spawn(move || {
                    let _ = serve(&routes, stream);
                });
            }
        });
        Ok(FakeRegistry { host, index, manifest_amd64, config_amd64, config_arm64, tokens, routes: served })
    }

    /// Re-tags `luakit-e2e/multi:1` to the single amd64 manifest (as a push would).
    pub fn retag(&self) {
        let mut files = self.routes.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let single = files.get("/v2/luakit-e2e/multi/manifests/single").cloned();
        if let Some(single) = single {
            files.insert("/v2/luakit-e2e/multi/manifests/1".to_string(), single);
        }
    }

    pub fn token_requests(&self) -> usize {
        self.tokens.load(Ordering::SeqCst)
    }
}

fn serve(routes: &Routes, mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut authorization = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = v.trim().to_string();
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut respond = |status: &str, headers: &[(&str, String)], body: &str| {
        let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        if method != "HEAD" {
            out.push_str(body);
        }
        stream.write_all(out.as_bytes())
    };
    if path == "/token" {
        routes.tokens.fetch_add(1, Ordering::SeqCst);
        // "user:secret"
        if authorization != "Basic dXNlcjpzZWNyZXQ=" || !query.contains("scope=repository%3Aluakit-e2e%2Fmulti%3Apull")
        {
            return respond("401 Unauthorized", &[], "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
        }
        return respond("200 OK", &[("Content-Type", "application/json".into())], r#"{"token":"T0K3N"}"#);
    }
    if routes.auth && authorization != "Bearer T0K3N" {
        let challenge = format!(
            r#"Bearer realm="http://{}/token",service="fake",scope="repository:luakit-e2e/multi:pull""#,
            routes.host
        );
        return respond("401 Unauthorized", &[("WWW-Authenticate", challenge)], "{}");
    }
    let file = routes.files.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(path).cloned();
    match file {
        Some((media_type, body)) => {
            let mut headers = vec![("Docker-Content-Digest", sha(&body))];
            if !media_type.is_empty() {
                headers.push(("Content-Type", media_type.clone()));
            }
            respond("200 OK", &headers, &body)
        }
        None => respond("404 Not Found", &[], r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
    }
}
