//! Wire checks for the generated LLB types: expected bytes are worked out by hand
//! from the field numbers and types in `ops.proto` (tag byte = number << 3 | wire
//! type; 0 = varint, 2 = length-delimited), so a wrong number or type shows up here.

use std::collections::BTreeMap;

use luakit_llb::pb;
use prost::Message;

fn enc<M: Message>(m: &M) -> Vec<u8> {
    m.encode_to_vec()
}

/// -1 as a 64-bit varint: ten bytes.
const MINUS_ONE: [u8; 10] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];

#[test]
fn mount_dest_is_field_3() {
    let m = pb::Mount { dest: "/x".into(), ..Default::default() };
    // dest = 3, string: (3 << 3) | 2 = 0x1a.
    assert_eq!(enc(&m), [0x1a, 0x02, b'/', b'x']);
}

#[test]
fn mount_output_mount_type_and_cache_opt() {
    let m = pb::Mount {
        dest: "/c".into(),
        output: -1,
        mount_type: pb::MountType::Cache as i32,
        cache_opt: Some(pb::CacheOpt { id: "c".into(), sharing: pb::CacheSharingOpt::Locked as i32 }),
        ..Default::default()
    };
    let mut want = vec![0x1a, 0x02, b'/', b'c'];
    // output = 4, int64 varint: 0x20, then -1 sign-extended to ten bytes.
    want.push(0x20);
    want.extend_from_slice(&MINUS_ONE);
    // mountType = 6, enum: 0x30, CACHE = 3.
    want.extend_from_slice(&[0x30, 0x03]);
    // cacheOpt = 20: (20 << 3) | 2 = 162 = varint a2 01; body ID = 1 "c", sharing = 2 LOCKED.
    want.extend_from_slice(&[0xa2, 0x01, 0x05, 0x0a, 0x01, b'c', 0x10, 0x02]);
    assert_eq!(enc(&m), want);
}

#[test]
fn default_values_are_left_out() {
    assert!(enc(&pb::ExecOp::default()).is_empty());
    assert!(enc(&pb::Mount::default()).is_empty());
    // A oneof arm that is set is written even when its message is empty: exec = 2.
    let op = pb::Op { op: Some(pb::op::Op::Exec(pb::ExecOp::default())), ..Default::default() };
    assert_eq!(enc(&op), [0x12, 0x00]);
    // Input: digest = 1, index = 2 (0 is left out).
    let input = pb::Input { digest: "d".into(), index: 0 };
    assert_eq!(enc(&input), [0x0a, 0x01, b'd']);
}

#[test]
fn op_with_exec_encodes_and_decodes() {
    let op = pb::Op {
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta { args: vec!["sh".into()], ..Default::default() }),
            ..Default::default()
        })),
        platform: Some(pb::Platform { architecture: "amd64".into(), os: "linux".into(), ..Default::default() }),
        ..Default::default()
    };
    let mut want = vec![
        // exec = 2 { meta = 1 { args = 1 "sh" } }
        0x12, 0x06, 0x0a, 0x04, 0x0a, 0x02, b's', b'h',
        // platform = 10: (10 << 3) | 2 = 0x52; Architecture = 1, OS = 2.
        0x52, 0x0e, 0x0a, 0x05,
    ];
    want.extend_from_slice(b"amd64");
    want.extend_from_slice(&[0x12, 0x05]);
    want.extend_from_slice(b"linux");
    let bytes = enc(&op);
    assert_eq!(bytes, want);

    let back = pb::Op::decode(bytes.as_slice()).expect("decode Op");
    assert_eq!(back, op);

    // A fuller exec survives the round trip too.
    let full = pb::Op {
        inputs: vec![pb::Input { digest: "sha256:0123".into(), index: 1 }],
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                valid_exit_codes: vec![0, 1],
                ..Default::default()
            }),
            mounts: vec![pb::Mount { input: 0, dest: "/".into(), output: 0, ..Default::default() }],
            network: pb::NetMode::None as i32,
            security: pb::SecurityMode::Insecure as i32,
            ..Default::default()
        })),
        constraints: Some(pb::WorkerConstraints::default()),
        ..Default::default()
    };
    let back = pb::Op::decode(enc(&full).as_slice()).expect("decode full Op");
    assert_eq!(back, full);
}

#[test]
fn newer_fields_have_upstream_numbers() {
    // ExecOp.cdiDevices = 6 (0x32); CDIDevice name = 1, optional = 2.
    let exec =
        pb::ExecOp { cdi_devices: vec![pb::CdiDevice { name: "n".into(), optional: true }], ..Default::default() };
    assert_eq!(enc(&exec), [0x32, 0x05, 0x0a, 0x01, b'n', 0x10, 0x01]);

    // Meta.validExitCodes = 12, packed: (12 << 3) | 2 = 0x62.
    let meta = pb::Meta { valid_exit_codes: vec![0, 1], ..Default::default() };
    assert_eq!(enc(&meta), [0x62, 0x02, 0x00, 0x01]);

    // FileAction: secondaryInput = 2 (-1), symlink = 8 (0x42) { oldpath = 1, newpath = 2 }.
    let action = pb::FileAction {
        input: 0,
        secondary_input: -1,
        output: 0,
        action: Some(pb::file_action::Action::Symlink(pb::FileActionSymlink {
            oldpath: "a".into(),
            newpath: "b".into(),
            ..Default::default()
        })),
    };
    let mut want = vec![0x10];
    want.extend_from_slice(&MINUS_ONE);
    want.extend_from_slice(&[0x42, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b']);
    assert_eq!(enc(&action), want);

    // FileActionCopy: modeStr = 15 (0x7a), required_paths = 16 ((16 << 3) | 2 = 130 = 82 01).
    let copy = pb::FileActionCopy { mode_str: "u+x".into(), required_paths: vec!["p".into()], ..Default::default() };
    assert_eq!(enc(&copy), [0x7a, 0x03, b'u', b'+', b'x', 0x82, 0x01, 0x01, b'p']);
}

#[test]
fn definition_and_maps() {
    // Definition.def = 1, repeated bytes; metadata = 2, map<string, OpMetadata>;
    // OpMetadata.caps = 5, map<string, bool>.
    let mut caps = BTreeMap::new();
    caps.insert("a".to_string(), true);
    let mut metadata = BTreeMap::new();
    metadata.insert("sha256:x".to_string(), pb::OpMetadata { caps, ..Default::default() });
    let def = pb::Definition { def: vec![vec![0x01]], metadata, source: None };
    let mut want = vec![0x0a, 0x01, 0x01];
    // entry { key = 1 "sha256:x", value = 2 { caps = 5 { key "a", value true } } }
    want.extend_from_slice(&[0x12, 0x13, 0x0a, 0x08]);
    want.extend_from_slice(b"sha256:x");
    want.extend_from_slice(&[0x12, 0x07, 0x2a, 0x05, 0x0a, 0x01, b'a', 0x10, 0x01]);
    let bytes = enc(&def);
    assert_eq!(bytes, want);
    assert_eq!(pb::Definition::decode(bytes.as_slice()).expect("decode"), def);

    // Map entries come out in key order, as Go's deterministic marshalling writes them.
    let mut attrs = BTreeMap::new();
    attrs.insert("b".to_string(), "2".to_string());
    attrs.insert("a".to_string(), "1".to_string());
    let src = pb::SourceOp { identifier: String::new(), attrs };
    assert_eq!(
        enc(&src),
        [
            0x12, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'1', //
            0x12, 0x06, 0x0a, 0x01, b'b', 0x12, 0x01, b'2',
        ]
    );
}

#[test]
fn map_entries_keep_default_keys_and_values_like_go() {
    // Go writes a map entry's key and value even when they are empty, false or an
    // empty message; prost's own map encoding would drop them.
    let mut attrs = BTreeMap::new();
    attrs.insert("k".to_string(), String::new());
    let src = pb::SourceOp { identifier: String::new(), attrs };
    // attrs = 2 { key = 1 "k", value = 2 "" }
    assert_eq!(enc(&src), [0x12, 0x05, 0x0a, 0x01, b'k', 0x12, 0x00]);

    let mut caps = BTreeMap::new();
    caps.insert("a".to_string(), false);
    let md = pb::OpMetadata { caps, ..Default::default() };
    // caps = 5 { key = 1 "a", value = 2 false }
    assert_eq!(enc(&md), [0x2a, 0x05, 0x0a, 0x01, b'a', 0x10, 0x00]);

    let mut locations = BTreeMap::new();
    locations.insert("d".to_string(), pb::Locations::default());
    let source = pb::Source { locations, infos: Vec::new() };
    // locations = 1 { key = 1 "d", value = 2 {} }
    let bytes = enc(&source);
    assert_eq!(bytes, [0x0a, 0x05, 0x0a, 0x01, b'd', 0x12, 0x00]);
    assert_eq!(pb::Source::decode(bytes.as_slice()).expect("decode"), source);

    let mut metadata = BTreeMap::new();
    metadata.insert(String::new(), pb::OpMetadata::default());
    let def = pb::Definition { def: Vec::new(), metadata, source: None };
    // metadata = 2 { key = 1 "", value = 2 {} }
    assert_eq!(enc(&def), [0x12, 0x04, 0x0a, 0x00, 0x12, 0x00]);

    // A nested build: builder = 1, inputs = 2 { "i": BuildInput{} }, def = 3 {}.
    let mut inputs = BTreeMap::new();
    inputs.insert("i".to_string(), pb::BuildInput::default());
    let build = pb::BuildOp { builder: 1, inputs, def: Some(pb::Definition::default()), attrs: BTreeMap::new() };
    let bytes = enc(&build);
    assert_eq!(bytes, [0x08, 0x01, 0x12, 0x05, 0x0a, 0x01, b'i', 0x12, 0x00, 0x1a, 0x00]);
    assert_eq!(pb::BuildOp::decode(bytes.as_slice()).expect("decode"), build);
}
