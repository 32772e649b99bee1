//! A client of BuildKit's Control API (the service `buildctl build` talks
//! to): [`solve`] sends `Control.Solve` and follows `Control.Status` for its
//! progress, optionally running a gateway build on the same connection
//! while the solve waits for it (BuildKit's gateway forwarder: a Solve
//! with neither a Definition nor a frontend, whose `LLBBridge` calls carry
//! the solve's ref in the `buildkit-controlapi-buildid` header, as Go's
//! `client.Build` does).
//!
//! Exporters: `image` (buildkitd: `name`, `push`, `containerimage.config`),
//! `moby` (a Docker daemon's image store; Docker 20.10's takes the image
//! config only from a frontend's result, which the gateway route gives it).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tonic::transport::Channel;

use crate::addr::MAX_MESSAGE;
use crate::pb::moby::buildkit::v1 as control;
use crate::pb::moby::buildkit::v1::control_client::ControlClient;

pub use control::{CacheOptions, CacheOptionsEntry, SolveRequest, StatusResponse};

/// Docker's image exporter (it stores the image in the daemon's image store).
pub const DOCKER_EXPORTER: &str = "moby";

/// BuildKit's image exporter.
pub const IMAGE_EXPORTER: &str = "image";

/// How long to wait for the progress stream to end after the solve returned.
const STATUS_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A gateway build run alongside the solve; `Err` is why it could not talk
/// to BuildKit (the solve is then abandoned).
pub type Gateway = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Why a [`solve`] failed: BuildKit answered `Control.Solve` with an error
/// status (the build failed, or the request was refused), or the gateway
/// build running alongside could not talk to BuildKit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// BuildKit's `Control.Solve` failed (the build failed, or the daemon
    /// refused the request).
    #[error("{}", .0.message())]
    Solve(#[source] tonic::Status),
    /// The gateway build could not talk to BuildKit.
    #[error("{0}")]
    Gateway(String),
}

/// A build reference unique to this call: BuildKit keys its jobs and their
/// progress streams by it.
pub fn new_ref() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("luakit-{}-{nanos:x}-{n}", std::process::id())
}

/// Solves `req` on `channel`, calling `on_status` for every status message
/// of its ref, with `gateway` (if any) running alongside. Returns the
/// exporter's response (`containerimage.digest`, …).
pub async fn solve(
    channel: Channel,
    req: SolveRequest,
    gateway: Option<Gateway>,
    on_status: &mut dyn FnMut(&StatusResponse),
) -> Result<BTreeMap<String, String>, ControlError> {
    let mut client =
        ControlClient::new(channel).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE);
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

    let mut gateway = gateway;
    let solved = {
        let call = client.solve(req);
        tokio::pin!(call);
        loop {
            tokio::select! {
                result = &mut call => break result,
                Some(r) = async { match gateway.as_mut() { Some(g) => Some(g.await), None => None } } => {
                    gateway = None;
                    if let Err(why) = r {
                        status.abort();
                        return Err(ControlError::Gateway(why));
                    }
                }
                Some(msg) = rx.recv() => on_status(&msg),
            }
        }
    };
    // The stream ends once the job is done; report what is left of it.
    let _ = tokio::time::timeout(STATUS_DRAIN_TIMEOUT, async {
        while let Some(msg) = rx.recv().await {
            on_status(&msg);
        }
    })
    .await;
    status.abort();
    let resp = solved.map_err(ControlError::Solve)?.into_inner();
    Ok(resp.exporter_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_unique() {
        assert_ne!(new_ref(), new_ref());
    }
}
