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
    luakit()
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["frontend-image", "--tag", "example/luakit:test", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stdout("");
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
    // Dated by the build (its commit's time), not 1970, when that is known.
    let created = created_of(&out)?;
    if !env!("LUAKIT_BUILD_TIME").is_empty() {
        assert_ne!(created, "1970-01-01T00:00:00Z");
        assert!(created.as_str() >= "2020", "{created}");
    }
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

/// The image config's `created` of an archive.
fn created_of(archive: &std::path::Path) -> Result<String, Box<dyn std::error::Error>> {
    let mut files = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(std::fs::File::open(archive)?).entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        files.insert(name, data);
    }
    let manifest: serde_json::Value = serde_json::from_slice(files.get("manifest.json").ok_or("manifest.json")?)?;
    let config_name = manifest[0]["Config"].as_str().ok_or("Config")?;
    let config: serde_json::Value = serde_json::from_slice(files.get(config_name).ok_or("the config")?)?;
    Ok(config["created"].as_str().ok_or("created")?.to_string())
}

#[test]
fn frontend_image_is_dated_by_source_date_epoch_or_the_build() -> R {
    let dir = tempfile::tempdir()?;
    let dated = dir.path().join("dated.tar");
    luakit().env("SOURCE_DATE_EPOCH", "1700000000").args(["frontend-image", "-o"]).arg(&dated).assert().success();
    assert_eq!(created_of(&dated)?, "2023-11-14T22:13:20Z");

    // Without it, the build's time: see frontend_image_writes_a_loadable_archive.
    luakit()
        .env("SOURCE_DATE_EPOCH", "soon")
        .args(["frontend-image", "-o"])
        .arg(dir.path().join("bad.tar"))
        .assert()
        .code(1)
        .stderr("error: SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01, got 'soon'\n");
    Ok(())
}
