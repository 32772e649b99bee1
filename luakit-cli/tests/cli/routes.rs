//! The acceptance test of "one build pipeline": the same script and the same
//! resolved base image, built through the CLI route (`luakit build`, run as
//! a process, with the images given by `--resolved-images`) and through the
//! frontend route (the real gateway code against an in-process fake
//! LLBBridge that answers `ResolveImageConfig` with the same image), give a
//! byte-identical Definition and an equal image config. Step names are the
//! frontend's only addition, and only in op metadata.

use luakit::{ImageConfig, pb};
use prost::Message as _;

use crate::bridge::{ALL_LLB_CAPS, Gateway};
use crate::util::{R, luakit, text};

pub(crate) const SCRIPT: &str = r#"local base = bk.image("alpine:3.19")
local deps = base:run("apk add --no-cache make")
local src = bk.scratch():mkfile("/src/main.c", "int main(void) { return 0; }\n")
local built = deps:copy(src, "/src", "/build"):run({ "make", "-C", "/build", "app" }, {
    cwd = "/build",
    mounts = { bk.cache("/root/.cache", { id = "cc" }) },
})
local final = base:mkdir("/usr/local/bin", { mode = "0755" })
final = final:copy(built, "/build/app", "/usr/local/bin/app")
bk.export(final, {
    entrypoint = { "/usr/local/bin/app" },
    env = { MODE = "prod" },
    expose = { "8080" },
    labels = { ["org.opencontainers.image.title"] = "app" },
})
"#;

pub(crate) const DIGEST: &str = "sha256:4ff3ca91275773af45cb4b0834e12b7eb47d1c18f770a0b151381cd227f4c253";

/// A base image whose env, workdir and user the image must inherit.
pub(crate) const ALPINE: &str = r#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8"],"Cmd":["/bin/sh"],"WorkingDir":"/home/app","User":"app","Labels":{"base":"alpine"}},"created":"2024-01-27T00:30:48Z","history":[{"created_by":"ADD rootfs"}],"rootfs":{"type":"layers","diff_ids":["sha256:d4fc045c9e3a848011de66f34b81f052d4f2c15a17bb196d637e526349601820"]}}"#;

/// The CLI route: `luakit build`, with or without the resolved images.
fn cli(resolved: bool) -> Result<(Vec<u8>, ImageConfig), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(&script, SCRIPT)?;
    let images = dir.path().join("images.json");
    std::fs::write(&images, format!(r#"{{"alpine:3.19": {{"digest": "{DIGEST}", "config": {ALPINE}}}}}"#))?;
    let (def, config) = (dir.path().join("def.pb"), dir.path().join("config.json"));
    let mut cmd = luakit();
    cmd.args(["build", "--platform", "linux/amd64", "-o"]).arg(&def).arg("--image-config").arg(&config);
    if resolved {
        cmd.arg("--resolved-images").arg(&images);
    }
    let out = cmd.arg(&script).output()?;
    assert!(out.status.success(), "luakit build: {}", text(&out.stderr));
    Ok((std::fs::read(def)?, ImageConfig::from_json(&std::fs::read(config)?)?))
}

/// The frontend route: what the gateway code solved and returned.
pub(crate) fn frontend(caps: &[&str]) -> Result<(pb::Definition, ImageConfig), Box<dyn std::error::Error>> {
    let mut gateway = Gateway::new(caps, SCRIPT);
    gateway.images.insert("docker.io/library/alpine:3.19".into(), (DIGEST.into(), ALPINE.as_bytes().to_vec()));
    gateway.run_frontend(&[("platform", "linux/amd64")])?;
    let returned = gateway.returned().ok_or("the frontend returned nothing")?;
    assert!(returned.error.is_none(), "the frontend failed: {:?}", returned.error);
    let metadata = returned.result.ok_or("no result")?.metadata;
    let config = ImageConfig::from_json(metadata.get(luakit::CONFIG_METADATA_KEY).ok_or("no config")?)?;
    Ok((gateway.built().ok_or("nothing built")?, config))
}

#[test]
fn the_cli_and_the_frontend_build_the_same_image() -> R {
    // A daemon that cannot show step names: the frontend adds nothing.
    let no_names: Vec<&str> = ALL_LLB_CAPS.iter().copied().filter(|c| *c != "meta.description").collect();
    let (cli_bytes, cli_config) = cli(true)?;
    let (frontend_def, frontend_config) = frontend(&no_names)?;
    assert_eq!(luakit::llb::encode(&frontend_def), cli_bytes, "the Definitions differ");
    assert_eq!(frontend_config, cli_config, "the image configs differ");

    // The base image's config made it into both.
    assert_eq!(cli_config.config.user, "app");
    assert_eq!(cli_config.config.working_dir, "/home/app");
    assert!(cli_config.config.env.contains(&"LANG=C.UTF-8".to_string()), "{:?}", cli_config.config.env);
    assert_eq!(cli_config.config.labels.get("base").map(String::as_str), Some("alpine"));
    Ok(())
}

#[test]
fn step_names_are_the_frontends_only_addition() -> R {
    let (cli_bytes, cli_config) = cli(true)?;
    let (mut named, config) = frontend(ALL_LLB_CAPS)?;
    assert_eq!(config, cli_config);
    let mut names = Vec::new();
    for md in named.metadata.values_mut() {
        if let Some(name) = md.description.remove("llb.customname") {
            names.push(name);
        }
        md.caps.remove("meta.description");
    }
    names.sort();
    assert!(names.iter().all(|n| n.starts_with("[build.lua:")), "{names:?}");
    assert!(names.contains(&r#"[build.lua:2] /bin/sh -c "apk add --no-cache make""#.to_string()), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("[build.lua:9] copy /build/app -> /usr/local/bin/app")), "{names:?}");
    assert_eq!(named, pb::Definition::decode(cli_bytes.as_slice())?, "without the names the Definitions are equal");
    Ok(())
}

#[test]
fn without_a_resolver_the_cli_cannot_know_the_base_config() -> R {
    // What users saw before the resolver seam: no base env, workdir or user.
    let (_, unresolved) = cli(false)?;
    let (_, resolved) = cli(true)?;
    assert_ne!(unresolved, resolved);
    assert_eq!(unresolved.config.user, "");
    Ok(())
}
