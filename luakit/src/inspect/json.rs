//! The JSON view, in the stable layout documented in `docs/dag-json.md`:
//! every op with all its fields, inputs first, plus the terminal op and the
//! source files.

use std::collections::BTreeMap;

use luakit_llb::describe::kind;
use serde::Serialize;

use super::summary::enum_name;
use super::{DagError, Graph};
use crate::pb;

/// `-1` (and any negative index) means "none" in LLB.
fn opt_index(i: i64) -> Option<i64> {
    (i >= 0).then_some(i)
}

fn octal(mode: i64) -> Option<String> {
    (mode >= 0).then(|| format!("{mode:04o}"))
}

/// Version of the JSON layout; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

#[derive(Serialize)]
pub(super) struct DagJson {
    version: u32,
    terminal: Option<TerminalJson>,
    ops: Vec<OpJson>,
    sources: Vec<SourceJson>,
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
    definition: Option<Box<DagJson>>,
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

pub(super) fn json(g: &Graph<'_>) -> Result<DagJson, DagError> {
    let mut ops = Vec::with_capacity(g.ops.len());
    for node in &g.ops {
        ops.push(OpJson {
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
            op: op_body(&node.op)?,
            metadata: g.metadata(&node.digest).map(meta_json),
            locations: locations(g.def, &node.digest),
        });
    }
    Ok(DagJson {
        version: JSON_VERSION,
        terminal: g.terminal.as_ref().map(|t| TerminalJson {
            digest: t.input.digest.clone(),
            index: t.input.index,
            op_digest: t.op_digest.clone(),
            metadata: g.metadata(&t.op_digest).map(meta_json),
        }),
        ops,
        sources: g
            .def
            .source
            .as_ref()
            .map(|s| {
                s.infos
                    .iter()
                    .map(|i| SourceJson {
                        filename: i.filename.clone(),
                        language: i.language.clone(),
                        size: i.data.len(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
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

fn op_body(op: &pb::Op) -> Result<OpBody, DagError> {
    Ok(match &op.op {
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
            definition: match &b.def {
                Some(d) => Some(Box::new(json(&Graph::new(d)?)?)),
                None => None,
            },
        }),
        Some(pb::op::Op::Merge(m)) => {
            OpBody::Merge(MergeJson { inputs: m.inputs.iter().map(|i| opt_index(i.input)).collect() })
        }
        Some(pb::op::Op::Diff(d)) => OpBody::Diff(DiffJson {
            lower: d.lower.and_then(|l| opt_index(l.input)),
            upper: d.upper.and_then(|u| opt_index(u.input)),
        }),
        None => OpBody::None(BTreeMap::new()),
    })
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
