//! Source constructors: images, local directories, git, HTTP, OCI layouts,
//! and the graph operations merge and diff.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::GraphError;
use crate::op::{DiffOp, MergeOp, Op, SourceOp};
use crate::platform::Platform;
use crate::state::{DEFAULT_PATH, Node, OpOptions, Output, State};

/// How BuildKit resolves an image reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    /// Use a local copy if there is one, else pull.
    #[default]
    Default,
    /// Always pull.
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
    /// Resolve mode.
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
    node.constraints.platform = op.platform;
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
    /// Whether the auth secrets were named explicitly (adds the auth cap).
    pub explicit_auth: bool,
    /// `known_hosts` contents for SSH remotes.
    pub known_ssh_hosts: String,
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
            known_ssh_hosts: String::new(),
            mount_ssh_sock: String::new(),
            op: OpOptions::default(),
        }
    }
}

/// A git repository as a source; URL forms as BuildKit's client parses them.
pub fn git(url: &str, opts: GitOptions) -> Result<State, GraphError> {
    if url.is_empty() {
        return Err(GraphError::EmptyName { what: "git URL" });
    }
    let (url_no_frag, fragment) = match url.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (url, None),
    };
    let mut full_url = url_no_frag.to_string();
    let (mut remote, proto) = if let Some(r) = url_no_frag.strip_prefix("https://") {
        (r.to_string(), "https")
    } else if let Some(r) = url_no_frag.strip_prefix("http://") {
        (r.to_string(), "http")
    } else if let Some(r) = url_no_frag.strip_prefix("git://") {
        (r.to_string(), "git")
    } else if let Some(r) = url_no_frag.strip_prefix("ssh://") {
        (r.to_string(), "ssh")
    } else if is_scp_like(url_no_frag) {
        (url_no_frag.to_string(), "ssh")
    } else {
        (url_no_frag.to_string(), "unknown")
    };
    if remote.is_empty() {
        return Err(GraphError::InvalidGitUrl { url: url.to_string(), reason: "no host or path".to_string() });
    }
    if proto == "ssh"
        && is_scp_like(&remote)
        && let Some((host, path)) = remote.split_once(':')
    {
        remote = format!("{host}/{path}");
    }
    if proto == "unknown" {
        full_url = format!("https://{full_url}");
    }
    let mut reference = opts.reference.clone();
    let mut subdir = opts.subdir.clone();
    if let Some(f) = fragment {
        let (r, s) = f.split_once(':').unwrap_or((f, ""));
        if reference.is_empty() {
            reference = r.to_string();
        }
        if subdir.is_empty() {
            subdir = s.to_string();
        }
    }
    let mut id = remote;
    if !reference.is_empty() || !subdir.is_empty() {
        id.push('#');
        id.push_str(&reference);
        if !subdir.is_empty() {
            id.push(':');
            id.push_str(&subdir);
        }
    }
    let mut attrs = BTreeMap::new();
    let mut caps = Vec::new();
    if opts.keep_git_dir {
        attrs.insert("git.keepgitdir".to_string(), "true".to_string());
    }
    attrs.insert("git.fullurl".to_string(), full_url);
    if !opts.auth_token_secret.is_empty() {
        attrs.insert("git.authtokensecret".to_string(), opts.auth_token_secret.clone());
    }
    if !opts.auth_header_secret.is_empty() {
        attrs.insert("git.authheadersecret".to_string(), opts.auth_header_secret.clone());
    }
    if opts.explicit_auth {
        caps.push("source.git.httpauth".to_string());
    }
    if proto == "ssh" {
        if !opts.known_ssh_hosts.is_empty() {
            attrs.insert("git.knownsshhosts".to_string(), opts.known_ssh_hosts.clone());
        }
        caps.push("source.git.knownsshhosts".to_string());
        let sock = if opts.mount_ssh_sock.is_empty() { "default".to_string() } else { opts.mount_ssh_sock.clone() };
        attrs.insert("git.mountsshsock".to_string(), sock);
        caps.push("source.git.mountsshsock".to_string());
    }
    let node = source_node(format!("git://{id}"), attrs, caps, opts.op);
    Ok(State::from_node(node))
}

fn is_scp_like(s: &str) -> bool {
    // user@host:path
    let Some((user, rest)) = s.split_once('@') else { return false };
    if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
        return false;
    }
    match rest.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/'),
        None => false,
    }
}

/// Options of [`http`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpOptions {
    /// Expected digest (`sha256:…`).
    pub checksum: Option<String>,
    /// File name in the resulting state.
    pub filename: Option<String>,
    /// File mode.
    pub chmod: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
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
    node.constraints.platform = op.platform;
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
    node.constraints.platform = op.platform;
    upper.with_output(Some(Output { node: Arc::new(node), index: 0 }))
}

/// Parses a platform string (re-exported for convenience).
pub fn platform(s: &str) -> Result<Platform, GraphError> {
    Platform::parse(s)
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

    #[test]
    fn git_urls_parse_like_buildkit() {
        let st = git(
            "https://github.com/moby/buildkit.git",
            GitOptions { reference: "v0.11.6".into(), ..Default::default() },
        )
        .expect("valid");
        let Op::Source(src) = &st.output().expect("node").node.op else { panic!("not a source") };
        assert_eq!(src.identifier, "git://github.com/moby/buildkit.git#v0.11.6");
        assert_eq!(src.attrs["git.fullurl"], "https://github.com/moby/buildkit.git");
        let st = git("git@github.com:user/private-repo.git", GitOptions::default()).expect("valid");
        let Op::Source(src) = &st.output().expect("node").node.op else { panic!("not a source") };
        assert_eq!(src.identifier, "git://git@github.com/user/private-repo.git");
        assert_eq!(src.attrs["git.fullurl"], "git@github.com:user/private-repo.git");
        assert_eq!(src.attrs["git.mountsshsock"], "default");
    }
}
