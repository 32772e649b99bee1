//! luakit-tools: the developer tools around luakit build scripts.
//!
//! This is layer 4 of luakit (ARCHITECTURE.md in the repository): it
//! depends on luakit-lua, luakit-image-config and luakit-graph, and the
//! `luakit` binary's `convert`, `types`, `init`, `fmt` and `lint` commands
//! call it. docs/tools.md describes the commands.
//!
//! # Design
//!
//! - [`convert`]: a Dockerfile becomes an idiomatic, formatted `build.lua`
//!   (its own Dockerfile parser: heredocs, `--mount`, `${VAR:-x}`, …);
//! - [`types`]: LuaLS / EmmyLua annotations (`---@meta`) of the whole `bk`
//!   API, generated from the tables luakit-lua checks scripts against, so
//!   stubs and runtime cannot drift; [`init`] writes a starter project;
//! - [`fmt`]: formatting with StyLua's library in the project's style;
//! - [`lint`]: build-specific checks on the evaluated graph, each with
//!   `file:line` and a fix hint;
//! - [`files`]: finding the `.lua` files of the paths given, and writing
//!   files atomically.
//!
//! # Invariants
//!
//! Every tool is a library function; the `luakit` binary only parses
//! arguments and calls one of them. Output is deterministic, errors carry
//! the file and line ([`ToolError`] and each tool's own error), and files
//! are written atomically.
//!
//! # Example
//!
//! ```
//! use luakit_tools::convert::{convert, ConvertOptions};
//!
//! let dockerfile = "FROM alpine:3.19\nRUN apk add --no-cache curl\nCMD [\"curl\", \"--version\"]\n";
//! let converted = convert(dockerfile, &ConvertOptions::default())?;
//! assert!(converted.lua.contains(r#"bk.image("alpine:3.19")"#), "{}", converted.lua);
//! assert!(converted.lua.contains("apk add --no-cache curl"));
//! assert!(converted.warnings.is_empty());
//! // The output is already in the project's style: formatting changes nothing.
//! assert_eq!(luakit_tools::fmt::format_source(&converted.lua)?, converted.lua);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
