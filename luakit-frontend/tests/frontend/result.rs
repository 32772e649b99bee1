//! Caps from `Ping`, the image config metadata, op names.

use luakit_frontend::pb::moby::buildkit::v1::{apicaps::ApiCap, frontend as gw, types};
use luakit_frontend::{CONFIG_METADATA_KEY, image_config_metadata, llb_caps, name_ops};
use luakit_image_config::ImageConfig;
use luakit_llb::{Digest, pb};
use prost::Message;

fn cap(id: &str, enabled: bool) -> ApiCap {
    ApiCap { id: id.to_string(), enabled, ..Default::default() }
}

#[test]
fn llb_caps_keeps_enabled_ones_and_the_version() {
    let pong = gw::PongResponse {
        frontend_api_caps: vec![cap("solve.base", true)],
        llb_caps: vec![cap("source.image", true), cap("mergeop", false), cap("exec.mount.cache", true)],
        workers: vec![types::WorkerRecord {
            buildkit_version: Some(types::BuildkitVersion { version: "v0.8.3".into(), ..Default::default() }),
            ..Default::default()
        }],
    };
    let caps = llb_caps(&pong);
    assert!(caps.supports("source.image"));
    assert!(caps.supports("exec.mount.cache"));
    assert!(!caps.supports("mergeop"));
    assert!(!caps.supports("solve.base"));
    assert_eq!(caps.version, "v0.8.3");
}

#[test]
fn config_goes_under_containerimage_config() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ImageConfig { os: "linux".into(), architecture: "amd64".into(), ..ImageConfig::default() };
    config.config.user = "app".into();
    let md = image_config_metadata(&config);
    assert_eq!(CONFIG_METADATA_KEY, "containerimage.config");
    let bytes = md.get(CONFIG_METADATA_KEY).ok_or("no config")?;
    let back = ImageConfig::from_json(bytes)?;
    assert_eq!(back.config.user, "app");
    assert_eq!(back.architecture, "amd64");
    Ok(())
}

#[test]
fn name_ops_prefixes_the_lua_location() {
    let exec = pb::Op {
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta { args: vec!["/bin/sh".into(), "-c".into(), "make".into()], ..Default::default() }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let bytes = exec.encode_to_vec();
    let digest = Digest::of(&bytes).as_str().to_string();
    let mut def = pb::Definition { def: vec![bytes], ..Default::default() };
    name_ops(&mut def, &[(digest.clone(), "build.lua:7".to_string())]);
    let meta = &def.metadata[&digest];
    assert_eq!(meta.description.get("llb.customname").map(String::as_str), Some("[build.lua:7] /bin/sh -c make"));
    assert_eq!(meta.caps.get("meta.description"), Some(&true));

    // A name the script gave is kept.
    if let Some(m) = def.metadata.get_mut(&digest) {
        m.description.insert("llb.customname".into(), "mine".into());
    }
    name_ops(&mut def, &[(digest.clone(), "build.lua:7".to_string())]);
    assert_eq!(def.metadata[&digest].description.get("llb.customname").map(String::as_str), Some("mine"));
}

#[test]
fn named_ops_are_recorded_on_the_terminal_op() {
    let exec = pb::Op {
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta { args: vec!["true".into()], ..Default::default() }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let bytes = exec.encode_to_vec();
    let digest = Digest::of(&bytes).as_str().to_string();
    let terminal = pb::Op { inputs: vec![pb::Input { digest: digest.clone(), index: 0 }], ..Default::default() };
    let tbytes = terminal.encode_to_vec();
    let tdigest = Digest::of(&tbytes).as_str().to_string();
    let mut def = pb::Definition { def: vec![bytes, tbytes], ..Default::default() };
    name_ops(&mut def, &[(digest, "build.lua:2".to_string())]);
    assert_eq!(def.metadata[&tdigest].caps.get("meta.description"), Some(&true));
}
