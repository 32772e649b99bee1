//! `luakit lock` against an in-process fake registry (luakit-resolve's
//! test registry): writing the lock for two platforms through Bearer auth
//! from `config.json` `auths` or a `credHelpers` helper, building from it
//! offline, drift reported by `--verify --remote`, `--update` moving the pin
//! while builds before it keep their bytes, and clear errors.

use std::path::{Path, PathBuf};
use std::process::Output;

use luakit::lock::{LOCK_FILE, Lock};

use crate::fake::{FakeRegistry, sha};
use crate::util::{R, luakit, text};

struct Project {
    dir: tempfile::TempDir,
    script: PathBuf,
    docker_config: PathBuf,
}

fn project(reg: &FakeRegistry, docker_config_json: &str) -> Result<Project, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("build.lua");
    std::fs::write(
        &script,
        format!("local base = bk.image(\"{}/luakit-e2e/multi:1\")\nbk.export(base:run(\"true\"))\n", reg.host),
    )?;
    let docker_config = dir.path().join("docker");
    std::fs::create_dir(&docker_config)?;
    std::fs::write(docker_config.join("config.json"), docker_config_json)?;
    Ok(Project { dir, script, docker_config })
}

fn run(p: &Project, args: &[&str], path_dir: Option<&Path>) -> std::io::Result<Output> {
    let mut cmd = luakit();
    cmd.args(args).arg(&p.script).env("DOCKER_CONFIG", &p.docker_config);
    if let Some(bin) = path_dir {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).map_err(std::io::Error::other)?);
    }
    cmd.output()
}

fn auths(host: &str) -> String {
    // user:secret
    format!(r#"{{"auths":{{"{host}":{{"auth":"dXNlcjpzZWNyZXQ="}}}}}}"#)
}

#[test]
fn lock_build_offline_drift_and_update() -> R {
    let reg = FakeRegistry::start(true)?;
    let p = project(&reg, &auths(&reg.host))?;
    let out = run(&p, &["lock", "--platform", "linux/amd64", "--platform", "linux/arm64"], None)?;
    assert!(out.status.success(), "luakit lock: {}", text(&out.stderr));
    let reference = format!("{}/luakit-e2e/multi:1", reg.host);
    assert_eq!(text(&out.stdout), format!("{reference} {}\n", sha(&reg.index)));
    let lock_path = p.dir.path().join(LOCK_FILE);
    let bytes = std::fs::read(&lock_path)?;
    let lock = Lock::parse(&bytes)?;
    let image = lock.images.get(&reference).ok_or("the image is locked")?;
    assert_eq!(image.digest, sha(&reg.index));
    assert_eq!(image.platforms.keys().collect::<Vec<_>>(), ["linux/amd64", "linux/arm64"]);
    assert_eq!(image.platforms["linux/amd64"].config, reg.config_amd64, "the exact config bytes");

    // Again: nothing to do, the same bytes.
    let out = run(&p, &["lock", "--platform", "linux/amd64", "--platform", "linux/arm64"], None)?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(std::fs::read(&lock_path)?, bytes);

    // Built from the lock: pinned to the index, the base config inherited.
    let build = |p: &Project| -> Result<(Vec<u8>, String), Box<dyn std::error::Error>> {
        let (def, config) = (p.dir.path().join("def.pb"), p.dir.path().join("config.json"));
        let mut cmd = luakit();
        cmd.args(["build", "--locked", "--platform", "linux/amd64", "-o"]).arg(&def).arg("--image-config").arg(&config);
        let out = cmd.arg(&p.script).env("DOCKER_CONFIG", "/nonexistent").output()?;
        assert!(out.status.success(), "luakit build: {}", text(&out.stderr));
        Ok((std::fs::read(def)?, std::fs::read_to_string(config)?))
    };
    let (before, config) = build(&p)?;
    assert!(before.windows(71).any(|w| w == sha(&reg.index).as_bytes()), "pinned to the index digest");
    let config = luakit::ImageConfig::from_json(config.as_bytes())?;
    assert_eq!((config.config.working_dir.as_str(), config.config.user.as_str()), ("/srv", "app"));
    assert!(config.config.env.contains(&"BASE=1".to_string()), "{:?}", config.config.env);

    let out = run(&p, &["lock", "--verify", "--remote"], None)?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Re-tagged in the registry: drift is reported, builds keep the old bytes.
    reg.retag();
    let out = run(&p, &["lock", "--verify", "--remote"], None)?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), format!("{reference} {} → {}\n", sha(&reg.index), sha(&reg.manifest_amd64)));
    assert!(text(&out.stderr).contains("run `luakit lock --update`"), "{}", text(&out.stderr));
    assert_eq!(build(&p)?.0, before, "the lock, not the registry, decides");

    let out = run(&p, &["lock", "--update", "--platform", "linux/amd64"], None)?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{reference} {} → {}\n", sha(&reg.index), sha(&reg.manifest_amd64)));
    let moved = Lock::read(&lock_path)?.ok_or("a lock")?;
    assert_eq!(moved.images[&reference].digest, sha(&reg.manifest_amd64));
    assert_ne!(build(&p)?.0, before);
    Ok(())
}

#[test]
fn credential_helpers_are_asked() -> R {
    let reg = FakeRegistry::start(true)?;
    let p = project(&reg, &format!(r#"{{"credHelpers":{{"{}":"luakit-test"}}}}"#, reg.host))?;
    let bin = p.dir.path().join("bin");
    std::fs::create_dir(&bin)?;
    let helper = bin.join("docker-credential-luakit-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"{}\" ] || exit 3\necho '{{\"Username\":\"user\",\"Secret\":\"secret\"}}'\n",
            reg.host
        ),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755))?;
    }
    let out = run(&p, &["lock", "--platform", "linux/amd64"], Some(&bin))?;
    assert!(out.status.success(), "luakit lock: {}", text(&out.stderr));
    assert!(p.dir.path().join(LOCK_FILE).exists());
    Ok(())
}

#[test]
fn wrong_passwords_and_unknown_tags_are_clear_errors() -> R {
    let reg = FakeRegistry::start(true)?;
    // user:wrong
    let p = project(&reg, &format!(r#"{{"auths":{{"{}":{{"auth":"dXNlcjp3cm9uZw=="}}}}}}"#, reg.host))?;
    let out = run(&p, &["lock", "--platform", "linux/amd64"], None)?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("registry {} refused access (HTTP 401)", reg.host)), "{stderr}");
    assert!(!p.dir.path().join(LOCK_FILE).exists(), "nothing written");

    let p = project(&reg, &auths(&reg.host))?;
    std::fs::write(&p.script, format!("bk.export(bk.image(\"{}/luakit-e2e/multi:9\"))\n", reg.host))?;
    let out = run(&p, &["lock", "--platform", "linux/amd64"], None)?;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not found in the registry (manifests/9): unknown tag or repository?"), "{stderr}");
    assert!(stderr.contains("build.lua:1"), "the script line is named: {stderr}");

    // --resolve builds straight from the registry, without a lock.
    let p = project(&reg, &auths(&reg.host))?;
    let out = run(&p, &["validate", "--resolve", "--platform", "linux/arm64"], None)?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    Ok(())
}
