//! `luakit fmt`: the examples are formatted, formatting is idempotent,
//! `check` writes nothing and lists files, syntax errors name file and line.

use std::path::{Path, PathBuf};

use luakit_tools::fmt::{format_paths, format_source};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

#[test]
fn the_examples_are_formatted() -> TestResult {
    let r = format_paths(&[root().join("examples")], true)?;
    assert!(r.checked.len() >= 4, "{:?}", r.checked);
    assert!(r.changed.is_empty() && r.errors.is_empty(), "{r:?}");
    Ok(())
}

#[test]
fn formatting_is_idempotent_on_every_script_of_the_repository() -> TestResult {
    for dir in ["examples", "fixtures/guide", "fixtures/e2e", "fixtures/lint"] {
        for f in luakit_tools::files::lua_files(&[root().join(dir)])? {
            let once = format_source(&std::fs::read_to_string(&f)?)?;
            assert_eq!(format_source(&once)?, once, "{}", f.display());
        }
    }
    Ok(())
}

#[test]
fn check_lists_without_writing_and_fix_rewrites_in_place() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ugly = dir.path().join("build.lua");
    let fine = dir.path().join("sub/ok.lua");
    std::fs::create_dir_all(fine.parent().expect("parent"))?;
    std::fs::write(&ugly, "local st=bk.image('alpine:3.19')\nbk.export(st,{cmd={'sh'}})\n")?;
    std::fs::write(&fine, "bk.export(bk.scratch())\n")?;
    std::fs::create_dir_all(dir.path().join(".hidden"))?;
    std::fs::write(dir.path().join(".hidden/x.lua"), "x=1")?;
    let r = format_paths(&[dir.path().to_path_buf()], true)?;
    assert_eq!(r.changed, std::slice::from_ref(&ugly));
    assert_eq!(r.checked.len(), 2);
    assert!(std::fs::read_to_string(&ugly)?.starts_with("local st=bk"));
    let r = format_paths(&[dir.path().to_path_buf()], false)?;
    assert_eq!(r.changed, std::slice::from_ref(&ugly));
    assert_eq!(
        std::fs::read_to_string(&ugly)?,
        "local st = bk.image(\"alpine:3.19\")\nbk.export(st, { cmd = { \"sh\" } })\n"
    );
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().to_string()))
        .collect::<Result<_, _>>()?;
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    Ok(())
}

#[test]
fn syntax_errors_name_the_file_and_line_and_leave_it_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.lua");
    std::fs::write(&bad, "local a = 1\nlocal b = = 2\n")?;
    let r = format_paths(std::slice::from_ref(&bad), false)?;
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].starts_with(&format!("{}:2: ", bad.display())), "{:?}", r.errors);
    assert_eq!(std::fs::read_to_string(&bad)?, "local a = 1\nlocal b = = 2\n");
    assert!(format_paths(&[dir.path().join("missing")], false).is_err());
    Ok(())
}
