//! `luakit::build`: one evaluation, one marshal, one config; resolvers;
//! typed errors; step naming; the Definition reader.

use std::sync::Arc;

use luakit::{
    BuildOptions, CapSet, EvalOptions, ImageConfig, Platform, ResolvedImage, Script, StaticResolver, Unresolved, pb,
};

type R = Result<(), Box<dyn std::error::Error>>;

const SCRIPT: &str = r#"
local base = bk.image("alpine:3.19")
local built = base:run("echo hi > /hi")
bk.export(built, { cmd = { "cat", "/hi" }, env = { MODE = "prod" } })
"#;

const ALPINE: &str = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/bin:/bin","LANG=C"],"WorkingDir":"/srv","User":"app","Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;

fn opts() -> BuildOptions {
    BuildOptions {
        eval: EvalOptions {
            target_platform: Platform::new("linux", "amd64", ""),
            build_platform: Platform::new("linux", "amd64", ""),
            local_unique_id: "test".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn alpine() -> Result<StaticResolver, luakit::Error> {
    let mut r = StaticResolver::new();
    r.insert(
        "alpine:3.19",
        ResolvedImage {
            digest: format!("sha256:{}", "ab".repeat(32)),
            config: ImageConfig::from_json(ALPINE.as_bytes())?,
        },
    )?;
    Ok(r)
}

#[test]
fn the_config_inherits_the_resolved_base_image() -> R {
    let build = luakit::build(&Script::new("build.lua", SCRIPT), &opts(), Arc::new(alpine()?))?;
    let c = &build.image_config.config;
    assert_eq!(c.env, ["PATH=/usr/bin:/bin", "LANG=C", "MODE=prod"]);
    assert_eq!(c.working_dir, "/srv");
    assert_eq!(c.user, "app");
    assert_eq!(c.cmd, ["cat", "/hi"]);
    assert_eq!(build.platform, Platform::new("linux", "amd64", ""));
    // The image is pinned to the resolved digest.
    let pinned = format!("docker-image://docker.io/library/alpine:3.19@sha256:{}", "ab".repeat(32));
    let ops = luakit::llb::inspect(&build.definition)?.ops;
    assert!(ops.iter().any(|o| matches!(&o.op.op, Some(pb::op::Op::Source(s)) if s.identifier == pinned)));
    // What the frontend returns is the same config.
    let md = build.result_metadata();
    assert_eq!(ImageConfig::from_json(&md[luakit::CONFIG_METADATA_KEY])?, build.image_config);
    Ok(())
}

#[test]
fn unresolved_images_keep_the_state_defaults() -> R {
    let build = luakit::build(&Script::new("build.lua", SCRIPT), &opts(), Arc::new(Unresolved))?;
    let c = &build.image_config.config;
    assert_eq!(c.env, ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MODE=prod"]);
    assert_eq!(c.working_dir, "");
    assert_eq!(c.user, "");
    Ok(())
}

#[test]
fn the_same_inputs_give_the_same_bytes() -> R {
    let a = luakit::build(&Script::new("build.lua", SCRIPT), &opts(), Arc::new(alpine()?))?;
    let b = luakit::build(&Script::new("build.lua", SCRIPT), &opts(), Arc::new(alpine()?))?;
    assert_eq!(a.definition_bytes(), b.definition_bytes());
    assert_eq!(a.image_config_json(), b.image_config_json());
    assert!(a.image_config_json().ends_with(b"}\n"));
    Ok(())
}

#[test]
fn steps_are_named_only_when_asked_and_only_in_metadata() -> R {
    let script = Script::new("build.lua", SCRIPT);
    let plain = luakit::build(&script, &opts(), Arc::new(Unresolved))?;
    let named = luakit::build(&script, &BuildOptions { name_ops: true, ..opts() }, Arc::new(Unresolved))?;
    assert_eq!(plain.definition.def, named.definition.def, "names are metadata: the ops are the same");
    let names: Vec<&str> = named
        .definition
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").map(String::as_str))
        .collect();
    assert!(names.contains(&r#"[build.lua:3] /bin/sh -c "echo hi > /hi""#), "{names:?}");
    assert!(names.contains(&"[build.lua:2] docker-image://docker.io/library/alpine:3.19"), "{names:?}");
    assert!(plain.definition.metadata.values().all(|m| m.description.is_empty()));
    Ok(())
}

#[test]
fn errors_keep_their_type() -> R {
    let e = luakit::build(&Script::new("build.lua", "bk.image('')"), &opts(), Arc::new(Unresolved))
        .expect_err("empty reference");
    assert!(matches!(e, luakit::Error::Script(luakit::ScriptError::Api { line: 1, .. })), "{e:?}");

    let merge = "bk.export(bk.merge({ bk.image('a'), bk.image('b') }))";
    let old = BuildOptions { daemon_caps: Some(CapSet::new(["source.image", "constraints", "platform"])), ..opts() };
    let e = luakit::build(&Script::new("build.lua", merge), &old, Arc::new(Unresolved)).expect_err("no mergeop");
    assert!(matches!(e, luakit::Error::Marshal(_)), "{e:?}");
    assert!(e.to_string().starts_with("build.lua:1: bk.merge needs BuildKit v0.10"), "{e}");

    let e = Script::from_path(std::path::Path::new("no/such/build.lua")).expect_err("missing");
    assert!(matches!(e, luakit::Error::Script(luakit::ScriptError::Io { .. })), "{e:?}");
    assert!(e.to_string().starts_with("cannot read no/such/build.lua: "), "{e}");
    Ok(())
}

#[test]
fn export_mistakes_point_at_the_export_line() {
    let script = "local s = bk.image('alpine')\nbk.export(s, { expose = { '99999' } })";
    let e = luakit::build(&Script::new("build.lua", script), &opts(), Arc::new(Unresolved)).expect_err("bad port");
    assert!(e.to_string().starts_with("build.lua:2: bk.export: invalid port '99999'"), "{e}");
}

#[test]
fn a_static_resolver_reads_json_and_refuses_unknown_images() -> R {
    let json = format!(r#"{{"alpine:3.19": {{"digest": "sha256:{}", "config": {ALPINE}}}}}"#, "cd".repeat(32));
    let resolver = StaticResolver::from_json(json.as_bytes())?;
    let build = luakit::build(&Script::new("build.lua", SCRIPT), &opts(), Arc::new(resolver.clone()))?;
    assert_eq!(build.image_config.config.user, "app");

    let other = "bk.export(bk.image('busybox'))";
    let e = luakit::build(&Script::new("build.lua", other), &opts(), Arc::new(resolver)).expect_err("unknown");
    assert!(e.to_string().contains("cannot resolve 'docker.io/library/busybox:latest'"), "{e}");

    for bad in ["[]", r#"{"alpine": {}}"#, r#"{"alpine": {"config": 3}}"#, r#"{"Not A Ref!": {"config": {}}}"#] {
        let e = StaticResolver::from_json(bad.as_bytes()).expect_err(bad);
        assert!(matches!(e, luakit::Error::Resolutions { .. }), "{bad}: {e:?}");
    }
    Ok(())
}

#[test]
fn scripts_from_files_read_their_modules() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("libs"))?;
    std::fs::write(dir.path().join("libs/base.lua"), "return { img = function() return bk.image('alpine') end }")?;
    std::fs::write(dir.path().join("build.lua"), "local b = require('libs/base')\nbk.export(b.img())")?;
    let script = Script::from_path(&dir.path().join("build.lua"))?;
    assert_eq!(script.name, "build.lua");
    // An empty local unique id comes from the script's directory.
    let mut o = opts();
    o.eval.local_unique_id.clear();
    luakit::build(&script, &o, Arc::new(Unresolved))?;
    Ok(())
}

#[test]
fn the_reader_names_the_file_it_could_not_read() {
    let e = luakit::inspect::read_definition(std::path::Path::new("no/such.pb"), 1 << 20).expect_err("missing");
    assert!(matches!(e, luakit::Error::Read { .. }) && e.to_string() == "cannot read no/such.pb", "{e:?}");
    let e = luakit::inspect::decode_definition(std::path::Path::new("x.pb"), b"\xff\xff").expect_err("garbage");
    assert_eq!(e.to_string(), "x.pb is not an LLB definition (a protobuf pb.Definition)");
}
