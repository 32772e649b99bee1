//! FileSend against an in-process daemon side written from the protocol's
//! facts: for the `local` exporter a sender that sends the stats of a walked
//! tree (fsutil's order, ids by stat index), an empty stat, then the data of
//! each requested file, interleaving files, and answers `PACKET_FIN`; for
//! the file exporters a stream of `BytesMessage`s with `exporter-md-`
//! metadata.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use prost::Message as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::{Request, Status};

use super::super::filesend::{METHOD, RawCodec};
use super::super::filesync::{WalkOptions, walk};
use super::super::{OutputTarget, SessionOptions};
use super::{channel_to, router, tree};
use crate::pb::fsutil::types::{Packet, Stat, packet::PacketType};
use crate::pb::moby::filesync::v1::BytesMessage;

fn output(target: OutputTarget) -> SessionOptions {
    SessionOptions { output: Some(target), ..Default::default() }
}

fn pkt(kind: PacketType) -> Packet {
    Packet { r#type: kind as i32, ..Default::default() }
}

/// Sends `stats` (with the files under `root` as data) to the session's
/// FileSend as the daemon's fsutil sender does. Data of all requested files
/// is sent only once every stat went out, files interleaved chunk by chunk.
async fn send_tree(channel: tonic::transport::Channel, root: &Path, stats: Vec<Stat>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.to_string()))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1024);
    let request = Request::new(ReceiverStream::new(rx));
    let mut stream = grpc.streaming(request, PathAndQuery::from_static(METHOD), RawCodec).await?.into_inner();
    let send = |p: Packet| {
        let tx = tx.clone();
        async move { tx.send(p.encode_to_vec()).await.map_err(|_| Status::cancelled("closed")) }
    };
    for stat in &stats {
        send(Packet { r#type: PacketType::PacketStat as i32, stat: Some(stat.clone()), ..Default::default() }).await?;
    }
    send(pkt(PacketType::PacketStat)).await?;
    let mut requested = Vec::new();
    let fin = loop {
        let Some(raw) = stream.message().await? else { break false };
        let p = Packet::decode(raw.as_slice()).map_err(|e| Status::internal(e.to_string()))?;
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketReq) => {
                requested.push(p.id);
                let regular = stats.iter().filter(|s| s.mode & super::go_mode::TYPE == 0 && s.linkname.is_empty());
                if requested.len() == regular.count() {
                    // Every file asked for: send them interleaved, 3 bytes at a time.
                    let datas: Vec<(u32, Vec<u8>)> = requested
                        .iter()
                        .map(|id| (*id, std::fs::read(root.join(&stats[*id as usize].path)).unwrap_or_default()))
                        .collect();
                    let longest = datas.iter().map(|(_, d)| d.len()).max().unwrap_or(0);
                    for at in (0..longest).step_by(3) {
                        for (id, data) in &datas {
                            if at < data.len() {
                                let chunk = data[at..(at + 3).min(data.len())].to_vec();
                                send(Packet {
                                    r#type: PacketType::PacketData as i32,
                                    id: *id,
                                    data: chunk,
                                    ..Default::default()
                                })
                                .await?;
                            }
                        }
                    }
                    for (id, _) in &datas {
                        send(Packet { r#type: PacketType::PacketData as i32, id: *id, ..Default::default() }).await?;
                    }
                }
            }
            Ok(PacketType::PacketFin) => {
                send(pkt(PacketType::PacketFin)).await?;
                break true;
            }
            Ok(PacketType::PacketErr) => {
                return Err(Status::aborted(String::from_utf8_lossy(&p.data).into_owned()));
            }
            _ => return Err(Status::internal(format!("unexpected packet {p:?}"))),
        }
    };
    drop(tx);
    assert!(fin, "the receiver ends with PACKET_FIN");
    while stream.message().await?.is_some() {}
    Ok(())
}

fn stats_of(root: &Path) -> Vec<Stat> {
    walk(root, &WalkOptions::default()).expect("walk").into_iter().map(|e| e.stat).collect()
}

#[tokio::test]
async fn a_local_export_writes_the_tree_with_modes_links_and_times() {
    let src = tree();
    let dest = tempfile::tempdir().expect("tempdir");
    // Kept (merge), and replaced by the same name.
    std::fs::write(dest.path().join("kept"), b"mine").expect("write");
    std::fs::write(dest.path().join("a.txt"), b"old content").expect("write");
    let out = dest.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("kept"), b"mine").expect("write");
    std::fs::write(out.join("a.txt"), b"old content").expect("write");
    let channel = channel_to(router(output(OutputTarget::Dir(out.clone())))).await;
    send_tree(channel, src.path(), stats_of(src.path())).await.expect("transfer");

    let read = |p: &str| std::fs::read(out.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let mode = |p: &str| std::fs::symlink_metadata(out.join(p)).expect("stat").mode() & 0o7777;
    assert_eq!(read("kept"), b"mine", "entries not sent are kept");
    assert_eq!(read("a.txt"), b"A", "entries sent replace what was there");
    assert_eq!(read("a/x"), b"#!/bin/sh\n");
    assert_eq!(read("b.txt"), b"hello");
    assert_eq!(read("big"), std::fs::read(src.path().join("big")).expect("read"));
    assert_eq!(mode("a/x"), 0o755);
    assert_eq!(mode("b.txt"), 0o640);
    assert_eq!(mode("a"), 0o750, "a directory's mode is set after its contents");
    assert!(out.join("e").is_dir());
    assert_eq!(std::fs::read_link(out.join("link")).expect("symlink"), Path::new("b.txt"));
    let ino = |p: &str| std::fs::metadata(out.join(p)).expect("stat").ino();
    assert_eq!(ino("hard"), ino("b.txt"), "a hard link stays a hard link");
    let mtime = std::fs::metadata(out.join("b.txt")).expect("stat");
    assert_eq!((mtime.mtime(), mtime.mtime_nsec()), (1_600_000_000, 123_456_789));
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("read")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[tokio::test]
async fn a_local_export_refuses_paths_that_leave_the_directory() {
    let base = tempfile::tempdir().expect("tempdir");
    let out = base.path().join("out");
    let outside = base.path().join("outside");
    std::fs::create_dir(&outside).expect("mkdir");
    let file = |path: &str| Stat { path: path.to_string(), mode: 0o644, size: 1, ..Default::default() };
    for (stats, needle) in [
        (vec![file("../escape")], "not clean and relative"),
        (vec![file("/abs")], "not clean and relative"),
        (
            vec![
                Stat {
                    path: "l".into(),
                    mode: super::go_mode::SYMLINK | 0o777,
                    linkname: outside.display().to_string(),
                    ..Default::default()
                },
                file("l/f"),
            ],
            "through a symlink",
        ),
        (vec![file("nodir/f")], "before its directory"),
    ] {
        let channel = channel_to(router(output(OutputTarget::Dir(out.clone())))).await;
        let e = send_tree(channel, base.path(), stats).await.expect_err("refused");
        assert!(e.message().contains(needle), "{needle:?} not in {e:?}");
    }
    assert_eq!(std::fs::read_dir(&outside).expect("read").count(), 0, "nothing written outside");
    assert!(!base.path().join("escape").exists());
}

/// A writer into shared memory.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_file_export_streams_bytes_to_the_writer_with_the_exporters_metadata() {
    let sink = Shared::default();
    let seen: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let (sink2, seen2) = (sink.clone(), seen.clone());
    let target = OutputTarget::Writer(Arc::new(move |md: &BTreeMap<String, String>| {
        *seen2.lock().expect("lock") = md.clone();
        Ok(Box::new(sink2.clone()) as Box<dyn std::io::Write + Send>)
    }));
    let channel = channel_to(router(output(target))).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let mut request = Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("exporter-md-image.name", MetadataValue::from_static("a:1"));
    request.metadata_mut().insert("unrelated", MetadataValue::from_static("x"));
    let mut stream =
        grpc.streaming(request, PathAndQuery::from_static(METHOD), RawCodec).await.expect("call").into_inner();
    for part in [&b"first "[..], b"second ", b"third"] {
        tx.send(BytesMessage { data: part.to_vec() }.encode_to_vec()).await.expect("send");
    }
    drop(tx);
    // The receiver ends the call once it wrote everything.
    assert!(stream.message().await.expect("clean end").is_none());
    assert_eq!(sink.0.lock().expect("lock").as_slice(), b"first second third");
    assert_eq!(seen.lock().expect("lock").clone(), BTreeMap::from([("image.name".to_string(), "a:1".to_string())]));
}

#[tokio::test]
async fn a_failing_writer_fails_the_call() {
    let target = OutputTarget::Writer(Arc::new(|_: &BTreeMap<String, String>| Err(std::io::Error::other("disk full"))));
    let channel = channel_to(router(output(target))).await;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let mut stream = grpc
        .streaming(Request::new(ReceiverStream::new(rx)), PathAndQuery::from_static(METHOD), RawCodec)
        .await
        .expect("call")
        .into_inner();
    let _ = tx.send(BytesMessage { data: b"x".to_vec() }.encode_to_vec()).await;
    drop(tx);
    let e = stream.message().await.expect_err("the writer failed");
    assert!(e.message().contains("disk full"), "{e:?}");
}

#[test]
fn file_send_is_offered_only_with_an_output() {
    assert!(!router(SessionOptions::default()).methods().iter().any(|m| m == METHOD));
    let r = router(output(OutputTarget::Dir("/nonexistent".into())));
    assert!(r.methods().iter().any(|m| m == METHOD));
}
