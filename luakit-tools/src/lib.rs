//! luakit-tools: the developer tools around luakit build scripts.
//!
//! - [`convert`]: a Dockerfile becomes an idiomatic, formatted `build.lua`
//!   (its own Dockerfile parser: heredocs, `--mount`, `${VAR:-x}`, …);
//! - [`types`]: LuaLS / EmmyLua annotations (`---@meta`) of the whole `bk`
//!   API, generated from the tables luakit-lua checks scripts against, so
//!   stubs and runtime cannot drift; [`init`] writes a starter project;
//! - [`fmt`]: formatting with StyLua's library in the project's style;
//! - [`lint`]: build-specific checks on the evaluated graph, each with
//!   `file:line` and a fix hint.
//!
//! Every tool is a library function; the `luakit` binary only parses
//! arguments and calls one of them. Output is deterministic, errors carry
//! the file and line, and files are written atomically.

#![deny(missing_docs)]

pub mod convert;
pub mod files;
pub mod fmt;
pub mod init;
pub mod lint;
pub mod types;

use std::path::PathBuf;

/// A failure of a tool outside the scripts it reads (files, directories).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that would be overwritten exists.
    #[error("{} already exists: not overwriting it", path.display())]
    Exists {
        /// The path.
        path: PathBuf,
    },
}
