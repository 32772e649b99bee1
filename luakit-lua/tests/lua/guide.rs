//! Every example of the user guide (fixtures/guide/*.lua) evaluates, and
//! its graph is snapshot as text.

use crate::common::{opts, render};

#[test]
fn guide_examples() {
    insta::glob!("../../../fixtures/guide", "*.lua", |path| {
        let source = std::fs::read(path).expect("read fixture");
        let name = path.file_name().expect("file name").to_string_lossy().to_string();
        let o = luakit_lua::EvalOptions { source_map: true, ..opts() };
        let ev = luakit_lua::evaluate(&name, &source, &o).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(render(&ev));
    });
}
