//! Helpers: evaluation options for tests and a deterministic text rendering
//! of a graph (op kinds, identifiers, args, env, mounts, file actions).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use luakit_graph::{Chown, FileAction, MountKind, Node, Op, Output, State, UserRef};
use luakit_lua::{EvalOptions, Evaluation, FsLoader, ScriptError};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Options as the conformance vectors were made: linux/amd64, unique id
/// `conformance`, no source map.
pub fn opts() -> EvalOptions {
    EvalOptions {
        target_platform: luakit_graph::Platform::new("linux", "amd64", ""),
        build_platform: luakit_graph::Platform::new("linux", "amd64", ""),
        local_unique_id: "conformance".to_string(),
        source_map: false,
        ..EvalOptions::default()
    }
}

/// Evaluates a script given as text, named `build.lua`.
pub fn eval(src: &str) -> Result<Evaluation, ScriptError> {
    luakit_lua::evaluate("build.lua", src.as_bytes(), &opts())
}

/// Evaluates a script with modules from `dir`.
pub fn eval_in(dir: &Path, src: &str, mut o: EvalOptions) -> Result<Evaluation, ScriptError> {
    o.loader = Arc::new(FsLoader { root: dir.to_path_buf() });
    luakit_lua::evaluate("build.lua", src.as_bytes(), &o)
}

/// The error text of a script that must fail.
pub fn err(src: &str) -> String {
    match eval(src) {
        Ok(_) => panic!("script should fail:\n{src}"),
        Err(e) => e.to_string(),
    }
}

fn q(s: &str) -> String {
    format!("{s:?}")
}

fn user_ref(u: &UserRef) -> String {
    match u {
        UserRef::Id(i) => i.to_string(),
        UserRef::Name(n) => n.clone(),
    }
}

fn chown(c: &Option<Chown>) -> String {
    match c {
        None => String::new(),
        Some(c) => format!(
            " owner={}:{}",
            c.user.as_ref().map(user_ref).unwrap_or_default(),
            c.group.as_ref().map(user_ref).unwrap_or_default()
        ),
    }
}

/// Renders the graph under an evaluation's exported state.
pub fn render(ev: &Evaluation) -> String {
    let mut r = Renderer { ids: HashMap::new(), out: String::new() };
    let root = r.state(&ev.state);
    let mut out = r.out;
    let meta = ev.state.meta();
    let _ = writeln!(out, "export {root}");
    let _ = writeln!(out, "  env {:?}", meta.env.to_vec());
    let _ = writeln!(out, "  dir {} user {:?}", meta.dir, meta.user);
    if let Some(p) = &meta.platform {
        let _ = writeln!(out, "  platform {p}");
    }
    let e = &ev.export;
    let d = luakit_image_config::ExportOptions::default();
    if *e != d {
        let _ = writeln!(out, "  options {e:?}");
    }
    for w in &ev.warnings {
        let _ = writeln!(out, "warning {w}");
    }
    out
}

struct Renderer {
    ids: HashMap<*const Node, usize>,
    out: String,
}

impl Renderer {
    fn state(&mut self, s: &State) -> String {
        match s.output() {
            None => "scratch".to_string(),
            Some(o) => self.output(o),
        }
    }

    fn output(&mut self, o: &Output) -> String {
        let id = self.node(&o.node);
        if o.index == 0 { format!("#{id}") } else { format!("#{id}.{}", o.index) }
    }

    fn opt_output(&mut self, o: &Option<Output>) -> String {
        match o {
            None => "scratch".to_string(),
            Some(o) => self.output(o),
        }
    }

    fn node(&mut self, n: &Arc<Node>) -> usize {
        let key = Arc::as_ptr(n);
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        // Inputs first (post-order), so that every reference is to an earlier line.
        let mut lines: Vec<String> = Vec::new();
        match &n.op {
            Op::Source(s) => {
                lines.push(format!("source {}", s.identifier));
                for (k, v) in &s.attrs {
                    lines.push(format!("  attr {k}={}", q(v)));
                }
                if !s.extra_caps.is_empty() {
                    lines.push(format!("  caps {:?}", s.extra_caps));
                }
            }
            Op::Exec(e) => {
                let mut mounts = Vec::new();
                for m in &e.mounts {
                    let text = match &m.kind {
                        MountKind::Bind { source, selector, readonly, no_output } => {
                            let src = self.opt_output(source);
                            let mut t = format!("bind {src}");
                            if !selector.is_empty() {
                                t.push_str(&format!(" selector={selector}"));
                            }
                            if *readonly {
                                t.push_str(" readonly");
                            }
                            if *no_output {
                                t.push_str(" no_output");
                            }
                            t
                        }
                        MountKind::Cache { id, sharing, source, selector, readonly } => {
                            let mut t = format!("cache id={id} sharing={sharing:?}");
                            if source.is_some() {
                                let s = self.opt_output(source);
                                t.push_str(&format!(" from={s}"));
                            }
                            if !selector.is_empty() {
                                t.push_str(&format!(" selector={selector}"));
                            }
                            if *readonly {
                                t.push_str(" readonly");
                            }
                            t
                        }
                        MountKind::Tmpfs { size } => format!("tmpfs size={size}"),
                        MountKind::Secret { id, uid, gid, mode, optional } => {
                            format!("secret id={id} uid={uid} gid={gid} mode={mode:o} optional={optional}")
                        }
                        MountKind::Ssh { id, uid, gid, mode, optional } => {
                            format!("ssh id={id} uid={uid} gid={gid} mode={mode:o} optional={optional}")
                        }
                    };
                    mounts.push(format!("  mount {} {text}", m.dest));
                }
                lines.push(format!("exec {:?}", e.meta.args));
                lines.push(format!("  env {:?}", e.meta.env.to_vec()));
                lines.push(format!("  cwd {} user {:?}", e.meta.cwd, e.meta.user));
                if !e.meta.hostname.is_empty() {
                    lines.push(format!("  hostname {}", e.meta.hostname));
                }
                if e.network != luakit_graph::NetMode::Sandbox || e.security != luakit_graph::SecurityMode::Sandbox {
                    lines.push(format!("  network {:?} security {:?}", e.network, e.security));
                }
                for h in &e.meta.extra_hosts {
                    lines.push(format!("  host {}={}", h.host, h.ip));
                }
                for u in &e.meta.ulimits {
                    lines.push(format!("  ulimit {} {}:{}", u.name, u.soft, u.hard));
                }
                if let Some(codes) = &e.meta.valid_exit_codes {
                    lines.push(format!("  valid_exit_codes {codes:?}"));
                }
                for s in &e.secret_env {
                    lines.push(format!("  secret_env {}={} optional={}", s.name, s.id, s.optional));
                }
                lines.extend(mounts);
            }
            Op::File(f) => {
                let base = self.opt_output(&f.base);
                for a in &f.actions {
                    match a {
                        FileAction::Copy { from, src, dest, opts } => {
                            let from = self.opt_output(from);
                            lines.push(format!("file copy {from}:{src} -> {base}:{dest}"));
                            let d = luakit_graph::CopyOptions::default();
                            if **opts != d {
                                let mut diffs = Vec::new();
                                if opts.mode.is_some() {
                                    diffs.push(format!("mode={:o}", opts.mode.unwrap_or_default()));
                                }
                                if opts.owner.is_some() {
                                    diffs.push(chown(&opts.owner).trim().to_string());
                                }
                                for (name, v, dv) in [
                                    ("follow_symlink", opts.follow_symlink, d.follow_symlink),
                                    ("copy_dir_contents", opts.copy_dir_contents, d.copy_dir_contents),
                                    ("create_dest_path", opts.create_dest_path, d.create_dest_path),
                                    ("allow_wildcard", opts.allow_wildcard, d.allow_wildcard),
                                    ("allow_empty_wildcard", opts.allow_empty_wildcard, d.allow_empty_wildcard),
                                    (
                                        "attempt_unpack",
                                        opts.attempt_unpack_docker_compatibility,
                                        d.attempt_unpack_docker_compatibility,
                                    ),
                                ] {
                                    if v != dv {
                                        diffs.push(format!("{name}={v}"));
                                    }
                                }
                                if !opts.include_patterns.is_empty() {
                                    diffs.push(format!("include={:?}", opts.include_patterns));
                                }
                                if !opts.exclude_patterns.is_empty() {
                                    diffs.push(format!("exclude={:?}", opts.exclude_patterns));
                                }
                                lines.push(format!("  {}", diffs.join(" ")));
                            }
                        }
                        FileAction::Mkdir { path, mode, make_parents, owner, .. } => {
                            lines.push(format!(
                                "file mkdir {base}:{path} mode={mode:o} parents={make_parents}{}",
                                chown(owner)
                            ));
                        }
                        FileAction::Mkfile { path, mode, data, owner, .. } => {
                            lines.push(format!(
                                "file mkfile {base}:{path} mode={mode:o}{} data={}",
                                chown(owner),
                                q(&String::from_utf8_lossy(data))
                            ));
                        }
                        FileAction::Rm { path, allow_not_found, allow_wildcard } => {
                            lines.push(format!(
                                "file rm {base}:{path} allow_not_found={allow_not_found} allow_wildcard={allow_wildcard}"
                            ));
                        }
                        FileAction::Symlink { oldpath, newpath, owner, .. } => {
                            lines.push(format!("file symlink {base}:{newpath} -> {oldpath}{}", chown(owner)));
                        }
                    }
                }
            }
            Op::Merge(m) => {
                let ins: Vec<String> = m.inputs.iter().map(|i| self.opt_output(i)).collect();
                lines.push(format!("merge {}", ins.join(" ")));
            }
            Op::Diff(d) => {
                let lower = self.opt_output(&d.lower);
                let upper = self.opt_output(&d.upper);
                lines.push(format!("diff {lower} -> {upper}"));
            }
        }
        if let Some(p) = &n.constraints.platform {
            lines.push(format!("  platform {p}"));
        }
        let md = &n.metadata;
        if !md.description.is_empty() {
            lines.push(format!("  description {:?}", md.description));
        }
        if let Some(g) = &md.progress_group {
            lines.push(format!("  progress_group id={} name={}", g.id, g.name));
        }
        if md.ignore_cache {
            lines.push("  ignore_cache".to_string());
        }
        for l in &n.locations {
            for r in &l.ranges {
                lines.push(format!("  at {}:{}", l.file.filename, r.start_line));
            }
        }
        let id = self.ids.len();
        self.ids.insert(key, id);
        let _ = writeln!(self.out, "#{id} {}", lines.join("\n"));
        id
    }
}
