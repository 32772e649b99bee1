//! BuildKit LLB capability ids, the daemon's supported set, and the policy
//! that decides, per feature, whether to record a cap, drop a feature whose
//! meaning survives without it, or refuse the graph.

use std::collections::BTreeSet;

/// Capability ids (BuildKit `solver/pb/caps.go`).
#[allow(missing_docs)]
pub mod id {
    pub const SOURCE_IMAGE: &str = "source.image";
    pub const SOURCE_IMAGE_RESOLVE_MODE: &str = "source.image.resolvemode";
    pub const SOURCE_LOCAL: &str = "source.local";
    pub const SOURCE_LOCAL_UNIQUE: &str = "source.local.unique";
    pub const SOURCE_LOCAL_SESSION_ID: &str = "source.local.sessionid";
    pub const SOURCE_LOCAL_INCLUDE_PATTERNS: &str = "source.local.includepatterns";
    pub const SOURCE_LOCAL_FOLLOW_PATHS: &str = "source.local.followpaths";
    pub const SOURCE_LOCAL_EXCLUDE_PATTERNS: &str = "source.local.excludepatterns";
    pub const SOURCE_LOCAL_SHARED_KEY_HINT: &str = "source.local.sharedkeyhint";
    pub const SOURCE_LOCAL_DIFFER: &str = "source.local.differ";
    pub const SOURCE_GIT: &str = "source.git";
    pub const SOURCE_GIT_KEEP_DIR: &str = "source.git.keepgitdir";
    pub const SOURCE_GIT_FULL_URL: &str = "source.git.fullurl";
    pub const SOURCE_GIT_HTTP_AUTH: &str = "source.git.httpauth";
    pub const SOURCE_GIT_KNOWN_SSH_HOSTS: &str = "source.git.knownsshhosts";
    pub const SOURCE_GIT_MOUNT_SSH_SOCK: &str = "source.git.mountsshsock";
    pub const SOURCE_GIT_SUBDIR: &str = "source.git.subdir";
    pub const SOURCE_HTTP: &str = "source.http";
    pub const SOURCE_HTTP_CHECKSUM: &str = "source.http.checksum";
    pub const SOURCE_HTTP_PERM: &str = "source.http.perm";
    /// Spelled this way by BuildKit.
    pub const SOURCE_HTTP_UIDGID: &str = "soruce.http.uidgid";
    pub const SOURCE_OCI_LAYOUT: &str = "source.ocilayout";
    pub const EXEC_META_BASE: &str = "exec.meta.base";
    pub const EXEC_META_CGROUP_PARENT: &str = "exec.meta.cgroup.parent";
    pub const EXEC_META_NETWORK: &str = "exec.meta.network";
    pub const EXEC_META_PROXY: &str = "exec.meta.proxyenv";
    pub const EXEC_META_SECURITY: &str = "exec.meta.security";
    pub const EXEC_META_ULIMIT: &str = "exec.meta.ulimit";
    pub const EXEC_MOUNT_BIND: &str = "exec.mount.bind";
    pub const EXEC_MOUNT_CACHE: &str = "exec.mount.cache";
    pub const EXEC_MOUNT_CACHE_SHARING: &str = "exec.mount.cache.sharing";
    pub const EXEC_MOUNT_SELECTOR: &str = "exec.mount.selector";
    pub const EXEC_MOUNT_TMPFS: &str = "exec.mount.tmpfs";
    pub const EXEC_MOUNT_TMPFS_SIZE: &str = "exec.mount.tmpfs.size";
    pub const EXEC_MOUNT_SECRET: &str = "exec.mount.secret";
    pub const EXEC_MOUNT_SSH: &str = "exec.mount.ssh";
    pub const EXEC_SECRET_ENV: &str = "exec.secretenv";
    pub const EXEC_VALID_EXIT_CODE: &str = "exec.validexitcode";
    pub const FILE_BASE: &str = "file.base";
    pub const FILE_RM_WILDCARD: &str = "file.rm.wildcard";
    pub const FILE_COPY_INCLUDE_EXCLUDE: &str = "file.copy.includeexcludepatterns";
    pub const FILE_SYMLINK_CREATE: &str = "file.symlink.create";
    pub const CONSTRAINTS: &str = "constraints";
    pub const PLATFORM: &str = "platform";
    pub const META_IGNORE_CACHE: &str = "meta.ignorecache";
    pub const META_DESCRIPTION: &str = "meta.description";
    pub const META_EXPORT_CACHE: &str = "meta.exportcache";
    pub const MERGE_OP: &str = "mergeop";
    pub const DIFF_OP: &str = "diffop";
}

/// The first BuildKit release that knows a cap, for error messages.
pub(crate) fn introduced_in(cap: &str) -> &'static str {
    match cap {
        id::MERGE_OP | id::DIFF_OP => "v0.10",
        id::EXEC_MOUNT_TMPFS_SIZE | id::EXEC_SECRET_ENV | id::EXEC_META_ULIMIT | id::FILE_COPY_INCLUDE_EXCLUDE => {
            "v0.9"
        }
        id::SOURCE_LOCAL_DIFFER | id::SOURCE_HTTP_UIDGID | id::SOURCE_GIT_SUBDIR => "v0.10",
        id::EXEC_VALID_EXIT_CODE => "v0.12",
        id::FILE_SYMLINK_CREATE => "v0.17",
        id::SOURCE_OCI_LAYOUT => "v0.11",
        _ => "a newer release",
    }
}

/// Caps whose feature can be left out on an older daemon without changing
/// what the build means (the daemon then behaves as BuildKit always did).
pub(crate) fn droppable(cap: &str) -> bool {
    matches!(
        cap,
        id::SOURCE_GIT_FULL_URL | id::SOURCE_LOCAL_SHARED_KEY_HINT | id::SOURCE_LOCAL_DIFFER | id::META_DESCRIPTION
    )
}

/// The caps a daemon reports in `Ping` (only the enabled ones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapSet {
    caps: BTreeSet<String>,
    /// BuildKit version the daemon reports, for messages (may be empty).
    pub version: String,
}

impl CapSet {
    /// A set from cap ids.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(caps: I) -> Self {
        CapSet { caps: caps.into_iter().map(Into::into).collect(), version: String::new() }
    }

    /// Whether the daemon supports `cap`.
    pub fn supports(&self, cap: &str) -> bool {
        self.caps.contains(cap)
    }

    /// The cap ids in the set, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().map(String::as_str)
    }
}
