//! Base configs survive parse → serialize: the frontend inherits them, so
//! fields luakit does not model must come through untouched.

use luakit_image_config::{ConfigError, ImageConfig};
use serde_json::Value;

/// A config as the classic Docker builder wrote it (Docker Hub still serves
/// many of these): legacy `container_config`, `docker_version`, Go's nulls,
/// plus fields from newer specs and a vendor extension.
const LEGACY_DOCKER: &str = r##"{
  "architecture": "amd64",
  "author": "Jane <jane@example.com>",
  "config": {
    "Hostname": "",
    "Domainname": "",
    "User": "1000:1000",
    "AttachStdin": false,
    "AttachStdout": false,
    "AttachStderr": false,
    "ExposedPorts": {"443/tcp": {}, "80/tcp": {}},
    "Tty": false,
    "OpenStdin": false,
    "StdinOnce": false,
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "APP_HOME=/srv/app"],
    "Cmd": ["serve", "--port", "80"],
    "Healthcheck": {"Test": ["CMD", "/bin/check"], "Interval": 30000000000, "StartInterval": 1000000000, "Retries": 3},
    "ArgsEscaped": true,
    "Image": "sha256:7e2b1a3c8d9f00112233445566778899aabbccddeeff00112233445566778899",
    "Volumes": {"/srv/data": {}},
    "WorkingDir": "/srv/app",
    "Entrypoint": ["/usr/bin/tini", "--"],
    "OnBuild": ["COPY . /srv/app"],
    "Labels": {"org.opencontainers.image.source": "https://example.com/app", "vendor": "Example"},
    "StopSignal": "SIGINT",
    "Shell": ["/bin/bash", "-o", "pipefail", "-c"]
  },
  "container": "3f1a9c0e5d7b",
  "container_config": {
    "Hostname": "3f1a9c0e5d7b",
    "Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"serve\"]"],
    "Image": "sha256:7e2b1a3c8d9f00112233445566778899aabbccddeeff00112233445566778899",
    "Volumes": null,
    "OnBuild": null,
    "Labels": {}
  },
  "created": "2023-06-01T12:34:56.789012345Z",
  "docker_version": "20.10.24",
  "history": [
    {"created": "2023-05-23T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2023-05-23T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"bash\"]", "empty_layer": true},
    {"created": "2023-06-01T12:34:56Z", "created_by": "/bin/sh -c apt-get update", "author": "Jane", "comment": "deps", "x-extra": 1}
  ],
  "os": "linux",
  "os.features": ["sse4"],
  "variant": "v3",
  "rootfs": {
    "type": "layers",
    "diff_ids": [
      "sha256:0000000000000000000000000000000000000000000000000000000000000001",
      "sha256:0000000000000000000000000000000000000000000000000000000000000002"
    ]
  },
  "com.example.vendor": {"nested": [1, 2.5, "x", null, true], "deep": {"a": {"b": null}}}
}"##;

/// An OCI config as BuildKit writes it.
const BUILDKIT_OCI: &str = r#"{"architecture":"arm64","created":"2024-02-01T10:00:00Z","history":[{"created":"2024-02-01T10:00:00Z","created_by":"COPY /app /app # buildkit","comment":"buildkit.dockerfile.v0"}],"moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ==","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"config":{"Env":["PATH=/bin"],"WorkingDir":"/app","Labels":{"a":"b"},"OnBuild":null}}"#;

fn without_nulls_of_known_keys(mut v: Value) -> Value {
    if let Some(config) = v.get_mut("config").and_then(Value::as_object_mut) {
        config.retain(|k, val| !(val.is_null() && is_modelled(k)));
    }
    v
}

fn is_modelled(key: &str) -> bool {
    matches!(
        key,
        "User"
            | "ExposedPorts"
            | "Env"
            | "Entrypoint"
            | "Cmd"
            | "Volumes"
            | "WorkingDir"
            | "Labels"
            | "StopSignal"
            | "Healthcheck"
            | "OnBuild"
            | "Shell"
    )
}

fn round_trip(json: &str) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = ImageConfig::from_json(json.as_bytes())?;
    let bytes = parsed.to_json();
    // Nothing is lost: the JSON values are equal (modulo `null` for a field
    // Go would omit anyway, which reads as empty and is omitted).
    let original: Value = serde_json::from_str(json)?;
    let again: Value = serde_json::from_slice(&bytes)?;
    assert_eq!(again, without_nulls_of_known_keys(original));
    // And it is a fixpoint: parse → serialize → parse → serialize.
    let reparsed = ImageConfig::from_json(&bytes)?;
    assert_eq!(reparsed, parsed);
    assert_eq!(reparsed.to_json(), bytes);
    // The pretty form is the same document.
    assert_eq!(ImageConfig::from_json(parsed.to_json_pretty().as_bytes())?, parsed);
    Ok(())
}

#[test]
fn legacy_docker_config_round_trips() -> Result<(), Box<dyn std::error::Error>> {
    round_trip(LEGACY_DOCKER)
}

#[test]
fn buildkit_oci_config_round_trips() -> Result<(), Box<dyn std::error::Error>> {
    round_trip(BUILDKIT_OCI)
}

#[test]
fn known_fields_are_modelled() -> Result<(), ConfigError> {
    let img = ImageConfig::from_json(LEGACY_DOCKER.as_bytes())?;
    assert_eq!(img.config.user, "1000:1000");
    assert_eq!(img.config.entrypoint, ["/usr/bin/tini", "--"]);
    assert_eq!(img.config.working_dir, "/srv/app");
    assert!(img.config.exposed_ports.contains("443/tcp"));
    assert!(img.config.volumes.contains("/srv/data"));
    assert_eq!(img.config.labels["vendor"], "Example");
    let hc = img.config.healthcheck.as_ref().expect("healthcheck parsed");
    assert_eq!((hc.interval, hc.start_interval, hc.retries), (30_000_000_000, 1_000_000_000, 3));
    assert_eq!(img.variant, "v3");
    assert_eq!(img.history.len(), 3);
    assert!(img.history[1].empty_layer);
    assert_eq!(img.history[2].extra["x-extra"], 1);
    assert!(img.config.extra.contains_key("ArgsEscaped") && img.config.extra.contains_key("Hostname"));
    assert!(img.extra.contains_key("container_config") && img.extra.contains_key("com.example.vendor"));
    assert_eq!(img.rootfs.diff_ids.len(), 2);
    Ok(())
}

#[test]
fn pretty_output_is_indented_and_compact_is_not() -> Result<(), ConfigError> {
    let img = ImageConfig::from_json(BUILDKIT_OCI.as_bytes())?;
    assert!(img.to_json_pretty().contains("\n  \"architecture\": \"arm64\""));
    assert!(!img.to_json().contains(&b'\n'));
    Ok(())
}
