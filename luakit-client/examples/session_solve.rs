//! Solves a Definition with a client session attached, for the end-to-end
//! suite (`cargo xtask e2e`, case `session`): reads a Definition (what
//! `luakit build` prints), opens a Control connection to buildkitd
//! (`--buildkit SOCKET`, plain HTTP/2) or dockerd (`--docker SOCKET`,
//! `POST /grpc` upgraded to h2c), starts a [`Session`] with the given
//! locals, secrets and SSH agents, solves without an exporter, and prints
//! one line of JSON: the session id and what its file transfers sent.
//!
//! ```text
//! session_solve (--buildkit SOCK | --docker SOCK) --def FILE [--local NAME=DIR]…
//!     [--dockerignore NAME]… [--secret SPEC]… [--ssh SPEC]… [--shared-key KEY]
//!     [--docker-config DIR] [--export TYPE,KEY=VALUE…]
//! ```
//!
//! `--export` names BuildKit's exporter and its attributes (for example
//! `image,name=REF,push=true`); registry credentials then come from the
//! session's Auth service (`--docker-config`).

use std::path::PathBuf;
use std::time::Instant;

use luakit_client::pb::moby::buildkit::v1::SolveRequest;
use luakit_client::pb::moby::buildkit::v1::control_client::ControlClient;
use luakit_client::session::{self, Session, SessionOptions};
use prost::Message as _;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

enum Engine {
    Buildkit(PathBuf),
    Docker(PathBuf),
}

/// How long connecting to the daemon may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    if let Err(e) = run() {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        eprintln!("session_solve: {text}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let mut engine = None;
    let mut def = None;
    let mut opts = SessionOptions::default();
    let mut ignore = Vec::new();
    let mut shared_key = "luakit-e2e".to_string();
    let mut exporter = String::new();
    let mut exporter_attrs = std::collections::BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--buildkit" => engine = Some(Engine::Buildkit(value()?.into())),
            "--docker" => engine = Some(Engine::Docker(value()?.into())),
            "--def" => def = Some(PathBuf::from(value()?)),
            "--local" => {
                let (name, dir) = session::parse_local(&value()?)?;
                opts.locals.insert(name, dir);
            }
            "--dockerignore" => ignore.push(value()?),
            "--secret" => {
                let (id, src) = session::parse_secret(&value()?)?;
                opts.secrets.insert(id, src);
            }
            "--ssh" => opts.ssh.push(session::parse_ssh(&value()?)?),
            "--shared-key" => shared_key = value()?,
            "--docker-config" => opts.docker_config = Some(value()?.into()),
            "--export" => {
                let spec = value()?;
                let mut fields = spec.split(',');
                exporter = fields.next().unwrap_or_default().to_string();
                for field in fields {
                    let (k, v) =
                        field.split_once('=').ok_or_else(|| format!("--export {spec}: {field} is not KEY=VALUE"))?;
                    exporter_attrs.insert(k.to_string(), v.to_string());
                }
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    for name in ignore {
        let dir = opts.locals.get(&name).ok_or_else(|| format!("--dockerignore {name}: no such local"))?;
        let patterns = session::read_dockerignore(&dir.join(".dockerignore"))?;
        opts.local_excludes.insert(name, patterns);
    }
    let engine = engine.ok_or("--buildkit SOCKET or --docker SOCKET is required")?;
    let def_path = def.ok_or("--def FILE is required")?;
    let bytes = std::fs::read(&def_path).map_err(|e| format!("cannot read {}: {e}", def_path.display()))?;
    let definition = luakit_llb::pb::Definition::decode(bytes.as_slice())?;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let channel = match &engine {
            Engine::Buildkit(socket) => luakit_client::Address::Unix(socket.clone()).connect(CONNECT_TIMEOUT).await?,
            Engine::Docker(socket) => {
                luakit_client::Address::DockerUnix(socket.clone()).connect(CONNECT_TIMEOUT).await?
            }
        };
        let t0 = Instant::now();
        let session = Session::start(channel.clone(), opts, &shared_key).await?;
        let mut client = ControlClient::new(channel).max_decoding_message_size(usize::MAX);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
        let req = SolveRequest {
            r#ref: format!("luakit-session-{}-{nanos:x}", std::process::id()),
            definition: Some(definition),
            session: session.id.clone(),
            exporter,
            exporter_attrs,
            ..Default::default()
        };
        let solved = client.solve(req).await;
        let secs = t0.elapsed().as_secs_f64();
        let c = session.counters();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let line = format!(
            "{{\"session\":\"{}\",\"bytes\":{},\"files\":{},\"stats\":{},\"secs\":{secs:.3}}}",
            session.id,
            load(&c.bytes),
            load(&c.files),
            load(&c.stats)
        );
        session.close().await;
        solved.map_err(|status| format!("solve failed: {}", status.message()))?;
        println!("{line}");
        Ok::<_, BoxError>(())
    })?;
    Ok(())
}
