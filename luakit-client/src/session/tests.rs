//! The session's services against an in-process daemon side written from
//! the protocol's facts: a DiffCopy receiver that checks fsutil's ordering
//! rules (a directory before its contents, siblings in byte order, every
//! parent present), requests file data by stat index and reassembles it;
//! and a fake `Control.Session` endpoint that speaks HTTP/2 as the client
//! over the byte stream, as BuildKit does.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_stream::Stream;
use tonic::transport::{Channel, Endpoint, Uri};

use super::filesync::{CHUNK, go_mode};
use super::*;
use crate::pb::fsutil::types::{Packet, Stat, packet::PacketType};
use crate::pb::grpc::health::v1::health_client::HealthClient;
use crate::pb::moby::buildkit::secrets::v1::GetSecretRequest;
use crate::pb::moby::buildkit::secrets::v1::secrets_client::SecretsClient;
use crate::pb::moby::buildkit::v1 as control;
use crate::pb::moby::filesync::v1::file_sync_client::FileSyncClient;
use crate::pb::moby::sshforward::v1::ssh_client::SshClient;
use crate::pb::moby::sshforward::v1::{BytesMessage as SshBytes, CheckAgentRequest};

/// A channel to a router served over an in-memory pipe.
async fn channel_to(router: Router) -> Channel {
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let incoming = tokio_stream::once(Ok::<_, io::Error>(server_io)).chain(tokio_stream::pending());
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(router, incoming));
    channel_over(client_io).await
}

async fn channel_over<T>(io: T) -> Channel
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let slot = Arc::new(Mutex::new(Some(io)));
    Endpoint::from_static("http://session")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = slot.lock().ok().and_then(|mut s| s.take());
            async move { io.map(TokioIo::new).ok_or_else(|| io::Error::other("the pipe was used already")) }
        }))
        .await
        .expect("in-memory connection")
}

fn router(opts: SessionOptions) -> Router {
    Router::new(opts, Arc::new(TransferCounters::default())).expect("valid options")
}

fn locals(dir: &Path) -> SessionOptions {
    SessionOptions { locals: BTreeMap::from([("context".to_string(), dir.to_path_buf())]), ..Default::default() }
}

/// What a receiver got from one DiffCopy call.
#[derive(Debug)]
struct Received {
    stats: Vec<Stat>,
    files: BTreeMap<String, Vec<u8>>,
    largest_chunk: usize,
}

/// fsutil's validator: paths clean and relative, siblings in increasing
/// byte order, each path's directory sent before it.
fn check_order(stats: &[Stat]) {
    // Open directories, innermost last, each with the last name seen in it.
    let mut open: Vec<(String, String)> = vec![(String::new(), String::new())];
    for stat in stats {
        let p = &stat.path;
        assert!(!p.is_empty() && !p.starts_with('/') && !p.ends_with('/'), "unclean path {p:?}");
        assert!(p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."), "unclean path {p:?}");
        let (dir, base) = p.rsplit_once('/').unwrap_or(("", p.as_str()));
        while open.last().is_some_and(|(d, _)| d != dir && !dir.starts_with(&format!("{d}/")) && !d.is_empty()) {
            open.pop();
        }
        let top = open.last_mut().expect("the root stays open");
        assert_eq!(top.0, dir, "{p:?} arrived without its directory");
        assert!(top.1.as_str() < base, "{p:?} arrived after {:?}", top.1);
        top.1 = base.to_string();
        if stat.mode & go_mode::DIR != 0 {
            open.push((p.clone(), String::new()));
        }
    }
}

/// Runs a whole DiffCopy as the daemon would, requesting every regular file
/// (`want` filters by path).
async fn receive(channel: Channel, md: &[(&str, &str)], want: impl Fn(&str) -> bool) -> Result<Received, Status> {
    let mut client = FileSyncClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel::<Packet>(64);
    let mut request = Request::new(ReceiverStream::new(rx));
    for (k, v) in md {
        let key = tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).expect("key");
        request.metadata_mut().append(key, MetadataValue::try_from(*v).expect("ascii"));
    }
    let mut stream = client.diff_copy(request).await?.into_inner();
    let mut stats = Vec::new();
    loop {
        let p = stream.message().await?.expect("stats end with an empty stat");
        assert_eq!(p.r#type, PacketType::PacketStat as i32, "{p:?}");
        match p.stat {
            Some(stat) => stats.push(stat),
            None => break,
        }
    }
    check_order(&stats);
    let mut pending = BTreeMap::new();
    for (i, stat) in stats.iter().enumerate() {
        if stat.mode & go_mode::TYPE == 0 && stat.linkname.is_empty() && want(&stat.path) {
            let id = u32::try_from(i).expect("small");
            pending.insert(id, stat.path.clone());
            tx.send(Packet { r#type: PacketType::PacketReq as i32, id, ..Default::default() }).await.expect("open");
        }
    }
    let mut files = BTreeMap::new();
    let mut partial: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let mut largest_chunk = 0;
    while !pending.is_empty() {
        let p = stream.message().await?.expect("data for every request");
        assert_eq!(p.r#type, PacketType::PacketData as i32, "{p:?}");
        let path = pending.get(&p.id).unwrap_or_else(|| panic!("data for an id never requested: {}", p.id)).clone();
        if p.data.is_empty() {
            pending.remove(&p.id);
            files.insert(path, partial.remove(&p.id).unwrap_or_default());
        } else {
            largest_chunk = largest_chunk.max(p.data.len());
            partial.entry(p.id).or_default().extend_from_slice(&p.data);
        }
    }
    tx.send(Packet { r#type: PacketType::PacketFin as i32, ..Default::default() }).await.expect("open");
    let fin = stream.message().await?.expect("the sender answers FIN");
    assert_eq!(fin.r#type, PacketType::PacketFin as i32);
    assert!(stream.message().await?.is_none(), "the call ends after FIN");
    Ok(Received { stats, files, largest_chunk })
}

fn set_mtime(path: &Path, secs: u64) {
    let file = std::fs::File::options().write(true).open(path).expect("open");
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(secs, 123_456_789)).expect("set mtime");
}

/// a/ (0750) { x (0755) }, a.txt, b.txt, big (100 KiB), e/, hard (b.txt), link -> b.txt
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("a")).expect("mkdir");
    std::fs::write(root.join("a/x"), b"#!/bin/sh\n").expect("write");
    std::fs::set_permissions(root.join("a/x"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(root.join("a"), std::fs::Permissions::from_mode(0o750)).expect("chmod");
    std::fs::write(root.join("a.txt"), b"A").expect("write");
    std::fs::write(root.join("b.txt"), b"hello").expect("write");
    std::fs::set_permissions(root.join("b.txt"), std::fs::Permissions::from_mode(0o640)).expect("chmod");
    set_mtime(&root.join("b.txt"), 1_600_000_000);
    let big: Vec<u8> = (0..100 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big"), &big).expect("write");
    std::fs::create_dir(root.join("e")).expect("mkdir");
    std::fs::hard_link(root.join("b.txt"), root.join("hard")).expect("link");
    std::os::unix::fs::symlink("b.txt", root.join("link")).expect("symlink");
    dir
}

fn paths(r: &Received) -> Vec<&str> {
    r.stats.iter().map(|s| s.path.as_str()).collect()
}

#[tokio::test]
async fn diff_copy_sends_stats_in_fsutil_order_and_data_on_request() {
    let dir = tree();
    let channel = channel_to(router(locals(dir.path()))).await;
    let got = receive(channel, &[("dir-name", "context")], |_| true).await.expect("transfer");
    assert_eq!(paths(&got), ["a", "a/x", "a.txt", "b.txt", "big", "e", "hard", "link"]);
    let by_path: BTreeMap<&str, &Stat> = got.stats.iter().map(|s| (s.path.as_str(), s)).collect();
    assert_eq!(by_path["a"].mode, go_mode::DIR | 0o750);
    assert_eq!(by_path["a"].size, 0, "directories carry no size");
    assert_eq!(by_path["a/x"].mode, 0o755);
    assert_eq!(by_path["b.txt"].mode, 0o640);
    assert_eq!(by_path["b.txt"].size, 5);
    assert_eq!(by_path["b.txt"].mod_time, 1_600_000_000_123_456_789);
    let meta = std::fs::metadata(dir.path().join("b.txt")).expect("stat");
    assert_eq!((by_path["b.txt"].uid, by_path["b.txt"].gid), (meta.uid(), meta.gid()));
    let e_perm = std::fs::metadata(dir.path().join("e")).expect("stat").mode() & 0o777;
    assert_eq!(by_path["e"].mode, go_mode::DIR | e_perm);
    assert_eq!(by_path["link"].mode & go_mode::SYMLINK, go_mode::SYMLINK);
    assert_eq!(by_path["link"].linkname, "b.txt");
    assert_eq!(by_path["hard"].linkname, "b.txt", "a second hard link names the first path");
    assert_eq!(by_path["hard"].size, 0);
    assert_eq!(by_path["hard"].mode, 0o640);
    assert_eq!(got.files["b.txt"], b"hello");
    assert_eq!(got.files["a/x"], b"#!/bin/sh\n");
    assert_eq!(got.files["big"], std::fs::read(dir.path().join("big")).expect("read"));
    assert_eq!(got.largest_chunk, CHUNK, "data comes in chunks of at most 32 KiB");
}

#[tokio::test]
async fn only_requested_files_are_sent_and_counted() {
    let dir = tree();
    let counters = Arc::new(TransferCounters::default());
    let r = Router::new(locals(dir.path()), counters.clone()).expect("valid");
    let got = receive(channel_to(r).await, &[("dir-name", "context")], |p| p == "big").await.expect("transfer");
    assert_eq!(got.files.keys().collect::<Vec<_>>(), ["big"]);
    assert_eq!(counters.bytes.load(Ordering::Relaxed), 100 * 1024);
    assert_eq!(counters.files.load(Ordering::Relaxed), 1);
    assert_eq!(counters.stats.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn patterns_from_the_daemon_filter_the_walk() {
    let dir = tree();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[("exclude-patterns", "*.txt"), ("exclude-patterns", "!b.txt")],
            &["a", "a/x", "b.txt", "big", "e", "hard", "link"],
        ),
        (&[("include-patterns", "a/x")], &["a", "a/x"]),
        (&[("include-patterns", "*.txt")], &["a.txt", "b.txt"]),
        (&[("include-patterns", "**/x")], &["a", "a/x"]),
        (&[("exclude-patterns", "a")], &["a.txt", "b.txt", "big", "e", "hard", "link"]),
        (&[("exclude-patterns", "*"), ("exclude-patterns", "!a/x")], &["a", "a/x"]),
        (&[("include-patterns", "a"), ("include-patterns", "e"), ("exclude-patterns", "a/x")], &["a", "e"]),
        (&[("followpaths", "link")], &["link"]),
    ];
    for (md, want) in cases {
        let channel = channel_to(router(locals(dir.path()))).await;
        let mut md = md.to_vec();
        md.push(("dir-name", "context"));
        let got = receive(channel, &md, |_| true).await.expect("transfer");
        assert_eq!(paths(&got), *want, "{md:?}");
    }
}

#[tokio::test]
async fn local_excludes_replace_the_daemons_unless_overridden() {
    let dir = tree();
    let mut opts = locals(dir.path());
    opts.local_excludes.insert("context".into(), vec!["big".into(), "a".into(), "!a/x".into()]);
    let got =
        receive(channel_to(router(opts.clone())).await, &[("dir-name", "context"), ("exclude-patterns", "*")], |_| {
            true
        })
        .await
        .expect("transfer");
    assert_eq!(paths(&got), ["a", "a/x", "a.txt", "b.txt", "e", "hard", "link"]);
    let md = [("dir-name", "context"), ("exclude-patterns", "*.txt"), ("override-excludes", "true")];
    let got = receive(channel_to(router(opts)).await, &md, |_| true).await.expect("transfer");
    assert_eq!(paths(&got), ["a", "a/x", "big", "e", "hard", "link"]);
}

#[tokio::test]
async fn unknown_locals_and_bad_patterns_are_errors() {
    let dir = tree();
    let err = receive(channel_to(router(locals(dir.path()))).await, &[("dir-name", "other")], |_| true)
        .await
        .expect_err("unknown local");
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert!(err.message().contains("\"other\""), "{err:?}");
    let md = [("dir-name", "context"), ("exclude-patterns", "[x")];
    let err = receive(channel_to(router(locals(dir.path()))).await, &md, |_| true).await.expect_err("bad pattern");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("[x"), "{err:?}");
}

#[tokio::test]
async fn secrets_come_from_files_and_variables() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("token"), b"file-secret\n").expect("write");
    let var = format!("LUAKIT_TEST_SECRET_{}", std::process::id());
    let opts = SessionOptions {
        secrets: BTreeMap::from([
            ("file".to_string(), SecretSource::File(dir.path().join("token"))),
            ("env".to_string(), SecretSource::Env(var.clone())),
            ("gone".to_string(), SecretSource::File(dir.path().join("missing"))),
        ]),
        ..Default::default()
    };
    let mut client = SecretsClient::new(channel_to(router(opts)).await);
    let get = |id: &str| GetSecretRequest { id: id.to_string(), ..Default::default() };
    let data = client.get_secret(get("file")).await.expect("file secret").into_inner().data;
    assert_eq!(data, b"file-secret\n");
    let err = client.get_secret(get("env")).await.expect_err("unset variable");
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains(&var), "{err:?}");
    for id in ["nope", "gone"] {
        let err = client.get_secret(get(id)).await.expect_err("unknown");
        assert_eq!(err.code(), tonic::Code::NotFound, "{id}: {err:?}");
    }
}

#[tokio::test]
async fn health_is_serving_and_unconfigured_services_are_unimplemented() {
    let channel = channel_to(router(SessionOptions::default())).await;
    let resp = HealthClient::new(channel.clone()).check(HealthCheckRequest::default()).await.expect("health");
    assert_eq!(resp.into_inner().status, ServingStatus::Serving as i32);
    let err = SshClient::new(channel).check_agent(CheckAgentRequest::default()).await.expect_err("no ssh");
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn ssh_forwarding_proxies_an_agent_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("agent.sock");
    let listener = tokio::net::UnixListener::bind(&sock).expect("bind");
    // A fake agent that answers each message with its bytes reversed.
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut out = buf[..n].to_vec();
                    out.reverse();
                    if conn.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let opts = SessionOptions {
        ssh: vec![parse_ssh(&format!("default={}", sock.display())).expect("spec")],
        ..Default::default()
    };
    let mut client = SshClient::new(channel_to(router(opts)).await);
    client.check_agent(CheckAgentRequest { id: String::new() }).await.expect("default agent");
    let err = client.check_agent(CheckAgentRequest { id: "other".into() }).await.expect_err("unknown id");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut request = Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert("buildkit.ssh.id", MetadataValue::from_static("default"));
    tx.send(SshBytes { data: b"abc".to_vec() }).await.expect("open");
    let mut stream = client.forward_agent(request).await.expect("forward").into_inner();
    let reply = stream.message().await.expect("reply").expect("bytes");
    assert_eq!(reply.data, b"cba");
}

#[test]
fn ssh_options_must_name_sockets() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("id_ed25519"), b"key").expect("write");
    let opts = SessionOptions {
        ssh: vec![SshSpec { id: "default".into(), paths: vec![dir.path().join("id_ed25519")] }],
        ..Default::default()
    };
    let err = Router::new(opts, Arc::default()).err().expect("a key file is refused");
    assert!(err.to_string().contains("not an agent socket"), "{err}");
    let opts =
        SessionOptions { locals: BTreeMap::from([("c".into(), dir.path().join("id_ed25519"))]), ..Default::default() };
    let err = Router::new(opts, Arc::default()).err().expect("a file is not a local");
    assert!(matches!(err, SessionError::Local { ref name, .. } if name == "c"), "{err}");
}

#[test]
fn cli_forms_parse() {
    assert_eq!(parse_secret("id=tok,src=/run/tok"), Ok(("tok".into(), SecretSource::File("/run/tok".into()))));
    assert_eq!(parse_secret("id=tok,env=TOKEN"), Ok(("tok".into(), SecretSource::Env("TOKEN".into()))));
    assert_eq!(parse_secret("id=tok,type=env,source=V"), Ok(("tok".into(), SecretSource::Env("V".into()))));
    assert!(parse_secret("src=/x").expect_err("an error").reason.contains("id= is required"));
    assert!(parse_secret("id=a,src=x,env=Y").expect_err("an error").reason.contains("not both"));
    assert!(parse_secret("id=a,bogus=1").expect_err("an error").reason.contains("bogus"));
    assert_eq!(parse_ssh("default"), Ok(SshSpec { id: "default".into(), paths: vec![] }));
    assert_eq!(
        parse_ssh("git=/a.sock,/b.sock"),
        Ok(SshSpec { id: "git".into(), paths: vec!["/a.sock".into(), "/b.sock".into()] })
    );
    assert!(parse_ssh("=/x").is_err());
    assert_eq!(parse_local("context=./src"), Ok(("context".into(), "./src".into())));
    assert!(parse_local("context").is_err());
    assert!(parse_local("=dir").is_err());
}

#[test]
fn dockerignore_lines_become_patterns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(".dockerignore");
    std::fs::write(&path, "# comment\n\n  *.log  \n!keep.log\r\nnode_modules\n").expect("write");
    assert_eq!(read_dockerignore(&path).expect("read"), ["*.log", "!keep.log", "node_modules"]);
}

#[test]
fn go_modes_convert_from_unix() {
    assert_eq!(filesync::go_mode_of(0o100644), 0o644);
    assert_eq!(filesync::go_mode_of(0o040755), go_mode::DIR | 0o755);
    assert_eq!(filesync::go_mode_of(0o120777), go_mode::SYMLINK | 0o777);
    assert_eq!(filesync::go_mode_of(0o020666), go_mode::DEVICE | go_mode::CHAR_DEVICE | 0o666);
    assert_eq!(filesync::go_mode_of(0o060660), go_mode::DEVICE | 0o660);
    assert_eq!(filesync::go_mode_of(0o010644), go_mode::NAMED_PIPE | 0o644);
    assert_eq!(filesync::go_mode_of(0o104755), go_mode::SETUID | 0o755);
    assert_eq!(filesync::go_mode_of(0o041777), go_mode::DIR | go_mode::STICKY | 0o777);
}

/// A fake daemon: its `Control.Session` records the headers and then talks
/// HTTP/2 as the client over the byte stream, as BuildKit does.
#[derive(Clone)]
struct FakeDaemon {
    headers: Arc<Mutex<Option<tonic::metadata::MetadataMap>>>,
    conn: Arc<Mutex<Option<tokio::sync::oneshot::Sender<tokio::io::DuplexStream>>>>,
}

type Bytes = Pin<Box<dyn Stream<Item = Result<BytesMessage, Status>> + Send>>;
type Statuses = Pin<Box<dyn Stream<Item = Result<control::StatusResponse, Status>> + Send>>;

#[tonic::async_trait]
impl control::control_server::Control for FakeDaemon {
    type StatusStream = Statuses;
    type SessionStream = Bytes;

    async fn solve(&self, _: Request<control::SolveRequest>) -> Result<Response<control::SolveResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn status(&self, _: Request<control::StatusRequest>) -> Result<Response<Statuses>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn session(&self, request: Request<tonic::Streaming<BytesMessage>>) -> Result<Response<Bytes>, Status> {
        *self.headers.lock().expect("lock") = Some(request.metadata().clone());
        let mut incoming = request.into_inner();
        let (daemon_end, pipe_end) = tokio::io::duplex(1 << 16);
        let (mut pipe_read, mut pipe_write) = tokio::io::split(pipe_end);
        tokio::spawn(async move {
            while let Ok(Some(msg)) = incoming.message().await {
                if pipe_write.write_all(&msg.data).await.is_err() {
                    break;
                }
            }
            let _ = pipe_write.shutdown().await;
        });
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            while let Ok(n) = pipe_read.read(&mut buf).await {
                if n == 0 || tx.send(Ok(BytesMessage { data: buf[..n].to_vec() })).await.is_err() {
                    break;
                }
            }
        });
        if let Some(conn) = self.conn.lock().expect("lock").take() {
            let _ = conn.send(daemon_end);
        }
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[tokio::test]
async fn a_session_serves_the_daemon_over_control_session() {
    let (conn_tx, conn_rx) = tokio::sync::oneshot::channel();
    let daemon = FakeDaemon { headers: Arc::default(), conn: Arc::new(Mutex::new(Some(conn_tx))) };
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let incoming = tokio_stream::once(Ok::<_, io::Error>(server_io)).chain(tokio_stream::pending());
    let server = control::control_server::ControlServer::new(daemon.clone());
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(server, incoming));
    let control_channel = channel_over(client_io).await;

    let dir = tree();
    let mut opts = locals(dir.path());
    opts.secrets.insert("s".into(), SecretSource::File(dir.path().join("b.txt")));
    let session = Session::start(control_channel, opts, "shared-key").await.expect("session");
    assert_eq!(session.id.len(), 25);

    let headers = daemon.headers.lock().expect("lock").clone().expect("the call carried headers");
    assert_eq!(headers.get("x-docker-expose-session-uuid").and_then(|v| v.to_str().ok()), Some(session.id.as_str()));
    assert_eq!(headers.get("x-docker-expose-session-sharedkey").and_then(|v| v.to_str().ok()), Some("shared-key"));
    assert_eq!(headers.get("x-docker-expose-session-name").and_then(|v| v.to_str().ok()), Some("luakit"));
    let methods: Vec<&str> =
        headers.get_all("x-docker-expose-session-grpc-method").iter().filter_map(|v| v.to_str().ok()).collect();
    for m in [
        "/grpc.health.v1.Health/Check",
        "/moby.filesync.v1.FileSync/DiffCopy",
        "/moby.buildkit.secrets.v1.Secrets/GetSecret",
        "/moby.filesync.v1.Auth/Credentials",
    ] {
        assert!(methods.contains(&m), "{m} missing from {methods:?}");
    }
    assert!(!methods.iter().any(|m| m.contains("sshforward")), "no SSH configured: {methods:?}");

    // The daemon side: an HTTP/2 client over the session's byte stream.
    let back = channel_over(conn_rx.await.expect("the session call reached the daemon")).await;
    let health = HealthClient::new(back.clone()).check(HealthCheckRequest::default()).await.expect("health");
    assert_eq!(health.into_inner().status, ServingStatus::Serving as i32);
    let got = receive(back.clone(), &[("dir-name", "context")], |_| true).await.expect("transfer");
    assert_eq!(got.files["big"].len(), 100 * 1024);
    assert_eq!(session.bytes_sent(), 100 * 1024 + 5 + 1 + 10);
    let secret = SecretsClient::new(back.clone())
        .get_secret(GetSecretRequest { id: "s".into(), ..Default::default() })
        .await
        .expect("secret");
    assert_eq!(secret.into_inner().data, b"hello");

    session.close().await;
    let after = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        HealthClient::new(back).check(HealthCheckRequest::default()),
    )
    .await
    .expect("a closed session's connection ends");
    assert!(after.is_err(), "a closed session serves nothing");
}

#[path = "filesend_tests.rs"]
mod filesend_tests;
