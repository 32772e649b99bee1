//! The conformance graphs built directly with luakit-graph (the Rust API a
//! Go user of `client/llb` would recognise), compared with the expected
//! Definitions: BuildKit's own encoder output for the 15 `c*` cases, the
//! derivation from `client/llb`'s rules (`reasoned`) for the `r*` cases.

use std::sync::Arc;

use luakit_graph::*;
use luakit_llb::{MarshalOptions, marshal};

use crate::compare::{compare, expected};

fn amd64() -> MarshalOptions {
    MarshalOptions {
        platform: Platform::new("linux", "amd64", ""),
        source_map: false,
        daemon_caps: None,
        name_ops: false,
    }
}

fn img(r: &str) -> State {
    image(r, ImageOptions { default_path: true, ..Default::default() }).expect("valid ref")
}

fn sh(cmd: &str) -> RunOptions {
    RunOptions { args: vec!["/bin/sh".into(), "-c".into(), cmd.into()], ..Default::default() }
}

fn ctx(opts: LocalOptions) -> State {
    local("context", LocalOptions { unique_id: "conformance".into(), ..opts }).expect("valid")
}

fn check(case: &str, st: &State, opts: &MarshalOptions) {
    let got = marshal(st, opts).expect("marshals");
    if let Err(e) = compare(case, &got, &expected(case)) {
        panic!("{e}");
    }
}

fn id(u: u32) -> Option<UserRef> {
    Some(UserRef::Id(u))
}

fn cache(dest: &str, cid: &str, sharing: CacheSharing) -> Mount {
    Mount {
        dest: dest.into(),
        kind: MountKind::Cache { id: cid.into(), sharing, source: None, selector: String::new(), readonly: false },
    }
}

#[test]
fn c01_image() {
    check("c01_image", &img("alpine:3.19"), &amd64());
}

#[test]
fn c02_run_shell() {
    let st = img("alpine:3.19").run(sh("echo 'Hello from Luakit!' > /greeting.txt")).expect("run");
    check("c02_run_shell", st.root(), &amd64());
}

#[test]
fn c03_run_argv_options() {
    let opts = RunOptions {
        args: ["go", "build", "-o", "/out/app", "./cmd/app"].map(String::from).to_vec(),
        cwd: Some("/src".into()),
        env: vec![("CGO_ENABLED".into(), "0".into()), ("GOOS".into(), "linux".into())],
        user: Some("builder".into()),
        network: Some(NetMode::None),
        security: Some(SecurityMode::Insecure),
        hostname: Some("buildbox".into()),
        ..Default::default()
    };
    check("c03_run_argv_options", img("golang:1.21-alpine").run(opts).expect("run").root(), &amd64());
}

#[test]
fn c04_mounts() {
    let tools = img("busybox:latest");
    let secret = |dest: &str, sid: &str, uid, gid, mode, optional| Mount {
        dest: dest.into(),
        kind: MountKind::Secret { id: sid.into(), uid, gid, mode, optional },
    };
    let opts = RunOptions {
        cwd: Some("/app".into()),
        mounts: vec![
            cache("/root/.npm", "npm-cache", CacheSharing::Locked),
            cache("/go/pkg/mod", "/go/pkg/mod", CacheSharing::Shared),
            cache("/var/cache/apt", "apt", CacheSharing::Private),
            secret("/run/secrets/npmrc", "npmrc", 1000, 1000, 0o440, false),
            secret("/run/secrets/token", "token", 0, 0, 0o400, true),
            Mount {
                dest: "/run/ssh".into(),
                kind: MountKind::Ssh { id: "default".into(), uid: 0, gid: 0, mode: 0o600, optional: false },
            },
            Mount { dest: "/tmp".into(), kind: MountKind::Tmpfs { size: 1073741824 } },
            Mount {
                dest: "/tools".into(),
                kind: MountKind::Bind {
                    source: tools.output().cloned(),
                    selector: "/bin".into(),
                    readonly: true,
                    no_output: false,
                },
            },
        ],
        ..sh("npm ci")
    };
    check("c04_mounts", img("node:20").run(opts).expect("run").root(), &amd64());
}

#[test]
fn c05_multi_stage() {
    let src = ctx(LocalOptions::default());
    let builder = img("golang:1.21-alpine").copy(&src, ".", "/app", CopyOptions::default(), OpOptions::default());
    let opts = RunOptions {
        cwd: Some("/app".into()),
        mounts: vec![
            cache("/go/pkg/mod", "gomod", CacheSharing::Shared),
            cache("/root/.cache/go-build", "gobuild", CacheSharing::Shared),
        ],
        ..sh("go build -o /out/server ./cmd/server")
    };
    let built = builder.run(opts).expect("run");
    let fin = img("alpine:3.19").copy(
        built.root(),
        "/out/server",
        "/app/server",
        CopyOptions::default(),
        OpOptions::default(),
    );
    check("c05_multi_stage", &fin, &amd64());
}

#[test]
fn c06_file_ops() {
    let o = OpOptions::default;
    let s = img("alpine:3.19")
        .mkdir("/app/data", 0o750, true, Some(Chown { user: id(1000), group: id(1000) }), o())
        .mkfile("/app/config.json", 0o644, br#"{"key":"value"}"#.to_vec(), None, o())
        .mkfile(
            "/app/run.sh",
            0o755,
            b"#!/bin/sh\necho run\n".to_vec(),
            Some(Chown { user: Some(UserRef::Name("app".into())), group: None }),
            o(),
        )
        .rm("/tmp/*", true, true, o())
        .rm("/etc/motd", false, false, o());
    check("c06_file_ops", &s, &amd64());
}

#[test]
fn c07_copy_options() {
    let c = ctx(LocalOptions {
        include_patterns: vec!["package.json".into(), "package-lock.json".into(), "src/**".into()],
        exclude_patterns: vec!["node_modules".into(), "*.log".into()],
        shared_key_hint: "node-sources".into(),
        ..Default::default()
    });
    let name = |n: &str| Some(UserRef::Name(n.into()));
    let s = img("node:20").copy(
        &c,
        "src",
        "/app/src",
        CopyOptions {
            mode: Some(0o755),
            owner: Some(Chown { user: name("node"), group: name("node") }),
            include_patterns: vec!["*.js".into()],
            exclude_patterns: vec!["*.test.js".into()],
            ..Default::default()
        },
        OpOptions::default(),
    );
    let s = s.copy(
        &c,
        "package.json",
        "/app/",
        CopyOptions {
            follow_symlink: false,
            owner: Some(Chown { user: id(1000), group: id(1000) }),
            ..Default::default()
        },
        OpOptions::default(),
    );
    check("c07_copy_options", &s, &amd64());
}

#[test]
fn c08_merge() {
    let base = img("alpine:3.19");
    let a = base.run(sh("echo a > /a")).expect("run");
    let b = base.run(sh("echo b > /b")).expect("run");
    let c = State::scratch().mkfile("/c", 0o644, b"c".to_vec(), None, OpOptions::default());
    let m = merge(&[a.root().clone(), b.root().clone(), c], OpOptions::default()).expect("merge");
    check("c08_merge", &m, &amd64());
}

#[test]
fn c09_diff() {
    let base = img("alpine:3.19");
    let installed = base.run(sh("apk add --no-cache nginx")).expect("run");
    let delta = diff(&base, installed.root(), OpOptions::default());
    let m = merge(&[img("busybox:latest"), delta], OpOptions::default()).expect("merge");
    check("c09_diff", &m, &amd64());
}

#[test]
fn c10_sources() {
    let repo = git(
        "https://github.com/moby/buildkit.git",
        GitOptions { reference: "v0.11.6".into(), keep_git_dir: true, ..Default::default() },
    )
    .expect("git");
    let file = http(
        "https://example.com/archive.tar.gz",
        HttpOptions {
            checksum: Some("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into()),
            filename: Some("archive.tar.gz".into()),
            chmod: Some(0o644),
            uid: Some(1000),
            gid: Some(1000),
            ..Default::default()
        },
    )
    .expect("http");
    let s = State::scratch().copy(&repo, "/README.md", "/src/README.md", CopyOptions::default(), OpOptions::default());
    let s = s.copy(&file, "/archive.tar.gz", "/dl/archive.tar.gz", CopyOptions::default(), OpOptions::default());
    check("c10_sources", &s, &amd64());
}

#[test]
fn c11_platform() {
    let p = Platform::parse("linux/arm64/v8").expect("platform");
    let arm = image(
        "alpine:3.19",
        ImageOptions {
            default_path: true,
            op: OpOptions { platform: Some(p), ..Default::default() },
            ..Default::default()
        },
    )
    .expect("image");
    check("c11_platform", arm.run(sh("uname -m > /arch")).expect("run").root(), &amd64());
}

#[test]
fn c12_metadata() {
    let s = img("alpine:3.19").run(sh("make")).expect("run").root().clone();
    let s = s
        .with_op_metadata(|m| {
            m.description.insert("llb.customname".into(), "Compiling application".into());
            m.progress_group = Some(Box::new(ProgressGroup { id: "build".into(), name: "build".into(), weak: false }));
        })
        .expect("metadata");
    check("c12_metadata", &s, &amd64());
}

#[test]
fn c13_mount_output() {
    let src = ctx(LocalOptions::default());
    let opts = RunOptions {
        cwd: Some("/work".into()),
        mounts: vec![
            Mount {
                dest: "/src".into(),
                kind: MountKind::Bind {
                    source: src.output().cloned(),
                    selector: String::new(),
                    readonly: true,
                    no_output: false,
                },
            },
            Mount {
                dest: "/out".into(),
                kind: MountKind::Bind { source: None, selector: String::new(), readonly: false, no_output: false },
            },
        ],
        ..sh("cp -r /src/. /out/")
    };
    let job = img("alpine:3.19").run(opts).expect("run");
    check("c13_mount_output", &job.mount_output("/out").expect("writable"), &amd64());
}

#[test]
fn c14_state_env_dir_user() {
    let s = img("golang:1.21-alpine")
        .with_env("GOPATH", "/go")
        .with_env("PATH", "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .with_dir("/src")
        .with_user("builder");
    let s = s.run(sh("go env > /tmp/env")).expect("run").root().clone();
    let opts = RunOptions { env: vec![("EXTRA".into(), "1".into())], user: Some("root".into()), ..sh("id") };
    check("c14_state_env_dir_user", s.run(opts).expect("run").root(), &amd64());
}

#[test]
fn c15_source_map() {
    let script = std::fs::read(crate::compare::cases_dir().join("c15_source_map/build.lua")).expect("script");
    let file = Arc::new(SourceFile { filename: "build.lua".into(), data: script, language: String::new() });
    let at = |line: i32| OpOptions {
        locations: vec![SourceLocation {
            file: file.clone(),
            ranges: vec![SourceRange { start_line: line, start_char: 0, end_line: line, end_char: 0 }],
        }],
        ..Default::default()
    };
    let base =
        image("alpine:3.19", ImageOptions { default_path: true, op: at(1), ..Default::default() }).expect("image");
    let built = base.run(RunOptions { op: at(2), ..sh("echo built > /out.txt") }).expect("run");
    check("c15_source_map", built.root(), &MarshalOptions { source_map: true, ..amd64() });
}

// ---------------------------------------------------------------- vectors derived from client/llb's rules

fn bind(source: Option<&State>, dest: &str, selector: &str, readonly: bool, no_output: bool) -> Mount {
    Mount {
        dest: dest.into(),
        kind: MountKind::Bind {
            source: source.and_then(|s| s.output().cloned()),
            selector: selector.into(),
            readonly,
            no_output,
        },
    }
}

fn secret(dest: &str, sid: &str, uid: u32, gid: u32, mode: u32, optional: bool) -> Mount {
    Mount { dest: dest.into(), kind: MountKind::Secret { id: sid.into(), uid, gid, mode, optional } }
}

fn ssh(dest: &str, sid: &str, uid: u32, mode: u32, optional: bool) -> Mount {
    Mount { dest: dest.into(), kind: MountKind::Ssh { id: sid.into(), uid, gid: 0, mode, optional } }
}

fn tmpfs(dest: &str, size: i64) -> Mount {
    Mount { dest: dest.into(), kind: MountKind::Tmpfs { size } }
}

#[test]
fn r01_mount_kinds_mixed() {
    let tools = img("busybox:1.36");
    let opts = RunOptions {
        cwd: Some("/src".into()),
        mounts: vec![
            ssh("/run/ssh-github", "github", 0, 0o600, false),
            secret("/run/secrets/npmrc", "npmrc", 0, 0, 0o400, false),
            tmpfs("/tmp", 0),
            ssh("/run/ssh-gitlab", "gitlab", 1000, 0o660, true),
            cache("/root/.cache", "cache", CacheSharing::Private),
            secret("/run/secrets/aws", "aws", 1000, 1000, 0o440, true),
            bind(Some(&tools), "/tools", "/bin", true, false),
            cache("/var/cache/apk", "apk", CacheSharing::Locked),
            tmpfs("/dev/shm", 67108864),
        ],
        ..sh("make")
    };
    let run = img("alpine:3.19").run(opts).expect("run");
    let Op::Exec(exec) = &run.node().op else { panic!("not an exec") };
    let order: Vec<&str> = exec.mounts.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(
        order,
        [
            "/",
            "/dev/shm",
            "/root/.cache",
            "/tmp",
            "/tools",
            "/var/cache/apk",
            "/run/secrets/npmrc",
            "/run/secrets/aws",
            "/run/ssh-github",
            "/run/ssh-gitlab"
        ]
    );
    check("r01_mount_kinds_mixed", run.root(), &amd64());
}

#[test]
fn r02_mount_outputs() {
    let src = ctx(LocalOptions::default());
    let base = img("alpine:3.19");
    let seeded = Mount {
        dest: "/cache".into(),
        kind: MountKind::Cache {
            id: "/cache".into(),
            sharing: CacheSharing::Shared,
            source: src.output().cloned(),
            selector: "seed".into(),
            readonly: true,
        },
    };
    let opts = RunOptions {
        args: vec!["/bin/build".into()],
        cwd: Some("/work".into()),
        network: Some(NetMode::Host),
        mounts: vec![
            bind(None, "/out/z", "", false, false),
            seeded,
            bind(Some(&src), "src", "", true, false),
            bind(None, "/out/a", "", false, false),
            bind(Some(&src), "/scratchpad", "", false, true),
            tmpfs("/run/tmp", 0),
            bind(Some(&base), "/base", "", false, false),
        ],
        ..Default::default()
    };
    let job = base.run(opts).expect("run");
    for (dest, index) in [("/", 0), ("/base", 1), ("/out/a", 2), ("/out/z", 3)] {
        assert_eq!(job.mount_output(dest).expect(dest).output().expect("output").index, index, "{dest}");
    }
    for dest in ["/cache", "/run/tmp", "/scratchpad", "/work/src"] {
        assert!(job.mount_output(dest).is_err(), "{dest} has no output");
    }
    check("r02_mount_outputs", &job.mount_output("/out/z").expect("writable"), &amd64());
}

#[test]
fn r03_ssh_auth_sock_preset() {
    let base = img("alpine:3.19").with_env("SSH_AUTH_SOCK", "/agent.sock");
    let opts = RunOptions {
        readonly_root: true,
        secret_env: vec![
            SecretEnv { id: "maybe".into(), name: "OPTIONAL_KEY".into(), optional: true },
            SecretEnv { id: "api-token".into(), name: "TOKEN".into(), optional: false },
        ],
        mounts: vec![
            ssh("/run/a.sock", "default", 0, 0o600, false),
            secret("/run/secrets/key", "key", 0, 0, 0o400, false),
            ssh("/run/b.sock", "deploy", 0, 0o600, false),
            bind(None, "/out", "", false, false),
        ],
        ..sh("ssh-add -l > /out/keys")
    };
    let job = base.run(opts).expect("run");
    assert_eq!(job.root(), &base, "a read-only root leaves the state as it was");
    check("r03_ssh_auth_sock_preset", &job.mount_output("/out").expect("writable"), &amd64());
}

fn git_src(url: &str, opts: GitOptions) -> State {
    git(url, opts).unwrap_or_else(|e| panic!("{url}: {e}"))
}

#[test]
fn r04_git_scp() {
    let a =
        git_src("git@github.com:moby/buildkit.git", GitOptions { reference: "v0.11.6".into(), ..Default::default() });
    let b = git_src(
        "nonstandarduser@example.com:/srv/repos/weird/project.git#main:docs",
        GitOptions {
            known_ssh_hosts: vec![
                "example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n".into(),
            ],
            mount_ssh_sock: "deploy".into(),
            ..Default::default()
        },
    );
    let c =
        git_src("deploy_bot-1@git.example-host.io:team/app", GitOptions { keep_git_dir: true, ..Default::default() });
    check("r04_git_scp", &merge(&[a, b, c], OpOptions::default()).expect("merge"), &amd64());
}

#[test]
fn r05_git_ssh_url() {
    let a = git_src("ssh://git@github.com/moby/buildkit.git", GitOptions::default());
    let b = git_src(
        "ssh://root@subdomain.example.hostname:2222/root/my/really/weird/path/foo.git",
        GitOptions {
            reference: "v1.2.3".into(),
            known_ssh_hosts: vec![
                "[subdomain.example.hostname]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1".into(),
                "[subdomain.example.hostname]:2222 ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKey2".into(),
            ],
            ..Default::default()
        },
    );
    let c = git_src("ssh://example.com/repo.git", GitOptions { mount_ssh_sock: "ci".into(), ..Default::default() });
    check("r05_git_ssh_url", &merge(&[a, b, c], OpOptions::default()).expect("merge"), &amd64());
}

#[test]
fn r06_git_url_forms() {
    let a = git_src("https://github.com/moby/buildkit.git#v0.11.6:docs", GitOptions::default())
        .with_op_metadata(|m| {
            m.description.insert("llb.customname".into(), "buildkit docs".into());
        })
        .expect("metadata");
    let b = git_src(
        "http://example.com/repo",
        GitOptions { reference: "main".into(), keep_git_dir: true, ..Default::default() },
    );
    let c = git_src("git://host.xz:1234/path/to/repo.git", GitOptions { subdir: "sub".into(), ..Default::default() });
    let d = git_src(
        "github.com/moby/buildkit",
        GitOptions { auth_token_secret: "gh-token".into(), explicit_auth: true, ..Default::default() },
    );
    let e = git_src(
        "gitlab.com:group/project.git",
        GitOptions {
            known_ssh_hosts: vec!["gitlab.com ssh-ed25519 AAAA".into()],
            mount_ssh_sock: "x".into(),
            ..Default::default()
        },
    );
    let f = git_src(
        "https://example.com/r.git",
        GitOptions {
            auth_token_secret: String::new(),
            auth_header_secret: String::new(),
            explicit_auth: true,
            ..Default::default()
        },
    );
    let g = git_src("user.name@host.example:o/r", GitOptions::default());
    check("r06_git_url_forms", &merge(&[a, b, c, d, e, f, g], OpOptions::default()).expect("merge"), &amd64());
}
