//! The layering holds: the pure crates stay pure (neither `mlua` nor
//! `prost` may be in the normal dependency tree of luakit-image-config or
//! luakit-graph, as minijinja checks its core's tree), no crate depends on
//! one above it, and the CLI depends only on the library face.

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

/// The layers, bottom to top (ARCHITECTURE.md). A crate may depend (for its
/// library, build script or tests) only on crates of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    ("luakit-graph", 0),
    ("luakit-image-config", 1),
    ("luakit-llb", 1),
    ("luakit-lua", 2),
    ("luakit", 3),
    ("luakit-frontend", 4),
    ("luakit-tools", 4),
    ("luakit-resolve", 4),
    // Above the frontend: `luakit_client::Build` runs its gateway build.
    ("luakit-client", 5),
    ("luakit-cli", 6),
    ("luakit-example-embed", 6),
    ("xtask", 7),
];

/// A workspace package and the workspace packages it depends on.
type PackageDeps = (String, Vec<String>);

/// The workspace's packages and, for each, the workspace packages it
/// depends on (any kind), from `cargo metadata`.
fn workspace_deps() -> Result<Vec<PackageDeps>, Box<dyn std::error::Error>> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path", manifest])
        .output()?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = meta["packages"].as_array().ok_or("no packages in cargo metadata")?;
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut deps = Vec::new();
    for p in packages {
        let name = p["name"].as_str().ok_or("a package without a name")?;
        let mut on: Vec<String> = p["dependencies"]
            .as_array()
            .ok_or("no dependencies list")?
            .iter()
            .filter_map(|d| d["name"].as_str())
            .filter(|d| members.contains(d))
            .map(str::to_string)
            .collect();
        on.sort();
        on.dedup();
        deps.push((name.to_string(), on));
    }
    Ok(deps)
}

fn layer(package: &str) -> Option<u32> {
    LAYERS.iter().find(|(name, _)| *name == package).map(|(_, layer)| *layer)
}

#[test]
fn no_crate_depends_on_one_above_it() -> Result<(), Box<dyn std::error::Error>> {
    let deps = workspace_deps()?;
    assert!(deps.len() >= LAYERS.len(), "cargo metadata listed {deps:?}");
    let mut wrong = Vec::new();
    for (package, on) in &deps {
        let Some(mine) = layer(package) else {
            wrong.push(format!("{package} is not in the layer table of this test (and ARCHITECTURE.md)"));
            continue;
        };
        for dep in on {
            match layer(dep) {
                Some(theirs) if theirs < mine => {}
                _ => wrong.push(format!("{package} (layer {mine}) depends on {dep}, which is not below it")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[test]
fn the_cli_uses_only_the_library_face() -> Result<(), Box<dyn std::error::Error>> {
    let deps = workspace_deps()?;
    let (_, on) = deps.iter().find(|(p, _)| p == "luakit-cli").ok_or("no luakit-cli")?;
    assert_eq!(
        on,
        &["luakit", "luakit-client", "luakit-frontend", "luakit-resolve", "luakit-tools"],
        "luakit-cli's workspace dependencies"
    );
    Ok(())
}

#[test]
fn the_frontend_links_no_http_client() -> Result<(), Box<dyn std::error::Error>> {
    // The registry resolver (and its HTTP/TLS stack) is the CLI's alone: the
    // frontend resolves through BuildKit.
    let deps = normal_deps("luakit-frontend")?;
    let http: Vec<&String> =
        deps.iter().filter(|d| ["luakit-resolve", "ureq", "rustls", "ring"].contains(&d.as_str())).collect();
    assert!(http.is_empty(), "luakit-frontend's tree has {http:?}");
    Ok(())
}
