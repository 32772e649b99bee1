//! Shared helpers: the binary, fixture paths, decoding output.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use luakit::{Digest, pb};
use prost::Message as _;

pub type R = Result<(), Box<dyn std::error::Error>>;

/// The `luakit` binary, run from the workspace root with no stdin.
pub fn luakit() -> Command {
    let mut cmd = Command::cargo_bin("luakit").expect("the luakit binary is built");
    cmd.current_dir(workspace());
    cmd.write_stdin(Vec::<u8>::new());
    cmd
}

/// The workspace root (fixture paths are relative to it).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("workspace root exists")
}

/// `fixtures/cli/<name>/build.lua`, relative to the workspace root.
pub fn cli_fixture(name: &str) -> String {
    format!("fixtures/cli/{name}/build.lua")
}

/// Decodes a Definition.
pub fn decode(bytes: &[u8]) -> Result<pb::Definition, prost::DecodeError> {
    pb::Definition::decode(bytes)
}

/// The ops of a Definition (every entry but the terminal one).
pub fn ops(def: &pb::Definition) -> Result<Vec<pb::Op>, prost::DecodeError> {
    let n = def.def.len().saturating_sub(1);
    def.def[..n].iter().map(|b| pb::Op::decode(b.as_slice())).collect()
}

/// The digest of every `def` entry.
pub fn digests(def: &pb::Definition) -> std::collections::BTreeSet<String> {
    def.def.iter().map(|b| Digest::of(b).to_string()).collect()
}

/// The names of the files in `dir`, sorted.
pub fn dir_entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut v = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort();
    Ok(v)
}

/// stdout/stderr of an assert_cmd output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
