//! Builders for writing graphs in Rust, in the spirit of BuildKit's Go
//! `client/llb`: where Go takes functional options, these take typed
//! builder methods; file modes are a [`Mode`], platforms a [`Platform`],
//! network and cache modes enums.
//!
//! Sources are made by [`Image`], [`Local`], [`Git`] and [`Http`]; a
//! process by [`Run`] (with mounts from [`Mount::cache`], [`Mount::bind`],
//! [`Mount::tmpfs`], [`Mount::secret`] and [`Mount::ssh`]) given to
//! [`State::run`]; file operations by [`Copy`](struct@Copy), [`Mkdir`], [`Mkfile`],
//! [`Rm`] and [`Symlink`] given to [`State::file`]. Defaults are those of
//! the Lua API (`bk.*`), so that the same build written either way gives
//! the same graph.
//!
//! The types such a build also needs (`State`, `Mount`, `Chown`,
//! `CacheSharing`, `NetMode`, `Platform`, `merge`, `diff`, …) are
//! re-exported here, so that one `use` line names everything; import by
//! name rather than with a glob, as [`Copy`](struct@Copy) would shadow the
//! prelude's `Copy`.
//!
//! ```
//! use luakit_graph::builder::{Copy, Image, Local, Mkdir, Mode, Run};
//! use luakit_graph::{CacheSharing, Mount};
//!
//! let src = Local::new("context").exclude(["target"]).build()?;
//! let built = Image::new("rust:1.85")
//!     .build()?
//!     .with_dir("/src")
//!     .file(Copy::new(&src, ".", "."))
//!     .run(Run::shell("cargo build --release").mount(
//!         Mount::cache("/usr/local/cargo/registry").sharing(CacheSharing::Locked),
//!     ))?;
//! let out = Image::new("debian:bookworm-slim")
//!     .build()?
//!     .file(Mkdir::new("/app").mode(Mode(0o750)))
//!     .file(Copy::new(built.root(), "target/release/app", "/app/app"));
//! assert_eq!(out.meta().dir, "/");
//! # Ok::<(), luakit_graph::GraphError>(())
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::op::{CopyOptions, FileAction, HostIp, MountKind, OpMetadata, SecretEnv, Ulimit};
use crate::source::{GitOptions, HttpOptions, ImageOptions, LocalOptions};
use crate::state::RunOptions;

// What a build written with the builders also needs, in one place.
pub use crate::GraphError;
pub use crate::op::{CacheSharing, Chown, Mount, NetMode, SecurityMode, UserRef};
pub use crate::platform::Platform;
pub use crate::source::{ResolveMode, diff, merge};
pub use crate::state::{ExecState, OpOptions, State};

/// The description key BuildKit shows as an op's name in progress output.
const CUSTOM_NAME: &str = "llb.customname";

/// A file mode: permission bits (and set-uid, set-gid, sticky), written in
/// octal as in `chmod`.
///
/// ```
/// use luakit_graph::builder::Mode;
///
/// let m = Mode(0o755);
/// assert_eq!(m.bits(), 493);
/// assert_eq!(m.to_string(), "0755");
/// assert_eq!(Mode::from(0o644), Mode(0o644));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mode(pub u32);

impl Mode {
    /// The mode as a number.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

impl From<u32> for Mode {
    fn from(bits: u32) -> Self {
        Mode(bits)
    }
}

impl From<Mode> for u32 {
    fn from(mode: Mode) -> Self {
        mode.0
    }
}

/// Four octal digits, as `ls -l` users write them (`0755`).
impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl fmt::Octal for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Octal::fmt(&self.0, f)
    }
}

/// Parses `os/arch[/variant]`, as [`Platform::parse`].
///
/// ```
/// use luakit_graph::Platform;
///
/// let p: Platform = "linux/arm64/v8".parse()?;
/// assert_eq!((p.os.as_str(), p.arch.as_str(), p.variant.as_str()), ("linux", "arm64", "v8"));
/// assert!("linux".parse::<Platform>().is_err());
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
impl FromStr for Platform {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

impl From<u32> for UserRef {
    fn from(id: u32) -> Self {
        UserRef::Id(id)
    }
}

impl From<&str> for UserRef {
    fn from(name: &str) -> Self {
        UserRef::Name(name.to_string())
    }
}

impl From<String> for UserRef {
    fn from(name: String) -> Self {
        UserRef::Name(name)
    }
}

impl Chown {
    /// Owned by `user` (an id or a name), group unchanged.
    ///
    /// ```
    /// use luakit_graph::{Chown, UserRef};
    ///
    /// let c = Chown::new(1000).group("staff");
    /// assert_eq!(c.user, Some(UserRef::Id(1000)));
    /// assert_eq!(c.group, Some(UserRef::Name("staff".into())));
    /// ```
    pub fn new(user: impl Into<UserRef>) -> Self {
        Chown { user: Some(user.into()), group: None }
    }

    /// The same, with group `group` (an id or a name).
    pub fn group(mut self, group: impl Into<UserRef>) -> Self {
        self.group = Some(group.into());
        self
    }
}

fn set_custom_name(op: &mut OpOptions, name: impl Into<String>) {
    op.metadata.description.insert(CUSTOM_NAME.to_string(), name.into());
}

/// Builder methods every op builder shares: a name for progress output,
/// cache control, and a platform override.
macro_rules! op_methods {
    ($($op:ident).+) => {
        /// Names the op in BuildKit's progress output (`llb.customname`).
        pub fn custom_name(mut self, name: impl Into<String>) -> Self {
            set_custom_name(&mut self.$($op).+, name);
            self
        }

        /// Never take this op from the cache.
        pub fn ignore_cache(mut self) -> Self {
            self.$($op).+.metadata.ignore_cache = true;
            self
        }

        /// Replaces the op's metadata as a whole.
        pub fn metadata(mut self, metadata: OpMetadata) -> Self {
            self.$($op).+.metadata = metadata;
            self
        }
    };
}

// ---------------------------------------------------------------- sources

/// A container image as a source (`bk.image`, Go's `llb.Image`).
///
/// Without a resolved config the state starts with `PATH` set to
/// [`crate::DEFAULT_PATH`], as the Lua API and the Dockerfile frontend do.
///
/// ```
/// use luakit_graph::builder::Image;
/// use luakit_graph::{Op, ResolveMode};
///
/// let st = Image::new("alpine:3.19").resolve_mode(ResolveMode::Always).build()?;
/// let Op::Source(src) = &st.output().expect("an op").node.op else { unreachable!() };
/// assert_eq!(src.identifier, "docker-image://docker.io/library/alpine:3.19");
/// assert_eq!(src.attrs["image.resolvemode"], "pull");
/// assert!(st.meta().env.get("PATH").is_some());
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct Image {
    reference: String,
    opts: ImageOptions,
}

impl Image {
    /// The image `reference` (`alpine:3.19`, `ghcr.io/o/r@sha256:…`).
    pub fn new(reference: impl Into<String>) -> Self {
        Image { reference: reference.into(), opts: ImageOptions { default_path: true, ..ImageOptions::default() } }
    }

    /// Pull the image for `platform` rather than the target platform.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.opts.op.platform = Some(platform);
        self
    }

    /// How BuildKit resolves the reference.
    pub fn resolve_mode(mut self, mode: ResolveMode) -> Self {
        self.opts.resolve_mode = mode;
        self
    }

    /// The process defaults the image's config gives (when it was resolved):
    /// its `Env` (`KEY=value` entries), `WorkingDir` and `User`. The state
    /// starts with them instead of the default `PATH`.
    pub fn config(mut self, env: Vec<String>, working_dir: Option<String>, user: Option<String>) -> Self {
        self.opts.config_env = Some(env);
        self.opts.config_dir = working_dir;
        self.opts.config_user = user;
        self
    }

    op_methods!(opts.op);

    /// The state; fails when the reference does not parse.
    pub fn build(self) -> Result<State, GraphError> {
        crate::source::image(&self.reference, self.opts)
    }
}

/// A directory of the client, the build context (`bk.local_`, Go's `llb.Local`).
///
/// ```
/// use luakit_graph::builder::Local;
/// use luakit_graph::Op;
///
/// let st = Local::new("context").include(["src", "Cargo.*"]).unique_id("ci").build()?;
/// let Op::Source(src) = &st.output().expect("an op").node.op else { unreachable!() };
/// assert_eq!(src.identifier, "local://context");
/// assert_eq!(src.attrs["local.includepattern"], r#"["src","Cargo.*"]"#);
/// assert_eq!(src.attrs["local.unique"], "ci");
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct Local {
    name: String,
    opts: LocalOptions,
}

impl Local {
    /// The local directory the client shares as `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Local { name: name.into(), opts: LocalOptions::default() }
    }

    /// Only transfer paths matching these patterns.
    pub fn include<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.opts.include_patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Do not transfer paths matching these patterns.
    pub fn exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.opts.exclude_patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Only follow these paths.
    pub fn follow_paths<I: IntoIterator<Item = S>, S: Into<String>>(mut self, paths: I) -> Self {
        self.opts.follow_paths.extend(paths.into_iter().map(Into::into));
        self
    }

    /// A hint for sharing the transfer cache between builds.
    pub fn shared_key_hint(mut self, hint: impl Into<String>) -> Self {
        self.opts.shared_key_hint = hint.into();
        self
    }

    /// The `local.unique` id: what tells this client's directory from
    /// another's in BuildKit's cache (the Lua route derives it from the
    /// script's directory).
    pub fn unique_id(mut self, id: impl Into<String>) -> Self {
        self.opts.unique_id = id.into();
        self
    }

    /// The client session the files come from (frontend mode; replaces the unique id).
    pub fn session_id(mut self, id: impl Into<String>) -> Self {
        self.opts.session_id = Some(id.into());
        self
    }

    op_methods!(opts.op);

    /// The state; fails when the name is empty.
    pub fn build(self) -> Result<State, GraphError> {
        crate::source::local(&self.name, self.opts)
    }
}

/// A git repository (`bk.git`, Go's `llb.Git`).
///
/// ```
/// use luakit_graph::builder::Git;
/// use luakit_graph::Op;
///
/// let st = Git::new("https://github.com/moby/buildkit.git").reference("v0.13.0").keep_git_dir(true).build()?;
/// let Op::Source(src) = &st.output().expect("an op").node.op else { unreachable!() };
/// assert_eq!(src.identifier, "git://github.com/moby/buildkit.git#v0.13.0");
/// assert_eq!(src.attrs["git.keepgitdir"], "true");
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct Git {
    url: String,
    opts: GitOptions,
}

impl Git {
    /// The repository at `url` (may carry `#ref` or `#ref:subdir`).
    pub fn new(url: impl Into<String>) -> Self {
        Git { url: url.into(), opts: GitOptions::default() }
    }

    /// Branch, tag or commit.
    pub fn reference(mut self, reference: impl Into<String>) -> Self {
        self.opts.reference = reference.into();
        self
    }

    /// Sub-directory of the repository.
    pub fn subdir(mut self, subdir: impl Into<String>) -> Self {
        self.opts.subdir = subdir.into();
        self
    }

    /// Keep the `.git` directory.
    pub fn keep_git_dir(mut self, keep: bool) -> Self {
        self.opts.keep_git_dir = keep;
        self
    }

    /// The build secret holding an HTTP auth token.
    pub fn auth_token_secret(mut self, id: impl Into<String>) -> Self {
        self.opts.auth_token_secret = id.into();
        self.opts.explicit_auth = true;
        self
    }

    /// The build secret holding an HTTP `Authorization` header.
    pub fn auth_header_secret(mut self, id: impl Into<String>) -> Self {
        self.opts.auth_header_secret = id.into();
        self.opts.explicit_auth = true;
        self
    }

    /// `known_hosts` entries for an SSH remote.
    pub fn known_ssh_hosts<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hosts: I) -> Self {
        self.opts.known_ssh_hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// The SSH agent id for an SSH remote (default `default`).
    pub fn mount_ssh_sock(mut self, id: impl Into<String>) -> Self {
        self.opts.mount_ssh_sock = id.into();
        self
    }

    op_methods!(opts.op);

    /// The state; fails when the URL is empty or has no host.
    pub fn build(self) -> Result<State, GraphError> {
        crate::source::git(&self.url, self.opts)
    }
}

/// A file fetched over HTTP(S) (`bk.http`, Go's `llb.HTTP`).
///
/// ```
/// use luakit_graph::builder::{Http, Mode};
/// use luakit_graph::Op;
///
/// let st = Http::new("https://example.com/tool.tgz").filename("tool.tgz").chmod(Mode(0o755)).build()?;
/// let Op::Source(src) = &st.output().expect("an op").node.op else { unreachable!() };
/// assert_eq!(src.attrs["http.perm"], "0755");
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct Http {
    url: String,
    opts: HttpOptions,
}

impl Http {
    /// The file at `url` (`http://` or `https://`).
    pub fn new(url: impl Into<String>) -> Self {
        Http { url: url.into(), opts: HttpOptions::default() }
    }

    /// The digest the file must have (`sha256:…`).
    pub fn checksum(mut self, digest: impl Into<String>) -> Self {
        self.opts.checksum = Some(digest.into());
        self
    }

    /// The file's name in the state.
    pub fn filename(mut self, name: impl Into<String>) -> Self {
        self.opts.filename = Some(name.into());
        self
    }

    /// The file's mode.
    pub fn chmod(mut self, mode: Mode) -> Self {
        self.opts.chmod = Some(mode.0);
        self
    }

    /// The file's owner, as numeric ids.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.opts.uid = Some(uid);
        self.opts.gid = Some(gid);
        self
    }

    /// An extra request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.opts.headers.insert(name.into(), value.into());
        self
    }

    /// The build secret holding an `Authorization` header value.
    pub fn auth_header_secret(mut self, id: impl Into<String>) -> Self {
        self.opts.auth_header_secret = Some(id.into());
        self
    }

    op_methods!(opts.op);

    /// The state; fails when the URL is not `http://` or `https://`.
    pub fn build(self) -> Result<State, GraphError> {
        crate::source::http(&self.url, self.opts)
    }
}

// ---------------------------------------------------------------- run

/// A process to run on a state (`st:run`, Go's `st.Run`), given to
/// [`State::run`].
///
/// ```
/// use luakit_graph::builder::{Image, Run};
/// use luakit_graph::{CacheSharing, Mount, NetMode, Op};
///
/// let exec = Image::new("golang:1.22").build()?.run(
///     Run::shell("go build ./...")
///         .cwd("/src")
///         .env("CGO_ENABLED", "0")
///         .network(NetMode::None)
///         .mount(Mount::cache("/root/.cache/go-build").sharing(CacheSharing::Locked)),
/// )?;
/// let Op::Exec(e) = &exec.node().op else { unreachable!() };
/// assert_eq!(e.meta.args, ["/bin/sh", "-c", "go build ./..."]);
/// assert_eq!(e.meta.cwd, "/src");
/// assert_eq!(e.meta.env.get("CGO_ENABLED"), Some("0"));
/// assert_eq!(e.mounts.len(), 2); // the root and the cache
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until given to State::run"]
pub struct Run {
    pub(crate) opts: RunOptions,
    /// Writable bind mounts and the states they mount, so that the mount's
    /// output keeps the state's process defaults.
    pub(crate) binds: Vec<(String, State)>,
    /// A blank shell command (refused when run).
    pub(crate) blank: bool,
}

impl Run {
    /// `cmd` run by `/bin/sh -c`.
    pub fn shell(cmd: impl Into<String>) -> Self {
        let cmd = cmd.into();
        let blank = cmd.trim().is_empty();
        let args = vec!["/bin/sh".to_string(), "-c".to_string(), cmd];
        Run { opts: RunOptions { args, ..RunOptions::default() }, binds: Vec::new(), blank }
    }

    /// `args` run directly (`args[0]` is the program).
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Self {
        let args = args.into_iter().map(Into::into).collect();
        Run { opts: RunOptions { args, ..RunOptions::default() }, binds: Vec::new(), blank: false }
    }

    /// The working directory, resolved against the state's.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.opts.cwd = Some(dir.into());
        self
    }

    /// Sets an environment variable for this process (after the state's).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.opts.env.push((key.into(), value.into()));
        self
    }

    /// The user (`name`, `uid`, `name:group`, `uid:gid`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.opts.user = Some(user.into());
        self
    }

    /// The hostname.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.opts.hostname = Some(hostname.into());
        self
    }

    /// The network mode.
    pub fn network(mut self, network: NetMode) -> Self {
        self.opts.network = Some(network);
        self
    }

    /// The security mode.
    pub fn security(mut self, security: SecurityMode) -> Self {
        self.opts.security = Some(security);
        self
    }

    /// An `/etc/hosts` entry.
    pub fn extra_host(mut self, host: impl Into<String>, ip: IpAddr) -> Self {
        self.opts.extra_hosts.push(HostIp { host: host.into(), ip: ip.to_string() });
        self
    }

    /// A resource limit (`nofile`, `nproc`, …); -1 is unlimited.
    pub fn ulimit(mut self, name: impl Into<String>, soft: i64, hard: i64) -> Self {
        self.opts.ulimits.push(Ulimit { name: name.into(), soft, hard });
        self
    }

    /// The exit codes that count as success (default: only 0).
    pub fn valid_exit_codes<I: IntoIterator<Item = i32>>(mut self, codes: I) -> Self {
        self.opts.valid_exit_codes = Some(codes.into_iter().collect());
        self
    }

    /// The build secret `id` as the environment variable `name`.
    pub fn secret_env(mut self, name: impl Into<String>, id: impl Into<String>) -> Self {
        self.opts.secret_env.push(SecretEnv { id: id.into(), name: name.into(), optional: false });
        self
    }

    /// Mounts the root filesystem read-only: the run then produces no new
    /// root (only its writable mounts have outputs).
    pub fn readonly_root(mut self) -> Self {
        self.opts.readonly_root = true;
        self
    }

    /// Adds a mount (made with [`Mount::cache`], [`Mount::bind`], …).
    pub fn mount(mut self, mount: impl Into<RunMount>) -> Self {
        let RunMount { mount, source } = mount.into();
        if let (MountKind::Bind { readonly: false, .. }, Some(src)) = (&mount.kind, source) {
            self.binds.push((mount.dest.clone(), src));
        }
        self.opts.mounts.push(mount);
        self
    }

    /// Names the op in BuildKit's progress output (`llb.customname`).
    pub fn custom_name(mut self, name: impl Into<String>) -> Self {
        set_custom_name(&mut self.opts.op, name);
        self
    }

    /// Never take this op from the cache.
    pub fn ignore_cache(mut self) -> Self {
        self.opts.op.metadata.ignore_cache = true;
        self
    }

    /// Runs on `platform` rather than the state's.
    pub fn platform(mut self, platform: Platform) -> Self {
        self.opts.op.platform = Some(platform);
        self
    }
}

/// The low-level options as they are: no mount keeps its state's defaults.
impl From<RunOptions> for Run {
    fn from(opts: RunOptions) -> Self {
        Run { opts, binds: Vec::new(), blank: false }
    }
}

/// A mount for [`Run::mount`]: the mount and, for a bind, the state it mounts.
#[derive(Debug, Clone)]
pub struct RunMount {
    mount: Mount,
    source: Option<State>,
}

impl From<Mount> for RunMount {
    fn from(mount: Mount) -> Self {
        RunMount { mount, source: None }
    }
}

impl Mount {
    /// A persistent cache directory at `dest` (`bk.cache`); its id is `dest`
    /// unless [`CacheMount::id`] says otherwise.
    pub fn cache(dest: impl Into<String>) -> CacheMount {
        let dest = dest.into();
        CacheMount {
            id: dest.clone(),
            dest,
            sharing: CacheSharing::Shared,
            from: None,
            selector: String::new(),
            readonly: false,
        }
    }

    /// `state` mounted at `dest` (`bk.bind`): read-only unless
    /// [`BindMount::writable`].
    pub fn bind(state: &State, dest: impl Into<String>) -> BindMount {
        BindMount { state: state.clone(), dest: dest.into(), selector: String::new(), readonly: true, no_output: false }
    }

    /// An in-memory filesystem at `dest` (`bk.tmpfs`).
    pub fn tmpfs(dest: impl Into<String>) -> TmpfsMount {
        TmpfsMount { dest: dest.into(), size: 0 }
    }

    /// A build secret as a file at `dest` (`bk.secret`): its id is the
    /// file name unless [`SecretMount::id`] says otherwise; mode `0400`.
    pub fn secret(dest: impl Into<String>) -> SecretMount {
        let dest = dest.into();
        let id = dest.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
        SecretMount { dest, id, uid: 0, gid: 0, mode: Mode(0o400), optional: false }
    }

    /// The SSH agent `default` as a socket at `/run/ssh` (`bk.ssh`), mode `0600`.
    pub fn ssh() -> SshMount {
        SshMount {
            dest: "/run/ssh".to_string(),
            id: "default".to_string(),
            uid: 0,
            gid: 0,
            mode: Mode(0o600),
            optional: false,
        }
    }
}

/// A cache mount: see [`Mount::cache`].
#[derive(Debug, Clone)]
#[must_use = "a mount does nothing until given to Run::mount"]
pub struct CacheMount {
    dest: String,
    id: String,
    sharing: CacheSharing,
    from: Option<State>,
    selector: String,
    readonly: bool,
}

impl CacheMount {
    /// The cache id (builds with the same id share the cache).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// How concurrent builds share it.
    pub fn sharing(mut self, sharing: CacheSharing) -> Self {
        self.sharing = sharing;
        self
    }

    /// Seeds an empty cache with `state` (its `selector` sub-path, if set).
    pub fn from(mut self, state: &State) -> Self {
        self.from = Some(state.clone());
        self
    }

    /// The sub-path of the [`CacheMount::from`] state.
    pub fn selector(mut self, path: impl Into<String>) -> Self {
        self.selector = path.into();
        self
    }

    /// Mount it read-only.
    pub fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }
}

impl From<CacheMount> for RunMount {
    fn from(c: CacheMount) -> Self {
        let mount = Mount {
            dest: c.dest,
            kind: MountKind::Cache {
                id: c.id,
                sharing: c.sharing,
                source: c.from.as_ref().and_then(|f| f.output().cloned()),
                selector: c.selector,
                readonly: c.readonly,
            },
        };
        RunMount { mount, source: c.from }
    }
}

/// A bind mount of a state: see [`Mount::bind`].
#[derive(Debug, Clone)]
#[must_use = "a mount does nothing until given to Run::mount"]
pub struct BindMount {
    state: State,
    dest: String,
    selector: String,
    readonly: bool,
    no_output: bool,
}

impl BindMount {
    /// Mounts only this sub-path of the state.
    pub fn selector(mut self, path: impl Into<String>) -> Self {
        self.selector = path.into();
        self
    }

    /// Writable: the run's changes under the mount are an output of the run
    /// ([`crate::ExecState::mount_output`]).
    pub fn writable(mut self) -> Self {
        self.readonly = false;
        self
    }

    /// Writable, but the changes are thrown away (no output).
    pub fn scratch_space(mut self) -> Self {
        self.readonly = false;
        self.no_output = true;
        self
    }
}

impl From<BindMount> for RunMount {
    fn from(b: BindMount) -> Self {
        let mount = Mount {
            dest: b.dest,
            kind: MountKind::Bind {
                source: b.state.output().cloned(),
                selector: b.selector,
                readonly: b.readonly,
                no_output: b.no_output,
            },
        };
        RunMount { mount, source: Some(b.state) }
    }
}

/// A tmpfs mount: see [`Mount::tmpfs`].
#[derive(Debug, Clone)]
#[must_use = "a mount does nothing until given to Run::mount"]
pub struct TmpfsMount {
    dest: String,
    size: i64,
}

impl TmpfsMount {
    /// The size limit in bytes (default: the daemon's).
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = i64::try_from(bytes).unwrap_or(i64::MAX);
        self
    }
}

impl From<TmpfsMount> for RunMount {
    fn from(t: TmpfsMount) -> Self {
        RunMount { mount: Mount { dest: t.dest, kind: MountKind::Tmpfs { size: t.size } }, source: None }
    }
}

/// A secret file mount: see [`Mount::secret`].
#[derive(Debug, Clone)]
#[must_use = "a mount does nothing until given to Run::mount"]
pub struct SecretMount {
    dest: String,
    id: String,
    uid: u32,
    gid: u32,
    mode: Mode,
    optional: bool,
}

/// An SSH agent socket mount: see [`Mount::ssh`].
#[derive(Debug, Clone)]
#[must_use = "a mount does nothing until given to Run::mount"]
pub struct SshMount {
    dest: String,
    id: String,
    uid: u32,
    gid: u32,
    mode: Mode,
    optional: bool,
}

macro_rules! secret_like {
    ($ty:ident) => {
        impl $ty {
            /// The secret or agent id.
            pub fn id(mut self, id: impl Into<String>) -> Self {
                self.id = id.into();
                self
            }

            /// The owner, as numeric ids.
            pub fn owner(mut self, uid: u32, gid: u32) -> Self {
                self.uid = uid;
                self.gid = gid;
                self
            }

            /// The file mode.
            pub fn mode(mut self, mode: Mode) -> Self {
                self.mode = mode;
                self
            }

            /// A missing secret or agent is not an error.
            pub fn optional(mut self) -> Self {
                self.optional = true;
                self
            }
        }
    };
}

secret_like!(SecretMount);
secret_like!(SshMount);

impl SshMount {
    /// Where the socket is (default `/run/ssh`).
    pub fn dest(mut self, dest: impl Into<String>) -> Self {
        self.dest = dest.into();
        self
    }
}

impl From<SecretMount> for RunMount {
    fn from(s: SecretMount) -> Self {
        let kind = MountKind::Secret { id: s.id, uid: s.uid, gid: s.gid, mode: s.mode.0, optional: s.optional };
        RunMount { mount: Mount { dest: s.dest, kind }, source: None }
    }
}

impl From<SshMount> for RunMount {
    fn from(s: SshMount) -> Self {
        let kind = MountKind::Ssh { id: s.id, uid: s.uid, gid: s.gid, mode: s.mode.0, optional: s.optional };
        RunMount { mount: Mount { dest: s.dest, kind }, source: None }
    }
}

// ---------------------------------------------------------------- file ops

/// A file operation for [`State::file`]: [`Copy`](struct@Copy), [`Mkdir`], [`Mkfile`],
/// [`Rm`] or [`Symlink`]. Relative paths resolve against the working
/// directory of the state the step is applied to (a copy's source against
/// the source state's).
pub trait FileStep {
    /// The action on `base`, and the settings of its op.
    fn action(self, base: &State) -> (FileAction, OpOptions);
}

/// Copies files from another state (`st:copy`, Go's `llb.Copy`), with
/// Dockerfile `COPY` defaults: wildcards allowed, directory contents copied,
/// symlinks followed, missing parents created.
///
/// ```
/// use luakit_graph::builder::{Copy, Image, Local, Mode};
/// use luakit_graph::{Chown, FileAction, Op};
///
/// let ctx = Local::new("context").build()?;
/// let st = Image::new("nginx:1.27").build()?.with_dir("/usr/share/nginx")
///     .file(Copy::new(&ctx, "site/", "html/").chown(Chown::new(101).group(101)).mode(Mode(0o644)));
/// let Op::File(f) = &st.output().expect("an op").node.op else { unreachable!() };
/// let FileAction::Copy { src, dest, opts, .. } = &f.actions[0] else { unreachable!() };
/// assert_eq!((src.as_str(), dest.as_str()), ("/site", "/usr/share/nginx/html/"));
/// assert_eq!(opts.mode, Some(0o644));
/// # Ok::<(), luakit_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file step does nothing until given to State::file"]
pub struct Copy {
    from: State,
    src: String,
    dest: String,
    opts: CopyOptions,
    op: OpOptions,
}

impl Copy {
    /// Copies `src` of `from` to `dest`.
    pub fn new(from: &State, src: impl Into<String>, dest: impl Into<String>) -> Self {
        Copy {
            from: from.clone(),
            src: src.into(),
            dest: dest.into(),
            opts: CopyOptions::default(),
            op: OpOptions::default(),
        }
    }

    /// The owner of the copied files.
    pub fn chown(mut self, owner: Chown) -> Self {
        self.opts.owner = Some(owner);
        self
    }

    /// The mode of the copied files (default: kept).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.opts.mode = Some(mode.0);
        self
    }

    /// Follow a symlink at `src` (default yes).
    pub fn follow_symlink(mut self, follow: bool) -> Self {
        self.opts.follow_symlink = follow;
        self
    }

    /// Copy a directory's contents rather than the directory (default yes).
    pub fn copy_dir_contents(mut self, contents: bool) -> Self {
        self.opts.copy_dir_contents = contents;
        self
    }

    /// Unpack an archive at `src` (Dockerfile `ADD`; default no).
    pub fn unpack(mut self, unpack: bool) -> Self {
        self.opts.attempt_unpack_docker_compatibility = unpack;
        self
    }

    /// Create missing parents of `dest` (default yes).
    pub fn create_dest_path(mut self, create: bool) -> Self {
        self.opts.create_dest_path = create;
        self
    }

    /// Treat `src` as a wildcard pattern (default yes).
    pub fn allow_wildcard(mut self, allow: bool) -> Self {
        self.opts.allow_wildcard = allow;
        self
    }

    /// A pattern that matches nothing is not an error (default yes).
    pub fn allow_empty_wildcard(mut self, allow: bool) -> Self {
        self.opts.allow_empty_wildcard = allow;
        self
    }

    /// Only copy paths matching these patterns.
    pub fn include<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.opts.include_patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Do not copy paths matching these patterns.
    pub fn exclude<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.opts.exclude_patterns.extend(patterns.into_iter().map(Into::into));
        self
    }

    op_methods!(op);
}

impl FileStep for Copy {
    fn action(self, base: &State) -> (FileAction, OpOptions) {
        (base.copy_action(&self.from, &self.src, &self.dest, self.opts), self.op)
    }
}

/// Creates a directory (`st:mkdir`, Go's `llb.Mkdir`): mode `0755` and
/// missing parents created unless told otherwise.
///
/// ```
/// use luakit_graph::builder::{Mkdir, Mode};
/// use luakit_graph::{FileAction, Op, State};
///
/// let st = State::scratch().with_dir("/srv").file(Mkdir::new("data").mode(Mode(0o700)).parents(false));
/// let Op::File(f) = &st.output().expect("an op").node.op else { unreachable!() };
/// let FileAction::Mkdir { path, mode, make_parents, .. } = &f.actions[0] else { unreachable!() };
/// assert_eq!((path.as_str(), *mode, *make_parents), ("/srv/data", 0o700, false));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file step does nothing until given to State::file"]
pub struct Mkdir {
    path: String,
    mode: Mode,
    parents: bool,
    owner: Option<Chown>,
    op: OpOptions,
}

impl Mkdir {
    /// The directory `path`.
    pub fn new(path: impl Into<String>) -> Self {
        Mkdir { path: path.into(), mode: Mode(0o755), parents: true, owner: None, op: OpOptions::default() }
    }

    /// Its mode (default `0755`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether missing parents are created (default yes).
    pub fn parents(mut self, parents: bool) -> Self {
        self.parents = parents;
        self
    }

    /// Its owner.
    pub fn chown(mut self, owner: Chown) -> Self {
        self.owner = Some(owner);
        self
    }

    op_methods!(op);
}

impl FileStep for Mkdir {
    fn action(self, base: &State) -> (FileAction, OpOptions) {
        (base.mkdir_action(&self.path, self.mode.0, self.parents, self.owner), self.op)
    }
}

/// Creates a file (`st:mkfile`, Go's `llb.Mkfile`), mode `0644` unless told otherwise.
///
/// ```
/// use luakit_graph::builder::{Mkfile, Mode};
/// use luakit_graph::{FileAction, Op, State};
///
/// let st = State::scratch().file(Mkfile::new("/etc/motd", "hello\n").mode(Mode(0o600)));
/// let Op::File(f) = &st.output().expect("an op").node.op else { unreachable!() };
/// let FileAction::Mkfile { data, mode, .. } = &f.actions[0] else { unreachable!() };
/// assert_eq!((data.as_slice(), *mode), (&b"hello\n"[..], 0o600));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file step does nothing until given to State::file"]
pub struct Mkfile {
    path: String,
    data: Vec<u8>,
    mode: Mode,
    owner: Option<Chown>,
    op: OpOptions,
}

impl Mkfile {
    /// The file `path` with contents `data`.
    pub fn new(path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Mkfile { path: path.into(), data: data.into(), mode: Mode(0o644), owner: None, op: OpOptions::default() }
    }

    /// Its mode (default `0644`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Its owner.
    pub fn chown(mut self, owner: Chown) -> Self {
        self.owner = Some(owner);
        self
    }

    op_methods!(op);
}

impl FileStep for Mkfile {
    fn action(self, base: &State) -> (FileAction, OpOptions) {
        (base.mkfile_action(&self.path, self.mode.0, self.data, self.owner), self.op)
    }
}

/// Removes a path (`st:rm`, Go's `llb.Rm`).
///
/// ```
/// use luakit_graph::builder::Rm;
/// use luakit_graph::{FileAction, Op, State};
///
/// let st = State::scratch().file(Rm::new("/tmp/*").allow_wildcard(true).allow_not_found(true));
/// let Op::File(f) = &st.output().expect("an op").node.op else { unreachable!() };
/// assert!(matches!(f.actions[0], FileAction::Rm { allow_wildcard: true, allow_not_found: true, .. }));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file step does nothing until given to State::file"]
pub struct Rm {
    path: String,
    allow_not_found: bool,
    allow_wildcard: bool,
    op: OpOptions,
}

impl Rm {
    /// Removes `path`.
    pub fn new(path: impl Into<String>) -> Self {
        Rm { path: path.into(), allow_not_found: false, allow_wildcard: false, op: OpOptions::default() }
    }

    /// A missing path is not an error (default: it is).
    pub fn allow_not_found(mut self, allow: bool) -> Self {
        self.allow_not_found = allow;
        self
    }

    /// Treat the path as a wildcard pattern (default no).
    pub fn allow_wildcard(mut self, allow: bool) -> Self {
        self.allow_wildcard = allow;
        self
    }

    op_methods!(op);
}

impl FileStep for Rm {
    fn action(self, base: &State) -> (FileAction, OpOptions) {
        (base.rm_action(&self.path, self.allow_not_found, self.allow_wildcard), self.op)
    }
}

/// Creates a symbolic link (`st:symlink`, Go's `llb.Symlink`).
///
/// ```
/// use luakit_graph::builder::Symlink;
/// use luakit_graph::{FileAction, Op, State};
///
/// let st = State::scratch().file(Symlink::new("python3", "/usr/bin/python"));
/// let Op::File(f) = &st.output().expect("an op").node.op else { unreachable!() };
/// let FileAction::Symlink { oldpath, newpath, .. } = &f.actions[0] else { unreachable!() };
/// assert_eq!((oldpath.as_str(), newpath.as_str()), ("python3", "/usr/bin/python"));
/// ```
#[derive(Debug, Clone)]
#[must_use = "a file step does nothing until given to State::file"]
pub struct Symlink {
    target: String,
    link: String,
    owner: Option<Chown>,
    op: OpOptions,
}

impl Symlink {
    /// A link at `link` pointing to `target` (kept as written).
    pub fn new(target: impl Into<String>, link: impl Into<String>) -> Self {
        Symlink { target: target.into(), link: link.into(), owner: None, op: OpOptions::default() }
    }

    /// The link's owner.
    pub fn chown(mut self, owner: Chown) -> Self {
        self.owner = Some(owner);
        self
    }

    op_methods!(op);
}

impl FileStep for Symlink {
    fn action(self, base: &State) -> (FileAction, OpOptions) {
        (base.symlink_action(&self.target, &self.link, self.owner), self.op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;

    #[test]
    fn builders_equal_the_low_level_calls() {
        let ctx = crate::source::local("context", LocalOptions::default()).expect("local");
        let base = crate::source::image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() })
            .expect("image");
        let low = base.copy(&ctx, "a", "/b", CopyOptions::default(), OpOptions::default()).mkdir(
            "/x",
            0o700,
            true,
            None,
            OpOptions::default(),
        );
        let high = Image::new("alpine:3.19")
            .build()
            .expect("image")
            .file(Copy::new(&Local::new("context").build().expect("local"), "a", "/b"))
            .file(Mkdir::new("/x").mode(Mode(0o700)));
        // Outputs compare by identity; the content shows in Debug.
        let op = |s: &State| format!("{:?}", s.output().map(|o| &o.node.op));
        assert_eq!(op(&low), op(&high));
        assert_eq!(low.meta(), high.meta());
    }

    #[test]
    fn blank_shell_commands_are_refused() {
        assert_eq!(State::scratch().run(Run::shell("  ")).err(), Some(GraphError::EmptyArgs));
    }

    #[test]
    fn writable_binds_hand_on_their_state_defaults() {
        let src = State::scratch().with_dir("/work").with_env("A", "1");
        let exec = State::scratch()
            .run(Run::shell("make").cwd("/src").mount(Mount::bind(&src, "out").writable()))
            .expect("run");
        let out = exec.mount_output("/src/out").expect("writable");
        assert_eq!(out.meta().dir, "/work");
        assert_eq!(out.meta().env.get("A"), Some("1"));
        let Op::Exec(e) = &exec.node().op else { panic!("not an exec") };
        assert_eq!(e.output_count(), 2);
    }
}
