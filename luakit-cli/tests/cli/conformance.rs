//! `luakit build` of every conformance case gives the op set of its expected
//! Definition (`fixtures/conformance/*/expected.pb`: BuildKit's own encoder
//! output for the `c*` cases, derived from its rules for the `r*` ones),
//! digest for digest.

use crate::util::{R, decode, digests, luakit, text, workspace};

#[test]
fn every_case_matches_buildkit() -> R {
    let dir = workspace().join("fixtures/conformance");
    let mut cases: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("build.lua").is_file() && e.path().join("expected.pb").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 21, "{cases:?}");
    for case in cases {
        let script = format!("fixtures/conformance/{case}/build.lua");
        let out = luakit()
            .args([
                "build",
                "--platform",
                "linux/amd64",
                "--no-source-map",
                "--local-unique-id",
                "conformance",
                &script,
            ])
            .output()?;
        assert!(out.status.success(), "{case}: {}", text(&out.stderr));
        let got = decode(&out.stdout)?;
        let want = decode(&std::fs::read(dir.join(&case).join("expected.pb"))?)?;
        assert_eq!(digests(&got), digests(&want), "{case}: op digests");
        assert_eq!(got.def.last(), want.def.last(), "{case}: terminal op");
    }
    Ok(())
}
