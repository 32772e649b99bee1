//! The registry protocol against an in-process fake registry (a small
//! HTTP/1.1 server on 127.0.0.1): Bearer token auth with Docker config
//! credentials, index platform selection (variants, attestations skipped),
//! verified blobs, and the errors users see (wrong password, unknown tag,
//! schema 1, tampered content, no such platform).

mod fake;

use luakit::Platform;
use luakit_resolve::{DockerConfig, Error, Registry, RegistryOptions};

use fake::{FakeRegistry, sha};

type R = Result<(), Box<dyn std::error::Error>>;

fn client(dir: &std::path::Path, auth: Option<&str>) -> Result<Registry, Box<dyn std::error::Error>> {
    let config = dir.join("config.json");
    if let Some(auth) = auth {
        std::fs::write(&config, auth)?;
    }
    Ok(Registry::new(RegistryOptions::default(), DockerConfig::load(&config)?))
}

fn basic(host: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)
}

#[test]
fn resolves_each_platform_of_an_index_through_bearer_auth() -> R {
    let reg = FakeRegistry::start(true)?;
    let dir = tempfile::tempdir()?;
    let client = client(dir.path(), Some(&basic(&reg.host, "user", "secret")))?;
    let reference = format!("{}/luakit-e2e/multi:1", reg.host);

    let amd = client.resolve(&reference, &Platform::new("linux", "amd64", ""))?;
    assert_eq!(amd.digest, sha(&reg.index), "the top-level digest is the index's");
    assert_eq!(amd.media_type, "application/vnd.oci.image.index.v1+json");
    assert_eq!(amd.manifest, sha(&reg.manifest_amd64));
    assert_eq!(amd.config, reg.config_amd64, "the exact bytes");

    let arm = client.resolve(&reference, &Platform::new("linux", "arm64", "v8"))?;
    assert_eq!(arm.digest, amd.digest);
    assert_eq!(arm.config, reg.config_arm64);

    let err = client.resolve(&reference, &Platform::new("linux", "s390x", "")).expect_err("no s390x");
    assert!(matches!(err, Error::NoPlatform { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{reference} has no image for linux/s390x (it has: linux/amd64, linux/arm64)"),
        "the attestation entry is not offered"
    );

    let (head, media) = client.head(&reference)?;
    assert_eq!((head, media.as_str()), (amd.digest.clone(), "application/vnd.oci.image.index.v1+json"));
    assert!(reg.token_requests() >= 1, "the token endpoint was used");
    Ok(())
}

#[test]
fn a_wrong_password_and_no_credentials_are_refused_clearly() -> R {
    let reg = FakeRegistry::start(true)?;
    let dir = tempfile::tempdir()?;
    let reference = format!("{}/luakit-e2e/multi:1", reg.host);
    let wrong = client(dir.path(), Some(&basic(&reg.host, "user", "nope")))?;
    let err = wrong.resolve(&reference, &Platform::new("linux", "amd64", "")).expect_err("wrong password");
    assert!(matches!(err, Error::AuthRefused { status: 401, .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("registry {} refused access (HTTP 401)", reg.host)), "{err}");

    let dir2 = tempfile::tempdir()?;
    let none = client(dir2.path(), None)?;
    let err = none.resolve(&reference, &Platform::new("linux", "amd64", "")).expect_err("no credentials");
    assert!(matches!(err, Error::AuthRefused { .. }), "{err:?}");
    Ok(())
}

#[test]
fn unknown_tags_schema1_and_tampered_blobs_are_errors() -> R {
    let reg = FakeRegistry::start(false)?;
    let dir = tempfile::tempdir()?;
    let client = client(dir.path(), None)?;
    let amd64 = Platform::new("linux", "amd64", "");

    let err = client.resolve(&format!("{}/luakit-e2e/multi:2", reg.host), &amd64).expect_err("unknown tag");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("not found in the registry (manifests/2)"), "{err}");

    let err = client.resolve(&format!("{}/luakit-e2e/multi:old", reg.host), &amd64).expect_err("schema 1");
    assert!(err.to_string().contains("schema 1"), "{err}");

    let err = client.resolve(&format!("{}/luakit-e2e/multi:tampered", reg.host), &amd64).expect_err("tampered");
    assert!(matches!(err, Error::Integrity { .. }), "{err:?}");

    // A single manifest (no index): the top-level digest is the manifest's.
    let single = client.resolve(&format!("{}/luakit-e2e/multi:single", reg.host), &amd64)?;
    assert_eq!(single.digest, sha(&reg.manifest_amd64));
    assert_eq!(single.manifest, single.digest);

    let err = Registry::new(
        RegistryOptions { timeout: std::time::Duration::from_secs(2), ..Default::default() },
        DockerConfig::default(),
    )
    .resolve("127.0.0.1:9/x:1", &amd64)
    .expect_err("nothing listens on port 9");
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().starts_with("registry 127.0.0.1:9 is unreachable"), "{err}");
    Ok(())
}
