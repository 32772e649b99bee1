//! Where BuildKit is, and a gRPC channel to it.
//!
//! The address is `--addr`, else `BUILDKIT_HOST`, else
//! `unix:///run/buildkit/buildkitd.sock` when that socket exists, else the
//! Docker daemon (`DOCKER_HOST`, else `/var/run/docker.sock`). Forms:
//! `unix:///PATH` (buildkitd), `tcp://HOST:PORT` (buildkitd, plain or TLS:
//! [`crate::tls`]),
//! `docker-container://NAME` (`docker exec -i NAME buildctl dial-stdio`),
//! `docker://` or `docker://unix:///PATH` / `docker://tcp://HOST:PORT` (a
//! Docker daemon's built-in BuildKit, reached through `POST /grpc`, upgraded
//! to h2c, the way buildx's `docker` driver reaches it).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixStream};
use tonic::transport::{Channel, Endpoint, Uri};

/// BuildKit's default socket.
pub const DEFAULT_BUILDKIT_SOCKET: &str = "/run/buildkit/buildkitd.sock";

/// Docker's default socket.
pub const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// The largest gRPC message sent or received (as buildctl: 16 MiB).
pub(crate) const MAX_MESSAGE: usize = 16 << 20;

/// How long connecting (and the h2c upgrade) may take by default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The largest HTTP response head accepted in Docker's h2c handshake.
const MAX_HANDSHAKE_RESPONSE: usize = 64 * 1024;

/// Where BuildKit is, in one of the forms `--addr` and `BUILDKIT_HOST`
/// take ([`Address::parse`]); [`Address::connect`] opens a gRPC channel to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// buildkitd on a unix socket.
    Unix(PathBuf),
    /// buildkitd on TCP (`host:port`), plain.
    Tcp(String),
    /// buildkitd in a container, through `docker exec -i NAME buildctl dial-stdio`.
    DockerContainer(String),
    /// A Docker daemon's built-in BuildKit: its API on a unix socket.
    DockerUnix(PathBuf),
    /// A Docker daemon's built-in BuildKit: its API on TCP (`host:port`).
    DockerTcp(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix://{}", p.display()),
            Address::Tcp(h) => write!(f, "tcp://{h}"),
            Address::DockerContainer(n) => write!(f, "docker-container://{n}"),
            Address::DockerUnix(p) => write!(f, "docker://unix://{}", p.display()),
            Address::DockerTcp(h) => write!(f, "docker://tcp://{h}"),
        }
    }
}

/// An address that cannot be used, or a connection that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The text is not an address luakit knows.
    #[error(
        "invalid BuildKit address {text:?}: {why} (expected unix:///PATH, tcp://HOST:PORT, \
         docker-container://NAME or docker://[unix:///PATH|tcp://HOST:PORT])"
    )]
    Invalid {
        /// The address as given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Nothing answered at the address (or not gRPC, or too slowly).
    #[error("cannot connect to BuildKit at {addr}: {why}")]
    Connect {
        /// The address.
        addr: String,
        /// What happened.
        why: String,
    },
}

impl Address {
    /// Parses one of the forms of the module docs.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        let invalid = |why| AddressError::Invalid { text: text.to_string(), why };
        let host_port = |rest: &str| -> Result<String, AddressError> {
            let rest = rest.trim_end_matches('/');
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(rest.to_string()),
                _ => Err(invalid("a TCP address needs HOST:PORT")),
            }
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("no socket path"));
            }
            Ok(Address::Unix(PathBuf::from(path)))
        } else if let Some(rest) = text.strip_prefix("tcp://") {
            Ok(Address::Tcp(host_port(rest)?))
        } else if let Some(name) = text.strip_prefix("docker-container://") {
            let name = name.trim_end_matches('/');
            if name.is_empty() || name.starts_with('-') || name.contains(char::is_whitespace) {
                return Err(invalid("no container name"));
            }
            Ok(Address::DockerContainer(name.to_string()))
        } else if let Some(rest) = text.strip_prefix("docker://") {
            if rest.is_empty() {
                return Ok(Address::DockerUnix(docker_host_socket()?));
            }
            if let Some(path) = rest.strip_prefix("unix://") {
                if path.is_empty() {
                    return Err(invalid("no socket path"));
                }
                return Ok(Address::DockerUnix(PathBuf::from(path)));
            }
            if let Some(hp) = rest.strip_prefix("tcp://") {
                return Ok(Address::DockerTcp(host_port(hp)?));
            }
            if rest.starts_with('/') {
                return Ok(Address::DockerUnix(PathBuf::from(rest)));
            }
            Err(invalid("after docker:// comes nothing, unix:///PATH or tcp://HOST:PORT"))
        } else {
            Err(invalid("unknown scheme"))
        }
    }

    /// The address to use: `explicit` (`--addr`), else `BUILDKIT_HOST`,
    /// else buildkitd's default socket when it exists, else the Docker
    /// daemon of `DOCKER_HOST` or its default socket.
    pub fn resolve(explicit: Option<&str>) -> Result<Address, AddressError> {
        Self::resolve_with(explicit, |k| std::env::var(k).ok(), |p| p.exists())
    }

    /// [`Address::resolve`] with the environment and the file system given.
    pub fn resolve_with(
        explicit: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        exists: impl Fn(&Path) -> bool,
    ) -> Result<Address, AddressError> {
        if let Some(a) = explicit {
            return Address::parse(a);
        }
        if let Some(a) = env("BUILDKIT_HOST").filter(|a| !a.is_empty()) {
            return Address::parse(&a);
        }
        if exists(Path::new(DEFAULT_BUILDKIT_SOCKET)) {
            return Ok(Address::Unix(PathBuf::from(DEFAULT_BUILDKIT_SOCKET)));
        }
        match env("DOCKER_HOST").filter(|a| !a.is_empty()) {
            Some(h) => match Address::parse(&format!("docker://{h}"))? {
                Address::DockerUnix(p) => Ok(Address::DockerUnix(p)),
                Address::DockerTcp(h) => Ok(Address::DockerTcp(h)),
                _ => Err(AddressError::Invalid { text: h, why: "DOCKER_HOST must be unix:// or tcp://" }),
            },
            None => Ok(Address::DockerUnix(PathBuf::from(DEFAULT_DOCKER_SOCKET))),
        }
    }

    /// Whether this is a Docker daemon (its `moby` exporter, `--load`).
    pub fn is_docker(&self) -> bool {
        matches!(self, Address::DockerUnix(_) | Address::DockerTcp(_))
    }

    /// Opens a gRPC channel, within `timeout` (the h2c upgrade included).
    pub async fn connect(&self, timeout: Duration) -> Result<Channel, AddressError> {
        self.connect_with(timeout, None).await
    }

    /// [`Address::connect`], over TLS when `tls` is given (`tcp://` only;
    /// see [`crate::tls::load`]).
    pub async fn connect_with(
        &self,
        timeout: Duration,
        tls: Option<&crate::tls::Tls>,
    ) -> Result<Channel, AddressError> {
        if tls.is_some() && !matches!(self, Address::Tcp(_)) {
            return Err(AddressError::Connect {
                addr: self.to_string(),
                why: "TLS options (--tlscacert, --tlscert, --tlskey) need a tcp:// address".to_string(),
            });
        }
        let addr = self.clone();
        let tls = tls.cloned();
        let connector = tower::service_fn(move |_: Uri| {
            let addr = addr.clone();
            let tls = tls.clone();
            async move { Ok::<_, io::Error>(TokioIo::new(addr.open(tls.as_ref()).await?)) }
        });
        let endpoint = Endpoint::from_static("http://buildkitd");
        let attempt = endpoint.connect_with_connector(connector);
        let err = |why: String| AddressError::Connect { addr: self.to_string(), why };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(e)) => Err(err(transport_cause(&e))),
            Err(_) => Err(err(format!("no answer within {}s", timeout.as_secs()))),
        }
    }

    /// One connection, speaking HTTP/2 from then on.
    async fn open(&self, tls: Option<&crate::tls::Tls>) -> io::Result<Box<dyn Stream>> {
        let ctx = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        Ok(match self {
            Address::Unix(p) => Box::new(UnixStream::connect(p).await.map_err(ctx(p.display().to_string()))?),
            Address::Tcp(h) if tls.is_some() => {
                let tls = tls.ok_or_else(|| io::Error::other("no TLS"))?;
                let s = TcpStream::connect(h.as_str()).await.map_err(ctx(h.clone()))?;
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let s = connector
                    .connect(tls.server_name.clone(), s)
                    .await
                    .map_err(|e| io::Error::new(e.kind(), crate::tls::explain(&e, h)))?;
                Box::new(s)
            }
            Address::Tcp(h) => Box::new(TcpStream::connect(h.as_str()).await.map_err(ctx(h.clone()))?),
            Address::DockerUnix(p) => {
                let s = UnixStream::connect(p).await.map_err(ctx(p.display().to_string()))?;
                Box::new(upgrade(s).await.map_err(upgrade_failed)?)
            }
            Address::DockerTcp(h) => {
                let s = TcpStream::connect(h.as_str()).await.map_err(ctx(h.clone()))?;
                Box::new(upgrade(s).await.map_err(upgrade_failed)?)
            }
            Address::DockerContainer(name) => Box::new(dial_stdio(name)?),
        })
    }
}

/// A failed h2c upgrade, saying what was tried.
fn upgrade_failed(e: io::Error) -> io::Error {
    if e.to_string().contains("h2c") {
        return e;
    }
    io::Error::new(e.kind(), format!("Docker's POST /grpc h2c upgrade failed: {e} (is this a Docker daemon?)"))
}

/// `DOCKER_HOST`'s socket, else Docker's default.
fn docker_host_socket() -> Result<PathBuf, AddressError> {
    match std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        Some(h) => match h.strip_prefix("unix://") {
            Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
            _ => Err(AddressError::Invalid {
                text: h,
                why: "docker:// uses DOCKER_HOST, which must then be unix:///PATH",
            }),
        },
        None => Ok(PathBuf::from(DEFAULT_DOCKER_SOCKET)),
    }
}

/// The innermost cause of a transport error, without library internals.
fn transport_cause(e: &tonic::transport::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A byte stream the channel speaks HTTP/2 on.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// `docker exec -i NAME buildctl dial-stdio`: its stdin and stdout are the
/// connection to the container's buildkitd. The process ends with the
/// connection (it is killed when the stream is dropped).
fn dial_stdio(name: &str) -> io::Result<impl Stream> {
    let mut child = tokio::process::Command::new("docker")
        .args(["exec", "-i", name, "buildctl", "dial-stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            io::Error::new(e.kind(), format!("cannot run `docker exec -i {name} buildctl dial-stdio`: {e}"))
        })?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other("docker exec has no stdin or stdout"));
    };
    Ok(ChildStream { _child: child, io: tokio::io::join(stdout, stdin) })
}

/// The pipes of a child process as one stream, keeping the child.
struct ChildStream {
    _child: tokio::process::Child,
    io: tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
}

impl AsyncRead for ChildStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ChildStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Docker's `POST /grpc` h2c upgrade on `stream`; the stream speaks
/// HTTP/2 (gRPC) afterwards.
pub(crate) async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<S> {
    stream
        .write_all(
            b"POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
        )
        .await?;
    // Read the response head byte by byte: anything after it is HTTP/2.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HANDSHAKE_RESPONSE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the h2c upgrade response is too long"));
        }
        if stream.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the daemon closed the connection during the h2c upgrade (is this a Docker daemon?)",
            ));
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default();
    if !status_line.contains(" 101 ") {
        return Err(io::Error::other(format!(
            "the daemon did not upgrade POST /grpc to h2c (answered {status_line:?}; \
             is this a Docker daemon with BuildKit, 18.09 or newer?)"
        )));
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(Address::parse("unix:///run/b.sock").ok(), Some(Address::Unix("/run/b.sock".into())));
        assert_eq!(Address::parse("tcp://127.0.0.1:1234").ok(), Some(Address::Tcp("127.0.0.1:1234".into())));
        assert_eq!(Address::parse("docker-container://bk").ok(), Some(Address::DockerContainer("bk".into())));
        assert_eq!(Address::parse("docker://unix:///d.sock").ok(), Some(Address::DockerUnix("/d.sock".into())));
        assert_eq!(Address::parse("docker://tcp://h:2375").ok(), Some(Address::DockerTcp("h:2375".into())));
        for bad in
            ["", "http://x", "tcp://nohost", "tcp://h:notaport", "unix://", "docker-container://", "docker://ftp://x"]
        {
            let e = Address::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("invalid BuildKit address"), "{e}");
        }
    }

    #[test]
    fn resolves_in_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string())
        };
        let r = |e: Option<&str>, vars, bk: bool| {
            Address::resolve_with(e, env(vars), |p| bk && p == Path::new(DEFAULT_BUILDKIT_SOCKET)).ok()
        };
        let bk_host = &[("BUILDKIT_HOST", "tcp://b:1"), ("DOCKER_HOST", "unix:///d.sock")];
        assert_eq!(r(Some("unix:///x"), bk_host, true), Some(Address::Unix("/x".into())));
        assert_eq!(r(None, bk_host, true), Some(Address::Tcp("b:1".into())));
        let docker_host = &[("DOCKER_HOST", "unix:///d.sock")];
        assert_eq!(r(None, docker_host, true), Some(Address::Unix(DEFAULT_BUILDKIT_SOCKET.into())));
        assert_eq!(r(None, docker_host, false), Some(Address::DockerUnix("/d.sock".into())));
        assert_eq!(r(None, &[], false), Some(Address::DockerUnix(DEFAULT_DOCKER_SOCKET.into())));
    }

    #[test]
    fn a_missing_socket_is_a_clear_connect_error() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let addr = Address::Unix(std::env::temp_dir().join("luakit-no-such-buildkitd.sock"));
        let e = rt.block_on(addr.connect(Duration::from_secs(5))).expect_err("nothing there").to_string();
        assert!(e.starts_with("cannot connect to BuildKit at unix://"), "{e}");
        assert!(e.contains("No such file"), "{e}");
    }

    #[test]
    fn a_silent_peer_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let e = rt
            .block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = Address::DockerTcp(listener.local_addr().expect("addr").to_string());
                // Accepts and never answers the upgrade.
                let _hold = tokio::spawn(async move {
                    let kept = listener.accept().await;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(kept);
                });
                addr.connect(Duration::from_millis(300)).await
            })
            .expect_err("silent")
            .to_string();
        assert!(e.contains("no answer within"), "{e}");
    }
}
