//! An in-process BuildKit gateway: a fake `LLBBridge` server on one end of
//! an in-memory pipe and the real frontend ([`luakit_frontend::serve`]) on
//! the other. It answers `Ping` (with the LLB caps it is given), `Solve`
//! (recording every Definition), `ReadFile` (from the files of the
//! `dockerfile` and `context` locals it is given), `ResolveImageConfig` (from the images it
//! is given) and `Return` (recording the result); every other call is
//! `Unimplemented`. Shared with luakit-cli's tests, which compare the
//! frontend route with the CLI route.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use luakit::pb;
use luakit_frontend::BuildOpts;
use luakit_frontend::pb::moby::buildkit::v1::apicaps::ApiCap;
use luakit_frontend::pb::moby::buildkit::v1::frontend as gw;
use luakit_frontend::pb::moby::buildkit::v1::frontend::llb_bridge_server::{LlbBridge, LlbBridgeServer};
use tonic::{Request, Response, Status};

/// Every LLB cap BuildKit v0.11 reports, and the ones luakit records for
/// newer features.
pub const ALL_LLB_CAPS: &[&str] = &[
    "source.image",
    "source.image.resolvemode",
    "source.local",
    "source.local.unique",
    "source.local.sessionid",
    "source.local.includepatterns",
    "source.local.followpaths",
    "source.local.excludepatterns",
    "source.local.sharedkeyhint",
    "source.local.differ",
    "source.git",
    "source.git.keepgitdir",
    "source.git.fullurl",
    "source.git.httpauth",
    "source.git.knownsshhosts",
    "source.git.mountsshsock",
    "source.git.subdir",
    "source.http",
    "source.http.checksum",
    "source.http.perm",
    "soruce.http.uidgid",
    "source.ocilayout",
    "exec.meta.base",
    "exec.meta.cgroup.parent",
    "exec.meta.network",
    "exec.meta.proxyenv",
    "exec.meta.security",
    "exec.meta.ulimit",
    "exec.mount.bind",
    "exec.mount.cache",
    "exec.mount.cache.sharing",
    "exec.mount.selector",
    "exec.mount.tmpfs",
    "exec.mount.tmpfs.size",
    "exec.mount.secret",
    "exec.mount.ssh",
    "exec.secretenv",
    "exec.validexitcode",
    "file.base",
    "file.rm.wildcard",
    "file.copy.includeexcludepatterns",
    "file.symlink.create",
    "constraints",
    "platform",
    "meta.ignorecache",
    "meta.description",
    "meta.exportcache",
    "mergeop",
    "diffop",
];

/// What the fake gateway serves, and what it saw.
#[derive(Clone, Default)]
pub struct Gateway {
    /// The LLB caps `Ping` reports as enabled.
    pub llb_caps: Vec<String>,
    /// The files of the `dockerfile` local, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The files of the `context` local, by path.
    pub context_files: BTreeMap<String, Vec<u8>>,
    /// What `Ping` reports as the exporting product's workers' BuildKit
    /// version (empty: none reported, as BuildKit before v0.11).
    pub buildkit_version: String,
    /// `ResolveImageConfig` answers: normalized reference → (digest, config JSON).
    pub images: BTreeMap<String, (String, Vec<u8>)>,
    /// What the frontend sent.
    pub record: Arc<Mutex<Record>>,
}

/// What the frontend sent to the gateway.
#[derive(Debug, Default)]
pub struct Record {
    /// Every solved Definition, in order (the `dockerfile` local's first).
    pub solved: Vec<pb::Definition>,
    /// The solved Definitions that are builds (not the frontend's own
    /// reads of the `dockerfile` and `context` locals), in order.
    pub builds: Vec<pb::Definition>,
    /// Every `ResolveImageConfig` request.
    pub resolved: Vec<gw::ResolveImageConfigRequest>,
    /// The `Return` request.
    pub returned: Option<gw::ReturnRequest>,
    /// The `buildkit-controlapi-buildid` header of every call ("" when absent).
    pub build_ids: Vec<String>,
    /// The `CacheImports` of each build's solve, in order.
    pub build_cache_imports: Vec<Vec<gw::CacheOptionsEntry>>,
}

impl Gateway {
    /// A gateway with these LLB caps and `build.lua` (plus `modules`).
    pub fn new(llb_caps: &[&str], script: &str) -> Self {
        Gateway {
            llb_caps: llb_caps.iter().map(|c| c.to_string()).collect(),
            files: BTreeMap::from([("build.lua".to_string(), script.as_bytes().to_vec())]),
            ..Gateway::default()
        }
    }

    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn note<T>(&self, req: &Request<T>) {
        let id = req.metadata().get(luakit_frontend::BUILD_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.record().build_ids.push(id.to_string());
    }

    /// Every solved Definition.
    pub fn solved(&self) -> Vec<pb::Definition> {
        self.record().solved.clone()
    }

    /// The `buildkit-controlapi-buildid` header of every call.
    pub fn build_ids(&self) -> Vec<String> {
        self.record().build_ids.clone()
    }

    /// Runs the shared gateway build (`serve_channel`, the route of `luakit
    /// solve`) with a script given by the caller, over a channel whose calls
    /// carry `build_id`.
    pub fn run_given(
        &self,
        script: luakit::Script,
        build_id: &str,
        opts: &[(&str, &str)],
    ) -> Result<luakit_frontend::Served, Box<dyn std::error::Error>> {
        let mut o = BuildOpts { session_id: "sess".to_string(), ..BuildOpts::default() };
        for (k, v) in opts {
            o.opts.insert(k.to_string(), v.to_string());
        }
        let id = luakit_frontend::BuildId::new(build_id).ok_or("bad build id")?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let bridge = LlbBridgeServer::new(self.clone());
        let served = rt.block_on(async move {
            let (client_end, gateway_end) = tokio::io::duplex(1 << 20);
            let server = tokio::spawn(
                tonic::transport::Server::builder()
                    .serve_with_incoming(bridge, tokio_stream::once(Ok::<_, std::io::Error>(gateway_end))),
            );
            let slot = Arc::new(Mutex::new(Some(client_end)));
            let connector = tower::service_fn(move |_: tonic::transport::Uri| {
                let taken = slot.lock().ok().and_then(|mut s| s.take());
                async move { taken.map(hyper_util::rt::TokioIo::new).ok_or_else(|| std::io::Error::other("used")) }
            });
            let channel =
                tonic::transport::Endpoint::from_static("http://gateway").connect_with_connector(connector).await?;
            let served = luakit_frontend::serve_channel(
                channel,
                id,
                o,
                luakit_frontend::ScriptInput::Given(Box::new((script, luakit::EvalOptions::default()))),
            )
            .await;
            server.abort();
            Ok::<_, Box<dyn std::error::Error>>(served?)
        })?;
        Ok(served)
    }

    /// The Definition of the build (the first solve that is not one of
    /// the frontend's reads of its locals).
    pub fn built(&self) -> Option<pb::Definition> {
        self.record().builds.first().cloned()
    }

    /// Every build Definition (one per platform), in the order solved.
    pub fn builds(&self) -> Vec<pb::Definition> {
        self.record().builds.clone()
    }

    /// The `CacheImports` of each build's solve.
    pub fn build_cache_imports(&self) -> Vec<Vec<gw::CacheOptionsEntry>> {
        self.record().build_cache_imports.clone()
    }

    /// The `Return` request.
    pub fn returned(&self) -> Option<gw::ReturnRequest> {
        self.record().returned.clone()
    }

    /// The references `ResolveImageConfig` was asked for, with their platforms.
    pub fn resolved(&self) -> Vec<gw::ResolveImageConfigRequest> {
        self.record().resolved.clone()
    }

    /// Runs the real frontend against this gateway with the options of
    /// `BUILDKIT_FRONTEND_OPT_*` pairs `opts` (and session `sess`).
    pub fn run_frontend(&self, opts: &[(&str, &str)]) -> Result<(), Box<dyn std::error::Error>> {
        self.run_frontend_for("", opts)
    }

    /// [`Gateway::run_frontend`] with `BUILDKIT_EXPORTEDPRODUCT=product`.
    pub fn run_frontend_for(&self, product: &str, opts: &[(&str, &str)]) -> Result<(), Box<dyn std::error::Error>> {
        let mut vars = vec![
            ("BUILDKIT_SESSION_ID".to_string(), "sess".to_string()),
            ("BUILDKIT_EXPORTEDPRODUCT".to_string(), product.to_string()),
        ];
        for (i, (k, v)) in opts.iter().enumerate() {
            vars.push((format!("BUILDKIT_FRONTEND_OPT_{i}"), format!("{k}={v}")));
        }
        let opts = BuildOpts::from_vars(vars)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let bridge = LlbBridgeServer::new(self.clone())
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        rt.block_on(async move {
            let (frontend_end, gateway_end) = tokio::io::duplex(1 << 20);
            let server = tokio::spawn(
                tonic::transport::Server::builder()
                    .serve_with_incoming(bridge, tokio_stream::once(Ok::<_, std::io::Error>(gateway_end))),
            );
            let served = luakit_frontend::serve(frontend_end, opts).await;
            server.abort();
            served
        })?;
        Ok(())
    }
}

/// The shared key hint of a Definition that only reads a local (the
/// frontend's reads of its `dockerfile` and `context` locals), else `None`.
fn local_read(def: &pb::Definition) -> Option<String> {
    use prost::Message as _;
    if def.def.len() != 2 {
        return None;
    }
    let op = pb::Op::decode(def.def[0].as_slice()).ok()?;
    match op.op? {
        pb::op::Op::Source(src) if src.identifier.starts_with("local://") => {
            src.attrs.get("local.sharedkeyhint").filter(|h| *h == "dockerfile" || h.starts_with("context-")).cloned()
        }
        _ => None,
    }
}

fn cap(id: &str) -> ApiCap {
    ApiCap { id: id.to_string(), enabled: true, ..Default::default() }
}

#[tonic::async_trait]
impl LlbBridge for Gateway {
    async fn ping(&self, req: Request<gw::PingRequest>) -> Result<Response<gw::PongResponse>, Status> {
        self.note(&req);
        Ok(Response::new(gw::PongResponse {
            frontend_api_caps: ["solve.base", "readfile", "resolveimage", "return", "proto.refarray"]
                .into_iter()
                .map(cap)
                .collect(),
            llb_caps: self.llb_caps.iter().map(|c| cap(c)).collect(),
            workers: if self.buildkit_version.is_empty() {
                Vec::new()
            } else {
                vec![luakit_frontend::pb::moby::buildkit::v1::types::WorkerRecord {
                    buildkit_version: Some(luakit_frontend::pb::moby::buildkit::v1::types::BuildkitVersion {
                        version: self.buildkit_version.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]
            },
        }))
    }

    async fn solve(&self, req: Request<gw::SolveRequest>) -> Result<Response<gw::SolveResponse>, Status> {
        self.note(&req);
        let req = req.into_inner();
        let def = req.definition.unwrap_or_default();
        let mut record = self.record();
        let id = match local_read(&def).as_deref() {
            Some("dockerfile") => "dockerfile".to_string(),
            Some(hint) if hint.starts_with("context-") => "context".to_string(),
            _ => {
                record.builds.push(def.clone());
                record.build_cache_imports.push(req.cache_imports);
                format!("result-{}", record.builds.len())
            }
        };
        record.solved.push(def);
        Ok(Response::new(gw::SolveResponse {
            r#ref: String::new(),
            result: Some(gw::Result {
                result: Some(gw::result::Result::Ref(gw::Ref { id, def: None })),
                ..Default::default()
            }),
        }))
    }

    async fn read_file(&self, req: Request<gw::ReadFileRequest>) -> Result<Response<gw::ReadFileResponse>, Status> {
        let req = req.into_inner();
        let files = match req.r#ref.as_str() {
            "dockerfile" => &self.files,
            "context" => &self.context_files,
            other => return Err(Status::invalid_argument(format!("no ref {other}"))),
        };
        match files.get(&req.file_path) {
            Some(data) => Ok(Response::new(gw::ReadFileResponse { data: data.clone() })),
            None => Err(Status::not_found(format!("open {}: no such file or directory", req.file_path))),
        }
    }

    async fn resolve_image_config(
        &self,
        req: Request<gw::ResolveImageConfigRequest>,
    ) -> Result<Response<gw::ResolveImageConfigResponse>, Status> {
        self.note(&req);
        let req = req.into_inner();
        let answer = self.images.get(&req.r#ref).cloned();
        self.record().resolved.push(req.clone());
        match answer {
            Some((digest, config)) => {
                Ok(Response::new(gw::ResolveImageConfigResponse { digest, config, r#ref: req.r#ref }))
            }
            None => Err(Status::not_found(format!("{}: not found", req.r#ref))),
        }
    }

    async fn r#return(&self, req: Request<gw::ReturnRequest>) -> Result<Response<gw::ReturnResponse>, Status> {
        self.note(&req);
        self.record().returned = Some(req.into_inner());
        Ok(Response::new(gw::ReturnResponse {}))
    }
}
