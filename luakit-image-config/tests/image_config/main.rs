//! Integration tests of luakit-image-config: Dockerfile equivalence, base
//! config round trips, errors, and the crate's dependency tree.

mod deps;
mod dockerfile;
mod errors;
mod properties;
mod roundtrip;

use luakit_image_config::{ImageConfig, StateDefaults};

/// The PATH of Docker Hub's official images and BuildKit's default.
pub const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The target platform most tests build for.
pub const AMD64: (&str, &str, &str) = ("linux", "amd64", "");

/// A config as `ResolveImageConfig` returns it for a Docker Hub image.
pub fn base(json: &str) -> ImageConfig {
    ImageConfig::from_json(json.as_bytes()).expect("test base config parses")
}

/// The state a resolved `bk.image` starts with: the base image's env,
/// workdir and user.
pub fn state_of(img: &ImageConfig) -> StateDefaults {
    StateDefaults {
        env: img.config.env.clone(),
        workdir: if img.config.working_dir.is_empty() { "/".to_string() } else { img.config.working_dir.clone() },
        user: img.config.user.clone(),
    }
}

/// Owned strings from string literals.
pub fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}
