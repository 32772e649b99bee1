//! A client of BuildKit's Control API (the service `buildctl build` talks
//! to), reached through a Docker daemon's API socket: dockerd serves its
//! built-in BuildKit's Control service at `POST /grpc` after an HTTP/1.1
//! `Upgrade: h2c` handshake (the way buildx's `docker` driver talks to it).
//! [`solve_on_docker`] solves a Definition there and exports the result as a
//! Docker image with Docker's `moby` exporter — what `buildctl build
//! --output type=image,name=…` does, for Docker users without buildctl.
//!
//! Docker's exporter (Docker 20.10, BuildKit v0.8) accepts a
//! `containerimage.config` attribute but then takes the image config only
//! from a frontend's result metadata, so an image solved this way gets its
//! filesystem and no config; the frontend is the route to a configured
//! image on Docker. BuildKit's own image exporter (buildkitd) does apply the
//! attribute.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper_util::rt::TokioIo;
use luakit_llb::pb;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use luakit_image_config::CONFIG_METADATA_KEY;

use crate::pb::moby::buildkit::v1 as control;
use crate::pb::moby::buildkit::v1::control_client::ControlClient;

/// Docker's image exporter (it stores the image in the daemon's image store).
pub const DOCKER_EXPORTER: &str = "moby";

/// The exporter attribute naming the image.
const NAME_ATTR: &str = "name";

/// How long the h2c handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest HTTP response head accepted in the handshake.
const MAX_HANDSHAKE_RESPONSE: usize = 64 * 1024;

/// How long to wait for the progress stream to end after the solve returned.
const STATUS_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Failures of [`solve_on_docker`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The async runtime could not be started.
    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),
    /// The gRPC channel to the daemon could not be set up (the cause says
    /// why: socket, handshake).
    #[error("cannot connect to the Docker daemon's BuildKit at {socket}")]
    Connect {
        /// The daemon's unix socket.
        socket: PathBuf,
        /// What went wrong.
        #[source]
        source: tonic::transport::Error,
    },
    /// BuildKit's `Control.Solve` failed (the build failed, or the daemon
    /// refused the request).
    #[error("BuildKit solve failed: {}", .0.message())]
    Solve(#[source] tonic::Status),
}

/// What [`solve_on_docker`] reports while the build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A step started (its name, as `buildctl --progress=plain` shows it).
    Started(String),
    /// A step finished; `cached` when BuildKit reused a cached result.
    Done {
        /// The step's name.
        name: String,
        /// Whether the result came from the cache.
        cached: bool,
    },
    /// A step failed with this error.
    Failed {
        /// The step's name.
        name: String,
        /// BuildKit's error.
        error: String,
    },
    /// Output of a running step (stdout or stderr bytes).
    Log(Vec<u8>),
}

/// Solves `def` on the BuildKit built into the Docker daemon listening on
/// `socket` and stores the result as the image `image_name` (several names
/// may be given comma-separated, as with buildctl's `name=`; empty for an
/// untagged image), with
/// `image_config_json` (an OCI image config, as `luakit build
/// --image-config` writes it) passed as the `containerimage.config` exporter
/// attribute (which Docker 20.10's exporter ignores; see the module docs). Calls `progress` for every
/// step event. Returns the exporter's response (`containerimage.digest`, …).
///
/// No client session is attached, so the Definition must not read local
/// sources (`bk.local_`), secrets or SSH agents from the client.
pub fn solve_on_docker(
    socket: &Path,
    def: pb::Definition,
    image_name: &str,
    image_config_json: Option<Vec<u8>>,
    progress: &mut dyn FnMut(Progress),
) -> Result<BTreeMap<String, String>, ControlError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ControlError::Runtime)?;
    let mut attrs = BTreeMap::new();
    if !image_name.is_empty() {
        attrs.insert(NAME_ATTR.to_string(), image_name.to_string());
    }
    if let Some(config) = image_config_json {
        attrs.insert(CONFIG_METADATA_KEY.to_string(), String::from_utf8_lossy(&config).into_owned());
    }
    let req = control::SolveRequest {
        r#ref: unique_ref(),
        definition: Some(def),
        exporter: DOCKER_EXPORTER.to_string(),
        exporter_attrs: attrs,
        ..Default::default()
    };
    rt.block_on(solve(socket, req, progress))
}

/// A build reference unique to this call: BuildKit keys its jobs and their
/// progress streams by it.
fn unique_ref() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("luakit-{}-{nanos:x}-{n}", std::process::id())
}

async fn solve(
    socket: &Path,
    req: control::SolveRequest,
    progress: &mut dyn FnMut(Progress),
) -> Result<BTreeMap<String, String>, ControlError> {
    let channel = connect(socket).await?;
    let mut client =
        ControlClient::new(channel).max_decoding_message_size(usize::MAX).max_encoding_message_size(usize::MAX);
    let mut status_client = client.clone();
    let status_req = control::StatusRequest { r#ref: req.r#ref.clone() };

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let status = tokio::spawn(async move {
        // Progress is best effort: a failing status stream does not fail the build.
        if let Ok(resp) = status_client.status(status_req).await {
            let mut stream = resp.into_inner();
            while let Ok(Some(msg)) = stream.message().await {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        }
    });

    let mut tracker = Tracker::default();
    let solved = {
        let call = client.solve(req);
        tokio::pin!(call);
        loop {
            tokio::select! {
                result = &mut call => break result,
                Some(msg) = rx.recv() => tracker.report(&msg, progress),
            }
        }
    };
    // The stream ends once the job is done; report what is left of it.
    let _ = tokio::time::timeout(STATUS_DRAIN_TIMEOUT, async {
        while let Some(msg) = rx.recv().await {
            tracker.report(&msg, progress);
        }
    })
    .await;
    status.abort();
    let resp = solved.map_err(ControlError::Solve)?.into_inner();
    Ok(resp.exporter_response)
}

/// Turns status messages into [`Progress`] events, once per step state.
#[derive(Default)]
struct Tracker {
    started: std::collections::BTreeSet<String>,
    done: std::collections::BTreeSet<String>,
}

impl Tracker {
    fn report(&mut self, msg: &control::StatusResponse, progress: &mut dyn FnMut(Progress)) {
        for v in &msg.vertexes {
            if v.started.is_some() && self.started.insert(v.digest.clone()) {
                progress(Progress::Started(v.name.clone()));
            }
            if !v.error.is_empty() {
                if self.done.insert(v.digest.clone()) {
                    progress(Progress::Failed { name: v.name.clone(), error: v.error.clone() });
                }
            } else if (v.completed.is_some() || v.cached) && self.done.insert(v.digest.clone()) {
                progress(Progress::Done { name: v.name.clone(), cached: v.cached });
            }
        }
        for log in &msg.logs {
            progress(Progress::Log(log.msg.clone()));
        }
    }
}

/// A gRPC channel to the daemon's BuildKit: each (re)connection opens the
/// unix socket and upgrades `POST /grpc` to h2c.
pub async fn connect(socket: &Path) -> Result<Channel, ControlError> {
    let path = socket.to_path_buf();
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move {
            let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, upgrade(&path))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the h2c upgrade handshake timed out"))??;
            Ok::<_, io::Error>(TokioIo::new(stream))
        }
    });
    Endpoint::from_static("http://docker")
        .connect_with_connector(connector)
        .await
        .map_err(|source| ControlError::Connect { socket: socket.to_path_buf(), source })
}

/// Opens `socket` and performs Docker's `POST /grpc` h2c upgrade; the
/// returned stream speaks HTTP/2 (gRPC) from then on.
async fn upgrade(socket: &Path) -> io::Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {}: {e}", socket.display())))?;
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
                "the daemon closed the connection during the h2c upgrade",
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
    fn refs_are_unique() {
        assert_ne!(unique_ref(), unique_ref());
    }

    #[test]
    fn tracker_reports_each_state_once() {
        let vertex = |started: bool, completed: bool, cached: bool, error: &str| control::Vertex {
            digest: "sha256:a".to_string(),
            name: "step".to_string(),
            started: started.then(prost_types::Timestamp::default),
            completed: completed.then(prost_types::Timestamp::default),
            cached,
            error: error.to_string(),
            ..Default::default()
        };
        let mut events = Vec::new();
        let mut t = Tracker::default();
        for v in [vertex(true, false, false, ""), vertex(true, false, false, ""), vertex(true, true, false, "")] {
            t.report(&control::StatusResponse { vertexes: vec![v], ..Default::default() }, &mut |p| events.push(p));
        }
        assert_eq!(
            events,
            [Progress::Started("step".to_string()), Progress::Done { name: "step".to_string(), cached: false }]
        );
    }

    #[test]
    fn a_missing_socket_is_a_connect_error() {
        let dir = std::env::temp_dir().join(format!("luakit-no-such-socket-{}", unique_ref()));
        let err =
            solve_on_docker(&dir, pb::Definition::default(), "x", None, &mut |_| {}).expect_err("no daemon there");
        assert!(matches!(err, ControlError::Connect { .. }), "{err:?}");
    }
}
