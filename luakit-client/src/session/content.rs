//! The session's content stores: containerd's content service
//! (`containerd.services.content.v1.Content`) over directories laid out
//! as OCI layouts (`blobs/sha256/HEX`). BuildKit's local cache exporter
//! writes its blobs here and its importer reads them back; each call names
//! its store in the `buildkit-attachable-store-id` header, `local:DIR` for
//! a cache directory `DIR` as the user gave it.
//!
//! A write is a stream: a first message (usually a status request) names
//! the ingestion (`ref`) and may give the expected size and digest, then
//! data arrives at the current offset, and a commit checks size and digest
//! and moves the bytes into place. Unfinished data lives under the store's
//! `ingest/` and is dropped when its stream ends without a commit. Digests
//! are checked to be `sha256:` and 64 hex digits before any path is built
//! from them.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::pb::containerd::services::content::v1::content_server::Content;
use crate::pb::containerd::services::content::v1::{
    AbortRequest, DeleteContentRequest, Info, InfoRequest, InfoResponse, ListContentRequest, ListContentResponse,
    ListStatusesRequest, ListStatusesResponse, ReadContentRequest, ReadContentResponse, Status as IngestStatus,
    StatusRequest, StatusResponse, UpdateRequest, UpdateResponse, WriteAction, WriteContentRequest,
    WriteContentResponse,
};

/// The gRPC service name.
pub(crate) const SERVICE: &str = "containerd.services.content.v1.Content";

/// The methods the session announces for it.
pub(crate) const METHODS: &[&str] =
    &["Info", "Update", "List", "Delete", "Read", "Status", "ListStatuses", "Write", "Abort"];

/// The header naming the store a call is for.
pub(crate) const STORE_HEADER: &str = "buildkit-attachable-store-id";

/// The most bytes one read response carries.
const READ_CHUNK: usize = 1 << 20;

/// Ingestions in progress, by (store id, ref).
type Ingests = Arc<Mutex<BTreeMap<(String, String), IngestStatus>>>;

/// Serves content stores by id.
#[derive(Debug, Clone)]
pub(crate) struct ContentService {
    stores: Arc<BTreeMap<String, PathBuf>>,
    ingests: Ingests,
    next: Arc<AtomicU64>,
}

impl ContentService {
    /// Stores by id (`local:DIR` → `DIR`).
    pub(crate) fn new(stores: BTreeMap<String, PathBuf>) -> ContentService {
        ContentService { stores: Arc::new(stores), ingests: Arc::default(), next: Arc::default() }
    }

    fn store<T>(&self, req: &Request<T>) -> Result<(String, PathBuf), Status> {
        let id = req
            .metadata()
            .get(STORE_HEADER)
            .ok_or_else(|| Status::invalid_argument(format!("request lacks metadata {STORE_HEADER:?}")))?
            .to_str()
            .map_err(|_| Status::invalid_argument(format!("{STORE_HEADER} is not text")))?;
        match self.stores.get(id) {
            Some(dir) => Ok((id.to_string(), dir.clone())),
            None => Err(Status::not_found(format!("unknown store {id}"))),
        }
    }
}

/// The hex part of a `sha256:HEX` digest, refusing anything else.
pub(crate) fn digest_hex(digest: &str) -> Result<&str, Status> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => {
            Ok(hex)
        }
        _ => Err(Status::invalid_argument(format!("{digest:?} is not a sha256 digest"))),
    }
}

/// Where a blob lives in a layout.
pub(crate) fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf, Status> {
    Ok(dir.join("blobs").join("sha256").join(digest_hex(digest)?))
}

fn io_status(what: &str, e: &std::io::Error) -> Status {
    if e.kind() == std::io::ErrorKind::NotFound {
        Status::not_found(format!("{what}: not found"))
    } else {
        Status::internal(format!("{what}: {e}"))
    }
}

async fn info_of(dir: &Path, digest: &str) -> Result<Info, Status> {
    let path = blob_path(dir, digest)?;
    let meta = tokio::fs::metadata(&path).await.map_err(|e| io_status(&format!("content {digest}"), &e))?;
    let modified = meta.modified().ok().map(prost_types::Timestamp::from);
    Ok(Info {
        digest: digest.to_string(),
        size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
        created_at: modified,
        updated_at: modified,
        labels: BTreeMap::new(),
    })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let (_, dir) = self.store(&req)?;
        let info = info_of(&dir, &req.get_ref().digest).await?;
        Ok(Response::new(InfoResponse { info: Some(info) }))
    }

    async fn update(&self, _: Request<UpdateRequest>) -> Result<Response<UpdateResponse>, Status> {
        Err(Status::failed_precondition("update not supported on immutable content store"))
    }

    type ListStream = BoxStream<ListContentResponse>;

    async fn list(&self, req: Request<ListContentRequest>) -> Result<Response<Self::ListStream>, Status> {
        let (_, dir) = self.store(&req)?;
        let mut infos = Vec::new();
        if let Ok(mut entries) = tokio::fs::read_dir(dir.join("blobs").join("sha256")).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
                if let Ok(info) = info_of(&dir, &digest).await {
                    infos.push(info);
                }
            }
        }
        infos.sort_by(|a, b| a.digest.cmp(&b.digest));
        let chunks: Vec<Result<ListContentResponse, Status>> =
            infos.chunks(100).map(|c| Ok(ListContentResponse { info: c.to_vec() })).collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let (_, dir) = self.store(&req)?;
        let digest = &req.get_ref().digest;
        let path = blob_path(&dir, digest)?;
        tokio::fs::remove_file(&path).await.map_err(|e| io_status(&format!("content {digest}"), &e))?;
        Ok(Response::new(()))
    }

    type ReadStream = BoxStream<ReadContentResponse>;

    async fn read(&self, req: Request<ReadContentRequest>) -> Result<Response<Self::ReadStream>, Status> {
        let (_, dir) = self.store(&req)?;
        let r = req.into_inner();
        let path = blob_path(&dir, &r.digest)?;
        let mut file =
            tokio::fs::File::open(&path).await.map_err(|e| io_status(&format!("content {}", r.digest), &e))?;
        let len = file.metadata().await.map_err(|e| io_status(&r.digest, &e))?.len();
        let offset = u64::try_from(r.offset).unwrap_or(0);
        if offset > len {
            return Err(Status::out_of_range(format!("read past object length {len} bytes")));
        }
        let size = match u64::try_from(r.size) {
            Ok(n) if n > 0 && offset + n <= len => n,
            _ => len - offset,
        };
        file.seek(SeekFrom::Start(offset)).await.map_err(|e| io_status(&r.digest, &e))?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let (mut at, end) = (offset, offset + size);
            while at < end {
                let want = usize::try_from(end - at).unwrap_or(READ_CHUNK).min(READ_CHUNK);
                let mut buf = vec![0u8; want];
                let item = match file.read(&mut buf).await {
                    Ok(0) => Err(Status::data_loss(format!("{} ended at {at} bytes", r.digest))),
                    Ok(n) => {
                        buf.truncate(n);
                        let msg = ReadContentResponse { offset: i64::try_from(at).unwrap_or(i64::MAX), data: buf };
                        at += n as u64;
                        Ok(msg)
                    }
                    Err(e) => Err(io_status(&r.digest, &e)),
                };
                let stop = item.is_err();
                if tx.send(item).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn status(&self, req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let (id, _) = self.store(&req)?;
        let r = &req.get_ref().r#ref;
        let ingests = self.ingests.lock().map_err(|_| Status::internal("ingest table poisoned"))?;
        match ingests.get(&(id, r.clone())) {
            Some(s) => Ok(Response::new(StatusResponse { status: Some(s.clone()) })),
            None => Err(Status::not_found(format!("could not get status for ref {r:?}: not found"))),
        }
    }

    async fn list_statuses(&self, req: Request<ListStatusesRequest>) -> Result<Response<ListStatusesResponse>, Status> {
        let (id, _) = self.store(&req)?;
        let ingests = self.ingests.lock().map_err(|_| Status::internal("ingest table poisoned"))?;
        let statuses = ingests.iter().filter(|((s, _), _)| *s == id).map(|(_, st)| st.clone()).collect();
        Ok(Response::new(ListStatusesResponse { statuses }))
    }

    type WriteStream = BoxStream<WriteContentResponse>;

    async fn write(&self, req: Request<Streaming<WriteContentRequest>>) -> Result<Response<Self::WriteStream>, Status> {
        let (id, dir) = self.store(&req)?;
        let mut incoming = req.into_inner();
        let first = match incoming.message().await? {
            Some(first) => first,
            None => return Err(Status::invalid_argument("first message must have a reference")),
        };
        if first.r#ref.is_empty() {
            return Err(Status::invalid_argument("first message must have a reference"));
        }
        let key = (id, first.r#ref.clone());
        {
            let mut ingests = self.ingests.lock().map_err(|_| Status::internal("ingest table poisoned"))?;
            if ingests.contains_key(&key) {
                return Err(Status::unavailable(format!("ref {} locked", first.r#ref)));
            }
            let now = Some(prost_types::Timestamp::from(SystemTime::now()));
            ingests.insert(
                key.clone(),
                IngestStatus {
                    started_at: now,
                    updated_at: now,
                    r#ref: first.r#ref.clone(),
                    offset: 0,
                    total: first.total,
                    expected: first.expected.clone(),
                },
            );
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join("ingest").join(format!("{}-{n}", std::process::id()));
        let mut ingest =
            Ingest { dir, tmp, file: None, hasher: Sha256::new(), offset: 0, total: 0, expected: String::new() };
        let ingests = self.ingests.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                let commit = msg.action == WriteAction::Commit as i32;
                let answer = ingest.step(msg).await;
                let failed = answer.is_err();
                if let (Ok(a), Ok(mut table)) = (&answer, ingests.lock()) {
                    if let Some(s) = table.get_mut(&key) {
                        s.offset = a.offset;
                        s.total = ingest.total;
                        s.expected.clone_from(&ingest.expected);
                        s.updated_at = Some(prost_types::Timestamp::from(SystemTime::now()));
                    }
                }
                if failed || commit {
                    // Clean up before answering: the caller may look next.
                    ingest.discard().await;
                    if let Ok(mut table) = ingests.lock() {
                        table.remove(&key);
                    }
                    let _ = tx.send(answer).await;
                    break;
                }
                if tx.send(answer).await.is_err() {
                    break;
                }
                next = incoming.message().await.ok().flatten();
            }
            ingest.discard().await;
            if let Ok(mut table) = ingests.lock() {
                table.remove(&key);
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn abort(&self, req: Request<AbortRequest>) -> Result<Response<()>, Status> {
        let (id, _) = self.store(&req)?;
        let r = req.get_ref().r#ref.clone();
        let found =
            self.ingests.lock().map_err(|_| Status::internal("ingest table poisoned"))?.contains_key(&(id, r.clone()));
        // An ingestion lives as long as its stream; an active one ends
        // with its stream, there is nothing else to drop.
        if found { Ok(Response::new(())) } else { Err(Status::not_found(format!("ref {r:?}: not found"))) }
    }
}

/// One write stream's state.
struct Ingest {
    dir: PathBuf,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    offset: u64,
    total: i64,
    expected: String,
}

impl Ingest {
    async fn step(&mut self, req: WriteContentRequest) -> Result<WriteContentResponse, Status> {
        if !req.expected.is_empty() {
            let path = blob_path(&self.dir, &req.expected)?;
            if tokio::fs::metadata(&path).await.is_ok() {
                return Err(Status::already_exists(format!("blob with expected digest {} exists", req.expected)));
            }
            self.expected.clone_from(&req.expected);
        }
        if req.total > 0 {
            self.total = req.total;
        }
        let action = WriteAction::try_from(req.action)
            .map_err(|_| Status::invalid_argument(format!("unknown write action {}", req.action)))?;
        let mut answer = WriteContentResponse { action: req.action, ..WriteContentResponse::default() };
        if action == WriteAction::Stat {
            let now = Some(prost_types::Timestamp::from(SystemTime::now()));
            answer.started_at = now;
            answer.updated_at = now;
            answer.total = self.total;
        } else {
            let at = u64::try_from(req.offset).unwrap_or(0);
            if at > 0 && at != self.offset {
                return Err(Status::out_of_range(format!("write @{at} must occur at current offset {}", self.offset)));
            }
            if at == 0 && self.offset > 0 {
                self.file = None;
                self.hasher = Sha256::new();
                self.offset = 0;
            }
            if !req.data.is_empty() {
                let file = self.open().await?;
                file.write_all(&req.data).await.map_err(|e| io_status("ingest", &e))?;
                self.hasher.update(&req.data);
                self.offset += req.data.len() as u64;
            }
            if action == WriteAction::Commit {
                answer.digest = self.commit().await?;
                answer.total = self.total;
            }
        }
        answer.offset = i64::try_from(self.offset).unwrap_or(i64::MAX);
        if answer.digest.is_empty() {
            answer.digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        }
        Ok(answer)
    }

    async fn open(&mut self) -> Result<&mut tokio::fs::File, Status> {
        if self.file.is_none() {
            // Another ingest that ends removes `ingest/` when it is empty,
            // which may happen between creating it and creating the file
            // here: then create both again.
            let mut tries = 0;
            let file = loop {
                if let Some(parent) = self.tmp.parent() {
                    tokio::fs::create_dir_all(parent).await.map_err(|e| io_status("ingest directory", &e))?;
                }
                match tokio::fs::File::create(&self.tmp).await {
                    Ok(f) => break f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => tries += 1,
                    Err(e) => return Err(io_status("ingest", &e)),
                }
            };
            self.file = Some(file);
        }
        self.file.as_mut().ok_or_else(|| Status::internal("ingest file"))
    }

    /// Checks size and digest and moves the data to its blob path.
    async fn commit(&mut self) -> Result<String, Status> {
        let size = i64::try_from(self.offset).unwrap_or(i64::MAX);
        if self.total > 0 && size != self.total {
            return Err(Status::failed_precondition(format!("unexpected commit size {size}, expected {}", self.total)));
        }
        // An empty blob was never opened.
        self.open().await?;
        let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
        if !self.expected.is_empty() && self.expected != digest {
            return Err(Status::failed_precondition(format!(
                "unexpected commit digest {digest}, expected {}",
                self.expected
            )));
        }
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(|e| io_status("ingest", &e))?;
            file.sync_all().await.map_err(|e| io_status("ingest", &e))?;
        }
        let target = blob_path(&self.dir, &digest)?;
        if tokio::fs::metadata(&target).await.is_ok() {
            return Err(Status::already_exists(format!("content {digest}: already exists")));
        }
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_status("blobs directory", &e))?;
        }
        tokio::fs::rename(&self.tmp, &target).await.map_err(|e| io_status("commit", &e))?;
        Ok(digest)
    }

    /// Drops what was not committed, and `ingest/` when it is left empty.
    async fn discard(&mut self) {
        self.file = None;
        let _ = tokio::fs::remove_file(&self.tmp).await;
        if let Some(parent) = self.tmp.parent() {
            let _ = tokio::fs::remove_dir(parent).await;
        }
    }
}

#[cfg(test)]
#[path = "content_tests.rs"]
mod tests;
