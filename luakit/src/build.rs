//! The one build pipeline: evaluate the script, marshal the exported state
//! (naming steps while marshalling when asked) and build the image config —
//! each exactly once. The CLI, the gateway frontend and the conformance
//! tests all build through [`build`], so every route gives the same
//! Definition and the same config for the same script, options and
//! resolved images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use luakit_graph::Platform;
use luakit_image_config::{ExportOptions, ImageConfig, StateDefaults};
use luakit_llb::{CapSet, Digest, MarshalOptions, Pipeline};
use luakit_lua::{EvalOptions, ImageResolver, ModuleLoader, NoModules, ScriptError};

use crate::Error;

/// A build script: its name (as errors and the source map show it, e.g.
/// `build.lua`), its bytes, and where its `require`d modules come from.
#[derive(Clone)]
pub struct Script {
    /// The file name errors and the source map show.
    pub name: String,
    /// The script's bytes.
    pub source: Vec<u8>,
    /// Reads the modules the script `require`s.
    pub loader: Arc<dyn ModuleLoader>,
    /// The script's directory when it is a file on this machine: the
    /// default `local.unique` id is derived from it.
    pub dir: Option<PathBuf>,
}

impl Script {
    /// A script from bytes, without modules.
    pub fn new(name: impl Into<String>, source: impl Into<Vec<u8>>) -> Self {
        Script { name: name.into(), source: source.into(), loader: Arc::new(NoModules), dir: None }
    }

    /// The same script, reading its modules through `loader`.
    pub fn with_loader(mut self, loader: Arc<dyn ModuleLoader>) -> Self {
        self.loader = loader;
        self
    }

    /// Reads the script file at `path`; its modules are read from the
    /// file's directory (never outside it), and its name is the file name.
    /// Neither the script nor a module may be larger than the default
    /// memory limit ([`Script::from_path_limited`] sets another).
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        Self::from_path_limited(path, EvalOptions::default().memory_limit)
    }

    /// [`Script::from_path`] reading at most `max_bytes` of the script and
    /// of each module. Only regular files are read: a FIFO, a device or a
    /// directory is refused, saying what it is.
    pub fn from_path_limited(path: &Path, max_bytes: usize) -> Result<Self, Error> {
        let source = luakit_lua::read_regular_file(path, max_bytes)
            .map_err(|source| ScriptError::Io { path: path.to_path_buf(), source })?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let loader = luakit_lua::limited_fs_loader(dir.clone(), max_bytes);
        Ok(Script { name, source, loader, dir: Some(dir) })
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("name", &self.name)
            .field("source_len", &self.source.len())
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Settings of one build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// How the script is evaluated: platforms, `bk.arg` values, local ids,
    /// time and memory limits. `eval.source_map` also decides whether the
    /// Definition carries the source map. Its `resolver` and `loader` are
    /// not used: [`build`] takes the resolver, the [`Script`] its loader.
    /// An empty `local_unique_id` is derived from the script's directory
    /// when it has one ([`luakit_lua::default_local_unique_id`]).
    pub eval: EvalOptions,
    /// The daemon's caps, when known (the frontend has them from `Ping`):
    /// features it lacks are dropped or refused. `None` marshals for
    /// current BuildKit, byte for byte as its Go client does.
    pub daemon_caps: Option<CapSet>,
    /// Name each located op `[build.lua:N] what` for BuildKit's progress
    /// output (only when the daemon can show descriptions); off for
    /// Definitions that must match BuildKit's client byte for byte.
    pub name_ops: bool,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Build {
    /// The LLB Definition: its bytes ([`luakit_llb::Definition::bytes`],
    /// what `buildctl build` reads) and, read through `Deref`, the
    /// [`luakit_llb::pb::Definition`] message (decoded on first use).
    pub definition: luakit_llb::Definition,
    /// The digest of the Definition's terminal op, when it has one.
    pub terminal: Option<Digest>,
    /// The image config of the exported state, computed once.
    pub image_config: ImageConfig,
    /// What `bk.export` asked for (already applied to `image_config`).
    pub export: ExportOptions,
    /// The platform the image is for: the exported state's, else the target.
    pub platform: Platform,
    /// Warnings to show the user (each starts with `file:line:` when known).
    pub warnings: Vec<String>,
    /// The name of the export built (`bk.export(st, { target = … })`), if it has one.
    pub target: Option<String>,
    /// The names of all the script's named exports, in call order.
    pub targets: Vec<String>,
}

impl Build {
    /// The Definition as bytes, as `buildctl build` reads them (a copy of
    /// [`luakit_llb::Definition::bytes`]).
    pub fn definition_bytes(&self) -> Vec<u8> {
        self.definition.bytes().to_vec()
    }

    /// The image config as `luakit build --image-config` writes it
    /// (indented JSON and a final newline).
    pub fn image_config_json(&self) -> Vec<u8> {
        let mut json = self.image_config.to_json_pretty().into_bytes();
        json.push(b'\n');
        json
    }

    /// The result metadata a frontend returns for the image exporter.
    pub fn result_metadata(&self) -> BTreeMap<String, Vec<u8>> {
        luakit_image_config::config_metadata(&self.image_config)
    }
}

/// Builds `script`: evaluates it (resolving images through `resolver`),
/// marshals the exported state and builds its image config.
///
/// The resolver is shared (`Arc`) because the evaluation runs on a thread of
/// its own that a stuck script may outlive. Pass [`crate::Unresolved`] to
/// leave images unresolved.
pub fn build(script: &Script, opts: &BuildOptions, resolver: Arc<dyn ImageResolver>) -> Result<Build, Error> {
    let (built, marshalled) = run(script, opts, resolver, Mode::Build)?;
    let marshalled =
        marshalled.unwrap_or(luakit_llb::Marshalled { definition: luakit_llb::Definition::default(), terminal: None });
    Ok(Build {
        definition: marshalled.definition,
        terminal: marshalled.terminal,
        image_config: built.image_config,
        export: built.export,
        platform: built.platform,
        warnings: built.warnings,
        target: built.target,
        targets: built.targets,
    })
}

/// What [`validate`] found: the script builds. Everything a [`Build`] has
/// but the Definition.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The image config of the exported state.
    pub image_config: ImageConfig,
    /// What `bk.export` asked for.
    pub export: ExportOptions,
    /// The platform the image is for: the exported state's, else the target.
    pub platform: Platform,
    /// Warnings to show the user (each starts with `file:line:` when known).
    pub warnings: Vec<String>,
    /// The name of the export built, if it has one.
    pub target: Option<String>,
    /// The names of all the script's named exports, in call order.
    pub targets: Vec<String>,
}

/// Checks that `script` builds: everything [`build`] does that can fail
/// (evaluation, the marshal's checks of caps, mounts and inputs, the image
/// config), with the same errors, but no Definition is made (ops are not
/// encoded nor hashed, no source map is collected).
pub fn validate(script: &Script, opts: &BuildOptions, resolver: Arc<dyn ImageResolver>) -> Result<Validated, Error> {
    Ok(run(script, opts, resolver, Mode::Check)?.0)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Build,
    Check,
}

/// The one pipeline of [`build`] and [`validate`]; the Definition only in
/// [`Mode::Build`].
fn run(
    script: &Script,
    opts: &BuildOptions,
    resolver: Arc<dyn ImageResolver>,
    mode: Mode,
) -> Result<(Validated, Option<luakit_llb::Marshalled>), Error> {
    let mut eval_opts = opts.eval.clone();
    eval_opts.resolver = Some(resolver);
    eval_opts.loader = script.loader.clone();
    if mode == Mode::Check {
        // The source map cannot make a build fail.
        eval_opts.source_map = false;
    }
    if eval_opts.local_unique_id.is_empty() {
        if let Some(dir) = &script.dir {
            eval_opts.local_unique_id = luakit_lua::default_local_unique_id(dir);
        }
    }
    let marshal_opts = MarshalOptions {
        platform: eval_opts.target_platform.clone(),
        source_map: eval_opts.source_map,
        daemon_caps: opts.daemon_caps.clone(),
        name_ops: opts.name_ops,
    };
    // A build's ops are encoded on another thread while the script makes
    // them (checking alone costs no more than handing the nodes over).
    let pipeline = (mode == Mode::Build).then(|| Pipeline::marshal(&marshal_opts));
    if let Some(p) = &pipeline {
        eval_opts.node_sink = Some(p.clone());
    }
    let eval = luakit_lua::evaluate(&script.name, &script.source, &eval_opts)?;
    let (marshalled, ops) = match &pipeline {
        Some(p) => {
            let m = p.finish(&eval.state)?;
            let ops = m.definition.op_count();
            (Some(m), ops)
        }
        None => (None, luakit_llb::check(&eval.state, &marshal_opts)?),
    };
    // The image is for the exported state's platform: the target platform
    // unless the script built the state for another one.
    let meta = eval.state.meta();
    let platform = meta.platform.clone().unwrap_or_else(|| eval.target_platform.clone());
    let defaults = StateDefaults { env: meta.env.to_vec(), workdir: meta.dir.clone(), user: meta.user.clone() };
    let image_config = luakit_image_config::build_config(
        eval.base_config.as_ref(),
        &defaults,
        (platform.os.as_str(), platform.arch.as_str(), platform.variant.as_str()),
        &eval.export,
    )?;
    // The graph (and what the pipeline encoded from it) is not needed any
    // more; a large one is freed off the critical path.
    eval_opts.node_sink = None;
    crate::teardown::release((eval.state, pipeline), ops, eval_opts.leave_to_exit);
    let done = Validated {
        image_config,
        export: eval.export,
        platform,
        warnings: eval.warnings,
        target: eval.target,
        targets: eval.targets,
    };
    Ok((done, marshalled))
}

/// Runs the Lua test file at `path` for `luakit test` (see
/// [`luakit_lua::run_test_file`]), resolving images through `resolver` as
/// [`build`] does: only a file that cannot be read is an `Err`; what the
/// tests do wrong is in the report. `opts.daemon_caps` and `opts.name_ops`
/// do not apply (nothing is marshalled).
pub fn run_test_file(
    path: &Path,
    opts: &BuildOptions,
    resolver: Arc<dyn ImageResolver>,
) -> Result<luakit_lua::TestReport, Error> {
    let mut eval_opts = opts.eval.clone();
    eval_opts.resolver = Some(resolver);
    Ok(luakit_lua::run_test_file(path, &eval_opts)?)
}
