//! A whole build from a Rust program, as `luakit solve` runs it: connect,
//! start the client session (locals, secrets, SSH, the exporter's output),
//! send `Control.Solve` with luakit's gateway build alongside for a script
//! (or the Definition directly), follow the progress, and write what the
//! exporter sends to this machine.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use luakit_client::build::{Build, Dest, Output};
//! use luakit_client::Address;
//!
//! let script = luakit::Script::from_path("build.lua".as_ref())?;
//! let channel = Address::resolve(None)?.connect(luakit_client::addr::CONNECT_TIMEOUT).await?;
//! let built = Build::script(script, luakit::EvalOptions::default())
//!     .local("context", ".")
//!     .build_arg("VERSION", "1.2")
//!     .output(Output::Oci { dest: Dest::File("image.tar".into()), names: vec!["app:1".into()] })
//!     .solve(channel, &mut |status| eprintln!("{} vertices", status.vertexes.len()))
//!     .await?;
//! println!("{:?}", built.exporter_response.get("containerimage.digest"));
//! # Ok(())
//! # }
//! ```
//!
//! File outputs are written to a temporary file beside the destination and
//! renamed into place only when the build succeeded: a failed build leaves
//! no half-written file.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use luakit::{EvalOptions, Script};
use luakit_frontend::{BuildId, BuildOpts, ScriptInput};
use tonic::transport::Channel;

use crate::control::{self, CacheOptions, CacheOptionsEntry, SolveRequest, StatusResponse};
use crate::session::{OutputTarget, SecretSource, Session, SessionError, SessionOptions, SshSpec};

/// Where a file output goes.
#[derive(Clone)]
pub enum Dest {
    /// A file, replaced atomically once the build succeeded.
    File(PathBuf),
    /// This process's standard output.
    Stdout,
    /// Any writer (opened when the daemon starts sending, given the
    /// exporter's `exporter-md-` metadata).
    Writer(crate::session::OpenWriter),
}

impl std::fmt::Debug for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::File(p) => f.debug_tuple("File").field(p).finish(),
            Dest::Stdout => f.write_str("Stdout"),
            Dest::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// What the build exports (buildctl's `--output type=…`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Output {
    /// buildkitd's `image` exporter: an image in its store, named, and
    /// pushed when `push`.
    Image {
        /// Image references (`name=`).
        names: Vec<String>,
        /// Push to the registry.
        push: bool,
    },
    /// A Docker daemon's `moby` exporter: an image in its image store.
    Moby {
        /// Tags.
        names: Vec<String>,
    },
    /// An OCI image layout as a tarball (buildkitd).
    Oci {
        /// Where the tarball goes.
        dest: Dest,
        /// Image references recorded in the layout's index.
        names: Vec<String>,
    },
    /// A `docker load` tarball (buildkitd).
    Docker {
        /// Where the tarball goes.
        dest: Dest,
        /// Image references (the tarball's `RepoTags`).
        names: Vec<String>,
    },
    /// The result's files as a tarball.
    Tar {
        /// Where the tarball goes.
        dest: Dest,
    },
    /// The result's files written into a directory of this machine.
    Local {
        /// The directory (created if missing; existing files of the same
        /// names are replaced, others kept).
        dir: PathBuf,
    },
}

impl Output {
    /// The exporter's name in the SolveRequest.
    pub fn exporter(&self) -> &'static str {
        match self {
            Output::Image { .. } => control::IMAGE_EXPORTER,
            Output::Moby { .. } => control::DOCKER_EXPORTER,
            Output::Oci { .. } => "oci",
            Output::Docker { .. } => "docker",
            Output::Tar { .. } => "tar",
            Output::Local { .. } => "local",
        }
    }

    /// Whether a Docker daemon's built-in BuildKit has this exporter
    /// (`moby`, `local`, `tar`; not `image`, `oci`, `docker`).
    pub fn on_docker(&self) -> bool {
        matches!(self, Output::Moby { .. } | Output::Local { .. } | Output::Tar { .. })
    }

    fn attrs(&self) -> BTreeMap<String, String> {
        let mut attrs = BTreeMap::new();
        let names = match self {
            Output::Image { names, push } => {
                if *push {
                    attrs.insert("push".to_string(), "true".to_string());
                }
                names
            }
            Output::Moby { names } | Output::Oci { names, .. } | Output::Docker { names, .. } => names,
            Output::Tar { .. } | Output::Local { .. } => return attrs,
        };
        if !names.is_empty() {
            attrs.insert("name".to_string(), names.join(","));
        }
        attrs
    }
}

/// What the build's input is.
enum Input {
    Script(Box<(Script, EvalOptions)>),
    Definition(luakit::pb::Definition),
}

/// A build to solve: see the module docs.
pub struct Build {
    input: Input,
    frontend_opts: BTreeMap<String, String>,
    session: SessionOptions,
    shared_key: String,
    output: Option<Output>,
    exporter_attrs: BTreeMap<String, String>,
    cache: CacheOptions,
    entitlements: Vec<String>,
}

/// A finished build.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The exporter's response (`containerimage.digest`, …).
    pub exporter_response: BTreeMap<String, String>,
    /// File data bytes the session sent for the locals.
    pub context_bytes: u64,
    /// What the build left out and why (a `type=local` cache import whose
    /// directory holds no cache yet).
    pub warnings: Vec<String>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The client session could not start.
    #[error("cannot start the client session")]
    Session(#[source] SessionError),
    /// The output cannot be used (a Docker daemon without the exporter, a
    /// destination that cannot be written).
    #[error("{0}")]
    Output(String),
    /// The build ref is not a valid gRPC header.
    #[error("the build ref is not a valid gRPC header")]
    Ref,
    /// BuildKit's gateway did not answer on the Control connection.
    #[error("{0}")]
    Gateway(String),
    /// The solve failed: BuildKit's message, and the script's error as the
    /// gateway build returned it (`build.lua:N: …`) when there was one.
    #[error("{message}")]
    Solve {
        /// BuildKit's message.
        message: String,
        /// The script's error (its file:line first), if the script failed.
        script_error: Option<String>,
        /// BuildKit's status.
        #[source]
        status: tonic::Status,
    },
}

impl Build {
    fn new(input: Input) -> Build {
        Build {
            input,
            frontend_opts: BTreeMap::new(),
            session: SessionOptions::default(),
            shared_key: String::new(),
            output: None,
            exporter_attrs: BTreeMap::new(),
            cache: CacheOptions::default(),
            entitlements: Vec::new(),
        }
    }

    /// Builds a script with luakit's gateway build (`eval`: limits and the
    /// `local.unique` id; platforms and build args come from this builder).
    pub fn script(script: Script, eval: EvalOptions) -> Build {
        Build::new(Input::Script(Box::new((script, eval))))
    }

    /// Solves an LLB Definition directly.
    pub fn definition(definition: luakit::pb::Definition) -> Build {
        Build::new(Input::Definition(definition))
    }

    /// What to export (default: nothing, the result stays in the cache).
    pub fn output(mut self, output: Output) -> Build {
        self.output = Some(output);
        self
    }

    /// An extra exporter attribute (e.g. `compression=zstd`), added to
    /// those the [`Output`] sets.
    pub fn exporter_attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Build {
        self.exporter_attrs.insert(key.into(), value.into());
        self
    }

    /// A local directory for `bk.local_(NAME)`.
    pub fn local(mut self, name: impl Into<String>, dir: impl Into<PathBuf>) -> Build {
        self.session.locals.insert(name.into(), dir.into());
        self
    }

    /// A secret for secret mounts.
    pub fn secret(mut self, id: impl Into<String>, source: SecretSource) -> Build {
        self.session.secrets.insert(id.into(), source);
        self
    }

    /// An SSH agent to forward.
    pub fn ssh(mut self, spec: SshSpec) -> Build {
        self.session.ssh.push(spec);
        self
    }

    /// All session options at once (locals, excludes, secrets, SSH, Docker
    /// config); the output target is set from [`Build::output`].
    pub fn session_options(mut self, opts: SessionOptions) -> Build {
        self.session = opts;
        self
    }

    /// The key under which the daemon keeps what earlier sessions sent, so
    /// unchanged files are not sent again (default: none).
    pub fn shared_key(mut self, key: impl Into<String>) -> Build {
        self.shared_key = key.into();
        self
    }

    /// Any option of the gateway build (`no-cache`, `image-resolve-mode`,
    /// …), as a frontend receives it from buildctl's `--opt`.
    pub fn frontend_opt(mut self, key: impl Into<String>, value: impl Into<String>) -> Build {
        self.frontend_opts.insert(key.into(), value.into());
        self
    }

    /// A build argument, returned by `bk.arg(NAME)`.
    pub fn build_arg(mut self, name: &str, value: impl Into<String>) -> Build {
        self.frontend_opts.insert(format!("build-arg:{name}"), value.into());
        self
    }

    /// Target platforms (`linux/amd64`, …; default: the daemon's).
    pub fn platforms<S: AsRef<str>>(mut self, platforms: &[S]) -> Build {
        let list: Vec<&str> = platforms.iter().map(AsRef::as_ref).collect();
        self.frontend_opts.insert("platform".to_string(), list.join(","));
        self
    }

    /// A build cache export (`type=registry,ref=…`).
    pub fn cache_export(mut self, entry: CacheOptionsEntry) -> Build {
        self.cache.exports.push(entry);
        self
    }

    /// A build cache import.
    pub fn cache_import(mut self, entry: CacheOptionsEntry) -> Build {
        self.cache.imports.push(entry);
        self
    }

    /// Rebuilds every step, ignoring the build cache (`--no-cache`): a
    /// Definition's ops are marked to ignore the cache, as `buildctl
    /// --no-cache` does; a script's gateway build gets the `no-cache`
    /// option, as `docker build --no-cache` sends it.
    pub fn no_cache(mut self) -> Build {
        match &mut self.input {
            Input::Definition(d) => luakit::llb::ignore_cache_all(d),
            Input::Script(_) => {
                self.frontend_opts.insert("no-cache".to_string(), String::new());
            }
        }
        self
    }

    /// An entitlement (`network.host`, `security.insecure`).
    pub fn entitlement(mut self, name: impl Into<String>) -> Build {
        self.entitlements.push(name.into());
        self
    }

    /// Solves on `channel` (from [`crate::Address::connect`]); `on_status`
    /// gets every progress message. `docker` says whether the channel is a
    /// Docker daemon's (whose BuildKit lacks some exporters): see
    /// [`Build::solve_on`].
    pub async fn solve(
        self,
        channel: Channel,
        on_status: &mut dyn FnMut(&StatusResponse),
    ) -> Result<Built, BuildError> {
        self.solve_on(channel, false, on_status).await
    }

    /// [`Build::solve`], refusing outputs a Docker daemon lacks when
    /// `docker` is true (the daemon's own error names no alternative).
    pub async fn solve_on(
        mut self,
        channel: Channel,
        docker: bool,
        on_status: &mut dyn FnMut(&StatusResponse),
    ) -> Result<Built, BuildError> {
        crate::cache::check(&self.cache).map_err(BuildError::Output)?;
        let local_caches = crate::cache::prepare_local(&mut self.cache).map_err(BuildError::Output)?;
        self.session.content_stores.extend(local_caches.stores.clone());
        if let Some(o) = self.output.as_ref().filter(|o| docker && !o.on_docker()) {
            return Err(BuildError::Output(format!(
                "a Docker daemon's BuildKit has no {:?} exporter (it has moby, local and tar); \
                 use buildkitd for type=image, oci or docker",
                o.exporter()
            )));
        }
        let (target, commit) = match &self.output {
            Some(Output::Local { dir }) => (Some(OutputTarget::Dir(dir.clone())), None),
            Some(Output::Oci { dest, .. } | Output::Docker { dest, .. } | Output::Tar { dest }) => {
                let (open, commit) = open_dest(dest)?;
                (Some(OutputTarget::Writer(open)), commit)
            }
            _ => (None, None),
        };
        self.session.output = target;
        let (exporter, mut attrs) = match &self.output {
            Some(o) => (o.exporter().to_string(), o.attrs()),
            None => (String::new(), BTreeMap::new()),
        };
        attrs.extend(std::mem::take(&mut self.exporter_attrs));

        let session =
            Session::start(channel.clone(), self.session, &self.shared_key).await.map_err(BuildError::Session)?;
        let build_ref = control::new_ref();
        let (definition, script) = match self.input {
            Input::Definition(d) => (Some(d), None),
            Input::Script(s) => (None, Some(s)),
        };
        let cache_imports = crate::cache::imports_opt(&self.cache.imports);
        let req = SolveRequest {
            r#ref: build_ref.clone(),
            session: session.id.clone(),
            definition,
            exporter,
            exporter_attrs: attrs,
            cache: Some(self.cache),
            entitlements: self.entitlements,
            ..SolveRequest::default()
        };
        let served: Arc<Mutex<Option<String>>> = Arc::default();
        let gateway: Option<control::Gateway> = match script {
            Some(script) => {
                let mut opts = self.frontend_opts;
                if let Some(v) = cache_imports {
                    // As Go's client gives a gateway build its cache imports:
                    // the frontend puts them on each of its solves.
                    opts.entry(crate::cache::CACHE_IMPORTS_OPT.to_string()).or_insert(v);
                }
                let opts = BuildOpts { session_id: session.id.clone(), opts, ..BuildOpts::default() };
                let id = BuildId::new(&build_ref).ok_or(BuildError::Ref)?;
                let channel = channel.clone();
                let served = served.clone();
                Some(Box::pin(async move {
                    let s = luakit_frontend::serve_channel(channel, id, opts, ScriptInput::Given(script))
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
        let solved = control::solve(channel, req, gateway, on_status).await;
        let context_bytes = session.bytes_sent();
        session.close().await;
        let exporter_response = solved.map_err(|e| match e {
            control::ControlError::Solve(status) => BuildError::Solve {
                message: status.message().to_string(),
                script_error: served.lock().ok().and_then(|s| s.clone()),
                status,
            },
            control::ControlError::Gateway(why) => BuildError::Gateway(why),
        })?;
        if let Some(commit) = commit {
            commit()?;
        }
        crate::cache::update_indexes(&local_caches.indexes, &exporter_response).map_err(BuildError::Output)?;
        Ok(Built { exporter_response, context_bytes, warnings: local_caches.warnings })
    }
}

/// Renames the temporary file into place.
type Commit = Box<dyn FnOnce() -> Result<(), BuildError> + Send>;

/// The writer of a file output and, for a file, how to put it in place.
fn open_dest(dest: &Dest) -> Result<(crate::session::OpenWriter, Option<Commit>), BuildError> {
    match dest {
        Dest::Writer(open) => Ok((open.clone(), None)),
        Dest::Stdout => {
            let open: crate::session::OpenWriter = Arc::new(|_| {
                Ok(Box::new(io::BufWriter::with_capacity(1 << 20, io::stdout())) as Box<dyn io::Write + Send>)
            });
            Ok((open, None))
        }
        Dest::File(path) => {
            let temp_path = temp_path(path);
            let dir = temp_path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            let name = temp_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let temp = tempfile::Builder::new()
                .prefix(&name)
                .rand_bytes(0)
                .tempfile_in(&dir)
                .map_err(|e| BuildError::Output(format!("cannot create a file in {}: {e}", dir.display())))?;
            let file = temp
                .as_file()
                .try_clone()
                .map_err(|e| BuildError::Output(format!("cannot open {}: {e}", temp.path().display())))?;
            let slot = Arc::new(Mutex::new(Some(file)));
            let open: crate::session::OpenWriter = Arc::new(move |_| {
                let file = slot.lock().ok().and_then(|mut s| s.take());
                match file {
                    Some(f) => Ok(Box::new(io::BufWriter::with_capacity(1 << 20, f)) as Box<dyn io::Write + Send>),
                    None => Err(io::Error::other("the daemon sent the output twice")),
                }
            });
            let path = path.clone();
            let commit: Commit = Box::new(move || {
                use std::os::unix::fs::PermissionsExt as _;
                // Not the temporary file's 0600: readable as files usually are.
                let _ = std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644));
                temp.persist(&path)
                    .map(drop)
                    .map_err(|e| BuildError::Output(format!("cannot write {}: {}", path.display(), e.error)))
            });
            Ok((open, Some(commit)))
        }
    }
}

/// The temporary file a [`Dest::File`] output is written to before it is
/// renamed to `dest`: `.NAME.luakit-PID.tmp` beside it. A caller that may
/// be killed by a signal can register it for removal.
pub fn temp_path(dest: &Path) -> PathBuf {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    dir.join(format!(".{}.luakit-{}.tmp", file_name(dest), std::process::id()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "output".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_output_appears_only_when_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = dir.path().join("out.tar");
        let temp = temp_path(&dest);
        assert_eq!(temp.parent(), Some(dir.path()));

        let (open, commit) = open_dest(&Dest::File(dest.clone())).expect("open");
        let mut w = open(&BTreeMap::new()).expect("writer");
        w.write_all(b"tarball").expect("write");
        w.flush().expect("flush");
        drop(w);
        assert!(temp.exists() && !dest.exists(), "written to the temporary file first");
        assert!(open(&BTreeMap::new()).is_err(), "a second stream is refused");
        commit.expect("a file has a commit")().expect("commit");
        assert_eq!(std::fs::read(&dest).expect("read"), b"tarball");
        assert!(!temp.exists());

        // Not committed (the build failed): nothing at the destination, no temporary file.
        let failed = dir.path().join("failed.tar");
        let (open, commit) = open_dest(&Dest::File(failed.clone())).expect("open");
        open(&BTreeMap::new()).expect("writer").write_all(b"half").expect("write");
        drop((open, commit));
        assert!(!failed.exists() && !temp_path(&failed).exists());

        let e = open_dest(&Dest::File(dir.path().join("missing/x.tar"))).err().expect("no such directory");
        assert!(e.to_string().starts_with("cannot create a file in"), "{e}");
    }

    #[test]
    fn outputs_name_their_exporters_and_attributes() {
        let o = Output::Image { names: vec!["a:1".into(), "b:2".into()], push: true };
        assert_eq!(o.exporter(), "image");
        assert_eq!(
            o.attrs(),
            BTreeMap::from([("name".to_string(), "a:1,b:2".to_string()), ("push".to_string(), "true".to_string())])
        );
        let o = Output::Oci { dest: Dest::Stdout, names: vec![] };
        assert_eq!((o.exporter(), o.attrs().len(), o.on_docker()), ("oci", 0, false));
        assert!(Output::Local { dir: "x".into() }.on_docker());
        assert!(Output::Tar { dest: Dest::Stdout }.on_docker());
        assert_eq!(Output::Docker { dest: Dest::Stdout, names: vec!["n".into()] }.attrs()["name"], "n");
    }

    #[test]
    fn builder_options_reach_the_frontend_options() {
        let b = Build::definition(luakit::pb::Definition::default())
            .build_arg("V", "1")
            .platforms(&["linux/amd64", "linux/arm64"])
            .frontend_opt("no-cache", "");
        assert_eq!(b.frontend_opts["build-arg:V"], "1");
        assert_eq!(b.frontend_opts["platform"], "linux/amd64,linux/arm64");
        assert!(b.frontend_opts.contains_key("no-cache"));
    }
}
