//! `moby.filesync.v1.FileSync/DiffCopy`: sends a local directory to the
//! daemon with fsutil's protocol. The daemon opens one call per local it
//! needs, naming it in the `dir-name` metadata along with
//! `include-patterns`, `exclude-patterns`, `followpaths` and
//! `override-excludes`. The client walks the directory the way fsutil does
//! (entries of a directory in byte order of their names, a directory before
//! its contents; parents of an included entry sent even when they are not
//! matched themselves), sends one `PACKET_STAT` per entry and an empty one
//! to end, then answers each `PACKET_REQ{id}` (id = the index of the stat)
//! with `PACKET_DATA` chunks of at most 32 KiB and an empty `PACKET_DATA`,
//! and ends the call on `PACKET_FIN` by answering with `PACKET_FIN`.
//!
//! Stats carry Go `os.FileMode` bits, nanosecond modification times, owner,
//! size (regular files and symlinks), the link target of symlinks, the
//! earlier path of a hard link (with size 0), device numbers; extended
//! attributes are not sent. The daemon requests only files whose stat
//! differs from its copy from an earlier transfer of the same shared key,
//! so an unchanged file costs its stat only.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncReadExt as _;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::patterns::Matcher;
use crate::pb::fsutil::types::{Packet, Stat, packet::PacketType};
use crate::pb::moby::filesync::v1::file_sync_server::FileSync;

/// The largest `PACKET_DATA` payload (fsutil's buffer size).
pub const CHUNK: usize = 32 * 1024;

/// Go's `os.FileMode` type bits.
pub mod go_mode {
    /// `os.ModeDir`
    pub const DIR: u32 = 1 << 31;
    /// `os.ModeSymlink`
    pub const SYMLINK: u32 = 1 << 27;
    /// `os.ModeDevice`
    pub const DEVICE: u32 = 1 << 26;
    /// `os.ModeNamedPipe`
    pub const NAMED_PIPE: u32 = 1 << 25;
    /// `os.ModeSocket`
    pub const SOCKET: u32 = 1 << 24;
    /// `os.ModeSetuid`
    pub const SETUID: u32 = 1 << 23;
    /// `os.ModeSetgid`
    pub const SETGID: u32 = 1 << 22;
    /// `os.ModeCharDevice`
    pub const CHAR_DEVICE: u32 = 1 << 21;
    /// `os.ModeSticky`
    pub const STICKY: u32 = 1 << 20;
    /// `os.ModeType`: the bits that make a file not regular.
    pub const TYPE: u32 = DIR | SYMLINK | NAMED_PIPE | SOCKET | DEVICE | CHAR_DEVICE | (1 << 19);
}

/// Converts a unix `st_mode` to Go's `os.FileMode` bits.
pub fn go_mode_of(unix: u32) -> u32 {
    const S_IFMT: u32 = 0o170000;
    let mut mode = unix & 0o777;
    mode |= match unix & S_IFMT {
        0o040000 => go_mode::DIR,
        0o120000 => go_mode::SYMLINK,
        0o060000 => go_mode::DEVICE,
        0o020000 => go_mode::DEVICE | go_mode::CHAR_DEVICE,
        0o010000 => go_mode::NAMED_PIPE,
        0o140000 => go_mode::SOCKET,
        _ => 0,
    };
    if unix & 0o4000 != 0 {
        mode |= go_mode::SETUID;
    }
    if unix & 0o2000 != 0 {
        mode |= go_mode::SETGID;
    }
    if unix & 0o1000 != 0 {
        mode |= go_mode::STICKY;
    }
    mode
}

/// A local directory the session offers.
#[derive(Debug, Clone)]
pub struct LocalDir {
    /// Where it is.
    pub dir: PathBuf,
    /// Exclude patterns that replace the daemon's (`.dockerignore`), unless
    /// it sends `override-excludes: true`.
    pub excludes: Vec<String>,
}

/// What the session's file transfers sent, for callers that report it.
#[derive(Debug, Default)]
pub struct TransferCounters {
    /// Stats sent (all transfers).
    pub stats: AtomicU64,
    /// Files whose data was requested and sent.
    pub files: AtomicU64,
    /// File data bytes sent.
    pub bytes: AtomicU64,
}

/// One walked entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its stat as sent.
    pub stat: Stat,
    /// The file to read when the daemon requests its data (regular files).
    pub source: Option<PathBuf>,
}

/// Walk options, as the daemon and the session's options set them.
#[derive(Debug, Default, Clone)]
pub struct WalkOptions {
    /// `include-patterns` (and `followpaths`).
    pub includes: Vec<String>,
    /// `exclude-patterns`, or the local's own excludes.
    pub excludes: Vec<String>,
}

/// Why a walk failed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A pattern is not valid.
    #[error(transparent)]
    Pattern(#[from] super::patterns::PatternError),
    /// The directory could not be read.
    #[error("cannot read {path}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

const PATTERN_CHARS: &[char] = &['*', '[', ']', '?', '^', '\\'];

struct Walker {
    include: Option<Matcher>,
    exclude: Option<Matcher>,
    only_prefix_includes: bool,
    only_prefix_exclude_exceptions: bool,
    seen: HashMap<(u64, u64), String>,
    out: Vec<Entry>,
}

struct Pending {
    path: PathBuf,
    rel: String,
    meta: std::fs::Metadata,
    sent: bool,
}

/// Walks `root` the way fsutil's `Walk` does and returns the entries to
/// send, in order.
pub fn walk(root: &Path, opts: &WalkOptions) -> Result<Vec<Entry>, WalkError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WalkError::Io { path, source }
    };
    let root = std::fs::canonicalize(root).map_err(io_err(root))?;
    if !std::fs::metadata(&root).map_err(io_err(&root))?.is_dir() {
        return Err(WalkError::Io { path: root, source: io::Error::other("not a directory") });
    }
    let include = if opts.includes.is_empty() { None } else { Some(Matcher::new(&opts.includes)?) };
    let exclude = if opts.excludes.is_empty() { None } else { Some(Matcher::new(&opts.excludes)?) };
    let only_prefix_includes = include.as_ref().is_none_or(|m| {
        !m.patterns().iter().any(|p| !p.exclusion() && p.without_trailing_glob().contains(PATTERN_CHARS))
    });
    let only_prefix_exclude_exceptions = exclude.as_ref().is_none_or(|m| {
        !m.patterns().iter().any(|p| p.exclusion() && p.without_trailing_glob().contains(PATTERN_CHARS))
    });
    let mut w = Walker {
        include,
        exclude,
        only_prefix_includes,
        only_prefix_exclude_exceptions,
        seen: HashMap::new(),
        out: Vec::new(),
    };
    let mut parents = Vec::new();
    w.dir(&root, "", &mut parents, &[], &[])?;
    Ok(w.out)
}

impl Walker {
    fn dir(
        &mut self,
        dir: &Path,
        rel_dir: &str,
        parents: &mut Vec<Pending>,
        parent_inc: &[bool],
        parent_exc: &[bool],
    ) -> Result<(), WalkError> {
        let read = match std::fs::read_dir(dir) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(WalkError::Io { path: dir.to_path_buf(), source }),
        };
        let mut names = Vec::new();
        for entry in read {
            let entry = entry.map_err(|source| WalkError::Io { path: dir.to_path_buf(), source })?;
            names.push(entry.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let name = name.to_string_lossy();
            let rel = if rel_dir.is_empty() { name.into_owned() } else { format!("{rel_dir}/{name}") };
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(WalkError::Io { path, source }),
            };
            let is_dir = meta.is_dir();
            let mut skip = false;
            let dir_slash = format!("{rel}/");
            let mut inc_info = Vec::new();
            if let Some(m) = &self.include {
                let (hit, info) = m.matches_using_parent(&rel, parent_inc);
                inc_info = info;
                if !hit {
                    if is_dir && self.only_prefix_includes {
                        let under = m.patterns().iter().any(|p| {
                            !p.exclusion() && format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash)
                        });
                        if !under {
                            continue;
                        }
                    }
                    skip = true;
                }
            }
            let mut exc_info = Vec::new();
            if let Some(m) = &self.exclude {
                let (hit, info) = m.matches_using_parent(&rel, parent_exc);
                exc_info = info;
                if hit {
                    if is_dir && self.only_prefix_exclude_exceptions {
                        if !m.has_exclusions() {
                            continue;
                        }
                        let reincluded = m.patterns().iter().any(|p| {
                            p.exclusion() && format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash)
                        });
                        if !reincluded {
                            continue;
                        }
                    }
                    skip = true;
                }
            }
            if !skip {
                for parent in parents.iter_mut().filter(|p| !p.sent) {
                    let stat = self.stat(&parent.path, &parent.rel, &parent.meta)?;
                    self.out.push(Entry { stat, source: None });
                    parent.sent = true;
                }
                let stat = self.stat(&path, &rel, &meta)?;
                let source = (stat.mode & go_mode::TYPE == 0).then(|| path.clone());
                self.out.push(Entry { stat, source });
            }
            if is_dir {
                parents.push(Pending { path: path.clone(), rel: rel.clone(), meta, sent: !skip });
                self.dir(&path, &rel, parents, &inc_info, &exc_info)?;
                parents.pop();
            }
        }
        Ok(())
    }

    fn stat(&mut self, path: &Path, rel: &str, meta: &std::fs::Metadata) -> Result<Stat, WalkError> {
        let mut stat = Stat {
            path: rel.to_string(),
            mode: go_mode_of(meta.mode()) & !go_mode::SOCKET,
            uid: meta.uid(),
            gid: meta.gid(),
            mod_time: meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec()),
            ..Default::default()
        };
        if !meta.is_dir() {
            stat.size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
            if meta.file_type().is_symlink() {
                let target =
                    std::fs::read_link(path).map_err(|source| WalkError::Io { path: path.to_path_buf(), source })?;
                stat.linkname = target.to_string_lossy().into_owned();
            }
            let mode = meta.mode() & 0o170000;
            if mode == 0o060000 || mode == 0o020000 {
                let rdev = meta.rdev();
                stat.devmajor = i64::try_from((rdev >> 8) & 0xfff).unwrap_or_default();
                stat.devminor = i64::try_from((rdev & 0xff) | ((rdev >> 12) & 0xfff00)).unwrap_or_default();
            }
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.seen.get(&key) {
                    stat.linkname = first.clone();
                    stat.size = 0;
                } else {
                    self.seen.insert(key, rel.to_string());
                }
            }
        }
        Ok(stat)
    }
}

/// The FileSync service: the session's locals.
#[derive(Debug, Clone)]
pub struct FileSyncService {
    dirs: Arc<BTreeMap<String, LocalDir>>,
    counters: Arc<TransferCounters>,
}

impl FileSyncService {
    /// Serves `dirs` by name, counting what is sent into `counters`.
    pub fn new(dirs: BTreeMap<String, LocalDir>, counters: Arc<TransferCounters>) -> Self {
        FileSyncService { dirs: Arc::new(dirs), counters }
    }
}

fn metadata_values(md: &tonic::metadata::MetadataMap, key: &str) -> Vec<String> {
    md.get_all(key).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
}

type PacketStream = Pin<Box<dyn Stream<Item = Result<Packet, Status>> + Send>>;

#[tonic::async_trait]
impl FileSync for FileSyncService {
    type DiffCopyStream = PacketStream;
    type TarStreamStream = PacketStream;

    async fn diff_copy(&self, request: Request<Streaming<Packet>>) -> Result<Response<PacketStream>, Status> {
        let md = request.metadata();
        let name = metadata_values(md, "dir-name").into_iter().next().unwrap_or_default();
        let Some(local) = self.dirs.get(&name) else {
            return Err(Status::not_found(format!("no access allowed to dir {name:?}")));
        };
        let mut includes = metadata_values(md, "include-patterns");
        // fsutil adds the follow paths (and the targets of symlinks among
        // them) to the include patterns; symlink targets are not resolved here.
        includes.extend(metadata_values(md, "followpaths"));
        let mut excludes = metadata_values(md, "exclude-patterns");
        let override_excludes = metadata_values(md, "override-excludes").first().is_some_and(|v| v == "true");
        if !local.excludes.is_empty() && !override_excludes {
            excludes = local.excludes.clone();
        }
        let opts = WalkOptions { includes, excludes };
        let dir = local.dir.clone();
        let entries = tokio::task::spawn_blocking(move || walk(&dir, &opts))
            .await
            .map_err(|e| Status::internal(format!("walking {name:?} failed: {e}")))?
            .map_err(|e| Status::invalid_argument(format!("local {name:?}: {}", error_chain(&e))))?;
        let incoming = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(128);
        tokio::spawn(send(entries, incoming, tx, self.counters.clone()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn tar_stream(&self, _request: Request<Streaming<Packet>>) -> Result<Response<PacketStream>, Status> {
        Err(Status::unimplemented("luakit sends locals with DiffCopy only"))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn packet(kind: PacketType) -> Packet {
    Packet { r#type: kind as i32, ..Default::default() }
}

/// The sender side of one DiffCopy call.
async fn send(
    entries: Vec<Entry>,
    mut incoming: Streaming<Packet>,
    tx: tokio::sync::mpsc::Sender<Result<Packet, Status>>,
    counters: Arc<TransferCounters>,
) {
    let (req_tx, mut req_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            match incoming.message().await {
                Ok(Some(p)) => {
                    if req_tx.send(Ok(p)).is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    let _ = req_tx.send(Err(status));
                    break;
                }
            }
        }
    });
    let mut sources: HashMap<u32, PathBuf> = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(source) = entry.source {
            sources.insert(id, source);
        }
        counters.stats.fetch_add(1, Ordering::Relaxed);
        let p = Packet { r#type: PacketType::PacketStat as i32, stat: Some(entry.stat), ..Default::default() };
        if tx.send(Ok(p)).await.is_err() {
            reader.abort();
            return;
        }
    }
    if tx.send(Ok(packet(PacketType::PacketStat))).await.is_err() {
        reader.abort();
        return;
    }
    while let Some(msg) = req_rx.recv().await {
        let p = match msg {
            Ok(p) => p,
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                break;
            }
        };
        match PacketType::try_from(p.r#type) {
            Ok(PacketType::PacketReq) => {
                let Some(path) = sources.remove(&p.id) else {
                    let _ = tx.send(Err(Status::invalid_argument(format!("invalid file id {}", p.id)))).await;
                    break;
                };
                if let Err(status) = send_file(p.id, &path, &tx, &counters).await {
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            }
            Ok(PacketType::PacketFin) => {
                let _ = tx.send(Ok(packet(PacketType::PacketFin))).await;
                break;
            }
            Ok(PacketType::PacketErr) => {
                let msg = String::from_utf8_lossy(&p.data).into_owned();
                let _ = tx.send(Err(Status::aborted(format!("error from receiver: {msg}")))).await;
                break;
            }
            _ => {}
        }
    }
    reader.abort();
}

async fn send_file(
    id: u32,
    path: &Path,
    tx: &tokio::sync::mpsc::Sender<Result<Packet, Status>>,
    counters: &TransferCounters,
) -> Result<(), Status> {
    let closed = || Status::cancelled("the receiver went away");
    // A file that vanished since the walk is sent empty, as fsutil does.
    if let Ok(mut file) = tokio::fs::File::open(path).await {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| Status::internal(format!("cannot read {}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
            let p = Packet { r#type: PacketType::PacketData as i32, id, data: buf[..n].to_vec(), ..Default::default() };
            tx.send(Ok(p)).await.map_err(|_| closed())?;
        }
    }
    counters.files.fetch_add(1, Ordering::Relaxed);
    let end = Packet { r#type: PacketType::PacketData as i32, id, ..Default::default() };
    tx.send(Ok(end)).await.map_err(|_| closed())
}
