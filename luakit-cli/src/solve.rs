//! `luakit solve`: from `build.lua` (or any Definition file) to a built
//! image on any BuildKit. A script is built as BuildKit's Go `client.Build`
//! builds: a `Control.Solve` with neither a Definition nor a frontend, and
//! alongside it, on the same connection, luakit's gateway build
//! (`luakit_frontend::serve_channel`, exactly the frontend's code) whose
//! calls carry the solve's ref. A `.pb` file is solved directly.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use luakit::{EvalOptions, Script};
use luakit_client::control::{CacheOptions, CacheOptionsEntry, DOCKER_EXPORTER, IMAGE_EXPORTER};
use luakit_client::progress::{Mode, Printer};
use luakit_client::{Address, SolveRequest};
use luakit_frontend::{BuildId, BuildOpts, ScriptInput};

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

    /// Output, as buildctl's: type=image,name=REF[,push=true] (type=oci|docker|local|tar are not supported yet).
    #[arg(short, long, value_name = "SPEC")]
    output: Option<String>,

    /// Name of the image (repeatable): the image exporter's name (on a Docker daemon, tags in its image store).
    #[arg(short, long = "tag", value_name = "REF")]
    tags: Vec<String>,

    /// Push the named image to its registry (buildkitd).
    #[arg(long)]
    push: bool,

    /// Load the image into the Docker daemon (on a Docker daemon: its `moby` exporter, the default there).
    #[arg(long)]
    load: bool,

    /// Progress on standard error: auto (tty on a terminal, else plain), tty, plain, rawjson (buildctl's JSON lines), quiet.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    progress: ProgressArg,

    /// Write the exporter's response (image digest, …) to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    metadata_file: Option<PathBuf>,

    /// Export the build cache, as buildctl: type=registry,ref=REF[,mode=max] (repeatable).
    #[arg(long, value_name = "SPEC")]
    cache_to: Vec<String>,

    /// Import a build cache, as buildctl: type=registry,ref=REF (repeatable).
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

/// The exporter and its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Export {
    exporter: String,
    attrs: BTreeMap<String, String>,
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
/// engine.
fn export(a: &SolveArgs, docker: bool) -> Result<Option<Export>, UsageError> {
    let mut attrs = match &a.output {
        Some(spec) => spec_map("--output", spec)?,
        None if docker || a.load || a.push || !a.tags.is_empty() => {
            BTreeMap::from([("type".to_string(), "image".to_string())])
        }
        None => return Ok(None),
    };
    let kind = attrs.remove("type").unwrap_or_default();
    match kind.as_str() {
        "image" | "moby" => {}
        "oci" | "docker" | "local" | "tar" => {
            return Err(UsageError(format!(
                "--output type={kind} writes to this machine, which needs the session's \
                 FileSend, not yet in luakit solve; use type=image"
            )));
        }
        other => return Err(UsageError(format!("--output: unknown type {other:?} (image, oci, docker, local, tar)"))),
    }
    let mut names: Vec<String> = attrs.remove("name").into_iter().filter(|n| !n.is_empty()).collect();
    names.extend(a.tags.iter().cloned());
    if !names.is_empty() {
        attrs.insert("name".to_string(), names.join(","));
    }
    if a.push {
        attrs.insert("push".to_string(), "true".to_string());
    }
    let pushing = attrs.get("push").is_some_and(|p| p == "true");
    if docker {
        if pushing {
            return Err(UsageError(
                "push=true needs buildkitd: a Docker daemon's exporter stores the image; push it with docker push"
                    .to_string(),
            ));
        }
        return Ok(Some(Export { exporter: DOCKER_EXPORTER.to_string(), attrs }));
    }
    if a.load {
        return Err(UsageError(
            "--load on buildkitd sends a docker archive to this machine, which needs the session's \
             FileSend (not yet in luakit solve); use --addr docker:// to build on the Docker daemon"
                .to_string(),
        ));
    }
    if pushing && !attrs.contains_key("name") {
        return Err(UsageError("push=true needs an image name (--tag or name=)".to_string()));
    }
    Ok(Some(Export { exporter: IMAGE_EXPORTER.to_string(), attrs }))
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
    let export = export(&a, addr.is_docker())?;
    let cache = CacheOptions {
        exports: cache_entries("--cache-to", &a.cache_to)?,
        imports: cache_entries("--cache-from", &a.cache_from)?,
        ..CacheOptions::default()
    };
    luakit_client::cache::check(&cache).map_err(UsageError)?;
    let cache_imports = luakit_client::cache::imports_opt(&cache.imports);
    let is_script = a.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("lua"));
    let (script, definition) = if is_script {
        (Some(Script::from_path_limited(&a.input, a.memory_limit)?), None)
    } else {
        let mut def = crate::commands::read_solve_definition(&a.input)?;
        if a.no_cache {
            luakit::llb::ignore_cache_all(&mut def);
        }
        (None, Some(def))
    };
    let source = script.as_ref().map(|s| s.source.clone());
    let session_opts = crate::solve_session::options(&a.locals, &a.secrets, &a.ssh, &a.input)?;
    let shared_key = crate::solve_session::shared_key(&session_opts);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut printer = Printer::new(progress_mode(a.progress));
    let served: Arc<Mutex<Option<String>>> = Arc::default();
    let result = rt.block_on(async {
        let channel = addr.connect_with(a.connect_timeout, tls.as_ref()).await?;
        let build_ref = luakit_client::new_ref();
        let session = luakit_client::session::Session::start(channel.clone(), session_opts, &shared_key)
            .await
            .context("cannot start the client session")?;
        let export = export.unwrap_or_default();
        let req = SolveRequest {
            r#ref: build_ref.clone(),
            session: session.id.clone(),
            definition,
            exporter: export.exporter,
            exporter_attrs: export.attrs,
            cache: Some(cache),
            entitlements: a.allow.clone(),
            ..SolveRequest::default()
        };
        let gateway: Option<luakit_client::Gateway> = match script {
            Some(script) => {
                let mut opts = BuildOpts { session_id: session.id.clone(), ..BuildOpts::default() };
                if let Some(p) = &a.platform {
                    let list: Vec<String> = p.0.iter().map(ToString::to_string).collect();
                    opts.opts.insert("platform".to_string(), list.join(","));
                }
                for (k, v) in &a.args {
                    opts.opts.insert(format!("build-arg:{k}"), v.clone());
                }
                if let Some(v) = &cache_imports {
                    // As Go's client gives a gateway build its cache imports.
                    opts.opts.insert(luakit_client::cache::CACHE_IMPORTS_OPT.to_string(), v.clone());
                }
                if a.no_cache {
                    // The frontend option buildctl and docker build send.
                    opts.opts.insert("no-cache".to_string(), String::new());
                }
                let base = EvalOptions {
                    local_unique_id: a.local_unique_id.clone().unwrap_or_default(),
                    timeout: a.timeout,
                    memory_limit: a.memory_limit,
                    ..EvalOptions::default()
                };
                let id = BuildId::new(&build_ref).context("the build ref is not a valid gRPC header")?;
                let channel = channel.clone();
                let served = served.clone();
                Some(Box::pin(async move {
                    let s =
                        luakit_frontend::serve_channel(channel, id, opts, ScriptInput::Given(Box::new((script, base))))
                            .await
                            .map_err(|e| match e {
                                luakit_frontend::FrontendError::Handshake { reason } => {
                                    format!("BuildKit's gateway did not answer on the Control connection: {reason}")
                                }
                                e => e.to_string(),
                            })?;
                    if let Ok(mut slot) = served.lock() {
                        *slot = s.error;
                    }
                    Ok(())
                }))
            }
            None => None,
        };
        if std::env::var_os("LUAKIT_SOLVE_TIMING").is_some() {
            eprintln!("luakit: Solve request after {:.1} ms", begun.elapsed().as_secs_f64() * 1000.0);
        }
        let mut stderr = std::io::stderr();
        let solved = luakit_client::solve(channel, req, gateway, &mut |m| printer.show(m, &mut stderr)).await;
        if std::env::var_os("LUAKIT_SOLVE_TIMING").is_some() {
            let c = session.counters();
            let load = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
            eprintln!("luakit: session sent {} bytes of {} files", load(&c.bytes), load(&c.files));
        }
        session.close().await;
        solved.map_err(|e| match e {
            // BuildKit's message alone (the status adds its code and the message again).
            luakit_client::ControlError::Solve(status) => anyhow::anyhow!("{}", status.message()),
            e => anyhow::Error::from(e),
        })
    });
    printer.finish();
    let result = result.map_err(|e| crate::tls_args::annotate(e, &addr, tls.is_some()));
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            let script_error = served.lock().ok().and_then(|s| s.clone());
            report_failure(&printer, script_error.as_deref(), source.as_deref(), &a.input);
            return Err(e);
        }
    };
    if let Some(path) = &a.metadata_file {
        let json = serde_json::to_vec_pretty(&response).context("cannot encode the exporter response")?;
        output::commit(vec![output::prepare(path, &json)?])?;
    }
    match response.get(luakit::DIGEST_RESPONSE_KEY) {
        Some(digest) => {
            output::write_stdout(format!("{digest}\n").as_bytes())?;
        }
        None if std::io::stderr().is_terminal() => eprintln!("luakit: built (nothing exported)"),
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

    #[test]
    fn outputs_as_buildctl() {
        let e = export(&args(&["--output", "type=image,name=r/a:1,push=true"]), false).expect("ok").expect("some");
        assert_eq!(e.exporter, "image");
        assert_eq!(e.attrs.get("name").map(String::as_str), Some("r/a:1"));
        assert_eq!(e.attrs.get("push").map(String::as_str), Some("true"));
        let e = export(&args(&["-t", "a", "-t", "b"]), true).expect("ok").expect("some");
        assert_eq!((e.exporter.as_str(), e.attrs.get("name").map(String::as_str)), ("moby", Some("a,b")));
        assert_eq!(export(&args(&[]), false).expect("ok"), None);
        assert!(export(&args(&["--push"]), false).is_err(), "push without a name");
        assert!(export(&args(&["--push", "-t", "a"]), true).is_err(), "push on docker");
        assert!(export(&args(&["--load"]), false).is_err(), "load on buildkitd");
        let e = export(&args(&["--output", "type=tar,dest=x"]), false).expect_err("tar").to_string();
        assert!(e.contains("FileSend"), "{e}");
        assert!(export(&args(&["--output", "name=x"]), false).is_err(), "no type");
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
