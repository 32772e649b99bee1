//! The conformance vectors that were not produced by Go (`fixtures/conformance/r*`):
//! their expected Definitions are derived here, by hand, from the rules of
//! BuildKit's Go package `client/llb` v0.11.6 (`ExecOp.Marshal`, `llb.Git`,
//! `gitutil.ParseProtocol`, `sshutil.IsImplicitSSHTransport`,
//! `State.Marshal`). Every op is written out literally as `pb` messages, each
//! field as those rules give it; nothing here calls luakit-graph or the
//! marshaller, so luakit's output is checked against an independent
//! derivation. The only shared code is the protobuf wire encoder (`pb`),
//! which reproduces the Go-made vectors byte for byte (see `roundtrip`).
//!
//! `expected.pb` and `expected.dump.json` of each case must be exactly what
//! this module derives. After changing a derivation, run the test with
//! `LUAKIT_WRITE_REASONED_VECTORS=1` to rewrite the files, and review the diff.

use std::collections::BTreeMap;

use luakit_llb::{Digest, pb};
use prost::Message;

use crate::compare::cases_dir;

// ---------------------------------------------------------------- enums of ops.proto

const BIND: i32 = 0;
const SECRET: i32 = 1;
const SSH: i32 = 2;
const CACHE: i32 = 3;
const TMPFS: i32 = 4;
const SHARED: i32 = 0;
const PRIVATE: i32 = 1;
const LOCKED: i32 = 2;
const NET_HOST: i32 = 1;

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const GIT_SECRETS: [(&str, &str); 2] =
    [("git.authheadersecret", "GIT_AUTH_HEADER"), ("git.authtokensecret", "GIT_AUTH_TOKEN")];

// ---------------------------------------------------------------- building blocks

fn amd64() -> Option<pb::Platform> {
    Some(pb::Platform { architecture: "amd64".into(), os: "linux".into(), ..Default::default() })
}

fn constraints() -> Option<pb::WorkerConstraints> {
    Some(pb::WorkerConstraints::default())
}

/// `docker-image://…`: platform specific, so the op keeps its platform.
fn image_op(normalized: &str) -> pb::Op {
    pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: format!("docker-image://{normalized}"),
            attrs: BTreeMap::new(),
        })),
        platform: amd64(),
        constraints: constraints(),
        ..Default::default()
    }
}

/// Any other source: `SourceOp.Marshal` drops the platform.
fn source_op(identifier: &str, attrs: &[(&str, &str)]) -> pb::Op {
    pb::Op {
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: identifier.into(),
            attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        })),
        constraints: constraints(),
        ..Default::default()
    }
}

/// A git source with the two default auth secret attrs plus `attrs`.
fn git_op(identifier: &str, attrs: &[(&str, &str)]) -> pb::Op {
    let mut all: Vec<(&str, &str)> = GIT_SECRETS.to_vec();
    all.extend_from_slice(attrs);
    source_op(identifier, &all)
}

fn input(digest: &str, index: i64) -> pb::Input {
    pb::Input { digest: digest.into(), index }
}

fn meta(args: &[&str], env: &[&str], cwd: &str) -> Option<pb::Meta> {
    Some(pb::Meta {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: env.iter().map(|s| s.to_string()).collect(),
        cwd: cwd.into(),
        remove_mount_stubs_recursive: true,
        ..Default::default()
    })
}

fn exec_op(inputs: Vec<pb::Input>, exec: pb::ExecOp) -> pb::Op {
    pb::Op { inputs, op: Some(pb::op::Op::Exec(exec)), platform: amd64(), constraints: constraints() }
}

fn merge_op(digests: &[&str]) -> pb::Op {
    pb::Op {
        inputs: digests.iter().map(|d| input(d, 0)).collect(),
        op: Some(pb::op::Op::Merge(pb::MergeOp {
            inputs: (0..digests.len() as i64).map(|i| pb::MergeInput { input: i }).collect(),
        })),
        constraints: constraints(),
        ..Default::default()
    }
}

/// A filesystem mount (bind, cache, tmpfs).
fn fs_mount(input: i64, selector: &str, dest: &str, output: i64, readonly: bool) -> pb::Mount {
    pb::Mount {
        input,
        selector: selector.into(),
        dest: dest.into(),
        output,
        readonly,
        mount_type: BIND,
        ..Default::default()
    }
}

fn cache_mount(mut m: pb::Mount, id: &str, sharing: i32) -> pb::Mount {
    m.mount_type = CACHE;
    m.cache_opt = Some(pb::CacheOpt { id: id.into(), sharing });
    m
}

/// `TmpfsOpt` is always set for tmpfs, even with size 0.
fn tmpfs_mount(dest: &str, size: i64) -> pb::Mount {
    pb::Mount {
        input: -1,
        dest: dest.into(),
        output: -1,
        mount_type: TMPFS,
        tmpfs_opt: Some(pb::TmpfsOpt { size }),
        ..Default::default()
    }
}

/// Secret and SSH mounts leave input, output, selector and readonly unset
/// (input 0, output 0 on the wire: absent).
fn secret_mount(dest: &str, id: &str, uid: u32, gid: u32, mode: u32, optional: bool) -> pb::Mount {
    pb::Mount {
        dest: dest.into(),
        mount_type: SECRET,
        secret_opt: Some(pb::SecretOpt { id: id.into(), uid, gid, mode, optional }),
        ..Default::default()
    }
}

fn ssh_mount(dest: &str, id: &str, uid: u32, gid: u32, mode: u32, optional: bool) -> pb::Mount {
    pb::Mount {
        dest: dest.into(),
        mount_type: SSH,
        ssh_opt: Some(pb::SshOpt { id: id.into(), uid, gid, mode, optional }),
        ..Default::default()
    }
}

/// A Definition as `State.Marshal` builds it: ops inputs first, each op's
/// metadata, the terminal op last, and the source map collector's empty
/// `Locations` for every op but the terminal one.
#[derive(Default)]
struct DefBuilder {
    def: pb::Definition,
}

impl DefBuilder {
    fn add(&mut self, op: pb::Op, caps: &[&str]) -> String {
        self.add_with(op, caps, &[])
    }

    fn add_with(&mut self, op: pb::Op, caps: &[&str], description: &[(&str, &str)]) -> String {
        let bytes = op.encode_to_vec();
        let dgst = Digest::of(&bytes).to_string();
        let md = pb::OpMetadata {
            caps: caps.iter().map(|c| (c.to_string(), true)).collect(),
            description: description.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        self.def.def.push(bytes);
        self.def.metadata.insert(dgst.clone(), md);
        self.def.source.get_or_insert_with(Default::default).locations.insert(dgst.clone(), pb::Locations::default());
        dgst
    }

    fn finish(mut self, digest: &str, index: i64, caps: &[&str]) -> pb::Definition {
        let op = pb::Op { inputs: vec![input(digest, index)], ..Default::default() };
        let bytes = op.encode_to_vec();
        let dgst = Digest::of(&bytes).to_string();
        self.def.def.push(bytes);
        let md = pb::OpMetadata { caps: caps.iter().map(|c| (c.to_string(), true)).collect(), ..Default::default() };
        self.def.metadata.insert(dgst, md);
        self.def
    }
}

/// The terminal op's caps (`State.Marshal`): constraints and platform, plus
/// meta.description when any op has a description.
const TERMINAL: &[&str] = &["constraints", "platform"];
const TERMINAL_DESCRIBED: &[&str] = &["constraints", "meta.description", "platform"];

const SOURCE_IMAGE: &[&str] = &["source.image"];
/// `llb.Git` over SSH: knownsshhosts and mountsshsock are always recorded.
const GIT_SSH: &[&str] = &["source.git", "source.git.fullurl", "source.git.knownsshhosts", "source.git.mountsshsock"];
const GIT_PLAIN: &[&str] = &["source.git", "source.git.fullurl"];

// ---------------------------------------------------------------- the derivations

/// r01: `ExecOp.Marshal` sorts `e.mounts` (root, tmpfs, cache, bind) by
/// target, then appends `e.secrets` (file secrets) in order, then `e.ssh` in
/// order. SSH_AUTH_SOCK = the first SSH target, appended to the env.
fn r01_mount_kinds_mixed() -> pb::Definition {
    let mut d = DefBuilder::default();
    let alpine = d.add(image_op("docker.io/library/alpine:3.19"), SOURCE_IMAGE);
    let busybox = d.add(image_op("docker.io/library/busybox:1.36"), SOURCE_IMAGE);
    let exec = pb::ExecOp {
        meta: meta(&["/bin/sh", "-c", "make"], &[PATH, "SSH_AUTH_SOCK=/run/ssh-github"], "/src"),
        mounts: vec![
            // Sorted by target: "/" < "/dev/shm" < "/root/.cache" < "/tmp" < "/tools" < "/var/cache/apk".
            fs_mount(0, "", "/", 0, false),
            tmpfs_mount("/dev/shm", 67108864),
            cache_mount(fs_mount(-1, "", "/root/.cache", -1, false), "cache", PRIVATE),
            tmpfs_mount("/tmp", 0),
            fs_mount(1, "/bin", "/tools", -1, true),
            cache_mount(fs_mount(-1, "", "/var/cache/apk", -1, false), "apk", LOCKED),
            // Secrets, in the order given (0440 = 288).
            secret_mount("/run/secrets/npmrc", "npmrc", 0, 0, 0o400, false),
            secret_mount("/run/secrets/aws", "aws", 1000, 1000, 0o440, true),
            // SSH sockets, in the order given (0600 = 384, 0660 = 432).
            ssh_mount("/run/ssh-github", "github", 0, 0, 0o600, false),
            ssh_mount("/run/ssh-gitlab", "gitlab", 1000, 0, 0o660, true),
        ],
        ..Default::default()
    };
    let caps = [
        "exec.meta.base",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.secret",
        "exec.mount.selector",
        "exec.mount.ssh",
        "exec.mount.tmpfs",
        "exec.mount.tmpfs.size",
    ];
    let e = d.add(exec_op(vec![input(&alpine, 0), input(&busybox, 0)], exec), &caps);
    d.finish(&e, 0, TERMINAL)
}

/// r02: output indexes count only mounts that are not readonly, not cache,
/// not tmpfs and not ForceNoOutput, in target order; inputs are assigned in
/// target order and an input equal to an earlier one reuses its index.
fn r02_mount_outputs() -> pb::Definition {
    let mut d = DefBuilder::default();
    let alpine = d.add(image_op("docker.io/library/alpine:3.19"), SOURCE_IMAGE);
    let local = d.add(
        source_op("local://context", &[("local.unique", "conformance")]),
        &["source.local", "source.local.unique"],
    );
    let exec = pb::ExecOp {
        meta: meta(&["/bin/build"], &[PATH], "/work"),
        mounts: vec![
            fs_mount(0, "", "/", 0, false),
            fs_mount(0, "", "/base", 1, false),
            cache_mount(fs_mount(1, "seed", "/cache", -1, true), "/cache", SHARED),
            fs_mount(-1, "", "/out/a", 2, false),
            fs_mount(-1, "", "/out/z", 3, false),
            tmpfs_mount("/run/tmp", 0),
            fs_mount(1, "", "/scratchpad", -1, false),
            fs_mount(1, "", "/work/src", -1, true),
        ],
        network: NET_HOST,
        ..Default::default()
    };
    let caps = [
        "exec.meta.base",
        "exec.meta.network",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.selector",
        "exec.mount.tmpfs",
    ];
    let e = d.add(exec_op(vec![input(&alpine, 0), input(&local, 0)], exec), &caps);
    d.finish(&e, 3, TERMINAL)
}

/// r03: SSH_AUTH_SOCK already in the env is kept; secret env entries in the
/// order given; a read-only root has output -1 and the first writable mount
/// is output 0.
fn r03_ssh_auth_sock_preset() -> pb::Definition {
    let mut d = DefBuilder::default();
    let alpine = d.add(image_op("docker.io/library/alpine:3.19"), SOURCE_IMAGE);
    let exec = pb::ExecOp {
        meta: meta(&["/bin/sh", "-c", "ssh-add -l > /out/keys"], &[PATH, "SSH_AUTH_SOCK=/agent.sock"], "/"),
        mounts: vec![
            fs_mount(0, "", "/", -1, true),
            fs_mount(-1, "", "/out", 0, false),
            secret_mount("/run/secrets/key", "key", 0, 0, 0o400, false),
            ssh_mount("/run/a.sock", "default", 0, 0, 0o600, false),
            ssh_mount("/run/b.sock", "deploy", 0, 0, 0o600, false),
        ],
        secretenv: vec![
            pb::SecretEnv { id: "maybe".into(), name: "OPTIONAL_KEY".into(), optional: true },
            pb::SecretEnv { id: "api-token".into(), name: "TOKEN".into(), optional: false },
        ],
        ..Default::default()
    };
    let caps = ["exec.meta.base", "exec.mount.bind", "exec.mount.secret", "exec.mount.ssh", "exec.secretenv"];
    let e = d.add(exec_op(vec![input(&alpine, 0)], exec), &caps);
    d.finish(&e, 0, TERMINAL)
}

/// r04: scp-like remotes. ParseProtocol: no scheme, the pattern matches, so
/// SSH; the user (up to the first '@') is cut. llb.Git then turns the first
/// ':' into '/', appends "#"+ref, keeps the URL up to '#' as git.fullurl, and
/// for SSH records git.mountsshsock ("default" unless given) and, when
/// given, the known hosts with one trailing newline. (Without known hosts Go
/// tries ssh-keyscan, best effort; these expected files assume it failed, as
/// it does without network.)
fn r04_git_scp() -> pb::Definition {
    let mut d = DefBuilder::default();
    let a = d.add(
        git_op(
            "git://github.com/moby/buildkit.git#v0.11.6",
            &[("git.fullurl", "git@github.com:moby/buildkit.git"), ("git.mountsshsock", "default")],
        ),
        GIT_SSH,
    );
    let b = d.add(
        git_op(
            "git://example.com//srv/repos/weird/project.git#main:docs",
            &[
                ("git.fullurl", "nonstandarduser@example.com:/srv/repos/weird/project.git"),
                (
                    "git.knownsshhosts",
                    "example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
                ),
                ("git.mountsshsock", "deploy"),
            ],
        ),
        GIT_SSH,
    );
    let c = d.add(
        git_op(
            "git://git.example-host.io/team/app",
            &[
                ("git.fullurl", "deploy_bot-1@git.example-host.io:team/app"),
                ("git.keepgitdir", "true"),
                ("git.mountsshsock", "default"),
            ],
        ),
        &[
            "source.git",
            "source.git.fullurl",
            "source.git.keepgitdir",
            "source.git.knownsshhosts",
            "source.git.mountsshsock",
        ],
    );
    let m = d.add(merge_op(&[&a, &b, &c]), &["mergeop"]);
    d.finish(&m, 0, TERMINAL)
}

/// r05: ssh:// remotes. The scheme is cut, then the user; only the first ':'
/// becomes '/', so a port turns into a path component of the identifier.
/// Several known-hosts entries are concatenated, each ending in a newline.
fn r05_git_ssh_url() -> pb::Definition {
    let mut d = DefBuilder::default();
    let a = d.add(
        git_op(
            "git://github.com/moby/buildkit.git",
            &[("git.fullurl", "ssh://git@github.com/moby/buildkit.git"), ("git.mountsshsock", "default")],
        ),
        GIT_SSH,
    );
    let b = d.add(
        git_op(
            "git://subdomain.example.hostname/2222/root/my/really/weird/path/foo.git#v1.2.3",
            &[
                ("git.fullurl", "ssh://root@subdomain.example.hostname:2222/root/my/really/weird/path/foo.git"),
                (
                    "git.knownsshhosts",
                    "[subdomain.example.hostname]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1\n\
                     [subdomain.example.hostname]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKey2\n",
                ),
                ("git.mountsshsock", "default"),
            ],
        ),
        GIT_SSH,
    );
    let c = d.add(
        git_op(
            "git://example.com/repo.git",
            &[("git.fullurl", "ssh://example.com/repo.git"), ("git.mountsshsock", "ci")],
        ),
        GIT_SSH,
    );
    let m = d.add(merge_op(&[&a, &b, &c]), &["mergeop"]);
    d.finish(&m, 0, TERMINAL)
}

/// r06: http(s):// and git:// keep everything after the scheme (a fragment
/// too) in the identifier; an unknown form is fetched as "https://"+URL;
/// naming an auth secret records source.git.httpauth, unless no secret name
/// is left; SSH options are ignored for non-SSH remotes; a user with '.' or
/// no user at all is not scp-like. A custom name goes to the op's
/// description and gives the terminal op meta.description.
fn r06_git_url_forms() -> pb::Definition {
    let mut d = DefBuilder::default();
    let a = d.add_with(
        git_op(
            "git://github.com/moby/buildkit.git#v0.11.6:docs",
            &[("git.fullurl", "https://github.com/moby/buildkit.git")],
        ),
        GIT_PLAIN,
        &[("llb.customname", "buildkit docs")],
    );
    let b = d.add(
        git_op(
            "git://example.com/repo#main",
            &[("git.fullurl", "http://example.com/repo"), ("git.keepgitdir", "true")],
        ),
        &["source.git", "source.git.fullurl", "source.git.keepgitdir"],
    );
    let c = d.add(
        git_op("git://host.xz:1234/path/to/repo.git#:sub", &[("git.fullurl", "git://host.xz:1234/path/to/repo.git")]),
        GIT_PLAIN,
    );
    let dd = d.add(
        source_op(
            "git://github.com/moby/buildkit",
            &[
                ("git.authheadersecret", "GIT_AUTH_HEADER"),
                ("git.authtokensecret", "gh-token"),
                ("git.fullurl", "https://github.com/moby/buildkit"),
            ],
        ),
        &["source.git", "source.git.fullurl", "source.git.httpauth"],
    );
    let e = d.add(
        git_op("git://gitlab.com:group/project.git", &[("git.fullurl", "https://gitlab.com:group/project.git")]),
        GIT_PLAIN,
    );
    let f = d.add(source_op("git://example.com/r.git", &[("git.fullurl", "https://example.com/r.git")]), GIT_PLAIN);
    let g = d.add(
        git_op("git://user.name@host.example:o/r", &[("git.fullurl", "https://user.name@host.example:o/r")]),
        GIT_PLAIN,
    );
    let m = d.add(merge_op(&[&a, &b, &c, &dd, &e, &f, &g]), &["mergeop"]);
    d.finish(&m, 0, TERMINAL_DESCRIBED)
}

/// Every reasoned vector, by case folder.
pub fn vectors() -> Vec<(&'static str, pb::Definition)> {
    vec![
        ("r01_mount_kinds_mixed", r01_mount_kinds_mixed()),
        ("r02_mount_outputs", r02_mount_outputs()),
        ("r03_ssh_auth_sock_preset", r03_ssh_auth_sock_preset()),
        ("r04_git_scp", r04_git_scp()),
        ("r05_git_ssh_url", r05_git_ssh_url()),
        ("r06_git_url_forms", r06_git_url_forms()),
    ]
}

// ---------------------------------------------------------------- dump-llb JSON

/// A JSON string as Go's encoding/json writes it (HTML-safe escapes).
fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => o.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `{"k":v,…}` from fields, leaving out `None`s (Go's omitempty).
fn obj(fields: Vec<(&str, Option<String>)>) -> String {
    let parts: Vec<String> = fields.into_iter().filter_map(|(k, v)| v.map(|v| format!("{}:{v}", js(k)))).collect();
    format!("{{{}}}", parts.join(","))
}

fn nonempty_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| js(s))
}

fn nonzero<T: PartialEq + Default + ToString>(v: T) -> Option<String> {
    (v != T::default()).then(|| v.to_string())
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> Option<String> {
    (!items.is_empty()).then(|| format!("[{}]", items.iter().map(f).collect::<Vec<_>>().join(",")))
}

fn string_map<V>(m: &BTreeMap<String, V>, f: impl Fn(&V) -> String) -> String {
    format!("{{{}}}", m.iter().map(|(k, v)| format!("{}:{}", js(k), f(v))).collect::<Vec<_>>().join(","))
}

fn json_mount(m: &pb::Mount) -> String {
    let id_opt = |id: &str, uid: u32, gid: u32, mode: u32, optional: bool| {
        obj(vec![
            ("ID", nonempty_str(id)),
            ("uid", nonzero(uid)),
            ("gid", nonzero(gid)),
            ("mode", nonzero(mode)),
            ("optional", optional.then(|| "true".into())),
        ])
    };
    obj(vec![
        ("input", Some(m.input.to_string())),
        ("selector", nonempty_str(&m.selector)),
        ("dest", nonempty_str(&m.dest)),
        ("output", Some(m.output.to_string())),
        ("readonly", m.readonly.then(|| "true".into())),
        ("mountType", nonzero(m.mount_type)),
        ("TmpfsOpt", m.tmpfs_opt.as_ref().map(|t| obj(vec![("size", nonzero(t.size))]))),
        (
            "cacheOpt",
            m.cache_opt.as_ref().map(|c| obj(vec![("ID", nonempty_str(&c.id)), ("sharing", nonzero(c.sharing))])),
        ),
        ("secretOpt", m.secret_opt.as_ref().map(|s| id_opt(&s.id, s.uid, s.gid, s.mode, s.optional))),
        ("SSHOpt", m.ssh_opt.as_ref().map(|s| id_opt(&s.id, s.uid, s.gid, s.mode, s.optional))),
    ])
}

fn json_op(op: &pb::Op) -> String {
    let body = match &op.op {
        None => "null".to_string(),
        Some(pb::op::Op::Source(s)) => obj(vec![(
            "source",
            Some(obj(vec![
                ("identifier", nonempty_str(&s.identifier)),
                ("attrs", (!s.attrs.is_empty()).then(|| string_map(&s.attrs, |v| js(v)))),
            ])),
        )]),
        Some(pb::op::Op::Exec(e)) => {
            let m = e.meta.as_ref().expect("exec meta");
            let meta = obj(vec![
                ("args", list(&m.args, |a| js(a))),
                ("env", list(&m.env, |a| js(a))),
                ("cwd", nonempty_str(&m.cwd)),
                ("user", nonempty_str(&m.user)),
                ("hostname", nonempty_str(&m.hostname)),
                ("removeMountStubsRecursive", m.remove_mount_stubs_recursive.then(|| "true".into())),
            ]);
            obj(vec![(
                "exec",
                Some(obj(vec![
                    ("meta", Some(meta)),
                    ("mounts", list(&e.mounts, json_mount)),
                    ("network", nonzero(e.network)),
                    ("security", nonzero(e.security)),
                    (
                        "secretenv",
                        list(&e.secretenv, |s| {
                            obj(vec![
                                ("ID", nonempty_str(&s.id)),
                                ("name", nonempty_str(&s.name)),
                                ("optional", s.optional.then(|| "true".into())),
                            ])
                        }),
                    ),
                ])),
            )])
        }
        Some(pb::op::Op::Merge(m)) => obj(vec![(
            "merge",
            Some(obj(vec![("inputs", list(&m.inputs, |i| obj(vec![("input", Some(i.input.to_string()))])))])),
        )]),
        Some(other) => panic!("no JSON rendering for {other:?} (not used by the reasoned vectors)"),
    };
    obj(vec![
        (
            "inputs",
            list(&op.inputs, |i| obj(vec![("digest", Some(js(&i.digest))), ("index", Some(i.index.to_string()))])),
        ),
        ("Op", Some(body)),
        (
            "platform",
            op.platform.as_ref().map(|p| {
                obj(vec![
                    ("Architecture", nonempty_str(&p.architecture)),
                    ("OS", nonempty_str(&p.os)),
                    ("Variant", nonempty_str(&p.variant)),
                ])
            }),
        ),
        ("constraints", op.constraints.as_ref().map(|_| "{}".to_string())),
    ])
}

fn json_metadata(md: &pb::OpMetadata) -> String {
    obj(vec![
        ("description", (!md.description.is_empty()).then(|| string_map(&md.description, |v| js(v)))),
        ("caps", Some(string_map(&md.caps, |v| v.to_string()))),
    ])
}

/// `buildctl debug dump-llb --json`: one line per op, in `def` order.
pub fn dump(def: &pb::Definition) -> String {
    let mut out = String::new();
    for bytes in &def.def {
        let op = pb::Op::decode(bytes.as_slice()).expect("op decodes");
        let dgst = Digest::of(bytes).to_string();
        let md = def.metadata.get(&dgst).cloned().unwrap_or_default();
        out.push_str(&obj(vec![
            ("Op", Some(json_op(&op))),
            ("Digest", Some(js(&dgst))),
            ("OpMetadata", Some(json_metadata(&md))),
        ]));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- tests

#[test]
fn reasoned_vector_files_are_their_derivation() {
    let write = std::env::var_os("LUAKIT_WRITE_REASONED_VECTORS").is_some();
    let mut stale = Vec::new();
    for (case, def) in vectors() {
        let dir = cases_dir().join(case);
        let pb_bytes = def.encode_to_vec();
        let json = dump(&def);
        if write {
            std::fs::write(dir.join("expected.pb"), &pb_bytes).expect("write expected.pb");
            std::fs::write(dir.join("expected.dump.json"), &json).expect("write expected.dump.json");
        }
        if std::fs::read(dir.join("expected.pb")).ok().as_deref() != Some(pb_bytes.as_slice()) {
            stale.push(format!("{case}/expected.pb"));
        }
        if std::fs::read_to_string(dir.join("expected.dump.json")).ok().as_deref() != Some(json.as_str()) {
            stale.push(format!("{case}/expected.dump.json"));
        }
    }
    assert!(
        stale.is_empty(),
        "files differ from their derivation (LUAKIT_WRITE_REASONED_VECTORS=1 rewrites them): {stale:?}"
    );
}

/// The JSON renderer reproduces the Go-made dumps of the cases whose op
/// kinds it knows (sources, execs), so the reasoned dumps read the same way.
#[test]
fn dump_renderer_matches_go_made_dumps() {
    for case in [
        "c01_image",
        "c02_run_shell",
        "c03_run_argv_options",
        "c04_mounts",
        "c11_platform",
        "c13_mount_output",
        "c14_state_env_dir_user",
        "c15_source_map",
    ] {
        let def = crate::compare::expected(case);
        let want = std::fs::read_to_string(cases_dir().join(case).join("expected.dump.json")).expect("dump");
        assert_eq!(dump(&def), want, "{case}");
    }
}
