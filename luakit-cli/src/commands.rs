//! One function per subcommand: gather settings from the parsed arguments,
//! call the library crates, write the results. Errors go back to `main`,
//! which prints them and picks the exit code.

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use luakit_graph::Platform;
use luakit_llb::{MarshalOptions, pb};
use luakit_lua::{EvalOptions, Evaluation};
use prost::Message as _;

use crate::output::Binary;

use crate::{
    BuildArgs, ConvertArgs, DagArgs, DagFormat, EvalArgs, FmtArgs, FrontendImageArgs, InitArgs, LintArgs, SolveArgs,
    TestArgs, TypesArgs, UsageError, ValidateArgs, dag, frontend_image, output,
};

/// The Lua of `luakit version` (luakit-lua embeds mlua's vendored Lua 5.4).
const LUA_VERSION: &str = "Lua 5.4 (mlua, vendored)";

/// The BuildKit compatibility line of `luakit version`.
const LLB_COMPAT: &str = "BuildKit client/llb v0.11.6 encoding; newer features record their caps";

/// Evaluation settings from the command line. The library fills in what
/// depends on the script's location: the module loader and, unless
/// `--local-unique-id` is given, the default local unique id.
fn eval_options(a: &EvalArgs, source_map: bool) -> EvalOptions {
    EvalOptions {
        target_platform: a.platform.clone().unwrap_or_else(Platform::host),
        build_platform: Platform::host(),
        args: a.args.iter().cloned().collect(),
        local_unique_id: a.local_unique_id.clone().unwrap_or_default(),
        source_map,
        timeout: a.timeout,
        memory_limit: a.memory_limit,
        ..EvalOptions::default()
    }
}

/// Evaluates `script`, printing its warnings.
fn evaluate(script: &Path, a: &EvalArgs, source_map: bool) -> anyhow::Result<Evaluation> {
    let eval = luakit_lua::evaluate_file(script, eval_options(a, source_map))?;
    print_warnings(&eval.warnings);
    Ok(eval)
}

fn print_warnings(warnings: &[String]) {
    for w in warnings {
        let w = w.strip_prefix("warning: ").unwrap_or(w);
        eprintln!("warning: {w}");
    }
}

/// Evaluates and marshals `script`.
fn definition(script: &Path, a: &EvalArgs, source_map: bool) -> anyhow::Result<(Evaluation, pb::Definition)> {
    let eval = evaluate(script, a, source_map)?;
    let opts = MarshalOptions { platform: eval.target_platform.clone(), source_map, daemon_caps: None };
    let def = luakit_llb::marshal(&eval.state, &opts)?;
    Ok((eval, def))
}

/// The OCI image config of the exported state, as JSON.
fn image_config(eval: &Evaluation) -> anyhow::Result<Vec<u8>> {
    let meta = eval.state.meta();
    let defaults = luakit_image_config::StateDefaults {
        env: meta.env.to_vec(),
        workdir: meta.dir.clone(),
        user: meta.user.clone(),
    };
    // The image is for the exported state's platform: the target platform
    // unless the script built the state for another one.
    let p = meta.platform.as_ref().unwrap_or(&eval.target_platform);
    let config = luakit_image_config::build_config(
        eval.base_config.as_ref(),
        &defaults,
        (p.os.as_str(), p.arch.as_str(), p.variant.as_str()),
        &eval.export,
    )?;
    let mut json = config.to_json_pretty().into_bytes();
    json.push(b'\n');
    Ok(json)
}

/// `luakit build`.
pub fn build(a: BuildArgs) -> anyhow::Result<ExitCode> {
    // Refuse a terminal before doing any work.
    if a.output.is_none() {
        output::check_binary_stdout(io::stdout().is_terminal(), Binary::Definition)?;
    }
    let source_map = !a.no_source_map;
    let (eval, def) = definition(&a.script, &a.eval, source_map)?;
    let bytes = luakit_llb::encode(&def);
    // Everything is computed before anything is written.
    let config = match &a.image_config {
        Some(_) => Some(image_config(&eval)?),
        None => None,
    };
    match &a.output {
        Some(path) => output::write_atomic(path, &bytes)?,
        None => output::write_binary_stdout(&bytes, Binary::Definition)?,
    }
    if let (Some(path), Some(json)) = (&a.image_config, config) {
        output::write_atomic(path, &json)?;
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
        definition(&a.input, &a.eval, !a.no_source_map)?.1
    } else {
        let bytes = std::fs::read(&a.input).with_context(|| format!("cannot read {}", a.input.display()))?;
        pb::Definition::decode(bytes.as_slice())
            .with_context(|| format!("{} is not an LLB definition (a protobuf pb.Definition)", a.input.display()))?
    };
    let format = match a.format {
        DagFormat::Text => dag::Format::Text,
        DagFormat::Json => dag::Format::Json,
        DagFormat::Dot => dag::Format::Dot,
    };
    let text = dag::render(&def, format).with_context(|| format!("cannot render {}", a.input.display()))?;
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
    use luakit_frontend::control::{self, Progress};

    let bytes = std::fs::read(&a.definition).with_context(|| format!("cannot read {}", a.definition.display()))?;
    let def = pb::Definition::decode(bytes.as_slice())
        .with_context(|| format!("{} is not an LLB definition (a protobuf pb.Definition)", a.definition.display()))?;
    let mut report = |p: Progress| match p {
        Progress::Started(name) => eprintln!("=> {name}"),
        Progress::Done { name, cached: true } => eprintln!("=> CACHED {name}"),
        Progress::Done { name, cached: false } => eprintln!("=> DONE {name}"),
        Progress::Failed { name, error } => eprintln!("=> ERROR {name}: {error}"),
        Progress::Log(bytes) => eprint!("{}", String::from_utf8_lossy(&bytes)),
    };
    let tag = a.tag.as_deref().unwrap_or_default();
    let response = control::solve_on_docker(&a.docker_socket, def, tag, None, &mut report)?;
    if let Some(digest) = response.get("containerimage.digest") {
        println!("{digest}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit validate`.
pub fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    definition(&a.script, &a.eval, true)?;
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
    let opts = eval_options(&a.eval, true);
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match luakit_lua::run_test_file(file, &opts) {
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
    let opts = frontend_image::FrontendImageOptions { tag: a.tag, ..Default::default() };
    let mut archive = Vec::new();
    frontend_image::write_frontend_image(&opts, &mut archive)?;
    match &a.output {
        Some(path) => output::write_atomic(path, &archive)?,
        None => output::write_binary_stdout(&archive, Binary::ImageArchive)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit convert`.
pub fn convert(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let opts = luakit_tools::convert::ConvertOptions { target: a.target, syntax: a.syntax, ..Default::default() };
    let converted = luakit_tools::convert::convert_path(&a.dockerfile, &opts)?;
    print_warnings(&converted.warnings);
    match &a.output {
        Some(path) => output::write_atomic(path, converted.lua.as_bytes())?,
        None => return write_text(&converted.lua),
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit types`.
pub fn types(a: TypesArgs) -> anyhow::Result<ExitCode> {
    let stubs = luakit_tools::types::stubs();
    match &a.output {
        Some(path) => output::write_atomic(path, stubs.as_bytes())?,
        None => return write_text(&stubs),
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit init`.
pub fn init(a: InitArgs) -> anyhow::Result<ExitCode> {
    for path in luakit_tools::init::init(&a.dir)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit fmt`.
pub fn fmt(a: FmtArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() { vec![PathBuf::from(".")] } else { a.paths };
    let report = luakit_tools::fmt::format_paths(&paths, a.check)?;
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    for f in &report.changed {
        if a.check {
            println!("{}", f.display());
        } else {
            eprintln!("formatted {}", f.display());
        }
    }
    let failed = !report.errors.is_empty() || (a.check && !report.changed.is_empty());
    Ok(if failed { ExitCode::from(crate::EXIT_FAILURE) } else { ExitCode::SUCCESS })
}

/// `luakit lint`.
pub fn lint(a: LintArgs) -> anyhow::Result<ExitCode> {
    let paths = if a.paths.is_empty() { vec![PathBuf::from(".")] } else { a.paths };
    let report = luakit_tools::lint::lint_paths(&paths)?;
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    for f in &report.findings {
        println!("{f}");
    }
    let failed = !report.errors.is_empty() || !report.findings.is_empty();
    Ok(if failed { ExitCode::from(crate::EXIT_FAILURE) } else { ExitCode::SUCCESS })
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
