//! Scale: long chains, wide merges and repeated sub-graphs build without
//! overflowing the stack, and identical sub-graphs are emitted once.

use std::sync::Arc;

use luakit::{BuildOptions, EvalOptions, Platform, Script, Unresolved};

type R = Result<(), Box<dyn std::error::Error>>;

fn opts() -> BuildOptions {
    BuildOptions {
        eval: EvalOptions {
            target_platform: Platform::new("linux", "amd64", ""),
            build_platform: Platform::new("linux", "amd64", ""),
            local_unique_id: "test".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Ops in the Definition, the terminal op included.
fn op_count(script: &str) -> Result<usize, luakit::Error> {
    let build = luakit::build(&Script::new("build.lua", script), &opts(), Arc::new(Unresolved))?;
    Ok(build.definition.def.len())
}

#[test]
fn the_same_sub_graph_built_a_thousand_times_is_emitted_once() -> R {
    // Each call builds new nodes (new identities) with the same content:
    // one image, one local, and the three ops of the sub-graph, merged.
    let script = r#"
local function sub()
    local base = bk.image("alpine:3.19")
    local ctx = bk.local_("context")
    return base:run("make", { cwd = "/src", env = { A = "1" } }):copy(ctx, "a", "/a"):mkfile("/m", "x")
end
local parts = {}
for i = 1, 1000 do parts[i] = sub() end
bk.export(bk.merge(parts))
"#;
    // image, local, run, copy, mkfile, merge, terminal.
    assert_eq!(op_count(script)?, 7);
    Ok(())
}

#[test]
fn a_thousand_stage_merge_keeps_every_stage() -> R {
    let script = r#"
local base = bk.image("alpine:3.19")
local parts = {}
for i = 1, 1000 do parts[i] = base:mkfile("/f" .. i, "x") end
bk.export(bk.merge(parts))
"#;
    // image, 1,000 mkfiles, merge, terminal.
    assert_eq!(op_count(script)?, 1003);
    Ok(())
}

#[test]
fn a_hundred_thousand_op_chain_builds() -> R {
    // Deep enough to overflow a recursive walk (or drop) many times over.
    let script = r#"
local s = bk.image("alpine:3.19")
for i = 1, 100000 do s = s:mkfile("/f", "x" .. i) end
bk.export(s)
"#;
    assert_eq!(op_count(script)?, 100_002);
    Ok(())
}

/// A caller whose process exits right after (the CLI) leaves the VM and
/// the graph to the exit: the build is the same, byte for byte, on a
/// graph large enough to be encoded on the pipeline's thread and freed in
/// the background otherwise.
#[test]
fn leaving_memory_to_the_exit_gives_the_same_build() -> R {
    let script = Script::new(
        "build.lua",
        r#"
local base = bk.image("alpine:3.19")
local s = base
for i = 1, 2000 do s = s:run({ "sh", "-c", "echo " .. i }, { env = { N = tostring(i) } }) end
bk.export(bk.merge({ s, base:mkfile("/f", "x") }), { cmd = { "sh" } })
"#,
    );
    let freed = luakit::build(&script, &opts(), Arc::new(Unresolved))?;
    let mut leave = opts();
    leave.eval.leave_to_exit = true;
    let left = luakit::build(&script, &leave, Arc::new(Unresolved))?;
    assert_eq!(left.definition.def.len(), 2004, "image, 2,000 runs, mkfile, merge, terminal");
    assert_eq!(left.definition.bytes(), freed.definition.bytes());
    assert_eq!(left.image_config, freed.image_config);
    Ok(())
}
