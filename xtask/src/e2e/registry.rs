//! Local image registries for the e2e suite: Debian's `docker-registry`
//! (distribution 2.8) listening on 127.0.0.1 on a free port, with its storage
//! under the work directory, and a small client for its HTTP API (push and
//! pull of blobs and manifests, Basic auth).
//!
//! Two instances run during a suite: a plain one (buildkitd's mirror for
//! `docker.io`, the frontend image, pushes and cache exports) and one with
//! htpasswd auth (user [`AUTH_USER`], password [`AUTH_PASSWORD`]) for tests of
//! registry credentials.
//!
//! Facts (distribution 2.8.2 from Debian 12):
//! - `docker-registry serve config.yml` answers `GET /v2/` about 50 ms
//!   after it starts; with htpasswd auth it answers 401 with
//!   `WWW-Authenticate: Basic realm=…` until a valid `Authorization: Basic`.
//! - The htpasswd file must use bcrypt (`htpasswd -B`).
//! - Monolithic uploads work: `POST /v2/<repo>/blobs/uploads/` (202 and a
//!   `Location`), then `PUT <Location>&digest=<digest>` with the whole blob;
//!   the registry checks the digest.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::http::{self, Body};
use super::util;

/// Debian's registry binary (package `docker-registry`).
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// Debian's `htpasswd` (package `apache2-utils`).
pub const HTPASSWD: &str = "/usr/bin/htpasswd";
/// Credentials of the registry started with auth.
pub const AUTH_USER: &str = "luakit";
pub const AUTH_PASSWORD: &str = "e2e-pass-123";

/// Media types the client asks manifests in.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// A running `docker-registry`, stopped and its storage removed on drop.
pub struct Registry {
    child: Option<Child>,
    pid: u32,
    addr: String,
    dir: PathBuf,
    log: PathBuf,
    auth: Option<(String, String)>,
    interrupt_id: u64,
}

impl Registry {
    /// Starts a registry named `name` with everything under
    /// `work_dir/registry-<name>` (config, storage, log, htpasswd), on
    /// 127.0.0.1 and a free port; with `auth`, it requires those credentials
    /// (htpasswd, bcrypt). Waits until `GET /v2/` answers.
    pub fn start(work_dir: &Path, name: &str, auth: Option<(&str, &str)>) -> Result<Registry> {
        let dir = work_dir.join(format!("registry-{name}"));
        let pidfile = dir.join("registry.pid");
        if let Some(pid) = util::read_pid(&pidfile)
            && util::process_matches(pid, "docker-registry")
        {
            eprintln!("e2e: stopping stale registry (pid {pid}) from an earlier run");
            util::terminate(pid, Duration::from_secs(5));
        }
        util::remove_tree(&dir)?;
        let storage = dir.join("storage");
        fs::create_dir_all(&storage).with_context(|| format!("cannot create {}", storage.display()))?;
        ensure!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is missing: install Debian's docker-registry (see e2e::packages)"
        );
        let auth_yaml = match auth {
            Some((user, pass)) => {
                let out = Command::new(HTPASSWD)
                    .args(["-Bbn", user, pass])
                    .output()
                    .with_context(|| format!("cannot run {HTPASSWD} (install apache2-utils)"))?;
                util::check_output("htpasswd -Bbn", &out)?;
                let file = dir.join("htpasswd");
                fs::write(&file, &out.stdout)?;
                format!("auth:\n  htpasswd:\n    realm: luakit-e2e\n    path: {}\n", file.display())
            }
            None => String::new(),
        };
        let log = dir.join("registry.log");
        let mut last_err = String::new();
        // A free port can be taken between the probe and the registry's bind:
        // try a few.
        for _ in 0..5 {
            let port = util::free_port()?;
            let addr = format!("127.0.0.1:{port}");
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n  secret: luakit-e2e-{name}\n{auth_yaml}",
                storage.display()
            );
            let config_path = dir.join("config.yml");
            fs::write(&config_path, config)?;
            let logf = fs::File::create(&log)?;
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::from(logf.try_clone()?))
                .stderr(Stdio::from(logf))
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot start {REGISTRY_BIN}"))?;
            let pid = child.id();
            fs::write(&pidfile, pid.to_string())?;
            let interrupt_id =
                util::on_interrupt("docker-registry", move || util::terminate(pid, Duration::from_secs(5)));
            let mut r = Registry {
                child: Some(child),
                pid,
                addr,
                dir: dir.clone(),
                log: log.clone(),
                auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
                interrupt_id,
            };
            let t0 = Instant::now();
            loop {
                if let Some(c) = r.child.as_mut()
                    && let Some(status) = c.try_wait()?
                {
                    r.child = None;
                    last_err = format!("docker-registry exited ({status}):\n{}", util::file_tail(&log, 20));
                    break;
                }
                if let Ok(resp) = http::request("GET", &format!("http://{}/v2/", r.addr), &[], Body::Empty)
                    && (resp.status == 200 || resp.status == 401)
                {
                    eprintln!(
                        "e2e: registry {name} (pid {pid}) on {}{} after {:.1}s",
                        r.addr,
                        if auth.is_some() { " with htpasswd auth" } else { "" },
                        t0.elapsed().as_secs_f64()
                    );
                    return Ok(r);
                }
                if t0.elapsed() > Duration::from_secs(20) {
                    last_err = format!("docker-registry did not answer within 20s:\n{}", util::file_tail(&log, 20));
                    break;
                }
                sleep(Duration::from_millis(50));
            }
            drop(r);
        }
        bail!("cannot start the {name} registry: {last_err}")
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The credentials it requires, if any.
    pub fn auth(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// A client with the registry's credentials (if any).
    pub fn client(&self) -> Client {
        let c = Client::new(&self.addr);
        match self.auth() {
            Some((u, p)) => c.with_basic_auth(u, p),
            None => c,
        }
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// A docker `config.json` (as `docker login` writes it) with this
    /// registry's credentials, in `dir`; use `dir` as `DOCKER_CONFIG`.
    pub fn write_docker_config(&self, dir: &Path) -> Result<()> {
        let (u, p) = self.auth().context("this registry has no credentials")?;
        fs::create_dir_all(dir)?;
        let cfg = serde_json::json!({
            "auths": { self.addr.clone(): { "auth": http::base64(format!("{u}:{p}").as_bytes()) } }
        });
        fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&cfg)?)?;
        Ok(())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        util::forget_on_interrupt(self.interrupt_id);
        if let Some(mut c) = self.child.take() {
            util::terminate(self.pid, Duration::from_secs(5));
            let _ = c.wait();
        }
        let _ = fs::remove_file(self.dir.join("registry.pid"));
        if std::env::var("LUAKIT_E2E_KEEP_DATA").map(|v| v == "1").unwrap_or(false) {
            eprintln!("e2e: keeping {}", self.dir.display());
        } else {
            let _ = util::remove_tree(&self.dir.join("storage"));
        }
    }
}

/// A client of the registry HTTP API (v2).
#[derive(Clone)]
pub struct Client {
    base: String,
    auth: Option<String>,
}

/// A manifest as fetched: its media type, bytes and digest.
pub struct Fetched {
    pub media_type: String,
    pub bytes: Vec<u8>,
    #[allow(dead_code)]
    pub digest: String,
}

impl Fetched {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.bytes).context("the manifest is not JSON")
    }
}

impl Client {
    /// A client of the registry at `addr` (`127.0.0.1:PORT`), anonymous.
    pub fn new(addr: &str) -> Client {
        Client { base: format!("http://{addr}"), auth: None }
    }

    pub fn with_basic_auth(mut self, user: &str, pass: &str) -> Client {
        self.auth = Some(format!("Basic {}", http::base64(format!("{user}:{pass}").as_bytes())));
        self
    }

    fn send(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Body) -> Result<http::Response> {
        let url = if url.starts_with("http://") { url.to_string() } else { format!("{}{url}", self.base) };
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &self.auth {
            h.push(("Authorization", a));
        }
        http::request(method, &url, &h, body)
    }

    /// The status of `GET /v2/` (200, or 401 when credentials are missing or wrong).
    pub fn ping(&self) -> Result<u16> {
        Ok(self.send("GET", "/v2/", &[], Body::Empty)?.status)
    }

    pub fn has_blob(&self, repo: &str, digest: &str) -> Result<bool> {
        let r = self.send("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &[], Body::Empty)?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            s => bail!("HEAD blob {repo}@{digest}: HTTP {s}"),
        }
    }

    /// Uploads `body` as the blob `digest` of `repo` (monolithic upload),
    /// unless the repository has it already.
    pub fn push_blob(&self, repo: &str, digest: &str, body: Body) -> Result<()> {
        if self.has_blob(repo, digest)? {
            return Ok(());
        }
        let r = self.send("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], Body::Empty)?;
        ensure!(r.status == 202, "starting an upload to {repo}: HTTP {} {}", r.status, r.text());
        let loc = r.header("location").context("the upload answer has no Location")?;
        let sep = if loc.contains('?') { '&' } else { '?' };
        let url = format!("{loc}{sep}digest={digest}");
        let r = self.send("PUT", &url, &[("Content-Type", "application/octet-stream")], body)?;
        ensure!(r.status == 201, "uploading blob {digest} to {repo}: HTTP {} {}", r.status, r.text());
        Ok(())
    }

    /// Uploads `data` as a blob; returns its digest.
    pub fn push_blob_bytes(&self, repo: &str, data: &[u8]) -> Result<String> {
        let digest = util::sha256_digest(data);
        self.push_blob(repo, &digest, Body::Bytes(data))?;
        Ok(digest)
    }

    /// `PUT /v2/<repo>/manifests/<reference>`; returns the manifest's digest.
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let r = self.send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
        )?;
        ensure!(r.status == 201, "pushing manifest {repo}:{reference}: HTTP {} {}", r.status, r.text());
        Ok(util::sha256_digest(bytes))
    }

    /// `GET /v2/<repo>/manifests/<reference>` accepting OCI and Docker
    /// manifests and indexes.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<Fetched> {
        let accept = MANIFEST_TYPES.join(", ");
        let r = self.send("GET", &format!("/v2/{repo}/manifests/{reference}"), &[("Accept", &accept)], Body::Empty)?;
        ensure!(r.status == 200, "GET manifest {repo}:{reference}: HTTP {} {}", r.status, r.text());
        let media_type = r.header("content-type").unwrap_or_default().to_string();
        let digest = util::sha256_digest(&r.body);
        Ok(Fetched { media_type, bytes: r.body, digest })
    }

    /// `GET /v2/<repo>/blobs/<digest>`, checked against the digest.
    pub fn get_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>> {
        let r = self.send("GET", &format!("/v2/{repo}/blobs/{digest}"), &[], Body::Empty)?;
        ensure!(r.status == 200, "GET blob {repo}@{digest}: HTTP {}", r.status);
        ensure!(util::sha256_digest(&r.body) == digest, "blob {repo}@{digest} does not match its digest");
        Ok(r.body)
    }

    /// The image manifest of `repo:reference` for `linux/<arch>` (following
    /// an index) and its parsed config.
    pub fn image(&self, repo: &str, reference: &str, arch: &str) -> Result<(serde_json::Value, serde_json::Value)> {
        let mut m = self.get_manifest(repo, reference)?;
        let mut v = m.json()?;
        if m.media_type.contains("index") || m.media_type.contains("manifest.list") {
            let d = v["manifests"]
                .as_array()
                .and_then(|ms| {
                    ms.iter().find(|d| d["platform"]["architecture"] == arch && d["platform"]["os"] == "linux")
                })
                .and_then(|d| d["digest"].as_str())
                .with_context(|| format!("{repo}:{reference} has no linux/{arch} manifest"))?
                .to_string();
            m = self.get_manifest(repo, &d)?;
            v = m.json()?;
        }
        let cd = v["config"]["digest"].as_str().context("the manifest has no config digest")?;
        let config: serde_json::Value =
            serde_json::from_slice(&self.get_blob(repo, cd)?).context("the image config is not JSON")?;
        Ok((v, config))
    }
}
