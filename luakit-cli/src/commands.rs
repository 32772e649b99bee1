//! One function per subcommand: gather settings from the parsed arguments,
//! call the library (`luakit`, `luakit-frontend`, `luakit-client`), write
//! the results. Errors go back to `main`, which prints them and picks the
//! exit code.

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use luakit::{Build, BuildOptions, EvalOptions, ImageResolver, Platform, Script, StaticResolver, Unresolved, inspect};

use crate::output::Binary;

use crate::{
    BuildArgs, DagArgs, DagFormat, EvalArgs, FrontendImageArgs, SolveArgs, TestArgs, UsageError, ValidateArgs,
    frontend_image, output,
};

/// The Lua of `luakit version` (luakit-lua embeds mlua's vendored Lua 5.4).
const LUA_VERSION: &str = "Lua 5.4 (mlua, vendored)";

/// The BuildKit compatibility line of `luakit version`.
const LLB_COMPAT: &str = "BuildKit client/llb v0.11.6 encoding; newer features record their caps";

/// Build settings from the command line. The library fills in what depends
/// on the script's location: the module loader and, unless
/// `--local-unique-id` is given, the default local unique id. The CLI
/// marshals for current BuildKit and does not name steps, so that its
/// Definition is byte for byte what BuildKit's Go client produces.
fn build_options(a: &EvalArgs, source_map: bool) -> BuildOptions {
    BuildOptions {
        eval: EvalOptions {
            target_platform: a.platform.clone().unwrap_or_else(Platform::host),
            build_platform: Platform::host(),
            args: a.args.iter().cloned().collect(),
            local_unique_id: a.local_unique_id.clone().unwrap_or_default(),
            source_map,
            timeout: a.timeout,
            memory_limit: a.memory_limit,
            ..EvalOptions::default()
        },
        daemon_caps: None,
        name_ops: false,
    }
}

/// The image resolver: the images of `--resolved-images`, else none (no
/// daemon to ask: images stay unresolved).
fn resolver(a: &EvalArgs) -> anyhow::Result<Arc<dyn ImageResolver>> {
    let Some(path) = &a.resolved_images else {
        return Ok(Arc::new(Unresolved));
    };
    let json = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let images = StaticResolver::from_json(&json).with_context(|| format!("in {}", path.display()))?;
    Ok(Arc::new(images))
}

/// Builds `script` with `luakit::build`, printing its warnings.
fn build_script(script: &Path, a: &EvalArgs, source_map: bool) -> anyhow::Result<Build> {
    let script = Script::from_path(script)?;
    let build = luakit::build(&script, &build_options(a, source_map), resolver(a)?)?;
    print_warnings(&build.warnings);
    Ok(build)
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        let w = w.strip_prefix("warning: ").unwrap_or(w);
        eprintln!("warning: {w}");
    }
}

/// `luakit build`.
pub fn build(a: BuildArgs) -> anyhow::Result<ExitCode> {
    // Refuse a terminal before doing any work.
    if a.output.is_none() {
        output::check_binary_stdout(io::stdout().is_terminal(), Binary::Definition)?;
    }
    // Everything is computed before anything is written.
    let build = build_script(&a.script, &a.eval, !a.no_source_map)?;
    let bytes = build.definition_bytes();
    match &a.output {
        Some(path) => output::write_atomic(path, &bytes)?,
        None => output::write_binary_stdout(&bytes, Binary::Definition)?,
    }
    if let Some(path) = &a.image_config {
        output::write_atomic(path, &build.image_config_json())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `dag` evaluates `path` as a script (rather than decoding it).
fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("lua"))
}

/// `luakit dag`.
pub fn dag(a: DagArgs) -> anyhow::Result<ExitCode> {
    let def = if is_script(&a.input) {
        build_script(&a.input, &a.eval, !a.no_source_map)?.definition
    } else {
        inspect::read_definition(&a.input)?
    };
    let format = match a.format {
        DagFormat::Text => inspect::Format::Text,
        DagFormat::Json => inspect::Format::Json,
        DagFormat::Dot => inspect::Format::Dot,
    };
    let text = inspect::render(&def, format).with_context(|| format!("cannot render {}", a.input.display()))?;
    write_text(&text)
}

/// Writes text to stdout; a reader that went away (`| head`) is not an error.
fn write_text(text: &str) -> anyhow::Result<ExitCode> {
    match output::write_stdout(text.as_bytes()) {
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => {
            Ok(ExitCode::SUCCESS)
        }
        r => r.map(|()| ExitCode::SUCCESS),
    }
}

/// `luakit solve`.
pub fn solve(a: SolveArgs) -> anyhow::Result<ExitCode> {
    use luakit_client::Progress;

    let def = inspect::read_definition(&a.definition)?;
    let mut report = |p: Progress| match p {
        Progress::Started(name) => eprintln!("=> {name}"),
        Progress::Done { name, cached: true } => eprintln!("=> CACHED {name}"),
        Progress::Done { name, cached: false } => eprintln!("=> DONE {name}"),
        Progress::Failed { name, error } => eprintln!("=> ERROR {name}: {error}"),
        Progress::Log(bytes) => eprint!("{}", String::from_utf8_lossy(&bytes)),
    };
    let tag = a.tag.as_deref().unwrap_or_default();
    let response = luakit_client::solve_on_docker(&a.docker_socket, def, tag, None, &mut report)?;
    if let Some(digest) = response.get(luakit::DIGEST_RESPONSE_KEY) {
        println!("{digest}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit validate`.
pub fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    build_script(&a.script, &a.eval, true)?;
    Ok(ExitCode::SUCCESS)
}

/// `luakit test`.
pub fn test(a: TestArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() { vec![PathBuf::from(".")] } else { a.paths.clone() };
    let files = find_test_files(&paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("warning: no *_test.lua files under {}", shown.join(", "));
    }
    let opts = build_options(&a.eval, true);
    let resolver = resolver(&a.eval)?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match luakit::run_test_file(file, &opts, resolver.clone()) {
            Ok(report) => {
                passed += report.passed;
                for (name, message) in &report.failed {
                    println!("FAIL {name}: {message}");
                }
                failed += report.failed.len();
            }
            Err(e) => {
                // A file that does not load fails as a whole.
                println!("FAIL {}: {e}", file.display());
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(crate::EXIT_FAILURE) })
}

/// Files named `*_test.lua` under `paths` (searched recursively, skipping
/// hidden directories and `target`), plus any file named explicitly; sorted.
pub fn find_test_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| UsageError(format!("{}: {e}", p.display())))?;
        if meta.is_file() {
            files.push(p.clone());
            continue;
        }
        let mut dirs = vec![p.clone()];
        while let Some(dir) = dirs.pop() {
            let entries =
                std::fs::read_dir(&dir).with_context(|| format!("cannot read directory {}", dir.display()))?;
            for entry in entries {
                let entry = entry.with_context(|| format!("cannot read directory {}", dir.display()))?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let ty = entry.file_type().with_context(|| format!("cannot stat {}", path.display()))?;
                if ty.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        dirs.push(path);
                    }
                } else if name.ends_with("_test.lua") && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// `luakit version`.
pub fn version() -> anyhow::Result<ExitCode> {
    let text = format!(
        "luakit {}\ncommit: {}\nLua: {}\nLLB: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("LUAKIT_GIT_COMMIT"),
        LUA_VERSION,
        LLB_COMPAT,
    );
    write_text(&text)
}

/// `luakit frontend`.
pub fn frontend() -> anyhow::Result<ExitCode> {
    output::check_binary_stdout(io::stdout().is_terminal(), Binary::Gateway)?;
    luakit_frontend::run()?;
    Ok(ExitCode::SUCCESS)
}

/// `luakit frontend-image`.
pub fn frontend_image(a: FrontendImageArgs) -> anyhow::Result<ExitCode> {
    if a.output.is_none() {
        output::check_binary_stdout(io::stdout().is_terminal(), Binary::ImageArchive)?;
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let created = frontend_image::creation_time(epoch.as_deref())?;
    let opts = frontend_image::FrontendImageOptions { tag: a.tag, created, ..Default::default() };
    let mut archive = Vec::new();
    frontend_image::write_frontend_image(&opts, &mut archive)?;
    match &a.output {
        Some(path) => output::write_atomic(path, &archive)?,
        None => output::write_binary_stdout(&archive, Binary::ImageArchive)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_files_sorted_and_skips_hidden() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        for f in
            ["b_test.lua", "a/z_test.lua", "a/a_test.lua", "a/helper.lua", ".hidden/x_test.lua", "target/y_test.lua"]
        {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().expect("has a parent"))?;
            std::fs::write(p, "")?;
        }
        let got = find_test_files(&[d.to_path_buf()])?;
        let rel: Vec<String> =
            got.iter().map(|p| p.strip_prefix(d).map(|r| r.display().to_string())).collect::<Result<_, _>>()?;
        assert_eq!(rel, ["a/a_test.lua", "a/z_test.lua", "b_test.lua"]);
        assert!(find_test_files(&[d.join("missing")]).is_err());
        Ok(())
    }

    #[test]
    fn dag_input_kind() {
        assert!(is_script(Path::new("x/build.lua")));
        assert!(is_script(Path::new("B.LUA")));
        assert!(!is_script(Path::new("def.pb")));
        assert!(!is_script(Path::new("lua")));
    }
}
