//! Named exports: the last export is the default, `EvalOptions::target`
//! picks one, an unknown name lists the known ones, exports need distinct
//! names; the `.dockerignore` excludes reach `bk.local_`.

use luakit_graph::Op;
use luakit_lua::{EvalOptions, ScriptError};

use crate::common::{err, opts};

const TWO: &str = r#"
local base = bk.scratch()
bk.export(base:mkfile("/api", "a"), { target = "api", cmd = { "/api" } })
bk.export(base:mkfile("/web", "w"), { target = "web", cmd = { "/web" } })
"#;

fn eval_target(src: &str, target: Option<&str>) -> Result<luakit_lua::Evaluation, ScriptError> {
    let o = EvalOptions { target: target.map(str::to_string), ..opts() };
    luakit_lua::evaluate("build.lua", src.as_bytes(), &o)
}

#[test]
fn the_last_export_is_the_default() {
    let e = eval_target(TWO, None).expect("evaluates");
    assert_eq!(e.target.as_deref(), Some("web"));
    assert_eq!(e.export.cmd.as_deref(), Some(&["/web".to_string()][..]));
    assert_eq!(e.targets, ["api", "web"]);
}

#[test]
fn a_target_picks_its_export() {
    let e = eval_target(TWO, Some("api")).expect("evaluates");
    assert_eq!(e.target.as_deref(), Some("api"));
    assert_eq!(e.export.cmd.as_deref(), Some(&["/api".to_string()][..]));
}

#[test]
fn an_unknown_target_lists_the_known_ones() {
    let e = eval_target(TWO, Some("apu")).expect_err("unknown");
    assert!(
        matches!(&e, ScriptError::UnknownTarget { target, known, .. } if target == "apu" && known == &["api", "web"])
    );
    assert_eq!(
        e.to_string(),
        "build.lua: no target 'apu' (the script's targets are 'api', 'web'; did you mean 'api'?)"
    );
    let e = eval_target("bk.export(bk.scratch())", Some("api")).expect_err("no names");
    assert!(e.to_string().starts_with("build.lua: no target 'api': the script names no targets"), "{e}");
}

#[test]
fn exports_need_distinct_names() {
    let same = "bk.export(bk.scratch(), { target = 'a' })\nbk.export(bk.scratch(), { target = 'a' })";
    assert_eq!(
        err(same),
        "build.lua:2: bk.export: target 'a' is already exported at build.lua:1: give each bk.export a target name of its own"
    );
    let unnamed_second = "bk.export(bk.scratch(), { target = 'a' })\nbk.export(bk.scratch())";
    assert!(
        err(unnamed_second)
            .starts_with("build.lua:2: bk.export: called a second time (the first call is at build.lua:1)")
    );
    let unnamed_first = "bk.export(bk.scratch())\nbk.export(bk.scratch(), { target = 'b' })";
    assert!(
        err(unnamed_first)
            .starts_with("build.lua:2: bk.export: called a second time (the first call is at build.lua:1)")
    );
    assert_eq!(
        err("bk.export(bk.scratch(), { target = '' })"),
        "build.lua:1: bk.export: option 'target' must not be empty"
    );
}

#[test]
fn local_excludes_come_before_the_scripts_own() {
    let mut o = opts();
    o.local_excludes.insert("context".into(), vec!["*.log".into(), "!keep.log".into()]);
    let src = "bk.export(bk.local_('context', { exclude = { 'tmp' } }))\n";
    let e = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    let Some(node) = e.state.output().map(|o| o.node.clone()) else { panic!("a local source") };
    let Op::Source(source) = &node.op else { panic!("a source op") };
    let excludes = source.attrs.get("local.excludepatterns").expect("excludes recorded");
    assert_eq!(excludes, r#"["*.log","!keep.log","tmp"]"#);
    let other = "bk.export(bk.local_('other'))\n";
    let e = luakit_lua::evaluate("build.lua", other.as_bytes(), &o).expect("evaluates");
    let node = e.state.output().map(|o| o.node.clone()).expect("a source");
    let Op::Source(source) = &node.op else { panic!("a source op") };
    assert!(!source.attrs.contains_key("local.excludepatterns"), "only the named local");
}
