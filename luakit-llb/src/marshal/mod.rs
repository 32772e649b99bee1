//! Graph → `pb::Definition`, as BuildKit's Go client (`client/llb`) marshals it.
//!
//! A post-order walk from the exported state: each node is encoded once
//! (memoised by node identity), its sha256 digest computed once, and ops with
//! equal digests are emitted once with their metadata merged. Caps are
//! derived from op content; when the daemon's caps are known, features it
//! lacks are dropped (where the meaning survives) or refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use luakit_graph::{
    CacheSharing, Chown, FileAction, MountKind, NetMode, Node, Op, Output, Platform, SecurityMode, SourceFile, State,
    UserRef,
};
use prost::Message;
use rustc_hash::FxHashMap;

use crate::caps::{self, CapSet, id};
use crate::digest::Digest;
use crate::naming::StepNames;
use crate::pb;

/// Settings of a marshal.
#[derive(Debug, Clone)]
pub struct MarshalOptions {
    /// The target platform, used for ops without their own.
    pub platform: Platform,
    /// Include the source map (`Definition.source`).
    pub source_map: bool,
    /// The daemon's caps, when known (frontend mode); `None` marshals for
    /// current BuildKit.
    pub daemon_caps: Option<CapSet>,
    /// Name each located op `[file:line] what` (`llb.customname`) unless
    /// the script named it, when the daemon can show descriptions (see
    /// `naming`). Off by default: BuildKit's client does not name ops.
    pub name_ops: bool,
}

impl MarshalOptions {
    /// Marshal for `platform`, with a source map, for current BuildKit.
    pub fn new(platform: Platform) -> Self {
        MarshalOptions { platform, source_map: true, daemon_caps: None, name_ops: false }
    }
}

/// Why a graph could not be marshalled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MarshalError {
    /// The script uses a feature the daemon does not support.
    #[error("{location}{feature} needs BuildKit {needed} or newer (the daemon{version} lacks the '{cap}' capability)")]
    Unsupported {
        /// `file:line: ` of the op, or empty.
        location: String,
        /// What the script asked for.
        feature: String,
        /// The cap id.
        cap: String,
        /// The first BuildKit release that has it.
        needed: String,
        /// ` (BuildKit vX)` when the daemon said, or empty.
        version: String,
    },
    /// An op that BuildKit would refuse.
    #[error("{location}{message}")]
    Invalid {
        /// `file:line: ` of the op, or empty.
        location: String,
        /// What is wrong.
        message: String,
    },
}

/// A marshalled graph: the definition plus, for each op digest, its position
/// in `def` (the terminal op is last).
#[derive(Debug, Clone)]
pub struct Marshalled {
    /// The protobuf definition.
    pub definition: pb::Definition,
    /// Digest of the terminal op, if any.
    pub terminal: Option<Digest>,
}

/// Marshals the graph behind `state` into a Definition.
pub fn marshal(state: &State, opts: &MarshalOptions) -> Result<pb::Definition, MarshalError> {
    Ok(marshal_full(state, opts)?.definition)
}

/// Like [`marshal`], also returning the terminal digest.
pub fn marshal_full(state: &State, opts: &MarshalOptions) -> Result<Marshalled, MarshalError> {
    let mut m = Marshaller {
        opts,
        memo: FxHashMap::default(),
        seen: FxHashMap::default(),
        def: pb::Definition::default(),
        metadata: FxHashMap::default(),
        sources: SourceCollector::default(),
        any_meta: MetaFlags::default(),
        names: StepNames::new(opts),
    };
    let Some(out) = state.output() else {
        return Ok(Marshalled { definition: m.def, terminal: None });
    };
    let dgst = m.visit(&out.node)?;
    // As BuildKit's client does: the terminal op records that descriptions are used.
    if m.names.apply(&mut m.metadata) {
        m.any_meta.description = true;
    }
    let terminal = pb::Op {
        inputs: vec![pb::Input { digest: dgst.as_str().to_owned(), index: i64::from(out.index) }],
        ..Default::default()
    };
    let bytes = terminal.encode_to_vec();
    let tdgst = Digest::of(&bytes);
    m.def.def.push(bytes);
    let mut caps = BTreeMap::new();
    caps.insert(id::CONSTRAINTS.to_string(), true);
    caps.insert(id::PLATFORM.to_string(), true);
    if m.any_meta.ignore_cache {
        caps.insert(id::META_IGNORE_CACHE.to_string(), true);
    }
    if m.any_meta.description {
        caps.insert(id::META_DESCRIPTION.to_string(), true);
    }
    if let Some(dc) = &opts.daemon_caps {
        caps.retain(|c, _| dc.supports(c));
    }
    let md = m.metadata.entry(tdgst.as_str().to_owned()).or_default();
    for (k, v) in caps {
        md.caps.insert(k, v);
    }
    // Built unordered, sorted once (a sorted map of random keys grown one
    // insert at a time costs cache misses on every op).
    m.def.metadata = m.metadata.drain().collect();
    if opts.source_map {
        m.def.source = m.sources.finish();
    }
    Ok(Marshalled { definition: m.def, terminal: Some(tdgst) })
}

#[derive(Default)]
struct MetaFlags {
    ignore_cache: bool,
    description: bool,
}

struct Marshaller<'a> {
    opts: &'a MarshalOptions,
    /// Node identity → digest, so each node is encoded once. The internal
    /// maps use a fast non-cryptographic hash (their keys are addresses and
    /// digests made here, not outside input an attacker picks).
    memo: FxHashMap<*const Node, Digest>,
    /// Digest → emitted already.
    seen: FxHashMap<Digest, ()>,
    def: pb::Definition,
    /// Op metadata by digest, merged over nodes with the same digest.
    metadata: FxHashMap<String, pb::OpMetadata>,
    sources: SourceCollector,
    any_meta: MetaFlags,
    names: StepNames,
}

/// Collects the source map: files in first-use order, locations per digest.
#[derive(Default)]
struct SourceCollector {
    files: Vec<Arc<SourceFile>>,
    index: FxHashMap<*const SourceFile, usize>,
    /// (digest, location) in visit order; grouped by digest at the end
    /// (cheaper than keeping a map of 10,000 random keys sorted all along).
    locations: Vec<(Digest, pb::Location)>,
}

impl SourceCollector {
    fn add(&mut self, dgst: &Digest, node: &Node) {
        for loc in &node.locations {
            let ptr = Arc::as_ptr(&loc.file);
            let idx = match self.index.get(&ptr) {
                Some(i) => *i,
                None => match self.files.iter().position(|f| **f == *loc.file) {
                    Some(i) => {
                        self.index.insert(ptr, i);
                        i
                    }
                    None => {
                        self.files.push(loc.file.clone());
                        self.index.insert(ptr, self.files.len() - 1);
                        self.files.len() - 1
                    }
                },
            };
            let ranges = loc
                .ranges
                .iter()
                .map(|r| pb::Range {
                    start: Some(pb::Position { line: r.start_line, character: r.start_char }),
                    end: Some(pb::Position { line: r.end_line, character: r.end_char }),
                })
                .collect();
            self.locations.push((dgst.clone(), pb::Location { source_index: idx as i32, ranges }));
        }
    }

    fn finish(mut self) -> Option<pb::Source> {
        if self.files.is_empty() {
            return None;
        }
        // Stable: locations of one digest keep their visit order.
        self.locations.sort_by(|a, b| a.0.cmp(&b.0));
        let mut grouped: Vec<(String, pb::Locations)> = Vec::new();
        for (d, loc) in self.locations {
            match grouped.last_mut() {
                Some((k, l)) if k.as_str() == d.as_str() => l.locations.push(loc),
                _ => grouped.push((d.as_str().to_owned(), pb::Locations { locations: vec![loc] })),
            }
        }
        Some(pb::Source {
            locations: grouped.into_iter().collect(),
            infos: self
                .files
                .iter()
                .map(|f| pb::SourceInfo {
                    filename: f.filename.clone(),
                    data: f.data.clone(),
                    definition: None,
                    language: f.language.clone(),
                })
                .collect(),
        })
    }
}

fn location_prefix(node: &Node) -> String {
    node.locations
        .first()
        .and_then(|l| l.ranges.first().map(|r| format!("{}:{}: ", l.file.filename, r.start_line)))
        .unwrap_or_default()
}

/// A graph platform as LLB spells it.
pub fn pb_platform(p: &Platform) -> pb::Platform {
    pb::Platform {
        architecture: p.arch.clone(),
        os: p.os.clone(),
        variant: p.variant.clone(),
        os_version: p.os_version.clone(),
        os_features: p.os_features.clone(),
    }
}

/// Per-op cap recording under the daemon's cap policy.
struct CapRecorder<'a> {
    caps: BTreeMap<String, bool>,
    daemon: Option<&'a CapSet>,
    node: &'a Node,
}

impl CapRecorder<'_> {
    /// Records `cap` for a feature the op cannot do without.
    fn require(&mut self, cap: &str, feature: &str) -> Result<(), MarshalError> {
        if let Some(d) = self.daemon {
            if !d.supports(cap) {
                return Err(MarshalError::Unsupported {
                    location: location_prefix(self.node),
                    feature: feature.to_string(),
                    cap: cap.to_string(),
                    needed: caps::introduced_in(cap).to_string(),
                    version: if d.version.is_empty() { String::new() } else { format!(" (BuildKit {})", d.version) },
                });
            }
        }
        self.caps.insert(cap.to_owned(), true);
        Ok(())
    }

    /// Records `cap` if the daemon has it; returns false when the feature
    /// must be left out (only for caps whose meaning survives without it).
    fn optional(&mut self, cap: &str, feature: &str) -> Result<bool, MarshalError> {
        if let Some(d) = self.daemon {
            if !d.supports(cap) {
                if caps::droppable(cap) {
                    return Ok(false);
                }
                return self.require(cap, feature).map(|()| true);
            }
        }
        self.caps.insert(cap.to_owned(), true);
        Ok(true)
    }

    /// Records `cap` only if the daemon knows it (caps that BuildKit never enforced).
    fn soft(&mut self, cap: &str) {
        if self.daemon.is_none_or(|d| d.supports(cap)) {
            self.caps.insert(cap.to_owned(), true);
        }
    }
}

impl Marshaller<'_> {
    fn input_of(&mut self, out: &Output) -> Result<pb::Input, MarshalError> {
        let d = match self.memo.get(&Arc::as_ptr(&out.node)) {
            Some(d) => d.clone(),
            None => self.visit(&out.node)?,
        };
        Ok(pb::Input { digest: d.as_str().to_owned(), index: i64::from(out.index) })
    }

    /// Encodes `root` and everything under it, inputs first (the post-order
    /// BuildKit's client uses), with an explicit stack so that deep chains
    /// cannot overflow the call stack.
    fn visit(&mut self, root: &Arc<Node>) -> Result<Digest, MarshalError> {
        let mut stack: Vec<(Arc<Node>, bool)> = vec![(root.clone(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if self.memo.contains_key(&Arc::as_ptr(&node)) {
                continue;
            }
            if expanded {
                self.encode_node(&node)?;
                continue;
            }
            stack.push((node.clone(), true));
            for inp in node.inputs().into_iter().rev() {
                if !self.memo.contains_key(&Arc::as_ptr(&inp.node)) {
                    stack.push((inp.node.clone(), false));
                }
            }
        }
        self.memo.get(&Arc::as_ptr(root)).cloned().ok_or_else(|| MarshalError::Invalid {
            location: location_prefix(root),
            message: "internal error: op was not encoded".to_string(),
        })
    }

    fn encode_node(&mut self, node: &Arc<Node>) -> Result<Digest, MarshalError> {
        let key = Arc::as_ptr(node);
        let mut caps = CapRecorder { caps: BTreeMap::new(), daemon: self.opts.daemon_caps.as_ref(), node };
        let platform = node.constraints.platform.clone().unwrap_or_else(|| self.opts.platform.clone());
        let mut op = pb::Op {
            constraints: Some(pb::WorkerConstraints { filter: node.constraints.worker_constraints.clone() }),
            ..Default::default()
        };
        match &node.op {
            Op::Source(src) => {
                op.op = Some(pb::op::Op::Source(self.source(src, &mut caps)?));
                if src.is_platform_specific() {
                    op.platform = Some(pb_platform(&platform));
                }
            }
            Op::Exec(exec) => {
                let (inputs, e) = self.exec(exec, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Exec(e));
                op.platform = Some(pb_platform(&platform));
            }
            Op::File(file) => {
                let (inputs, f) = self.file(file, &mut caps)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::File(f));
                op.platform = Some(pb_platform(&platform));
            }
            Op::Merge(merge) => {
                caps.require(id::MERGE_OP, "bk.merge")?;
                let mut inputs = Vec::new();
                let mut mi = Vec::new();
                for o in merge.inputs.iter().flatten() {
                    mi.push(pb::MergeInput { input: inputs.len() as i64 });
                    inputs.push(self.input_of(o)?);
                }
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Merge(pb::MergeOp { inputs: mi }));
            }
            Op::Diff(diff) => {
                caps.require(id::DIFF_OP, "bk.diff")?;
                let mut inputs = Vec::new();
                let idx =
                    |o: &Option<Output>, inputs: &mut Vec<pb::Input>, me: &mut Self| -> Result<i64, MarshalError> {
                        match o {
                            Some(o) => {
                                inputs.push(me.input_of(o)?);
                                Ok(inputs.len() as i64 - 1)
                            }
                            None => Ok(-1),
                        }
                    };
                let lower = idx(&diff.lower, &mut inputs, self)?;
                let upper = idx(&diff.upper, &mut inputs, self)?;
                op.inputs = inputs;
                op.op = Some(pb::op::Op::Diff(pb::DiffOp {
                    lower: Some(pb::LowerDiffInput { input: lower }),
                    upper: Some(pb::UpperDiffInput { input: upper }),
                }));
            }
        }
        let bytes = op.encode_to_vec();
        let dgst = Digest::of(&bytes);
        self.memo.insert(key, dgst.clone());
        self.names.record(&dgst, node, &op);

        // Metadata, merged over nodes with the same digest.
        let md_in = &node.metadata;
        let mut description = md_in.description.clone();
        if !description.is_empty() && !caps.optional(id::META_DESCRIPTION, "with_metadata description")? {
            description.clear();
        }
        let md = self.metadata.entry(dgst.as_str().to_owned()).or_default();
        if md_in.ignore_cache {
            md.ignore_cache = true;
            self.any_meta.ignore_cache = true;
        }
        if !description.is_empty() {
            self.any_meta.description = true;
            for (k, v) in description {
                md.description.insert(k, v);
            }
        }
        caps.caps.remove(id::META_DESCRIPTION);
        for (k, v) in caps.caps {
            md.caps.insert(k, v);
        }
        if let Some(pg) = &md_in.progress_group {
            md.progress_group = Some(pb::ProgressGroup { id: pg.id.clone(), name: pg.name.clone(), weak: pg.weak });
        }
        if self.opts.source_map {
            self.sources.add(&dgst, node);
        }
        if self.seen.insert(dgst.clone(), ()).is_none() {
            self.def.def.push(bytes);
        }
        Ok(dgst)
    }

    fn source(
        &mut self,
        src: &luakit_graph::SourceOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<pb::SourceOp, MarshalError> {
        let mut attrs = src.attrs.clone();
        let ident = src.identifier.as_str();
        let scheme = ident.split("://").next().unwrap_or_default();
        match scheme {
            "docker-image" => {
                caps.require(id::SOURCE_IMAGE, "bk.image")?;
                if attrs.get("image.resolvemode").map(String::as_str) == Some("pull") {
                    caps.require(id::SOURCE_IMAGE_RESOLVE_MODE, "bk.image resolve = \"always\"")?;
                }
            }
            "local" => {
                caps.require(id::SOURCE_LOCAL, "bk.local_")?;
                for (attr, cap, feature) in [
                    ("local.unique", id::SOURCE_LOCAL_UNIQUE, "local unique id"),
                    ("local.includepattern", id::SOURCE_LOCAL_INCLUDE_PATTERNS, "bk.local_ include"),
                    ("local.excludepatterns", id::SOURCE_LOCAL_EXCLUDE_PATTERNS, "bk.local_ exclude"),
                    ("local.followpaths", id::SOURCE_LOCAL_FOLLOW_PATHS, "bk.local_ follow_paths"),
                    ("local.sharedkeyhint", id::SOURCE_LOCAL_SHARED_KEY_HINT, "bk.local_ shared_key_hint"),
                    ("local.differ", id::SOURCE_LOCAL_DIFFER, "bk.local_ differ"),
                ] {
                    if attrs.contains_key(attr) && !caps.optional(cap, feature)? {
                        attrs.remove(attr);
                    }
                }
                if attrs.contains_key("local.session") {
                    caps.soft(id::SOURCE_LOCAL_SESSION_ID);
                }
            }
            "git" => {
                caps.require(id::SOURCE_GIT, "bk.git")?;
                if attrs.contains_key("git.keepgitdir") {
                    caps.require(id::SOURCE_GIT_KEEP_DIR, "bk.git keep_git_dir")?;
                }
                if attrs.contains_key("git.fullurl") && !caps.optional(id::SOURCE_GIT_FULL_URL, "bk.git full URL")? {
                    attrs.remove("git.fullurl");
                }
                // BuildKit's client never records this cap (a daemon without
                // it would take "ref:subdir" for a ref); only refuse on
                // daemons that lack it.
                let subdir =
                    ident.split_once('#').is_some_and(|(_, f)| f.split_once(':').is_some_and(|(_, s)| !s.is_empty()));
                if subdir && caps.daemon.is_some() {
                    caps.require(id::SOURCE_GIT_SUBDIR, "bk.git subdir")?;
                    caps.caps.remove(id::SOURCE_GIT_SUBDIR);
                }
                for c in &src.extra_caps {
                    let feature = format!("bk.git ({c})");
                    caps.require(c, &feature)?;
                }
            }
            "http" | "https" => {
                caps.require(id::SOURCE_HTTP, "bk.http")?;
                if attrs.contains_key("http.checksum") {
                    caps.require(id::SOURCE_HTTP_CHECKSUM, "bk.http checksum")?;
                }
                if attrs.contains_key("http.perm") {
                    caps.require(id::SOURCE_HTTP_PERM, "bk.http chmod")?;
                }
                if attrs.contains_key("http.uid") || attrs.contains_key("http.gid") {
                    caps.require(id::SOURCE_HTTP_UIDGID, "bk.http uid/gid")?;
                }
            }
            "oci-layout" => caps.require(id::SOURCE_OCI_LAYOUT, "OCI layout source")?,
            _ => {
                for c in &src.extra_caps {
                    caps.require(c, c)?;
                }
            }
        }
        Ok(pb::SourceOp { identifier: src.identifier.clone(), attrs: attrs.into_iter().collect() })
    }

    fn exec(
        &mut self,
        exec: &luakit_graph::ExecOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::ExecOp), MarshalError> {
        let m = &exec.meta;
        caps.require(id::EXEC_META_BASE, "run")?;
        if exec.network != NetMode::Sandbox {
            caps.require(id::EXEC_META_NETWORK, "run network")?;
        }
        if exec.security != SecurityMode::Sandbox {
            caps.require(id::EXEC_META_SECURITY, "run security")?;
        }
        if m.proxy_env.is_some() {
            caps.require(id::EXEC_META_PROXY, "run proxy env")?;
        }
        if !m.ulimits.is_empty() {
            caps.require(id::EXEC_META_ULIMIT, "run ulimits")?;
        }
        if m.valid_exit_codes.is_some() {
            caps.require(id::EXEC_VALID_EXIT_CODE, "run valid_exit_codes")?;
        }
        if !m.cgroup_parent.is_empty() {
            caps.require(id::EXEC_META_CGROUP_PARENT, "run cgroup parent")?;
        }
        let mut inputs: Vec<pb::Input> = Vec::new();
        let mut mounts = Vec::new();
        let mut out_index = 0i64;
        let mut has_secret = false;
        let mut has_ssh = false;
        for mt in &exec.mounts {
            let mut pm = pb::Mount { dest: mt.dest.clone(), ..Default::default() };
            match &mt.kind {
                MountKind::Secret { id: sid, uid, gid, mode, optional } => {
                    has_secret = true;
                    pm.mount_type = pb::MountType::Secret as i32;
                    pm.secret_opt =
                        Some(pb::SecretOpt { id: sid.clone(), uid: *uid, gid: *gid, mode: *mode, optional: *optional });
                    mounts.push(pm);
                    continue;
                }
                MountKind::Ssh { id: sid, uid, gid, mode, optional } => {
                    has_ssh = true;
                    pm.mount_type = pb::MountType::Ssh as i32;
                    pm.ssh_opt =
                        Some(pb::SshOpt { id: sid.clone(), uid: *uid, gid: *gid, mode: *mode, optional: *optional });
                    mounts.push(pm);
                    continue;
                }
                _ => {}
            }
            pm.input = match mt.source() {
                Some(o) => {
                    let inp = self.input_of(o)?;
                    match inputs.iter().position(|x| *x == inp) {
                        Some(i) => i as i64,
                        None => {
                            inputs.push(inp);
                            inputs.len() as i64 - 1
                        }
                    }
                }
                None => -1,
            };
            pm.output = if mt.has_output() {
                out_index += 1;
                out_index - 1
            } else {
                -1
            };
            match &mt.kind {
                MountKind::Bind { selector, readonly, .. } => {
                    pm.selector = selector.clone();
                    pm.readonly = *readonly;
                    if mt.source().is_some() {
                        caps.require(id::EXEC_MOUNT_BIND, "bind mount")?;
                    }
                }
                MountKind::Cache { id: cid, sharing, selector, readonly, .. } => {
                    pm.selector = selector.clone();
                    pm.readonly = *readonly;
                    pm.mount_type = pb::MountType::Cache as i32;
                    pm.cache_opt = Some(pb::CacheOpt {
                        id: cid.clone(),
                        sharing: match sharing {
                            CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                            CacheSharing::Private => pb::CacheSharingOpt::Private,
                            CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                        } as i32,
                    });
                    caps.require(id::EXEC_MOUNT_CACHE, "bk.cache")?;
                    caps.require(id::EXEC_MOUNT_CACHE_SHARING, "bk.cache sharing")?;
                }
                MountKind::Tmpfs { size } => {
                    pm.mount_type = pb::MountType::Tmpfs as i32;
                    pm.tmpfs_opt = Some(pb::TmpfsOpt { size: *size });
                    caps.require(id::EXEC_MOUNT_TMPFS, "bk.tmpfs")?;
                    if *size > 0 {
                        caps.require(id::EXEC_MOUNT_TMPFS_SIZE, "bk.tmpfs size")?;
                    }
                }
                MountKind::Secret { .. } | MountKind::Ssh { .. } => {}
            }
            if !pm.selector.is_empty() {
                caps.require(id::EXEC_MOUNT_SELECTOR, "bind mount selector")?;
            }
            mounts.push(pm);
        }
        if has_secret || !exec.secret_env.is_empty() {
            caps.require(id::EXEC_MOUNT_SECRET, "bk.secret")?;
        }
        if !exec.secret_env.is_empty() {
            caps.require(id::EXEC_SECRET_ENV, "run secret_env")?;
        }
        if has_ssh {
            caps.require(id::EXEC_MOUNT_SSH, "bk.ssh")?;
        }
        let meta = pb::Meta {
            args: m.args.clone(),
            env: m.env.clone(),
            cwd: m.cwd.clone(),
            user: m.user.clone(),
            proxy_env: m.proxy_env.as_ref().map(|p| pb::ProxyEnv {
                http_proxy: p.http_proxy.clone(),
                https_proxy: p.https_proxy.clone(),
                ftp_proxy: p.ftp_proxy.clone(),
                no_proxy: p.no_proxy.clone(),
                all_proxy: p.all_proxy.clone(),
            }),
            extra_hosts: m.extra_hosts.iter().map(|h| pb::HostIp { host: h.host.clone(), ip: h.ip.clone() }).collect(),
            hostname: m.hostname.clone(),
            ulimit: m.ulimits.iter().map(|u| pb::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect(),
            cgroup_parent: m.cgroup_parent.clone(),
            remove_mount_stubs_recursive: true,
            valid_exit_codes: m.valid_exit_codes.clone().unwrap_or_default(),
        };
        let e = pb::ExecOp {
            meta: Some(meta),
            mounts,
            network: match exec.network {
                NetMode::Sandbox => pb::NetMode::Unset,
                NetMode::Host => pb::NetMode::Host,
                NetMode::None => pb::NetMode::None,
            } as i32,
            security: match exec.security {
                SecurityMode::Sandbox => pb::SecurityMode::Sandbox,
                SecurityMode::Insecure => pb::SecurityMode::Insecure,
            } as i32,
            secretenv: exec
                .secret_env
                .iter()
                .map(|s| pb::SecretEnv { id: s.id.clone(), name: s.name.clone(), optional: s.optional })
                .collect(),
            ..Default::default()
        };
        Ok((inputs, e))
    }

    fn file(
        &mut self,
        file: &luakit_graph::FileOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::FileOp), MarshalError> {
        caps.require(id::FILE_BASE, "file operations")?;
        let mut inputs: Vec<pb::Input> = Vec::new();
        let add = |o: &Option<Output>, inputs: &mut Vec<pb::Input>, me: &mut Self| -> Result<i64, MarshalError> {
            match o {
                Some(o) => {
                    let inp = me.input_of(o)?;
                    Ok(match inputs.iter().position(|x| *x == inp) {
                        Some(i) => i as i64,
                        None => {
                            inputs.push(inp);
                            inputs.len() as i64 - 1
                        }
                    })
                }
                None => Ok(-1),
            }
        };
        // First pass: collect inputs in BuildKit's order (base, then each
        // action's secondary input).
        let base = add(&file.base, &mut inputs, self)?;
        let mut secondaries = Vec::new();
        for a in &file.actions {
            secondaries.push(match a {
                FileAction::Copy { from, .. } => add(from, &mut inputs, self)?,
                _ => -1,
            });
        }
        let n = inputs.len() as i64;
        let mut actions = Vec::new();
        for (i, a) in file.actions.iter().enumerate() {
            let input = if i == 0 { base } else { n + i as i64 - 1 };
            let output = if i + 1 == file.actions.len() { 0 } else { -1 };
            let action = match a {
                FileAction::Copy { src, dest, opts, .. } => {
                    if !opts.include_patterns.is_empty() || !opts.exclude_patterns.is_empty() {
                        // BuildKit's client never recorded this cap; only refuse on daemons that lack it.
                        if caps.daemon.is_some() {
                            caps.require(id::FILE_COPY_INCLUDE_EXCLUDE, "copy include/exclude")?;
                            caps.caps.remove(id::FILE_COPY_INCLUDE_EXCLUDE);
                        }
                    }
                    pb::file_action::Action::Copy(pb::FileActionCopy {
                        src: src.clone(),
                        dest: dest.clone(),
                        owner: chown(opts.owner.as_ref(), input),
                        mode: opts.mode.map_or(-1, |m| m as i32),
                        follow_symlink: opts.follow_symlink,
                        dir_copy_contents: opts.copy_dir_contents,
                        attempt_unpack_docker_compatibility: opts.attempt_unpack_docker_compatibility,
                        create_dest_path: opts.create_dest_path,
                        allow_wildcard: opts.allow_wildcard,
                        allow_empty_wildcard: opts.allow_empty_wildcard,
                        timestamp: opts.timestamp.unwrap_or(-1),
                        include_patterns: opts.include_patterns.clone(),
                        exclude_patterns: opts.exclude_patterns.clone(),
                        always_replace_existing_dest_paths: opts.always_replace_existing_dest_paths,
                        ..Default::default()
                    })
                }
                FileAction::Mkfile { path, mode, data, owner, timestamp } => {
                    pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: path.clone(),
                        mode: *mode as i32,
                        data: data.clone(),
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
                FileAction::Mkdir { path, mode, make_parents, owner, timestamp } => {
                    pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                        path: path.clone(),
                        mode: *mode as i32,
                        make_parents: *make_parents,
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
                FileAction::Rm { path, allow_not_found, allow_wildcard } => {
                    if *allow_wildcard && caps.daemon.is_some() {
                        caps.require(id::FILE_RM_WILDCARD, "rm allow_wildcard")?;
                        caps.caps.remove(id::FILE_RM_WILDCARD);
                    }
                    pb::file_action::Action::Rm(pb::FileActionRm {
                        path: path.clone(),
                        allow_not_found: *allow_not_found,
                        allow_wildcard: *allow_wildcard,
                    })
                }
                FileAction::Symlink { oldpath, newpath, owner, timestamp } => {
                    caps.require(id::FILE_SYMLINK_CREATE, "symlink")?;
                    pb::file_action::Action::Symlink(pb::FileActionSymlink {
                        oldpath: oldpath.clone(),
                        newpath: newpath.clone(),
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
            };
            actions.push(pb::FileAction { input, secondary_input: secondaries[i], output, action: Some(action) });
        }
        Ok((inputs, pb::FileOp { actions }))
    }
}

fn user_opt(u: &UserRef, input: i64) -> pb::UserOpt {
    pb::UserOpt {
        user: Some(match u {
            UserRef::Id(id) => pb::user_opt::User::ById(*id),
            UserRef::Name(name) => pb::user_opt::User::ByName(pb::NamedUserOpt { name: name.clone(), input }),
        }),
    }
}

fn chown(c: Option<&Chown>, input: i64) -> Option<pb::ChownOpt> {
    let c = c?;
    if c.user.is_none() && c.group.is_none() {
        return None;
    }
    Some(pb::ChownOpt {
        user: c.user.as_ref().map(|u| user_opt(u, input)),
        group: c.group.as_ref().map(|g| user_opt(g, input)),
    })
}

/// Encodes a Definition to bytes.
pub fn encode(def: &pb::Definition) -> Vec<u8> {
    def.encode_to_vec()
}
