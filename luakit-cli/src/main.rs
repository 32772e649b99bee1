//! The `luakit` command: parses arguments, calls the library crates
//! (`luakit`, `luakit-frontend`, `luakit-client`) and maps failures to exit
//! codes (0 success, 1 script or build error, 2 usage). It holds no build
//! logic of its own.

mod commands;
mod frontend_image;
mod guard;
mod lock_cmd;
mod output;
mod sections;
#[cfg(luakit_snprintf)]
mod snprintf;
mod solve;
mod solve_session;
mod tls_args;
mod values;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Counts heap bytes, so that `--memory-limit` covers the whole command.
#[global_allocator]
static ALLOCATOR: guard::CountingAlloc = guard::CountingAlloc;

/// Exit code of a script or build error.
const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage error (as clap's own).
const EXIT_USAGE: u8 = 2;

/// A usage error found after argument parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Parser)]
#[command(
    name = "luakit",
    version,
    about = "Write BuildKit builds in Lua: evaluate a build script into a BuildKit LLB definition",
    long_about = "Write BuildKit builds in Lua.\n\n\
        luakit evaluates a Lua build script (the `bk` API: bk.image, st:run, st:copy, bk.export, …) \
        into a BuildKit LLB definition, the graph BuildKit executes to build a container image. \
        Pipe the definition into `buildctl build`, inspect it with `luakit dag`, or unit-test \
        your build logic with `luakit test`.",
    after_help = "Examples:\n  \
        luakit build build.lua | buildctl build --local context=. --output type=image,name=app\n  \
        luakit build -o app.pb --platform linux/arm64 --arg VERSION=1.2 build.lua\n  \
        luakit dag --format dot build.lua | dot -Tsvg > graph.svg\n  \
        luakit test\n  \
        luakit frontend-image | docker load      # then: # syntax=luakit/frontend:dev\n  \
        luakit solve -t app:latest               # on buildkitd or Docker\n\n\
        Exit codes: 0 success, 1 script or build error, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate a build script and write its LLB definition (protobuf).
    #[command(
        long_about = "Evaluate a build script and write its LLB definition (a protobuf `pb.Definition`).\n\n\
            The definition goes to standard output, which must then be a pipe or a file: a binary \
            definition is never written to a terminal. With -o FILE it is written atomically \
            (a failed build never leaves a partial file, and an existing FILE is kept).",
        after_help = "Examples:\n  \
            luakit build build.lua | buildctl build --local context=. --output type=image,name=app\n  \
            luakit build -o app.pb --image-config app.json build.lua\n\n\
            The image config is an attribute of BuildKit's image exporter. buildctl reads --output \
            as CSV, so the JSON goes in a quoted field with its quotes doubled:\n  \
            buildctl build --local context=. < app.pb \\\n    \
            --output \"type=image,name=app,\\\"containerimage.config=$(tr -d '\\n' < app.json | sed 's/\"/\"\"/g')\\\"\""
    )]
    Build(BuildArgs),
    /// Show the graph of a build script or of any LLB definition file.
    #[command(
        long_about = "Show the build graph of a Lua script, or of any existing LLB definition file \
            (for example one written by `luakit build -o`, or one that another frontend \
            produced, such as BuildKit's Dockerfile frontend).\n\n\
            A file ending in `.lua` is evaluated as a script; any other file is read as a binary \
            `pb.Definition`.",
        after_help = "Formats:\n  \
            text  a tree from the result down; digests shortened to 12 hex digits; a sub-graph\n        \
            used twice is printed once and then referred to as \"(shown above)\"\n  \
            json  every op with its fields, in a stable documented layout (docs/dag-json.md)\n  \
            dot   Graphviz: luakit dag --format dot build.lua | dot -Tsvg > graph.svg"
    )]
    Dag(DagArgs),
    /// Evaluate a build script and check it, writing nothing.
    #[command(long_about = "Evaluate a build script and marshal its graph, writing nothing: exits 0 if \
            `luakit build` would succeed, 1 (with the error) if not. Warnings are printed on \
            standard error.")]
    Validate(ValidateArgs),
    /// Run Lua test files (*_test.lua).
    #[command(long_about = "Run Lua test files: every `*_test.lua` file under the given paths (default: the \
            current directory), searched recursively (skipping hidden directories and `target`) and \
            run in sorted order. Each global function whose name starts with `test_` is one test; \
            a file without such functions is one test that passes if the file runs. The `bk` API \
            is available and no bk.export is needed (it may be called any number of times, and \
            bk.exported() returns the image config the last call made); a failed `assert` is \
            reported with its file and line.\n\n\
            Prints `FAIL name: file:line: message` for each failure and a summary line \
            `N passed, M failed`; exits 1 if anything failed.")]
    Test(TestArgs),
    /// Print the version of luakit, its Lua, and the LLB it emits.
    Version,
    /// Run as a BuildKit gateway frontend (BuildKit starts this from the frontend image).
    #[command(
        long_about = "Run as a BuildKit gateway frontend: speak BuildKit's gateway protocol (gRPC) on \
            standard input and output, read the build script named by the `filename` option \
            (default build.lua) from the `dockerfile` local, honour `build-arg:NAME` and \
            `platform`, and return the built result with its image config.\n\n\
            BuildKit runs this inside the frontend image (see `luakit frontend-image`); it is not \
            meant to be run by hand.",
        after_help = "Use it from a build script whose first line names the frontend image:\n  \
            # syntax=luakit/frontend:dev\n\
            then: docker build -f build.lua ."
    )]
    Frontend,
    /// Write a docker-loadable image (tar archive) of the luakit frontend.
    #[command(
        name = "frontend-image",
        long_about = "Write the luakit frontend as an image archive in `docker save` format, built \
            from this luakit binary without a registry, a Dockerfile or a daemon. The image runs \
            `/bin/luakit frontend`; load it with `docker load` and name it in a build script's \
            `# syntax=` line.\n\n\
            The archive goes to standard output, which must then be a pipe or a file (it is \
            never written to a terminal), or atomically to -o FILE.\n\n\
            The image's creation time is SOURCE_DATE_EPOCH when it is set, else the time of the \
            commit this luakit was built from, so the same binary always makes the same archive.",
        after_help = "Examples:\n  \
            luakit frontend-image | docker load\n  \
            luakit frontend-image --tag registry.example.com/luakit/frontend:1 -o frontend.tar"
    )]
    FrontendImage(FrontendImageArgs),
    /// Build a script (or solve a Definition) on BuildKit or a Docker daemon, with progress; export, push or load the image.
    #[command(
        long_about = "Build a Lua build script on any BuildKit (buildkitd, or the BuildKit built into a Docker \
            daemon) and export the image: the one command from build.lua to a built image.\n\n\
            A script is evaluated here and built as BuildKit's own clients build: BuildKit's Control API \
            (what buildctl uses) with luakit's gateway build alongside on the same connection, exactly \
            the code of the luakit frontend: every bk.image is resolved by the daemon, steps are named \
            [build.lua:N], and the image gets its config (base image config, env, entrypoint, …) on \
            both engines. Any other file is read as an LLB definition (from `luakit build -o`, or any \
            frontend) and solved as it is.\n\n\
            A client session serves the script's local sources, secrets and SSH agents: \
            bk.local_(\"context\") is the current directory unless --local context=DIR names another, \
            filtered by <script>.dockerignore if it exists, else by the context's .dockerignore; \
            --secret and --ssh as buildctl's.\n\n\
            Outputs written to this machine come through the session as well: type=local,dest=DIR \
            (the result's files, with their modes, symlinks and times, over what DIR holds), \
            type=tar|oci|docker,dest=FILE (written to a temporary file, renamed once the build \
            succeeded) or dest=- (standard output, never a terminal). --load on buildkitd posts a \
            docker tarball to the Docker daemon's /images/load. A Docker daemon's BuildKit has the \
            moby, local and tar exporters only.\n\n\
            Progress goes to standard error; the image digest, when the exporter gives one, to \
            standard output (not when a tarball goes there). On failure: the failing step's last output lines, the Lua line with the \
            script around it, and BuildKit's message. Ctrl-C ends the build on the daemon too.",
        after_help = "Examples:\n  \
            luakit solve --addr docker:// -t app:latest                 # Docker: into its image store\n  \
            luakit solve --addr unix:///run/buildkit/buildkitd.sock \\\n      \
            --output type=image,name=registry.example.com/app:1,push=true build.lua\n  \
            luakit solve --addr docker:// -t app --local context=src --secret id=token,env=TOKEN\n  \
            luakit solve --output type=local,dest=out build.lua          # the result's files into ./out\n  \
            luakit solve --output type=oci,dest=app.tar,name=app:1 build.lua\n  \
            luakit solve --load -t app:1 build.lua                       # buildkitd, then docker load\n  \
            luakit build build.lua -o build.pb && luakit solve build.pb --progress rawjson"
    )]
    Solve(solve::SolveArgs),
    /// Convert a Dockerfile into a luakit build script.
    #[command(long_about = "Convert a Dockerfile into an idiomatic, formatted build.lua: one local per stage, \
            bk.arg for ARGs, ENV/WORKDIR/USER as state defaults, the image config in bk.export, comments kept. \
            A .dockerignore next to the Dockerfile becomes the context's exclude list. Instructions luakit \
            cannot express (ONBUILD, …) are refused with their line.")]
    Convert(ConvertArgs),
    /// Write LuaLS/EmmyLua type annotations of the bk API.
    #[command(long_about = "Write LuaLS/EmmyLua annotations (---@meta) for the whole bk API, generated from \
            the tables luakit checks scripts against. Point your editor's Lua language server at the file \
            (workspace.library in .luarc.json); `luakit init` does this for you.")]
    Types(TypesArgs),
    /// Create a starter project: build.lua, build_test.lua, .luarc.json and the type stubs.
    Init(InitArgs),
    /// Format Lua build scripts (StyLua, in luakit's style).
    #[command(long_about = "Format Lua build scripts with StyLua in luakit's style (4 spaces, 120 columns, \
            double quotes). Directories are searched for *.lua files (skipping hidden ones and target). \
            Files are rewritten atomically. With --check nothing is written: the files that would change \
            are listed and the exit status is 1.")]
    Fmt(FmtArgs),
    /// Check build scripts for build mistakes (unused runs, cache busting, untagged images, …).
    #[command(long_about = "Evaluate build scripts and check the exported graph for build mistakes, each \
            reported as file:line: rule: message (fix: …): unused-run, apt-no-cache, context-before-deps, \
            untagged-image, unlocked-image (with a luakit.lock), secret-in-env, network-host, no-user, \
            decimal-mode; test files (*_test.lua) and modules (no bk.export) are not evaluated. Every Lua \
            file also gets general Lua checks from selene's library (unused_variable, undefined_variable, \
            shadowing, …). Silence a rule on a line with a `-- luakit: allow RULE` comment on that line or \
            the line above. Exits 1 when anything is found.")]
    Lint(LintArgs),
    /// Pin the script's base images in luakit.lock (digests and exact configs), or check the lock.
    #[command(
        long_about = "Work with luakit.lock, the file next to a build script that pins every base image \
            (bk.image) to a digest and holds its exact image config, so that `luakit build`, `dag` and \
            `validate` give the same Definition offline and on every route (see docs/user-guide.md, \
            \"Reproducible builds\").\n\n\
            Without options it evaluates the script for each --platform, resolves every image the \
            lock lacks through its registry (credentials from Docker's config.json) and writes the \
            lock. --update re-resolves the given references (all when none is given) and prints \
            what moved. --verify checks the lock offline: it parses, every config matches its \
            digest, and every image the script uses is locked; with --remote it also reports tags \
            that now name another digest. Exits 1 naming what is missing or drifted.",
        after_help = "Examples:\n  luakit lock build.lua --platform linux/amd64 --platform linux/arm64\n  \
            luakit lock --update docker.io/library/alpine:3.19\n  luakit lock --verify --remote"
    )]
    Lock(LockArgs),
}

#[derive(Debug, Args)]
struct LintArgs {
    /// Files or directories (default: .).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct ConvertArgs {
    /// The Dockerfile.
    #[arg(value_name = "DOCKERFILE")]
    dockerfile: PathBuf,

    /// Write the script to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The stage to export (as docker build --target); default the last one.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,

    /// Start the script with `# syntax=IMAGE`, for docker build through the luakit frontend.
    #[arg(long, value_name = "IMAGE")]
    syntax: Option<String>,
}

#[derive(Debug, Args)]
struct TypesArgs {
    /// Write the annotations to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// The project directory (created if missing).
    #[arg(value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

#[derive(Debug, Args)]
struct FmtArgs {
    /// Write nothing; list the files that are not formatted and exit 1 if there are any.
    #[arg(long)]
    check: bool,

    /// Files or directories (default: .).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// `luakit lock`.
#[derive(Debug, Args)]
struct LockArgs {
    /// The Lua build script (its luakit.lock is beside it).
    #[arg(value_name = "SCRIPT", default_value = "build.lua")]
    script: PathBuf,

    /// A target platform to check (repeatable; default: linux/<host arch>).
    #[arg(long = "platform", value_name = "PLATFORM[,PLATFORM…]", value_parser = values::platforms)]
    platforms: Vec<values::Platforms>,

    /// Build argument NAME=VALUE, returned by bk.arg("NAME") (repeatable).
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = values::key_value)]
    args: Vec<(String, String)>,

    /// Check the lock instead of writing it: offline, or against the registries with --remote.
    #[arg(long)]
    verify: bool,

    /// With --verify: also ask the registries whether each locked tag still names the locked digest (exit 1 on drift).
    #[arg(long, requires = "verify")]
    remote: bool,

    /// Re-resolve the given references (all when none is given) and print what moved.
    #[arg(long, value_name = "REF", num_args = 0.., conflicts_with = "verify")]
    update: Option<Vec<String>>,

    /// Reach this registry (HOST[:PORT]) over plain HTTP (repeatable; registries on this machine always are).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,
}

#[derive(Debug, Args)]
struct FrontendImageArgs {
    /// Write the archive to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// The image's name (repository[:tag]).
    #[arg(long, value_name = "TAG", default_value = frontend_image::DEFAULT_TAG)]
    tag: String,
}

/// Settings of a script evaluation.
#[derive(Debug, Args)]
struct EvalArgs {
    /// Target platform OS/ARCH[/VARIANT], set on every op (default: linux/<host arch>); dag and validate take a comma-separated list and evaluate the script once per platform.
    #[arg(long, value_name = "PLATFORM[,…]", value_parser = values::platforms)]
    platform: Option<values::Platforms>,

    /// Build the export named NAME (bk.export(st, { target = "NAME" })) instead of the last one.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,

    /// Build argument NAME=VALUE, returned by bk.arg("NAME") (repeatable).
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = values::key_value)]
    args: Vec<(String, String)>,

    /// The `local.unique` id of bk.local_ sources (default: a hash of this machine's id and the script's directory).
    #[arg(long, value_name = "ID")]
    local_unique_id: Option<String>,

    /// Maximum time of the whole command, evaluation to output (luakit test: of each test), e.g. 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    timeout: Duration,

    /// Maximum heap memory of the whole command (luakit test: of each file's Lua VM), e.g. 512MiB, 1.5GiB, 1000000 (bytes).
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = values::size)]
    memory_limit: usize,

    /// Resolve bk.image references from this JSON file (reference → digest
    /// and image config), as the frontend resolves them through BuildKit.
    /// For tests, until luakit reads a lock file; not a stable interface.
    #[arg(long, value_name = "FILE", hide = true)]
    resolved_images: Option<PathBuf>,

    /// Resolve images that luakit.lock lacks (or all, without a lock) through their registries.
    #[arg(long)]
    resolve: bool,

    /// Reach this registry (HOST[:PORT]) over plain HTTP (repeatable; registries on this machine always are).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,

    /// Fail when an image the script uses is not in luakit.lock (next to the script) instead of leaving it unresolved.
    #[arg(long)]
    locked: bool,
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The Lua build script.
    #[arg(value_name = "SCRIPT")]
    script: PathBuf,

    /// Write the definition to FILE (atomically) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Also write the OCI image config (JSON) of the exported image to FILE.
    #[arg(long, value_name = "FILE")]
    image_config: Option<PathBuf>,

    /// Leave out the source map (the Lua file and line of each op, which BuildKit shows when a step fails).
    #[arg(long)]
    no_source_map: bool,

    #[command(flatten)]
    eval: EvalArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DagFormat {
    /// A readable tree from the result down.
    Text,
    /// Stable JSON, documented in docs/dag-json.md.
    Json,
    /// Graphviz DOT.
    Dot,
}

#[derive(Debug, Args)]
struct DagArgs {
    /// A Lua build script (*.lua) or an LLB definition file (anything else).
    #[arg(value_name = "SCRIPT|FILE.pb")]
    input: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t = DagFormat::Text)]
    format: DagFormat,

    /// Leave out the source map (only for scripts; changes the JSON `locations`).
    #[arg(long)]
    no_source_map: bool,

    #[command(flatten)]
    eval: EvalArgs,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// The Lua build script.
    #[arg(value_name = "SCRIPT")]
    script: PathBuf,

    #[command(flatten)]
    eval: EvalArgs,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// Test files or directories to search for *_test.lua (default: .).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    eval: EvalArgs,
}

fn main() -> ExitCode {
    guard::note_standard_streams();
    // The global allocator is mimalloc: the graph's heap reservation, made
    // for glibc's malloc, would only cost time.
    luakit::graph::set_thread_heap_reservation(false);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE));
        }
    };
    // The commands that evaluate one script and write its result end the
    // process as soon as they are done (see `exit_now`).
    let quick = matches!(cli.command, Command::Build(_) | Command::Dag(_) | Command::Validate(_));
    let result = match cli.command {
        Command::Build(a) => commands::build(a),
        Command::Dag(a) => commands::dag(a),
        Command::Validate(a) => commands::validate(a),
        Command::Test(a) => commands::test(a),
        Command::Version => commands::version(),
        Command::Frontend => commands::frontend(),
        Command::FrontendImage(a) => commands::frontend_image(a),
        Command::Solve(a) => solve::run(a),
        Command::Convert(a) => commands::convert(a),
        Command::Types(a) => commands::types(a),
        Command::Init(a) => commands::init(a),
        Command::Fmt(a) => commands::fmt(a),
        Command::Lint(a) => commands::lint(a),
        Command::Lock(a) => lock_cmd::lock(a),
    };
    guard::set_phase(guard::Phase::Done);
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_message(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_FAILURE)
            }
        }
    };
    if quick {
        exit_now(code);
    }
    code
}

/// Ends the process with `code` once the standard streams are flushed,
/// without the C library's exit handlers: the allocator's would go over
/// every page freed so far to hand it back to the system (a system call
/// and a flush of the other cores' address caches each), memory the
/// process's end takes back anyway. Returns when `code` is not one of the
/// codes the commands give, for `main` to return it.
fn exit_now(code: ExitCode) {
    use std::io::Write as _;
    let Some(status) = [(ExitCode::SUCCESS, 0), (ExitCode::from(EXIT_FAILURE), 1), (ExitCode::from(EXIT_USAGE), 2)]
        .into_iter()
        .find_map(|(c, n)| (c == code).then_some(n))
    else {
        return;
    };
    let flushed = std::io::stdout().flush().is_ok() && std::io::stderr().flush().is_ok();
    if !flushed {
        // Let the normal exit report nothing more, but lose no exit status.
        return;
    }
    // SAFETY: `_exit` ends the process; no Rust code runs after it, and
    // every file this command wrote is closed or renamed into place already.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(status)
    }
}

/// The error and its causes on one line, skipping a cause whose text the
/// message already contains (library errors often include their source).
fn error_message(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn error_chain_is_not_repeated() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(inner).context("cannot read x.lua: no such file");
        assert_eq!(error_message(&e), "cannot read x.lua: no such file");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&e), "outer: inner");
    }
}
