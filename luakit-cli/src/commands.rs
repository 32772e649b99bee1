//! One function per subcommand: gather settings from the parsed arguments,
//! call the library (`luakit`, `luakit-frontend`, `luakit-client`), write
//! the results. Errors go back to `main`, which prints them and picks the
//! exit code.

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use luakit::{Build, BuildOptions, EvalOptions, Platform, Script, inspect};

use crate::guard::{self, Phase};
use crate::output::Binary;

use crate::{
    BuildArgs, ConvertArgs, DagArgs, DagFormat, EvalArgs, FmtArgs, FrontendImageArgs, InitArgs, LintArgs, TestArgs,
    TypesArgs, UsageError, ValidateArgs, frontend_image, lock_cmd, output,
};

/// The Lua of `luakit version` (luakit-lua embeds mlua's vendored Lua 5.4).
const LUA_VERSION: &str = "Lua 5.4 (mlua, vendored)";

/// The BuildKit compatibility line of `luakit version`.
const LLB_COMPAT: &str = "BuildKit client/llb v0.11.6 encoding; newer features record their caps";

/// Build settings from the command line. The library fills in what depends
/// on the script's location: the module loader and, unless
/// `--local-unique-id` is given, the default local unique id. The CLI
/// marshals for current BuildKit and does not name steps, so that its
/// Definition is byte for byte what BuildKit's Go client produces. A
/// command that evaluates once (one platform) exits right after: it leaves
/// the script's VM and graph to the exit instead of freeing them.
fn build_options(a: &EvalArgs, source_map: bool) -> BuildOptions {
    BuildOptions {
        eval: EvalOptions {
            target_platform: target_platforms(a).swap_remove(0),
            target: a.target.clone(),
            build_platform: Platform::host(),
            args: a.args.iter().cloned().collect(),
            local_unique_id: a.local_unique_id.clone().unwrap_or_default(),
            source_map,
            timeout: a.timeout,
            memory_limit: a.memory_limit,
            leave_to_exit: target_platforms(a).len() == 1,
            ..EvalOptions::default()
        },
        daemon_caps: None,
        name_ops: false,
    }
}

/// The `--platform` list, else the host's platform.
fn target_platforms(a: &EvalArgs) -> Vec<Platform> {
    a.platform.clone().map_or_else(|| vec![Platform::host()], |p| p.0)
}

/// Builds `script` once per `--platform`, printing the warnings.
fn build_script_platforms(script_path: &Path, a: &EvalArgs, source_map: bool) -> anyhow::Result<Vec<Build>> {
    guard::set_phase(Phase::Reading);
    let script = Script::from_path_limited(script_path, a.memory_limit)?;
    guard::set_phase(Phase::Evaluating);
    let builds = luakit::build_platforms(
        &script,
        &build_options(a, source_map),
        &target_platforms(a),
        lock_cmd::resolver(Some(script_path), a)?,
    )?;
    for b in &builds {
        print_warnings(&b.warnings);
    }
    Ok(builds)
}

/// Builds `script` with `luakit::build`, printing its warnings.
fn build_script(path: &Path, a: &EvalArgs, source_map: bool) -> anyhow::Result<Build> {
    guard::set_phase(Phase::Reading);
    let script = Script::from_path_limited(path, a.memory_limit)?;
    guard::set_phase(Phase::Evaluating);
    let build = luakit::build(&script, &build_options(a, source_map), lock_cmd::resolver(Some(path), a)?)?;
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
    // Refuse a terminal, a closed stdout and outputs that would overwrite
    // the script before doing any work.
    if a.output.is_none() {
        output::check_binary_stdout(io::stdout().is_terminal(), Binary::Definition)?;
        output::check_stdout_open()?;
    }
    let mut outputs: Vec<(&str, &Path)> = Vec::new();
    if let Some(p) = &a.output {
        outputs.push(("-o", p));
    }
    if let Some(p) = &a.image_config {
        outputs.push(("--image-config", p));
    }
    output::check_distinct(&a.script, &outputs)?;
    let platforms = target_platforms(&a.eval);
    if platforms.len() > 1 {
        let list: Vec<String> = platforms.iter().map(ToString::to_string).collect();
        return Err(UsageError(format!(
            "--platform gives {} platforms ({}), but a Definition holds one build: run luakit build once per platform (--platform {}) and solve each (buildctl build, luakit solve), or build all of them into one image index through the frontend (docker buildx build --platform {}, or buildctl build --frontend gateway.v0 --opt platform={}); luakit dag and luakit validate take several platforms",
            list.len(),
            list.join(", "),
            list[0],
            list.join(","),
            list.join(","),
        ))
        .into());
    }
    guard::enforce(a.eval.timeout, a.eval.memory_limit);

    let mut build = build_script(&a.script, &a.eval, !a.no_source_map)?;
    let config = a.image_config.as_ref().map(|_| build.image_config_json());
    guard::set_phase(Phase::Encoding);
    let definition = std::mem::take(&mut build.definition);
    // Freeing the Definition's tens of thousands of small allocations only
    // delays the exit; the process ends right after the write.
    std::mem::forget(build);

    // Everything is computed; now both outputs are written or neither.
    guard::set_phase(Phase::Writing);
    let mut pending = Vec::new();
    if let Some(path) = &a.output {
        // Written from the marshal's pieces: no joined copy of the whole.
        pending.push(output::prepare_chunks(path, definition.chunks())?);
    }
    if let (Some(path), Some(json)) = (&a.image_config, &config) {
        pending.push(output::prepare(path, json)?);
    }
    if a.output.is_none() {
        match output::write_binary_stdout(definition.bytes(), Binary::Definition) {
            // The reader went away: quiet (its own error says why), but the
            // definition was not delivered, and the image config is not written.
            Err(e) if output::is_broken_pipe(&e) => return Ok(ExitCode::from(crate::EXIT_FAILURE)),
            r => r?,
        }
    }
    output::commit(pending)?;
    std::mem::forget(definition);
    Ok(ExitCode::SUCCESS)
}

/// Whether `dag` evaluates `path` as a script (rather than decoding it).
fn is_script(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("lua"))
}

/// The most bytes of a Definition file `luakit solve` reads (it has no
/// `--memory-limit`): the default memory limit.
fn solve_read_limit() -> usize {
    EvalOptions::default().memory_limit
}

/// What a file given to a command may be, for the message when it is not.
#[derive(Clone, Copy)]
enum Expected {
    /// `luakit dag`: a script or a Definition.
    ScriptOrDefinition,
    /// `luakit solve`: a Definition.
    Definition,
}

/// Reads and decodes a Definition file; anything that is not one is
/// reported naming the file and what is wrong.
fn read_definition(path: &Path, max_bytes: usize, expected: Expected) -> anyhow::Result<luakit::pb::Definition> {
    use std::error::Error as _;
    guard::set_phase(Phase::Reading);
    let bytes =
        luakit::lua::read_regular_file(path, max_bytes).with_context(|| format!("cannot read {}", path.display()))?;
    guard::set_phase(Phase::Decoding);
    match inspect::decode_definition(path, &bytes) {
        Ok(def) if def.def.is_empty() && !bytes.is_empty() => {
            Err(not_a_definition(path, &bytes, "it holds no LLB ops", expected))
        }
        Ok(def) => Ok(def),
        Err(e) => {
            let why = e.source().map_or_else(|| e.to_string(), ToString::to_string);
            let why = why.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&why);
            let why = format!("it does not decode as a protobuf pb.Definition ({why})");
            Err(not_a_definition(path, &bytes, &why, expected))
        }
    }
}

/// "FILE is neither a Lua script nor a valid LLB Definition: why", with a
/// hint when the file looks like text (a script without the .lua name).
fn not_a_definition(path: &Path, bytes: &[u8], why: &str, expected: Expected) -> anyhow::Error {
    match expected {
        Expected::ScriptOrDefinition => {
            let hint =
                if looks_like_text(bytes) { "; it looks like text: a Lua script's name must end in .lua" } else { "" };
            anyhow::anyhow!("{} is neither a Lua script nor a valid LLB Definition: {why}{hint}", path.display())
        }
        Expected::Definition => {
            let hint = if looks_like_text(bytes) {
                "; it looks like text: `luakit build -o FILE` writes a Definition"
            } else {
                ""
            };
            anyhow::anyhow!("{} is not a valid LLB Definition: {why}{hint}", path.display())
        }
    }
}

/// Whether `bytes` look like text: valid UTF-8 without NULs (checked on the
/// first 64 KiB). A Definition has binary lengths and digests early on.
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(s) => s.chars().all(|c| !c.is_control() || c.is_ascii_whitespace()),
        // Cut inside a character at the end of the sample.
        Err(e) => e.error_len().is_none(),
    }
}

/// `luakit dag`.
pub fn dag(a: DagArgs) -> anyhow::Result<ExitCode> {
    output::check_stdout_open()?;
    guard::enforce(a.eval.timeout, a.eval.memory_limit);
    let from_script = is_script(&a.input);
    let format = match a.format {
        DagFormat::Text => inspect::Format::Text,
        DagFormat::Json => inspect::Format::Json,
        DagFormat::Dot => inspect::Format::Dot,
    };
    let render = |def: &luakit::pb::Definition| {
        inspect::render(def, format).map_err(|e| {
            if from_script {
                anyhow::Error::new(e).context(format!("cannot render {}", a.input.display()))
            } else {
                anyhow::anyhow!("{} is neither a Lua script nor a valid LLB Definition: {e}", a.input.display())
            }
        })
    };
    if from_script && target_platforms(&a.eval).len() > 1 {
        let builds = build_script_platforms(&a.input, &a.eval, !a.no_source_map)?;
        guard::set_phase(Phase::Rendering);
        let mut sections = Vec::new();
        for (p, b) in target_platforms(&a.eval).iter().zip(&builds) {
            sections.push((p.to_string(), render(&b.definition)?));
        }
        return write_text(&crate::sections::join(format, &sections));
    }
    let def = if from_script {
        build_script(&a.input, &a.eval, !a.no_source_map)?.definition.into_message()
    } else {
        read_definition(&a.input, a.eval.memory_limit, Expected::ScriptOrDefinition)?
    };
    guard::set_phase(Phase::Rendering);
    let text = render(&def)?;
    drop(def);
    write_text(&text)
}

/// Writes text to stdout; a reader that went away (`| head`) is not an error.
fn write_text(text: &str) -> anyhow::Result<ExitCode> {
    match output::write_stdout(text.as_bytes()) {
        Err(e) if output::is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        r => r.map(|()| ExitCode::SUCCESS),
    }
}

/// Reads the Definition file `luakit solve` solves.
pub(crate) fn read_solve_definition(path: &Path) -> anyhow::Result<luakit::pb::Definition> {
    read_definition(path, solve_read_limit(), Expected::Definition)
}

/// `luakit validate`.
pub fn validate(a: ValidateArgs) -> anyhow::Result<ExitCode> {
    guard::enforce(a.eval.timeout, a.eval.memory_limit);
    // Only what can fail is done: evaluation, the marshal's checks (caps,
    // mounts, inputs) and the image config, for each platform. No op is
    // encoded nor hashed, and the source map is not collected: neither can
    // make a build fail.
    guard::set_phase(Phase::Reading);
    let script = Script::from_path_limited(&a.script, a.eval.memory_limit)?;
    guard::set_phase(Phase::Evaluating);
    let checked = luakit::validate_platforms(
        &script,
        &build_options(&a.eval, false),
        &target_platforms(&a.eval),
        lock_cmd::resolver(Some(&a.script), &a.eval)?,
    )?;
    for c in &checked {
        print_warnings(&c.warnings);
    }
    Ok(ExitCode::SUCCESS)
}

/// `luakit test`.
pub fn test(a: TestArgs) -> anyhow::Result<ExitCode> {
    output::check_stdout_open()?;
    let paths = if a.paths.is_empty() { vec![PathBuf::from(".")] } else { a.paths.clone() };
    let files = find_test_files(&paths)?;
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("warning: no *_test.lua files under {}", shown.join(", "));
    }
    let mut opts = build_options(&a.eval, true);
    // Many files, each evaluated: each one's memory is freed.
    opts.eval.leave_to_exit = false;
    let resolver = lock_cmd::resolver(None, &a.eval)?;
    let mut out = Report::default();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        match luakit::run_test_file(file, &opts, resolver.clone()) {
            Ok(report) => {
                passed += report.passed;
                for (name, message) in &report.failed {
                    out.line(&format!("FAIL {}: {}", one_line(name), one_line(message)))?;
                }
                failed += report.failed.len();
            }
            Err(e) => {
                // A file that does not load fails as a whole.
                out.line(&format!("FAIL {}: {}", one_line(&file.display().to_string()), one_line(&e.to_string())))?;
                failed += 1;
            }
        }
    }
    out.line(&format!("{passed} passed, {failed} failed"))?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(crate::EXIT_FAILURE) })
}

/// `luakit test`'s report on stdout, line by line as tests finish. A reader
/// that goes away (`| head`) ends the printing, not the run.
#[derive(Default)]
struct Report {
    reader_gone: bool,
}

impl Report {
    fn line(&mut self, text: &str) -> anyhow::Result<()> {
        use std::io::Write as _;
        if self.reader_gone {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.reader_gone = true;
                Ok(())
            }
            r => r.context("cannot write to standard output"),
        }
    }
}

/// `s` on one line: control characters (a newline in a test name or a
/// multi-line message) escaped as `\n`, `\t`, `\u{1b}`…, so that every
/// `FAIL` line stays one line.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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
    output::check_stdout_open()?;
    luakit_frontend::run()?;
    Ok(ExitCode::SUCCESS)
}

/// `luakit frontend-image`.
pub fn frontend_image(a: FrontendImageArgs) -> anyhow::Result<ExitCode> {
    if a.output.is_none() {
        output::check_binary_stdout(io::stdout().is_terminal(), Binary::ImageArchive)?;
        output::check_stdout_open()?;
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let created = frontend_image::creation_time(epoch.as_deref())?;
    let opts = frontend_image::FrontendImageOptions { tag: a.tag, created, ..Default::default() };
    let mut archive = Vec::new();
    frontend_image::write_frontend_image(&opts, &mut archive)?;
    match &a.output {
        Some(path) => output::write_atomic(path, &archive)?,
        None => match output::write_binary_stdout(&archive, Binary::ImageArchive) {
            Err(e) if output::is_broken_pipe(&e) => return Ok(ExitCode::from(crate::EXIT_FAILURE)),
            r => r?,
        },
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
    fn fail_lines_stay_one_line() {
        assert_eq!(one_line("test_a\nFAIL fake: x"), "test_a\\nFAIL fake: x");
        assert_eq!(one_line("tab\there \u{1b}[31mred"), "tab\\there \\u{1b}[31mred");
        assert_eq!(one_line("héllo wörld"), "héllo wörld");
    }

    #[test]
    fn text_is_told_from_binary() {
        assert!(looks_like_text(b"bk.export(bk.scratch())\n"));
        assert!(looks_like_text("caf\u{e9}".as_bytes()));
        assert!(!looks_like_text(b""));
        assert!(!looks_like_text(b"\x0a\x02\xff\xff"));
        assert!(!looks_like_text(b"ab\0cd"));
    }

    #[test]
    fn dag_input_kind() {
        assert!(is_script(Path::new("x/build.lua")));
        assert!(is_script(Path::new("B.LUA")));
        assert!(!is_script(Path::new("def.pb")));
        assert!(!is_script(Path::new("lua")));
    }
}
