//! `moby.filesync.v1.FileSend/DiffCopy`: the daemon writes an exporter's
//! output to the client. The session advertises the method only when it
//! has an [`OutputTarget`], and what flows on the call depends on the
//! exporter the solve asked for, which only the client knows:
//!
//! - the `local` exporter sends a file tree with fsutil's DiffCopy packets
//!   (the proto says `BytesMessage`, but the bytes on the wire are
//!   `fsutil.types.Packet`s): one `PACKET_STAT` per entry (a directory
//!   before its contents) and an empty stat to end the list; the receiver
//!   asks for the data of each regular file with `PACKET_REQ{id}` (id = the
//!   index of its stat), gets `PACKET_DATA{id}` chunks (files may
//!   interleave) ending with an empty one, and ends the call with
//!   `PACKET_FIN`, which the sender answers with `PACKET_FIN`;
//! - the `tar`, `oci` and `docker` exporters send one stream of
//!   `BytesMessage` chunks and close their side when done; the receiver
//!   ends the call once everything is written. The call's metadata carries
//!   the exporter's response under `exporter-md-` keys.
//!
//! A tree is written as buildctl writes it: into the directory (created if
//! missing), over existing entries of the same names, keeping the others;
//! owned by this process's user; with the sent permission bits (setuid,
//! setgid, sticky included) and modification times. Regular files are
//! written to a temporary name and renamed into place once complete, hard
//! links and directory metadata are set at the end. Paths that are not
//! clean and relative, and writes through a symlink, are refused.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Request, Response, Status, Streaming};

use super::filesync::go_mode;
use crate::pb::fsutil::types::{Packet, Stat, packet::PacketType};
use crate::pb::moby::filesync::v1::BytesMessage;

/// The method the daemon calls.
pub const METHOD: &str = "/moby.filesync.v1.FileSend/DiffCopy";

/// The metadata key prefix of the exporter's response on a file stream.
pub const EXPORTER_METADATA_PREFIX: &str = "exporter-md-";

/// Opens the writer a file stream goes to; it is given the exporter's
/// metadata (the `exporter-md-` keys, prefix removed).
pub type OpenWriter = Arc<dyn Fn(&BTreeMap<String, String>) -> io::Result<Box<dyn io::Write + Send>> + Send + Sync>;

/// Where the daemon's exporter output goes.
#[derive(Clone)]
pub enum OutputTarget {
    /// The `local` exporter's files, written under this directory.
    Dir(PathBuf),
    /// The byte stream of the `tar`, `oci` or `docker` exporter, written to
    /// what the function opens (flushed and dropped at the stream's end).
    Writer(OpenWriter),
}

impl fmt::Debug for OutputTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputTarget::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            OutputTarget::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// Passes message bytes through undecoded: the call carries either
/// `Packet`s or `BytesMessage`s, decoded by [`FileSendService`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        use bytes::Buf as _;
        let mut out = vec![0u8; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

type RawStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, Status>> + Send>>;

/// The FileSend service of a session.
#[derive(Debug, Clone)]
pub(crate) struct FileSendService {
    target: OutputTarget,
}

impl FileSendService {
    pub(crate) fn new(target: OutputTarget) -> Self {
        FileSendService { target }
    }

    /// Serves one DiffCopy call.
    pub(crate) fn diff_copy(&self, request: Request<Streaming<Vec<u8>>>) -> Response<RawStream> {
        let (tx, rx) = mpsc::channel::<Result<Vec<u8>, Status>>(64);
        let metadata: BTreeMap<String, String> = {
            let mut md = BTreeMap::<String, Vec<String>>::new();
            for kv in request.metadata().iter() {
                let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv else { continue };
                let (Some(key), Ok(v)) = (k.as_str().strip_prefix(EXPORTER_METADATA_PREFIX), v.to_str()) else {
                    continue;
                };
                md.entry(key.to_string()).or_default().push(v.to_string());
            }
            md.into_iter().map(|(k, v)| (k, v.join(","))).collect()
        };
        let mut incoming = request.into_inner();
        // Incoming messages go to a blocking thread that writes them.
        let (in_tx, in_rx) = mpsc::channel::<Result<Vec<u8>, Status>>(64);
        tokio::spawn(async move {
            loop {
                let msg = incoming.message().await;
                let end = !matches!(msg, Ok(Some(_)));
                let item = match msg {
                    Ok(Some(m)) => Ok(m),
                    Ok(None) => break,
                    Err(s) => Err(s),
                };
                if in_tx.send(item).await.is_err() || end {
                    break;
                }
            }
        });
        let target = self.target.clone();
        tokio::task::spawn_blocking(move || {
            let result = match target {
                OutputTarget::Dir(dir) => receive_tree(&dir, in_rx, &tx).map(drop),
                OutputTarget::Writer(open) => receive_file(&open, &metadata, in_rx),
            };
            if let Err(status) = result {
                let _ = tx.blocking_send(Err(status));
            }
            // Dropping `tx` ends the response: the daemon sees the end.
        });
        Response::new(Box::pin(ReceiverStream::new(rx)))
    }
}

/// The DiffCopy method as tonic's server calls it.
pub(crate) struct DiffCopy(pub(crate) FileSendService);

impl tonic::server::StreamingService<Vec<u8>> for DiffCopy {
    type Response = Vec<u8>;
    type ResponseStream = RawStream;
    type Future = std::future::Ready<Result<Response<RawStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Vec<u8>>>) -> Self::Future {
        std::future::ready(Ok(self.0.diff_copy(request)))
    }
}

/// Writes a stream of `BytesMessage`s to the writer `open` opens.
fn receive_file(
    open: &OpenWriter,
    metadata: &BTreeMap<String, String>,
    mut incoming: mpsc::Receiver<Result<Vec<u8>, Status>>,
) -> Result<(), Status> {
    let failed = |e: io::Error| Status::internal(format!("cannot write the exporter's output: {e}"));
    let mut writer = open(metadata).map_err(failed)?;
    while let Some(msg) = incoming.blocking_recv() {
        let bytes = msg?;
        let m = BytesMessage::decode(bytes.as_slice())
            .map_err(|e| Status::invalid_argument(format!("not a BytesMessage: {e}")))?;
        writer.write_all(&m.data).map_err(failed)?;
    }
    writer.flush().map_err(failed)
}

/// What a tree transfer wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TreeCounts {
    /// Entries (stats) received.
    pub entries: u64,
    /// Regular files written (hard links not counted).
    pub files: u64,
    /// File data bytes written.
    pub bytes: u64,
}

/// A regular file being received.
struct Incoming {
    file: File,
    temp: PathBuf,
    path: PathBuf,
    stat: Stat,
}

/// Receives a tree into `dest` (fsutil's receiver, merge mode), sending
/// requests and the final `PACKET_FIN` on `out`.
pub(crate) fn receive_tree(
    dest: &Path,
    mut incoming: mpsc::Receiver<Result<Vec<u8>, Status>>,
    out: &mpsc::Sender<Result<Vec<u8>, Status>>,
) -> Result<TreeCounts, Status> {
    let io_err = |what: &str, path: &Path, e: io::Error| Status::internal(format!("{what} {}: {e}", path.display()));
    std::fs::create_dir_all(dest).map_err(|e| io_err("cannot create", dest, e))?;
    let send =
        |p: Packet| out.blocking_send(Ok(p.encode_to_vec())).map_err(|_| Status::cancelled("the daemon went away"));
    let mut counts = TreeCounts::default();
    let mut next_id: u32 = 0;
    let mut open: HashMap<u32, Incoming> = HashMap::new();
    let mut dirs: Vec<(PathBuf, Stat)> = Vec::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut stats_done = false;
    let mut fin_sent = false;
    let result = (|| -> Result<(), Status> {
        while let Some(msg) = incoming.blocking_recv() {
            let p = Packet::decode(msg?.as_slice())
                .map_err(|e| Status::invalid_argument(format!("not a DiffCopy packet: {e}")))?;
            match PacketType::try_from(p.r#type) {
                Ok(PacketType::PacketStat) => {
                    let Some(stat) = p.stat else {
                        stats_done = true;
                        if open.is_empty() && !fin_sent {
                            send(Packet { r#type: PacketType::PacketFin as i32, ..Default::default() })?;
                            fin_sent = true;
                        }
                        continue;
                    };
                    if stats_done {
                        return Err(Status::invalid_argument("a stat after the end of the stats"));
                    }
                    let id = next_id;
                    next_id = next_id.wrapping_add(1);
                    counts.entries += 1;
                    let path = entry_path(dest, &stat.path)?;
                    let mode = stat.mode;
                    if mode & go_mode::DIR != 0 {
                        make_room(&path, true)?;
                        if !path.is_dir() {
                            std::fs::DirBuilder::new()
                                .mode(0o755)
                                .create(&path)
                                .map_err(|e| io_err("cannot create", &path, e))?;
                        }
                        dirs.push((path, stat));
                    } else if mode & go_mode::SYMLINK != 0 {
                        make_room(&path, false)?;
                        std::os::unix::fs::symlink(&stat.linkname, &path)
                            .map_err(|e| io_err("cannot create the symlink", &path, e))?;
                        set_times(&path, stat.mod_time)?;
                    } else if mode & go_mode::TYPE == 0 && !stat.linkname.is_empty() {
                        // A hard link to an earlier file, made once it is complete.
                        let target = entry_path(dest, &stat.linkname)?;
                        links.push((path, target));
                    } else if mode & go_mode::TYPE == 0 {
                        make_room(&path, false)?;
                        let name = path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
                        let mut temp_name = b".".to_vec();
                        temp_name.extend_from_slice(&name);
                        temp_name.extend_from_slice(format!(".luakit-{id}.tmp").as_bytes());
                        let temp = path.with_file_name(std::ffi::OsStr::from_bytes(&temp_name));
                        let _ = std::fs::remove_file(&temp);
                        let file = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o600)
                            .custom_flags(libc::O_NOFOLLOW)
                            .open(&temp)
                            .map_err(|e| io_err("cannot create", &temp, e))?;
                        open.insert(id, Incoming { file, temp, path, stat });
                        send(Packet { r#type: PacketType::PacketReq as i32, id, ..Default::default() })?;
                    } else if mode & go_mode::NAMED_PIPE != 0 {
                        make_room(&path, false)?;
                        mknod(&path, rustix::fs::FileType::Fifo, 0)?;
                        set_meta(&path, &stat)?;
                    } else if mode & go_mode::DEVICE != 0 {
                        make_room(&path, false)?;
                        let kind = if mode & go_mode::CHAR_DEVICE != 0 {
                            rustix::fs::FileType::CharacterDevice
                        } else {
                            rustix::fs::FileType::BlockDevice
                        };
                        let dev = rustix::fs::makedev(
                            u32::try_from(stat.devmajor).unwrap_or_default(),
                            u32::try_from(stat.devminor).unwrap_or_default(),
                        );
                        mknod(&path, kind, dev)?;
                        set_meta(&path, &stat)?;
                    } else {
                        return Err(Status::invalid_argument(format!(
                            "{:?}: unsupported file type (mode {:#o})",
                            stat.path, mode
                        )));
                    }
                }
                Ok(PacketType::PacketData) => {
                    let Some(f) = open.get_mut(&p.id) else {
                        return Err(Status::invalid_argument(format!("data for unknown file id {}", p.id)));
                    };
                    if p.data.is_empty() {
                        if let Some(f) = open.remove(&p.id) {
                            finish_file(f)?;
                            counts.files += 1;
                        }
                        if stats_done && open.is_empty() && !fin_sent {
                            send(Packet { r#type: PacketType::PacketFin as i32, ..Default::default() })?;
                            fin_sent = true;
                        }
                    } else {
                        f.file.write_all(&p.data).map_err(|e| io_err("cannot write", &f.temp, e))?;
                        counts.bytes += p.data.len() as u64;
                    }
                }
                Ok(PacketType::PacketFin) => {
                    if !fin_sent || !open.is_empty() {
                        return Err(Status::invalid_argument("the sender ended before every file was sent"));
                    }
                    // Drain until the sender closes its side; everything is
                    // written, so an abrupt end now changes nothing.
                    while let Some(Ok(_)) = incoming.blocking_recv() {}
                    return Ok(());
                }
                Ok(PacketType::PacketErr) => {
                    return Err(Status::aborted(format!("error from sender: {}", String::from_utf8_lossy(&p.data))));
                }
                Ok(PacketType::PacketReq) | Err(_) => {
                    return Err(Status::invalid_argument(format!("unexpected packet type {}", p.r#type)));
                }
            }
        }
        Err(Status::aborted("the sender closed the stream before its PACKET_FIN"))
    })();
    // Temporary files of incomplete transfers are removed.
    for (_, f) in open.drain() {
        let _ = std::fs::remove_file(&f.temp);
    }
    if let Err(status) = result {
        let _ = send(Packet {
            r#type: PacketType::PacketErr as i32,
            data: status.message().as_bytes().to_vec(),
            ..Default::default()
        });
        return Err(status);
    }
    for (path, target) in links {
        make_room(&path, false)?;
        std::fs::hard_link(&target, &path).map_err(|e| io_err("cannot create the hard link", &path, e))?;
    }
    // Innermost first: setting a directory's mode or time after its contents.
    for (path, stat) in dirs.iter().rev() {
        set_meta(path, stat)?;
    }
    Ok(counts)
}

/// `dest/rel` for a clean relative path, refusing anything that leaves
/// `dest` or goes through a symlink.
fn entry_path(dest: &Path, rel: &str) -> Result<PathBuf, Status> {
    let bad = || Status::invalid_argument(format!("refusing the path {rel:?} (not clean and relative)"));
    if rel.is_empty() || rel.starts_with('/') || rel.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad());
    }
    let mut path = dest.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        if i + 1 < parts.len() {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Status::invalid_argument(format!("refusing to write {rel:?} through a symlink")));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(Status::invalid_argument(format!("{rel:?}: a parent is not a directory")));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(Status::invalid_argument(format!("{rel:?} arrived before its directory")));
                }
                Err(e) => return Err(Status::internal(format!("cannot stat {}: {e}", path.display()))),
            }
        }
    }
    Ok(path)
}

/// Removes what is at `path` unless it is a directory and a directory is
/// wanted.
fn make_room(path: &Path, want_dir: bool) -> Result<(), Status> {
    let err = |e: io::Error| Status::internal(format!("cannot replace {}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && want_dir => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(err),
        Ok(_) => std::fs::remove_file(path).map_err(err),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(e)),
    }
}

fn finish_file(f: Incoming) -> Result<(), Status> {
    let Incoming { file, temp, path, stat } = f;
    let err = |what: &str, e: io::Error| Status::internal(format!("{what} {}: {e}", temp.display()));
    file.set_permissions(std::fs::Permissions::from_mode(unix_perm(stat.mode))).map_err(|e| err("cannot chmod", e))?;
    drop(file);
    set_times(&temp, stat.mod_time)?;
    // A directory that took the name meanwhile is not replaced by a file.
    make_room(&path, false)?;
    std::fs::rename(&temp, &path).map_err(|e| err("cannot rename", e))
}

/// Go's permission bits as unix mode bits.
fn unix_perm(go: u32) -> u32 {
    let mut mode = go & 0o777;
    if go & go_mode::SETUID != 0 {
        mode |= 0o4000;
    }
    if go & go_mode::SETGID != 0 {
        mode |= 0o2000;
    }
    if go & go_mode::STICKY != 0 {
        mode |= 0o1000;
    }
    mode
}

fn mknod(path: &Path, kind: rustix::fs::FileType, dev: rustix::fs::Dev) -> Result<(), Status> {
    rustix::fs::mknodat(rustix::fs::CWD, path, kind, rustix::fs::Mode::from_raw_mode(0o600), dev)
        .map_err(|e| Status::internal(format!("cannot create {}: {e}", path.display())))
}

/// Mode (not of symlinks) and modification time.
fn set_meta(path: &Path, stat: &Stat) -> Result<(), Status> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(unix_perm(stat.mode)))
        .map_err(|e| Status::internal(format!("cannot chmod {}: {e}", path.display())))?;
    set_times(path, stat.mod_time)
}

/// Sets access and modification time to `nanos` (not following symlinks).
fn set_times(path: &Path, nanos: i64) -> Result<(), Status> {
    let ts = rustix::fs::Timespec { tv_sec: nanos.div_euclid(1_000_000_000), tv_nsec: nanos.rem_euclid(1_000_000_000) };
    let times = rustix::fs::Timestamps { last_access: ts, last_modification: ts };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Status::internal(format!("cannot set the time of {}: {e}", path.display())))
}
