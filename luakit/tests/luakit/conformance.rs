//! The conformance rule applied to what the `.lua` scripts produce: each
//! case's `build.lua` is evaluated by luakit-lua (as `luakit build
//! --platform linux/amd64 --local-unique-id conformance [--no-source-map]`
//! would) and its Definition compared with BuildKit's `expected.pb`.

use luakit_graph::Platform;
use luakit_llb::{MarshalOptions, encode, marshal};
use luakit_lua::{EvalOptions, evaluate_file};

use crate::compare::{cases_dir, compare, expected};

fn definition(case: &str) -> luakit_llb::pb::Definition {
    let source_map = case == "c15_source_map";
    let amd64 = Platform::new("linux", "amd64", "");
    let opts = EvalOptions {
        target_platform: amd64.clone(),
        local_unique_id: "conformance".into(),
        source_map,
        ..Default::default()
    };
    let eval = evaluate_file(&cases_dir().join(case).join("build.lua"), opts).unwrap_or_else(|e| panic!("{case}: {e}"));
    let mopts = MarshalOptions { platform: amd64, source_map, daemon_caps: None, name_ops: false };
    marshal(&eval.state, &mopts).unwrap_or_else(|e| panic!("{case}: {e}"))
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
        let a = encode(&definition(case));
        let b = encode(&definition(case));
        assert_eq!(a, b, "{case}: two runs differ");
    }
}
