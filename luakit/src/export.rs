//! Builds from Rust, no Lua involved: a state written with the builders of
//! [`crate::builder`] is exported with [`Export`] — the image config
//! options of `bk.export` as typed builder methods — into the same
//! [`Build`] (Definition, image config, export options) that
//! [`crate::build`] gives for the equivalent Lua script, byte for byte.
//! [`resolve_image`] resolves a base image through an [`ImageResolver`]
//! as `bk.image` does.

use std::fmt;
use std::time::Duration;

use luakit_graph::builder::Image;
use luakit_graph::{Platform, ResolveMode, State};
use luakit_image_config::{ExportOptions, Healthcheck, ImageConfig, StateDefaults};
use luakit_llb::MarshalOptions;
use luakit_lua::ImageResolver;

use crate::{Build, Error};

/// A port of `EXPOSE`: a number and a protocol.
///
/// ```
/// use luakit::Port;
///
/// assert_eq!(Port::from(8080).to_string(), "8080/tcp");
/// assert_eq!(Port::udp(53).to_string(), "53/udp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port {
    /// The port number.
    pub number: u16,
    /// The protocol.
    pub protocol: Protocol,
}

/// The protocol of a [`Port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Port {
    /// A TCP port.
    pub const fn tcp(number: u16) -> Self {
        Port { number, protocol: Protocol::Tcp }
    }

    /// A UDP port.
    pub const fn udp(number: u16) -> Self {
        Port { number, protocol: Protocol::Udp }
    }

    /// An SCTP port.
    pub const fn sctp(number: u16) -> Self {
        Port { number, protocol: Protocol::Sctp }
    }
}

/// A number alone is a TCP port.
impl From<u16> for Port {
    fn from(number: u16) -> Self {
        Port::tcp(number)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        write!(f, "{}/{proto}", self.number)
    }
}

/// The export of a state: its image config (as `bk.export`'s options set
/// it) and how it is marshalled. [`Export::build`] gives the [`Build`].
///
/// ```
/// use luakit::builder::{Image, Run};
/// use luakit::{Export, Platform};
///
/// let app = Image::new("alpine:3.19").build()?.run(Run::shell("apk add curl"))?;
/// let build = Export::new(app.root())
///     .target_platform(Platform::new("linux", "amd64", ""))
///     .cmd(["curl", "--version"])
///     .env("LANG", "C.UTF-8")
///     .expose(8080)
///     .label("org.opencontainers.image.title", "demo")
///     .build()?;
/// assert_eq!(build.definition.def.len(), 3); // image, run, terminal
/// assert_eq!(build.image_config.config.cmd, ["curl", "--version"]);
/// assert!(build.image_config.config.exposed_ports.contains("8080/tcp"));
/// assert_eq!(build.image_config.architecture, "amd64");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "an export does nothing until built"]
pub struct Export {
    state: State,
    options: ExportOptions,
    base: Option<ImageConfig>,
    target_platform: Platform,
    daemon_caps: Option<luakit_llb::CapSet>,
}

impl Export {
    /// Exports `state`, for the host's platform unless
    /// [`Export::target_platform`] says otherwise (as `luakit build`).
    pub fn new(state: &State) -> Self {
        Export {
            state: state.clone(),
            options: ExportOptions::default(),
            base: None,
            target_platform: Platform::host(),
            daemon_caps: None,
        }
    }

    /// The platform ops without their own are built for (`--platform`).
    pub fn target_platform(mut self, platform: Platform) -> Self {
        self.target_platform = platform;
        self
    }

    /// The config of the base image (`FROM`), as [`resolve_image`] gives
    /// it; `None` starts from an empty config.
    pub fn base_config(mut self, config: impl Into<Option<ImageConfig>>) -> Self {
        self.base = config.into();
        self
    }

    /// Marshals for a daemon with these caps (features it lacks are dropped
    /// or refused), as [`crate::BuildOptions::daemon_caps`].
    pub fn daemon_caps(mut self, caps: luakit_llb::CapSet) -> Self {
        self.daemon_caps = Some(caps);
        self
    }

    /// `ENTRYPOINT` (exec form). Without [`Export::cmd`] it clears an inherited `Cmd`.
    pub fn entrypoint<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.options.entrypoint = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// `CMD` (exec form).
    pub fn cmd<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.options.cmd = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// `ENV key=value`, in call order.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.env.push((key.into(), value.into()));
        self
    }

    /// `WORKDIR`, resolved against the current one.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.options.workdir = Some(dir.into());
        self
    }

    /// `USER`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.options.user = Some(user.into());
        self
    }

    /// `EXPOSE` a port (a `u16` is TCP).
    pub fn expose(mut self, port: impl Into<Port>) -> Self {
        self.options.expose.push(port.into().to_string());
        self
    }

    /// `LABEL key=value`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.labels.insert(key.into(), value.into());
        self
    }

    /// `VOLUME`.
    pub fn volume(mut self, path: impl Into<String>) -> Self {
        self.options.volumes.push(path.into());
        self
    }

    /// `STOPSIGNAL` (`SIGTERM`, `TERM` or a number).
    pub fn stop_signal(mut self, signal: impl Into<String>) -> Self {
        self.options.stop_signal = Some(signal.into());
        self
    }

    /// `HEALTHCHECK CMD-SHELL command` with the given interval and default
    /// timings otherwise; [`Export::healthcheck_with`] takes all the fields.
    pub fn healthcheck(mut self, command: impl Into<String>, interval: Duration) -> Self {
        self.options.healthcheck = Some(Healthcheck {
            test: vec!["CMD-SHELL".to_string(), command.into()],
            interval: Some(interval),
            ..Healthcheck::default()
        });
        self
    }

    /// `HEALTHCHECK`, every field given.
    pub fn healthcheck_with(mut self, healthcheck: Healthcheck) -> Self {
        self.options.healthcheck = Some(healthcheck);
        self
    }

    /// All the options at once (replacing those set so far).
    pub fn options(mut self, options: ExportOptions) -> Self {
        self.options = options;
        self
    }

    /// Marshals the state and builds its image config, as [`crate::build`]
    /// does after evaluating a script: same Definition bytes, same config.
    pub fn build(self) -> Result<Build, Error> {
        let marshal_opts = MarshalOptions {
            platform: self.target_platform.clone(),
            source_map: false,
            daemon_caps: self.daemon_caps,
            name_ops: false,
        };
        let marshalled = luakit_llb::marshal_full(&self.state, &marshal_opts)?;
        let meta = self.state.meta();
        let platform = meta.platform.clone().unwrap_or(self.target_platform);
        let defaults = StateDefaults { env: meta.env.to_vec(), workdir: meta.dir.clone(), user: meta.user.clone() };
        let image_config = luakit_image_config::build_config(
            self.base.as_ref(),
            &defaults,
            (platform.os.as_str(), platform.arch.as_str(), platform.variant.as_str()),
            &self.options,
        )?;
        Ok(Build {
            definition: marshalled.definition,
            terminal: marshalled.terminal,
            image_config,
            export: self.options,
            platform,
            warnings: Vec::new(),
            target: None,
            targets: Vec::new(),
        })
    }
}

/// A base image resolved by [`resolve_image`].
#[derive(Debug, Clone)]
pub struct ResolvedBase {
    /// The image source, pinned to the digest and starting from the
    /// config's env, working directory and user when resolved; build it
    /// (after [`Image::platform`] if it is for another platform).
    pub image: Image,
    /// The image's config, for [`Export::base_config`]; `None` when the
    /// resolver left it unresolved.
    pub config: Option<ImageConfig>,
}

/// Resolves `reference` for `platform` through `resolver`, as `bk.image`
/// does under [`crate::build`]: the reference is pinned to the digest
/// found, and the state starts with the image's env (plus a default `PATH`
/// when it has none), working directory and user.
///
/// ```
/// use luakit::{Export, Platform, ResolveMode, StaticResolver, resolve_image};
///
/// let resolver = StaticResolver::from_json(br#"{"alpine:3.19": {
///     "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
///     "config": {"os": "linux", "architecture": "amd64", "config": {"Env": ["PATH=/bin"], "WorkingDir": "/home"}}}}"#)?;
/// let amd64 = Platform::new("linux", "amd64", "");
/// let base = resolve_image(&resolver, "alpine:3.19", &amd64, ResolveMode::Default)?;
/// let st = base.image.build()?;
/// assert_eq!(st.meta().dir, "/home");
/// let build = Export::new(&st).target_platform(amd64).base_config(base.config).build()?;
/// assert_eq!(build.image_config.config.working_dir, "/home");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve_image(
    resolver: &dyn ImageResolver,
    reference: &str,
    platform: &Platform,
    mode: ResolveMode,
) -> Result<ResolvedBase, Error> {
    let normalized = luakit_graph::normalize_image_ref(reference)?;
    let for_platform = platform.normalized();
    let resolved = resolver.resolve(&normalized, &for_platform, mode).map_err(|source| Error::Resolve {
        reference: normalized.clone(),
        platform: for_platform.to_string(),
        source,
    })?;
    let Some(resolved) = resolved else {
        return Ok(ResolvedBase { image: Image::new(normalized).resolve_mode(mode), config: None });
    };
    let pinned = if !normalized.contains('@') && !resolved.digest.is_empty() {
        format!("{normalized}@{}", resolved.digest)
    } else {
        normalized
    };
    let cfg = &resolved.config.config;
    let mut env = cfg.env.clone();
    if !env.iter().any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == "PATH") {
        env.push(format!("PATH={}", luakit_graph::DEFAULT_PATH));
    }
    let dir = (!cfg.working_dir.is_empty()).then(|| cfg.working_dir.clone());
    let user = (!cfg.user.is_empty()).then(|| cfg.user.clone());
    let image = Image::new(pinned).resolve_mode(mode).config(env, dir, user);
    Ok(ResolvedBase { image, config: Some(resolved.config) })
}
