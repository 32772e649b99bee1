//! An example of a tool built on luakit's Rust API: it reads a config file
//! listing services (`services.toml`) and generates one BuildKit build per
//! service — a builder stage that compiles the service's sources with cache
//! mounts, and a runtime image that gets what the build left in `/out` —
//! without writing any Lua. A service the table cannot describe carries an
//! inline Lua `script`, built with `luakit::build`.
//!
//! ```
//! let config = luakit_example_embed::Config::parse(r#"
//!     [[service]]
//!     name = "api"
//!     builder = "golang:1.22"
//!     runtime = "gcr.io/distroless/static-debian12"
//!     build = ["go build -o /out/api ."]
//!     cmd = ["/app/api"]
//! "#)?;
//! let builds = config.build_all()?;
//! assert_eq!(builds[0].0, "api");
//! assert_eq!(builds[0].1.image_config.config.cmd, ["/app/api"]);
//! # Ok::<(), luakit_example_embed::EmbedError>(())
//! ```
#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use luakit::builder::{Chown, Copy, Image, Local, Mode, Mount, Run, State, UserRef};
use luakit::{Build, BuildOptions, EvalOptions, Export, Platform, Script, Unresolved};
use serde::Deserialize;

/// What went wrong, naming the service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The config file does not parse (TOML syntax, unknown keys, wrong types).
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value the config may not have.
    #[error("invalid config: {0}")]
    Invalid(String),
    /// A service's build failed (an image reference that does not parse, a
    /// Lua error with its line, an export option BuildKit would refuse).
    #[error("service '{service}': {source}")]
    Build {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: Box<luakit::Error>,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Settings for every service.
    #[serde(default)]
    pub defaults: Defaults,
    /// The services, in the order they are built.
    #[serde(default)]
    pub service: Vec<Service>,
}

/// `[defaults]`: settings for every service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The target platform (`linux/amd64`); default the host's.
    pub platform: Option<String>,
    /// The `local.unique` id of the build context (default `embed`): what
    /// tells BuildKit this project's context from another's.
    pub context_id: Option<String>,
    /// Labels of every image (table services only).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `[[service]]`: one image to build.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Its name: lower-case letters, digits and `-` (the output file names).
    pub name: String,
    /// The image the build commands run in.
    pub builder: Option<String>,
    /// The image shipped, with the build's output added.
    pub runtime: Option<String>,
    /// The directory of the build context with the service's sources,
    /// copied to `/src` (default: the whole context).
    pub source: Option<String>,
    /// Shell commands run in `/src`, in order, in one step; what they write
    /// to `/out` is the build's output.
    #[serde(default)]
    pub build: Vec<String>,
    /// Cache directories of the build step.
    #[serde(default)]
    pub caches: Vec<String>,
    /// Environment of the build step and of the image.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Where the output goes in the runtime image (default `/app`).
    pub dest: Option<String>,
    /// Mode of the copied files (default: as built), e.g. `0o640`.
    pub mode: Option<u32>,
    /// Owner of the copied files, `uid:gid` or `user:group`.
    pub owner: Option<String>,
    /// The image's command.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// TCP ports the image exposes.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// The image's user.
    pub user: Option<String>,
    /// A Lua build script instead of all of the above.
    pub script: Option<String>,
}

impl Config {
    /// Parses and checks a config.
    pub fn parse(text: &str) -> Result<Config, EmbedError> {
        let config: Config = toml::from_str(text)?;
        config.check()?;
        Ok(config)
    }

    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, EmbedError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| EmbedError::Io { path: path.to_path_buf(), source })?;
        Config::parse(&text)
    }

    fn check(&self) -> Result<(), EmbedError> {
        let invalid = |s: String| Err(EmbedError::Invalid(s));
        if self.service.is_empty() {
            return invalid("no [[service]]".to_string());
        }
        let mut names = BTreeSet::new();
        for s in &self.service {
            let n = &s.name;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return invalid(format!("service name '{n}': use lower-case letters, digits and '-'"));
            }
            if !names.insert(n.as_str()) {
                return invalid(format!("two services are named '{n}'"));
            }
            let table = s.builder.is_some() || s.runtime.is_some() || !s.build.is_empty();
            match (&s.script, table) {
                (Some(_), true) => {
                    return invalid(format!("service '{n}': give a script or builder/runtime/build, not both"));
                }
                (None, _) if s.builder.is_none() || s.runtime.is_none() || s.build.is_empty() => {
                    return invalid(format!("service '{n}': needs builder, runtime and build (or a script)"));
                }
                _ => {}
            }
            if let Some(m) = s.mode
                && m > 0o7777
            {
                return invalid(format!("service '{n}': mode {m:#o} is above 0o7777"));
            }
            if let Some(o) = &s.owner {
                owner(o).map_err(|e| EmbedError::Invalid(format!("service '{n}': {e}")))?;
            }
        }
        if let Some(p) = &self.defaults.platform {
            p.parse::<Platform>().map_err(|e| EmbedError::Invalid(format!("defaults.platform: {e}")))?;
        }
        Ok(())
    }

    /// The target platform.
    pub fn platform(&self) -> Platform {
        self.defaults.platform.as_deref().and_then(|p| p.parse().ok()).unwrap_or_else(Platform::host)
    }

    fn context_id(&self) -> &str {
        self.defaults.context_id.as_deref().unwrap_or("embed")
    }

    /// Builds every service, in order.
    pub fn build_all(&self) -> Result<Vec<(String, Build)>, EmbedError> {
        self.service.iter().map(|s| Ok((s.name.clone(), self.build(s)?))).collect()
    }

    /// Builds one service.
    pub fn build(&self, service: &Service) -> Result<Build, EmbedError> {
        let name = &service.name;
        let wrap = |source: luakit::Error| EmbedError::Build { service: name.clone(), source: Box::new(source) };
        if let Some(script) = &service.script {
            return self.build_lua(service, script).map_err(wrap);
        }
        let (Some(builder), Some(runtime)) = (&service.builder, &service.runtime) else {
            return Err(EmbedError::Invalid(format!(
                "service '{name}': needs builder, runtime and build (or a script)"
            )));
        };
        let owner = match &service.owner {
            Some(o) => Some(owner(o).map_err(|e| EmbedError::Invalid(format!("service '{name}': {e}")))?),
            None => None,
        };
        self.build_table(service, builder, runtime, owner).map_err(wrap)
    }

    /// A service written in Lua: `luakit::build` on the inline script.
    fn build_lua(&self, service: &Service, script: &str) -> Result<Build, luakit::Error> {
        let opts = BuildOptions {
            eval: EvalOptions {
                target_platform: self.platform(),
                local_unique_id: self.context_id().to_string(),
                ..EvalOptions::default()
            },
            ..BuildOptions::default()
        };
        luakit::build(&Script::new(format!("{}.lua", service.name), script), &opts, Arc::new(Unresolved))
    }

    /// A table service: the builder stage, then the runtime image.
    fn build_table(
        &self,
        s: &Service,
        builder: &str,
        runtime: &str,
        owner: Option<Chown>,
    ) -> Result<Build, luakit::Error> {
        let context = Local::new("context").unique_id(self.context_id());
        let context = match &s.source {
            Some(dir) => context.include([dir.clone()]).build()?,
            None => context.build()?,
        };
        let src = s.source.as_deref().map_or_else(|| ".".to_string(), |d| format!("{d}/"));
        let mut run = Run::shell(s.build.join(" && ")).custom_name(format!("build {}", s.name));
        for (k, v) in &s.env {
            run = run.env(k, v);
        }
        for dir in &s.caches {
            run = run.mount(Mount::cache(dir).id(format!("{}:{dir}", s.name)));
        }
        // The build's output: a writable mount of an empty directory.
        run = run.mount(Mount::bind(&State::scratch(), "/out").writable());
        let built = Image::new(builder).build()?.with_dir("/src").file(Copy::new(&context, src, "/src/")).run(run)?;
        let out = built.mount_output("/out")?;

        let dest = s.dest.as_deref().unwrap_or("/app");
        let mut copy = Copy::new(&out, "/", format!("{}/", dest.trim_end_matches('/')));
        if let Some(m) = s.mode {
            copy = copy.mode(Mode(m));
        }
        if let Some(o) = owner {
            copy = copy.chown(o);
        }
        let image = Image::new(runtime).build()?.file(copy);

        let mut export = Export::new(&image).target_platform(self.platform());
        for (k, v) in &s.env {
            export = export.env(k, v);
        }
        for port in &s.ports {
            export = export.expose(*port);
        }
        if let Some(u) = &s.user {
            export = export.user(u);
        }
        if !s.cmd.is_empty() {
            export = export.cmd(s.cmd.iter());
        }
        for (k, v) in &self.defaults.labels {
            export = export.label(k, v);
        }
        export.label("org.opencontainers.image.title", &s.name).build()
    }
}

/// `uid:gid`, `user:group` or `user`.
fn owner(text: &str) -> Result<Chown, &'static str> {
    let part = |p: &str| -> Result<UserRef, &'static str> {
        if p.is_empty() {
            return Err("owner: empty user or group");
        }
        Ok(p.parse::<u32>().map_or_else(|_| UserRef::from(p), UserRef::from))
    };
    Ok(match text.split_once(':') {
        Some((u, g)) => Chown::new(part(u)?).group(part(g)?),
        None => Chown::new(part(text)?),
    })
}

/// Writes `<name>.llb` (the Definition, as `buildctl build` reads it) and
/// `<name>.json` (the image config) into `dir`; returns the paths.
pub fn write(dir: &Path, name: &str, build: &Build) -> Result<[PathBuf; 2], EmbedError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EmbedError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let llb = dir.join(format!("{name}.llb"));
    std::fs::write(&llb, build.definition_bytes()).map_err(io(&llb))?;
    let json = dir.join(format!("{name}.json"));
    std::fs::write(&json, build.image_config_json()).map_err(io(&json))?;
    Ok([llb, json])
}
