//! `luakit solve`: from `build.lua` (or any Definition file) to a built
//! image on any BuildKit. A script is built as BuildKit's Go `client.Build`
//! builds: a `Control.Solve` with neither a Definition nor a frontend, and
//! alongside it, on the same connection, luakit's gateway build
//! (`luakit_frontend::serve_channel`, exactly the frontend's code) whose
//! calls carry the solve's ref. A `.pb` file is solved directly. The
//! orchestration is `luakit_client::Build`; this module parses the flags,
//! prints and chooses the exit code.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use luakit::{EvalOptions, Script};
use luakit_client::control::CacheOptionsEntry;
use luakit_client::progress::{Mode, Printer};
use luakit_client::{Address, Build, BuildError, Dest, Output};

use crate::{UsageError, guard, output, values};

/// `luakit solve`'s arguments.
#[derive(Debug, Args)]
pub struct SolveArgs {
    /// The build script (*.lua), or an LLB definition file (anything else, as `luakit build -o` writes it).
    #[arg(value_name = "SCRIPT|DEF.pb", default_value = "build.lua")]
    input: PathBuf,

    /// BuildKit's address: unix:///PATH, tcp://HOST:PORT, docker-container://NAME, docker://[unix:///PATH|tcp://HOST:PORT]. Default: $BUILDKIT_HOST, else unix:///run/buildkit/buildkitd.sock if it exists, else the Docker daemon ($DOCKER_HOST, else /var/run/docker.sock).
    #[arg(long, value_name = "ADDR")]
    addr: Option<String>,

    /// A Docker daemon's socket (the same as --addr docker://unix://PATH).
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    docker_socket: Option<PathBuf>,

    #[command(flatten)]
    tls: Box<crate::tls_args::TlsArgs>,

    /// How long connecting to BuildKit may take, e.g. 5s.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = values::duration)]
    connect_timeout: Duration,

    /// Output, as buildctl's: type=image,name=REF[,push=true]; type=oci,dest=FILE|-[,name=REF]; type=docker,dest=FILE|-[,name=REF]; type=tar,dest=FILE|-; type=local,dest=DIR (on a Docker daemon: moby, local, tar). Files are written whole or not at all.
    #[arg(short, long, value_name = "SPEC")]
    output: Option<String>,

    /// Name of the image (repeatable): the image, oci and docker exporters' name (on a Docker daemon, tags in its image store).
    #[arg(short, long = "tag", value_name = "REF")]
    tags: Vec<String>,

    /// Push the named image to its registry (buildkitd).
    #[arg(long)]
    push: bool,

    /// Load the image into the Docker daemon: on buildkitd a docker tarball sent to $DOCKER_HOST (else /var/run/docker.sock) by POST /images/load; on a Docker daemon its `moby` exporter, the default there.
    #[arg(long)]
    load: bool,

    /// Progress on standard error: auto (tty on a terminal, else plain), tty, plain, rawjson (buildctl's JSON lines), quiet.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,

    /// Write the exporter's response (image digest, …) to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,

    /// Export the build cache, as buildctl: type=registry,ref=REF[,mode=max], type=local,dest=DIR[,mode=max], type=inline (repeatable).
    #[arg(long, value_name = "SPEC")]
    cache_to: Vec<String>,

    /// Import a build cache, as buildctl: type=registry,ref=REF, type=local,src=DIR[,tag=TAG|digest=DGST] (repeatable).
    #[arg(long, value_name = "SPEC")]
    cache_from: Vec<String>,

    /// Run every step again, ignoring BuildKit's cache (as buildctl's --no-cache).
    #[arg(long)]
    no_cache: bool,

    /// Allow an entitlement: network.host, security.insecure (repeatable; the daemon must allow it too).
    #[arg(long, value_name = "ENTITLEMENT")]
    allow: Vec<String>,

    /// Target platforms OS/ARCH[/VARIANT], comma-separated (default: the daemon's); several give one image index.
    #[arg(long, value_name = "PLATFORM[,PLATFORM…]", value_parser = values::platforms)]
    platform: Option<values::Platforms>,

    /// Build argument NAME=VALUE, returned by bk.arg("NAME") (repeatable).
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = values::key_value)]
    args: Vec<(String, String)>,

    /// The `local.unique` id of bk.local_ sources (default: a hash of this machine's id and the script's directory).
    #[arg(long, value_name = "ID")]
    local_unique_id: Option<String>,

    /// A local directory NAME=DIR for bk.local_("NAME") (repeatable; default: context=.).
    #[arg(long = "local", value_name = "NAME=DIR")]
    locals: Vec<String>,

    /// A secret for mounts: id=ID,src=PATH or id=ID,env=VAR (repeatable).
    #[arg(long = "secret", value_name = "id=ID,src=PATH|env=VAR")]
    secrets: Vec<String>,

    /// An SSH agent to forward: default, ID or ID=SOCKET (repeatable; default socket: $SSH_AUTH_SOCK).
    #[arg(long, value_name = "default|ID[=SOCKET]")]
    ssh: Vec<String>,

    /// Maximum time of the script's evaluation, e.g. 500ms, 30s, 2m.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::duration)]
    timeout: Duration,

    /// Maximum memory of the script's evaluation, e.g. 512MiB, 1.5GiB.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = values::size)]
    memory_limit: usize,
}

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// tty on a terminal, else plain.
    Auto,
    /// A live view of the running steps, redrawn in place (plain when not a terminal).
    Tty,
    /// One line per event, as buildx prints.
    Plain,
    /// buildctl's JSON lines.
    Rawjson,
    /// Nothing.
    Quiet,
}

/// What to export: the typed output, the extra exporter attributes, and
/// whether the docker tarball is then loaded into the Docker daemon.
#[derive(Debug)]
struct Export {
    output: Output,
    attrs: BTreeMap<String, String>,
    load: bool,
}

/// Splits buildctl's `key=value,key=value` (a `"…"` field may hold commas;
/// `""` in it is a quote).
fn csv_fields(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|f| !f.is_empty()).collect()
}

/// `key=value,…` as a map; `flag` names the option for errors.
fn spec_map(flag: &str, spec: &str) -> Result<BTreeMap<String, String>, UsageError> {
    let mut m = BTreeMap::new();
    for f in csv_fields(spec) {
        let Some((k, v)) = f.split_once('=') else {
            return Err(UsageError(format!("{flag} {spec:?}: {f:?} is not KEY=VALUE")));
        };
        m.insert(k.trim().to_string(), v.to_string());
    }
    if !m.contains_key("type") {
        return Err(UsageError(format!("{flag} {spec:?}: no type= (e.g. type=image,name=REF)")));
    }
    Ok(m)
}

/// What to export, from `--output`, `--tag`, `--push`, `--load` and the
/// engine. `load_file` is where `--load` on buildkitd puts the tarball.
fn export(a: &SolveArgs, docker: bool, load_file: Option<&Path>) -> Result<Option<Export>, UsageError> {
    let mut attrs = match &a.output {
        Some(spec) => spec_map("--output", spec)?,
        None if docker || a.load || a.push || !a.tags.is_empty() => {
            BTreeMap::from([("type".to_string(), "image".to_string())])
        }
        None => return Ok(None),
    };
    let kind = attrs.remove("type").unwrap_or_default();
    let mut names: Vec<String> = attrs.remove("name").into_iter().filter(|n| !n.is_empty()).collect();
    names.extend(a.tags.iter().cloned());
    let push = a.push || attrs.remove("push").is_some_and(|p| p == "true");
    let dest = attrs.remove("dest");
    if a.load && a.output.is_some() && !docker {
        return Err(UsageError("--load exports a docker tarball itself; give it without --output".to_string()));
    }
    let file_dest = |kind: &str| match dest.as_deref() {
        Some("-") => Ok(Dest::Stdout),
        Some(d) if !d.is_empty() => Ok(Dest::File(PathBuf::from(d))),
        _ => Err(UsageError(format!("--output type={kind} needs dest=FILE (or dest=- for standard output)"))),
    };
    let no_push = |kind: &str| {
        if push { Err(UsageError(format!("push=true is for type=image, not type={kind}"))) } else { Ok(()) }
    };
    let output = match kind.as_str() {
        "image" | "moby" if docker => {
            if push {
                return Err(UsageError(
                    "push=true needs buildkitd: a Docker daemon's exporter stores the image; push it with docker push"
                        .to_string(),
                ));
            }
            Output::Moby { names }
        }
        "image" | "moby" if a.load => {
            let Some(file) = load_file else {
                return Err(UsageError("--load needs a temporary file".to_string()));
            };
            no_push("docker (--load)")?;
            return Ok(Some(Export {
                output: Output::Docker { dest: Dest::File(file.to_path_buf()), names },
                attrs,
                load: true,
            }));
        }
        "image" | "moby" => {
            if push && names.is_empty() {
                return Err(UsageError("push=true needs an image name (--tag or name=)".to_string()));
            }
            Output::Image { names, push }
        }
        "oci" => {
            no_push("oci")?;
            Output::Oci { dest: file_dest("oci")?, names }
        }
        "docker" => {
            no_push("docker")?;
            Output::Docker { dest: file_dest("docker")?, names }
        }
        "tar" | "local" => {
            no_push(&kind)?;
            if !names.is_empty() {
                return Err(UsageError(format!("--output type={kind} takes no image name (name=, --tag)")));
            }
            if kind == "tar" {
                Output::Tar { dest: file_dest("tar")? }
            } else {
                match dest.as_deref() {
                    Some(d) if !d.is_empty() && d != "-" => Output::Local { dir: PathBuf::from(d) },
                    _ => return Err(UsageError("--output type=local needs dest=DIR".to_string())),
                }
            }
        }
        other => return Err(UsageError(format!("--output: unknown type {other:?} (image, oci, docker, local, tar)"))),
    };
    if docker && !output.on_docker() {
        return Err(UsageError(format!(
            "--output type={kind}: a Docker daemon's BuildKit has no {kind} exporter (it has moby, local and tar); \
             build on buildkitd (--addr unix:///run/buildkit/buildkitd.sock) for oci and docker tarballs"
        )));
    }
    Ok(Some(Export { output, attrs, load: false }))
}

/// `--cache-to`/`--cache-from` entries.
fn cache_entries(flag: &str, specs: &[String]) -> Result<Vec<CacheOptionsEntry>, UsageError> {
    specs
        .iter()
        .map(|s| {
            let mut attrs = spec_map(flag, s)?;
            let r#type = attrs.remove("type").unwrap_or_default();
            Ok(CacheOptionsEntry { r#type, attrs })
        })
        .collect()
}

fn progress_mode(p: ProgressArg) -> Mode {
    match p {
        // The live view falls back to plain lines when stderr is not a terminal.
        ProgressArg::Auto | ProgressArg::Tty => Mode::Tty,
        ProgressArg::Plain => Mode::Plain,
        ProgressArg::Rawjson => Mode::RawJson,
        ProgressArg::Quiet => Mode::Quiet,
    }
}

/// `luakit solve`.
pub fn run(a: SolveArgs) -> anyhow::Result<ExitCode> {
    let begun = Instant::now();
    output::check_stdout_open()?;
    guard::install_signal_cleanup();
    let addr = match (&a.addr, &a.docker_socket) {
        (Some(text), _) => Address::parse(text)?,
        (None, Some(p)) => Address::DockerUnix(p.clone()),
        (None, None) => Address::resolve(None)?,
    };
    let tls = a.tls.load(&addr)?;
    let docker = addr.is_docker();
    // `--load` on buildkitd: the docker tarball goes to a temporary file,
    // then to the Docker daemon.
    let load_file =
        (a.load && !docker).then(|| std::env::temp_dir().join(format!("luakit-load-{}.tar", std::process::id())));
    let export = export(&a, docker, load_file.as_deref())?;
    let to_stdout = matches!(
        export.as_ref().map(|e| &e.output),
        Some(
            Output::Oci { dest: Dest::Stdout, .. }
                | Output::Docker { dest: Dest::Stdout, .. }
                | Output::Tar { dest: Dest::Stdout }
        )
    );
    if to_stdout {
        output::check_binary_stdout(std::io::stdout().is_terminal(), output::Binary::Tarball)?;
    }
    // Temporary files are removed if a signal ends the command.
    let mut temps = Vec::new();
    let file_dest = match export.as_ref().map(|e| &e.output) {
        Some(
            Output::Oci { dest: Dest::File(p), .. }
            | Output::Docker { dest: Dest::File(p), .. }
            | Output::Tar { dest: Dest::File(p) },
        ) => Some(p.clone()),
        _ => None,
    };
    for path in file_dest.iter().map(|p| luakit_client::build::temp_path(p)).chain(load_file.clone()) {
        temps.push(guard::register_temp(path).map_err(|e| anyhow::anyhow!(e))?);
    }
    let docker_host = if export.as_ref().is_some_and(|e| e.load) {
        Some(luakit_client::docker::DockerHost::from_env().map_err(|e| UsageError(e.to_string()))?)
    } else {
        None
    };
    let cache_to = cache_entries("--cache-to", &a.cache_to)?;
    let cache_from = cache_entries("--cache-from", &a.cache_from)?;
    let is_script = a.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("lua"));
    let (script, source, definition) = if is_script {
        let script = Script::from_path_limited(&a.input, a.memory_limit)?;
        let source = script.source.clone();
        (Some(script), Some(source), None)
    } else {
        (None, None, Some(crate::commands::read_solve_definition(&a.input)?))
    };
    let session_opts = crate::solve_session::options(&a.locals, &a.secrets, &a.ssh, &a.input)?;
    let shared_key = crate::solve_session::shared_key(&session_opts);

    let mut build = match (script, definition) {
        (Some(script), _) => {
            let base = EvalOptions {
                local_unique_id: a.local_unique_id.clone().unwrap_or_default(),
                timeout: a.timeout,
                memory_limit: a.memory_limit,
                ..EvalOptions::default()
            };
            Build::script(script, base)
        }
        (None, Some(def)) => Build::definition(def),
        (None, None) => anyhow::bail!("nothing to build"),
    };
    build = build.session_options(session_opts).shared_key(shared_key);
    if let Some(p) = &a.platform {
        let list: Vec<String> = p.0.iter().map(ToString::to_string).collect();
        build = build.platforms(&list);
    }
    for (k, v) in &a.args {
        build = build.build_arg(k, v.clone());
    }
    for e in cache_to {
        build = build.cache_export(e);
    }
    for e in cache_from {
        build = build.cache_import(e);
    }
    for e in &a.allow {
        build = build.entitlement(e.clone());
    }
    if a.no_cache {
        build = build.no_cache();
    }
    let load = export.as_ref().is_some_and(|e| e.load);
    if let Some(export) = export {
        build = build.output(export.output);
        for (k, v) in export.attrs {
            build = build.exporter_attr(k, v);
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut printer = Printer::new(progress_mode(a.progress));
    let result = rt.block_on(async {
        let channel =
            addr.connect_with(a.connect_timeout, tls.as_ref()).await.map_err(|e| (anyhow::Error::from(e), None))?;
        if std::env::var_os("LUAKIT_SOLVE_TIMING").is_some() {
            eprintln!("luakit: Solve request after {:.1} ms", begun.elapsed().as_secs_f64() * 1000.0);
        }
        let mut stderr = std::io::stderr();
        let built = build.solve_on(channel, docker, &mut |m| printer.show(m, &mut stderr)).await;
        let built = match built {
            Ok(b) => b,
            Err(BuildError::Solve { message, script_error, .. }) => {
                return Err((anyhow::anyhow!("{message}"), script_error));
            }
            Err(e) => return Err((anyhow::Error::from(e), None)),
        };
        if std::env::var_os("LUAKIT_SOLVE_TIMING").is_some() {
            eprintln!("luakit: session sent {} bytes of file data", built.context_bytes);
        }
        for w in &built.warnings {
            eprintln!("luakit: warning: {w}");
        }
        if let (Some(host), Some(file)) = (&docker_host, &load_file) {
            let said = luakit_client::docker::load(host, file).await.map_err(|e| (anyhow::Error::from(e), None))?;
            if a.progress != ProgressArg::Quiet {
                for line in said.lines() {
                    eprintln!("luakit: {line}");
                }
            }
        }
        Ok::<_, (anyhow::Error, Option<String>)>(built)
    });
    if let Some(f) = &load_file {
        let _ = std::fs::remove_file(f);
    }
    drop(temps);
    printer.finish();
    let result = result.map_err(|(e, script_error)| (crate::tls_args::annotate(e, &addr, tls.is_some()), script_error));
    let response = match result {
        Ok(r) => r.exporter_response,
        Err((e, script_error)) => {
            report_failure(&printer, script_error.as_deref(), source.as_deref(), &a.input);
            return Err(e);
        }
    };
    if let Some(path) = &a.metadata_file {
        let json = serde_json::to_vec_pretty(&response).context("cannot encode the exporter response")?;
        output::commit(vec![output::prepare(path, &json)?])?;
    }
    match response.get(luakit::DIGEST_RESPONSE_KEY) {
        // The tarball is on standard output: the digest is in --metadata-file.
        Some(_) if to_stdout => {}
        Some(digest) => {
            output::write_stdout(format!("{digest}\n").as_bytes())?;
        }
        None if std::io::stderr().is_terminal() && !load => eprintln!("luakit: built (nothing exported)"),
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// On a failed build: the failing step's last lines, then the Lua file:line
/// with the script around it. BuildKit's message follows (from `main`).
fn report_failure(printer: &Printer, script_error: Option<&str>, source: Option<&[u8]>, input: &Path) {
    let mut err = std::io::stderr().lock();
    let failed = printer.failed_step();
    if let Some(f) = &failed {
        let _ = writeln!(err, "------\n > {}:", f.name);
        for line in &f.tail {
            let _ = writeln!(err, "   {line}");
        }
        let _ = writeln!(err, "------");
    }
    // The line: from the error returned to BuildKit (`build.lua:N: …`), else
    // from the failed step's name (`[build.lua:N] …`).
    let line = script_error
        .and_then(|e| lua_line(e, input))
        .or_else(|| failed.as_ref().and_then(|f| step_line(&f.name, input)));
    if let (Some(line), Some(source)) = (line, source) {
        let name = input.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = writeln!(err, "{name}:{line}:");
        let text = String::from_utf8_lossy(source);
        let lines: Vec<&str> = text.lines().collect();
        let from = line.saturating_sub(3).max(1);
        let to = (line + 2).min(lines.len());
        for n in from..=to {
            let marker = if n == line { ">>>" } else { "   " };
            let _ = writeln!(err, " {marker} {n:>4} | {}", lines.get(n - 1).copied().unwrap_or_default());
        }
    }
}

/// `N` of a leading `build.lua:N:` naming the script.
fn lua_line(message: &str, input: &Path) -> Option<usize> {
    let name = input.file_name()?.to_string_lossy();
    let rest = message.strip_prefix(name.as_ref())?.strip_prefix(':')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `N` of a step name `[build.lua:N] …`.
fn step_line(step: &str, input: &Path) -> Option<usize> {
    lua_line(step.strip_prefix('[')?, input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct T {
        #[command(flatten)]
        a: SolveArgs,
    }

    fn args(extra: &[&str]) -> SolveArgs {
        let mut v = vec!["t"];
        v.extend_from_slice(extra);
        T::parse_from(v).a
    }

    fn out(extra: &[&str], docker: bool) -> Result<Option<Export>, UsageError> {
        export(&args(extra), docker, Some(Path::new("/tmp/load.tar")))
    }

    fn err(extra: &[&str], docker: bool) -> String {
        out(extra, docker).expect_err("a usage error").0
    }

    #[test]
    fn outputs_as_buildctl() {
        let e = out(&["--output", "type=image,name=r/a:1,push=true"], false).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Image { names, push: true } if names == &["r/a:1"]), "{e:?}");
        let e = out(&["-t", "a", "-t", "b"], true).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Moby { names } if names == &["a", "b"]), "{e:?}");
        assert!(out(&[], false).expect("ok").is_none());
        assert!(err(&["--push"], false).contains("needs an image name"));
        assert!(err(&["--push", "-t", "a"], true).contains("needs buildkitd"));
        assert!(err(&["--output", "name=x"], false).contains("no type="));
    }

    #[test]
    fn file_outputs_and_load() {
        let e = out(&["--output", "type=tar,dest=out.tar"], false).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Tar { dest: Dest::File(p) } if p == Path::new("out.tar")), "{e:?}");
        let e = out(&["--output", "type=oci,dest=-,name=a:1", "-t", "b:2"], false).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Oci { dest: Dest::Stdout, names } if names == &["a:1", "b:2"]), "{e:?}");
        let e = out(&["--output", "type=docker,dest=d.tar,compression=gzip"], false).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Docker { dest: Dest::File(_), .. }), "{e:?}");
        assert_eq!(e.attrs.get("compression").map(String::as_str), Some("gzip"), "extra attributes pass through");
        let e = out(&["--output", "type=local,dest=outdir"], true).expect("ok").expect("some");
        assert!(matches!(&e.output, Output::Local { dir } if dir == Path::new("outdir")), "{e:?}");
        let e = out(&["--load", "-t", "a:1"], false).expect("ok").expect("some");
        assert!(e.load);
        assert!(
            matches!(&e.output, Output::Docker { dest: Dest::File(p), names } if p == Path::new("/tmp/load.tar") && names == &["a:1"]),
            "{e:?}"
        );
        let e = out(&["--load", "-t", "a:1"], true).expect("ok").expect("some");
        assert!(!e.load && matches!(e.output, Output::Moby { .. }), "on dockerd --load is the moby exporter");

        assert!(err(&["--output", "type=tar"], false).contains("needs dest=FILE"));
        assert!(err(&["--output", "type=local,dest=-"], false).contains("needs dest=DIR"));
        assert!(err(&["--output", "type=tar,dest=x,name=a"], false).contains("takes no image name"));
        assert!(err(&["--output", "type=oci,dest=x,push=true"], false).contains("push=true is for type=image"));
        assert!(err(&["--output", "type=oci,dest=x"], true).contains("has no oci exporter"));
        assert!(err(&["--output", "type=docker,dest=x"], true).contains("has no docker exporter"));
        assert!(err(&["--output", "type=tar,dest=x", "--load"], false).contains("without --output"));
        assert!(err(&["--output", "type=zip,dest=x"], false).contains("unknown type"));
    }

    #[test]
    fn csv_fields_quote_as_buildctl() {
        assert_eq!(csv_fields(r#"type=image,"a=b,c""d",x=1"#), ["type=image", r#"a=b,c"d"#, "x=1"]);
    }

    #[test]
    fn lua_lines() {
        let p = Path::new("dir/build.lua");
        assert_eq!(lua_line("build.lua:7: process failed", p), Some(7));
        assert_eq!(step_line("[build.lua:12] run make", p), Some(12));
        assert_eq!(lua_line("other.lua:7: x", p), None);
    }
}
