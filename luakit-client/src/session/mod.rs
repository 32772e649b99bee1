//! A BuildKit client session: the services the daemon calls back into while
//! it solves (local directories, secrets, SSH agents, registry credentials),
//! what `buildctl` runs beside every solve.
//!
//! The transport is `Control.Session`, a bidi stream of `BytesMessage`:
//! the client opens it with headers naming the session
//! (`X-Docker-Expose-Session-Uuid`, `-Name`, `-Sharedkey`) and one
//! `X-Docker-Expose-Session-Grpc-Method` per method it serves, then the
//! bytes carried by the stream are an HTTP/2 connection on which the
//! *client* is the gRPC server and the daemon the gRPC client. [`Session`]
//! pumps those bytes through an in-memory pipe into a tonic server that
//! routes by method path to the services of this module:
//!
//! - `filesync` serves `moby.filesync.v1.FileSync/DiffCopy` (locals),
//! - `filesend` serves `moby.filesync.v1.FileSend/DiffCopy` (the
//!   exporter output of `local`, `tar`, `oci`, `docker` written here),
//! - `secrets` serves `moby.buildkit.secrets.v1.Secrets/GetSecret`,
//! - `ssh` serves `moby.sshforward.v1.SSH` (agent forwarding),
//! - `auth` serves `moby.filesync.v1.Auth/Credentials` (`config.json`),
//! - `content` serves `containerd.services.content.v1.Content` (the
//!   directories of `type=local` build caches, by store id),
//! - and `grpc.health.v1.Health/Check`, which BuildKit polls to keep the session.
//!
//! A solve names the session by [`Session::id`] in `SolveRequest.Session`.

pub(crate) mod auth;
pub(crate) mod content;
pub(crate) mod filesend;
pub(crate) mod filesync;
pub(crate) mod patterns;
pub(crate) mod secrets;
pub(crate) mod ssh;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::pb::containerd::services::content::v1::content_server::ContentServer;
use crate::pb::grpc::health::v1::health_check_response::ServingStatus;
use crate::pb::grpc::health::v1::health_server::{Health, HealthServer};
use crate::pb::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use crate::pb::moby::buildkit::secrets::v1::secrets_server::SecretsServer;
use crate::pb::moby::buildkit::v1::BytesMessage;
use crate::pb::moby::buildkit::v1::control_client::ControlClient;
use crate::pb::moby::filesync::v1::auth_server::AuthServer;
use crate::pb::moby::filesync::v1::file_sync_server::FileSyncServer;
use crate::pb::moby::sshforward::v1::ssh_server::SshServer;

pub use filesend::{OpenWriter, OutputTarget};
pub use filesync::TransferCounters;

/// The session headers (gRPC metadata keys are lower case).
const HEADER_ID: &str = "x-docker-expose-session-uuid";
const HEADER_NAME: &str = "x-docker-expose-session-name";
const HEADER_SHARED_KEY: &str = "x-docker-expose-session-sharedkey";
const HEADER_METHOD: &str = "x-docker-expose-session-grpc-method";

/// How long the daemon may take to answer the Session call.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes one `BytesMessage` to the daemon carries.
const UP_CHUNK: usize = 128 * 1024;

/// The in-memory pipe's buffer between the stream and the HTTP/2 server.
const PIPE_BUFFER: usize = 256 * 1024;

/// Where a secret's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file, read when the daemon asks.
    File(PathBuf),
    /// An environment variable of this process.
    Env(String),
}

/// One SSH forwarding id and where its agent is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    /// The id mounts name (`default` when they name none).
    pub id: String,
    /// Agent sockets; empty means `$SSH_AUTH_SOCK`. Only the first is used,
    /// and key files are not supported (an agent holds the keys).
    pub paths: Vec<PathBuf>,
}

/// What a session offers the daemon.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Local directories by name (`bk.local_(NAME)`).
    pub locals: BTreeMap<String, PathBuf>,
    /// Secrets by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// SSH agents to forward.
    pub ssh: Vec<SshSpec>,
    /// The Docker config directory for registry credentials (its
    /// `config.json`); `None`: `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// Exclude patterns per local (a `.dockerignore`'s lines); they replace
    /// the patterns the daemon sends unless it overrides them.
    pub local_excludes: BTreeMap<String, Vec<String>>,
    /// Where the exporter's output goes when the daemon sends it here
    /// (the `local`, `tar`, `oci` and `docker` exporters); `None`: the
    /// session does not offer FileSend.
    pub output: Option<OutputTarget>,
    /// Content stores by id (`local:DIR` for a `type=local` cache
    /// directory), each an OCI layout the daemon reads and writes through
    /// the session.
    pub content_stores: BTreeMap<String, PathBuf>,
}

/// Failures to set up or start a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A local is not a readable directory.
    #[error("local {name:?}: {} is not a directory", path.display())]
    Local {
        /// The local's name.
        name: String,
        /// Its directory.
        path: PathBuf,
        /// Why it cannot be used.
        #[source]
        source: io::Error,
    },
    /// An SSH forwarding id has no usable agent socket.
    #[error("ssh {id:?}: {reason}")]
    Ssh {
        /// The forwarding id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The daemon refused or failed the `Control.Session` call.
    #[error("the daemon did not open the session")]
    Open(#[source] Status),
    /// The daemon did not answer the `Control.Session` call in time.
    #[error("the daemon did not answer the session call within {0:?}")]
    Timeout(Duration),
}

/// Parse failures of the CLI forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseError {
    /// Which option (`--secret`, `--ssh`, `--local`).
    pub what: &'static str,
    /// What was given.
    pub input: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses `id=ID,src=PATH` or `id=ID,env=VAR` (`source=` is `src=`, and
/// `type=file|env` is accepted; with `id` alone the value comes from the
/// variable named like the id when it is set, else the file named by it).
pub fn parse_secret(input: &str) -> Result<(String, SecretSource), ParseError> {
    let err = |reason: &str| ParseError { what: "secret", input: input.to_string(), reason: reason.to_string() };
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in input.split(',') {
        let (key, value) = field.split_once('=').ok_or_else(|| err("fields are KEY=VALUE"))?;
        match key.trim().to_ascii_lowercase().as_str() {
            "id" => id = Some(value.to_string()),
            "src" | "source" => src = Some(value.to_string()),
            "env" => env = Some(value.to_string()),
            "type" => kind = Some(value.to_string()),
            other => return Err(err(&format!("unknown field {other:?} (expected id, src, env, type)"))),
        }
    }
    let id = id.filter(|s| !s.is_empty()).ok_or_else(|| err("id= is required"))?;
    let source = match (src, env, kind.as_deref()) {
        (Some(_), Some(_), _) => return Err(err("give src= or env=, not both")),
        (Some(path), None, None | Some("file")) => SecretSource::File(PathBuf::from(path)),
        (None, Some(var), None | Some("env")) => SecretSource::Env(var),
        (Some(var), None, Some("env")) => SecretSource::Env(var),
        (None, None, Some("env")) => SecretSource::Env(id.clone()),
        (None, None, Some("file")) => SecretSource::File(PathBuf::from(&id)),
        (None, None, None) if std::env::var_os(&id).is_some() => SecretSource::Env(id.clone()),
        (None, None, None) => SecretSource::File(PathBuf::from(&id)),
        (_, _, Some(other)) => return Err(err(&format!("unknown type {other:?} (expected file or env)"))),
    };
    Ok((id, source))
}

/// Parses `default`, `ID`, `ID=SOCKET` or `ID=SOCKET,SOCKET`.
pub fn parse_ssh(input: &str) -> Result<SshSpec, ParseError> {
    let (id, paths) = match input.split_once('=') {
        Some((id, paths)) => (id, paths.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect()),
        None => (input, Vec::new()),
    };
    if id.is_empty() {
        return Err(ParseError { what: "ssh", input: input.to_string(), reason: "the id is empty".into() });
    }
    Ok(SshSpec { id: id.to_string(), paths })
}

/// Parses `NAME=DIR`.
pub fn parse_local(input: &str) -> Result<(String, PathBuf), ParseError> {
    match input.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => Ok((name.to_string(), PathBuf::from(dir))),
        _ => Err(ParseError { what: "local", input: input.to_string(), reason: "expected NAME=DIR".into() }),
    }
}

/// Reads a `.dockerignore` into patterns: one a line, `#` comments and
/// blank lines dropped, as Docker reads it.
pub fn read_dockerignore(path: &Path) -> io::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect())
}

/// A running session. Dropping it (or [`Session::close`]) ends it.
#[derive(Debug)]
pub struct Session {
    /// The session id for `SolveRequest.Session`.
    pub id: String,
    counters: Arc<TransferCounters>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Session {
    /// Opens `Control.Session` on `channel` and serves `opts` on it.
    /// `shared_key` lets the daemon reuse what it received from earlier
    /// sessions with the same key (unchanged files are not sent again).
    pub async fn start(channel: Channel, opts: SessionOptions, shared_key: &str) -> Result<Session, SessionError> {
        let counters = Arc::new(TransferCounters::default());
        let router = Router::new(opts, counters.clone())?;
        let id = new_id();
        let (up_tx, up_rx) = tokio::sync::mpsc::channel::<BytesMessage>(32);
        let mut request = Request::new(ReceiverStream::new(up_rx));
        let md = request.metadata_mut();
        for (key, value) in [(HEADER_ID, id.as_str()), (HEADER_NAME, "luakit"), (HEADER_SHARED_KEY, shared_key)] {
            md.insert(key, header_value(value));
        }
        for method in router.methods() {
            md.append(HEADER_METHOD, header_value(&method));
        }
        let mut client =
            ControlClient::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
        let response = tokio::time::timeout(OPEN_TIMEOUT, client.session(request))
            .await
            .map_err(|_| SessionError::Timeout(OPEN_TIMEOUT))?
            .map_err(SessionError::Open)?;
        let mut down = response.into_inner();

        let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
        let (mut ours_read, mut ours_write) = tokio::io::split(ours);
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; UP_CHUNK];
            loop {
                match ours_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if up_tx.send(BytesMessage { data: buf[..n].to_vec() }).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let down = tokio::spawn(async move {
            while let Ok(Some(msg)) = down.message().await {
                if ours_write.write_all(&msg.data).await.is_err() {
                    break;
                }
            }
            let _ = ours_write.shutdown().await;
        });
        // One connection, then an incoming stream that never ends: the
        // server must not start shutting down when its accept loop runs dry.
        let incoming = tokio_stream::once(Ok::<_, io::Error>(theirs)).chain(tokio_stream::pending());
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder().serve_with_incoming(router, incoming).await;
        });
        Ok(Session { id, counters, tasks: vec![up, down, server] })
    }

    /// What the session's file transfers sent so far.
    pub fn counters(&self) -> &TransferCounters {
        &self.counters
    }

    /// File data bytes sent so far (all locals).
    pub fn bytes_sent(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Ends the session: the stream closes and the daemon drops it.
    pub async fn close(mut self) {
        self.stop();
        // Let the stream's end reach the connection.
        tokio::task::yield_now().await;
    }

    fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop();
    }
}

fn header_value(value: &str) -> MetadataValue<tonic::metadata::Ascii> {
    // Values are ids, names and method paths; anything not ASCII is dropped.
    let clean: String = value.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
    MetadataValue::try_from(clean.as_str()).unwrap_or_else(|_| MetadataValue::from_static(""))
}

/// A random session id (25 lower-case base-36 characters, like BuildKit's).
fn new_id() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 25];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = nanos ^ (u128::from(std::process::id()) << 64);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8 ^ (i as u8).wrapping_mul(31);
        }
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

/// The health check BuildKit polls.
#[derive(Debug, Clone, Copy)]
struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, _: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 }))
    }
}

/// Routes the session's gRPC calls by service path.
#[derive(Clone)]
struct Router {
    health: HealthServer<HealthService>,
    filesync: Option<FileSyncServer<filesync::FileSyncService>>,
    secrets: Option<SecretsServer<secrets::SecretsService>>,
    ssh: Option<SshServer<ssh::SshService>>,
    auth: AuthServer<auth::AuthService>,
    filesend: Option<filesend::FileSendService>,
    content: Option<ContentServer<content::ContentService>>,
}

impl Router {
    fn new(opts: SessionOptions, counters: Arc<TransferCounters>) -> Result<Router, SessionError> {
        let mut dirs = BTreeMap::new();
        for (name, path) in &opts.locals {
            match std::fs::metadata(path) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(SessionError::Local {
                        name: name.clone(),
                        path: path.clone(),
                        source: io::Error::other("not a directory"),
                    });
                }
                Err(source) => return Err(SessionError::Local { name: name.clone(), path: path.clone(), source }),
            }
            let excludes = opts.local_excludes.get(name).cloned().unwrap_or_default();
            dirs.insert(name.clone(), filesync::LocalDir { dir: path.clone(), excludes });
        }
        let mut sockets = BTreeMap::new();
        for spec in &opts.ssh {
            let path = match spec.paths.first() {
                Some(path) => path.clone(),
                None => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).ok_or_else(|| SessionError::Ssh {
                    id: spec.id.clone(),
                    reason: "no agent socket given and $SSH_AUTH_SOCK is not set".into(),
                })?,
            };
            let is_socket = std::fs::metadata(&path).map(|m| {
                use std::os::unix::fs::FileTypeExt as _;
                m.file_type().is_socket()
            });
            match is_socket {
                Ok(true) => {}
                Ok(false) => {
                    return Err(SessionError::Ssh {
                        id: spec.id.clone(),
                        reason: format!("{} is not an agent socket (key files are not supported)", path.display()),
                    });
                }
                Err(e) => {
                    return Err(SessionError::Ssh { id: spec.id.clone(), reason: format!("{}: {e}", path.display()) });
                }
            }
            sockets.insert(spec.id.clone(), path);
        }
        let config_dir = opts
            .docker_config
            .clone()
            .or_else(|| std::env::var_os("DOCKER_CONFIG").map(PathBuf::from))
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        let max = usize::MAX;
        Ok(Router {
            health: HealthServer::new(HealthService),
            filesync: (!dirs.is_empty()).then(|| {
                FileSyncServer::new(filesync::FileSyncService::new(dirs, counters))
                    .max_decoding_message_size(max)
                    .max_encoding_message_size(max)
            }),
            secrets: (!opts.secrets.is_empty()).then(|| SecretsServer::new(secrets::SecretsService::new(opts.secrets))),
            ssh: (!sockets.is_empty()).then(|| SshServer::new(ssh::SshService::new(sockets))),
            auth: AuthServer::new(auth::AuthService::new(config_dir.join("config.json"))),
            filesend: opts.output.map(filesend::FileSendService::new),
            content: (!opts.content_stores.is_empty()).then(|| {
                ContentServer::new(content::ContentService::new(opts.content_stores))
                    .max_decoding_message_size(max)
                    .max_encoding_message_size(max)
            }),
        })
    }

    /// The full method names the session serves (the method headers).
    fn methods(&self) -> Vec<String> {
        let mut methods = vec!["/grpc.health.v1.Health/Check".to_string()];
        if self.filesync.is_some() {
            methods.push("/moby.filesync.v1.FileSync/DiffCopy".into());
        }
        if self.secrets.is_some() {
            methods.push("/moby.buildkit.secrets.v1.Secrets/GetSecret".into());
        }
        if self.ssh.is_some() {
            methods.push("/moby.sshforward.v1.SSH/CheckAgent".into());
            methods.push("/moby.sshforward.v1.SSH/ForwardAgent".into());
        }
        if self.filesend.is_some() {
            methods.push(filesend::METHOD.into());
        }
        if self.content.is_some() {
            methods.extend(content::METHODS.iter().map(|m| format!("/{}/{m}", content::SERVICE)));
        }
        for m in ["Credentials", "FetchToken", "GetTokenAuthority", "VerifyTokenAuthority"] {
            methods.push(format!("/moby.filesync.v1.Auth/{m}"));
        }
        methods
    }
}

type RouteFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl tower::Service<http::Request<Body>> for Router {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = RouteFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> RouteFuture {
        let path = req.uri().path().to_string();
        let service = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        match service {
            "grpc.health.v1.Health" => return Box::pin(self.health.call(req)),
            "moby.filesync.v1.Auth" => return Box::pin(self.auth.call(req)),
            "moby.filesync.v1.FileSync" => {
                if let Some(s) = self.filesync.as_mut() {
                    return Box::pin(s.call(req));
                }
            }
            "moby.buildkit.secrets.v1.Secrets" => {
                if let Some(s) = self.secrets.as_mut() {
                    return Box::pin(s.call(req));
                }
            }
            "moby.filesync.v1.FileSend" if path == filesend::METHOD => {
                if let Some(s) = self.filesend.clone() {
                    return Box::pin(async move {
                        let mut grpc = tonic::server::Grpc::new(filesend::RawCodec)
                            .apply_max_message_size_config(Some(usize::MAX), Some(usize::MAX));
                        Ok(grpc.streaming(filesend::DiffCopy(s), req).await)
                    });
                }
            }
            content::SERVICE => {
                if let Some(s) = self.content.as_mut() {
                    return Box::pin(s.call(req));
                }
            }
            "moby.sshforward.v1.SSH" => {
                if let Some(s) = self.ssh.as_mut() {
                    return Box::pin(s.call(req));
                }
            }
            _ => {}
        }
        let status = Status::unimplemented(format!("luakit's session does not serve {path}"));
        Box::pin(async move { Ok(status.into_http()) })
    }
}

#[cfg(test)]
mod tests;
