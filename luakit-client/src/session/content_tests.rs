//! The content service through the session's router, called as BuildKit's
//! proxy store calls it: a write stream that asks for the status first,
//! then writes and commits with the expected digest; info; ranged reads.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use tokio_stream::StreamExt as _;
use tonic::Code;
use tonic::transport::{Channel, Endpoint, Uri};

use super::super::{Router, SessionOptions};
use super::STORE_HEADER;
use crate::pb::containerd::services::content::v1::content_client::ContentClient;
use crate::pb::containerd::services::content::v1::{
    InfoRequest, ReadContentRequest, WriteAction, WriteContentRequest, WriteContentResponse,
};

async fn client(stores: BTreeMap<String, std::path::PathBuf>) -> (ContentClient<Channel>, Vec<String>) {
    let router = Router::new(SessionOptions { content_stores: stores, ..SessionOptions::default() }, Arc::default())
        .expect("router");
    let methods = router.methods();
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let incoming = tokio_stream::once(Ok::<_, std::io::Error>(server_io)).chain(tokio_stream::pending());
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(router, incoming));
    let slot = Arc::new(Mutex::new(Some(client_io)));
    let channel = Endpoint::from_static("http://session")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = slot.lock().ok().and_then(|mut s| s.take());
            async move { io.map(TokioIo::new).ok_or_else(|| std::io::Error::other("used")) }
        }))
        .await
        .expect("connection");
    (ContentClient::new(channel), methods)
}

fn with_store<T>(msg: T, id: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(STORE_HEADER, id.parse().expect("ascii"));
    req
}

fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Runs one write stream of `msgs`, collecting answers until an error.
async fn write(
    c: &mut ContentClient<Channel>,
    id: &str,
    msgs: Vec<WriteContentRequest>,
) -> Result<Vec<WriteContentResponse>, tonic::Status> {
    let mut answers = c.write(with_store(tokio_stream::iter(msgs), id)).await?.into_inner();
    let mut got = Vec::new();
    while let Some(a) = answers.message().await? {
        got.push(a);
    }
    Ok(got)
}

fn msg(action: WriteAction, offset: i64, data: &[u8]) -> WriteContentRequest {
    WriteContentRequest { action: action as i32, offset, data: data.to_vec(), ..WriteContentRequest::default() }
}

async fn read(c: &mut ContentClient<Channel>, id: &str, digest: &str, offset: i64, size: i64) -> Vec<u8> {
    let req = ReadContentRequest { digest: digest.to_string(), offset, size };
    let mut stream = c.read(with_store(req, id)).await.expect("read").into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await.expect("chunk") {
        assert_eq!(m.offset, offset + out.len() as i64, "chunks say where they start");
        out.extend_from_slice(&m.data);
    }
    out
}

#[tokio::test]
async fn blobs_are_written_committed_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = format!("local:{}", dir.path().display());
    let (mut c, methods) = client(BTreeMap::from([(id.clone(), dir.path().to_path_buf())])).await;
    assert!(methods.contains(&"/containerd.services.content.v1.Content/Write".to_string()));
    assert!(methods.contains(&"/containerd.services.content.v1.Content/Info".to_string()));

    // Two chunks, more than one read response's worth.
    let data: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 251) as u8).collect();
    let digest = digest_of(&data);
    let (a, b) = data.split_at(1 << 20);
    let stat = WriteContentRequest {
        r#ref: "layer-1".into(),
        total: data.len() as i64,
        expected: digest.clone(),
        ..WriteContentRequest::default()
    };
    let mut commit = msg(WriteAction::Commit, a.len() as i64, b);
    commit.total = data.len() as i64;
    commit.expected = digest.clone();
    let got = write(&mut c, &id, vec![stat, msg(WriteAction::Write, 0, a), commit]).await.expect("write");
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].action, got[0].offset, got[0].total), (WriteAction::Stat as i32, 0, data.len() as i64));
    assert!(got[0].started_at.is_some());
    assert_eq!(got[1].offset, a.len() as i64);
    assert_eq!((got[2].action, got[2].offset), (WriteAction::Commit as i32, data.len() as i64));
    assert_eq!(got[2].digest, digest);
    let hex = digest.trim_start_matches("sha256:");
    assert_eq!(std::fs::read(dir.path().join("blobs/sha256").join(hex)).expect("blob"), data);
    assert!(!dir.path().join("ingest").exists(), "nothing is left being ingested");

    let info = c.info(with_store(InfoRequest { digest: digest.clone() }, &id)).await.expect("info").into_inner();
    let info = info.info.expect("info");
    assert_eq!((info.digest.as_str(), info.size), (digest.as_str(), data.len() as i64));

    assert_eq!(read(&mut c, &id, &digest, 0, 0).await, data);
    assert_eq!(read(&mut c, &id, &digest, 5, 10).await, data[5..15].to_vec());
    assert_eq!(read(&mut c, &id, &digest, (1 << 20) - 3, 0).await, data[(1 << 20) - 3..].to_vec());

    // Writing it again: the store says it exists (the exporter skips it).
    let again = WriteContentRequest { r#ref: "layer-1b".into(), expected: digest.clone(), ..Default::default() };
    let err = write(&mut c, &id, vec![again]).await.expect_err("exists");
    assert_eq!(err.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn commits_check_digest_and_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = "local:cache".to_string();
    let (mut c, _) = client(BTreeMap::from([(id.clone(), dir.path().to_path_buf())])).await;

    let mut bad = msg(WriteAction::Commit, 0, b"hello");
    bad.r#ref = "r1".into();
    bad.expected = digest_of(b"other");
    let err = write(&mut c, &id, vec![bad]).await.expect_err("digest mismatch");
    assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
    assert!(err.message().contains("unexpected commit digest"), "{}", err.message());

    let mut short = msg(WriteAction::Commit, 0, b"hello");
    short.r#ref = "r2".into();
    short.total = 6;
    let err = write(&mut c, &id, vec![short]).await.expect_err("size mismatch");
    assert_eq!(err.code(), Code::FailedPrecondition);

    // A write away from the current offset is refused.
    let mut gap = msg(WriteAction::Write, 3, b"x");
    gap.r#ref = "r3".into();
    let err = write(&mut c, &id, vec![gap]).await.expect_err("gap");
    assert_eq!(err.code(), Code::OutOfRange);

    assert!(!dir.path().join("blobs").exists(), "no blob was stored");
    assert!(!dir.path().join("ingest").exists(), "failed ingestions are dropped");

    // A single commit message without an expected digest stores the data.
    let mut one = msg(WriteAction::Commit, 0, b"hello");
    one.r#ref = "r4".into();
    let got = write(&mut c, &id, vec![one]).await.expect("commit");
    assert_eq!(got[0].digest, digest_of(b"hello"));
    assert_eq!(read(&mut c, &id, &digest_of(b"hello"), 0, 0).await, b"hello");
}

#[tokio::test]
async fn bad_store_ids_and_digests_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut c, _) = client(BTreeMap::from([("local:a".to_string(), dir.path().to_path_buf())])).await;
    let d = digest_of(b"x");

    let err = c.info(tonic::Request::new(InfoRequest { digest: d.clone() })).await.expect_err("no header");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains(STORE_HEADER));
    let err = c.info(with_store(InfoRequest { digest: d.clone() }, "local:b")).await.expect_err("unknown store");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("unknown store local:b"));
    let err = c.info(with_store(InfoRequest { digest: d }, "local:a")).await.expect_err("missing blob");
    assert_eq!(err.code(), Code::NotFound);
    for bad in ["sha256:../../etc/passwd", "sha512:00", "sha256:ABCDEF"] {
        let err = c.info(with_store(InfoRequest { digest: bad.into() }, "local:a")).await.expect_err("bad digest");
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
    }
}
