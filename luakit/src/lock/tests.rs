//! The lock format: exact round trips, deterministic bytes, refusals.

use std::sync::Arc;

use luakit_graph::{Platform, ResolveMode};
use luakit_lua::ImageResolver as _;

use super::*;
use crate::Unresolved;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

fn sample() -> Lock {
    let mut lock = Lock::default();
    let mut busybox = LockedImage {
        digest: D1.into(),
        media_type: "application/vnd.oci.image.index.v1+json".into(),
        ..LockedImage::default()
    };
    busybox.platforms.insert(
        "linux/arm64".into(),
        LockedPlatform::new(
            D2,
            r#"{"architecture":"arm64","os":"linux","config":{"Cmd":["sh","-c","echo 'hi' \"there\""]}}"#,
        ),
    );
    busybox.platforms.insert(
        "linux/amd64".into(),
        LockedPlatform::new(D3, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"A=\\u00e9 tab\\t\"],\"User\":\"app\"}}\n"),
    );
    lock.images.insert("docker.io/library/busybox:1.36".into(), busybox);
    let mut alpine = LockedImage {
        digest: D2.into(),
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        ..LockedImage::default()
    };
    alpine
        .platforms
        .insert("linux/amd64".into(), LockedPlatform::new(D2, "{\"os\":\"linux\",\"architecture\":\"amd64\"}\r\n"));
    lock.images.insert("docker.io/library/alpine:3.19".into(), alpine);
    lock
}

#[test]
fn round_trips_exactly_and_deterministically() -> Result<(), LockError> {
    let lock = sample();
    let bytes = lock.to_bytes();
    let back = Lock::parse(&bytes)?;
    assert_eq!(back, lock, "config bytes (quotes, newlines, CRLF, escapes) survive");
    assert_eq!(back.to_bytes(), bytes, "same state, same bytes");
    let text = String::from_utf8(bytes).expect("TOML is UTF-8");
    assert!(text.starts_with("# This file is written by `luakit lock`"), "{text}");
    assert!(text.contains("\nversion = 1\n"), "{text}");
    // Sorted: alpine before busybox, amd64 before arm64.
    let a = text.find("alpine:3.19").expect("alpine");
    let b = text.find("busybox:1.36").expect("busybox");
    assert!(a < b, "{text}");
    let amd = text.find("platform = \"linux/amd64\"\nmanifest = \"sha256:3333").expect("amd64");
    let arm = text.find("platform = \"linux/arm64\"").expect("arm64");
    assert!(amd < arm, "{text}");
    Ok(())
}

#[test]
fn writes_atomically_and_reads_back() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(LOCK_FILE);
    assert_eq!(Lock::read(&path)?, None, "no lock is not an error");
    sample().write(&path)?;
    assert_eq!(Lock::read(&path)?, Some(sample()));
    let names: Vec<_> = std::fs::read_dir(dir.path())?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    assert_eq!(names, [LOCK_FILE], "no temporary file is left behind");
    Ok(())
}

#[test]
fn unknown_versions_are_refused() {
    for (text, found) in [("version = 2\n", "2"), ("version = \"1\"\n", "\"1\""), ("[[image]]\n", "none")] {
        let err = Lock::parse(text.as_bytes()).expect_err(text);
        assert!(matches!(&err, LockError::Version { found: f, .. } if f == found), "{err:?}");
        assert!(err.to_string().contains("regenerate it with `luakit lock`"), "{err}");
    }
}

#[test]
fn inconsistent_entries_are_refused() {
    let good = String::from_utf8(sample().to_bytes()).expect("UTF-8");
    let cases = [
        (
            good.replace("\"docker.io/library/alpine:3.19\"", "\"alpine:3.19\""),
            "not normalized (expected 'docker.io/library/alpine:3.19')",
        ),
        (good.replace(r#""User":"app""#, r#""User":"root""#), "does not match its config_digest"),
        (
            good.replace("platform = \"linux/arm64\"", "platform = \"linux/amd64\""),
            "platform linux/amd64 appears twice",
        ),
        (
            good.replace("platform = \"linux/arm64\"", "platform = \"linux/aarch64\""),
            "is not normalized (expected 'linux/arm64')",
        ),
        (good.replacen(D1, "sha256:xyz", 1), "is not sha256:<64 hex>"),
        (good.replace("media_type =", "mediatype ="), "not a valid lock file"),
    ];
    for (text, want) in cases {
        assert_ne!(text, good, "the case changes the file: {want}");
        let err = Lock::parse(text.as_bytes()).expect_err(want);
        let shown = chain(&err);
        assert!(shown.contains(want), "{shown}\nwanted: {want}");
        assert!(shown.starts_with("luakit.lock"), "{shown}");
    }
}

#[test]
fn the_lock_resolver_returns_the_top_level_digest_and_exact_config()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let lock = Arc::new(sample());
    let resolver = LockResolver::new(lock.clone(), Missing::Fail);
    let amd64 = Platform::new("linux", "amd64", "");
    let image = resolver.resolve("docker.io/library/busybox:1.36", &amd64, ResolveMode::Always)?.ok_or("resolved")?;
    assert_eq!(image.digest, D1, "the top-level digest, as ResolveImageConfig pins");
    assert_eq!(image.config.config.user, "app");
    assert_eq!(image.config.config.env, ["A=é tab\t"]);

    let err = resolver
        .resolve("docker.io/library/busybox:1.36", &Platform::new("linux", "s390x", ""), ResolveMode::Default)
        .expect_err("not locked for s390x");
    assert_eq!(err.to_string(), "not in luakit.lock for linux/s390x; run `luakit lock`");

    let lenient = LockResolver::new(lock, Missing::Fallback(Arc::new(Unresolved)));
    assert!(lenient.resolve("docker.io/library/debian:12", &amd64, ResolveMode::Default)?.is_none());
    Ok(())
}

#[test]
fn the_recording_resolver_notes_every_request_sorted() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rec = RecordingResolver::new(Arc::new(Unresolved));
    rec.resolve("docker.io/library/b:1", &Platform::new("linux", "arm64", "v8"), ResolveMode::Default)?;
    rec.resolve("docker.io/library/a:1", &Platform::new("linux", "amd64", ""), ResolveMode::Default)?;
    rec.resolve("docker.io/library/a:1", &Platform::new("linux", "amd64", ""), ResolveMode::Always)?;
    let used: Vec<_> = rec.used().into_iter().map(|u| format!("{} {}", u.reference, u.platform)).collect();
    assert_eq!(used, ["docker.io/library/a:1 linux/amd64", "docker.io/library/b:1 linux/arm64"]);
    Ok(())
}
