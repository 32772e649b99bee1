//! The conformance rule applied to what the `.lua` scripts produce: each
//! case's `build.lua` goes through `luakit::build` (as `luakit build
//! --platform linux/amd64 --local-unique-id conformance [--no-source-map]`
//! does) and its Definition is compared with BuildKit's `expected.pb`.

use std::sync::Arc;

use luakit::{BuildOptions, EvalOptions, Platform, Script, Unresolved, pb};

use crate::compare::{cases_dir, compare, expected};

fn definition(case: &str) -> pb::Definition {
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

#[test]
fn all_15_scripts_match_buildkit() {
    let mut cases: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("fixtures")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("expected.pb").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 15);
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = compare(case, &definition(case), &expected(case)) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} of 15 cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn scripts_give_the_same_bytes_every_run() {
    for case in ["c04_mounts", "c07_copy_options", "c09_diff", "c15_source_map"] {
        let a = luakit::llb::encode(&definition(case));
        let b = luakit::llb::encode(&definition(case));
        assert_eq!(a, b, "{case}: two runs differ");
    }
}
