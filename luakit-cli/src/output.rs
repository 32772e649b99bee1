//! Where command output goes.
//!
//! Files (`-o`, `--image-config`) are written the way `cp` and a shell's `>`
//! write them, but atomically where that is possible:
//! - a symbolic link is written through: its target is replaced and the
//!   link stays a link (a dangling link gets its target created);
//! - a regular file (or a new one) is written to a temporary file in the
//!   same directory as the real file, then renamed over it: it appears
//!   whole or not at all, keeps its permissions, and a failed command
//!   leaves it untouched;
//! - anything else that can be opened for writing (a FIFO, `/dev/null`, a
//!   terminal) is opened and written as is; a directory is refused.
//!
//! Several outputs of one command are prepared first (temporary files
//! written) and then committed together, so a failure before the commit
//! leaves every one of them untouched. Temporary files are registered with
//! [`guard`](crate::guard), which removes them if the process is ended by a
//! signal or a limit.
//!
//! Stdout refuses binary data when it is a terminal, and a stdout that was
//! closed (`>&-`) is an error rather than lost output.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;

use crate::UsageError;
use crate::guard::{self, Phase, TempRegistration};

/// Writes `bytes` to `path` (see the module documentation): atomically for
/// a regular file, through a symbolic link, as is into a FIFO or device.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let pending = prepare(path, bytes)?;
    commit(vec![pending])
}

/// An output ready to be committed.
#[derive(Debug)]
pub struct Pending<'a> {
    /// The path as the user gave it (for messages).
    shown: PathBuf,
    kind: PendingKind<'a>,
}

#[derive(Debug)]
enum PendingKind<'a> {
    /// A temporary file holding the bytes, to be renamed to `real`.
    Replace { temp: TempFile, real: PathBuf },
    /// A FIFO or device, written on commit.
    Stream { real: PathBuf, chunks: Vec<&'a [u8]> },
}

/// Prepares writing `bytes` to `path`: for a regular (or new) file, the
/// bytes are written to a temporary file beside it; nothing visible changes
/// until [`commit`].
pub fn prepare<'a>(path: &Path, bytes: &'a [u8]) -> anyhow::Result<Pending<'a>> {
    prepare_chunks(path, vec![bytes])
}

/// [`prepare`] for bytes held in pieces (`chunks`, written one after the
/// other, with as few system calls as one buffer would take).
pub fn prepare_chunks<'a>(path: &Path, chunks: Vec<&'a [u8]>) -> anyhow::Result<Pending<'a>> {
    let real = resolve_links(path).with_context(|| format!("cannot write {}", path.display()))?;
    let existing = match std::fs::metadata(&real) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot write {}", path.display())),
    };
    let shown = path.to_path_buf();
    match existing {
        Some(m) if m.is_dir() => anyhow::bail!("cannot write {}: it is a directory", path.display()),
        Some(m) if !m.is_file() => Ok(Pending { shown, kind: PendingKind::Stream { real, chunks } }),
        _ => {
            let temp = TempFile::beside(&real, existing.as_ref())?;
            temp.write(&chunks)?;
            Ok(Pending { shown, kind: PendingKind::Replace { temp, real } })
        }
    }
}

/// Writes `chunks` one after the other, many to a system call (`writev`),
/// retrying short and interrupted writes.
fn write_chunks(mut w: impl Write, chunks: &[&[u8]]) -> io::Result<()> {
    /// At most this many pieces per call (Linux's `IOV_MAX`).
    const MAX_SLICES: usize = 1024;
    let (mut i, mut offset) = (0, 0);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_SLICES.min(chunks.len()));
    while i < chunks.len() {
        if offset == chunks[i].len() {
            i += 1;
            offset = 0;
            continue;
        }
        slices.clear();
        slices.push(IoSlice::new(&chunks[i][offset..]));
        slices.extend(chunks[i + 1..].iter().take(MAX_SLICES - 1).map(|c| IoSlice::new(c)));
        let mut n = match w.write_vectored(&slices) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the whole output")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let left = chunks[i].len() - offset;
            if n < left {
                offset += n;
                break;
            }
            n -= left;
            i += 1;
            offset = 0;
        }
    }
    w.flush()
}

/// Commits prepared outputs: first the ones written as streams (FIFOs,
/// devices: these can block or fail), then the renames. If anything fails
/// before the renames, no regular file was touched.
pub fn commit(outputs: Vec<Pending<'_>>) -> anyhow::Result<()> {
    guard::set_phase(Phase::Writing);
    for o in &outputs {
        if let PendingKind::Stream { real, chunks } = &o.kind {
            let f = OpenOptions::new()
                .write(true)
                .open(real)
                .with_context(|| format!("cannot write {}", o.shown.display()))?;
            write_chunks(&f, chunks).with_context(|| format!("cannot write {}", o.shown.display()))?;
        }
    }
    guard::set_phase(Phase::Committing);
    let mut result = Ok(());
    for o in outputs {
        if let PendingKind::Replace { temp, real } = o.kind {
            if let Err(e) = temp.persist(&real) {
                result = Err(e).with_context(|| format!("cannot write {}", o.shown.display()));
                break;
            }
        }
    }
    // Done: a deadline passing now must not report a failure after the
    // outputs are in place.
    guard::set_phase(Phase::Done);
    result
}

/// `path` with symbolic links in its last component followed (repeatedly),
/// as far as they lead: the file a write to `path` would reach. A dangling
/// link resolves to its (missing) target.
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    // As the kernel's limit on nested links.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// A temporary file beside an output, removed unless persisted.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
    _registration: TempRegistration,
}

impl TempFile {
    /// Creates `.<name>.<pid>-<n>.tmp` in `real`'s directory, with the
    /// permissions of the file it replaces (or the usual ones of a new
    /// file).
    fn beside(real: &Path, existing: Option<&std::fs::Metadata>) -> anyhow::Result<TempFile> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = match real.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = real.file_name().with_context(|| format!("{}: not a file name", real.display()))?;
        let mut last_err = None;
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut temp_name = std::ffi::OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(".{}-{n}.tmp", std::process::id()));
            let path = dir.join(temp_name);
            // Registered before it exists: a signal in between finds a path
            // to remove (or nothing there yet), never a file it does not know.
            let registration = guard::register_temp(path.clone()).map_err(anyhow::Error::msg)?;
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(file) => {
                    let temp = TempFile { path, file, persisted: false, _registration: registration };
                    temp.set_mode(existing)?;
                    return Ok(temp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create a temporary file in {}", dir.display()));
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no free name")))
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
    }

    #[cfg(unix)]
    fn set_mode(&self, existing: Option<&std::fs::Metadata>) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match existing {
            Some(m) => m.permissions().mode() & 0o7777,
            None => 0o666 & !umask(),
        };
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on {}", self.path.display()))
    }

    #[cfg(not(unix))]
    fn set_mode(&self, _: Option<&std::fs::Metadata>) -> anyhow::Result<()> {
        Ok(())
    }

    fn write(&self, chunks: &[&[u8]]) -> anyhow::Result<()> {
        // No fsync: the rename makes the file appear whole or not at all to
        // readers and after any failure of this process; surviving a power
        // cut is not worth the ~10 ms an fsync costs every build.
        let _ = reserve(&self.file, chunks.iter().map(|c| c.len() as u64).sum());
        write_chunks(&self.file, chunks).with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn persist(mut self, to: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, to)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Allocates the disk blocks of a new file's `len` bytes before they are
/// written (its size is left as it is).
///
/// ext4 allocates a file's blocks when its pages are written back; a
/// rename that replaces an existing file first starts that writeback, so
/// that a crash cannot leave the new name empty. Started by the rename,
/// it made replacing a 4 MB Definition cost 4 ms; with the blocks
/// allocated up front the rename has nothing to start (0.4 ms). A file
/// system that cannot do it is written as before.
/// True when the blocks were allocated.
#[cfg(target_os = "linux")]
fn reserve(file: &File, len: u64) -> bool {
    use std::os::fd::AsRawFd as _;
    let Ok(len) = libc::off_t::try_from(len) else { return false };
    // SAFETY: a plain system call on a descriptor this file owns.
    #[allow(unsafe_code)]
    let r = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, len) };
    len > 0 && r == 0
}

#[cfg(not(target_os = "linux"))]
fn reserve(_: &File, _: u64) -> bool {
    false
}

/// The process umask, read without changing it (Linux reports it in
/// /proc/self/status); 022 when unknown.
#[cfg(unix)]
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

// ---------------------------------------------------------------------------
// Inputs and outputs that must differ
// ---------------------------------------------------------------------------

/// What identifies a file: its device and inode when it exists, else the
/// canonical directory and name it would be created as (after following
/// symbolic links, as a write would).
#[derive(Debug, PartialEq, Eq)]
enum FileId {
    Inode { dev: u64, ino: u64, regular: bool },
    Path(PathBuf),
}

fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    if let Ok(m) = std::fs::metadata(path) {
        use std::os::unix::fs::MetadataExt as _;
        return Some(FileId::Inode { dev: m.dev(), ino: m.ino(), regular: m.is_file() });
    }
    let real = resolve_links(path).ok()?;
    let dir = match real.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(FileId::Path(dir.canonicalize().ok()?.join(real.file_name()?)))
}

/// Refuses outputs that are the input script, or each other, before any
/// work is done: `-o build.lua build.lua` would replace the script with its
/// own Definition. (Two outputs that are the same device or FIFO, such as
/// `/dev/null`, are allowed.)
pub fn check_distinct(input: &Path, outputs: &[(&str, &Path)]) -> Result<(), UsageError> {
    let input_id = file_id(input);
    let ids: Vec<Option<FileId>> = outputs.iter().map(|(_, p)| file_id(p)).collect();
    for (i, (flag, path)) in outputs.iter().enumerate() {
        if ids[i].is_some() && ids[i] == input_id {
            return Err(UsageError(format!(
                "{flag} {} is the script {} itself: refusing to overwrite it",
                path.display(),
                input.display()
            )));
        }
        for (j, (other_flag, other)) in outputs.iter().enumerate().take(i) {
            let shared_stream = matches!(ids[i], Some(FileId::Inode { regular: false, .. }));
            if ids[i].is_some() && ids[i] == ids[j] && !shared_stream {
                return Err(UsageError(format!(
                    "{flag} {} and {other_flag} {} are the same file: give them different paths",
                    path.display(),
                    other.display()
                )));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Stdout
// ---------------------------------------------------------------------------

/// Binary data that `luakit` writes to stdout, and where it should go instead
/// of a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// An LLB definition (`luakit build`).
    Definition,
    /// An image archive (`luakit frontend-image`).
    ImageArchive,
    /// The gateway protocol (`luakit frontend`), which BuildKit reads from a pipe.
    Gateway,
    /// An exporter's tarball (`luakit solve --output type=tar|oci|docker,dest=-`).
    Tarball,
}

/// Decides whether binary output may go to stdout: never to a terminal.
pub fn check_binary_stdout(stdout_is_terminal: bool, what: Binary) -> Result<(), UsageError> {
    if !stdout_is_terminal {
        return Ok(());
    }
    Err(UsageError(match what {
        Binary::Definition => "refusing to write a binary LLB definition to a terminal\n\
             hint: use -o FILE or pipe into buildctl build, e.g. `luakit build build.lua | buildctl build --local context=.`"
            .to_string(),
        Binary::ImageArchive => "refusing to write an image archive to a terminal\n\
             hint: use -o FILE or pipe into docker load, e.g. `luakit frontend-image | docker load`"
            .to_string(),
        Binary::Tarball => "refusing to write a tarball to a terminal\n\
             hint: use dest=FILE or pipe it, e.g. `luakit solve --output type=tar,dest=- | tar -t`"
            .to_string(),
        Binary::Gateway => "refusing to speak the BuildKit gateway protocol on a terminal\n\
             hint: BuildKit runs `luakit frontend` from the frontend image; see `luakit frontend-image --help`"
            .to_string(),
    }))
}

/// The error of writing to a stdout that was closed when luakit started.
pub fn check_stdout_open() -> anyhow::Result<()> {
    if guard::stdout_closed() {
        anyhow::bail!("cannot write to standard output: it is closed");
    }
    Ok(())
}

/// Writes binary `bytes` to stdout, refusing a terminal.
pub fn write_binary_stdout(bytes: &[u8], what: Binary) -> anyhow::Result<()> {
    check_binary_stdout(io::stdout().is_terminal(), what)?;
    write_stdout(bytes)
}

/// Writes `bytes` to stdout and flushes. A closed stdout is an error.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    check_stdout_open()?;
    guard::set_phase(Phase::Writing);
    let mut out = io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).context("cannot write to standard output")?;
    guard::set_phase(Phase::Done);
    Ok(())
}

/// Whether `e` is a write to a pipe whose reader went away (`| head`),
/// which commands treat as the reader's choice, not an error to report.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_blocks_of_an_output_are_allocated_before_it_is_written() -> anyhow::Result<()> {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir()?;
        let file = File::create(dir.path().join("out"))?;
        // The test directories are on ext4 or tmpfs, both of which can.
        assert!(reserve(&file, 1 << 20), "fallocate failed");
        let m = file.metadata()?;
        assert_eq!(m.len(), 0, "the size is left as it was");
        assert!(m.blocks() * 512 >= 1 << 20, "{} blocks allocated", m.blocks());
        Ok(())
    }

    /// A writer that takes at most `limit` bytes a call and is interrupted
    /// every third call.
    struct Stingy {
        out: Vec<u8>,
        limit: usize,
        calls: usize,
    }

    impl Write for Stingy {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 0 {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.limit {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn chunks_are_written_whole_through_short_and_interrupted_writes() {
        let owned: Vec<Vec<u8>> = (0..3000u32).map(|i| vec![(i % 251) as u8; (i % 7) as usize]).collect();
        let chunks: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        for limit in [1, 5, 64, 100_000] {
            let mut w = Stingy { out: Vec::new(), limit, calls: 0 };
            write_chunks(&mut w, &chunks).expect("written");
            assert_eq!(w.out, chunks.concat(), "limit {limit}");
        }
        let mut w = Stingy { out: Vec::new(), limit: 3, calls: 0 };
        write_chunks(&mut w, &[]).expect("nothing to write");
        assert!(w.out.is_empty());
    }

    #[test]
    fn terminal_is_refused_with_a_hint() {
        let e = check_binary_stdout(true, Binary::Definition).expect_err("terminal refused");
        assert!(e.0.contains("-o FILE") && e.0.contains("buildctl build"), "{}", e.0);
        let e = check_binary_stdout(true, Binary::ImageArchive).expect_err("terminal refused");
        assert!(e.0.contains("-o FILE") && e.0.contains("docker load"), "{}", e.0);
        assert!(check_binary_stdout(false, Binary::Definition).is_ok());
        assert!(check_binary_stdout(false, Binary::ImageArchive).is_ok());
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("out.pb");
        write_atomic(&p, b"one")?;
        write_atomic(&p, b"two")?;
        assert_eq!(std::fs::read(&p)?, b"two");
        let names: Vec<_> =
            std::fs::read_dir(dir.path())?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
        assert_eq!(names.len(), 1, "{names:?}");
        Ok(())
    }

    #[test]
    fn atomic_write_into_missing_dir_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("missing").join("out.pb");
        assert!(write_atomic(&p, b"x").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_symlinks_and_keeps_them() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        std::fs::create_dir(d.join("real"))?;
        std::fs::write(d.join("real/target.pb"), "old")?;
        std::os::unix::fs::symlink("real/target.pb", d.join("link.pb"))?;
        write_atomic(&d.join("link.pb"), b"new")?;
        assert!(std::fs::symlink_metadata(d.join("link.pb"))?.file_type().is_symlink());
        assert_eq!(std::fs::read(d.join("real/target.pb"))?, b"new");
        // A dangling link gets its target.
        std::os::unix::fs::symlink("real/fresh.pb", d.join("dangling.pb"))?;
        write_atomic(&d.join("dangling.pb"), b"fresh")?;
        assert_eq!(std::fs::read(d.join("real/fresh.pb"))?, b"fresh");
        assert_eq!(std::fs::read_dir(d.join("real"))?.count(), 2, "no temporary file left");
        Ok(())
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = write_atomic(dir.path(), b"x").expect_err("a directory");
        assert!(e.to_string().ends_with("it is a directory"), "{e}");
    }

    #[test]
    fn outputs_must_differ_from_the_input_and_each_other() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let script = d.join("build.lua");
        std::fs::write(&script, "")?;
        assert!(check_distinct(&script, &[("-o", &d.join("out.pb")), ("--image-config", &d.join("c.json"))]).is_ok());
        let e = check_distinct(&script, &[("-o", &d.join("./build.lua"))]).expect_err("same file");
        assert!(e.0.contains("is the script") && e.0.contains("itself"), "{}", e.0);
        // Not yet existing outputs that name the same path.
        let e = check_distinct(&script, &[("-o", &d.join("x.pb")), ("--image-config", &d.join("sub/../x.pb"))]);
        // `sub` does not exist, so this is not the same path as far as the OS can tell: allowed.
        assert!(e.is_ok());
        let e = check_distinct(&script, &[("-o", &d.join("x.pb")), ("--image-config", &d.join("./x.pb"))])
            .expect_err("same new file");
        assert!(e.0.contains("are the same file"), "{}", e.0);
        // Devices may be named twice.
        #[cfg(unix)]
        assert!(
            check_distinct(&script, &[("-o", Path::new("/dev/null")), ("--image-config", Path::new("/dev/null"))])
                .is_ok()
        );
        Ok(())
    }
}
