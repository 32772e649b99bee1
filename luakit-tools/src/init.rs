//! `luakit init`: a starter project: `build.lua`, `build_test.lua` (run by
//! `luakit test`), the editor stubs and a `.luarc.json` pointing at them.
//! Existing files are never overwritten.

use std::path::{Path, PathBuf};

use crate::ToolError;

/// The starter build script.
pub const BUILD_LUA: &str = r#"-- A luakit build script: `luakit build build.lua`, or `docker build -f build.lua .`
-- with the luakit frontend (add `# syntax=luakit/frontend:dev` as the first line).

local version = bk.arg("VERSION", "dev")

-- Build in one image, ship only the result in another.
local built = bk.image("alpine:3.19")
    :copy(bk.local_("context"), ".", "/src")
    :run("mkdir -p /out && echo " .. version .. " > /out/version", { cwd = "/src" })

local final = bk.image("alpine:3.19"):copy(built, "/out/version", "/app/version")

bk.export(final, {
    cmd = { "cat", "/app/version" },
    user = "1000:1000",
})
"#;

/// The starter test file, run by `luakit test`.
pub const BUILD_TEST_LUA: &str = r#"-- Tests for the build logic: `luakit test` runs every global test_* function.

function test_the_image_has_a_path()
    assert(bk.image("alpine:3.19"):get_env("PATH") ~= nil)
end

function test_build_arguments_have_defaults()
    assert(bk.arg("VERSION", "dev") == "dev")
end
"#;

/// Where the stubs go, relative to the project directory.
pub const STUBS_DIR: &str = ".luakit/types";

/// Writes a starter project into `dir` (created if missing). Returns the
/// files written; fails, writing nothing, if `build.lua`, `build_test.lua`
/// or `.luarc.json` already exists there. The stubs are rewritten.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ToolError::Io { path, source }
    };
    let files: Vec<(String, String)> = vec![
        ("build.lua".to_string(), BUILD_LUA.to_string()),
        ("build_test.lua".to_string(), BUILD_TEST_LUA.to_string()),
        (".luarc.json".to_string(), crate::types::luarc(STUBS_DIR)),
        (format!("{STUBS_DIR}/{}", crate::types::STUBS_FILE), crate::types::stubs()),
    ];
    for (name, _) in &files[..3] {
        let path = dir.join(name);
        if path.exists() {
            return Err(ToolError::Exists { path });
        }
    }
    let mut written = Vec::new();
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        crate::files::write_atomic(&path, text.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}
