//! The real gateway code (`luakit_frontend::serve`) against an in-process
//! fake LLBBridge: what it solves, resolves and returns.

use luakit::{ImageConfig, pb};

use crate::bridge::{ALL_LLB_CAPS, Gateway};

type R = Result<(), Box<dyn std::error::Error>>;

const SCRIPT: &str = r#"local lib = require("lib/base")
local built = lib.base():run("make")
bk.export(built, { cmd = { "/app" } })
"#;

const LIB: &str = r#"return { base = function() return bk.image("alpine:3.19") end }"#;

const ALPINE: &str = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin"],"WorkingDir":"/srv","User":"app"},"rootfs":{"type":"layers","diff_ids":[]}}"#;

fn gateway(caps: &[&str], script: &str) -> Gateway {
    let mut g = Gateway::new(caps, script);
    g.files.insert("lib/base.lua".into(), LIB.as_bytes().to_vec());
    g.images.insert(
        "docker.io/library/alpine:3.19".into(),
        (format!("sha256:{}", "ab".repeat(32)), ALPINE.as_bytes().to_vec()),
    );
    g
}

fn names(def: &pb::Definition) -> Vec<String> {
    let mut v: Vec<String> =
        def.metadata.values().filter_map(|m| m.description.get("llb.customname").cloned()).collect();
    v.sort();
    v
}

#[test]
fn builds_the_script_with_modules_resolved_images_and_step_names() -> R {
    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("platform", "linux/amd64")])?;

    let returned = g.returned().ok_or("no Return")?;
    assert!(returned.error.is_none(), "{:?}", returned.error);
    let result = returned.result.ok_or("no result")?;
    let config = ImageConfig::from_json(&result.metadata[luakit::CONFIG_METADATA_KEY])?;
    assert_eq!(config.config.user, "app");
    assert_eq!(config.config.working_dir, "/srv");
    assert_eq!(config.config.cmd, ["/app"]);

    let resolved = g.resolved();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].r#ref, "docker.io/library/alpine:3.19");
    assert_eq!(resolved[0].platform.as_ref().map(|p| p.architecture.as_str()), Some("amd64"));
    assert_eq!(resolved[0].session_id, "sess");

    let def = g.built().ok_or("no build solved")?;
    // The image op is located in the module, the exec in the script.
    let pinned = format!("[lib/base.lua:1] docker-image://docker.io/library/alpine:3.19@sha256:{}", "ab".repeat(32));
    assert_eq!(names(&def), ["[build.lua:2] /bin/sh -c make".to_string(), pinned]);
    Ok(())
}

#[test]
fn a_daemon_without_descriptions_gets_no_step_names() -> R {
    let caps: Vec<&str> = ALL_LLB_CAPS.iter().copied().filter(|c| *c != "meta.description").collect();
    let g = gateway(&caps, SCRIPT);
    g.run_frontend(&[])?;
    let def = g.built().ok_or("no build solved")?;
    assert!(names(&def).is_empty());
    assert!(def.metadata.values().all(|m| !m.caps.contains_key("meta.description")));
    Ok(())
}

#[test]
fn a_script_error_is_returned_as_the_builds_error() -> R {
    let g = gateway(ALL_LLB_CAPS, "bk.export(bk.image(''))");
    g.run_frontend(&[])?;
    let returned = g.returned().ok_or("no Return")?;
    assert!(returned.result.is_none());
    let status = returned.error.ok_or("no error")?;
    assert!(status.message.starts_with("build.lua:1: bk.image:"), "{}", status.message);
    assert_eq!(g.built(), None, "nothing but the script was solved");
    Ok(())
}

#[test]
fn an_image_the_gateway_cannot_resolve_fails_at_its_line() -> R {
    let g = gateway(ALL_LLB_CAPS, "bk.export(bk.image('busybox'))");
    g.run_frontend(&[])?;
    let status = g.returned().and_then(|r| r.error).ok_or("no error")?;
    assert!(
        status.message.starts_with("build.lua:1: bk.image: cannot resolve 'docker.io/library/busybox:latest'"),
        "{}",
        status.message
    );
    Ok(())
}

/// Modules of a script given on the client.
struct Modules;

impl luakit::ModuleLoader for Modules {
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String> {
        Ok((relative_path == "lib/base.lua").then(|| LIB.as_bytes().to_vec()))
    }
}

/// `luakit solve`'s route: the same gateway build with the script given by
/// the client, every call carrying the Control solve's ref; the same
/// Definition and config as the frontend reading it from the local.
#[test]
fn the_control_route_is_the_frontend_route_with_a_given_script() -> R {
    let fe = gateway(ALL_LLB_CAPS, SCRIPT);
    fe.run_frontend(&[("platform", "linux/amd64")])?;
    assert!(fe.build_ids().iter().all(String::is_empty), "{:?}", fe.build_ids());

    let given = gateway(ALL_LLB_CAPS, SCRIPT);
    let script = luakit::Script::new("build.lua", SCRIPT).with_loader(std::sync::Arc::new(Modules));
    let served = given.run_given(script, "luakit-ref-1", &[("platform", "linux/amd64")])?;
    assert_eq!(served.error, None);
    let ids = given.build_ids();
    assert!(ids.len() >= 4 && ids.iter().all(|i| i == "luakit-ref-1"), "{ids:?}");

    // One solve (no script to read from a local): the build's.
    let solved = given.solved();
    assert_eq!(solved.len(), 1);
    assert_eq!(Some(&solved[0]), fe.built().as_ref(), "the Definitions differ");
    let meta = |g: &Gateway| g.returned().and_then(|r| r.result).map(|r| r.metadata);
    assert_eq!(meta(&given), meta(&fe));
    assert!(meta(&given).is_some_and(|m| m.contains_key(luakit::CONFIG_METADATA_KEY)));
    Ok(())
}

/// A script error on the control route is returned to BuildKit and
/// reported to the caller, with its line.
#[test]
fn the_control_route_reports_a_script_error() -> R {
    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    let script = luakit::Script::new("build.lua", "local x = 1\nbk.export(bk.image(42))\n");
    let served = g.run_given(script, "luakit-ref-2", &[])?;
    let error = served.error.ok_or("no error")?;
    assert!(error.starts_with("build.lua:2:"), "{error}");
    let returned = g.returned().ok_or("no Return")?;
    assert_eq!(returned.error.map(|e| e.message), Some(error));
    Ok(())
}

#[test]
fn no_cache_marks_every_op_and_changes_nothing_else() -> R {
    let plain = gateway(ALL_LLB_CAPS, SCRIPT);
    plain.run_frontend(&[("platform", "linux/amd64")])?;
    let plain = plain.built().ok_or("no build solved")?;
    assert!(plain.metadata.values().all(|m| !m.ignore_cache));

    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("platform", "linux/amd64"), ("no-cache", "")])?;
    let def = g.built().ok_or("no build solved")?;
    // The same ops (the same step digests), each marked.
    assert_eq!(def.def, plain.def);
    assert_eq!(def.metadata.len(), def.def.len());
    for (d, m) in &def.metadata {
        assert!(m.ignore_cache, "{d}");
        assert_eq!(m.caps.get("meta.ignorecache"), Some(&true), "{d}");
    }
    assert_eq!(names(&def), names(&plain));

    // Stage names (the Dockerfile frontend's --no-cache-filter) are refused.
    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[("no-cache", "stage1")])?;
    let error = g.returned().ok_or("no Return")?.error.ok_or("no error")?;
    assert!(error.message.contains("no-cache"), "{}", error.message);
    Ok(())
}

#[test]
fn cache_imports_reach_every_build_solve() -> R {
    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[
        ("platform", "linux/amd64,linux/arm64"),
        ("cache-imports", r#"[{"Type":"registry","Attrs":{"ref":"reg:5000/cache:x"}}]"#),
    ])?;
    let imports = g.build_cache_imports();
    assert_eq!(imports.len(), 2, "one solve per platform");
    for i in &imports {
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].r#type, "registry");
        assert_eq!(i[0].attrs.get("ref").map(String::as_str), Some("reg:5000/cache:x"));
    }
    // Without the option: none.
    let g = gateway(ALL_LLB_CAPS, SCRIPT);
    g.run_frontend(&[])?;
    assert_eq!(g.build_cache_imports(), vec![Vec::new()]);
    Ok(())
}
