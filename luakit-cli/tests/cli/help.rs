//! Help and version: what a user reads to learn the command.

use crate::util::{R, luakit, text};

fn help(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = luakit().args(args).arg("--help").output()?;
    assert!(out.status.success(), "{args:?} --help");
    Ok(text(&out.stdout))
}

fn assert_mentions(page: &str, words: &[&str]) {
    for w in words {
        assert!(page.contains(w), "help should mention {w}:\n{page}");
    }
}

#[test]
fn top_level_help_lists_every_command() -> R {
    let page = help(&[])?;
    assert_mentions(
        &page,
        &[
            "build",
            "dag",
            "validate",
            "test",
            "version",
            "frontend",
            "frontend-image",
            "solve",
            "Exit codes",
            "buildctl build",
        ],
    );
    let short = text(&luakit().arg("-h").output()?.stdout);
    assert!(short.contains("build") && short.contains("dag"));
    Ok(())
}

#[test]
fn subcommand_help_mentions_its_flags() -> R {
    let eval = ["--platform", "--arg", "--local-unique-id", "--timeout", "--memory-limit"];
    assert_mentions(&help(&["build"])?, &eval);
    assert_mentions(
        &help(&["build"])?,
        &["-o, --output <FILE>", "--image-config <FILE>", "--no-source-map", "SCRIPT", "terminal", "atomically"],
    );
    assert_mentions(&help(&["dag"])?, &eval);
    assert_mentions(&help(&["dag"])?, &["--format", "text", "json", "dot", "docs/dag-json.md", "SCRIPT|FILE.pb"]);
    assert_mentions(&help(&["validate"])?, &eval);
    assert_mentions(&help(&["validate"])?, &["SCRIPT", "writing nothing"]);
    assert_mentions(&help(&["test"])?, &["[PATH]...", "*_test.lua", "N passed, M failed", "test_"]);
    assert_mentions(&help(&["version"])?, &["version"]);
    assert_mentions(
        &help(&["solve"])?,
        &[
            "SCRIPT|DEF.pb",
            "--addr <ADDR>",
            "BUILDKIT_HOST",
            "docker-container://NAME",
            "--docker-socket <PATH>",
            "--connect-timeout",
            "-o, --output <SPEC>",
            "-t, --tag <REF>",
            "--push",
            "--load",
            "--progress",
            "rawjson",
            "--metadata-file",
            "--cache-to",
            "--cache-from",
            "--allow",
            "--platform",
            "--arg",
            "--timeout",
            "--memory-limit",
            "Control API",
            "[build.lua:N]",
            "Ctrl-C",
        ],
    );
    let out = luakit().args(["help", "build"]).output()?;
    assert!(out.status.success());
    assert_mentions(&text(&out.stdout), &["--output"]);
    Ok(())
}

#[test]
fn version_names_luakit_lua_and_llb() -> R {
    let out = luakit().arg("version").output()?;
    assert!(out.status.success());
    let v = text(&out.stdout);
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines.len(), 4, "{v}");
    assert_eq!(lines[0], format!("luakit {}", env!("CARGO_PKG_VERSION")));
    assert!(lines[1].starts_with("commit: ") && lines[1].len() > "commit: ".len(), "{v}");
    assert!(lines[2].starts_with("Lua: Lua 5.4"), "{v}");
    assert!(lines[3].starts_with("LLB: BuildKit client/llb v0.11.6"), "{v}");
    let flag = text(&luakit().arg("--version").output()?.stdout);
    assert_eq!(flag.trim(), format!("luakit {}", env!("CARGO_PKG_VERSION")));
    Ok(())
}
