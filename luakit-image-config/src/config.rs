//! The OCI / Docker image config JSON document and its serde mapping.
//!
//! Key names follow the OCI image spec (`architecture`, `rootfs`, …) and,
//! inside `config`, Docker's capitalised names (`Env`, `ExposedPorts`, …),
//! exactly as BuildKit and Docker read and write them. Empty fields are
//! omitted as Go's `omitempty` omits them, `null` reads as empty, and every
//! key this crate does not model is kept in an `extra` map.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::ConfigError;

/// An OCI image config (`application/vnd.oci.image.config.v1+json`, or
/// Docker's `application/vnd.docker.container.image.v1+json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time (RFC 3339). luakit never sets it: BuildKit's exporter
    /// fills it in from the layers it adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who made the image (Dockerfile `MAINTAINER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture in GOARCH spelling (`amd64`, `arm64`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system in GOOS spelling (`linux`, `windows`).
    #[serde(default)]
    pub os: String,
    /// Architecture variant (`v7`); omitted when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// The defaults of a container run from the image.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: ContainerConfig,
    /// The layers' uncompressed digests.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rootfs: RootFs,
    /// How each layer (and each config-only step) was made.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Top-level keys not modelled above (`os.version`, `os.features`,
    /// Docker's `container_config`, …), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `config` object: the defaults of a container run from the image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// `USER`: user (and group) processes run as; omitted when empty.
    #[serde(rename = "User", default, deserialize_with = "null_as_default", skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `EXPOSE`: ports as `port/proto` (`8080/tcp`); a JSON map to `{}`.
    #[serde(rename = "ExposedPorts", default, with = "set_as_map", skip_serializing_if = "BTreeSet::is_empty")]
    pub exposed_ports: BTreeSet<String>,
    /// `ENV`: `KEY=value` entries, in order.
    #[serde(rename = "Env", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `ENTRYPOINT`.
    #[serde(
        rename = "Entrypoint",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub entrypoint: Vec<String>,
    /// The default arguments (`CMD`): the command when there is no
    /// entrypoint, else the entrypoint's arguments; empty for none.
    #[serde(rename = "Cmd", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub cmd: Vec<String>,
    /// `VOLUME`: mount points; a JSON map to `{}`.
    #[serde(rename = "Volumes", default, with = "set_as_map", skip_serializing_if = "BTreeSet::is_empty")]
    pub volumes: BTreeSet<String>,
    /// `WORKDIR`; omitted when empty.
    #[serde(
        rename = "WorkingDir",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub working_dir: String,
    /// `LABEL`.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `STOPSIGNAL`; omitted when empty.
    #[serde(
        rename = "StopSignal",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// The container health check (`HEALTHCHECK`); `None` when the image
    /// has none.
    #[serde(rename = "Healthcheck", default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthcheckConfig>,
    /// `ONBUILD` triggers: instructions a Dockerfile build that starts
    /// `FROM` this image runs first. luakit cannot run them, so
    /// [`build_config`](crate::build_config) drops a base's triggers.
    #[serde(rename = "OnBuild", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub on_build: Vec<String>,
    /// `SHELL`: the shell of shell-form commands.
    #[serde(rename = "Shell", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub shell: Vec<String>,
    /// Keys not modelled above (`ArgsEscaped`, Docker's legacy `Hostname`,
    /// …), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Docker's `Healthcheck` object. Durations are nanoseconds, as Go's
/// `time.Duration` marshals them; zero means "the daemon's default" and is
/// omitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthcheckConfig {
    /// `["NONE"]`, `["CMD", arg…]` or `["CMD-SHELL", command]`.
    #[serde(rename = "Test", default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between checks, in nanoseconds.
    #[serde(rename = "Interval", default, deserialize_with = "null_as_default", skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a check may take, in nanoseconds.
    #[serde(rename = "Timeout", default, deserialize_with = "null_as_default", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Start-up time during which failures do not count, in nanoseconds.
    #[serde(rename = "StartPeriod", default, deserialize_with = "null_as_default", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period, in nanoseconds.
    #[serde(rename = "StartInterval", default, deserialize_with = "null_as_default", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures before the container is unhealthy.
    #[serde(rename = "Retries", default, deserialize_with = "null_as_default", skip_serializing_if = "is_zero")]
    pub retries: i64,
    /// Keys not modelled above, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The `rootfs` object. BuildKit's exporter replaces it with the diff ids of
/// the layers it exports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// The rootfs type; `layers` is the only one OCI defines.
    #[serde(rename = "type", default = "layers", deserialize_with = "null_as_layers")]
    pub kind: String,
    /// `sha256:…` digests of the uncompressed layers, bottom first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub diff_ids: Vec<String>,
    /// Keys not modelled above, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs { kind: layers(), diff_ids: Vec::new(), extra: BTreeMap::new() }
    }
}

/// One `history` entry. BuildKit's exporter matches the entries without
/// `empty_layer` to the image's layers, bottom first, and adds entries for
/// layers that have none; entries with `empty_layer` describe config-only
/// steps and are kept as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// When the step ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The step (`ENV PORT=8080`, `RUN …`).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "String::is_empty")]
    pub created_by: String,
    /// Who made the step.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// Free text; luakit writes [`crate::HISTORY_COMMENT`].
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// True when the step made no layer.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "is_false")]
    pub empty_layer: bool,
    /// Keys not modelled above, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl ImageConfig {
    /// Parses an image config JSON document (a base image's config as a
    /// registry or `ResolveImageConfig` returns it).
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        serde_json::from_slice(bytes).map_err(|source| ConfigError::InvalidJson { source })
    }

    /// The config as compact JSON; the same config always gives the same
    /// bytes. This is what `containerimage.config` takes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an ImageConfig always serializes: every map has string keys")
    }

    /// The config as indented JSON, for people and for `--image-config`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("an ImageConfig always serializes: every map has string keys")
    }
}

fn layers() -> String {
    "layers".to_string()
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Reads JSON `null` as the type's default, as Go reads it into a nil slice,
/// map or zero value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn null_as_layers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_else(layers))
}

/// A set of strings as Go's `map[string]struct{}`: `{"8080/tcp": {}}`.
mod set_as_map {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::de::IgnoredAny;
    use serde::ser::SerializeMap;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(set: &BTreeSet<String>, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(set.len()))?;
        for key in set {
            map.serialize_entry(key, &Empty {})?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<String>, D::Error> {
        let map = Option::<BTreeMap<String, IgnoredAny>>::deserialize(deserializer)?;
        Ok(map.map(|m| m.into_keys().collect()).unwrap_or_default())
    }

    #[derive(serde::Serialize)]
    struct Empty {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_has_the_keys_buildkit_reads() {
        let json = String::from_utf8(ImageConfig::default().to_json()).expect("utf-8");
        assert_eq!(json, r#"{"architecture":"","os":"","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#);
    }

    #[test]
    fn nulls_read_as_empty() -> Result<(), ConfigError> {
        let cfg = ImageConfig::from_json(
            br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":null,"ExposedPorts":null,
                "Labels":null,"Healthcheck":null,"User":null},"rootfs":{"type":null,"diff_ids":null},
                "history":null}"#,
        )?;
        assert!(cfg.config.env.is_empty() && cfg.config.cmd.is_empty() && cfg.config.labels.is_empty());
        assert!(cfg.config.healthcheck.is_none());
        assert_eq!(cfg.rootfs, RootFs::default());
        Ok(())
    }

    #[test]
    fn ports_and_volumes_are_maps_to_empty_objects() -> Result<(), ConfigError> {
        let mut cfg = ImageConfig::default();
        cfg.config.exposed_ports.insert("8080/tcp".into());
        cfg.config.volumes.insert("/data".into());
        let json = String::from_utf8(cfg.to_json()).expect("utf-8");
        assert!(json.contains(r#""ExposedPorts":{"8080/tcp":{}}"#), "{json}");
        assert!(json.contains(r#""Volumes":{"/data":{}}"#), "{json}");
        assert_eq!(ImageConfig::from_json(json.as_bytes())?, cfg);
        Ok(())
    }
}
