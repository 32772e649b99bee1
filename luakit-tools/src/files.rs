//! Finding Lua files under paths and writing files atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::ToolError;

/// The `.lua` files at `paths`: each file named explicitly, and every
/// `*.lua` below each directory (skipping hidden directories and `target`),
/// sorted and without duplicates.
pub fn lua_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ToolError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ToolError::Io { path: p.clone(), source })?;
        if meta.is_file() {
            files.push(p.clone());
            continue;
        }
        let mut dirs = vec![p.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|source| ToolError::Io { path: dir.clone(), source })?;
            for entry in entries {
                let entry = entry.map_err(|source| ToolError::Io { path: dir.clone(), source })?;
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                let ty = entry.file_type().map_err(|source| ToolError::Io { path: path.clone(), source })?;
                if ty.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        dirs.push(path);
                    }
                } else if name.ends_with(".lua") && path.is_file() {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// and a rename, keeping an existing file's permissions: readers see the
/// old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ToolError> {
    let io = |source| ToolError::Io { path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".luakit-").suffix(".tmp").tempfile_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
