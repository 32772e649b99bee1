//! The example's own tests: snapshots of the graphs and image configs it
//! generates for `services.toml` (ops named by place, see
//! `luakit::inspect::snapshot`), the files it writes, and its errors.

use std::path::Path;
use std::process::Command;

use luakit_example_embed::{Config, EmbedError, write};

type R = Result<(), Box<dyn std::error::Error>>;

fn services() -> Result<Config, EmbedError> {
    Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("services.toml"))
}

#[test]
fn services_toml_snapshots() -> R {
    let builds = services()?.build_all()?;
    let names: Vec<&str> = builds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["api", "worker", "web", "docs"]);
    for (name, build) in &builds {
        luakit::assert_definition_snapshot!(format!("{name}_graph"), build.definition);
        insta::assert_snapshot!(format!("{name}_config"), String::from_utf8(build.image_config_json())?);
    }
    Ok(())
}

#[test]
fn builds_are_deterministic_and_written_as_buildctl_reads_them() -> R {
    let dir = tempfile::tempdir()?;
    let config = services()?;
    for (name, build) in config.build_all()? {
        let again = config.build(config.service.iter().find(|s| s.name == name).ok_or("service")?)?;
        assert_eq!(build.definition_bytes(), again.definition_bytes(), "{name}: same config, same bytes");
        let [llb, json] = write(dir.path(), &name, &build)?;
        let read = luakit::inspect::read_definition(&llb, 1 << 20)?;
        assert_eq!(read, build.definition, "{name}");
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(json)?)?;
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.title"].as_str().unwrap_or(name.as_str()),
            name
        );
    }
    Ok(())
}

#[test]
fn the_binary_writes_every_service() -> R {
    let dir = tempfile::tempdir()?;
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("services.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_embed")).arg(&services).arg(dir.path()).output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout)?;
    assert!(stdout.starts_with("api: 6 ops → "), "{stdout}");
    for name in ["api", "worker", "web", "docs"] {
        assert!(dir.path().join(format!("{name}.llb")).is_file(), "{name}.llb");
        assert!(dir.path().join(format!("{name}.json")).is_file(), "{name}.json");
    }
    let usage = Command::new(env!("CARGO_BIN_EXE_embed")).output()?;
    assert_eq!(usage.status.code(), Some(2));
    let missing = Command::new(env!("CARGO_BIN_EXE_embed")).args(["/nonexistent.toml", "out"]).output()?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.toml"));
    Ok(())
}

fn error(config: &str) -> String {
    match Config::parse(config).and_then(|c| c.build_all()) {
        Ok(_) => panic!("accepted:\n{config}"),
        Err(e) => e.to_string(),
    }
}

const API: &str = r#"name = "api"
builder = "golang:1.22"
runtime = "scratch-image"
build = ["go build"]"#;

#[test]
fn mistakes_are_refused_naming_what_is_wrong() {
    let cases = [
        (format!("[[service]]\n{API}\nport = 80"), "unknown field `port`"),
        (format!("[[service]]\n{API}\n[[service]]\n{API}"), "two services are named 'api'"),
        ("[[service]]\nname = \"Api\"\nscript = \"\"".to_string(), "service name 'Api'"),
        (format!("[[service]]\n{API}\nscript = \"x\""), "give a script or builder/runtime/build, not both"),
        ("[[service]]\nname = \"api\"\nbuilder = \"golang\"".to_string(), "needs builder, runtime and build"),
        (format!("[[service]]\n{API}\nmode = 0o17777"), "mode 0o17777 is above 0o7777"),
        (format!("[[service]]\n{API}\nowner = \"1:\""), "service 'api': owner: empty user or group"),
        (format!("[defaults]\nplatform = \"linux/z80\"\n[[service]]\n{API}"), "unknown architecture 'z80'"),
        (String::new(), "no [[service]]"),
        (format!("[[service]]\n{}", API.replace("golang:1.22", "Go Lang")), "service 'api': "),
        (format!("[[service]]\n{API}\nports = [0]"), "service 'api': "),
        (
            "[[service]]\nname = \"docs\"\nscript = \"\"\"\nlocal x = bk.image(1, 2, 3)\n\"\"\"".to_string(),
            "docs.lua:1",
        ),
    ];
    for (config, expected) in cases {
        let message = error(&config);
        assert!(message.contains(expected), "{config}\n→ {message}\n(expected {expected:?})");
    }
}
