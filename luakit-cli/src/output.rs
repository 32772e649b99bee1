//! Where command output goes: files written atomically (temp file in the same
//! directory, then rename), and stdout, which refuses binary data when it is
//! a terminal.

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;

use crate::UsageError;

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory is written and renamed over `path`. On any failure the
/// temporary file is removed and an existing `path` is left untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().with_context(|| format!("{}: not a file name", path.display()))?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    // No fsync: the rename makes the file appear whole or not at all to
    // readers and after any failure of this process; surviving a power cut
    // is not worth the ~10 ms an fsync costs every build.
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    // A new file gets the usual permissions (tempfile creates it 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::metadata(path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(_) => 0o666 & !umask(),
        };
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set permissions on {}", tmp.path().display()))?;
    }
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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
        Binary::Gateway => "refusing to speak the BuildKit gateway protocol on a terminal\n\
             hint: BuildKit runs `luakit frontend` from the frontend image; see `luakit frontend-image --help`"
            .to_string(),
    }))
}

/// Writes binary `bytes` to stdout, refusing a terminal.
pub fn write_binary_stdout(bytes: &[u8], what: Binary) -> anyhow::Result<()> {
    check_binary_stdout(io::stdout().is_terminal(), what)?;
    write_stdout(bytes)
}

/// Writes `bytes` to stdout and flushes.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).context("cannot write to standard output")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
