//! Reading the files luakit is given (scripts, modules, Definitions) without
//! hanging or running out of memory: only regular files are read, a FIFO
//! without a writer is refused instead of blocking in `open`, and no more
//! than a given number of bytes is ever held.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::Path;

use crate::error::format_bytes;

/// Reads the regular file at `path`, refusing anything else (a directory, a
/// FIFO, a device such as `/dev/zero`, a socket) and any file larger than
/// `max_bytes`. The error says what the file is or how large; callers add
/// the path.
///
/// The file is opened without blocking (`O_NONBLOCK`), so a FIFO that no
/// process writes to is refused at once rather than waited on forever; the
/// type is checked on the opened file, so it cannot change in between.
pub fn read_regular_file(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("it is {}, not a regular file", kind(&meta))));
    }
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than the memory limit of {}", format_bytes(max_bytes)),
        )
    };
    let max = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    if meta.len() > max {
        return Err(too_large());
    }
    // The size is only a hint (files under /proc say 0; a file may grow):
    // the read itself stops one byte past the limit.
    let hint = usize::try_from(meta.len()).unwrap_or(max_bytes).min(max_bytes);
    let mut bytes = Vec::with_capacity(hint);
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // O_NONBLOCK: opening a FIFO does not wait for a writer (it has no
    // effect on reading a regular file). O_NOCTTY: a terminal device named
    // as a script never becomes the controlling terminal.
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// What a non-regular file is, for messages: "a directory", "a FIFO (named pipe)"…
pub(crate) fn kind(meta: &std::fs::Metadata) -> &'static str {
    let ty = meta.file_type();
    if ty.is_dir() {
        return "a directory";
    }
    if ty.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ty.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ty.is_char_device() {
            return "a character device";
        }
        if ty.is_block_device() {
            return "a block device";
        }
        if ty.is_socket() {
            return "a socket";
        }
    }
    if ty.is_file() { "a regular file" } else { "not a regular file" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_bound() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("luakit-fsread-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let p = dir.join("a.lua");
        std::fs::write(&p, b"0123456789")?;
        assert_eq!(read_regular_file(&p, 10)?, b"0123456789");
        let e = read_regular_file(&p, 9).expect_err("too large");
        assert!(e.to_string().contains("larger than the memory limit of 9 bytes"), "{e}");
        let e = read_regular_file(&dir, 100).expect_err("a directory");
        assert_eq!(e.to_string(), "it is a directory, not a regular file");
        std::fs::remove_dir_all(&dir)
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_refused() {
        let e = read_regular_file(Path::new("/dev/zero"), 1 << 20).expect_err("a device");
        assert_eq!(e.to_string(), "it is a character device, not a regular file");
    }
}
