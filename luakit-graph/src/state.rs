//! Immutable, cheaply cloned states and the nodes they point at.

use std::sync::Arc;

use crate::GraphError;
use crate::builder::{FileStep, Run};
use crate::op::{
    Chown, Constraints, CopyOptions, ExecOp, FileAction, FileOp, HostIp, Meta, Mount, MountKind, NetMode, Op,
    OpMetadata, ProxyEnv, SecretEnv, SecurityMode, SourceLocation, Ulimit,
};
use crate::platform::Platform;

/// The default `PATH` of a Linux container when the image config does not say.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A vertex of the graph: an op with its constraints, metadata and source
/// locations. Shared by every state built on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the op does.
    pub op: Op,
    /// Platform and worker constraints.
    pub constraints: Constraints,
    /// Metadata (custom name, progress group, cache control).
    pub metadata: OpMetadata,
    /// Where in the script the op was created.
    pub locations: Vec<SourceLocation>,
}

impl Node {
    /// A node with default constraints and metadata.
    pub fn new(op: Op) -> Self {
        Node { op, constraints: Constraints::default(), metadata: OpMetadata::default(), locations: Vec::new() }
    }

    /// The outputs of other nodes this node reads, in first-use order, without duplicates.
    pub fn inputs(&self) -> Vec<&Output> {
        let mut out: Vec<&Output> = Vec::new();
        self.for_each_input(|o| out.push(o));
        out
    }

    /// Calls `f` with each output of another node this node reads, in
    /// first-use order, without duplicates (as [`Node::inputs`] lists them,
    /// without allocating).
    pub fn for_each_input<'a>(&'a self, mut f: impl FnMut(&'a Output)) {
        // Few inputs per node: duplicates are found by looking back.
        let mut seen: [Option<&Output>; 8] = [None; 8];
        let mut n = 0usize;
        let mut more: Vec<&Output> = Vec::new();
        let mut each = |o: &'a Output| {
            if seen[..n.min(8)].contains(&Some(o)) || more.contains(&o) {
                return;
            }
            if n < 8 {
                seen[n] = Some(o);
            } else {
                more.push(o);
            }
            n += 1;
            f(o);
        };
        match &self.op {
            Op::Source(_) => {}
            Op::Exec(e) => e.mounts.iter().filter_map(|m| m.source()).for_each(&mut each),
            Op::File(f) => {
                f.base.iter().for_each(&mut each);
                for a in &f.actions {
                    if let FileAction::Copy { from: Some(from), .. } = a {
                        each(from);
                    }
                }
            }
            Op::Merge(m) => m.inputs.iter().flatten().for_each(&mut each),
            Op::Diff(d) => {
                d.lower.iter().for_each(&mut each);
                d.upper.iter().for_each(&mut each);
            }
        }
    }
}

/// Dropping a node drops the nodes only it held; a long chain would recurse
/// once per node and overflow the stack, so the children are taken out and
/// released from a loop instead.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending: Vec<Arc<Node>> = Vec::new();
        take_children(&mut self.op, &mut pending);
        while let Some(child) = pending.pop() {
            // The last owner empties the child before it goes, so its own
            // drop has nothing left to recurse into.
            if let Ok(mut node) = Arc::try_unwrap(child) {
                take_children(&mut node.op, &mut pending);
            }
        }
    }
}

fn take_children(op: &mut Op, out: &mut Vec<Arc<Node>>) {
    let mut take = |o: &mut Option<Output>| {
        if let Some(o) = o.take() {
            out.push(o.node);
        }
    };
    match op {
        Op::Source(_) => {}
        Op::Exec(e) => {
            for m in &mut e.mounts {
                if let MountKind::Bind { source, .. } | MountKind::Cache { source, .. } = &mut m.kind {
                    take(source);
                }
            }
        }
        Op::File(f) => {
            take(&mut f.base);
            for a in &mut f.actions {
                if let FileAction::Copy { from, .. } = a {
                    take(from);
                }
            }
        }
        Op::Merge(m) => m.inputs.iter_mut().for_each(take),
        Op::Diff(d) => {
            take(&mut d.lower);
            take(&mut d.upper);
        }
    }
}

/// Told of each node as a script makes it, so that work on the graph (a
/// marshaller encoding ops on another thread) can start before the script
/// ends. A node's inputs are always made, and so reported, before it; a
/// node may be reported more than once.
pub trait NodeSink: Send + Sync {
    /// `node` was made (or handed out again).
    fn node(&self, node: &Arc<Node>);
}

/// One output of a node.
#[derive(Debug, Clone)]
pub struct Output {
    /// The op node that produces this output (shared, never mutated).
    pub node: Arc<Node>,
    /// Which of its outputs (0 for all but multi-output execs).
    pub index: u32,
}

/// Outputs are equal when they are the same output of the same node. This is
/// identity, cheap and never recursive; equal *content* is what marshalling
/// compares (by digest), so two separately built but identical graphs still
/// encode to the same ops.
impl PartialEq for Output {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && Arc::ptr_eq(&self.node, &other.node)
    }
}

/// An ordered environment list: setting a key removes the old entry and appends.
///
/// The list is shared between the states that have it (every state derived
/// from another keeps its environment unless it sets a variable), and so is
/// each entry: cloning an environment, or a state's defaults, copies no
/// text, and setting a variable copies the list of entries, not their text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env(Arc<Vec<Arc<(String, String)>>>);

impl Env {
    /// An empty environment.
    pub fn new() -> Self {
        Env::default()
    }

    /// Sets `key` to `value`: an existing entry is removed and the new one appended.
    pub fn set(&mut self, key: &str, value: &str) {
        let entries = Arc::make_mut(&mut self.0);
        entries.retain(|e| e.0 != key);
        entries.push(Arc::new((key.to_string(), value.to_string())));
    }

    /// Sets `key` only if it is not set yet.
    pub fn set_default(&mut self, key: &str, value: &str) {
        if self.get(key).is_none() {
            Arc::make_mut(&mut self.0).push(Arc::new((key.to_string(), value.to_string())));
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|e| e.0 == key).map(|e| e.1.as_str())
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|e| (e.0.as_str(), e.1.as_str()))
    }

    /// `KEY=value` strings in order.
    pub fn to_vec(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|e| {
                let (k, v) = &**e;
                let mut s = String::with_capacity(k.len() + 1 + v.len());
                s.push_str(k);
                s.push('=');
                s.push_str(v);
                s
            })
            .collect()
    }

    /// Parses `KEY=value` entries (a missing `=` gives an empty value).
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut env = Env::new();
        for (k, v) in pairs {
            env.set(&k, &v);
        }
        env
    }
}

/// A filesystem state: an output of the graph (or scratch) plus the
/// process defaults later ops inherit (env, working dir, user, platform).
///
/// States are immutable; every method returns a new one. Cloning is cheap.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    output: Option<Output>,
    meta: Arc<StateMeta>,
}

/// The inherited process defaults of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMeta {
    /// The environment later execs start with (`bk` `with_env`, an image's `Env`).
    pub env: Env,
    /// The working directory relative paths resolve against, an absolute path.
    pub dir: String,
    /// The user later execs run as (`user[:group]`); empty for the image's default.
    pub user: String,
    /// Platform; `None` for the target platform.
    pub platform: Option<Platform>,
    /// The hostname later execs see; empty for BuildKit's default.
    pub hostname: String,
    /// Network mode for execs.
    pub network: NetMode,
    /// Security mode for execs.
    pub security: SecurityMode,
    /// Extra hosts for execs.
    pub extra_hosts: Vec<HostIp>,
}

impl Default for StateMeta {
    fn default() -> Self {
        StateMeta {
            env: Env::new(),
            dir: "/".to_string(),
            user: String::new(),
            platform: None,
            hostname: String::new(),
            network: NetMode::Sandbox,
            security: SecurityMode::Sandbox,
            extra_hosts: Vec::new(),
        }
    }
}

/// Per-op settings that every constructor accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpOptions {
    /// Metadata of the new op.
    pub metadata: OpMetadata,
    /// Source locations of the new op.
    pub locations: Vec<SourceLocation>,
    /// Platform override (otherwise the state's).
    pub platform: Option<Platform>,
}

/// Options of [`State::run`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// The command line, program first (`argv`); must not be empty.
    pub args: Vec<String>,
    /// Environment changes applied after the state's, in order.
    pub env: Vec<(String, String)>,
    /// Working directory, resolved against the state's.
    pub cwd: Option<String>,
    /// User (otherwise the state's).
    pub user: Option<String>,
    /// Hostname (otherwise the state's).
    pub hostname: Option<String>,
    /// Network mode (otherwise the state's).
    pub network: Option<NetMode>,
    /// Security mode (otherwise the state's).
    pub security: Option<SecurityMode>,
    /// Extra hosts (after the state's).
    pub extra_hosts: Vec<HostIp>,
    /// Resource limits (`ulimit`) set on the process.
    pub ulimits: Vec<Ulimit>,
    /// The cgroup the process's cgroup is created under; empty for the daemon's default.
    pub cgroup_parent: String,
    /// Exit codes that count as success.
    pub valid_exit_codes: Option<Vec<i32>>,
    /// Proxy variables given to the process without entering the cache key.
    pub proxy_env: Option<ProxyEnv>,
    /// Extra mounts (the root mount is added for you).
    pub mounts: Vec<Mount>,
    /// Secrets as environment variables.
    pub secret_env: Vec<SecretEnv>,
    /// Mount the root read-only (the exec then has no root output).
    pub readonly_root: bool,
    /// Per-op settings.
    pub op: OpOptions,
}

/// The result of [`State::run`]: the new root state plus access to mount outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecState {
    root: State,
    node: Arc<Node>,
    mount_meta: Vec<(String, Arc<StateMeta>)>,
}

impl ExecState {
    /// The state of the root filesystem after the run.
    pub fn root(&self) -> &State {
        &self.root
    }

    /// The exec op's node, shared by the root and every mount output.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The state of the writable mount at `dest` after the run.
    pub fn mount_output(&self, dest: &str) -> Result<State, GraphError> {
        let Op::Exec(exec) = &self.node.op else {
            return Err(GraphError::NotAnExec);
        };
        let dest = clean_path(dest);
        let Some(index) = exec.output_index(&dest) else {
            let writable: Vec<String> = exec.mounts.iter().filter(|m| m.has_output()).map(|m| m.dest.clone()).collect();
            return Err(GraphError::NoSuchMountOutput { dest, writable });
        };
        let meta = self.mount_meta.iter().find(|(d, _)| *d == dest).map(|(_, m)| m.clone()).unwrap_or_default();
        Ok(State { output: Some(Output { node: self.node.clone(), index }), meta })
    }
}

impl Default for State {
    fn default() -> Self {
        State::scratch()
    }
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        State { output: None, meta: Arc::new(StateMeta::default()) }
    }

    /// A state for output 0 of `node`, with default process settings.
    pub fn from_node(node: Node) -> Self {
        let platform = node.constraints.platform.as_deref().map(Platform::normalized);
        let meta = StateMeta { platform, ..StateMeta::default() };
        State { output: Some(Output { node: Arc::new(node), index: 0 }), meta: Arc::new(meta) }
    }

    /// The output this state is, or `None` for scratch.
    pub fn output(&self) -> Option<&Output> {
        self.output.as_ref()
    }

    /// Whether this is scratch.
    pub fn is_scratch(&self) -> bool {
        self.output.is_none()
    }

    /// The inherited process defaults.
    pub fn meta(&self) -> &StateMeta {
        &self.meta
    }

    fn with_meta(&self, f: impl FnOnce(&mut StateMeta)) -> State {
        let mut meta = (*self.meta).clone();
        f(&mut meta);
        State { output: self.output.clone(), meta: Arc::new(meta) }
    }

    /// Same filesystem, another output. Process defaults are kept.
    pub fn with_output(&self, output: Option<Output>) -> State {
        State { output, meta: self.meta.clone() }
    }

    /// Sets an environment variable (an existing entry is replaced at the end).
    pub fn with_env(&self, key: &str, value: &str) -> State {
        self.with_meta(|m| m.env.set(key, value))
    }

    /// Sets the working directory; a relative path resolves against the current one.
    pub fn with_dir(&self, dir: &str) -> State {
        self.with_meta(|m| m.dir = resolve_dir(&m.dir, dir))
    }

    /// Sets the user.
    pub fn with_user(&self, user: &str) -> State {
        self.with_meta(|m| m.user = user.to_string())
    }

    /// Sets the platform of later ops built on this state.
    pub fn with_platform(&self, platform: Platform) -> State {
        self.with_meta(|m| m.platform = Some(platform.normalized()))
    }

    /// Sets the hostname of later execs.
    pub fn with_hostname(&self, hostname: &str) -> State {
        self.with_meta(|m| m.hostname = hostname.to_string())
    }

    /// Sets the network mode of later execs.
    pub fn with_network(&self, network: NetMode) -> State {
        self.with_meta(|m| m.network = network)
    }

    /// Sets the security mode of later execs.
    pub fn with_security(&self, security: SecurityMode) -> State {
        self.with_meta(|m| m.security = security)
    }

    /// Adds an extra host for later execs.
    pub fn with_extra_host(&self, host: &str, ip: &str) -> State {
        self.with_meta(|m| m.extra_hosts.push(HostIp { host: host.to_string(), ip: ip.to_string() }))
    }

    /// Replaces the metadata of the op behind this state (a new node; the old
    /// one is untouched). Scratch has no op and is refused.
    pub fn with_op_metadata(&self, f: impl FnOnce(&mut OpMetadata)) -> Result<State, GraphError> {
        let Some(out) = &self.output else {
            return Err(GraphError::ScratchHasNoOp);
        };
        let mut node = (*out.node).clone();
        f(&mut node.metadata);
        Ok(self.with_output(Some(Output { node: Arc::new(node), index: out.index })))
    }

    fn new_node(&self, op: Op, opts: OpOptions) -> Node {
        Node {
            op,
            constraints: Constraints {
                platform: opts.platform.or_else(|| self.meta.platform.clone()).map(Box::new),
                worker_constraints: Vec::new(),
            },
            metadata: opts.metadata,
            locations: opts.locations,
        }
    }

    /// Runs a process on this state: a [`Run`] (built as
    /// `Run::shell("make").cwd("/src")…`) or the plain [`RunOptions`].
    pub fn run(&self, run: impl Into<Run>) -> Result<ExecState, GraphError> {
        let Run { opts, binds, blank } = run.into();
        if opts.args.is_empty() || blank {
            return Err(GraphError::EmptyArgs);
        }
        let cwd = match &opts.cwd {
            Some(c) => resolve_dir(&self.meta.dir, c),
            None => self.meta.dir.clone(),
        };
        let mut mounts = vec![Mount {
            dest: "/".to_string(),
            kind: MountKind::Bind {
                source: self.output.clone(),
                selector: String::new(),
                readonly: opts.readonly_root,
                no_output: false,
            },
        }];
        let mut ssh_target = None;
        for mut m in opts.mounts {
            m.dest = resolve_dir(&cwd, &m.dest);
            if m.dest == "/" {
                return Err(GraphError::MountOverRoot);
            }
            if !m.is_secret_or_ssh() && mounts.iter().any(|x| x.dest == m.dest) {
                return Err(GraphError::DuplicateMount { dest: m.dest });
            }
            if let MountKind::Tmpfs { .. } = m.kind {
                // tmpfs never has a source
            }
            if ssh_target.is_none() && matches!(m.kind, MountKind::Ssh { .. }) {
                ssh_target = Some(m.dest.clone());
            }
            mounts.push(m);
        }
        let env = exec_env(&self.meta.env, opts.env, ssh_target.as_deref().map(|t| ("SSH_AUTH_SOCK", t)));
        let mut extra_hosts = self.meta.extra_hosts.clone();
        extra_hosts.extend(opts.extra_hosts);
        let exec_cwd = cwd.clone();
        let mut exec = ExecOp {
            meta: Meta {
                args: opts.args,
                env,
                cwd,
                user: opts.user.unwrap_or_else(|| self.meta.user.clone()),
                hostname: opts.hostname.unwrap_or_else(|| self.meta.hostname.clone()),
                extra_hosts,
                ulimits: opts.ulimits,
                cgroup_parent: opts.cgroup_parent,
                valid_exit_codes: opts.valid_exit_codes,
                proxy_env: opts.proxy_env,
            },
            mounts,
            network: opts.network.unwrap_or(self.meta.network),
            security: opts.security.unwrap_or(self.meta.security),
            secret_env: opts.secret_env,
        };
        exec.sort_mounts();
        let root_index = exec.output_index("/");
        let node = Arc::new(self.new_node(Op::Exec(Box::new(exec)), opts.op));
        let root = State {
            output: root_index.map(|index| Output { node: node.clone(), index }).or_else(|| self.output.clone()),
            meta: self.meta.clone(),
        };
        let mut exec = ExecState { root, node, mount_meta: Vec::new() };
        // A writable bind's output keeps the process defaults of the state
        // it mounts (its dest resolved as the mount's was).
        for (dest, src) in &binds {
            let dest = resolve_dir(&exec_cwd, dest);
            exec = exec.with_mount_meta(&dest, src);
        }
        Ok(exec)
    }

    fn file_op(&self, action: FileAction, opts: OpOptions) -> State {
        let op = Op::File(FileOp { base: self.output.clone(), actions: vec![action] });
        let node = self.new_node(op, opts);
        self.with_output(Some(Output { node: Arc::new(node), index: 0 }))
    }

    /// Applies a file operation ([`crate::builder::Copy`],
    /// [`crate::builder::Mkdir`], [`crate::builder::Mkfile`],
    /// [`crate::builder::Rm`], [`crate::builder::Symlink`]), as Go's
    /// `st.File(…)` does: one file op with one action.
    pub fn file(&self, step: impl FileStep) -> State {
        let (action, op) = step.action(self);
        self.file_op(action, op)
    }

    pub(crate) fn copy_action(&self, from: &State, src: &str, dest: &str, opts: CopyOptions) -> FileAction {
        FileAction::Copy {
            from: from.output.clone(),
            src: normalize_path(&from.meta.dir, src, false),
            dest: normalize_path(&self.meta.dir, dest, true),
            opts: Box::new(opts),
        }
    }

    pub(crate) fn mkdir_action(&self, path: &str, mode: u32, make_parents: bool, owner: Option<Chown>) -> FileAction {
        FileAction::Mkdir {
            path: normalize_path(&self.meta.dir, path, false),
            mode,
            make_parents,
            owner,
            timestamp: None,
        }
    }

    pub(crate) fn mkfile_action(&self, path: &str, mode: u32, data: Vec<u8>, owner: Option<Chown>) -> FileAction {
        FileAction::Mkfile { path: normalize_path(&self.meta.dir, path, false), mode, data, owner, timestamp: None }
    }

    pub(crate) fn rm_action(&self, path: &str, allow_not_found: bool, allow_wildcard: bool) -> FileAction {
        FileAction::Rm { path: normalize_path(&self.meta.dir, path, false), allow_not_found, allow_wildcard }
    }

    pub(crate) fn symlink_action(&self, oldpath: &str, newpath: &str, owner: Option<Chown>) -> FileAction {
        FileAction::Symlink {
            oldpath: oldpath.to_string(),
            newpath: normalize_path(&self.meta.dir, newpath, false),
            owner,
            timestamp: None,
        }
    }

    /// Copies `src` (resolved against `from`'s working dir) to `dest` (resolved
    /// against this state's), Dockerfile `COPY` style by default.
    pub fn copy(&self, from: &State, src: &str, dest: &str, opts: CopyOptions, op: OpOptions) -> State {
        self.file_op(self.copy_action(from, src, dest, opts), op)
    }

    /// Creates the directory `path` (resolved against this state's working
    /// directory) with `mode`; with `make_parents`, missing parents too.
    pub fn mkdir(&self, path: &str, mode: u32, make_parents: bool, owner: Option<Chown>, op: OpOptions) -> State {
        self.file_op(self.mkdir_action(path, mode, make_parents, owner), op)
    }

    /// Creates a file with `data`.
    pub fn mkfile(&self, path: &str, mode: u32, data: Vec<u8>, owner: Option<Chown>, op: OpOptions) -> State {
        self.file_op(self.mkfile_action(path, mode, data, owner), op)
    }

    /// Removes `path` (resolved against this state's working directory),
    /// recursively; `allow_not_found` makes a missing path no error, and
    /// `allow_wildcard` treats the path as a glob.
    pub fn rm(&self, path: &str, allow_not_found: bool, allow_wildcard: bool, op: OpOptions) -> State {
        self.file_op(self.rm_action(path, allow_not_found, allow_wildcard), op)
    }

    /// Creates a symlink at `newpath` pointing to `oldpath` (kept as written).
    pub fn symlink(&self, oldpath: &str, newpath: &str, owner: Option<Chown>, op: OpOptions) -> State {
        self.file_op(self.symlink_action(oldpath, newpath, owner), op)
    }
}

impl ExecState {
    /// Replaces the metadata of the exec (a new node; the old one is
    /// untouched). The root state and every mount output then refer to the
    /// new node.
    pub fn with_op_metadata(&self, f: impl FnOnce(&mut OpMetadata)) -> ExecState {
        let mut node = (*self.node).clone();
        f(&mut node.metadata);
        let node = Arc::new(node);
        let root = match self.root.output() {
            Some(out) if Arc::ptr_eq(&out.node, &self.node) => {
                self.root.with_output(Some(Output { node: node.clone(), index: out.index }))
            }
            _ => self.root.clone(),
        };
        ExecState { root, node, mount_meta: self.mount_meta.clone() }
    }

    /// Records the process defaults of the state mounted at `dest`, so that
    /// [`ExecState::mount_output`] hands them on.
    pub fn with_mount_meta(mut self, dest: &str, from: &State) -> Self {
        self.mount_meta.push((clean_path(dest), from.meta.clone()));
        self
    }
}

/// The environment of an exec: `base` with `changes` set in turn, then
/// `default` set if its key is not (what [`Env::set`] and
/// [`Env::set_default`] make, step by step), built as one list: the
/// entries of `base` no change replaces, then each changed key at its last
/// change, the changes' text moved in. The base's own list when nothing
/// changes.
fn exec_env(base: &Env, changes: Vec<(String, String)>, default: Option<(&str, &str)>) -> Env {
    let default = default.filter(|(k, _)| base.get(k).is_none() && !changes.iter().any(|(c, _)| c == k));
    if changes.is_empty() && default.is_none() {
        return base.clone();
    }
    let mut out: Vec<Arc<(String, String)>> = Vec::with_capacity(base.0.len() + changes.len() + 1);
    out.extend(base.0.iter().filter(|e| !changes.iter().any(|(k, _)| *k == e.0)).cloned());
    let last = |i: usize, k: &str| !changes[i + 1..].iter().any(|(later, _)| later == k);
    let keep: Vec<bool> = changes.iter().enumerate().map(|(i, (k, _))| last(i, k)).collect();
    out.extend(changes.into_iter().zip(keep).filter(|(_, keep)| *keep).map(|(kv, _)| Arc::new(kv)));
    if let Some((k, v)) = default {
        out.push(Arc::new((k.to_string(), v.to_string())));
    }
    Env(Arc::new(out))
}

/// Whether `p` is already what [`clean_path`] makes of it: `/`, or
/// segments that are neither empty, `.` nor `..` (no doubled, leading
/// relative or trailing slash).
fn is_clean(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    let body = p.as_bytes();
    let body = body.strip_prefix(b"/").unwrap_or(body);
    // One pass over the bytes (every op's paths come through here): each
    // segment is neither empty, nor `.`, nor `..`.
    let mut start = 0;
    for (i, &b) in body.iter().chain(std::iter::once(&b'/')).enumerate() {
        if b == b'/' {
            if matches!(&body[start..i], b"" | b"." | b"..") {
                return false;
            }
            start = i + 1;
        }
    }
    true
}

/// `path.Clean` as Go has it: lexical, `/`-separated.
pub fn clean_path(p: &str) -> String {
    if is_clean(p) {
        return p.to_string();
    }
    clean_path_general(p)
}

/// [`clean_path`] without its shortcut for input that is already clean.
fn clean_path_general(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `path.Join("/", parent, p)` for relative `p`, `p` cleaned otherwise.
pub fn resolve_dir(parent: &str, p: &str) -> String {
    if p.starts_with('/') {
        return clean_path(p);
    }
    // Both parts already clean (the common case): joining them is cleaning them.
    if parent.starts_with('/') && is_clean(parent) && is_clean(p) {
        let mut out = String::with_capacity(parent.len() + 1 + p.len());
        out.push_str(parent);
        if parent != "/" {
            out.push('/');
        }
        out.push_str(p);
        return out;
    }
    clean_path(&format!("/{parent}/{p}"))
}

/// BuildKit's path normalisation for file actions: relative paths resolve
/// against `parent`; with `keep_slash`, a trailing `/` or `/.` survives.
pub fn normalize_path(parent: &str, p: &str, keep_slash: bool) -> String {
    let mut out = resolve_dir(parent, p);
    if keep_slash {
        if p.ends_with('/') && !out.ends_with('/') {
            out.push('/');
        } else if p.ends_with("/.") {
            if out != "/" {
                out.push('/');
            }
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (i, o) in
            [("", "."), (".", "."), ("/", "/"), ("a/../..", ".."), ("/a/../..", "/"), ("/a//b/./c/", "/a/b/c")]
        {
            assert_eq!(clean_path(i), o, "clean({i:?})");
        }
        assert_eq!(normalize_path("/", ".", false), "/");
        assert_eq!(normalize_path("/app", "x/", true), "/app/x/");
        assert_eq!(normalize_path("/app", "x/.", true), "/app/x/.");
        assert_eq!(normalize_path("/", "/.", true), "/.");
    }

    #[test]
    fn fast_paths_agree_with_the_general_cleaning() {
        let samples = [
            "",
            ".",
            "..",
            "/",
            "//",
            "a",
            "a/",
            "/a",
            "/a/",
            "a/b",
            "/a/b",
            "./a",
            "a/.",
            "a/..",
            "../a",
            "/..",
            "/a//b",
            "a/./b",
            "/a/b/..",
            ".a",
            "..a",
            "a..",
            "/.a/b.",
            "x y/z",
            "...",
            "/.../a",
            "/a/b/c.d/",
            "/c1/m2",
            "/a/./",
            "/a/../",
            "./",
            "../",
            "/./",
            "é/ü",
        ];
        for p in samples {
            assert_eq!(clean_path(p), clean_path_general(p), "clean({p:?})");
            for parent in ["/", "/w", "/a/b", "/a/../b", "//x/", "rel", "/x/."] {
                let expected = if p.starts_with('/') {
                    clean_path_general(p)
                } else {
                    clean_path_general(&format!("/{parent}/{p}"))
                };
                assert_eq!(resolve_dir(parent, p), expected, "resolve({parent:?}, {p:?})");
            }
        }
    }

    #[test]
    fn exec_env_is_the_env_built_step_by_step() {
        let mut base = Env::new();
        base.set("PATH", "/bin");
        base.set("A", "0");
        base.set("SSH_AUTH_SOCK", "/s");
        let pairs = |l: &[(&str, &str)]| -> Vec<(String, String)> {
            l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let cases = [
            pairs(&[]),
            pairs(&[("A", "1")]),
            pairs(&[("B", "2"), ("A", "1"), ("B", "3")]),
            pairs(&[("PATH", "/usr/bin"), ("SSH_AUTH_SOCK", "/t")]),
        ];
        for base in [Env::new(), base] {
            for changes in &cases {
                for default in [None, Some(("SSH_AUTH_SOCK", "/run/ssh")), Some(("A", "9"))] {
                    let mut env = base.clone();
                    for (k, v) in changes {
                        env.set(k, v);
                    }
                    if let Some((k, v)) = default {
                        env.set_default(k, v);
                    }
                    assert_eq!(
                        exec_env(&base, changes.clone(), default).to_vec(),
                        env.to_vec(),
                        "{changes:?} {default:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn env_replaces_and_appends() {
        let mut e = Env::new();
        e.set("A", "1");
        e.set("B", "2");
        e.set("A", "3");
        assert_eq!(e.to_vec(), vec!["B=2", "A=3"]);
        e.set_default("B", "9");
        assert_eq!(e.get("B"), Some("2"));
    }

    #[test]
    fn exec_metadata_keeps_mount_outputs() {
        let run = RunOptions {
            args: vec!["true".into()],
            mounts: vec![Mount {
                dest: "/out".into(),
                kind: MountKind::Bind { source: None, selector: String::new(), readonly: false, no_output: false },
            }],
            ..Default::default()
        };
        let e = State::scratch().run(run).expect("run");
        let named = e.with_op_metadata(|m| {
            m.description.insert("llb.customname".into(), "named".into());
        });
        let out = named.mount_output("/out").expect("still writable");
        let node = &out.output().expect("an output").node;
        assert_eq!(node.metadata.description["llb.customname"], "named");
        assert!(Arc::ptr_eq(node, &named.root().output().expect("root").node));
        assert!(e.node().metadata.description.is_empty(), "the original exec is untouched");
    }

    #[test]
    fn deep_chains_drop_on_a_small_stack() {
        let t = std::thread::Builder::new().stack_size(256 * 1024).spawn(|| {
            let mut st = State::scratch();
            for i in 0..200_000 {
                st = st.rm(&format!("/f{i}"), true, false, OpOptions::default());
            }
            drop(st);
        });
        t.expect("thread starts").join().expect("no stack overflow");
    }

    #[test]
    fn states_are_immutable() {
        let s = State::scratch().with_env("A", "1");
        let t = s.with_env("A", "2").with_dir("sub");
        assert_eq!(s.meta().env.get("A"), Some("1"));
        assert_eq!(s.meta().dir, "/");
        assert_eq!(t.meta().dir, "/sub");
    }
}
