//! Caps from `Ping` and the image config metadata. (Op names are recorded
//! while marshalling now: their tests are luakit-llb's `naming`.)

use luakit::{CONFIG_METADATA_KEY, ImageConfig, config_metadata as image_config_metadata};
use luakit_frontend::llb_caps;
use luakit_frontend::pb::moby::buildkit::v1::{apicaps::ApiCap, frontend as gw, types};

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
