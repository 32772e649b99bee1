//! The conformance rule applied to what the `.lua` scripts produce: each
//! case's `build.lua` goes through `luakit::build` (as `luakit build
//! --platform linux/amd64 --local-unique-id conformance [--no-source-map]`
//! does) and its Definition is compared with BuildKit's `expected.pb`.

use std::sync::Arc;

use luakit::{BuildOptions, EvalOptions, Platform, Script, Unresolved};

use crate::compare::{cases_dir, compare, expected};

fn definition(case: &str) -> luakit::llb::Definition {
    let source_map = case == "c15_source_map";
    let opts = BuildOptions {
        eval: EvalOptions {
            target_platform: Platform::new("linux", "amd64", ""),
            local_unique_id: "conformance".into(),
            source_map,
            ..Default::default()
        },
        ..Default::default()
    };
    let script = Script::from_path(&cases_dir().join(case).join("build.lua")).unwrap_or_else(|e| panic!("{case}: {e}"));
    luakit::build(&script, &opts, Arc::new(Unresolved)).unwrap_or_else(|e| panic!("{case}: {e}")).definition
}

/// The case folders: the 15 made by BuildKit's Go encoder (`c*`) and the
/// ones derived from its rules in `reasoned` (`r*`).
fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("expected.pb").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    cases
}

#[test]
fn all_scripts_match_their_vectors() {
    let cases = cases();
    let go_made = cases.iter().filter(|c| c.starts_with('c')).count();
    assert_eq!(go_made, 15, "{cases:?}");
    // The `r*` folders are checked against their derivation by luakit-llb's
    // `reasoned` test; here every folder is either kind.
    let reasoned = cases.iter().filter(|c| c.starts_with('r')).count();
    assert!(reasoned >= 6, "{cases:?}");
    assert_eq!(cases.len(), go_made + reasoned, "{cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let def = definition(case);
        if let Err(e) = compare(case, &def, &expected(case)) {
            failures.push(e);
        }
        // The marshal writes the bytes without making the message: they
        // are the message's own encoding.
        if def.bytes() != luakit::llb::encode(&def).as_slice() {
            failures.push(format!("{case}: the written bytes are not the encoding of the Definition they decode to"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn scripts_give_the_same_bytes_every_run() {
    for case in
        ["c04_mounts", "c07_copy_options", "c09_diff", "c15_source_map", "r01_mount_kinds_mixed", "r06_git_url_forms"]
    {
        let a = definition(case).into_bytes();
        let b = definition(case).into_bytes();
        assert_eq!(a, b, "{case}: two runs differ");
    }
}
