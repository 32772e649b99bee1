//! The `bk` API as data: every function, state method and option table,
//! with LuaLS types and one-line docs.
//!
//! This is the one definition of the API's names: the runtime checks option
//! tables against [`OptionTable::names`] (so "did you mean" suggests from
//! here), and `luakit types` writes its editor stubs from the same tables,
//! so the two cannot drift. Tests check that every function and method the
//! runtime registers is listed here.

/// One option of an option table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDoc {
    /// The key as the script writes it (`cwd`).
    pub name: &'static str,
    /// Its type in LuaLS notation (`string`, `string|string[]`).
    pub ty: &'static str,
    /// One sentence on what the option does, shown in the editor stubs.
    pub doc: &'static str,
    /// It must be given (a table without it is an error).
    pub required: bool,
}

/// An option table (`opts` of a function), as a LuaLS class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionTable {
    /// The class name in the stubs (`bk.RunOptions`).
    pub class: &'static str,
    /// The option names, in the order of `options` (what the runtime checks).
    pub names: &'static [&'static str],
    /// The options with their types and docs.
    pub options: &'static [OptionDoc],
}

/// A positional parameter of a [`FunctionDoc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Its name (`...` for a variadic one).
    pub name: &'static str,
    /// Its type in LuaLS notation; a trailing `?` on the name is not used,
    /// `optional` says it.
    pub ty: &'static str,
    /// It may be omitted.
    pub optional: bool,
}

/// A `bk` function or a state method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionDoc {
    /// The name (`image`, `run`).
    pub name: &'static str,
    /// Positional parameters (for methods, without the state itself).
    pub params: &'static [Param],
    /// The type returned, if any.
    pub returns: Option<&'static str>,
    /// One sentence on what the function does, shown in the editor stubs.
    pub doc: &'static str,
}

macro_rules! options {
    ($class:literal, [$( $name:literal $($req:ident)? : $ty:literal = $doc:literal ),* $(,)?]) => {
        OptionTable {
            class: $class,
            names: &[$($name),*],
            options: &[$(OptionDoc { name: $name, ty: $ty, doc: $doc, required: options!(@req $($req)?) }),*],
        }
    };
    (@req) => { false };
    (@req required) => { true };
}

macro_rules! p {
    ($name:literal : $ty:literal) => {
        Param { name: $name, ty: $ty, optional: false }
    };
    ($name:literal ? : $ty:literal) => {
        Param { name: $name, ty: $ty, optional: true }
    };
}

/// `bk.image` options.
pub const IMAGE: OptionTable = options!("bk.ImageOptions", [
    "platform": "bk.PlatformSpec" = "Platform of this image and of every op built on it (default: the target platform).",
    "resolve": "\"default\"|\"always\"|\"never\"" = "How BuildKit finds the image: always pull, never pull, or its default.",
    "resolve_digest": "boolean" = "Resolve the image's digest and config (frontend mode).",
]);

/// `bk.local_` options.
pub const LOCAL: OptionTable = options!("bk.LocalOptions", [
    "include": "string|string[]" = "Only send paths matching these patterns.",
    "exclude": "string|string[]" = "Do not send paths matching these patterns.",
    "shared_key_hint": "string" = "Hint for sharing the transfer cache between builds.",
    "follow_paths": "string|string[]" = "Only follow these paths.",
]);

/// `bk.git` options.
pub const GIT: OptionTable = options!("bk.GitOptions", [
    "ref": "string" = "Branch, tag or commit (default: the URL fragment's, else the default branch).",
    "keep_git_dir": "boolean" = "Keep the .git directory.",
    "subdir": "string" = "Sub-directory of the repository to take.",
    "auth_token_secret": "string" = "Id of the build secret holding an HTTP auth token (default GIT_AUTH_TOKEN).",
    "auth_header_secret": "string" = "Id of the build secret holding an HTTP auth header (default GIT_AUTH_HEADER).",
    "known_ssh_hosts": "string|string[]" = "known_hosts lines for SSH remotes.",
    "mount_ssh_sock": "string" = "SSH agent id for SSH remotes (default \"default\").",
]);

/// `bk.http` / `bk.https` options.
pub const HTTP: OptionTable = options!("bk.HttpOptions", [
    "checksum": "string" = "Expected digest: \"sha256:\" and 64 hex digits.",
    "filename": "string" = "Name of the file in the state (default: from the URL).",
    "chmod": "bk.Mode" = "Mode of the file, an octal string such as \"0644\".",
    "uid": "integer" = "Owner uid (default 0).",
    "gid": "integer" = "Owner gid (default 0).",
    "headers": "table<string, string>" = "Extra request headers.",
    "auth_header_secret": "string" = "Id of a build secret holding the Authorization header value.",
    "username": "nil" = "Refused: credentials must not go into the graph (use auth_header_secret).",
    "password": "nil" = "Refused: credentials must not go into the graph (use auth_header_secret).",
]);

/// `bk.export` options.
pub const EXPORT: OptionTable = options!("bk.ExportOptions", [
    "entrypoint": "string|string[]" = "ENTRYPOINT: a list (exec form) or a string (run by /bin/sh -c); {} clears it.",
    "cmd": "string|string[]" = "CMD: a list (exec form) or a string (run by /bin/sh -c); {} clears it.",
    "env": "bk.Env" = "ENV: variables added to the image config.",
    "workdir": "string" = "WORKDIR (default: the state's working directory).",
    "cwd": "string" = "Alias of workdir.",
    "user": "string" = "USER (default: the state's user).",
    "expose": "string|integer|(string|integer)[]" = "EXPOSE: ports such as \"8080/tcp\", 53, \"7000-7002/udp\".",
    "labels": "table<string, string>" = "LABEL: added to the inherited labels.",
    "volumes": "string|string[]" = "VOLUME: mount points.",
    "stop_signal": "string|integer" = "STOPSIGNAL: a signal name or number.",
    "healthcheck": "bk.Healthcheck|\"none\"|false" = "HEALTHCHECK; \"none\" or false disables an inherited one.",
    "os": "string" = "The config's os (default: the exported state's platform).",
    "arch": "string" = "The config's architecture (default: the exported state's platform).",
    "variant": "string" = "The config's variant.",
    "target": "string" = "Name of this export, for scripts that export several images (--target / docker build --target picks one).",
]);

/// `bk.export{healthcheck = …}`.
pub const HEALTHCHECK: OptionTable = options!("bk.Healthcheck", [
    "test" required: "string|string[]" = "A shell command string (CMD-SHELL), or a command list (CMD).",
    "interval": "bk.Duration" = "Time between checks (\"30s\", or seconds).",
    "timeout": "bk.Duration" = "Time after which a check fails.",
    "start_period": "bk.Duration" = "Start-up time during which failures do not count.",
    "start_interval": "bk.Duration" = "Time between checks during the start period.",
    "retries": "integer" = "Consecutive failures before the container is unhealthy.",
]);

/// `bk.cache` options.
pub const CACHE: OptionTable = options!("bk.CacheOptions", [
    "id": "string" = "Cache id (default: the destination as written).",
    "sharing": "\"shared\"|\"private\"|\"locked\"" = "How concurrent builds share the cache (default \"shared\").",
    "from": "bk.State" = "A state that seeds the cache.",
    "selector": "string" = "Sub-path of from that seeds the cache.",
    "readonly": "boolean" = "Mount read-only.",
]);

/// `bk.secret` options.
pub const SECRET: OptionTable = options!("bk.SecretOptions", [
    "id": "string" = "Secret id (default: the last component of the destination).",
    "uid": "integer" = "Owner uid (default 0).",
    "gid": "integer" = "Owner gid (default 0).",
    "mode": "bk.Mode" = "File mode (default \"0400\").",
    "optional": "boolean" = "A missing secret is not an error.",
]);

/// `bk.ssh` options.
pub const SSH: OptionTable = options!("bk.SshOptions", [
    "dest": "string" = "Socket path (default \"/run/ssh\").",
    "id": "string" = "SSH agent id (default \"default\").",
    "uid": "integer" = "Owner uid (default 0).",
    "gid": "integer" = "Owner gid (default 0).",
    "mode": "bk.Mode" = "Socket mode (default \"0600\").",
    "optional": "boolean" = "A missing agent is not an error.",
]);

/// `bk.tmpfs` options.
pub const TMPFS: OptionTable = options!("bk.TmpfsOptions", [
    "size": "integer" = "Size limit in bytes (0: BuildKit's default).",
]);

/// `bk.bind` options.
pub const BIND: OptionTable = options!("bk.BindOptions", [
    "selector": "string" = "Sub-path of the state to mount (default: all of it).",
    "readonly": "boolean" = "Mount read-only (default true).",
    "output": "boolean" = "With readonly = false: keep the changes as an output (default true).",
]);

/// `st:run` options.
pub const RUN: OptionTable = options!("bk.RunOptions", [
    "cwd": "string" = "Working directory (relative: against the state's).",
    "env": "bk.Env" = "Environment variables for this run only.",
    "user": "string" = "User of this run (name, uid, name:group, uid:gid).",
    "network": "\"sandbox\"|\"host\"|\"none\"" = "Network namespace (default \"sandbox\").",
    "security": "\"sandbox\"|\"insecure\"" = "\"insecure\" runs privileged (default \"sandbox\").",
    "hostname": "string" = "Host name of the container.",
    "mounts": "bk.Mount[]" = "Extra mounts: bk.cache, bk.secret, bk.ssh, bk.tmpfs, bk.bind.",
    "valid_exit_codes": "integer|integer[]" = "Exit codes that count as success (default only 0).",
    "extra_hosts": "table<string, string>" = "/etc/hosts entries: name = IP address.",
    "secret_env": "table<string, string|{id?: string, optional?: boolean}>" = "Build secrets as environment variables: VAR = secret id.",
    "ulimits": "table<string, integer|{soft?: integer, hard?: integer}>" = "Resource limits (nofile, nproc, …).",
    "readonly_root": "boolean" = "Mount the root filesystem read-only.",
]);

/// `st:copy` options.
pub const COPY: OptionTable = options!("bk.CopyOptions", [
    "mode": "bk.Mode" = "Mode of the copied files (octal string such as \"0755\").",
    "owner": "bk.Owner" = "Owner of the copied files (\"user\", \"user:group\", uid, {user=, group=}).",
    "include": "string|string[]" = "Only copy paths matching these patterns.",
    "exclude": "string|string[]" = "Do not copy paths matching these patterns.",
    "follow_symlink": "boolean" = "Follow a symlink at src (default true).",
    "copy_dir_contents": "boolean" = "Copy a directory's contents rather than the directory (default true).",
    "create_dest_path": "boolean" = "Create missing parents of dest (default true).",
    "allow_wildcard": "boolean" = "Treat src as a wildcard pattern (default true).",
    "allow_empty_wildcard": "boolean" = "A wildcard that matches nothing is not an error (default true).",
    "attempt_unpack": "boolean" = "Unpack a source archive (Dockerfile ADD behaviour).",
]);

/// `st:mkdir` options.
pub const MKDIR: OptionTable = options!("bk.MkdirOptions", [
    "mode": "bk.Mode" = "Directory mode (default \"0755\").",
    "make_parents": "boolean" = "Create missing parents (default true).",
    "owner": "bk.Owner" = "Owner (default root).",
]);

/// `st:mkfile` options.
pub const MKFILE: OptionTable = options!("bk.MkfileOptions", [
    "mode": "bk.Mode" = "File mode (default \"0644\").",
    "owner": "bk.Owner" = "Owner (default root).",
]);

/// `st:rm` options.
pub const RM: OptionTable = options!("bk.RmOptions", [
    "allow_not_found": "boolean" = "A missing path is not an error.",
    "allow_wildcard": "boolean" = "Treat path as a wildcard pattern.",
]);

/// `st:symlink` options.
pub const SYMLINK: OptionTable = options!("bk.SymlinkOptions", [
    "owner": "bk.Owner" = "Owner of the link (default root).",
]);

/// `st:with_metadata` table.
pub const METADATA: OptionTable = options!("bk.Metadata", [
    "description": "string" = "The step's name in BuildKit's progress output.",
    "progress_group": "string" = "Group steps in the progress output.",
    "ignore_cache": "boolean" = "Always re-run this step.",
]);

/// The table form of an owner.
pub const OWNER: OptionTable = options!("bk.OwnerTable", [
    "user": "string|integer" = "User name or uid.",
    "group": "string|integer" = "Group name or gid.",
]);

/// The table form of a platform.
pub const PLATFORM: OptionTable = options!("bk.PlatformTable", [
    "os" required: "string" = "Operating system (linux).",
    "arch" required: "string" = "Architecture (amd64, arm64, …).",
    "variant": "string" = "Architecture variant (v7).",
]);

/// Every option table, in the order the stubs list them.
pub const TABLES: &[OptionTable] = &[
    IMAGE,
    LOCAL,
    GIT,
    HTTP,
    RUN,
    COPY,
    MKDIR,
    MKFILE,
    RM,
    SYMLINK,
    METADATA,
    CACHE,
    SECRET,
    SSH,
    TMPFS,
    BIND,
    EXPORT,
    HEALTHCHECK,
    OWNER,
    PLATFORM,
];

/// Type aliases the stubs define.
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("bk.Mode", "string|integer", "A file mode: an octal string such as \"0755\" (Lua has no octal literals)."),
    (
        "bk.Owner",
        "string|integer|bk.OwnerTable",
        "An owner: \"user\", \"user:group\", a uid, or {user = …, group = …}.",
    ),
    ("bk.Env", "table<string, string>|string[]", "Environment: {NAME = \"value\"} or {\"NAME=value\", …}."),
    ("bk.Duration", "string|integer", "A duration: \"30s\", \"1m30s\", \"500ms\", or a number of seconds."),
    (
        "bk.PlatformSpec",
        "string|bk.Platform|bk.PlatformTable",
        "A platform: \"linux/arm64\", {os = …, arch = …} or bk.platform(…).",
    ),
];

/// The functions of the `bk` table.
pub const FUNCTIONS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "image",
        params: &[p!("ref": "string"), p!("opts"?: "bk.ImageOptions")],
        returns: Some("bk.State"),
        doc: "A container image, e.g. bk.image(\"alpine:3.19\").",
    },
    FunctionDoc { name: "scratch", params: &[], returns: Some("bk.State"), doc: "The empty filesystem." },
    FunctionDoc {
        name: "local_",
        params: &[p!("name": "string"), p!("opts"?: "bk.LocalOptions")],
        returns: Some("bk.State"),
        doc: "A directory sent by the client; the build context is bk.local_(\"context\").",
    },
    FunctionDoc {
        name: "git",
        params: &[p!("url": "string"), p!("opts"?: "bk.GitOptions")],
        returns: Some("bk.State"),
        doc: "A git repository.",
    },
    FunctionDoc {
        name: "http",
        params: &[p!("url": "string"), p!("opts"?: "bk.HttpOptions")],
        returns: Some("bk.State"),
        doc: "A file downloaded over HTTP or HTTPS.",
    },
    FunctionDoc {
        name: "https",
        params: &[p!("url": "string"), p!("opts"?: "bk.HttpOptions")],
        returns: Some("bk.State"),
        doc: "A file downloaded over HTTPS (plain http:// is refused).",
    },
    FunctionDoc {
        name: "merge",
        params: &[p!("...": "bk.State|bk.State[]")],
        returns: Some("bk.State"),
        doc: "Stacks states, later ones on top (BuildKit v0.10+).",
    },
    FunctionDoc {
        name: "diff",
        params: &[p!("lower": "bk.State"), p!("upper": "bk.State")],
        returns: Some("bk.State"),
        doc: "The changes from lower to upper (BuildKit v0.10+).",
    },
    FunctionDoc {
        name: "export",
        params: &[p!("state": "bk.State"), p!("opts"?: "bk.ExportOptions")],
        returns: None,
        doc: "Marks the build result and its image config; call it exactly once.",
    },
    FunctionDoc {
        name: "exported",
        params: &[p!("target"?: "string")],
        returns: Some("table?"),
        doc: "In test files (luakit test): the image config the last bk.export (or the one of the named target) made, as a table (nil before any export).",
    },
    FunctionDoc {
        name: "platform",
        params: &[p!("os": "string"), p!("arch"?: "string"), p!("variant"?: "string")],
        returns: Some("bk.Platform"),
        doc: "A platform: bk.platform(\"linux\", \"arm64\") or bk.platform(\"linux/arm64\").",
    },
    FunctionDoc {
        name: "arg",
        params: &[p!("name": "string"), p!("default"?: "any")],
        returns: Some("string|any"),
        doc: "A build argument (--arg / --build-arg), or default when not given.",
    },
    FunctionDoc {
        name: "target_platform",
        params: &[],
        returns: Some("bk.Platform"),
        doc: "The platform being built for.",
    },
    FunctionDoc {
        name: "build_platform",
        params: &[],
        returns: Some("bk.Platform"),
        doc: "The platform of the machine that builds.",
    },
    FunctionDoc {
        name: "cache",
        params: &[p!("dest": "string"), p!("opts"?: "bk.CacheOptions")],
        returns: Some("bk.Mount"),
        doc: "A persistent cache directory mount.",
    },
    FunctionDoc {
        name: "secret",
        params: &[p!("dest": "string"), p!("opts"?: "bk.SecretOptions")],
        returns: Some("bk.Mount"),
        doc: "A build secret mounted as a file.",
    },
    FunctionDoc {
        name: "ssh",
        params: &[p!("opts"?: "bk.SshOptions")],
        returns: Some("bk.Mount"),
        doc: "An SSH agent socket; sets SSH_AUTH_SOCK.",
    },
    FunctionDoc {
        name: "tmpfs",
        params: &[p!("dest": "string"), p!("opts"?: "bk.TmpfsOptions")],
        returns: Some("bk.Mount"),
        doc: "An in-memory filesystem.",
    },
    FunctionDoc {
        name: "bind",
        params: &[p!("state": "bk.State"), p!("dest": "string"), p!("opts"?: "bk.BindOptions")],
        returns: Some("bk.Mount"),
        doc: "Mounts a state; writable with readonly = false.",
    },
];

/// The methods of a state.
pub const METHODS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "run",
        params: &[p!("cmd": "string|string[]"), p!("opts"?: "bk.RunOptions")],
        returns: Some("bk.State"),
        doc: "Runs a command (a string runs with /bin/sh -c) and returns the root filesystem after it.",
    },
    FunctionDoc {
        name: "copy",
        params: &[p!("from": "bk.State"), p!("src": "string"), p!("dest": "string"), p!("opts"?: "bk.CopyOptions")],
        returns: Some("bk.State"),
        doc: "Copies src from another state to dest, as Dockerfile COPY does.",
    },
    FunctionDoc {
        name: "mkdir",
        params: &[p!("path": "string"), p!("opts"?: "bk.MkdirOptions")],
        returns: Some("bk.State"),
        doc: "Creates a directory.",
    },
    FunctionDoc {
        name: "mkfile",
        params: &[p!("path": "string"), p!("data": "string"), p!("opts"?: "bk.MkfileOptions")],
        returns: Some("bk.State"),
        doc: "Creates a file with the given contents.",
    },
    FunctionDoc {
        name: "rm",
        params: &[p!("path": "string"), p!("opts"?: "bk.RmOptions")],
        returns: Some("bk.State"),
        doc: "Removes a path.",
    },
    FunctionDoc {
        name: "symlink",
        params: &[p!("oldpath": "string"), p!("newpath": "string"), p!("opts"?: "bk.SymlinkOptions")],
        returns: Some("bk.State"),
        doc: "Creates a symlink at newpath pointing to oldpath (BuildKit v0.17+).",
    },
    FunctionDoc {
        name: "with_env",
        params: &[p!("key": "string|bk.Env"), p!("value"?: "string")],
        returns: Some("bk.State"),
        doc: "Sets environment variables for later runs and the image.",
    },
    FunctionDoc {
        name: "with_workdir",
        params: &[p!("path": "string")],
        returns: Some("bk.State"),
        doc: "Sets the working directory (relative: against the current one).",
    },
    FunctionDoc {
        name: "with_user",
        params: &[p!("user": "string")],
        returns: Some("bk.State"),
        doc: "Sets the user of later runs and of the image.",
    },
    FunctionDoc {
        name: "with_metadata",
        params: &[p!("meta": "bk.Metadata")],
        returns: Some("bk.State"),
        doc: "Sets the step's progress name, group and cache behaviour.",
    },
    FunctionDoc {
        name: "output",
        params: &[p!("dest": "string")],
        returns: Some("bk.State"),
        doc: "On a run result: the state of the writable mount at dest.",
    },
    FunctionDoc {
        name: "get_env",
        params: &[p!("key": "string")],
        returns: Some("string?"),
        doc: "The value of an environment variable, or nil.",
    },
    FunctionDoc { name: "get_workdir", params: &[], returns: Some("string"), doc: "The working directory." },
    FunctionDoc { name: "get_user", params: &[], returns: Some("string"), doc: "The user, \"\" when none was set." },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(v: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
        let mut v: Vec<&str> = v.into_iter().collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn functions_and_methods_are_the_ones_the_runtime_registers() {
        assert_eq!(sorted(FUNCTIONS.iter().map(|f| f.name)), sorted(crate::api::BK_FUNCTIONS.iter().copied()));
        assert_eq!(sorted(METHODS.iter().map(|f| f.name)), sorted(crate::userdata::STATE_METHODS.iter().copied()));
    }

    #[test]
    fn names_follow_options_and_classes_are_unique() {
        let mut classes = Vec::new();
        for t in TABLES {
            let names: Vec<&str> = t.options.iter().map(|o| o.name).collect();
            assert_eq!(names, t.names, "{}", t.class);
            classes.push(t.class);
        }
        let n = classes.len();
        classes.sort_unstable();
        classes.dedup();
        assert_eq!(classes.len(), n);
    }

    #[test]
    fn every_option_class_is_used_by_a_signature_or_a_field() {
        let mut types: Vec<&str> =
            FUNCTIONS.iter().chain(METHODS).flat_map(|f| f.params.iter().map(|p| p.ty)).collect();
        types.extend(TABLES.iter().flat_map(|t| t.options.iter().map(|o| o.ty)));
        types.extend(ALIASES.iter().map(|a| a.1));
        for t in TABLES {
            assert!(types.iter().any(|ty| ty.split('|').any(|part| part == t.class)), "{} is never used", t.class);
        }
    }
}
