//! `luakit convert` on every Dockerfile under examples/ and
//! fixtures/convert/: a reviewed snapshot of the script, and a semantic
//! check: the script evaluates, and its image config is the one `docker
//! build` gives the Dockerfile (fixtures/convert/*/expect.json, written by
//! hand from Docker's rules), with base images resolved by a fake resolver
//! that knows alpine's and busybox's configs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use luakit::{BuildOptions, EvalOptions, ImageResolver, Platform, ResolveMode, ResolvedImage, Script};
use luakit_image_config::{ContainerConfig, ImageConfig};
use luakit_tools::convert::{ConvertOptions, convert};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// Base image configs as the registry has them (the parts that matter).
struct FakeRegistry;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ImageResolver for FakeRegistry {
    fn resolve(
        &self,
        reference: &str,
        _: &Platform,
        _: ResolveMode,
    ) -> Result<Option<ResolvedImage>, luakit::lua::ResolveError> {
        let mut config = ImageConfig::default();
        config.config.env = vec![DEFAULT_PATH.to_string()];
        if reference.starts_with("docker.io/library/alpine:") {
            config.config.cmd = vec!["/bin/sh".to_string()];
        } else if reference.starts_with("docker.io/library/busybox:") {
            config.config.cmd = vec!["sh".to_string()];
        }
        Ok(Some(ResolvedImage { digest: String::new(), config }))
    }
}

/// Builds a converted script (evaluation, marshal, image config: what
/// `luakit build` does) and returns its image config.
fn image_config(lua: &str) -> Result<ContainerConfig, Box<dyn std::error::Error>> {
    let opts = BuildOptions {
        eval: EvalOptions {
            target_platform: Platform::parse("linux/amd64")?,
            build_platform: Platform::parse("linux/amd64")?,
            local_unique_id: "test".to_string(),
            ..EvalOptions::default()
        },
        ..BuildOptions::default()
    };
    let build = luakit::build(&Script::new("build.lua", lua.as_bytes().to_vec()), &opts, Arc::new(FakeRegistry))?;
    Ok(build.image_config.config)
}

fn convert_file(path: &Path) -> Result<luakit_tools::convert::Converted, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path)?;
    let ignore = std::fs::read_to_string(path.with_file_name(".dockerignore")).ok();
    Ok(convert(&text, &ConvertOptions { dockerignore: ignore, ..ConvertOptions::default() })?)
}

#[test]
fn fixtures_convert_to_reviewed_scripts_with_the_dockerfile_config() {
    insta::glob!("../../../fixtures/convert", "*/Dockerfile", |path| {
        let name = path.parent().and_then(Path::file_name).map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let converted = convert_file(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut shown = converted.lua.clone();
        for w in &converted.warnings {
            shown.push_str(&format!("-- warning: {w}\n"));
        }
        insta::assert_snapshot!(shown);
        let config = image_config(&converted.lua).unwrap_or_else(|e| panic!("{name}: the script does not build: {e}"));
        let expect_text = std::fs::read_to_string(path.with_file_name("expect.json")).expect("expect.json");
        let mut expect: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&expect_text).expect("expect.json is a JSON object");
        // Keys Docker sets that luakit cannot (each with a warning).
        if let Some(missing) = expect.remove("//missing") {
            for key in missing.as_array().expect("a list") {
                let key = key.as_str().expect("a key");
                expect.remove(key);
                assert!(
                    converted.warnings.iter().any(|w| w.contains(&key.to_ascii_uppercase())),
                    "{name}: no warning about {key}"
                );
            }
        }
        let got = serde_json::to_value(&config).expect("serialises");
        assert_eq!(got, serde_json::Value::Object(expect), "{name}: image config differs from the Dockerfile's");
    });
}

#[test]
fn examples_convert_and_build() -> TestResult {
    for dir in ["go", "node", "python", "merge-diff"] {
        let converted = convert_file(&root().join("examples").join(dir).join("Dockerfile"))?;
        insta::assert_snapshot!(format!("example_{dir}"), converted.lua);
        image_config(&converted.lua).map_err(|e| format!("examples/{dir}: {e}"))?;
    }
    Ok(())
}

/// Base images the end-to-end suite makes offline: the busybox rootfs as
/// alpine and busybox, and stand-ins (shell-script toolchains) under the
/// real names of the language and distribution images.
const E2E_BASES: &[&str] = &[
    "alpine:3.19",
    "busybox",
    "${BASE}",
    "golang:${GO_VERSION}-alpine",
    "node:${NODE_VERSION}-alpine",
    "python:3.12-slim",
    "rust:${RUST_VERSION}-slim-bookworm",
    "debian:bookworm-slim",
    "gcr.io/distroless/static-debian12",
];

#[test]
fn e2e_list_names_fixtures_with_offline_bases_and_no_network() -> TestResult {
    let dir = root().join("fixtures/convert");
    let list = std::fs::read_to_string(dir.join("e2e.txt"))?;
    let names: Vec<&str> = list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(names.len() >= 13, "{names:?}");
    for name in names {
        let text = std::fs::read_to_string(dir.join(name).join("Dockerfile"))?;
        for line in text.lines().filter(|l| l.trim_start().to_ascii_uppercase().starts_with("FROM ")) {
            let image = line.split_whitespace().skip(1).find(|w| !w.starts_with("--")).unwrap_or_default();
            let is_stage = text.to_ascii_lowercase().contains(&format!(" as {}", image.to_ascii_lowercase()));
            assert!(
                is_stage || E2E_BASES.iter().any(|b| image == *b || (*b == "busybox" && image.starts_with(b))),
                "{name}: base image {image} is not one the end-to-end suite has"
            );
        }
        for banned in ["apk add", "wget ", "curl ", "https://", "--network=host", "env="] {
            assert!(!text.contains(banned), "{name}: '{banned}' needs the network or a newer Dockerfile frontend");
        }
    }
    Ok(())
}

fn convert_err(text: &str) -> String {
    match convert(text, &ConvertOptions::default()) {
        Ok(c) => panic!("converted:\n{}", c.lua),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unsupported_and_malformed_dockerfiles_are_refused_with_their_line() {
    let cases = [
        ("FROM alpine\nRUN true\nONBUILD RUN make\n", "Dockerfile:3: ONBUILD is not supported: "),
        ("FROM alpine\nFROBNICATE x\n", "Dockerfile:2: unknown instruction: FROBNICATE"),
        ("RUN true\nFROM alpine\n", "Dockerfile:1: RUN before the first FROM: only ARG may come before FROM"),
        ("# just a comment\n", "Dockerfile: no FROM instruction"),
        ("FROM alpine\nRUN <<EOF\necho\n", "Dockerfile:2: heredoc <<EOF is not terminated"),
        ("FROM alpine\nCOPY a b c\n", "Dockerfile:2: COPY with more than one source needs a destination directory"),
        ("FROM alpine\nRUN --mount=type=npipe,target=/x true\n", "Dockerfile:2: --mount type=npipe is not supported"),
        ("FROM alpine\nRUN --device=/dev/fuse true\n", "Dockerfile:2: RUN --device is not supported"),
        ("FROM alpine\nCOPY --chmod=u+x a /a\n", "Dockerfile:2: COPY --chmod=u+x: only octal modes"),
        ("FROM alpine\nENV A=${B#x}\n", "Dockerfile:2: ${B#x}: only ${VAR}"),
        ("FROM alpine\nSHELL bash -c\n", "Dockerfile:2: SHELL must be written in JSON form"),
        (
            "FROM alpine\nHEALTHCHECK --interval=5 CMD true\n",
            "Dockerfile:2: HEALTHCHECK --interval=5: expected a duration",
        ),
        ("FROM alpine AS a\nCOPY --from=a /x /y\n", "Dockerfile:2: --from=a names the stage it is used in"),
        ("# escape=x\nFROM alpine\n", "Dockerfile:1: invalid escape directive"),
    ];
    for (text, want) in cases {
        let got = convert_err(text);
        assert!(got.starts_with(want), "for {text:?}\n got: {got}\nwant: {want}…");
    }
    let target = convert("FROM alpine\n", &ConvertOptions { target: Some("nope".into()), ..Default::default() });
    assert!(target.is_err_and(|e| e.to_string() == "Dockerfile: no stage named 'nope' (--target)"));
}

#[test]
fn options_name_the_file_pick_the_target_and_add_a_syntax_line() -> TestResult {
    let text = "FROM alpine:3.19 AS a\nCMD [\"a\"]\nFROM a AS b\nCMD [\"b\"]\n";
    let opts = ConvertOptions {
        file_name: "app.Dockerfile".into(),
        target: Some("A".into()),
        syntax: Some("luakit/frontend:dev".into()),
        dockerignore: Some("# comment\n.git\n\n*.md\n!README.md\n".into()),
    };
    let out = convert(text, &opts)?;
    assert!(out.lua.starts_with("# syntax=luakit/frontend:dev\n-- Converted from app.Dockerfile by luakit convert.\n"));
    assert!(out.lua.contains("bk.export(a, {\n    cmd = { \"a\" },\n})"), "{}", out.lua);
    let err = convert("FROM a\nONBUILD RUN x\n", &opts).expect_err("refused").to_string();
    assert!(err.starts_with("app.Dockerfile:2: "), "{err}");
    let with_ctx = convert("FROM alpine:3.19\nCOPY . /src\n", &ConvertOptions { target: None, ..opts })?;
    assert!(
        with_ctx.lua.contains(r#"bk.local_("context", { exclude = { ".git", "*.md", "!README.md" } })"#),
        "{}",
        with_ctx.lua
    );
    Ok(())
}

#[test]
fn conversion_is_deterministic_and_formatted() -> TestResult {
    let path = root().join("fixtures/convert/go-multistage/Dockerfile");
    let a = convert_file(&path)?;
    let b = convert_file(&path)?;
    assert_eq!(a, b);
    assert_eq!(luakit_tools::fmt::format_source(&a.lua)?, a.lua);
    Ok(())
}

#[test]
fn convert_path_reads_the_ignore_file_next_to_the_dockerfile() -> TestResult {
    let dir = tempfile::tempdir()?;
    let df = dir.path().join("app.Dockerfile");
    std::fs::write(&df, "FROM alpine:3.19\nCOPY . /src\n")?;
    std::fs::write(dir.path().join(".dockerignore"), "generic\n")?;
    let out = luakit_tools::convert::convert_path(&df, &ConvertOptions::default())?;
    assert!(out.lua.contains("exclude = { \"generic\" }"), "{}", out.lua);
    std::fs::write(dir.path().join("app.Dockerfile.dockerignore"), "specific\n")?;
    let out = luakit_tools::convert::convert_path(&df, &ConvertOptions::default())?;
    assert!(out.lua.contains("exclude = { \"specific\" }"), "{}", out.lua);
    assert!(out.lua.contains(&format!("-- Converted from {} by luakit convert.", df.display())));
    Ok(())
}

/// Docker creates a WORKDIR owned by the current USER; the conversion
/// leaves the mkdir out only when a RUN as root comes next (it creates the
/// directory the same way).
#[test]
fn workdir_is_created_unless_a_root_run_comes_next() {
    let lua = |df: &str| convert(df, &ConvertOptions::default()).expect("converts").lua;
    let chown_copy = lua("FROM alpine:3.19\nWORKDIR /app\nCOPY --chown=1000 . .\n");
    assert!(chown_copy.contains(r#"mkdir("/app")"#), "{chown_copy}");
    let copy_elsewhere = lua("FROM alpine:3.19\nWORKDIR /app\nCOPY a.txt /etc/a.txt\n");
    assert!(copy_elsewhere.contains(r#"mkdir("/app")"#), "{copy_elsewhere}");
    let run = lua("FROM alpine:3.19\nWORKDIR /app\nWORKDIR sub\nRUN touch x\n");
    assert!(!run.contains("mkdir("), "{run}");
    let absolute_after = lua("FROM alpine:3.19\nWORKDIR /a\nWORKDIR /b\nRUN touch x\n");
    assert!(
        absolute_after.contains(r#"mkdir("/a")"#) && !absolute_after.contains(r#"mkdir("/b")"#),
        "{absolute_after}"
    );
    let as_user = lua("FROM alpine:3.19\nUSER 1000\nWORKDIR /w\nRUN touch x\n");
    assert!(as_user.contains(r#"mkdir("/w", { owner = "1000" })"#), "{as_user}");
    let relative = lua("FROM alpine:3.19\nWORKDIR /srv\nRUN true\nWORKDIR ..\nCOPY a .\n");
    assert!(relative.contains(r#"mkdir(".")"#), "{relative}");
}
