//! `luakit dag`: renders any LLB `Definition` (luakit's own, or one that
//! another frontend such as the Dockerfile frontend produced) as a text tree,
//! stable JSON (documented in `docs/dag-json.md`) or Graphviz DOT.
//!
//! Pure: a Definition in, a `String` out. No I/O, no Lua.
//!
//! Invariants:
//! - ops are listed once per digest, in a deterministic topological order
//!   (inputs before the ops that use them; ties broken by digest);
//! - the terminal op of a Definition (the last `def` entry, with no op body
//!   and one input) is not an op of the graph: it names the result;
//! - nothing recurses on graph depth (a 10,000-op chain renders without
//!   growing the stack).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use luakit_llb::{DecodedOp as OpNode, Inspection, TerminalOp, inspect, pb};
use serde::Serialize;

/// How `luakit dag` prints a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable tree from the result down.
    Text,
    /// Stable JSON (`docs/dag-json.md`).
    Json,
    /// Graphviz DOT.
    Dot,
}

/// A `def` entry that is not a valid protobuf `Op`.
pub type DagError = luakit_llb::DecodeError;

/// Renders `def` in `format`. The Definition is taken by value: once its
/// ops are decoded, their bytes are freed.
pub fn render(mut def: pb::Definition, format: Format) -> Result<String, DagError> {
    let inspection = inspect(&def)?;
    def.def = Vec::new();
    let graph = Graph::new(&def, &inspection);
    Ok(match format {
        Format::Text => text(&graph),
        Format::Json => {
            // Nested definitions (of build ops) are the only part that can
            // fail: checked first, so that the ops can be serialized as they
            // are made.
            check_nested(graph.ops)?;
            let mut s = serde_json::to_string_pretty(&json(&graph))
                .expect("the JSON model holds only strings, numbers, bools, maps with string keys");
            s.push('\n');
            s
        }
        Format::Dot => dot(&graph),
    })
}

/// Number of hex digits shown for a digest in text and DOT.
const SHORT: usize = 12;

/// A decoded Definition in topological order.
struct Graph<'a> {
    /// The Definition's metadata and source map (its op bytes are gone).
    def: &'a pb::Definition,
    /// The result: input of the terminal op.
    terminal: Option<&'a TerminalOp>,
    /// Ops, inputs first, ties by digest.
    ops: &'a [OpNode],
    /// Digest → position in `ops`.
    index: HashMap<&'a str, usize>,
}

impl<'a> Graph<'a> {
    fn new(def: &'a pb::Definition, inspection: &'a Inspection) -> Self {
        let ops = inspection.ops.as_slice();
        let index = ops.iter().enumerate().map(|(i, n)| (n.digest.as_str(), i)).collect();
        Graph { def, terminal: inspection.terminal.as_ref(), ops, index }
    }

    fn metadata(&self, digest: &str) -> Option<&'a pb::OpMetadata> {
        self.def.metadata.get(digest)
    }

    fn node(&self, digest: &str) -> Option<&OpNode> {
        self.index.get(digest).map(|&i| &self.ops[i])
    }

    /// Ops no other op reads, sorted by digest (the entry points when the
    /// Definition has no terminal op).
    fn roots(&self) -> Vec<&str> {
        let used: BTreeSet<&str> =
            self.ops.iter().flat_map(|n| n.op.inputs.iter().map(|i| i.digest.as_str())).collect();
        let mut roots: Vec<&str> = self.ops.iter().map(|n| n.digest.as_str()).filter(|d| !used.contains(d)).collect();
        roots.sort_unstable();
        roots
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.get(..SHORT).unwrap_or(hex)
}

fn kind(op: &pb::Op) -> &'static str {
    match &op.op {
        Some(pb::op::Op::Source(_)) => "source",
        Some(pb::op::Op::Exec(_)) => "exec",
        Some(pb::op::Op::File(_)) => "file",
        Some(pb::op::Op::Build(_)) => "build",
        Some(pb::op::Op::Merge(_)) => "merge",
        Some(pb::op::Op::Diff(_)) => "diff",
        None => "none",
    }
}

/// `-1` (and any negative index) means "none" in LLB.
fn opt_index(i: i64) -> Option<i64> {
    (i >= 0).then_some(i)
}

fn octal(mode: i64) -> Option<String> {
    (mode >= 0).then(|| format!("{mode:04o}"))
}

fn enum_name<E: TryFrom<i32>>(v: i32, name: impl Fn(E) -> &'static str) -> String {
    match E::try_from(v) {
        Ok(e) => name(e).to_ascii_lowercase(),
        Err(_) => format!("unknown({v})"),
    }
}

// ---------------------------------------------------------------------------
// Short summaries (text and DOT)
// ---------------------------------------------------------------------------

/// Quotes a shell word when it needs it.
fn shell_word(w: &str) -> String {
    if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c)) {
        w.to_string()
    } else {
        format!("{w:?}")
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn summary(op: &pb::Op) -> String {
    match &op.op {
        Some(pb::op::Op::Source(s)) => s.identifier.clone(),
        Some(pb::op::Op::Exec(e)) => {
            let args = e.meta.as_ref().map(|m| m.args.as_slice()).unwrap_or_default();
            args.iter().map(|a| shell_word(a)).collect::<Vec<_>>().join(" ")
        }
        Some(pb::op::Op::File(f)) => f
            .actions
            .iter()
            .map(|a| match &a.action {
                Some(pb::file_action::Action::Copy(c)) => format!("copy {} -> {}", c.src, c.dest),
                Some(pb::file_action::Action::Mkfile(m)) => format!("mkfile {}", m.path),
                Some(pb::file_action::Action::Mkdir(m)) => format!("mkdir {}", m.path),
                Some(pb::file_action::Action::Rm(r)) => format!("rm {}", r.path),
                Some(pb::file_action::Action::Symlink(s)) => format!("symlink {} -> {}", s.newpath, s.oldpath),
                None => "(empty action)".to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(pb::op::Op::Build(b)) => {
            let file = b.attrs.get("llb.customname").or_else(|| b.attrs.get("filename"));
            file.map_or_else(|| format!("{} inputs", b.inputs.len()), |f| f.clone())
        }
        Some(pb::op::Op::Merge(m)) => format!("{} inputs", m.inputs.len()),
        Some(pb::op::Op::Diff(_)) => "lower -> upper".to_string(),
        None => String::new(),
    }
}

/// The `llb.customname` of an op, if its metadata has one.
fn custom_name<'a>(g: &Graph<'a>, digest: &str) -> Option<&'a str> {
    g.metadata(digest).and_then(|m| m.description.get("llb.customname")).map(String::as_str)
}

/// Whether a mount reads one of the exec's inputs: only bind and cache
/// mounts can (Go's client leaves `input` at 0 on secret and ssh mounts),
/// and only with a non-negative index.
fn reads_input(m: &pb::Mount) -> bool {
    m.input >= 0 && matches!(pb::MountType::try_from(m.mount_type), Ok(pb::MountType::Bind | pb::MountType::Cache))
}

/// What each input of `op` is for ("/" for a root mount, "from" for a copy
/// source, "layer 3"…), one entry per input, in one pass over the op (an
/// op may have 100,000 inputs).
fn edge_roles(op: &pb::Op) -> Vec<String> {
    let n = op.inputs.len();
    let mut roles: Vec<Vec<String>> = vec![Vec::new(); n];
    let mut add = |i: i64, role: String| {
        if let Some(r) = usize::try_from(i).ok().and_then(|i| roles.get_mut(i)) {
            if !r.contains(&role) {
                r.push(role);
            }
        }
    };
    match &op.op {
        Some(pb::op::Op::Exec(e)) => {
            for m in e.mounts.iter().filter(|m| reads_input(m)) {
                add(m.input, m.dest.clone());
            }
        }
        Some(pb::op::Op::File(f)) => {
            for a in &f.actions {
                add(a.input, "base".to_string());
                add(a.secondary_input, "from".to_string());
            }
        }
        Some(pb::op::Op::Merge(m)) => {
            for (k, x) in m.inputs.iter().enumerate() {
                add(x.input, format!("layer {k}"));
            }
        }
        Some(pb::op::Op::Diff(d)) => {
            if let Some(l) = d.lower {
                add(l.input, "lower".to_string());
            }
            if let Some(u) = d.upper {
                add(u.input, "upper".to_string());
            }
        }
        Some(pb::op::Op::Build(b)) => {
            add(b.builder, "builder".to_string());
            for (k, x) in &b.inputs {
                add(x.input, k.clone());
            }
        }
        Some(pb::op::Op::Source(_)) | None => {}
    }
    roles.into_iter().enumerate().map(|(i, r)| if r.is_empty() { format!("input {i}") } else { r.join(",") }).collect()
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

/// Indentation stops growing past this depth, so that a long chain prints in
/// linear space.
const MAX_INDENT: usize = 32;

fn op_line(g: &Graph<'_>, digest: &str) -> String {
    let Some(node) = g.node(digest) else {
        return format!("{} (not in this definition)", short(digest));
    };
    let mut line = format!("{} {}", short(digest), kind(&node.op));
    let s = summary(&node.op);
    if !s.is_empty() {
        line.push(' ');
        line.push_str(&truncate(&s, 100));
    }
    // Mounts that read no op of the graph (cache, secret, ssh, tmpfs,
    // scratch) do not show as inputs below: name them here.
    if let Some(pb::op::Op::Exec(e)) = &node.op.op {
        for m in e.mounts.iter().filter(|m| !reads_input(m)) {
            let ty = enum_name(m.mount_type, |t: pb::MountType| t.as_str_name());
            let ty = if ty == "bind" { "scratch" } else { ty.as_str() };
            let _ = write!(line, " +{ty}:{}", m.dest);
        }
    }
    if let Some(name) = custom_name(g, digest) {
        let _ = write!(line, "  # {}", truncate(name, 80));
    }
    line
}

/// ` (output N)` for a non-zero output index; for an exec, with the mount
/// the output comes from.
fn output_suffix(g: &Graph<'_>, digest: &str, index: i64) -> String {
    if index == 0 {
        return String::new();
    }
    let dest = g.node(digest).and_then(|n| match &n.op.op {
        Some(pb::op::Op::Exec(e)) => e.mounts.iter().find(|m| m.output == index).map(|m| m.dest.as_str()),
        _ => None,
    });
    match dest {
        Some(d) => format!(" (output {index}: {d})"),
        None => format!(" (output {index})"),
    }
}

fn text(g: &Graph<'_>) -> String {
    let mut out = String::new();
    let roots: Vec<(String, i64)> = match &g.terminal {
        Some(t) => vec![(t.input.digest.clone(), t.input.index)],
        None => {
            out.push_str("(no terminal op: showing every op that no other op reads)\n");
            g.roots().into_iter().map(|d| (d.to_string(), 0)).collect()
        }
    };
    if g.ops.is_empty() {
        out.push_str("(no ops)\n");
        return out;
    }
    let mut printed: BTreeSet<String> = BTreeSet::new();
    // Explicit stack: (digest, prefix for its children, lines already at this level).
    struct Frame {
        digest: String,
        prefix: String,
        next: usize,
        depth: usize,
        /// What each input is for (computed once per printed op).
        roles: Vec<String>,
    }
    let roles_of = |digest: &str| g.node(digest).map(|n| edge_roles(&n.op)).unwrap_or_default();
    for (root, index) in roots {
        out.push_str(&op_line(g, &root));
        out.push_str(&output_suffix(g, &root, index));
        out.push('\n');
        if !printed.insert(root.clone()) {
            continue;
        }
        let roles = roles_of(&root);
        let mut stack = vec![Frame { digest: root, prefix: String::new(), next: 0, depth: 0, roles }];
        while let Some(frame) = stack.last_mut() {
            let inputs = g.node(&frame.digest).map(|n| n.op.inputs.as_slice()).unwrap_or_default();
            let Some(input) = inputs.get(frame.next) else {
                stack.pop();
                continue;
            };
            let i = frame.next;
            frame.next += 1;
            let last = frame.next == inputs.len();
            let role = frame.roles.get(i).cloned().unwrap_or_default();
            let (glyph, cont) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
            let child_prefix =
                if frame.depth < MAX_INDENT { format!("{}{cont}", frame.prefix) } else { frame.prefix.clone() };
            let seen = printed.contains(&input.digest);
            let present = g.node(&input.digest).is_some();
            let _ = write!(out, "{}{glyph}[{role}{}] ", frame.prefix, output_suffix(g, &input.digest, input.index));
            if seen {
                let _ = writeln!(out, "{} (shown above)", short(&input.digest));
                continue;
            }
            out.push_str(&op_line(g, &input.digest));
            out.push('\n');
            if present {
                printed.insert(input.digest.clone());
                let depth = frame.depth + 1;
                let roles = roles_of(&input.digest);
                stack.push(Frame { digest: input.digest.clone(), prefix: child_prefix, next: 0, depth, roles });
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// DOT
// ---------------------------------------------------------------------------

/// Escapes text for a double-quoted DOT string (`\n` there is a line break).
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot(g: &Graph<'_>) -> String {
    let mut out = String::from("digraph llb {\n  node [shape=box, fontname=\"monospace\"];\n");
    let mut missing: BTreeSet<&str> = BTreeSet::new();
    for node in g.ops {
        let mut label = kind(&node.op).to_string();
        if let Some(name) = custom_name(g, &node.digest) {
            label.push('\n');
            label.push_str(&truncate(name, 48));
        }
        let s = summary(&node.op);
        if !s.is_empty() {
            label.push('\n');
            label.push_str(&truncate(&s, 48));
        }
        label.push('\n');
        label.push_str(short(&node.digest));
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", dot_escape(&node.digest), dot_escape(&label));
        for input in &node.op.inputs {
            if g.node(&input.digest).is_none() {
                missing.insert(&input.digest);
            }
        }
    }
    for d in &missing {
        let label = format!("not in definition\n{}", short(d));
        let _ = writeln!(out, "  \"{}\" [label=\"{}\", style=dashed];", dot_escape(d), dot_escape(&label));
    }
    for node in g.ops {
        for input in &node.op.inputs {
            let _ = write!(out, "  \"{}\" -> \"{}\"", dot_escape(&input.digest), dot_escape(&node.digest));
            if input.index != 0 {
                let _ = write!(out, " [label=\"{}\"]", input.index);
            }
            out.push_str(";\n");
        }
    }
    if let Some(t) = &g.terminal {
        out.push_str("  \"result\" [label=\"result\", shape=doubleoctagon];\n");
        let _ = write!(out, "  \"{}\" -> \"result\"", dot_escape(&t.input.digest));
        if t.input.index != 0 {
            let _ = write!(out, " [label=\"{}\"]", t.input.index);
        }
        out.push_str(";\n");
        if g.node(&t.input.digest).is_none() && !missing.contains(t.input.digest.as_str()) {
            let label = format!("not in definition\n{}", short(&t.input.digest));
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\", style=dashed];",
                dot_escape(&t.input.digest),
                dot_escape(&label)
            );
        }
    }
    out.push_str("}\n");
    out
}

// ---------------------------------------------------------------------------
// JSON (docs/dag-json.md)
// ---------------------------------------------------------------------------

/// Version of the JSON layout; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
struct DagJson<'a> {
    version: u32,
    terminal: Option<TerminalJson>,
    ops: OpsJson<'a>,
    sources: Vec<SourceJson>,
}

/// The ops of [`DagJson`]: made one at a time while they are serialized
/// (the model of every op at once would cost several times the output), or
/// made beforehand (a nested definition, which owns its decoded ops).
enum OpsJson<'a> {
    Lazy(&'a Graph<'a>),
    Made(Vec<OpJson>),
}

impl Serialize for OpsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OpsJson::Made(ops) => ops.serialize(serializer),
            OpsJson::Lazy(g) => serializer.collect_seq(g.ops.iter().map(|node| op_json(g, node))),
        }
    }
}

#[derive(Serialize)]
struct TerminalJson {
    digest: String,
    index: i64,
    op_digest: String,
    metadata: Option<MetaJson>,
}

#[derive(Serialize)]
struct InputJson {
    digest: String,
    index: i64,
}

#[derive(Serialize)]
struct OpJson {
    digest: String,
    kind: &'static str,
    inputs: Vec<InputJson>,
    platform: Option<PlatformJson>,
    constraints: Vec<String>,
    op: OpBody,
    metadata: Option<MetaJson>,
    locations: Vec<LocationJson>,
}

#[derive(Serialize)]
struct PlatformJson {
    os: String,
    architecture: String,
    variant: String,
    os_version: String,
    os_features: Vec<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum OpBody {
    Source(SourceOpJson),
    Exec(Box<ExecJson>),
    File(FileJson),
    Build(BuildJson),
    Merge(MergeJson),
    Diff(DiffJson),
    None(BTreeMap<String, String>),
}

#[derive(Serialize)]
struct SourceOpJson {
    identifier: String,
    attrs: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ExecJson {
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    user: String,
    hostname: String,
    network: String,
    security: String,
    proxy_env: Option<ProxyEnvJson>,
    extra_hosts: Vec<HostIpJson>,
    ulimits: Vec<UlimitJson>,
    cgroup_parent: String,
    remove_mount_stubs_recursive: bool,
    valid_exit_codes: Vec<i32>,
    secret_env: Vec<SecretEnvJson>,
    cdi_devices: Vec<CdiJson>,
    mounts: Vec<MountJson>,
}

#[derive(Serialize)]
struct ProxyEnvJson {
    http_proxy: String,
    https_proxy: String,
    ftp_proxy: String,
    no_proxy: String,
    all_proxy: String,
}

#[derive(Serialize)]
struct HostIpJson {
    host: String,
    ip: String,
}

#[derive(Serialize)]
struct UlimitJson {
    name: String,
    soft: i64,
    hard: i64,
}

#[derive(Serialize)]
struct SecretEnvJson {
    id: String,
    name: String,
    optional: bool,
}

#[derive(Serialize)]
struct CdiJson {
    name: String,
    optional: bool,
}

#[derive(Serialize)]
struct MountJson {
    #[serde(rename = "type")]
    mount_type: String,
    dest: String,
    input: Option<i64>,
    output: Option<i64>,
    selector: String,
    readonly: bool,
    result_id: String,
    content_cache: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<CacheJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<SecretJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh: Option<SecretJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tmpfs: Option<TmpfsJson>,
}

#[derive(Serialize)]
struct CacheJson {
    id: String,
    sharing: String,
}

#[derive(Serialize)]
struct SecretJson {
    id: String,
    uid: u32,
    gid: u32,
    mode: Option<String>,
    optional: bool,
}

#[derive(Serialize)]
struct TmpfsJson {
    size: i64,
}

#[derive(Serialize)]
struct FileJson {
    actions: Vec<FileActionJson>,
}

#[derive(Serialize)]
struct FileActionJson {
    input: Option<i64>,
    secondary_input: Option<i64>,
    output: Option<i64>,
    #[serde(flatten)]
    action: ActionJson,
}

#[derive(Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum ActionJson {
    Copy {
        src: String,
        dest: String,
        owner: Option<ChownJson>,
        mode: Option<String>,
        mode_str: String,
        follow_symlink: bool,
        dir_copy_contents: bool,
        attempt_unpack_docker_compatibility: bool,
        create_dest_path: bool,
        allow_wildcard: bool,
        allow_empty_wildcard: bool,
        timestamp: Option<i64>,
        include_patterns: Vec<String>,
        exclude_patterns: Vec<String>,
        always_replace_existing_dest_paths: bool,
        required_paths: Vec<String>,
    },
    Mkfile {
        path: String,
        mode: Option<String>,
        data: DataJson,
        owner: Option<ChownJson>,
        timestamp: Option<i64>,
    },
    Mkdir {
        path: String,
        mode: Option<String>,
        make_parents: bool,
        owner: Option<ChownJson>,
        timestamp: Option<i64>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
        allow_wildcard: bool,
    },
    Symlink {
        oldpath: String,
        newpath: String,
        owner: Option<ChownJson>,
        timestamp: Option<i64>,
    },
    None {},
}

#[derive(Serialize)]
enum DataJson {
    #[serde(rename = "utf8")]
    Utf8(String),
    #[serde(rename = "hex")]
    Hex(String),
}

#[derive(Serialize)]
struct ChownJson {
    user: Option<UserJson>,
    group: Option<UserJson>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum UserJson {
    Id { id: u32 },
    Name { name: String, input: Option<i64> },
}

#[derive(Serialize)]
struct BuildJson {
    builder: Option<i64>,
    inputs: BTreeMap<String, i64>,
    attrs: BTreeMap<String, String>,
    definition: Option<Box<DagJson<'static>>>,
}

#[derive(Serialize)]
struct MergeJson {
    inputs: Vec<Option<i64>>,
}

#[derive(Serialize)]
struct DiffJson {
    lower: Option<i64>,
    upper: Option<i64>,
}

#[derive(Serialize)]
struct MetaJson {
    description: BTreeMap<String, String>,
    caps: BTreeMap<String, bool>,
    progress_group: Option<ProgressGroupJson>,
    ignore_cache: bool,
    export_cache: Option<bool>,
}

#[derive(Serialize)]
struct ProgressGroupJson {
    id: String,
    name: String,
    weak: bool,
}

#[derive(Serialize)]
struct LocationJson {
    source_index: i32,
    file: Option<String>,
    ranges: Vec<RangeJson>,
}

#[derive(Serialize)]
struct RangeJson {
    start: PositionJson,
    end: PositionJson,
}

#[derive(Serialize)]
struct PositionJson {
    line: i32,
    character: i32,
}

#[derive(Serialize)]
struct SourceJson {
    filename: String,
    language: String,
    size: usize,
}

/// Every nested definition (of a build op) decodes: the JSON of an op
/// cannot fail after this.
fn check_nested(ops: &[OpNode]) -> Result<(), DagError> {
    for node in ops {
        if let Some(pb::op::Op::Build(pb::BuildOp { def: Some(d), .. })) = &node.op.op {
            check_nested(&inspect(d)?.ops)?;
        }
    }
    Ok(())
}

fn op_json(g: &Graph<'_>, node: &OpNode) -> OpJson {
    OpJson {
        digest: node.digest.clone(),
        kind: kind(&node.op),
        inputs: node.op.inputs.iter().map(|i| InputJson { digest: i.digest.clone(), index: i.index }).collect(),
        platform: node.op.platform.as_ref().map(|p| PlatformJson {
            os: p.os.clone(),
            architecture: p.architecture.clone(),
            variant: p.variant.clone(),
            os_version: p.os_version.clone(),
            os_features: p.os_features.clone(),
        }),
        constraints: node.op.constraints.as_ref().map(|c| c.filter.clone()).unwrap_or_default(),
        op: op_body(&node.op),
        metadata: g.metadata(&node.digest).map(meta_json),
        locations: locations(g.def, &node.digest),
    }
}

/// The JSON model of `g`; its ops are made while it is serialized.
fn json<'a>(g: &'a Graph<'a>) -> DagJson<'a> {
    DagJson { version: JSON_VERSION, terminal: terminal_json(g), ops: OpsJson::Lazy(g), sources: sources_json(g) }
}

/// The JSON model of `g`, every op made now (for a nested definition).
fn json_made(g: &Graph<'_>) -> DagJson<'static> {
    let ops = OpsJson::Made(g.ops.iter().map(|n| op_json(g, n)).collect());
    DagJson { version: JSON_VERSION, terminal: terminal_json(g), ops, sources: sources_json(g) }
}

fn terminal_json(g: &Graph<'_>) -> Option<TerminalJson> {
    g.terminal.map(|t| TerminalJson {
        digest: t.input.digest.clone(),
        index: t.input.index,
        op_digest: t.op_digest.clone(),
        metadata: g.metadata(&t.op_digest).map(meta_json),
    })
}

fn sources_json(g: &Graph<'_>) -> Vec<SourceJson> {
    g.def
        .source
        .as_ref()
        .map(|s| {
            s.infos
                .iter()
                .map(|i| SourceJson { filename: i.filename.clone(), language: i.language.clone(), size: i.data.len() })
                .collect()
        })
        .unwrap_or_default()
}

fn meta_json(m: &pb::OpMetadata) -> MetaJson {
    MetaJson {
        description: m.description.clone().into_iter().collect(),
        caps: m.caps.clone().into_iter().collect(),
        progress_group: m.progress_group.as_ref().map(|p| ProgressGroupJson {
            id: p.id.clone(),
            name: p.name.clone(),
            weak: p.weak,
        }),
        ignore_cache: m.ignore_cache,
        export_cache: m.export_cache.as_ref().map(|e| e.value),
    }
}

fn locations(def: &pb::Definition, digest: &str) -> Vec<LocationJson> {
    let Some(src) = &def.source else { return Vec::new() };
    let Some(locs) = src.locations.get(digest) else { return Vec::new() };
    locs.locations
        .iter()
        .map(|l| LocationJson {
            source_index: l.source_index,
            file: usize::try_from(l.source_index).ok().and_then(|i| src.infos.get(i)).map(|i| i.filename.clone()),
            ranges: l
                .ranges
                .iter()
                .map(|r| {
                    let pos = |p: &Option<pb::Position>| {
                        p.as_ref().map_or(PositionJson { line: 0, character: 0 }, |p| PositionJson {
                            line: p.line,
                            character: p.character,
                        })
                    };
                    RangeJson { start: pos(&r.start), end: pos(&r.end) }
                })
                .collect(),
        })
        .collect()
}

fn chown_json(c: &Option<pb::ChownOpt>) -> Option<ChownJson> {
    let user = |u: &Option<pb::UserOpt>| {
        u.as_ref().and_then(|u| u.user.as_ref()).map(|u| match u {
            pb::user_opt::User::ById(id) => UserJson::Id { id: *id },
            pb::user_opt::User::ByName(n) => UserJson::Name { name: n.name.clone(), input: opt_index(n.input) },
        })
    };
    c.as_ref().map(|c| ChownJson { user: user(&c.user), group: user(&c.group) })
}

fn timestamp(t: i64) -> Option<i64> {
    (t >= 0).then_some(t)
}

fn op_body(op: &pb::Op) -> OpBody {
    match &op.op {
        Some(pb::op::Op::Source(s)) => OpBody::Source(SourceOpJson {
            identifier: s.identifier.clone(),
            attrs: s.attrs.clone().into_iter().collect(),
        }),
        Some(pb::op::Op::Exec(e)) => {
            let m = e.meta.clone().unwrap_or_default();
            OpBody::Exec(Box::new(ExecJson {
                args: m.args,
                env: m.env,
                cwd: m.cwd,
                user: m.user,
                hostname: m.hostname,
                network: enum_name(e.network, |n: pb::NetMode| n.as_str_name()),
                security: enum_name(e.security, |s: pb::SecurityMode| s.as_str_name()),
                proxy_env: m.proxy_env.map(|p| ProxyEnvJson {
                    http_proxy: p.http_proxy,
                    https_proxy: p.https_proxy,
                    ftp_proxy: p.ftp_proxy,
                    no_proxy: p.no_proxy,
                    all_proxy: p.all_proxy,
                }),
                extra_hosts: m.extra_hosts.into_iter().map(|h| HostIpJson { host: h.host, ip: h.ip }).collect(),
                ulimits: m
                    .ulimit
                    .into_iter()
                    .map(|u| UlimitJson { name: u.name, soft: u.soft, hard: u.hard })
                    .collect(),
                cgroup_parent: m.cgroup_parent,
                remove_mount_stubs_recursive: m.remove_mount_stubs_recursive,
                valid_exit_codes: m.valid_exit_codes,
                secret_env: e
                    .secretenv
                    .iter()
                    .map(|s| SecretEnvJson { id: s.id.clone(), name: s.name.clone(), optional: s.optional })
                    .collect(),
                cdi_devices: e
                    .cdi_devices
                    .iter()
                    .map(|c| CdiJson { name: c.name.clone(), optional: c.optional })
                    .collect(),
                mounts: e.mounts.iter().map(mount_json).collect(),
            }))
        }
        Some(pb::op::Op::File(f)) => OpBody::File(FileJson {
            actions: f
                .actions
                .iter()
                .map(|a| FileActionJson {
                    input: opt_index(a.input),
                    secondary_input: opt_index(a.secondary_input),
                    output: opt_index(a.output),
                    action: action_json(a.action.as_ref()),
                })
                .collect(),
        }),
        Some(pb::op::Op::Build(b)) => OpBody::Build(BuildJson {
            builder: opt_index(b.builder),
            inputs: b.inputs.iter().map(|(k, v)| (k.clone(), v.input)).collect(),
            attrs: b.attrs.clone().into_iter().collect(),
            // Checked by `check_nested` before any op is made.
            definition: b.def.as_ref().and_then(|d| {
                let nested = inspect(d).ok()?;
                Some(Box::new(json_made(&Graph::new(d, &nested))))
            }),
        }),
        Some(pb::op::Op::Merge(m)) => {
            OpBody::Merge(MergeJson { inputs: m.inputs.iter().map(|i| opt_index(i.input)).collect() })
        }
        Some(pb::op::Op::Diff(d)) => OpBody::Diff(DiffJson {
            lower: d.lower.and_then(|l| opt_index(l.input)),
            upper: d.upper.and_then(|u| opt_index(u.input)),
        }),
        None => OpBody::None(BTreeMap::new()),
    }
}

fn mount_json(m: &pb::Mount) -> MountJson {
    let secret = |id: &str, uid: u32, gid: u32, mode: u32, optional: bool| SecretJson {
        id: id.to_string(),
        uid,
        gid,
        mode: octal(i64::from(mode)),
        optional,
    };
    MountJson {
        mount_type: enum_name(m.mount_type, |t: pb::MountType| t.as_str_name()),
        dest: m.dest.clone(),
        input: opt_index(m.input),
        output: opt_index(m.output),
        selector: m.selector.clone(),
        readonly: m.readonly,
        result_id: m.result_id.clone(),
        content_cache: enum_name(m.content_cache, |c: pb::MountContentCache| c.as_str_name()),
        cache: m.cache_opt.as_ref().map(|c| CacheJson {
            id: c.id.clone(),
            sharing: enum_name(c.sharing, |s: pb::CacheSharingOpt| s.as_str_name()),
        }),
        secret: m.secret_opt.as_ref().map(|s| secret(&s.id, s.uid, s.gid, s.mode, s.optional)),
        ssh: m.ssh_opt.as_ref().map(|s| secret(&s.id, s.uid, s.gid, s.mode, s.optional)),
        tmpfs: m.tmpfs_opt.as_ref().map(|t| TmpfsJson { size: t.size }),
    }
}

fn action_json(a: Option<&pb::file_action::Action>) -> ActionJson {
    use pb::file_action::Action;
    match a {
        Some(Action::Copy(c)) => ActionJson::Copy {
            src: c.src.clone(),
            dest: c.dest.clone(),
            owner: chown_json(&c.owner),
            mode: octal(i64::from(c.mode)),
            mode_str: c.mode_str.clone(),
            follow_symlink: c.follow_symlink,
            dir_copy_contents: c.dir_copy_contents,
            attempt_unpack_docker_compatibility: c.attempt_unpack_docker_compatibility,
            create_dest_path: c.create_dest_path,
            allow_wildcard: c.allow_wildcard,
            allow_empty_wildcard: c.allow_empty_wildcard,
            timestamp: timestamp(c.timestamp),
            include_patterns: c.include_patterns.clone(),
            exclude_patterns: c.exclude_patterns.clone(),
            always_replace_existing_dest_paths: c.always_replace_existing_dest_paths,
            required_paths: c.required_paths.clone(),
        },
        Some(Action::Mkfile(m)) => ActionJson::Mkfile {
            path: m.path.clone(),
            mode: octal(i64::from(m.mode)),
            data: match std::str::from_utf8(&m.data) {
                Ok(s) => DataJson::Utf8(s.to_string()),
                Err(_) => DataJson::Hex(m.data.iter().map(|b| format!("{b:02x}")).collect()),
            },
            owner: chown_json(&m.owner),
            timestamp: timestamp(m.timestamp),
        },
        Some(Action::Mkdir(m)) => ActionJson::Mkdir {
            path: m.path.clone(),
            mode: octal(i64::from(m.mode)),
            make_parents: m.make_parents,
            owner: chown_json(&m.owner),
            timestamp: timestamp(m.timestamp),
        },
        Some(Action::Rm(r)) => ActionJson::Rm {
            path: r.path.clone(),
            allow_not_found: r.allow_not_found,
            allow_wildcard: r.allow_wildcard,
        },
        Some(Action::Symlink(s)) => ActionJson::Symlink {
            oldpath: s.oldpath.clone(),
            newpath: s.newpath.clone(),
            owner: chown_json(&s.owner),
            timestamp: timestamp(s.timestamp),
        },
        None => ActionJson::None {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::render`] of a copy (the tests render one Definition several ways).
    fn render(def: &pb::Definition, format: Format) -> Result<String, DagError> {
        super::render(def.clone(), format)
    }
    use luakit_llb::Digest;
    use prost::Message;

    type R = Result<(), Box<dyn std::error::Error>>;

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance")
    }

    fn cases() -> Vec<(String, pb::Definition)> {
        let mut v: Vec<(String, pb::Definition)> = std::fs::read_dir(fixtures())
            .expect("fixtures dir")
            .filter_map(Result::ok)
            .filter_map(|e| {
                let bytes = std::fs::read(e.path().join("expected.pb")).ok()?;
                let def = pb::Definition::decode(bytes.as_slice()).expect("fixture decodes");
                Some((e.file_name().to_string_lossy().into_owned(), def))
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(v.len(), 15, "conformance cases");
        v
    }

    fn op_bytes(op: &pb::Op) -> Vec<u8> {
        op.encode_to_vec()
    }

    fn digest(op: &pb::Op) -> String {
        Digest::of(&op_bytes(op)).to_string()
    }

    fn input(op: &pb::Op, index: i64) -> pb::Input {
        pb::Input { digest: digest(op), index }
    }

    /// A Definition of `ops` plus a terminal op on `result`.
    fn definition(ops: &[&pb::Op], result: Option<pb::Input>) -> pb::Definition {
        let mut def = pb::Definition::default();
        for op in ops {
            def.def.push(op_bytes(op));
        }
        if let Some(r) = result {
            def.def.push(op_bytes(&pb::Op { inputs: vec![r], ..Default::default() }));
        }
        def
    }

    fn source(id: &str) -> pb::Op {
        pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp { identifier: id.to_string(), attrs: Default::default() })),
            ..Default::default()
        }
    }

    fn exec(args: &[&str], root: &pb::Op) -> pb::Op {
        pb::Op {
            inputs: vec![input(root, 0)],
            op: Some(pb::op::Op::Exec(pb::ExecOp {
                meta: Some(pb::Meta {
                    args: args.iter().map(|a| a.to_string()).collect(),
                    cwd: "/".into(),
                    ..Default::default()
                }),
                mounts: vec![pb::Mount { dest: "/".into(), input: 0, output: 0, ..Default::default() }],
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn every_conformance_case_renders_in_every_format() -> R {
        for (case, def) in cases() {
            for f in [Format::Text, Format::Json, Format::Dot] {
                let out = render(&def, f)?;
                assert!(!out.is_empty(), "{case} {f:?}");
            }
            let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
            let ops = v["ops"].as_array().ok_or("ops")?;
            assert_eq!(ops.len(), def.def.len() - 1, "{case}: every op but the terminal");
            // Digests are the sha256 of the entries, and inputs come first.
            let all: BTreeSet<String> = def.def.iter().map(|b| Digest::of(b).to_string()).collect();
            let mut seen = BTreeSet::new();
            for op in ops {
                let d = op["digest"].as_str().ok_or("digest")?;
                assert!(all.contains(d), "{case}: {d}");
                for i in op["inputs"].as_array().ok_or("inputs")? {
                    assert!(seen.contains(i["digest"].as_str().ok_or("input digest")?), "{case}: input after user");
                }
                seen.insert(d.to_string());
            }
            let term = v["terminal"]["digest"].as_str().ok_or("terminal")?;
            assert!(seen.contains(term), "{case}");
            let last = Digest::of(def.def.last().ok_or("def")?).to_string();
            assert_eq!(v["terminal"]["op_digest"], serde_json::Value::String(last));
        }
        Ok(())
    }

    #[test]
    fn output_does_not_depend_on_def_order() -> R {
        for (case, def) in cases() {
            let mut shuffled = def.clone();
            let n = shuffled.def.len() - 1;
            shuffled.def[..n].reverse();
            shuffled.def[..n].rotate_left(n / 2);
            for f in [Format::Text, Format::Json, Format::Dot] {
                assert_eq!(render(&def, f)?, render(&shuffled, f)?, "{case} {f:?}");
            }
        }
        Ok(())
    }

    #[test]
    fn text_tree_prints_shared_subgraphs_once() -> R {
        let base = source("docker-image://docker.io/library/alpine:3.19");
        let a = exec(&["/bin/sh", "-c", "echo a"], &base);
        let b = exec(&["/bin/sh", "-c", "echo b"], &base);
        let merge = pb::Op {
            inputs: vec![input(&a, 0), input(&b, 0)],
            op: Some(pb::op::Op::Merge(pb::MergeOp {
                inputs: vec![pb::MergeInput { input: 0 }, pb::MergeInput { input: 1 }],
            })),
            ..Default::default()
        };
        let def = definition(&[&base, &a, &b, &merge], Some(input(&merge, 0)));
        let text = render(&def, Format::Text)?;
        let short_base = &digest(&base)[7..19];
        assert_eq!(text.matches(short_base).count(), 2, "{text}");
        assert_eq!(text.matches("alpine").count(), 1, "{text}");
        assert!(text.contains("(shown above)"), "{text}");
        assert!(text.contains("[layer 1]"), "{text}");
        assert!(text.starts_with(&format!("{} merge", &digest(&merge)[7..19])), "{text}");
        Ok(())
    }

    #[test]
    fn dot_escapes_labels_and_labels_non_zero_outputs() -> R {
        let base = source("docker-image://docker.io/library/alpine:3.19");
        let run = exec(&["/bin/sh", "-c", "echo \"hi\\there\"\nnext"], &base);
        let user = pb::Op { inputs: vec![input(&run, 1)], ..exec(&["true"], &base) };
        let def = definition(&[&base, &run, &user], Some(input(&user, 0)));
        let dot = render(&def, Format::Dot)?;
        assert!(dot.starts_with("digraph llb {"), "{dot}");
        // The summary shell-quotes the argument; DOT escaping comes on top.
        assert!(dot.contains(r#"\"echo \\\"hi\\\\there\\\"\\nnext\""#), "{dot}");
        assert!(dot.contains("[label=\"1\"]"), "{dot}");
        // Every line's quotes balance once escapes are removed.
        for line in dot.lines() {
            let unescaped = line.replace("\\\\", "").replace("\\\"", "");
            assert_eq!(unescaped.matches('"').count() % 2, 0, "{line}");
        }
        Ok(())
    }

    /// Ops luakit's marshaller never emits: a BuildOp with a nested
    /// definition, an exec with proxy env and ulimits, binary mkfile data.
    #[test]
    fn foreign_definition_renders_every_field() -> R {
        let base = source("docker-image://docker.io/docker/dockerfile:1");
        let inner = definition(&[&base], Some(input(&base, 0)));
        let build = pb::Op {
            inputs: vec![input(&base, 0)],
            op: Some(pb::op::Op::Build(pb::BuildOp {
                builder: -1,
                inputs: [("context".to_string(), pb::BuildInput { input: 0 })].into_iter().collect(),
                def: Some(inner),
                attrs: [("filename".to_string(), "Dockerfile".to_string())].into_iter().collect(),
            })),
            ..Default::default()
        };
        let mut run = exec(&["make"], &build);
        if let Some(pb::op::Op::Exec(e)) = &mut run.op {
            let meta = e.meta.as_mut().ok_or("meta")?;
            meta.proxy_env = Some(pb::ProxyEnv { http_proxy: "http://proxy:3128".into(), ..Default::default() });
            meta.ulimit = vec![pb::Ulimit { name: "nofile".into(), soft: 1024, hard: 2048 }];
            e.network = 7; // not a NetMode
        }
        let file = pb::Op {
            inputs: vec![input(&run, 0)],
            op: Some(pb::op::Op::File(pb::FileOp {
                actions: vec![pb::FileAction {
                    input: 0,
                    secondary_input: -1,
                    output: 0,
                    action: Some(pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: "/bin.dat".into(),
                        mode: 0o600,
                        data: vec![0xff, 0x00],
                        owner: None,
                        timestamp: -1,
                    })),
                }],
            })),
            ..Default::default()
        };
        let def = definition(&[&base, &build, &run, &file], Some(input(&file, 0)));
        let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
        let ops = v["ops"].as_array().ok_or("ops")?;
        let kinds: Vec<&str> = ops.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(kinds, ["source", "build", "exec", "file"]);
        assert_eq!(ops[1]["op"]["attrs"]["filename"], "Dockerfile");
        assert_eq!(ops[1]["op"]["inputs"]["context"], 0);
        assert_eq!(ops[1]["op"]["builder"], serde_json::Value::Null);
        assert_eq!(ops[1]["op"]["definition"]["ops"][0]["kind"], "source");
        assert_eq!(ops[2]["op"]["proxy_env"]["http_proxy"], "http://proxy:3128");
        assert_eq!(ops[2]["op"]["ulimits"][0]["hard"], 2048);
        assert_eq!(ops[2]["op"]["network"], "unknown(7)");
        assert_eq!(ops[3]["op"]["actions"][0]["action"], "mkfile");
        assert_eq!(ops[3]["op"]["actions"][0]["mode"], "0600");
        assert_eq!(ops[3]["op"]["actions"][0]["data"]["hex"], "ff00");
        assert_eq!(ops[3]["op"]["actions"][0]["secondary_input"], serde_json::Value::Null);
        assert_eq!(ops[3]["metadata"], serde_json::Value::Null);
        let text = render(&def, Format::Text)?;
        assert!(text.contains("build Dockerfile") && text.contains("[context]"), "{text}");
        Ok(())
    }

    #[test]
    fn without_terminal_every_root_is_shown() -> R {
        let a = source("local://a");
        let b = source("local://b");
        let def = definition(&[&b, &a], None);
        let text = render(&def, Format::Text)?;
        assert!(text.contains("no terminal op") && text.contains("local://a") && text.contains("local://b"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&render(&def, Format::Json)?)?;
        assert_eq!(v["terminal"], serde_json::Value::Null);
        assert_eq!(v["ops"].as_array().map(Vec::len), Some(2));
        let empty = render(&pb::Definition::default(), Format::Text)?;
        assert!(empty.contains("(no ops)"), "{empty}");
        Ok(())
    }

    #[test]
    fn missing_inputs_are_shown_not_fatal() -> R {
        let ghost = source("local://ghost");
        let run = exec(&["true"], &ghost);
        let def = definition(&[&run], Some(input(&run, 0)));
        assert!(render(&def, Format::Text)?.contains("(not in this definition)"));
        assert!(render(&def, Format::Dot)?.contains("style=dashed"));
        Ok(())
    }

    #[test]
    fn corrupt_entries_are_an_error() {
        let def = pb::Definition { def: vec![vec![0xff, 0xff, 0xff]], ..Default::default() };
        let e = render(&def, Format::Text).expect_err("not an op");
        assert!(matches!(e, luakit_llb::DecodeError::Op { entry: 0, .. }), "{e}");
        assert!(e.to_string().contains("entry 0"), "{e}");
    }

    #[test]
    fn long_chains_render_in_linear_space_without_recursion() -> R {
        let mut ops = vec![source("docker-image://docker.io/library/alpine:3.19")];
        for i in 0..20_000 {
            let prev = ops.last().ok_or("ops")?;
            ops.push(exec(&["/bin/sh", "-c", &format!("echo {i}")], prev));
        }
        let refs: Vec<&pb::Op> = ops.iter().collect();
        let last = ops.last().ok_or("ops")?;
        let def = definition(&refs, Some(input(last, 0)));
        let text = render(&def, Format::Text)?;
        assert_eq!(text.lines().count(), 20_001);
        assert!(text.len() < 20_001 * 200, "{} bytes", text.len());
        render(&def, Format::Json)?;
        render(&def, Format::Dot)?;
        Ok(())
    }
}
