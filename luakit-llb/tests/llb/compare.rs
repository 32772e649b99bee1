//! The conformance rule of `fixtures/conformance/README.md`: same op set
//! (by digest), same terminal op, same metadata, same source map (empty
//! location entries count as absent).

use std::collections::{BTreeMap, BTreeSet};

use luakit_llb::{Digest, pb};
use prost::Message;

/// The fixture folder.
pub fn cases_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/conformance")
}

/// Reads a case's expected Definition.
pub fn expected(case: &str) -> pb::Definition {
    let bytes = std::fs::read(cases_dir().join(case).join("expected.pb")).expect("expected.pb readable");
    pb::Definition::decode(bytes.as_slice()).expect("expected.pb decodes")
}

fn digests(def: &pb::Definition) -> BTreeSet<String> {
    def.def.iter().map(|b| Digest::of(b).to_string()).collect()
}

fn describe_ops(def: &pb::Definition) -> String {
    let mut out = String::new();
    for b in &def.def {
        let op = pb::Op::decode(b.as_slice()).expect("op decodes");
        out.push_str(&format!("{} {:?}\n", Digest::of(b), op));
    }
    out
}

fn source_view(def: &pb::Definition) -> Option<(Vec<pb::SourceInfo>, BTreeMap<String, pb::Locations>)> {
    let src = def.source.as_ref()?;
    let locs: BTreeMap<String, pb::Locations> =
        src.locations.iter().filter(|(_, l)| !l.locations.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
    if src.infos.is_empty() && locs.is_empty() {
        return None;
    }
    Some((src.infos.clone(), locs))
}

/// Compares `got` with `want`; returns a readable difference on mismatch.
pub fn compare(case: &str, got: &pb::Definition, want: &pb::Definition) -> Result<(), String> {
    let (g, w) = (digests(got), digests(want));
    if g != w {
        return Err(format!(
            "{case}: op sets differ\n--- luakit\n{}--- expected\n{}",
            describe_ops(got),
            describe_ops(want)
        ));
    }
    if got.def.len() != want.def.len() {
        return Err(format!("{case}: {} def entries, expected {}", got.def.len(), want.def.len()));
    }
    let term = |d: &pb::Definition| d.def.last().map(|b| Digest::of(b).to_string());
    if term(got) != term(want) {
        return Err(format!("{case}: terminal op differs"));
    }
    if got.metadata != want.metadata {
        return Err(format!(
            "{case}: metadata differs\n--- luakit\n{:#?}\n--- expected\n{:#?}",
            got.metadata, want.metadata
        ));
    }
    if source_view(got) != source_view(want) {
        return Err(format!(
            "{case}: source map differs\n--- luakit\n{:#?}\n--- expected\n{:#?}",
            source_view(got),
            source_view(want)
        ));
    }
    Ok(())
}
