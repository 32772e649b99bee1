//! Step names recorded while marshalling (`MarshalOptions::name_ops`): the
//! assertions the frontend's `name_ops` had, now on the marshaller, plus
//! what it must leave alone.

use std::sync::Arc;

use luakit_graph::{ImageOptions, OpOptions, RunOptions, SourceFile, SourceLocation, SourceRange, image};
use luakit_llb::{CapSet, Digest, MarshalOptions, caps, marshal, marshal_full, pb};
use prost::Message;

type R = Result<(), Box<dyn std::error::Error>>;

fn at(line: i32) -> OpOptions {
    let file =
        Arc::new(SourceFile { filename: "build.lua".into(), data: b"-- script".to_vec(), language: String::new() });
    OpOptions {
        locations: vec![SourceLocation {
            file,
            ranges: vec![SourceRange { start_line: line, start_char: 0, end_line: line, end_char: 0 }],
        }],
        ..Default::default()
    }
}

fn named() -> MarshalOptions {
    MarshalOptions { name_ops: true, ..MarshalOptions::new(luakit_graph::Platform::new("linux", "amd64", "")) }
}

/// alpine (line 1) → `/bin/sh -c make` (line 7).
fn graph() -> Result<luakit_graph::State, Box<dyn std::error::Error>> {
    let base = image("alpine:3.19", ImageOptions { default_path: true, op: at(1), ..Default::default() })?;
    let args = vec!["/bin/sh".into(), "-c".into(), "make".into()];
    Ok(base.run(RunOptions { args, op: at(7), ..Default::default() })?.root().clone())
}

fn exec_digest(def: &pb::Definition) -> Result<String, Box<dyn std::error::Error>> {
    for bytes in &def.def {
        if matches!(pb::Op::decode(bytes.as_slice())?.op, Some(pb::op::Op::Exec(_))) {
            return Ok(Digest::of(bytes).to_string());
        }
    }
    Err("no exec".into())
}

#[test]
fn located_ops_are_named_with_their_lua_line() -> R {
    let m = marshal_full(&graph()?, &named())?;
    let def = &m.definition;
    let digest = exec_digest(def)?;
    let meta = &def.metadata[&digest];
    assert_eq!(meta.description.get("llb.customname").map(String::as_str), Some("[build.lua:7] /bin/sh -c make"));
    assert_eq!(meta.caps.get("meta.description"), Some(&true));
    // The terminal op records that descriptions are used.
    let terminal = m.terminal.ok_or("terminal")?;
    assert_eq!(def.metadata[terminal.as_str()].caps.get("meta.description"), Some(&true));
    // Only metadata changes: the ops are those of an unnamed marshal.
    let plain = marshal(&graph()?, &MarshalOptions { name_ops: false, ..named() })?;
    assert_eq!(plain.def, def.def);
    assert!(plain.metadata.values().all(|m| m.description.is_empty()));
    Ok(())
}

#[test]
fn a_name_the_script_gave_is_kept() -> R {
    let st = graph()?.with_op_metadata(|m| {
        m.description.insert("llb.customname".into(), "mine".into());
    })?;
    let def = marshal(&st, &named())?;
    let digest = exec_digest(&def)?;
    assert_eq!(def.metadata[&digest].description.get("llb.customname").map(String::as_str), Some("mine"));
    // The image op is still named.
    let named: Vec<&String> = def.metadata.values().filter_map(|m| m.description.get("llb.customname")).collect();
    assert!(
        named.iter().any(|n| n.as_str() == "[build.lua:1] docker-image://docker.io/library/alpine:3.19"),
        "{named:?}"
    );
    Ok(())
}

#[test]
fn nothing_is_named_when_the_daemon_cannot_show_it() -> R {
    let all_but_description = [
        caps::id::SOURCE_IMAGE,
        caps::id::EXEC_META_BASE,
        caps::id::EXEC_MOUNT_BIND,
        caps::id::CONSTRAINTS,
        caps::id::PLATFORM,
    ];
    let opts = MarshalOptions { daemon_caps: Some(CapSet::new(all_but_description)), ..named() };
    let def = marshal(&graph()?, &opts)?;
    assert!(def.metadata.values().all(|m| m.description.is_empty() && !m.caps.contains_key("meta.description")));
    Ok(())
}

#[test]
fn ops_without_a_location_are_not_named() -> R {
    let base = image("alpine:3.19", ImageOptions::default())?;
    let def = marshal(&base, &named())?;
    assert!(def.metadata.values().all(|m| m.description.is_empty() && !m.caps.contains_key("meta.description")));
    Ok(())
}
