//! Source constructors: images, local directories, git, HTTP, OCI layouts,
//! and the graph operations merge and diff.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::GraphError;
use crate::op::{DiffOp, MergeOp, Op, SourceOp};
use crate::state::{DEFAULT_PATH, Node, OpOptions, Output, State};

/// How BuildKit resolves an image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    /// Use a local copy if there is one, else pull.
    #[default]
    Default,
    /// Always ask the registry, even when a local copy exists (`pull`).
    Always,
    /// Only use a local copy.
    Never,
}

impl ResolveMode {
    /// The `image.resolvemode` attribute value, or `None` for the default.
    pub fn attr(self) -> Option<&'static str> {
        match self {
            ResolveMode::Default => None,
            ResolveMode::Always => Some("pull"),
            ResolveMode::Never => Some("local"),
        }
    }
}

/// Options of [`image`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageOptions {
    /// How BuildKit finds the image: local copy first, always pull, or local only.
    pub resolve_mode: ResolveMode,
    /// Start the state with `PATH` set to [`DEFAULT_PATH`] (as the Dockerfile
    /// frontend does when the image config is unknown).
    pub default_path: bool,
    /// The image's config, when resolved: env, working dir and user the state starts with.
    pub config_env: Option<Vec<String>>,
    /// Working dir from the image config.
    pub config_dir: Option<String>,
    /// User from the image config.
    pub config_user: Option<String>,
    /// Per-op settings (platform override, metadata, locations).
    pub op: OpOptions,
}

pub use crate::reference::normalize_image_ref;

/// A container image as a source.
pub fn image(reference: &str, opts: ImageOptions) -> Result<State, GraphError> {
    let normalized = normalize_image_ref(reference)?;
    let mut attrs = BTreeMap::new();
    if let Some(mode) = opts.resolve_mode.attr() {
        attrs.insert("image.resolvemode".to_string(), mode.to_string());
    }
    let node = source_node(format!("docker-image://{normalized}"), attrs, Vec::new(), opts.op);
    let mut st = State::from_node(node);
    if let Some(env) = &opts.config_env {
        for kv in env {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            st = st.with_env(k, v);
        }
    } else if opts.default_path {
        st = st.with_env("PATH", DEFAULT_PATH);
    }
    if let Some(dir) = &opts.config_dir
        && !dir.is_empty()
    {
        st = st.with_dir(dir);
    }
    if let Some(user) = &opts.config_user {
        st = st.with_user(user);
    }
    Ok(st)
}

fn source_node(identifier: String, attrs: BTreeMap<String, String>, extra_caps: Vec<String>, op: OpOptions) -> Node {
    let mut node = Node::new(Op::Source(SourceOp { identifier, attrs, extra_caps }));
    node.constraints.platform = op.platform.map(Box::new);
    node.metadata = op.metadata;
    node.locations = op.locations;
    node
}

/// Options of [`local`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalOptions {
    /// Only transfer paths matching these patterns.
    pub include_patterns: Vec<String>,
    /// Do not transfer paths matching these patterns.
    pub exclude_patterns: Vec<String>,
    /// Only follow these paths.
    pub follow_paths: Vec<String>,
    /// A hint for sharing the transfer cache between builds.
    pub shared_key_hint: String,
    /// Client session id (frontend mode); when set, no unique id is recorded.
    pub session_id: Option<String>,
    /// The `local.unique` id (ignored when a session id is given).
    pub unique_id: String,
    /// Differ mode (`none`, `metadata`).
    pub differ: Option<String>,
    /// Per-op settings.
    pub op: OpOptions,
}

fn json_list(items: &[String]) -> String {
    let mut s = String::from("[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        for c in it.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                '\t' => s.push_str("\\t"),
                '<' => s.push_str("\\u003c"),
                '>' => s.push_str("\\u003e"),
                '&' => s.push_str("\\u0026"),
                c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push(']');
    s
}

/// A directory of the client (the build context) as a source.
pub fn local(name: &str, opts: LocalOptions) -> Result<State, GraphError> {
    if name.is_empty() {
        return Err(GraphError::EmptyName { what: "local source" });
    }
    let mut attrs = BTreeMap::new();
    if !opts.include_patterns.is_empty() {
        attrs.insert("local.includepattern".to_string(), json_list(&opts.include_patterns));
    }
    if !opts.exclude_patterns.is_empty() {
        attrs.insert("local.excludepatterns".to_string(), json_list(&opts.exclude_patterns));
    }
    if !opts.follow_paths.is_empty() {
        attrs.insert("local.followpaths".to_string(), json_list(&opts.follow_paths));
    }
    if !opts.shared_key_hint.is_empty() {
        attrs.insert("local.sharedkeyhint".to_string(), opts.shared_key_hint.clone());
    }
    if let Some(d) = &opts.differ {
        attrs.insert("local.differ".to_string(), d.clone());
    }
    match &opts.session_id {
        Some(sid) => {
            attrs.insert("local.session".to_string(), sid.clone());
        }
        None => {
            attrs.insert("local.unique".to_string(), opts.unique_id.clone());
        }
    }
    let node = source_node(format!("local://{name}"), attrs, Vec::new(), opts.op);
    Ok(State::from_node(node))
}

/// Options of [`git`].
#[derive(Debug, Clone, PartialEq)]
pub struct GitOptions {
    /// Branch, tag or commit.
    pub reference: String,
    /// Keep the `.git` directory.
    pub keep_git_dir: bool,
    /// Sub-directory of the repository.
    pub subdir: String,
    /// Secret holding an HTTP auth token.
    pub auth_token_secret: String,
    /// Secret holding an HTTP auth header.
    pub auth_header_secret: String,
    /// Whether an auth secret was named explicitly (then the
    /// `source.git.httpauth` cap is recorded, if a secret name is left).
    pub explicit_auth: bool,
    /// `known_hosts` entries for SSH remotes; each is recorded with exactly
    /// one trailing newline, and they are concatenated in order.
    pub known_ssh_hosts: Vec<String>,
    /// SSH agent id for SSH remotes.
    pub mount_ssh_sock: String,
    /// Per-op settings.
    pub op: OpOptions,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            reference: String::new(),
            keep_git_dir: false,
            subdir: String::new(),
            auth_token_secret: "GIT_AUTH_TOKEN".to_string(),
            auth_header_secret: "GIT_AUTH_HEADER".to_string(),
            explicit_auth: false,
            known_ssh_hosts: Vec::new(),
            mount_ssh_sock: String::new(),
            op: OpOptions::default(),
        }
    }
}

/// The transport of a git remote, as BuildKit's `gitutil.ParseProtocol`
/// tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitProtocol {
    /// Plain HTTP (`http://`).
    Http,
    /// HTTPS (`https://`).
    Https,
    /// `ssh://`, or an scp-like `user@host:path`.
    Ssh,
    /// Git's own protocol (`git://`).
    Git,
    /// Anything else (fetched as `https://`).
    Unknown,
}

/// Whether `s` is an scp-like SSH address `user@host:path`, exactly as
/// BuildKit's `sshutil.IsImplicitSSHTransport` decides it: the Go pattern
/// `^[a-zA-Z0-9-_]+@[a-zA-Z0-9-.]+:.*$`, that is a user of ASCII letters,
/// digits, `-` and `_`; a host of ASCII letters, digits, `-` and `.`; a
/// colon; then anything without a newline (`.` does not match `\n` and `$`
/// is the end of the text).
pub fn is_implicit_ssh_transport(s: &str) -> bool {
    let Some((user, rest)) = s.split_once('@') else { return false };
    let Some((host, path)) = rest.split_once(':') else { return false };
    !user.is_empty()
        && user.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !path.contains('\n')
}

/// Splits a git remote as BuildKit's `gitutil.ParseProtocol` does: a known
/// scheme prefix is removed; without one, an scp-like address is SSH; for
/// SSH, everything up to the first `@` (the user) is removed.
///
/// Go tries the prefixes in map order and strips every one that matches, so
/// a remote that starts with two schemes (`https://http://…`) has no stable
/// meaning there; here only the first scheme is stripped.
pub fn parse_git_protocol(remote: &str) -> (&str, GitProtocol) {
    const PREFIXES: [(&str, GitProtocol); 4] = [
        ("http://", GitProtocol::Http),
        ("https://", GitProtocol::Https),
        ("git://", GitProtocol::Git),
        ("ssh://", GitProtocol::Ssh),
    ];
    let (mut rest, mut proto) = (remote, GitProtocol::Unknown);
    for (prefix, p) in PREFIXES {
        if let Some(r) = remote.strip_prefix(prefix) {
            (rest, proto) = (r, p);
            break;
        }
    }
    if proto == GitProtocol::Unknown && is_implicit_ssh_transport(rest) {
        proto = GitProtocol::Ssh;
    }
    if proto == GitProtocol::Ssh
        && let Some((_user, host_and_path)) = rest.split_once('@')
    {
        rest = host_and_path;
    }
    (rest, proto)
}

/// A git repository as a source; URL forms as BuildKit's `client/llb`
/// (`llb.Git`) handles them.
///
/// `url` may carry a fragment `#ref` or `#ref:subdir`. Without the `reference`
/// and `subdir` options the fragment is kept as written, as `llb.Git(url, "")`
/// keeps it; with either option the two are merged (an option wins over its
/// part of the fragment) into the ref argument of `llb.Git(url without the
/// fragment, "ref[:subdir]")`.
pub fn git(url: &str, opts: GitOptions) -> Result<State, GraphError> {
    if url.is_empty() {
        return Err(GraphError::EmptyName { what: "git URL" });
    }
    let (url_no_frag, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    // The ref argument of llb.Git: "ref", "ref:subdir" or ":subdir".
    let ref_arg: Option<String> = if opts.reference.is_empty() && opts.subdir.is_empty() {
        fragment.map(str::to_string)
    } else {
        let (frag_ref, frag_subdir) = fragment.map_or(("", ""), |f| f.split_once(':').unwrap_or((f, "")));
        let reference = if opts.reference.is_empty() { frag_ref } else { opts.reference.as_str() };
        let subdir = if opts.subdir.is_empty() { frag_subdir } else { opts.subdir.as_str() };
        let mut arg = reference.to_string();
        if !subdir.is_empty() {
            arg.push(':');
            arg.push_str(subdir);
        }
        Some(arg)
    };
    let (remote, proto) = parse_git_protocol(url_no_frag);
    if remote.is_empty() {
        return Err(GraphError::InvalidGitUrl { url: url.to_string(), reason: "no host or path".to_string() });
    }
    // SSH remotes: `host:path` becomes `host/path`, like the http(s) form
    // (and `host:port/path` becomes `host/port/path`: only the first colon).
    let mut id = match (proto, remote.split_once(':')) {
        (GitProtocol::Ssh, Some((host, path))) => format!("{host}/{path}"),
        _ => remote.to_string(),
    };
    if let Some(arg) = ref_arg {
        id.push('#');
        id.push_str(&arg);
    }
    let full_url =
        if proto == GitProtocol::Unknown { format!("https://{url_no_frag}") } else { url_no_frag.to_string() };
    let mut attrs = BTreeMap::new();
    let mut caps = Vec::new();
    if opts.keep_git_dir {
        attrs.insert("git.keepgitdir".to_string(), "true".to_string());
    }
    attrs.insert("git.fullurl".to_string(), full_url);
    let mut auth_cap = false;
    if !opts.auth_token_secret.is_empty() {
        attrs.insert("git.authtokensecret".to_string(), opts.auth_token_secret.clone());
        auth_cap |= opts.explicit_auth;
    }
    if !opts.auth_header_secret.is_empty() {
        attrs.insert("git.authheadersecret".to_string(), opts.auth_header_secret.clone());
        auth_cap |= opts.explicit_auth;
    }
    if auth_cap {
        caps.push("source.git.httpauth".to_string());
    }
    if proto == GitProtocol::Ssh {
        if !opts.known_ssh_hosts.is_empty() {
            let mut known = String::new();
            for entry in &opts.known_ssh_hosts {
                known.push_str(entry.strip_suffix('\n').unwrap_or(entry));
                known.push('\n');
            }
            attrs.insert("git.knownsshhosts".to_string(), known);
        }
        caps.push("source.git.knownsshhosts".to_string());
        let sock = if opts.mount_ssh_sock.is_empty() { "default".to_string() } else { opts.mount_ssh_sock.clone() };
        attrs.insert("git.mountsshsock".to_string(), sock);
        caps.push("source.git.mountsshsock".to_string());
    }
    let node = source_node(format!("git://{id}"), attrs, caps, opts.op);
    Ok(State::from_node(node))
}

/// Options of [`http`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpOptions {
    /// The digest the download must have (`sha256:…`); BuildKit fails
    /// the op when it differs. `None` accepts any content.
    pub checksum: Option<String>,
    /// File name in the resulting state.
    pub filename: Option<String>,
    /// The permission bits of the downloaded file; `None` for BuildKit's default (0600).
    pub chmod: Option<u32>,
    /// The numeric owner of the downloaded file; `None` for root.
    pub uid: Option<u32>,
    /// The numeric group of the downloaded file; `None` for root.
    pub gid: Option<u32>,
    /// Extra request headers, name → value.
    pub headers: BTreeMap<String, String>,
    /// Secret holding an `Authorization` header value.
    pub auth_header_secret: Option<String>,
    /// Per-op settings.
    pub op: OpOptions,
}

/// A file downloaded over HTTP(S) as a source.
pub fn http(url: &str, opts: HttpOptions) -> Result<State, GraphError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() <= "https://".len() {
        return Err(GraphError::InvalidHttpUrl { url: url.to_string() });
    }
    let mut attrs = BTreeMap::new();
    if let Some(c) = &opts.checksum {
        attrs.insert("http.checksum".to_string(), c.clone());
    }
    if let Some(f) = &opts.filename {
        attrs.insert("http.filename".to_string(), f.clone());
    }
    if let Some(m) = opts.chmod {
        attrs.insert("http.perm".to_string(), format!("{m:#o}").replacen("0o", "0", 1));
    }
    if let Some(u) = opts.uid {
        attrs.insert("http.uid".to_string(), u.to_string());
    }
    if let Some(g) = opts.gid {
        attrs.insert("http.gid".to_string(), g.to_string());
    }
    for (k, v) in &opts.headers {
        attrs.insert(format!("http.header.{k}"), v.clone());
    }
    if let Some(s) = &opts.auth_header_secret {
        attrs.insert("http.authheadersecret".to_string(), s.clone());
    }
    let node = source_node(url.to_string(), attrs, Vec::new(), opts.op);
    Ok(State::from_node(node))
}

/// An image in an OCI layout store of the client, as a source.
pub fn oci_layout(reference: &str, store_id: &str, session_id: &str, op: OpOptions) -> Result<State, GraphError> {
    let normalized = normalize_image_ref(reference)?;
    let mut attrs = BTreeMap::new();
    if !store_id.is_empty() {
        attrs.insert("oci.store".to_string(), store_id.to_string());
    }
    if !session_id.is_empty() {
        attrs.insert("oci.session".to_string(), session_id.to_string());
    }
    let node = source_node(format!("oci-layout://{normalized}"), attrs, Vec::new(), op);
    Ok(State::from_node(node))
}

/// Stacks states, later ones on top. Needs at least two.
pub fn merge(states: &[State], op: OpOptions) -> Result<State, GraphError> {
    if states.len() < 2 {
        return Err(GraphError::MergeTooFew { given: states.len() });
    }
    // Scratch adds nothing to a merge (as BuildKit's client filters it).
    let inputs: Vec<Option<Output>> = states.iter().filter_map(|s| s.output().cloned()).map(Some).collect();
    match inputs.len() {
        0 => return Ok(states[0].with_output(None)),
        1 => {
            let only = states.iter().find(|s| s.output().is_some()).expect("one non-scratch state");
            return Ok(only.clone());
        }
        _ => {}
    }
    let mut node = Node::new(Op::Merge(MergeOp { inputs }));
    node.metadata = op.metadata;
    node.locations = op.locations;
    node.constraints.platform = op.platform.map(Box::new);
    Ok(states[0].with_output(Some(Output { node: Arc::new(node), index: 0 })))
}

/// The changes from `lower` to `upper`, as a state of their own.
pub fn diff(lower: &State, upper: &State, op: OpOptions) -> State {
    // Diff from scratch is the upper state itself (as BuildKit's client has it).
    if lower.output().is_none() {
        return upper.clone();
    }
    let mut node = Node::new(Op::Diff(DiffOp { lower: lower.output().cloned(), upper: upper.output().cloned() }));
    node.metadata = op.metadata;
    node.locations = op.locations;
    node.constraints.platform = op.platform.map(Box::new);
    upper.with_output(Some(Output { node: Arc::new(node), index: 0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs_normalize_like_docker() {
        let cases = [
            ("alpine:3.19", "docker.io/library/alpine:3.19"),
            ("alpine", "docker.io/library/alpine:latest"),
            ("user/app", "docker.io/user/app:latest"),
            ("ghcr.io/o/r:v1", "ghcr.io/o/r:v1"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
        ];
        for (i, o) in cases {
            assert_eq!(normalize_image_ref(i).expect(i), o);
        }
        let d = format!("alpine@sha256:{}", "a".repeat(64));
        assert_eq!(normalize_image_ref(&d).expect("digest"), format!("docker.io/library/{d}"));
        for bad in ["", "Alpine", "alpine:", "a b", "alpine@sha256:xyz", "alpine:-x", "/x"] {
            assert!(normalize_image_ref(bad).is_err(), "{bad:?} should be refused");
        }
    }

    fn git_source(url: &str, opts: GitOptions) -> SourceOp {
        let st = git(url, opts).unwrap_or_else(|e| panic!("{url}: {e}"));
        let Op::Source(src) = &st.output().expect("node").node.op else { panic!("not a source") };
        src.clone()
    }

    #[test]
    fn git_protocols_parse_like_gitutil() {
        // The table of gitutil's own ParseProtocol test, plus the other forms.
        let cases = [
            ("http://github.com/moby/buildkit", GitProtocol::Http, "github.com/moby/buildkit"),
            ("https://github.com/moby/buildkit", GitProtocol::Https, "github.com/moby/buildkit"),
            ("git@github.com:moby/buildkit.git", GitProtocol::Ssh, "github.com:moby/buildkit.git"),
            (
                "nonstandarduser@example.com:/srv/repos/weird/project.git",
                GitProtocol::Ssh,
                "example.com:/srv/repos/weird/project.git",
            ),
            (
                "ssh://root@subdomain.example.hostname:2222/root/my/really/weird/path/foo.git",
                GitProtocol::Ssh,
                "subdomain.example.hostname:2222/root/my/really/weird/path/foo.git",
            ),
            ("git://host.xz:1234/path/to/repo.git", GitProtocol::Git, "host.xz:1234/path/to/repo.git"),
            ("ssh://github.com/o/r.git", GitProtocol::Ssh, "github.com/o/r.git"),
            ("github.com/o/r", GitProtocol::Unknown, "github.com/o/r"),
            ("github.com:o/r", GitProtocol::Unknown, "github.com:o/r"),
            ("user.name@host:o/r", GitProtocol::Unknown, "user.name@host:o/r"),
            ("git@host_x:o/r", GitProtocol::Unknown, "git@host_x:o/r"),
            ("git@host:o/r\nx", GitProtocol::Unknown, "git@host:o/r\nx"),
            ("git-user_1@my-host.example:", GitProtocol::Ssh, "my-host.example:"),
            ("HTTPS://github.com/o/r", GitProtocol::Unknown, "HTTPS://github.com/o/r"),
        ];
        for (url, proto, remote) in cases {
            assert_eq!(parse_git_protocol(url), (remote, proto), "{url:?}");
        }
    }

    #[test]
    fn git_identifiers_follow_llb_git() {
        let d = GitOptions::default;
        let with_ref = |r: &str| GitOptions { reference: r.into(), ..Default::default() };
        // (url, options, identifier, git.fullurl)
        let cases = [
            (
                "https://github.com/moby/buildkit.git",
                with_ref("v0.11.6"),
                "github.com/moby/buildkit.git#v0.11.6",
                "https://github.com/moby/buildkit.git",
            ),
            (
                "git@github.com:user/private-repo.git",
                d(),
                "github.com/user/private-repo.git",
                "git@github.com:user/private-repo.git",
            ),
            (
                "git@github.com:user/repo.git",
                with_ref("main"),
                "github.com/user/repo.git#main",
                "git@github.com:user/repo.git",
            ),
            (
                "git@github.com:user/repo.git#v1:docs",
                d(),
                "github.com/user/repo.git#v1:docs",
                "git@github.com:user/repo.git",
            ),
            ("ssh://git@github.com/o/r.git", d(), "github.com/o/r.git", "ssh://git@github.com/o/r.git"),
            ("ssh://git@host:2222/o/r.git", with_ref("v2"), "host/2222/o/r.git#v2", "ssh://git@host:2222/o/r.git"),
            ("github.com/o/r", d(), "github.com/o/r", "https://github.com/o/r"),
            ("github.com/o/r#dev", d(), "github.com/o/r#dev", "https://github.com/o/r"),
            ("https://h/o/r.git#", d(), "h/o/r.git#", "https://h/o/r.git"),
            ("https://h/o/r.git#v1:", d(), "h/o/r.git#v1:", "https://h/o/r.git"),
            (
                "https://h/o/r.git#v1",
                GitOptions { subdir: "docs".into(), ..d() },
                "h/o/r.git#v1:docs",
                "https://h/o/r.git",
            ),
            ("https://h/o/r.git#v1:a", with_ref("v2"), "h/o/r.git#v2:a", "https://h/o/r.git"),
            ("https://h/o/r.git", GitOptions { subdir: "docs".into(), ..d() }, "h/o/r.git#:docs", "https://h/o/r.git"),
            (
                "git://host.xz:1234/path/to/repo.git",
                d(),
                "host.xz:1234/path/to/repo.git",
                "git://host.xz:1234/path/to/repo.git",
            ),
            // The fragment is the ref argument of llb.Git(url, ref): Go's
            // llb.Git(whole, "") would turn this fragment's ':' into '/'.
            (
                "ssh://git@github.com/o/r.git#main:sub",
                d(),
                "github.com/o/r.git#main:sub",
                "ssh://git@github.com/o/r.git",
            ),
        ];
        for (url, opts, id, full) in cases {
            let src = git_source(url, opts);
            assert_eq!(src.identifier, format!("git://{id}"), "{url}");
            assert_eq!(src.attrs["git.fullurl"], full, "{url}");
        }
    }

    #[test]
    fn git_attributes_and_caps_follow_llb_git() {
        let ssh = git_source(
            "git@github.com:o/r.git",
            GitOptions { known_ssh_hosts: vec!["a k1\n".into(), "b k2".into()], ..Default::default() },
        );
        assert_eq!(ssh.attrs["git.knownsshhosts"], "a k1\nb k2\n");
        assert_eq!(ssh.attrs["git.mountsshsock"], "default");
        assert_eq!(ssh.extra_caps, ["source.git.knownsshhosts", "source.git.mountsshsock"]);
        let https = git_source(
            "https://h/o/r.git",
            GitOptions { known_ssh_hosts: vec!["x".into()], mount_ssh_sock: "s".into(), ..Default::default() },
        );
        assert!(!https.attrs.contains_key("git.knownsshhosts") && !https.attrs.contains_key("git.mountsshsock"));
        assert!(https.extra_caps.is_empty());
        assert_eq!(https.attrs["git.authtokensecret"], "GIT_AUTH_TOKEN");
        let explicit = |token: &str, header: &str| {
            git_source(
                "https://h/o/r.git",
                GitOptions {
                    auth_token_secret: token.into(),
                    auth_header_secret: header.into(),
                    explicit_auth: true,
                    ..Default::default()
                },
            )
        };
        assert_eq!(explicit("tok", "").extra_caps, ["source.git.httpauth"]);
        assert!(!explicit("tok", "").attrs.contains_key("git.authheadersecret"));
        // No secret left to authenticate with: no cap (as llb.Git).
        assert!(explicit("", "").extra_caps.is_empty());
        assert!(git("https://", GitOptions::default()).is_err());
        assert!(git("", GitOptions::default()).is_err());
    }
}
