//! The conformance scripts (fixtures/conformance/*/build.lua) evaluate with
//! the settings the expected Definitions were made with (linux/amd64, local
//! unique id `conformance`, source map only in c15). The byte comparison
//! against expected.pb is luakit-llb's test; here the graphs are snapshot.
//! There are 15 cases made by BuildKit's Go encoder (`c*`) and 6 derived
//! from its rules (`r*`, see fixtures/conformance/README.md).

use crate::common::{opts, render};

#[test]
fn conformance_scripts_evaluate() {
    let mut count = 0;
    insta::glob!("../../../fixtures/conformance", "*/build.lua", |path| {
        let case = path.parent().and_then(|p| p.file_name()).expect("case dir").to_string_lossy().to_string();
        let source = std::fs::read(path).expect("read build.lua");
        let o = luakit_lua::EvalOptions { source_map: case == "c15_source_map", ..opts() };
        let ev = luakit_lua::evaluate("build.lua", &source, &o).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(ev.warnings.is_empty(), "{case}: {:?}", ev.warnings);
        insta::assert_snapshot!(render(&ev));
        count += 1;
    });
    assert_eq!(count, 21);
}

#[test]
fn source_map_of_c15_matches_buildkit() {
    let dir = crate::common::fixtures().join("conformance/c15_source_map");
    let source = std::fs::read(dir.join("build.lua")).expect("read");
    let o = luakit_lua::EvalOptions { source_map: true, ..opts() };
    let ev = luakit_lua::evaluate("build.lua", &source, &o).expect("evaluates");
    let exec = ev.state.output().expect("exec output").node.clone();
    assert_eq!(exec.locations.len(), 1);
    let loc = &exec.locations[0];
    assert_eq!(loc.file.filename, "build.lua");
    assert_eq!(loc.file.data, source);
    assert_eq!(loc.file.language, "");
    assert_eq!(loc.ranges, vec![luakit_graph::SourceRange { start_line: 2, start_char: 0, end_line: 2, end_char: 0 }]);
    let image = exec.inputs()[0].node.clone();
    assert_eq!(image.locations[0].ranges[0].start_line, 1);
    // Both ops share one file.
    assert!(std::sync::Arc::ptr_eq(&image.locations[0].file, &loc.file));
}
