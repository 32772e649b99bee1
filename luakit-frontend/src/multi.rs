//! Multi-platform results: the refs map keyed by platform id, the
//! `refs.platforms` metadata and one `containerimage.config/<id>` per
//! platform (as BuildKit's Dockerfile frontend returns them, so the image
//! and OCI exporters write one image index), and the rule for refusing a
//! multi-platform build up front where the exporter can take one image only.

use std::collections::BTreeMap;

use luakit::{CONFIG_METADATA_KEY, CapSet, Platform};

/// The result metadata key listing the platforms of a refs map
/// (BuildKit's `exptypes.ExporterPlatformsKey`).
pub const PLATFORMS_KEY: &str = "refs.platforms";

/// The platform id a result is keyed by (containerd's `platforms.Format`
/// of the normalised platform: `linux/arm/v7`).
pub fn platform_id(p: &Platform) -> String {
    p.normalized().to_string()
}

/// The `refs.platforms` value: BuildKit's `exptypes.Platforms` as Go's JSON
/// encoder writes it (field names as declared, the OCI platform with its
/// JSON tags), in build order.
pub fn platforms_json(platforms: &[Platform]) -> Vec<u8> {
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let items: Vec<String> = platforms
        .iter()
        .map(|p| {
            let p = p.normalized();
            let mut oci = format!("\"architecture\":{},\"os\":{}", q(&p.arch), q(&p.os));
            if !p.os_version.is_empty() {
                oci.push_str(&format!(",\"os.version\":{}", q(&p.os_version)));
            }
            if !p.os_features.is_empty() {
                let features: Vec<String> = p.os_features.iter().map(|f| q(f)).collect();
                oci.push_str(&format!(",\"os.features\":[{}]", features.join(",")));
            }
            if !p.variant.is_empty() {
                oci.push_str(&format!(",\"variant\":{}", q(&p.variant)));
            }
            format!("{{\"ID\":{},\"Platform\":{{{oci}}}}}", q(&platform_id(&p)))
        })
        .collect();
    format!("{{\"Platforms\":[{}]}}", items.join(",")).into_bytes()
}

/// The metadata of a multi-platform result: each platform's image config
/// under `containerimage.config/<id>` and the platform list.
pub fn metadata<'a>(
    builds: impl IntoIterator<Item = (&'a Platform, &'a luakit::ImageConfig)>,
) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut platforms = Vec::new();
    for (p, config) in builds {
        out.insert(format!("{CONFIG_METADATA_KEY}/{}", platform_id(p)), config.to_json());
        platforms.push(p.clone());
    }
    out.insert(PLATFORMS_KEY.to_string(), platforms_json(&platforms));
    out
}

/// Why a build for several platforms is refused before anything is
/// evaluated, or `None`. The rule: the exporting product is Docker
/// (`BUILDKIT_EXPORTEDPRODUCT=docker`) and its BuildKit does not report a
/// version (only BuildKit v0.11 and later do): that is Docker 23 and older,
/// whose built-in exporter stores one image and cannot take an index. A
/// newer Docker is left to its exporter (its containerd image store writes
/// an index; the classic store says it cannot).
pub fn refusal(product: &str, caps: &CapSet, platforms: &[Platform]) -> Option<String> {
    if platforms.len() < 2 || product != "docker" || !caps.version.is_empty() {
        return None;
    }
    let list: Vec<String> = platforms.iter().map(platform_id).collect();
    Some(format!(
        "building for several platforms ({}) makes one image index, and the BuildKit built into this Docker daemon (BuildKit before v0.11, as in Docker 20.10) exports one image only: build one platform at a time (--platform {}), or build on a buildkitd, whose image and OCI exporters write an index (docker buildx create --use --driver docker-container, then docker buildx build --platform {} --output type=oci,dest=image.tar .; or buildctl build --frontend gateway.v0 --opt platform={} --output type=oci,dest=image.tar)",
        list.join(", "),
        list[0],
        list.join(","),
        list.join(","),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plat(s: &str) -> Platform {
        Platform::parse(s).expect("valid")
    }

    #[test]
    fn platforms_json_is_what_go_writes() {
        let json = platforms_json(&[plat("linux/amd64"), plat("linux/arm/v7"), plat("linux/arm64/v8")]);
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            r#"{"Platforms":[{"ID":"linux/amd64","Platform":{"architecture":"amd64","os":"linux"}},{"ID":"linux/arm/v7","Platform":{"architecture":"arm","os":"linux","variant":"v7"}},{"ID":"linux/arm64","Platform":{"architecture":"arm64","os":"linux"}}]}"#
        );
    }

    #[test]
    fn refused_only_on_docker_without_a_version() {
        let two = [plat("linux/amd64"), plat("linux/arm64")];
        let old = CapSet::new(Vec::<String>::new());
        let mut new = old.clone();
        new.version = "v0.11.6".into();
        let m = refusal("docker", &old, &two).expect("refused");
        assert!(
            m.contains("(linux/amd64, linux/arm64)") && m.contains("--platform linux/amd64") && m.contains("buildkitd"),
            "{m}"
        );
        assert!(refusal("docker", &old, &two[..1]).is_none());
        assert!(refusal("buildkit", &old, &two).is_none());
        assert!(refusal("docker", &new, &two).is_none());
    }
}
