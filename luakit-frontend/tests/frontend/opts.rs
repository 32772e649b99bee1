//! `BuildOpts` read from a BuildKit-style environment.

use luakit::Platform;
use luakit_frontend::BuildOpts;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

const WORKERS: &str = r#"[{"id":"moby","labels":{},"platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"386","os":"linux"}]}]"#;

#[test]
fn reads_options_session_and_workers() -> Result<(), Box<dyn std::error::Error>> {
    let o = BuildOpts::from_vars(vars(&[
        ("BUILDKIT_FRONTEND_OPT_0", "filename=ci.lua"),
        ("BUILDKIT_FRONTEND_OPT_1", "build-arg:VERSION=1.2=3"),
        ("BUILDKIT_FRONTEND_OPT_2", "image-resolve-mode=pull"),
        ("BUILDKIT_SESSION_ID", "sess-1"),
        ("BUILDKIT_WORKERS", WORKERS),
        ("BUILDKIT_EXPORTEDPRODUCT", "docker"),
        ("PATH", "/bin"),
    ]))?;
    assert_eq!(o.filename(), "ci.lua");
    assert_eq!(o.session_id, "sess-1");
    assert_eq!(o.product, "docker");
    assert_eq!(o.resolve_mode(), "pull");
    assert_eq!(o.build_args().get("VERSION").map(String::as_str), Some("1.2=3"));
    assert_eq!(o.build_platform(), Platform::new("linux", "amd64", ""));
    assert_eq!(o.target_platform()?, Platform::new("linux", "amd64", ""));
    Ok(())
}

#[test]
fn defaults_without_options() -> Result<(), Box<dyn std::error::Error>> {
    let o = BuildOpts::from_vars(vars(&[("BUILDKIT_WORKERS", WORKERS)]))?;
    assert_eq!(o.filename(), "build.lua");
    assert_eq!(o.resolve_mode(), "default");
    assert!(o.build_args().is_empty());
    Ok(())
}

#[test]
fn platform_option_wins_over_the_worker() -> Result<(), Box<dyn std::error::Error>> {
    let o = BuildOpts::from_vars(vars(&[
        ("BUILDKIT_FRONTEND_OPT_0", "platform=linux/arm64,linux/amd64"),
        ("BUILDKIT_WORKERS", WORKERS),
    ]))?;
    assert_eq!(o.target_platform()?, Platform::new("linux", "arm64", ""));
    assert_eq!(o.build_platform(), Platform::new("linux", "amd64", ""));
    Ok(())
}

#[test]
fn bad_workers_json_is_an_option_error() {
    let e = BuildOpts::from_vars(vars(&[("BUILDKIT_WORKERS", "{nope")])).err().map(|e| e.to_string());
    assert!(e.is_some_and(|m| m.contains("BUILDKIT_WORKERS")));
}

#[test]
fn bad_platform_option_is_an_option_error() -> Result<(), Box<dyn std::error::Error>> {
    let o = BuildOpts::from_vars(vars(&[("BUILDKIT_FRONTEND_OPT_0", "platform=not a platform/x/y/z")]))?;
    assert!(o.target_platform().is_err());
    Ok(())
}
