//! Round trips: every op of BuildKit's vectors re-encodes byte for byte;
//! luakit's own Definitions decode and re-encode to the same bytes; the same
//! graph marshals to the same bytes every time.

use luakit_graph::{ImageOptions, OpOptions, Platform, RunOptions, image};
use luakit_llb::{MarshalOptions, encode, marshal, pb};
use prost::Message;

#[test]
fn vector_ops_round_trip_byte_for_byte() {
    let dir = crate::compare::cases_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let entry = entry.expect("entry");
        // Only the Go-made vectors (`c*`); the `r*` ones are encoded by `pb` itself.
        let path = entry.path().join("expected.pb");
        if !path.exists() || !entry.file_name().to_string_lossy().starts_with('c') {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        let def = pb::Definition::decode(bytes.as_slice()).expect("decode");
        // Go writes map entries in random order, so only the decoded value
        // (not the file's bytes) is stable at the Definition level.
        let again = pb::Definition::decode(def.encode_to_vec().as_slice()).expect("re-decode");
        assert_eq!(again, def);
        for op in &def.def {
            let decoded = pb::Op::decode(op.as_slice()).expect("op decodes");
            assert_eq!(&decoded.encode_to_vec(), op, "op in {} does not round-trip", path.display());
        }
        n += 1;
    }
    assert_eq!(n, 15, "all 15 Go-made vectors present");
}

fn sample() -> luakit_graph::State {
    let base = image("alpine:3.19", ImageOptions { default_path: true, ..Default::default() }).expect("image");
    let mut st = base.clone();
    for i in 0..20 {
        let args = vec!["/bin/sh".to_string(), "-c".to_string(), format!("echo {i} > /f{i}")];
        st = st.run(RunOptions { args, ..Default::default() }).expect("run").root().clone();
        st = st.mkdir(&format!("/d{i}"), 0o755, true, None, OpOptions::default());
        st = st.copy(&base, "/etc", &format!("/copy{i}"), Default::default(), OpOptions::default());
    }
    st
}

#[test]
fn own_output_round_trips_and_is_deterministic() {
    let opts = MarshalOptions::new(Platform::new("linux", "amd64", ""));
    let a = encode(&marshal(&sample(), &opts).expect("marshal"));
    let b = encode(&marshal(&sample(), &opts).expect("marshal"));
    assert_eq!(a, b, "two marshals of equal graphs differ");
    let decoded = pb::Definition::decode(a.as_slice()).expect("decode");
    assert_eq!(decoded.encode_to_vec(), a, "decode → encode changed the bytes");
    // 1 image + 60 ops + terminal
    assert_eq!(decoded.def.len(), 62);
}

/// Corrupted Definitions (bytes flipped, truncated) decode to an error or to
/// a Definition that inspects cleanly; nothing panics.
#[test]
fn corrupted_definitions_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let dir = crate::compare::cases_dir();
    let mut decoded = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path().join("expected.pb");
        let Ok(bytes) = std::fs::read(&path) else { continue };
        for round in 0..200 {
            let mut b = bytes.clone();
            if round % 4 == 0 {
                b.truncate((next() as usize) % (b.len() + 1));
            } else {
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] ^= (next() & 0xff) as u8;
                }
            }
            let result = std::panic::catch_unwind(|| {
                luakit_llb::decode(&b).ok().map(|def| luakit_llb::inspect(&def).map(|i| i.ops.len()).is_ok())
            });
            assert!(result.is_ok(), "panicked on a corrupted {}", path.display());
            if matches!(result, Ok(Some(_))) {
                decoded += 1;
            }
        }
    }
    assert!(decoded > 0, "some corruptions still decode (and were inspected)");
}

/// A very deep chain marshals and is dropped without overflowing the stack
/// (test threads have small stacks).
#[test]
fn deep_chains_marshal_and_drop() {
    let mut st = luakit_graph::State::scratch();
    for i in 0..100_000 {
        st = st.mkdir(&format!("/d{i}"), 0o755, true, None, OpOptions::default());
    }
    let def = marshal(&st, &MarshalOptions::new(Platform::new("linux", "amd64", ""))).expect("marshal");
    assert_eq!(def.def.len(), 100_001);
    drop(def);
    drop(st);
}
