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
