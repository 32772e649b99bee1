//! The pure crates stay pure: neither `mlua` nor `prost` may be in the
//! normal dependency tree of luakit-image-config or luakit-graph (as
//! minijinja checks its core's tree).

use std::process::Command;

fn normal_deps(package: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--manifest-path", manifest, "-p", package, "-e", "normal", "--prefix", "none"])
        .output()?;
    if !out.status.success() {
        return Err(format!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let names = String::from_utf8(out.stdout)?
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect();
    Ok(names)
}

fn assert_pure(package: &str) -> Result<(), Box<dyn std::error::Error>> {
    let deps = normal_deps(package)?;
    assert!(deps.iter().any(|d| d == package), "cargo tree did not list {package} itself: {deps:?}");
    let banned: Vec<&String> = deps
        .iter()
        .filter(|d| *d == "mlua" || d.starts_with("mlua-") || *d == "prost" || d.starts_with("prost-"))
        .collect();
    assert!(banned.is_empty(), "{package} must not depend on mlua or prost, but its tree has {banned:?}");
    Ok(())
}

#[test]
fn image_config_depends_on_neither_mlua_nor_prost() -> Result<(), Box<dyn std::error::Error>> {
    assert_pure("luakit-image-config")
}

#[test]
fn graph_depends_on_neither_mlua_nor_prost() -> Result<(), Box<dyn std::error::Error>> {
    assert_pure("luakit-graph")
}
