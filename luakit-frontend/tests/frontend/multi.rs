//! Several platforms, named targets and `.dockerignore` through the real
//! gateway code against the fake LLBBridge.

use luakit::pb;
use luakit_frontend::pb::moby::buildkit::v1::frontend as gw;
use prost::Message as _;

use crate::bridge::{ALL_LLB_CAPS, Gateway};

type R = Result<(), Box<dyn std::error::Error>>;

const SCRIPT: &str = r#"
local p = bk.target_platform()
local base = bk.scratch():mkfile("/platform", p.os .. "/" .. p.arch)
bk.export(base:mkfile("/api", "api"), { target = "api", cmd = { "/api" } })
bk.export(base, { target = "web", cmd = { "/web-" .. p.arch } })
bk.export(bk.local_("context"), { target = "ctx" })
bk.export(base:mkfile("/last", ""), { target = "last" })
"#;

fn config(meta: &std::collections::BTreeMap<String, Vec<u8>>, key: &str) -> Result<luakit::ImageConfig, String> {
    let json = meta.get(key).ok_or_else(|| format!("no {key} in {:?}", meta.keys().collect::<Vec<_>>()))?;
    luakit::ImageConfig::from_json(json).map_err(|e| e.to_string())
}

/// The `mkfile` data of every file op of a Definition.
fn files(def: &pb::Definition) -> Vec<String> {
    let mut out = Vec::new();
    for bytes in &def.def {
        let Ok(op) = pb::Op::decode(bytes.as_slice()) else { continue };
        if let Some(pb::op::Op::File(f)) = op.op {
            for a in f.actions {
                if let Some(pb::file_action::Action::Mkfile(m)) = a.action {
                    out.push(format!("{}={}", m.path, String::from_utf8_lossy(&m.data)));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn several_platforms_give_a_refs_map_with_platforms_and_configs() -> R {
    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("platform", "linux/amd64,linux/arm64,linux/arm/v7"), ("target", "web")])?;
    let returned = g.returned().ok_or("no Return")?;
    assert!(returned.error.is_none(), "{:?}", returned.error);
    let result = returned.result.ok_or("no result")?;
    let Some(gw::result::Result::Refs(map)) = &result.result else { panic!("a refs map: {:?}", result.result) };
    assert_eq!(map.refs.keys().collect::<Vec<_>>(), ["linux/amd64", "linux/arm/v7", "linux/arm64"]);
    assert_eq!(
        String::from_utf8(result.metadata["refs.platforms"].clone())?,
        r#"{"Platforms":[{"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}},{"ID":"linux/arm64","Platform":{"architecture":"arm64","os":"linux"}},{"ID":"linux/arm/v7","Platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}"#
    );
    assert!(!result.metadata.contains_key(luakit::CONFIG_METADATA_KEY), "per-platform configs only");
    let arm = config(&result.metadata, "containerimage.config/linux/arm/v7")?;
    assert_eq!((arm.architecture.as_str(), arm.variant.as_str()), ("arm", "v7"));
    assert_eq!(arm.config.cmd, ["/web-arm"]);
    assert_eq!(config(&result.metadata, "containerimage.config/linux/arm64")?.config.cmd, ["/web-arm64"]);

    // One build per platform, each with its own files; the ids are the refs'.
    let mut seen: Vec<Vec<String>> = g.builds().iter().map(files).collect();
    seen.sort();
    assert_eq!(seen, [["/platform=linux/amd64"], ["/platform=linux/arm"], ["/platform=linux/arm64"]]);
    let mut ids: Vec<&str> = map.refs.values().map(|r| r.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["result-1", "result-2", "result-3"]);
    Ok(())
}

#[test]
fn docker_before_buildkit_v0_11_refuses_several_platforms() -> R {
    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend_for("docker", &[("platform", "linux/amd64,linux/arm64")])?;
    let status = g.returned().and_then(|r| r.error).ok_or("no error")?;
    assert!(
        status.message.starts_with("building for several platforms (linux/amd64, linux/arm64)"),
        "{}",
        status.message
    );
    assert!(status.message.contains("buildkitd"), "{}", status.message);
    assert!(g.builds().is_empty(), "refused before anything is built");

    // One platform on the same daemon builds; a Docker reporting BuildKit
    // v0.11 is left to its exporter.
    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend_for("docker", &[("platform", "linux/arm64")])?;
    assert!(g.returned().and_then(|r| r.error).is_none());
    let mut g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.buildkit_version = "v0.11.6".into();
    g.run_frontend_for("docker", &[("platform", "linux/amd64,linux/arm64")])?;
    assert!(g.returned().and_then(|r| r.error).is_none());
    Ok(())
}

#[test]
fn the_target_option_picks_an_export() -> R {
    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("platform", "linux/amd64"), ("target", "api")])?;
    let result = g.returned().and_then(|r| r.result).ok_or("no result")?;
    assert_eq!(config(&result.metadata, luakit::CONFIG_METADATA_KEY)?.config.cmd, ["/api"]);
    assert_eq!(files(&g.built().ok_or("built")?), ["/api=api", "/platform=linux/amd64"]);

    // No target: the last export.
    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("platform", "linux/amd64")])?;
    assert_eq!(files(&g.built().ok_or("built")?), ["/last=", "/platform=linux/amd64"]);

    let g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("target", "wbe")])?;
    let status = g.returned().and_then(|r| r.error).ok_or("no error")?;
    assert_eq!(
        status.message,
        "build.lua: no target 'wbe' (the script's targets are 'api', 'web', 'ctx', 'last'; did you mean 'web'?)"
    );
    Ok(())
}

/// The exclude patterns of the build's `context` local.
fn context_excludes(g: &Gateway) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let def = g.built().ok_or("built")?;
    for bytes in &def.def {
        let op = pb::Op::decode(bytes.as_slice())?;
        if let Some(pb::op::Op::Source(s)) = op.op {
            if s.identifier == "local://context" {
                return Ok(s.attrs.get("local.excludepatterns").cloned());
            }
        }
    }
    Err("no context local".into())
}

#[test]
fn dockerignore_excludes_reach_the_context() -> R {
    let mut g = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g.context_files.insert(".dockerignore".into(), b"# logs\n*.log\n!keep.log\n/secret/\n".to_vec());
    g.run_frontend(&[("target", "ctx")])?;
    assert_eq!(context_excludes(&g)?.as_deref(), Some(r#"["*.log","!keep.log","secret"]"#));

    // `build.lua.dockerignore` next to the script wins.
    g.files.insert("build.lua.dockerignore".into(), b"only-this\n".to_vec());
    let g2 = Gateway { record: Default::default(), ..g.clone() };
    g2.run_frontend(&[("target", "ctx")])?;
    assert_eq!(context_excludes(&g2)?.as_deref(), Some(r#"["only-this"]"#));

    // No ignore file: no excludes.
    let g3 = Gateway::new(ALL_LLB_CAPS, SCRIPT);
    g3.run_frontend(&[("target", "ctx")])?;
    assert_eq!(context_excludes(&g3)?, None);
    Ok(())
}
