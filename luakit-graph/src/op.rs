//! The operations of a build graph: one enum variant per LLB op kind.
//!
//! These types describe *what* an op does in graph terms (inputs are
//! [`Output`]s of other nodes, `None` meaning scratch). How they become bytes is
//! luakit-llb's business.

use std::collections::BTreeMap;

use crate::platform::Platform;
use crate::state::{Env, Output};

/// One vertex of the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A source: image, local directory, git repository, HTTP file, OCI layout.
    Source(SourceOp),
    /// A process run on a root filesystem with extra mounts (boxed: it is
    /// the largest kind, and a graph's other nodes need not be its size).
    Exec(Box<ExecOp>),
    /// File actions (copy, mkdir, mkfile, rm, symlink) applied in sequence.
    File(FileOp),
    /// Layers of several states stacked in order.
    Merge(MergeOp),
    /// The changes between a lower and an upper state.
    Diff(DiffOp),
}

impl Op {
    /// A short lower-case name of the op kind (`source`, `exec`, `file`, `merge`, `diff`).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Source(_) => "source",
            Op::Exec(_) => "exec",
            Op::File(_) => "file",
            Op::Merge(_) => "merge",
            Op::Diff(_) => "diff",
        }
    }
}

/// A source op: an identifier such as `docker-image://…` and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceOp {
    /// The LLB identifier (`docker-image://docker.io/library/alpine:3.19`, `local://context`, …).
    pub identifier: String,
    /// Source attributes (`local.includepattern`, `http.checksum`, …).
    pub attrs: BTreeMap<String, String>,
    /// Extra capabilities this source needs beyond those its attributes imply
    /// (for example git HTTP auth when secrets are named explicitly).
    pub extra_caps: Vec<String>,
}

impl SourceOp {
    /// Whether the source is platform specific (images and OCI layouts are; the rest are not).
    pub fn is_platform_specific(&self) -> bool {
        self.identifier.starts_with("docker-image://") || self.identifier.starts_with("oci-layout://")
    }
}

/// Network mode of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum NetMode {
    /// The default, isolated network namespace with outbound access.
    #[default]
    Sandbox,
    /// The host's network namespace (needs the `network.host` entitlement).
    Host,
    /// No network at all.
    None,
}

/// Security mode of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum SecurityMode {
    /// The default, restricted sandbox.
    #[default]
    Sandbox,
    /// Full privileges (needs the `security.insecure` entitlement).
    Insecure,
}

/// A `host:ip` entry added to `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIp {
    /// The name that resolves to `ip` inside the container.
    pub host: String,
    /// IP address, as text.
    pub ip: String,
}

/// A resource limit (`ulimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Name such as `nofile`.
    pub name: String,
    /// The soft limit (what the process starts with; it may raise it up to `hard`).
    pub soft: i64,
    /// The hard limit (the ceiling the soft limit cannot pass).
    pub hard: i64,
}

/// A secret exposed as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    /// The id of the secret in the client session (`--secret id=…`).
    pub id: String,
    /// The environment variable the secret's value is put in.
    pub name: String,
    /// Whether a missing secret is tolerated.
    pub optional: bool,
}

/// Proxy settings passed to an exec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxyEnv {
    /// The `HTTP_PROXY` value the process sees; empty for none.
    pub http_proxy: String,
    /// The `HTTPS_PROXY` value the process sees; empty for none.
    pub https_proxy: String,
    /// The `FTP_PROXY` value the process sees; empty for none.
    pub ftp_proxy: String,
    /// The `NO_PROXY` value the process sees; empty for none.
    pub no_proxy: String,
    /// The `ALL_PROXY` value the process sees; empty for none.
    pub all_proxy: String,
}

/// Everything about the process of an exec except its mounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Meta {
    /// The command line, program first (`argv`); never empty in a valid op.
    pub args: Vec<String>,
    /// Environment, in order (each entry is `KEY=value` on the wire; see
    /// [`Env::to_vec`]). Shared with the state the exec runs on when the
    /// run sets nothing of its own: no text is copied per exec.
    pub env: Env,
    /// The working directory of the process, an absolute path.
    pub cwd: String,
    /// User, as `user[:group]`; empty for the image default.
    pub user: String,
    /// Hostname; empty for the default.
    pub hostname: String,
    /// Entries added to the container's `/etc/hosts`, in order.
    pub extra_hosts: Vec<HostIp>,
    /// Resource limits (`ulimit`) set on the process, in order.
    pub ulimits: Vec<Ulimit>,
    /// Cgroup parent; empty for the default.
    pub cgroup_parent: String,
    /// Exit codes that count as success; `None` means only 0.
    pub valid_exit_codes: Option<Vec<i32>>,
    /// Proxy variables given to the process without being part of the
    /// op's cache key; `None` for none.
    pub proxy_env: Option<ProxyEnv>,
}

/// Cache mount sharing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum CacheSharing {
    /// Concurrent builds share the cache.
    #[default]
    Shared,
    /// Each concurrent build gets its own copy.
    Private,
    /// Concurrent builds wait for each other.
    Locked,
}

/// What a mount of an exec is.
#[derive(Debug, Clone, PartialEq)]
pub enum MountKind {
    /// A bind mount of a state (`source` `None` is scratch).
    Bind {
        /// The mounted state's output; `None` for scratch.
        source: Option<Output>,
        /// Sub-path of the source to mount.
        selector: String,
        /// Read-only: no output is produced.
        readonly: bool,
        /// Writable but its result is discarded.
        no_output: bool,
    },
    /// A persistent cache directory.
    Cache {
        /// Cache id.
        id: String,
        /// Sharing mode.
        sharing: CacheSharing,
        /// Initial contents; `None` for empty.
        source: Option<Output>,
        /// Sub-path of the source.
        selector: String,
        /// Read-only cache.
        readonly: bool,
    },
    /// An in-memory filesystem (tmpfs), empty at the start of the exec and
    /// gone after it.
    Tmpfs {
        /// Size limit in bytes; 0 for the default.
        size: i64,
    },
    /// A secret from the client session, mounted as a file that is not
    /// part of any output or cache.
    Secret {
        /// The id of the secret in the client session (`--secret id=…`).
        id: String,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
        /// File mode.
        mode: u32,
        /// Whether a missing secret is tolerated.
        optional: bool,
    },
    /// An SSH agent socket.
    Ssh {
        /// SSH agent id.
        id: String,
        /// Owner uid.
        uid: u32,
        /// Owner gid.
        gid: u32,
        /// Socket mode.
        mode: u32,
        /// Whether a missing agent is tolerated.
        optional: bool,
    },
}

/// One mount of an exec.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Where it is mounted in the container, an absolute path.
    pub dest: String,
    /// What is mounted there (a state, a cache, a tmpfs, a secret, an SSH socket).
    pub kind: MountKind,
}

impl Mount {
    /// Whether this mount produces an output of the exec.
    pub fn has_output(&self) -> bool {
        matches!(&self.kind, MountKind::Bind { readonly: false, no_output: false, .. })
    }

    /// The state mounted, if any.
    pub fn source(&self) -> Option<&Output> {
        match &self.kind {
            MountKind::Bind { source, .. } | MountKind::Cache { source, .. } => source.as_ref(),
            _ => None,
        }
    }

    /// Secret and SSH mounts are listed after the others (see [`ExecOp::mounts`]).
    pub fn is_secret_or_ssh(&self) -> bool {
        matches!(self.kind, MountKind::Secret { .. } | MountKind::Ssh { .. })
    }

    /// The group this mount is listed in: 0 for the filesystem mounts (root,
    /// bind, cache, tmpfs), 1 for secret files, 2 for SSH sockets.
    fn list_group(&self) -> u8 {
        match self.kind {
            MountKind::Secret { .. } => 1,
            MountKind::Ssh { .. } => 2,
            _ => 0,
        }
    }
}

/// An exec op: a process run in a container whose root and other
/// mounts are states; each writable bind mount is an output.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOp {
    /// The process: command line, environment, working directory, user, limits.
    pub meta: Meta,
    /// Mounts; the root mount is the one with dest `/`. Kept in canonical
    /// order, the order in which BuildKit's `client/llb` lists them: first
    /// the filesystem mounts (root, bind, cache, tmpfs) sorted by dest, then
    /// every secret file in the order added, then every SSH socket in the
    /// order added, whatever the order in which the kinds were mixed.
    pub mounts: Vec<Mount>,
    /// The network the process has (sandboxed, host's, or none).
    pub network: NetMode,
    /// Whether the process runs sandboxed or with full privileges.
    pub security: SecurityMode,
    /// Secrets exposed as environment variables.
    pub secret_env: Vec<SecretEnv>,
}

impl ExecOp {
    /// Sorts mounts into canonical order (see [`ExecOp::mounts`]).
    pub fn sort_mounts(&mut self) {
        // Stable: secrets keep their order among themselves, and so do SSH
        // sockets; filesystem mounts have distinct dests.
        self.mounts.sort_by(|a, b| {
            let (ga, gb) = (a.list_group(), b.list_group());
            ga.cmp(&gb).then_with(|| {
                if ga == 0 { a.dest.as_bytes().cmp(b.dest.as_bytes()) } else { std::cmp::Ordering::Equal }
            })
        });
    }

    /// The output index of the writable mount at `dest`, if there is one.
    pub fn output_index(&self, dest: &str) -> Option<u32> {
        self.mounts.iter().filter(|m| m.has_output()).position(|m| m.dest == dest).map(|i| i as u32)
    }

    /// Number of outputs this exec produces.
    pub fn output_count(&self) -> u32 {
        self.mounts.iter().filter(|m| m.has_output()).count() as u32
    }
}

/// A user or group in a chown: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// A numeric uid or gid, used as is.
    Id(u32),
    /// Name, looked up in the `/etc/passwd` or `/etc/group` of the target.
    Name(String),
}

/// Ownership of created files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chown {
    /// The owning user; `None` keeps the default (root, or the source's owner for a copy).
    pub user: Option<UserRef>,
    /// The owning group; `None` uses the user's primary group (or the default).
    pub group: Option<UserRef>,
}

/// Options of a copy action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Ownership of the copied files.
    pub owner: Option<Chown>,
    /// Mode of the copied files; `None` keeps them.
    pub mode: Option<u32>,
    /// Follow a symlink at the source path.
    pub follow_symlink: bool,
    /// Copy a directory's contents rather than the directory.
    pub copy_dir_contents: bool,
    /// Unpack archives at the source.
    pub attempt_unpack_docker_compatibility: bool,
    /// Create the destination's parents.
    pub create_dest_path: bool,
    /// Treat the source as a wildcard pattern.
    pub allow_wildcard: bool,
    /// A wildcard that matches nothing is not an error.
    pub allow_empty_wildcard: bool,
    /// Modification time (Unix seconds); `None` keeps the source's.
    pub timestamp: Option<i64>,
    /// Only copy paths matching these patterns.
    pub include_patterns: Vec<String>,
    /// Do not copy paths matching these patterns.
    pub exclude_patterns: Vec<String>,
    /// Always replace an existing destination directory.
    pub always_replace_existing_dest_paths: bool,
}

impl Default for CopyOptions {
    /// Dockerfile `COPY` semantics.
    fn default() -> Self {
        CopyOptions {
            owner: None,
            mode: None,
            follow_symlink: true,
            copy_dir_contents: true,
            attempt_unpack_docker_compatibility: false,
            create_dest_path: true,
            allow_wildcard: true,
            allow_empty_wildcard: true,
            timestamp: None,
            include_patterns: Vec::new(),
            exclude_patterns: Vec::new(),
            always_replace_existing_dest_paths: false,
        }
    }
}

/// One action of a [`FileOp`]: copy, create a file, a directory or a
/// symbolic link, or remove a path.
#[derive(Debug, Clone, PartialEq)]
pub enum FileAction {
    /// Copy `src` from another state to `dest`.
    Copy {
        /// The state copied from (`None` for scratch).
        from: Option<Output>,
        /// Absolute source path (resolved against the source state's dir).
        src: String,
        /// Absolute destination path (a trailing `/` is kept).
        dest: String,
        /// Options (boxed: the largest part of any action, and every action
        /// of a file op is the size of the largest).
        opts: Box<CopyOptions>,
    },
    /// Create (or overwrite) a regular file with the given bytes.
    Mkfile {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Contents.
        data: Vec<u8>,
        /// Owner.
        owner: Option<Chown>,
        /// Modification time; `None` for now.
        timestamp: Option<i64>,
    },
    /// Create a directory (and, with `make_parents`, its missing parents).
    Mkdir {
        /// Absolute path.
        path: String,
        /// Mode.
        mode: u32,
        /// Create parents.
        make_parents: bool,
        /// Owner.
        owner: Option<Chown>,
        /// Modification time; `None` for now.
        timestamp: Option<i64>,
    },
    /// Remove a file or directory (recursively).
    Rm {
        /// Absolute path.
        path: String,
        /// A missing path is not an error.
        allow_not_found: bool,
        /// Treat the path as a wildcard pattern.
        allow_wildcard: bool,
    },
    /// Create a symbolic link at `newpath` pointing to `oldpath`.
    Symlink {
        /// Link target, as written in the link.
        oldpath: String,
        /// Absolute path of the link.
        newpath: String,
        /// Owner.
        owner: Option<Chown>,
        /// Modification time; `None` for now.
        timestamp: Option<i64>,
    },
}

impl FileAction {
    /// A short name of the action (`copy`, `mkfile`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            FileAction::Copy { .. } => "copy",
            FileAction::Mkfile { .. } => "mkfile",
            FileAction::Mkdir { .. } => "mkdir",
            FileAction::Rm { .. } => "rm",
            FileAction::Symlink { .. } => "symlink",
        }
    }
}

/// A file op: actions applied in sequence, the first on `base`, each next one
/// on the result of the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOp {
    /// The state the first action works on (`None` for scratch).
    pub base: Option<Output>,
    /// The actions, at least one.
    pub actions: Vec<FileAction>,
}

/// A merge of states, later ones on top.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOp {
    /// The merged states (`None` entries are scratch and are skipped when encoded).
    pub inputs: Vec<Option<Output>>,
}

/// The difference between two states.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffOp {
    /// The lower state (`None` for scratch).
    pub lower: Option<Output>,
    /// The upper state (`None` for scratch).
    pub upper: Option<Output>,
}

/// A progress group: ops shown together by BuildKit's progress UI.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProgressGroup {
    /// The identifier ops of one group share.
    pub id: String,
    /// The name the progress UI shows for the group.
    pub name: String,
    /// Weak groups are merged with strong ones of the same id.
    pub weak: bool,
}

/// Metadata of an op: not part of its digest, but sent along with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpMetadata {
    /// Never use the cache for this op.
    pub ignore_cache: bool,
    /// Free-form description; `llb.customname` is the name shown in progress.
    pub description: BTreeMap<String, String>,
    /// The progress group the op is shown in; `None` for its own line
    /// (boxed: few ops have one).
    pub progress_group: Option<Box<ProgressGroup>>,
}

/// A source file of the build script, for source maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceFile {
    /// File name (relative to the main script's directory).
    pub filename: String,
    /// The whole text of the file, so that BuildKit can show the lines an
    /// error points at.
    pub data: Vec<u8>,
    /// Language name (e.g. `Lua`); empty when unknown.
    pub language: String,
}

/// A position range in a source file (1-based lines; 0 for unknown characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRange {
    /// The line the range starts on (1-based).
    pub start_line: i32,
    /// The character of `start_line` the range starts at (0 when unknown).
    pub start_char: i32,
    /// The line the range ends on (1-based, inclusive).
    pub end_line: i32,
    /// The character of `end_line` the range ends at (0 when unknown).
    pub end_char: i32,
}

/// Where in the script an op was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// The script file the op was created in (shared by all its locations).
    pub file: std::sync::Arc<SourceFile>,
    /// The ranges of that file that created it (usually one: the call's line).
    pub ranges: Vec<SourceRange>,
}

/// Constraints of an op beyond its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Constraints {
    /// Platform; `None` means the target platform given at marshal time.
    /// Boxed: most ops have none, and every node holds the field.
    pub platform: Option<Box<Platform>>,
    /// Filters on worker labels (`key==value`) that a worker must match to run the op.
    pub worker_constraints: Vec<String>,
}
