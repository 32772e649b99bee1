//! Dockerfile equivalence: for each scenario, the config `docker build`
//! gives for the equivalent Dockerfile (worked out by hand from the
//! Dockerfile frontend's rules and written down literally) is what
//! `build_config` gives for the luakit export.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use luakit_image_config::{
    ConfigError, ExportOptions, HISTORY_COMMENT, Healthcheck, HealthcheckConfig, StateDefaults, build_config,
};

use crate::{AMD64, PATH, base, state_of, strings};

const ALPINE: &str = r#"{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/","ArgsEscaped":true,"OnBuild":null},"created":"2024-01-27T00:30:48.743965523Z","history":[{"created":"2024-01-27T00:30:48.624602109Z","created_by":"/bin/sh -c #(nop) ADD file:37a76ec18f9887751cd8473744917d08b7431fc4085097bb6a09d81b41775473 in / "},{"created":"2024-01-27T00:30:48.743965523Z","created_by":"/bin/sh -c #(nop)  CMD [\"/bin/sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:d4fc045c9e3a848011de66f34b81f052d4f2c15a17bb196d637e526349601820"]}}"#;

const NGINX: &str = r#"{"architecture":"amd64","config":{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","NGINX_VERSION=1.25.3","NJS_VERSION=0.8.2","PKG_RELEASE=1~bookworm"],"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"],"Labels":{"maintainer":"NGINX Docker Maintainers <docker-maint@nginx.com>"},"StopSignal":"SIGQUIT","ArgsEscaped":true},"created":"2023-12-19T22:24:54Z","history":[{"created":"2023-12-19T03:21:15Z","created_by":"/bin/sh -c #(nop) ADD file:2e2e1a8b36c4a3a6b in / "},{"created":"2023-12-19T03:21:15Z","created_by":"/bin/sh -c #(nop)  CMD [\"bash\"]","empty_layer":true},{"created":"2023-12-19T22:24:54Z","created_by":"RUN /bin/sh -c set -x && apt-get update # buildkit","comment":"buildkit.dockerfile.v0"},{"created":"2023-12-19T22:24:54Z","created_by":"ENTRYPOINT [\"/docker-entrypoint.sh\"]","comment":"buildkit.dockerfile.v0","empty_layer":true},{"created":"2023-12-19T22:24:54Z","created_by":"CMD [\"nginx\" \"-g\" \"daemon off;\"]","comment":"buildkit.dockerfile.v0","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111","sha256:2222222222222222222222222222222222222222222222222222222222222222"]}}"#;

const PYTHON: &str = r#"{"architecture":"amd64","config":{"Env":["PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","LANG=C.UTF-8","GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305","PYTHON_VERSION=3.12.1"],"Cmd":["python3"]},"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// The history entries luakit adds, one per instruction.
fn luakit_steps(img: &luakit_image_config::ImageConfig) -> Vec<&str> {
    img.history
        .iter()
        .filter(|h| h.comment == HISTORY_COMMENT)
        .map(|h| {
            assert!(h.empty_layer, "luakit history entries must be empty_layer: {h:?}");
            assert!(h.created.is_none(), "luakit never invents times: {h:?}");
            h.created_by.as_str()
        })
        .collect()
}

/// ```dockerfile
/// FROM alpine:3.19
/// COPY --from=build /out/server /server
/// ENV PORT=8080
/// USER nobody
/// ENTRYPOINT ["/server"]
/// ```
#[test]
fn go_service_on_alpine() -> Result<(), ConfigError> {
    let alpine = base(ALPINE);
    let opts = ExportOptions {
        entrypoint: Some(strings(&["/server"])),
        env: vec![("PORT".into(), "8080".into())],
        user: Some("nobody".into()),
        ..ExportOptions::default()
    };
    let img = build_config(Some(&alpine), &state_of(&alpine), AMD64, &opts)?;

    // docker inspect: Env [PATH, PORT=8080], Entrypoint ["/server"],
    // Cmd null (ENTRYPOINT without CMD clears alpine's ["/bin/sh"]),
    // User nobody, WorkingDir "/", no Created of the base.
    assert_eq!(img.config.env, [PATH, "PORT=8080"]);
    assert_eq!(img.config.entrypoint, ["/server"]);
    assert!(img.config.cmd.is_empty());
    assert_eq!(img.config.user, "nobody");
    assert_eq!(img.config.working_dir, "/");
    assert_eq!(img.created, None);
    // The base's history is kept (its layer entry still matches its layer),
    // luakit's steps follow.
    assert_eq!(img.history.len(), 5);
    assert_eq!(img.history[..2], alpine.history[..]);
    assert_eq!(luakit_steps(&img), ["ENV PORT=8080", "USER nobody", r#"ENTRYPOINT ["/server"]"#]);

    // The bytes are fixed: key order, omitted empties, kept ArgsEscaped.
    let expected = concat!(
        r#"{"architecture":"amd64","os":"linux","config":{"User":"nobody","Env":["#,
        r#""PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","PORT=8080"],"#,
        r#""Entrypoint":["/server"],"WorkingDir":"/","ArgsEscaped":true},"#,
        r#""rootfs":{"type":"layers","diff_ids":["sha256:d4fc045c9e3a848011de66f34b81f052d4f2c15a17bb196d637e526349601820"]},"#,
        r#""history":[{"created":"2024-01-27T00:30:48.624602109Z","created_by":"/bin/sh -c #(nop) ADD file:37a76ec18f9887751cd8473744917d08b7431fc4085097bb6a09d81b41775473 in / "},"#,
        r#"{"created":"2024-01-27T00:30:48.743965523Z","created_by":"/bin/sh -c #(nop)  CMD [\"/bin/sh\"]","empty_layer":true},"#,
        r#"{"created_by":"ENV PORT=8080","comment":"buildkit.luakit.v0","empty_layer":true},"#,
        r#"{"created_by":"USER nobody","comment":"buildkit.luakit.v0","empty_layer":true},"#,
        r#"{"created_by":"ENTRYPOINT [\"/server\"]","comment":"buildkit.luakit.v0","empty_layer":true}]}"#,
    );
    assert_eq!(String::from_utf8_lossy(&img.to_json()), expected);
    Ok(())
}

/// ```dockerfile
/// FROM python:3.12-slim
/// ENV LANG=en_US.UTF-8                    # st:with_env("LANG", "en_US.UTF-8")
/// ENV PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:/usr/local/bin:/usr/bin:/bin
/// ```
/// ENV replaces a key where it stands and appends new keys, so `docker
/// inspect` shows PATH first and LANG second, although the LLB state (like
/// `client/llb`) moved the re-set LANG to the end.
#[test]
fn env_replacement_keeps_dockerfile_order() -> Result<(), ConfigError> {
    let python = base(PYTHON);
    let state = StateDefaults {
        env: strings(&[
            "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",
            "PYTHON_VERSION=3.12.1",
            "LANG=en_US.UTF-8",
        ]),
        workdir: "/".into(),
        user: String::new(),
    };
    let opts = ExportOptions {
        env: vec![
            ("PYTHONUNBUFFERED".into(), "1".into()),
            ("PATH".into(), "/app/.venv/bin:/usr/local/bin:/usr/bin:/bin".into()),
        ],
        ..ExportOptions::default()
    };
    let img = build_config(Some(&python), &state, AMD64, &opts)?;
    assert_eq!(
        img.config.env,
        [
            "PATH=/app/.venv/bin:/usr/local/bin:/usr/bin:/bin",
            "LANG=en_US.UTF-8",
            "GPG_KEY=7169605F62C751356D054A26A821E680E5FA6305",
            "PYTHON_VERSION=3.12.1",
            "PYTHONUNBUFFERED=1",
        ]
    );
    // Neither ENTRYPOINT nor CMD: python's CMD is inherited. No WORKDIR in
    // base or state: none in the config.
    assert_eq!(img.config.cmd, ["python3"]);
    assert_eq!(img.config.working_dir, "");
    assert_eq!(luakit_steps(&img), ["ENV PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:/usr/local/bin:/usr/bin:/bin"]);
    Ok(())
}

/// `FROM nginx` + `CMD ["nginx-debug", "-g", "daemon off;"]`: the inherited
/// ENTRYPOINT stays, CMD is replaced.
#[test]
fn cmd_alone_keeps_inherited_entrypoint() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let opts = ExportOptions { cmd: Some(strings(&["nginx-debug", "-g", "daemon off;"])), ..ExportOptions::default() };
    let img = build_config(Some(&nginx), &state_of(&nginx), AMD64, &opts)?;
    assert_eq!(img.config.entrypoint, ["/docker-entrypoint.sh"]);
    assert_eq!(img.config.cmd, ["nginx-debug", "-g", "daemon off;"]);
    assert_eq!(img.config.stop_signal, "SIGQUIT");
    assert_eq!(luakit_steps(&img), [r#"CMD ["nginx-debug","-g","daemon off;"]"#]);
    Ok(())
}

/// `FROM nginx` + `ENTRYPOINT ["/bin/sh", "-c"]`: Docker resets CMD, since
/// the inherited CMD was meant for the old entrypoint. With a CMD in the same
/// Dockerfile (in either order) both are set.
#[test]
fn entrypoint_clears_inherited_cmd_unless_cmd_given() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let state = state_of(&nginx);
    let only = ExportOptions { entrypoint: Some(strings(&["/bin/sh", "-c"])), ..ExportOptions::default() };
    let img = build_config(Some(&nginx), &state, AMD64, &only)?;
    assert_eq!(img.config.entrypoint, ["/bin/sh", "-c"]);
    assert!(img.config.cmd.is_empty());
    assert!(!String::from_utf8_lossy(&img.to_json()).contains(r#""Cmd""#));

    let both = ExportOptions { cmd: Some(strings(&["echo hi"])), ..only };
    let img = build_config(Some(&nginx), &state, AMD64, &both)?;
    assert_eq!(img.config.entrypoint, ["/bin/sh", "-c"]);
    assert_eq!(img.config.cmd, ["echo hi"]);
    assert_eq!(luakit_steps(&img), [r#"ENTRYPOINT ["/bin/sh","-c"]"#, r#"CMD ["echo hi"]"#]);

    // `ENTRYPOINT []` resets the entrypoint (and, without CMD, CMD too).
    let reset = ExportOptions { entrypoint: Some(Vec::new()), ..ExportOptions::default() };
    let img = build_config(Some(&nginx), &state, AMD64, &reset)?;
    assert!(img.config.entrypoint.is_empty() && img.config.cmd.is_empty());
    Ok(())
}

/// `FROM nginx` + `EXPOSE 8080 53/UDP 9000-9001/tcp`: ports get a lower-case
/// protocol (TCP by default), ranges expand, nginx's 80/tcp stays.
#[test]
fn expose_normalises_and_merges() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let opts =
        ExportOptions { expose: strings(&["8080", "53/UDP", "9000-9001/tcp", "80"]), ..ExportOptions::default() };
    let img = build_config(Some(&nginx), &state_of(&nginx), AMD64, &opts)?;
    let expected: BTreeSet<String> =
        strings(&["53/udp", "80/tcp", "8080/tcp", "9000/tcp", "9001/tcp"]).into_iter().collect();
    assert_eq!(img.config.exposed_ports, expected);
    assert!(
        String::from_utf8_lossy(&img.to_json())
            .contains(r#""ExposedPorts":{"53/udp":{},"80/tcp":{},"8080/tcp":{},"9000/tcp":{},"9001/tcp":{}}"#)
    );
    assert_eq!(luakit_steps(&img), ["EXPOSE 8080/tcp 53/udp 9000/tcp 9001/tcp 80/tcp"]);
    Ok(())
}

/// `FROM nginx` + `LABEL org.opencontainers.image.title=web maintainer=me`:
/// base labels stay, same-named ones are replaced.
#[test]
fn labels_merge_with_base() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let opts = ExportOptions {
        labels: BTreeMap::from([
            ("org.opencontainers.image.title".to_string(), "web".to_string()),
            ("maintainer".to_string(), "me".to_string()),
        ]),
        ..ExportOptions::default()
    };
    let img = build_config(Some(&nginx), &state_of(&nginx), AMD64, &opts)?;
    assert_eq!(
        img.config.labels,
        BTreeMap::from([
            ("maintainer".to_string(), "me".to_string()),
            ("org.opencontainers.image.title".to_string(), "web".to_string()),
        ])
    );
    assert_eq!(luakit_steps(&img), ["LABEL maintainer=me org.opencontainers.image.title=web"]);
    Ok(())
}

/// ```dockerfile
/// FROM node:20                  # no WorkingDir
/// WORKDIR /app                  # st:with_workdir("/app")
/// WORKDIR dist                  # bk.export{workdir = "dist"}
/// ```
/// gives WorkingDir `/app/dist`; `cwd` is the guide's alias of `workdir`.
#[test]
fn workdir_from_state_then_option() -> Result<(), ConfigError> {
    let node = base(PYTHON);
    let mut state = state_of(&node);
    state.workdir = "/app".into();
    let img = build_config(Some(&node), &state, AMD64, &ExportOptions::default())?;
    assert_eq!(img.config.working_dir, "/app");
    assert!(luakit_steps(&img).is_empty(), "the state's workdir is not an export step");

    let opts = ExportOptions { workdir: Some("dist/".into()), ..ExportOptions::default() };
    let img = build_config(Some(&node), &state, AMD64, &opts)?;
    assert_eq!(img.config.working_dir, "/app/dist");
    assert_eq!(luakit_steps(&img), ["WORKDIR /app/dist"]);

    // A state at "/" keeps the base's "/" (alpine) and adds none otherwise.
    let alpine = base(ALPINE);
    let img = build_config(Some(&alpine), &state_of(&alpine), AMD64, &ExportOptions::default())?;
    assert_eq!(img.config.working_dir, "/");
    let img = build_config(None, &StateDefaults::default(), AMD64, &ExportOptions::default())?;
    assert_eq!(img.config.working_dir, "");
    Ok(())
}

/// A state that is not from a resolved image (`bk.scratch()`, or an image
/// whose config is unknown) exports like `FROM scratch`: PATH is set, the
/// platform is the target's, no history but luakit's.
#[test]
fn scratch_gets_path_and_target_platform() -> Result<(), ConfigError> {
    let state = StateDefaults { env: Vec::new(), workdir: "/".into(), user: String::new() };
    let opts = ExportOptions { entrypoint: Some(strings(&["/hello"])), ..ExportOptions::default() };
    let img = build_config(None, &state, ("linux", "arm", "v7"), &opts)?;
    assert_eq!(img.config.env, [PATH]);
    assert_eq!((img.os.as_str(), img.architecture.as_str(), img.variant.as_str()), ("linux", "arm", "v7"));
    assert_eq!(luakit_steps(&img), [r#"ENTRYPOINT ["/hello"]"#]);
    assert_eq!(img.history.len(), 1);
    assert!(img.rootfs.diff_ids.is_empty() && img.rootfs.kind == "layers");

    // An unresolved image state already carries the default PATH: not doubled.
    let state = StateDefaults { env: vec![PATH.to_string(), "A=1".to_string()], ..state };
    let img = build_config(None, &state, AMD64, &ExportOptions::default())?;
    assert_eq!(img.config.env, [PATH, "A=1"]);
    assert!(img.history.is_empty());
    Ok(())
}

/// ```dockerfile
/// FROM nginx
/// VOLUME ["/data", "/logs"]
/// STOPSIGNAL SIGTERM
/// HEALTHCHECK --interval=5m --timeout=3s --retries=2 CMD curl -f http://localhost/ || exit 1
/// ```
/// Durations are nanoseconds in the JSON, as Docker writes them.
#[test]
fn volumes_stopsignal_healthcheck() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let opts = ExportOptions {
        volumes: strings(&["/data", "/logs"]),
        stop_signal: Some("SIGTERM".into()),
        healthcheck: Some(Healthcheck {
            test: strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]),
            interval: Some(Duration::from_secs(300)),
            timeout: Some(Duration::from_secs(3)),
            retries: Some(2),
            ..Healthcheck::default()
        }),
        ..ExportOptions::default()
    };
    let img = build_config(Some(&nginx), &state_of(&nginx), AMD64, &opts)?;
    assert_eq!(img.config.volumes, strings(&["/data", "/logs"]).into_iter().collect());
    assert_eq!(img.config.stop_signal, "SIGTERM");
    assert_eq!(
        img.config.healthcheck,
        Some(HealthcheckConfig {
            test: strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]),
            interval: 300_000_000_000,
            timeout: 3_000_000_000,
            retries: 2,
            ..HealthcheckConfig::default()
        })
    );
    let json = String::from_utf8_lossy(&img.to_json()).into_owned();
    assert!(json.contains(r#""Volumes":{"/data":{},"/logs":{}}"#), "{json}");
    assert!(
        json.contains(
            r#""Healthcheck":{"Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Interval":300000000000,"Timeout":3000000000,"Retries":2}"#
        ),
        "{json}"
    );
    assert_eq!(
        luakit_steps(&img),
        [
            r#"VOLUME ["/data","/logs"]"#,
            "STOPSIGNAL SIGTERM",
            r#"HEALTHCHECK ["CMD-SHELL","curl -f http://localhost/ || exit 1"] --interval=300s --timeout=3s --retries=2"#,
        ]
    );

    // HEALTHCHECK NONE disables the base's check.
    let none = ExportOptions {
        healthcheck: Some(Healthcheck { test: strings(&["NONE"]), ..Healthcheck::default() }),
        ..ExportOptions::default()
    };
    let img = build_config(Some(&img), &state_of(&img), AMD64, &none)?;
    assert_eq!(img.config.healthcheck.map(|h| h.test), Some(strings(&["NONE"])));
    Ok(())
}

/// `FROM` keeps what the base says about the image, but not its creation
/// time, its consumed ONBUILD triggers, nor what described its own build.
#[test]
fn from_drops_created_onbuild_and_build_metadata() -> Result<(), ConfigError> {
    let img = base(
        r#"{"architecture":"amd64","os":"linux","author":"someone","created":"2020-01-01T00:00:00Z",
            "docker_version":"20.10.7","container":"abc","container_config":{"Cmd":["/bin/sh"]},
            "moby.buildkit.cache.v0":"e30=","org.example.extension":{"kept":true},
            "config":{"Env":["PATH=/bin"],"OnBuild":["RUN make"],"User":"app","Shell":["/bin/bash","-c"]},
            "rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let out = build_config(Some(&img), &state_of(&img), AMD64, &ExportOptions::default())?;
    assert_eq!(out.created, None);
    assert_eq!(out.author.as_deref(), Some("someone"));
    assert!(out.config.on_build.is_empty());
    assert_eq!(out.config.user, "app");
    assert_eq!(out.config.shell, ["/bin/bash", "-c"]);
    assert_eq!(out.extra.keys().collect::<Vec<_>>(), ["org.example.extension"]);
    Ok(())
}

/// The config's platform is the target platform unless the options say
/// otherwise; a variant only carries over with its architecture, and the
/// base's OS version goes when the platform changes.
#[test]
fn platform_from_options_or_target() -> Result<(), ConfigError> {
    let img = base(r#"{"architecture":"arm","variant":"v7","os":"linux","os.version":"1","config":{}}"#);
    let same = build_config(Some(&img), &state_of(&img), ("linux", "arm", "v7"), &ExportOptions::default())?;
    assert_eq!((same.architecture.as_str(), same.variant.as_str()), ("arm", "v7"));
    assert!(same.extra.contains_key("os.version"));

    let opts = ExportOptions { arch: Some("arm64".into()), ..ExportOptions::default() };
    let other = build_config(Some(&img), &state_of(&img), ("linux", "arm", "v7"), &opts)?;
    assert_eq!((other.architecture.as_str(), other.variant.as_str()), ("arm64", ""));
    assert!(!other.extra.contains_key("os.version"));

    let opts = ExportOptions {
        os: Some("linux".into()),
        arch: Some("arm".into()),
        variant: Some("v6".into()),
        ..ExportOptions::default()
    };
    let v6 = build_config(None, &StateDefaults::default(), AMD64, &opts)?;
    assert_eq!((v6.os.as_str(), v6.architecture.as_str(), v6.variant.as_str()), ("linux", "arm", "v6"));
    Ok(())
}

/// The same inputs give the same bytes.
#[test]
fn deterministic() -> Result<(), ConfigError> {
    let nginx = base(NGINX);
    let opts = ExportOptions {
        env: vec![("B".into(), "2".into()), ("A".into(), "1".into())],
        labels: BTreeMap::from([("z".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())]),
        expose: strings(&["9090", "80"]),
        ..ExportOptions::default()
    };
    let a = build_config(Some(&nginx), &state_of(&nginx), AMD64, &opts)?.to_json();
    let b = build_config(Some(&base(NGINX)), &state_of(&nginx), AMD64, &opts.clone())?.to_json();
    assert_eq!(a, b);
    Ok(())
}
