//! The frontend run: connect to BuildKit (over stdin/stdout in production,
//! over any byte stream in [`serve`]), read the script from the `dockerfile`
//! local, build it with `luakit::build` (resolving images and loading
//! modules through the gateway, naming steps for the daemon), solve its
//! Definition and return the result with the image config — or return the
//! error, which `docker build` shows.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use luakit::graph::LocalOptions;
use luakit::llb::{MarshalOptions, pb_platform};
use luakit::{BuildOptions, CapSet, EvalOptions, ImageConfig, Platform, ResolveError, ResolvedImage, Script, pb};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::FrontendError;
use crate::opts::BuildOpts;
use crate::pb::google::rpc::Status;
use crate::pb::moby::buildkit::v1::frontend as gw;
use crate::pb::moby::buildkit::v1::frontend::llb_bridge_client::LlbBridgeClient;
use crate::stdio::StdioStream;

/// Name of the local holding the build script (Docker's name for it).
const DOCKERFILE_LOCAL: &str = "dockerfile";

/// Name of the local holding the build context, whose `.dockerignore` applies to it.
const CONTEXT_LOCAL: &str = "context";

/// `google.rpc.Code.UNKNOWN`, what BuildKit's own frontends return errors as.
const CODE_UNKNOWN: i32 = 2;

/// How long BuildKit has to answer the first call (`Ping`) on stdin/stdout.
/// BuildKit answers at once; a peer silent that long is not BuildKit.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The gRPC header naming the build a gateway call belongs to when the
/// bridge is reached through BuildKit's Control connection (BuildKit's
/// gateway forwarder routes the call to that build's frontend bridge).
pub const BUILD_ID_HEADER: &str = "buildkit-controlapi-buildid";

/// The gateway client: an `LLBBridge` client that adds the
/// [`BUILD_ID_HEADER`] to every call when it has a build id (the Control
/// route), and nothing otherwise (stdin/stdout).
pub(crate) type Client = LlbBridgeClient<InterceptedService<Channel, BuildId>>;

/// Adds `buildkit-controlapi-buildid` to every call, when set.
#[derive(Clone, Default)]
pub struct BuildId(Option<AsciiMetadataValue>);

impl BuildId {
    /// The header for the Control solve whose `Ref` is `build_ref`; `None`
    /// when the ref is not a valid header value.
    pub fn new(build_ref: &str) -> Option<Self> {
        MetadataValue::try_from(build_ref).ok().map(|v| BuildId(Some(v)))
    }
}

impl Interceptor for BuildId {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert(BUILD_ID_HEADER, v.clone());
        }
        Ok(req)
    }
}

/// Where the build script comes from.
pub enum ScriptInput {
    /// The `dockerfile` local of the client's session, named by the
    /// `filename` option (the frontend inside BuildKit).
    FromLocal,
    /// Already read by the caller (`luakit solve` on the client, with its
    /// own module loader), with the evaluation's limits and `local.unique`
    /// id (platforms, build args and session come from the [`BuildOpts`]).
    Given(Box<(Script, EvalOptions)>),
}

/// What [`serve_channel`] returned to BuildKit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// The build's error as returned to BuildKit (`build.lua:N: …` when a
    /// step of the script failed), `None` when a result was returned.
    pub error: Option<String>,
}

/// Runs `luakit frontend`: reads the options from the environment and serves
/// one build over stdin/stdout. Build failures (script, marshal and solve
/// errors) are returned to BuildKit and are not an `Err` here; an `Err` means
/// the gateway itself could not be talked to.
pub fn run() -> Result<(), FrontendError> {
    run_with_opts(BuildOpts::from_env()?)
}

/// [`run`] with options already read.
pub fn run_with_opts(opts: BuildOpts) -> Result<(), FrontendError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(FrontendError::Runtime)?;
    let result = rt.block_on(async { serve(StdioStream::new(), opts).await });
    // The stdin reader sits in a blocking read that never ends: do not wait
    // for it (BuildKit waits for the frontend process to exit).
    rt.shutdown_background();
    result
}

/// The enabled LLB caps of a `Ping` answer, with the daemon's BuildKit
/// version when a worker reports it.
pub fn llb_caps(pong: &gw::PongResponse) -> CapSet {
    let mut caps = CapSet::new(pong.llb_caps.iter().filter(|c| c.enabled).map(|c| c.id.clone()));
    caps.version =
        pong.workers.iter().find_map(|w| w.buildkit_version.as_ref().map(|v| v.version.clone())).unwrap_or_default();
    caps
}

async fn connect<IO>(io: IO) -> Result<Channel, FrontendError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // The stream (stdin/stdout in production) is one connection: hand it out once.
    let stream = Arc::new(Mutex::new(Some(io)));
    let connector = tower::service_fn(move |_: Uri| {
        let stream = stream.clone();
        async move {
            let taken = stream.lock().ok().and_then(|mut s| s.take());
            match taken {
                Some(s) => Ok(TokioIo::new(s)),
                // The one connection broke and the channel tries another.
                None => Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the connection was lost (the other end closed it, or does not speak gRPC over HTTP/2)",
                )),
            }
        }
    });
    Endpoint::from_static("http://buildkit-gateway")
        .connect_with_connector(connector)
        .await
        .map_err(FrontendError::Connect)
}

fn client(channel: Channel, build_id: BuildId) -> Client {
    LlbBridgeClient::with_interceptor(channel, build_id)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

fn call(name: &'static str) -> impl FnOnce(tonic::Status) -> FrontendError {
    move |status| FrontendError::Call { call: name, status }
}

/// Pings over `channel`, within [`HANDSHAKE_TIMEOUT`].
async fn handshake(channel: Channel, build_id: BuildId) -> Result<(Client, gw::PongResponse), FrontendError> {
    let attempt = async {
        let mut client = client(channel, build_id);
        let pong = client.ping(gw::PingRequest {}).await.map_err(|status| FrontendError::Handshake {
            reason: format!("the first call (Ping) failed: {}", crate::error::status_cause(&status)),
        })?;
        Ok((client, pong.into_inner()))
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, attempt).await {
        Ok(r) => r,
        Err(_) => Err(FrontendError::Handshake {
            reason: format!("nothing answered within {}s", HANDSHAKE_TIMEOUT.as_secs()),
        }),
    }
}

/// Serves one build to the BuildKit gateway at the other end of `io` (in
/// production [`run`] passes stdin/stdout; a test passes one end of an
/// in-memory pipe whose other end serves `LLBBridge`). As [`run`], a build
/// failure is returned to BuildKit and is not an `Err` here.
///
/// Needs a multi-threaded tokio runtime: the script is evaluated on a
/// blocking thread that calls back into the gateway.
pub async fn serve<IO>(io: IO, opts: BuildOpts) -> Result<(), FrontendError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let channel = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(io)).await.map_err(|_| {
        FrontendError::Handshake { reason: format!("nothing answered within {}s", HANDSHAKE_TIMEOUT.as_secs()) }
    })??;
    let served = serve_channel(channel, BuildId::default(), opts, ScriptInput::FromLocal).await?;
    if let Some(message) = served.error {
        eprintln!("luakit frontend: {message}");
    }
    Ok(())
}

/// The one gateway build, shared by the frontend ([`serve`], over
/// stdin/stdout) and `luakit solve` (over the Control connection, with
/// `build_id` set to the Control solve's ref, as BuildKit's Go
/// `client.Build` does): `Ping` for the daemon's caps, the script evaluated
/// by `luakit::build` with every `bk.image` resolved through
/// `ResolveImageConfig`, `Solve`, then `Return` with the result and its
/// `containerimage.config`, or with the build's error. A build failure is
/// returned to BuildKit (and in [`Served::error`]), not an `Err`.
///
/// Needs a multi-threaded tokio runtime: the script is evaluated on a
/// blocking thread that calls back into the gateway.
pub async fn serve_channel(
    channel: Channel,
    build_id: BuildId,
    opts: BuildOpts,
    script: ScriptInput,
) -> Result<Served, FrontendError> {
    let (mut client, pong) = handshake(channel, build_id).await?;
    let mut opts = opts;
    if opts.worker_platforms.is_empty() {
        // Not given by BuildKit's environment (the Control route): the
        // platforms of the workers Ping reports.
        opts.worker_platforms = pong
            .workers
            .iter()
            .flat_map(|w| w.platforms.iter())
            .map(|p| Platform::new(p.os.clone(), p.architecture.clone(), p.variant.clone()))
            .collect();
    }
    let caps = llb_caps(&pong);
    let ref_array = pong.frontend_api_caps.iter().any(|c| c.enabled && c.id == "proto.refarray");
    let (req, error) = match build(&mut client, &opts, &caps, ref_array, script).await {
        Ok(result) => (gw::ReturnRequest { result: Some(result), error: None }, None),
        Err(message) => (
            gw::ReturnRequest {
                result: None,
                error: Some(Status { code: CODE_UNKNOWN, message: message.clone(), details: Vec::new() }),
            },
            Some(message),
        ),
    };
    client.r#return(req).await.map_err(call("Return"))?;
    Ok(Served { error })
}

/// Solves `def` (importing `cache_imports`) and returns the result's ref id.
async fn solve(
    client: &mut Client,
    def: pb::Definition,
    cache_imports: Vec<gw::CacheOptionsEntry>,
) -> Result<String, tonic::Status> {
    let req = gw::SolveRequest {
        definition: Some(def),
        cache_imports,
        allow_result_return: true,
        allow_result_array_ref: true,
        r#final: false,
        ..Default::default()
    };
    let resp = client.solve(req).await?.into_inner();
    let id = match resp.result.and_then(|r| r.result) {
        Some(gw::result::Result::Ref(r)) => r.id,
        Some(gw::result::Result::RefDeprecated(id)) => id,
        Some(_) => return Err(tonic::Status::internal("solve returned several refs for one definition")),
        None => resp.r#ref,
    };
    Ok(id)
}

/// Everything up to the result; `Err` is the message to return to BuildKit.
async fn build(
    client: &mut Client,
    opts: &BuildOpts,
    caps: &CapSet,
    ref_array: bool,
    input: ScriptInput,
) -> Result<gw::Result, String> {
    let platforms = opts.target_platforms().map_err(|e| e.to_string())?;
    let no_cache = opts.no_cache().map_err(|e| e.to_string())?;
    let cache_imports: Vec<gw::CacheOptionsEntry> = opts
        .cache_imports()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(r#type, attrs)| gw::CacheOptionsEntry { r#type, attrs: attrs.into_iter().collect() })
        .collect();
    if let Some(message) = crate::multi::refusal(&opts.product, caps, &platforms) {
        return Err(message);
    }
    let build_platform = opts.build_platform();
    let handle = Handle::current();
    let gateway: Arc<dyn luakit::ImageResolver> = Arc::new(GatewayResolver {
        client: client.clone(),
        handle: handle.clone(),
        session_id: opts.session_id.clone(),
        resolve_mode: opts.resolve_mode().to_string(),
    });
    let (script, base, excludes, resolver) = match input {
        ScriptInput::Given(given) => {
            let (script, base) = *given;
            (script, base, Vec::new(), gateway)
        }
        ScriptInput::FromLocal => {
            let (script, script_ref, excludes) = read_script(client, opts, caps).await?;
            // A `luakit.lock` beside the script answers first.
            let resolver = crate::lock::with_lock(client, &script_ref, &script.name, gateway).await?;
            (script, EvalOptions::default(), excludes, resolver)
        }
    };
    let filename = script.name.clone();

    // Build on blocking threads (one evaluation per platform): the resolver
    // and loader call back into the gateway from there.
    let mut eval = EvalOptions {
        build_platform,
        args: opts.build_args(),
        local_session_id: Some(opts.session_id.clone()),
        source_map: true,
        target: opts.target().map(str::to_string),
        ..base
    };
    if !excludes.is_empty() {
        eval.local_excludes.insert(CONTEXT_LOCAL.to_string(), excludes);
    }
    let build_opts = BuildOptions { eval, daemon_caps: Some(caps.clone()), name_ops: true };
    let multi = platforms.len() > 1;
    let eval_platforms = platforms.clone();
    let mut builds =
        tokio::task::spawn_blocking(move || luakit::build_platforms(&script, &build_opts, &eval_platforms, resolver))
            .await
            .map_err(|e| format!("evaluation of {filename} did not finish: {e}"))?
            .map_err(|e| e.to_string())?;
    if no_cache {
        // As the Dockerfile frontend does: every op ignores the cache (the
        // ops, and so the steps' digests, are the same as without).
        for b in &mut builds {
            luakit::llb::ignore_cache_all(&mut b.definition);
        }
    }
    for w in builds.iter().flat_map(|b| &b.warnings) {
        eprintln!("luakit: {w}");
    }

    if !multi {
        let built = builds.into_iter().next().expect("one build per platform");
        let locations = op_locations(&built.definition);
        let metadata = built.result_metadata();
        let id = solve(client, built.definition.into_message(), cache_imports)
            .await
            .map_err(|s| solve_error(&s, &locations))?;
        let r = if ref_array {
            gw::result::Result::Ref(gw::Ref { id, def: None })
        } else {
            gw::result::Result::RefDeprecated(id)
        };
        return Ok(gw::Result { metadata, attestations: BTreeMap::new(), result: Some(r) });
    }

    // Several platforms: solve them in parallel, return a refs map.
    let metadata = crate::multi::metadata(platforms.iter().zip(builds.iter().map(|b| &b.image_config)));
    let mut solves = Vec::new();
    for (p, built) in platforms.iter().zip(builds) {
        let mut client = client.clone();
        let key = crate::multi::platform_id(p);
        let cache_imports = cache_imports.clone();
        solves.push(tokio::spawn(async move {
            let locations = op_locations(&built.definition);
            let id = solve(&mut client, built.definition.into_message(), cache_imports)
                .await
                .map_err(|s| format!("for {key}: {}", solve_error(&s, &locations)))?;
            Ok::<_, String>((key, id))
        }));
    }
    let mut ids = BTreeMap::new();
    for s in solves {
        let (key, id) = s.await.map_err(|e| format!("a solve did not finish: {e}"))??;
        ids.insert(key, id);
    }
    let r = if ref_array {
        gw::result::Result::Refs(gw::RefMap {
            refs: ids.into_iter().map(|(k, id)| (k, gw::Ref { id, def: None })).collect(),
        })
    } else {
        gw::result::Result::RefsDeprecated(gw::RefMapDeprecated { refs: ids })
    };
    Ok(gw::Result { metadata, attestations: BTreeMap::new(), result: Some(r) })
}

/// The script and its sibling modules (read from the `dockerfile` local),
/// the ref of that local, and the patterns of `<script>.dockerignore` or the
/// context's `.dockerignore`.
async fn read_script(
    client: &mut Client,
    opts: &BuildOpts,
    caps: &CapSet,
) -> Result<(Script, String, Vec<String>), String> {
    let filename = opts.filename().to_string();
    // The script, its sibling modules, `<script>.dockerignore` and the lock,
    // from the `dockerfile` local.
    let ignore_name = format!("{filename}{}", crate::dockerignore::DOCKERIGNORE);
    let script_ref = solve_local(
        client,
        opts,
        caps,
        DOCKERFILE_LOCAL,
        vec![filename.clone(), "**/*.lua".to_string(), ignore_name.clone(), crate::lock::lock_path(&filename)],
    )
    .await
    .map_err(|s| format!("cannot read {filename}: {}", s.message()))?;
    let source = read_file(client, &script_ref, &filename)
        .await
        .map_err(|s| format!("cannot read {filename} from the build's dockerfile directory: {}", s.message()))?;
    let excludes = read_dockerignore(client, opts, caps, &script_ref, &ignore_name).await;
    let loader =
        Arc::new(GatewayLoader { client: client.clone(), handle: Handle::current(), script_ref: script_ref.clone() });
    Ok((Script::new(filename, source).with_loader(loader), script_ref, excludes))
}

/// Solves the local `name` filtered to `include` and returns its ref.
async fn solve_local(
    client: &mut Client,
    opts: &BuildOpts,
    caps: &CapSet,
    name: &str,
    include: Vec<String>,
) -> Result<String, tonic::Status> {
    let hint = if name == DOCKERFILE_LOCAL { name.to_string() } else { format!("{name}-{}", include.join(",")) };
    let local = luakit::graph::local(
        name,
        LocalOptions {
            include_patterns: include,
            shared_key_hint: hint,
            session_id: Some(opts.session_id.clone()),
            ..LocalOptions::default()
        },
    )
    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
    let def = luakit::llb::marshal(
        &local,
        &MarshalOptions {
            platform: opts.build_platform(),
            source_map: false,
            daemon_caps: Some(caps.clone()),
            name_ops: false,
        },
    )
    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
    solve(client, def, Vec::new()).await
}

/// The exclude patterns for the `context` local: `<script>.dockerignore`
/// from the `dockerfile` local, else `.dockerignore` from the context (as
/// BuildKit's Dockerfile frontend reads them). A context the client did not
/// send, or no ignore file, gives none.
async fn read_dockerignore(
    client: &mut Client,
    opts: &BuildOpts,
    caps: &CapSet,
    script_ref: &str,
    ignore_name: &str,
) -> Vec<String> {
    let own = read_file(client, script_ref, ignore_name).await.ok();
    let context = if own.is_some() {
        None
    } else {
        let name = crate::dockerignore::DOCKERIGNORE;
        match solve_local(client, opts, caps, CONTEXT_LOCAL, vec![name.to_string()]).await {
            Ok(r) => read_file(client, &r, name).await.ok(),
            Err(_) => None,
        }
    };
    crate::dockerignore::choose(own, context)
}

/// `digest → "file:line"` of every op the source map locates (for solve
/// errors; the same location the step names show).
fn op_locations(def: &pb::Definition) -> Vec<(String, String)> {
    let Some(source) = &def.source else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (digest, locs) in &source.locations {
        for loc in &locs.locations {
            let Some(info) = usize::try_from(loc.source_index).ok().and_then(|i| source.infos.get(i)) else {
                continue;
            };
            if let Some(range) = loc.ranges.first() {
                let line = range.start.as_ref().map(|p| p.line).unwrap_or(0);
                out.push((digest.clone(), format!("{}:{line}", info.filename)));
                break;
            }
        }
    }
    out
}

/// A solve failure, prefixed with the Lua location of the failing op when the
/// error names its digest (BuildKit attaches the vertex digest as a detail).
fn solve_error(status: &tonic::Status, locations: &[(String, String)]) -> String {
    let details = String::from_utf8_lossy(status.details());
    let message = status.message();
    let at =
        locations.iter().find(|(digest, _)| details.contains(digest.as_str()) || message.contains(digest.as_str()));
    match at {
        Some((_, loc)) => format!("{loc}: {message}"),
        None => message.to_string(),
    }
}

pub(crate) async fn read_file(client: &mut Client, id: &str, path: &str) -> Result<Vec<u8>, tonic::Status> {
    let req = gw::ReadFileRequest { r#ref: id.to_string(), file_path: path.to_string(), range: None };
    Ok(client.read_file(req).await?.into_inner().data)
}

/// Resolves `bk.image` references through `ResolveImageConfig`.
struct GatewayResolver {
    client: Client,
    handle: Handle,
    session_id: String,
    resolve_mode: String,
}

impl luakit::ImageResolver for GatewayResolver {
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
        mode: luakit::ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let mut client = self.client.clone();
        // The script's `resolve` wins over the build's `image-resolve-mode`.
        let resolve_mode = match mode {
            luakit::ResolveMode::Default => self.resolve_mode.clone(),
            luakit::ResolveMode::Always => "pull".to_string(),
            luakit::ResolveMode::Never => "local".to_string(),
        };
        let req = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(pb_platform(platform)),
            resolve_mode,
            log_name: format!("[luakit] resolve image config for {reference}"),
            session_id: self.session_id.clone(),
            ..Default::default()
        };
        let resp = self.handle.block_on(client.resolve_image_config(req)).map_err(|s| s.message().to_string())?;
        let resp = resp.into_inner();
        let config = ImageConfig::from_json(&resp.config).map_err(|e| format!("bad image config: {e}"))?;
        Ok(Some(ResolvedImage { digest: resp.digest, config }))
    }
}

/// Loads `require`d modules from the `dockerfile` local.
struct GatewayLoader {
    client: Client,
    handle: Handle,
    script_ref: String,
}

impl luakit::ModuleLoader for GatewayLoader {
    fn load(&self, relative_path: &str) -> Result<Option<Vec<u8>>, String> {
        let mut client = self.client.clone();
        match self.handle.block_on(read_file(&mut client, &self.script_ref, relative_path)) {
            Ok(data) => Ok(Some(data)),
            Err(s) if s.code() == tonic::Code::NotFound || s.message().contains("no such file") => Ok(None),
            Err(s) => Err(s.message().to_string()),
        }
    }

    /// The `.lua` files of the `dockerfile` local (which holds only those
    /// and the script), walked with `ReadDir`; empty when the gateway
    /// cannot list directories.
    fn list(&self) -> Vec<String> {
        /// Go's `os.ModeDir`, as fsutil reports a directory's mode.
        const MODE_DIR: u32 = 1 << 31;
        let mut out = Vec::new();
        let mut queue = std::collections::VecDeque::from([(String::new(), 0usize)]);
        let mut seen = 0usize;
        while let Some((dir, depth)) = queue.pop_front() {
            let mut client = self.client.clone();
            let req = gw::ReadDirRequest {
                r#ref: self.script_ref.clone(),
                dir_path: if dir.is_empty() { "/".to_string() } else { dir.clone() },
                include_pattern: String::new(),
            };
            let Ok(resp) = self.handle.block_on(client.read_dir(req)) else { break };
            let mut entries = resp.into_inner().entries;
            entries.sort_by(|a, b| a.path.cmp(&b.path));
            for e in entries {
                seen += 1;
                if seen > 10_000 {
                    queue.clear();
                    break;
                }
                let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
                let path = if dir.is_empty() { name.clone() } else { format!("{dir}/{name}") };
                if e.mode & MODE_DIR != 0 {
                    if depth < 8 && !name.starts_with('.') {
                        queue.push_back((path, depth + 1));
                    }
                } else if name.ends_with(".lua") {
                    out.push(path);
                }
            }
        }
        out.sort();
        out
    }
}
