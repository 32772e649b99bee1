//! Caps: features newer than BuildKit v0.11.6 record the cap current BuildKit
//! assigns; marshalling for an older daemon refuses what it lacks, clearly.

use luakit_graph::*;
use luakit_llb::{CapSet, Digest, MarshalError, MarshalOptions, marshal, pb};
use prost::Message;

fn base() -> State {
    image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() }).expect("image")
}

fn opts() -> MarshalOptions {
    MarshalOptions {
        platform: Platform::new("linux", "amd64", ""),
        source_map: false,
        daemon_caps: None,
        name_ops: false,
    }
}

/// The caps of the op whose body satisfies `pick`.
fn caps_of(def: &pb::Definition, pick: impl Fn(&pb::Op) -> bool) -> Vec<String> {
    for b in &def.def {
        let op = pb::Op::decode(b.as_slice()).expect("decode");
        if pick(&op) {
            let md = &def.metadata[&Digest::of(b).to_string()];
            return md.caps.keys().cloned().collect();
        }
    }
    panic!("no such op");
}

#[test]
fn symlink_records_its_cap() {
    let st = base().symlink("/usr/bin/node", "/usr/local/bin/node", None, OpOptions::default());
    let def = marshal(&st, &opts()).expect("marshal");
    let caps = caps_of(&def, |op| matches!(op.op, Some(pb::op::Op::File(_))));
    assert_eq!(caps, vec!["file.base", "file.symlink.create"]);
}

#[test]
fn valid_exit_codes_record_their_cap() {
    let run = RunOptions { args: vec!["false".into()], valid_exit_codes: Some(vec![0, 1]), ..Default::default() };
    let st = base().run(run).expect("run");
    let def = marshal(st.root(), &opts()).expect("marshal");
    let caps = caps_of(&def, |op| matches!(op.op, Some(pb::op::Op::Exec(_))));
    assert!(caps.contains(&"exec.validexitcode".to_string()), "{caps:?}");
}

/// The LLB caps a BuildKit v0.8 daemon (Docker 20.10) reports.
fn v08() -> CapSet {
    let mut c = CapSet::new([
        "source.image",
        "source.image.resolvemode",
        "source.local",
        "source.local.unique",
        "source.local.sessionid",
        "source.local.includepatterns",
        "source.local.followpaths",
        "source.local.excludepatterns",
        "source.local.sharedkeyhint",
        "source.git",
        "source.git.keepgitdir",
        "source.git.fullurl",
        "source.git.httpauth",
        "source.git.knownsshhosts",
        "source.git.mountsshsock",
        "source.http",
        "source.http.checksum",
        "source.http.perm",
        "source.http.uidgid",
        "exec.meta.base",
        "exec.meta.proxyenv",
        "exec.meta.network",
        "exec.meta.security",
        "exec.meta.setsdefaultpath",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.selector",
        "exec.mount.tmpfs",
        "exec.mount.secret",
        "exec.mount.ssh",
        "exec.cgroup",
        "file.base",
        "constraints",
        "platform",
        "meta.ignorecache",
        "meta.description",
        "meta.exportcache",
    ]);
    c.version = "v0.8.3".into();
    c
}

fn located(line: i32) -> OpOptions {
    let file =
        std::sync::Arc::new(SourceFile { filename: "build.lua".into(), data: b"x".to_vec(), language: String::new() });
    OpOptions {
        locations: vec![SourceLocation {
            file,
            ranges: vec![SourceRange { start_line: line, start_char: 0, end_line: line, end_char: 0 }],
        }],
        ..Default::default()
    }
}

#[test]
fn old_daemon_refuses_merge_with_line_and_version() {
    let a = base().mkfile("/a", 0o644, b"a".to_vec(), None, OpOptions::default());
    let b = base().mkfile("/b", 0o644, b"b".to_vec(), None, OpOptions::default());
    let m = merge(&[a, b], located(7)).expect("merge");
    let err = marshal(&m, &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect_err("refused");
    assert!(matches!(err, MarshalError::Unsupported { .. }));
    assert_eq!(
        err.to_string(),
        "build.lua:7: bk.merge needs BuildKit v0.10 or newer (the daemon (BuildKit v0.8.3) lacks the 'mergeop' capability)"
    );
}

#[test]
fn old_daemon_refuses_symlink_and_tmpfs_size() {
    let st = base().symlink("a", "/b", None, located(3));
    let err = marshal(&st, &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect_err("refused");
    assert!(err.to_string().starts_with("build.lua:3: symlink needs BuildKit"), "{err}");
    let run = RunOptions {
        args: vec!["true".into()],
        mounts: vec![Mount { dest: "/t".into(), kind: MountKind::Tmpfs { size: 1 << 20 } }],
        op: located(5),
        ..Default::default()
    };
    let st = base().run(run).expect("run");
    let err = marshal(st.root(), &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect_err("refused");
    assert!(err.to_string().contains("exec.mount.tmpfs.size"), "{err}");
}

#[test]
fn old_daemon_gets_only_caps_it_knows() {
    let ctx = local("context", LocalOptions { session_id: Some("sess".into()), ..Default::default() }).expect("local");
    let st = base().copy(&ctx, ".", "/app", CopyOptions::default(), OpOptions::default());
    let def = marshal(&st, &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect("marshal");
    let known = v08();
    for md in def.metadata.values() {
        for cap in md.caps.keys() {
            assert!(known.supports(cap), "recorded cap {cap} the daemon does not know");
        }
    }
}

#[test]
fn git_subdir_is_not_recorded_but_refused_by_a_daemon_without_it() {
    let repo =
        git("https://github.com/o/r.git#main:docs", GitOptions { op: located(4), ..Default::default() }).expect("git");
    let def = marshal(&repo, &opts()).expect("marshal");
    let caps = caps_of(&def, |op| matches!(op.op, Some(pb::op::Op::Source(_))));
    assert_eq!(caps, vec!["source.git", "source.git.fullurl"], "client/llb records no subdir cap");
    let err = marshal(&repo, &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "build.lua:4: bk.git subdir needs BuildKit v0.10 or newer (the daemon (BuildKit v0.8.3) lacks the 'source.git.subdir' capability)"
    );
    // An empty sub-directory ("#main:") is no sub-directory for BuildKit.
    let plain = git("https://github.com/o/r.git#main:", GitOptions::default()).expect("git");
    marshal(&plain, &MarshalOptions { daemon_caps: Some(v08()), ..opts() }).expect("no subdir to refuse");
}

#[test]
fn check_refuses_what_marshal_refuses_with_the_same_error() {
    let old = MarshalOptions { daemon_caps: Some(v08()), ..opts() };
    let a = base().mkfile("/a", 0o644, b"a".to_vec(), None, OpOptions::default());
    let b = base().mkfile("/b", 0o644, b"b".to_vec(), None, OpOptions::default());
    let m = merge(&[a, b], located(7)).expect("merge");
    let marshal_err = marshal(&m, &old).expect_err("refused");
    assert_eq!(luakit_llb::check(&m, &old).expect_err("check refuses too"), marshal_err);
    // The same graph passes both for current BuildKit; check counts the
    // nodes it walked (two images, two mkfiles and the merge).
    marshal(&m, &opts()).expect("marshal");
    assert_eq!(luakit_llb::check(&m, &opts()).expect("check"), 5);
    // A description an old daemon cannot show is dropped by both.
    let described = base()
        .with_op_metadata(|m| {
            m.description.insert("llb.customname".into(), "x".into());
        })
        .expect("metadata");
    let no_description = MarshalOptions { daemon_caps: Some(CapSet::new(["source.image"])), ..opts() };
    marshal(&described, &no_description).expect("marshal drops it");
    assert_eq!(luakit_llb::check(&described, &no_description), Ok(1));
}
