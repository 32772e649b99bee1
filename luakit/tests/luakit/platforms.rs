//! Several target platforms and named targets through the pipeline: one
//! evaluation per platform, each with its own `bk.target_platform()`, and
//! only the chosen target marshalled.

use std::sync::Arc;

use luakit::{BuildOptions, Error, Platform, Script, Unresolved};

const SCRIPT: &str = r#"
local p = bk.target_platform()
local st = bk.scratch():mkfile("/arch", p.arch)
bk.export(st:mkfile("/api", "api"), { target = "api", cmd = { "/api" } })
bk.export(st, { target = "web", cmd = { "/web-" .. p.arch } })
"#;

fn plat(s: &str) -> Platform {
    Platform::parse(s).expect("valid").normalized()
}

#[test]
fn each_platform_gets_its_own_evaluation() {
    let script = Script::new("build.lua", SCRIPT);
    let platforms = luakit::parse_platforms("linux/amd64,linux/arm64,linux/arm/v7").expect("valid");
    let builds =
        luakit::build_platforms(&script, &BuildOptions::default(), &platforms, Arc::new(Unresolved)).expect("builds");
    let seen: Vec<(String, String, Vec<String>)> = builds
        .iter()
        .map(|b| (b.platform.to_string(), b.image_config.architecture.clone(), b.image_config.config.cmd.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            ("linux/amd64".to_string(), "amd64".to_string(), vec!["/web-amd64".to_string()]),
            ("linux/arm64".to_string(), "arm64".to_string(), vec!["/web-arm64".to_string()]),
            ("linux/arm/v7".to_string(), "arm".to_string(), vec!["/web-arm".to_string()]),
        ]
    );
    assert_eq!(builds[2].image_config.variant, "v7");
    // Different platforms, different Definitions.
    assert_ne!(builds[0].definition_bytes(), builds[1].definition_bytes());
}

#[test]
fn a_failure_names_its_platform() {
    let script = Script::new(
        "build.lua",
        "if bk.target_platform().arch == 'arm64' then error('no arm64 here') end\nbk.export(bk.scratch())",
    );
    let platforms = [plat("linux/amd64"), plat("linux/arm64")];
    let e = luakit::build_platforms(&script, &BuildOptions::default(), &platforms, Arc::new(Unresolved))
        .expect_err("arm64 fails");
    assert!(matches!(&e, Error::Platform { platform, .. } if platform == "linux/arm64"));
    assert_eq!(e.to_string(), "for linux/arm64: build.lua:1: no arm64 here");
}

#[test]
fn only_the_chosen_target_is_marshalled() {
    let script = Script::new("build.lua", SCRIPT);
    let mut opts = BuildOptions::default();
    opts.eval.target_platform = plat("linux/amd64");
    let web = luakit::build(&script, &opts, Arc::new(Unresolved)).expect("web");
    opts.eval.target = Some("api".into());
    let api = luakit::build(&script, &opts, Arc::new(Unresolved)).expect("api");
    assert_eq!((web.target.as_deref(), api.target.as_deref()), (Some("web"), Some("api")));
    assert_eq!(api.targets, ["api", "web"]);
    assert_eq!(api.image_config.config.cmd, ["/api"]);
    // web: one mkfile and the terminal; api: two mkfiles and the terminal.
    assert_eq!((web.definition.def.len(), api.definition.def.len()), (2, 3));
}
