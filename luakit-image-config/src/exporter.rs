//! The keys BuildKit's image exporter reads an image config and reports an
//! image by: a frontend returns the config in its result metadata under
//! [`CONFIG_METADATA_KEY`], a Control-API client passes it as the exporter
//! attribute of the same name, and the exporter answers with the image's
//! digest under [`DIGEST_RESPONSE_KEY`].

use std::collections::BTreeMap;

use crate::ImageConfig;

/// The result metadata key (and exporter attribute) BuildKit's image
/// exporter reads the image config from.
pub const CONFIG_METADATA_KEY: &str = "containerimage.config";

/// The exporter response key holding the exported image's digest.
pub const DIGEST_RESPONSE_KEY: &str = "containerimage.digest";

/// The result metadata carrying `config` for the image exporter (compact
/// JSON under [`CONFIG_METADATA_KEY`]).
pub fn config_metadata(config: &ImageConfig) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(CONFIG_METADATA_KEY.to_string(), config.to_json())])
}
