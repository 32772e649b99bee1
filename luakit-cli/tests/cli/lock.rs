//! `luakit.lock`: the lock route gives byte for byte the Definition and the
//! image config of the frontend route (which pins to the digest
//! `ResolveImageConfig` returns); the frontend itself reads a lock from the
//! `dockerfile` local; `--locked` and `luakit lock --verify` refuse what is
//! missing or tampered with.

use std::path::{Path, PathBuf};

use luakit::ImageConfig;
use luakit::lock::{LOCK_FILE, Lock, LockedImage, LockedPlatform};

use crate::bridge::{ALL_LLB_CAPS, Gateway};
use crate::routes::{ALPINE, DIGEST, SCRIPT, frontend};
use crate::util::{R, luakit, text};

const MANIFEST: &str = "sha256:9999999999999999999999999999999999999999999999999999999999999999";

/// A lock pinning alpine:3.19 on linux/amd64 to `DIGEST` with `ALPINE`.
fn alpine_lock() -> Lock {
    let mut image = LockedImage {
        digest: DIGEST.into(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        ..LockedImage::default()
    };
    image.platforms.insert("linux/amd64".into(), LockedPlatform::new(MANIFEST, ALPINE));
    let mut lock = Lock::default();
    lock.images.insert("docker.io/library/alpine:3.19".into(), image);
    lock
}

/// A directory with `build.lua` (`SCRIPT`) and, if given, its lock.
fn project(lock: Option<&Lock>) -> Result<(tempfile::TempDir, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(&script, SCRIPT)?;
    if let Some(lock) = lock {
        lock.write(&dir.path().join(LOCK_FILE))?;
    }
    Ok((dir, script))
}

/// `luakit build --platform linux/amd64 [extra…] SCRIPT` → (Definition bytes, config).
fn build(dir: &Path, script: &Path, extra: &[&str]) -> Result<(Vec<u8>, ImageConfig), Box<dyn std::error::Error>> {
    let (def, config) = (dir.join("def.pb"), dir.join("config.json"));
    let out = luakit()
        .args(["build", "--platform", "linux/amd64", "-o"])
        .arg(&def)
        .arg("--image-config")
        .arg(&config)
        .args(extra)
        .arg(script)
        .output()?;
    assert!(out.status.success(), "luakit build: {}", text(&out.stderr));
    Ok((std::fs::read(def)?, ImageConfig::from_json(&std::fs::read(config)?)?))
}

fn no_names() -> Vec<&'static str> {
    ALL_LLB_CAPS.iter().copied().filter(|c| *c != "meta.description").collect()
}

#[test]
fn the_lock_route_builds_what_the_frontend_builds() -> R {
    let (dir, script) = project(Some(&alpine_lock()))?;
    let (locked_bytes, locked_config) = build(dir.path(), &script, &["--locked"])?;
    let (frontend_def, frontend_config) = frontend(&no_names())?;
    assert_eq!(luakit::llb::encode(&frontend_def), locked_bytes, "the Definitions differ");
    assert_eq!(frontend_config, locked_config, "the image configs differ");

    // Pinned to the top-level digest, the base config inherited.
    let def = crate::util::decode(&locked_bytes)?;
    let pinned = format!("docker-image://docker.io/library/alpine:3.19@{DIGEST}");
    let sources: Vec<String> = crate::util::ops(&def)?
        .into_iter()
        .filter_map(|op| match op.op {
            Some(luakit::pb::op::Op::Source(s)) => Some(s.identifier),
            _ => None,
        })
        .collect();
    assert!(sources.contains(&pinned), "{sources:?}");
    assert_eq!(locked_config.config.user, "app");
    assert_eq!(locked_config.config.working_dir, "/home/app");

    // Without --locked the lock is used all the same.
    assert_eq!(build(dir.path(), &script, &[])?.0, locked_bytes);
    // Without the lock the base is unknown: a different Definition.
    std::fs::remove_file(dir.path().join(LOCK_FILE))?;
    assert_ne!(build(dir.path(), &script, &[])?.0, locked_bytes);
    Ok(())
}

#[test]
fn the_frontend_reads_the_lock_beside_the_script() -> R {
    // The gateway knows no image: every answer comes from the lock.
    let mut gateway = Gateway::new(&no_names(), SCRIPT);
    gateway.files.insert(LOCK_FILE.into(), alpine_lock().to_bytes());
    gateway.run_frontend(&[("platform", "linux/amd64")])?;
    let returned = gateway.returned().ok_or("the frontend returned nothing")?;
    assert!(returned.error.is_none(), "the frontend failed: {:?}", returned.error);
    let metadata = returned.result.ok_or("no result")?.metadata;
    let config = ImageConfig::from_json(metadata.get(luakit::CONFIG_METADATA_KEY).ok_or("no config")?)?;
    let built = gateway.built().ok_or("nothing built")?;

    let (frontend_def, frontend_config) = frontend(&no_names())?;
    assert_eq!(built, frontend_def, "the lock gives what ResolveImageConfig gives");
    assert_eq!(config, frontend_config);
    Ok(())
}

#[test]
fn the_frontend_refuses_a_broken_lock() -> R {
    let mut gateway = Gateway::new(&no_names(), SCRIPT);
    let bytes = String::from_utf8(alpine_lock().to_bytes())?.replace(r#""User":"app""#, r#""User":"root""#);
    gateway.files.insert(LOCK_FILE.into(), bytes.into_bytes());
    gateway.images.insert("docker.io/library/alpine:3.19".into(), (DIGEST.into(), ALPINE.as_bytes().to_vec()));
    gateway.run_frontend(&[("platform", "linux/amd64")])?;
    let returned = gateway.returned().ok_or("the frontend returned nothing")?;
    let error = returned.error.ok_or("a tampered lock must fail the build")?;
    assert!(error.message.contains("does not match its config_digest"), "{}", error.message);
    Ok(())
}

#[test]
fn locked_refuses_what_the_lock_lacks() -> R {
    let (dir, script) = project(None)?;
    let out = luakit().args(["validate", "--locked"]).arg(&script).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("luakit.lock; run `luakit lock`"), "{stderr}");

    alpine_lock().write(&dir.path().join(LOCK_FILE))?;
    let out = luakit().args(["validate", "--locked", "--platform", "linux/arm64"]).arg(&script).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("build.lua:1: bk.image: cannot resolve 'docker.io/library/alpine:3.19' for linux/arm64: not in luakit.lock for linux/arm64; run `luakit lock`"),
        "{stderr}"
    );
    let out = luakit().args(["validate", "--locked", "--platform", "linux/amd64"]).arg(&script).output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    Ok(())
}

#[test]
fn verify_checks_presence_and_integrity_offline() -> R {
    let (dir, script) = project(Some(&alpine_lock()))?;
    let lock_path = dir.path().join(LOCK_FILE);
    let verify = |platforms: &[&str]| {
        let mut cmd = luakit();
        cmd.args(["lock", "--verify"]).arg(&script);
        for p in platforms {
            cmd.args(["--platform", p]);
        }
        cmd.output()
    };
    let out = verify(&["linux/amd64"])?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = verify(&["linux/amd64", "linux/arm64"])?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("lacks docker.io/library/alpine:3.19 for linux/arm64; run `luakit lock`"), "{stderr}");

    let good = std::fs::read_to_string(&lock_path)?;
    std::fs::write(&lock_path, good.replace(r#""User":"app""#, r#""User":"root""#))?;
    let out = verify(&["linux/amd64"])?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("luakit.lock: image 'docker.io/library/alpine:3.19'"), "{stderr}");
    assert!(stderr.contains("does not match its config_digest"), "{stderr}");
    // The build refuses it too, rather than building on another config.
    let out = luakit().args(["validate"]).arg(&script).output()?;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    std::fs::write(&lock_path, good.replace("version = 1", "version = 7"))?;
    let out = verify(&["linux/amd64"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("lock file version 7 is not supported"), "{}", text(&out.stderr));
    Ok(())
}
