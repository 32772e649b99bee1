//! `moby.sshforward.v1.SSH`: forwards the daemon's SSH agent connections
//! (`bk.ssh` mounts) to an agent socket on the client. `CheckAgent{ID}`
//! says whether an id is configured; `ForwardAgent` (metadata
//! `buildkit.ssh.id`, `default` when absent) is one agent connection,
//! carried as a stream of byte messages both ways.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::pb::moby::sshforward::v1::ssh_server::Ssh;
use crate::pb::moby::sshforward::v1::{BytesMessage, CheckAgentRequest, CheckAgentResponse};

/// The id the daemon uses when a mount names none.
pub const DEFAULT_ID: &str = "default";

/// The metadata key naming the forwarded id.
const KEY_ID: &str = "buildkit.ssh.id";

/// The SSH service: agent sockets by id.
#[derive(Debug, Clone)]
pub struct SshService {
    sockets: Arc<BTreeMap<String, PathBuf>>,
}

impl SshService {
    /// Serves `sockets` by id.
    pub fn new(sockets: BTreeMap<String, PathBuf>) -> Self {
        SshService { sockets: Arc::new(sockets) }
    }

    fn socket(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_ID } else { id };
        self.sockets.get(id).ok_or_else(|| Status::not_found(format!("unset ssh forward key {id}")))
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = Result<BytesMessage, Status>> + Send>>;

#[tonic::async_trait]
impl Ssh for SshService {
    type ForwardAgentStream = ByteStream;

    async fn check_agent(&self, request: Request<CheckAgentRequest>) -> Result<Response<CheckAgentResponse>, Status> {
        self.socket(&request.into_inner().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    async fn forward_agent(&self, request: Request<Streaming<BytesMessage>>) -> Result<Response<ByteStream>, Status> {
        let id = request.metadata().get(KEY_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let path = self.socket(&id)?.clone();
        let conn = tokio::net::UnixStream::connect(&path)
            .await
            .map_err(|e| Status::unavailable(format!("cannot connect to the SSH agent at {}: {e}", path.display())))?;
        let (mut read, mut write) = conn.into_split();
        let mut incoming = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let upstream = tokio::spawn(async move {
            while let Ok(Some(msg)) = incoming.message().await {
                if write.write_all(&msg.data).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(Ok(BytesMessage { data: buf[..n].to_vec() })).await.is_err() {
                            break;
                        }
                    }
                }
            }
            upstream.abort();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
