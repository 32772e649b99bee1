//! `luakit frontend` and `luakit frontend-image`, as far as they run without
//! BuildKit or Docker.

use std::io::Read as _;

use predicates::prelude::*;

use crate::build::on_terminal;
use crate::util::{R, dir_entries, luakit};

#[test]
fn frontend_without_buildkit_fails_cleanly() {
    // No BuildKit on the other end of stdin/stdout: an error, not a panic or a hang.
    luakit()
        .arg("frontend")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: "));
}

#[test]
fn frontend_and_frontend_image_refuse_a_terminal() -> R {
    let (code, shown) = on_terminal("frontend")?;
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("refusing to speak the BuildKit gateway protocol on a terminal"), "{shown}");
    let (code, shown) = on_terminal("frontend-image")?;
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("use -o FILE or pipe into docker load"), "{shown}");
    Ok(())
}

#[test]
fn frontend_image_writes_a_loadable_archive() -> R {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("frontend.tar");
    luakit().args(["frontend-image", "--tag", "example/luakit:test", "-o"]).arg(&out).assert().success().stdout("");
    assert_eq!(dir_entries(dir.path())?, ["frontend.tar"]);
    let mut archive = tar::Archive::new(std::fs::File::open(&out)?);
    let mut manifest = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        if entry.path()?.to_str() == Some("manifest.json") {
            let mut s = String::new();
            entry.read_to_string(&mut s)?;
            manifest = Some(serde_json::from_str::<serde_json::Value>(&s)?);
        }
    }
    let manifest = manifest.ok_or("manifest.json in the archive")?;
    assert_eq!(manifest[0]["RepoTags"][0], "example/luakit:test");
    Ok(())
}

#[test]
fn frontend_image_help_mentions_its_flags() -> R {
    let out = luakit().args(["frontend-image", "--help"]).output()?;
    let page = String::from_utf8_lossy(&out.stdout);
    for w in ["-o, --output <FILE>", "--tag <TAG>", "luakit/frontend:dev", "docker load"] {
        assert!(page.contains(w), "{w}:\n{page}");
    }
    let out = luakit().args(["frontend", "--help"]).output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("gateway"));
    Ok(())
}
