//! The instruction-by-instruction mapping of a parsed Dockerfile to `bk`
//! calls: the stages, what the converter knows of each (environment,
//! build arguments, image config, shell), `FROM`, `ARG`, `ENV`, `WORKDIR`,
//! `USER` and the image-config instructions. `RUN` is in `run`, `COPY` and
//! `ADD` in `copy`, the layout of the script in `render`.

use std::collections::{BTreeMap, BTreeSet};

mod copy;
mod render;
mod run;

use render::comment_line;

use super::expand::{Expander, Lookup, Word};
use super::lua::{key, quote, snake};
use super::parse::{Dockerfile, Flag, Instruction, Item, exec_form, shell_pieces, split_raw};
use super::{ConvertOptions, Fail};

/// A conversion failure before the file name is attached.
#[derive(Debug)]
pub(crate) enum Error {
    At(Fail),
    File(String),
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        Error::At(f)
    }
}

type R<T> = Result<T, Error>;

fn fail(line: usize, message: impl Into<String>) -> Error {
    Error::At(Fail { line, message: message.into() })
}

fn unsupported(ins: &Instruction, reason: &str) -> Error {
    fail(ins.line, format!("{} is not supported: {reason}", ins.keyword))
}

/// The default shell of shell-form commands.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build arguments every Dockerfile has, and their Lua.
const PLATFORM_ARGS: &[(&str, &str)] = &[
    ("TARGETPLATFORM", "tostring(bk.target_platform())"),
    ("TARGETOS", "bk.target_platform().os"),
    ("TARGETARCH", "bk.target_platform().arch"),
    ("TARGETVARIANT", "(bk.target_platform().variant or \"\")"),
    ("BUILDPLATFORM", "tostring(bk.build_platform())"),
    ("BUILDOS", "bk.build_platform().os"),
    ("BUILDARCH", "bk.build_platform().arch"),
    ("BUILDVARIANT", "(bk.build_platform().variant or \"\")"),
];

fn platform_arg(name: &str) -> Option<&'static str> {
    PLATFORM_ARGS.iter().find(|(n, _)| *n == name).map(|(_, code)| *code)
}

/// A build argument as Lua sees it.
#[derive(Debug, Clone)]
struct Arg {
    /// The Lua expression (a local, or a platform expression).
    code: String,
    /// Always a string (it has a default).
    nonnil: bool,
}

/// What the converter knows about an environment variable of a stage.
#[derive(Debug, Clone)]
enum EnvValue {
    /// Set by `ENV` to a value known now.
    Known(Word),
    /// Set, but only the running script knows the value (`st:get_env`).
    InState,
}

/// The image config a stage carries (inherited by stages built on it).
#[derive(Debug, Clone, Default)]
struct Config {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    /// `CMD` was given in this stage (so `ENTRYPOINT` keeps it).
    cmd_set_here: bool,
    labels: Vec<(Word, Word)>,
    expose: Vec<Word>,
    volumes: Vec<Word>,
    stop_signal: Option<Word>,
    healthcheck: Option<String>,
}

/// One piece of a stage's chain.
#[derive(Debug, Clone)]
enum Chunk {
    /// `:method(…)` chained on the stage; `fresh` starts a new statement
    /// (`st = st:method(…)`) because its arguments read the state.
    Call { comments: Vec<String>, code: String, fresh: bool },
    /// A statement of its own between two parts of the chain.
    Stmt { comments: Vec<String>, code: String },
}

#[derive(Debug, Clone)]
struct Stage {
    /// The Lua local holding the stage.
    local: String,
    /// `AS name`, lower case.
    name: Option<String>,
    /// The source expression (`bk.image(…)`, `bk.scratch()`, a parent local).
    source: String,
    comments: Vec<String>,
    /// Statements before the stage (heredoc files).
    pre: Vec<String>,
    chunks: Vec<Chunk>,
    env: BTreeMap<String, EnvValue>,
    /// The base image's environment is unknown (an image, not scratch).
    base_env_unknown: bool,
    args: BTreeMap<String, Arg>,
    /// Argument names in declaration order (for `RUN` environments).
    arg_order: Vec<String>,
    config: Config,
    shell: Vec<String>,
    user: Option<Word>,
    /// Comments waiting for the next chunk.
    pending: Vec<String>,
}

impl Stage {
    fn scope(&self) -> impl Fn(&str) -> Lookup + '_ {
        move |name: &str| match self.env.get(name) {
            Some(EnvValue::Known(w)) => Lookup::Known(w.clone()),
            Some(EnvValue::InState) => self.state_lookup(name),
            None => match self.args.get(name) {
                Some(a) => Lookup::Lua { code: a.code.clone(), nonnil: a.nonnil, dynamic: false },
                None if self.base_env_unknown => self.state_lookup(name),
                None => Lookup::Unset,
            },
        }
    }

    fn state_lookup(&self, name: &str) -> Lookup {
        Lookup::Lua { code: format!("{}:get_env({})", self.local, quote(name)), nonnil: false, dynamic: true }
    }

    fn call(&mut self, code: String, fresh: bool) {
        let comments = std::mem::take(&mut self.pending);
        self.chunks.push(Chunk::Call { comments, code, fresh });
    }

    fn stmt(&mut self, code: String) {
        let comments = std::mem::take(&mut self.pending);
        self.chunks.push(Chunk::Stmt { comments, code });
    }
}

/// The whole conversion.
pub(crate) struct Converter<'a> {
    df: &'a Dockerfile,
    opts: &'a ConvertOptions,
    file: String,
    taken: BTreeSet<String>,
    /// `local x = bk.arg(…)` lines, in order.
    arg_lines: Vec<String>,
    /// Declared arguments by (name, default code) → local, to reuse.
    arg_decls: BTreeMap<(String, Option<String>), String>,
    global_args: BTreeMap<String, Arg>,
    header: Vec<String>,
    stages: Vec<Stage>,
    context_used: bool,
    warnings: Vec<(usize, String)>,
    /// How many SSH mounts the current RUN has (their default paths are numbered).
    ssh_count: usize,
    trailing: Vec<String>,
}

impl<'a> Converter<'a> {
    /// Converts; returns the (unformatted) Lua and the warnings by line.
    pub(crate) fn run(df: &'a Dockerfile, file: &str, opts: &'a ConvertOptions) -> R<(String, Vec<(usize, String)>)> {
        let mut c = Converter {
            df,
            opts,
            file: file.to_string(),
            taken: ["bk", "context", "tostring"].iter().map(|s| s.to_string()).collect(),
            arg_lines: Vec::new(),
            arg_decls: BTreeMap::new(),
            global_args: BTreeMap::new(),
            header: Vec::new(),
            stages: Vec::new(),
            context_used: false,
            warnings: Vec::new(),
            ssh_count: 0,
            trailing: Vec::new(),
        };
        let from_count =
            df.items.iter().filter(|i| matches!(i, Item::Instruction(ins) if ins.keyword == "FROM")).count();
        if from_count == 0 {
            return Err(Error::File("no FROM instruction: a Dockerfile needs at least one stage".to_string()));
        }
        let mut pending: Vec<String> = Vec::new();
        for item in &df.items {
            match item {
                Item::Comment { text } => pending.push(text.clone()),
                Item::Blank => {
                    // A comment block followed by a blank line before any
                    // stage is the file's header.
                    if c.stages.is_empty() && !pending.is_empty() {
                        c.header.append(&mut pending);
                        c.header.push(String::new());
                    }
                }
                Item::Instruction(ins) => {
                    let mut comments = std::mem::take(&mut pending);
                    comments.extend(ins.inner_comments.iter().cloned());
                    c.instruction(ins, comments, from_count)?;
                }
            }
        }
        c.trailing = pending;
        let lua = c.render()?;
        Ok((lua, c.warnings))
    }

    fn unique(&mut self, base: &str) -> String {
        let base = snake(base);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }

    fn expander<'s>(&self, line: usize, scope: &'s dyn Fn(&str) -> Lookup) -> Expander<'s> {
        Expander { escape: self.df.escape, line, scope }
    }

    fn global_scope(&self) -> impl Fn(&str) -> Lookup + '_ {
        move |name: &str| match self.global_args.get(name) {
            Some(a) => Lookup::Lua { code: a.code.clone(), nonnil: a.nonnil, dynamic: false },
            None => match platform_arg(name) {
                Some(code) => Lookup::Lua { code: code.to_string(), nonnil: true, dynamic: false },
                None => Lookup::Unset,
            },
        }
    }

    fn stage(&mut self) -> &mut Stage {
        self.stages.last_mut().expect("instructions after FROM have a stage")
    }

    fn instruction(&mut self, ins: &Instruction, comments: Vec<String>, from_count: usize) -> R<()> {
        if ins.keyword == "FROM" {
            return self.from(ins, comments, from_count);
        }
        if self.stages.is_empty() {
            return match ins.keyword.as_str() {
                "ARG" => {
                    self.header_comments_to_args(comments);
                    self.arg(ins, true)
                }
                _ => {
                    Err(fail(ins.line, format!("{} before the first FROM: only ARG may come before FROM", ins.keyword)))
                }
            };
        }
        self.stage().pending.extend(comments);
        self.check_flags(ins)?;
        match ins.keyword.as_str() {
            "RUN" => self.run_instruction(ins),
            "COPY" => self.copy(ins, false),
            "ADD" => self.copy(ins, true),
            "ENV" => self.env(ins),
            "ARG" => self.arg(ins, false),
            "WORKDIR" => self.workdir(ins),
            "USER" => self.user(ins),
            "LABEL" => self.label(ins),
            "EXPOSE" => self.expose(ins),
            "VOLUME" => self.volume(ins),
            "STOPSIGNAL" => self.stop_signal(ins),
            "HEALTHCHECK" => self.healthcheck(ins),
            "CMD" => self.cmd(ins, false),
            "ENTRYPOINT" => self.cmd(ins, true),
            "SHELL" => self.shell(ins),
            "MAINTAINER" => {
                self.warnings.push((
                    ins.line,
                    "MAINTAINER is deprecated and not carried over (the image config's author is not set); use LABEL org.opencontainers.image.authors=…".to_string(),
                ));
                let text = format!("MAINTAINER {} (not carried over: use a label)", ins.rest.trim());
                self.stage().pending.push(text);
                Ok(())
            }
            "ONBUILD" => Err(unsupported(
                ins,
                "luakit images carry no build triggers; run the steps in the stage that builds on this image",
            )),
            other => Err(fail(ins.line, format!("unknown instruction: {other}"))),
        }
    }

    /// Comments before a global ARG belong with the arguments.
    fn header_comments_to_args(&mut self, comments: Vec<String>) {
        for c in comments {
            self.arg_lines.push(comment_line(&c));
        }
    }

    /// Refuses flags an instruction does not take.
    fn check_flags(&self, ins: &Instruction) -> R<()> {
        let allowed: &[&str] = match ins.keyword.as_str() {
            "RUN" => &["mount", "network", "security"],
            "COPY" => &["from", "chown", "chmod", "link", "exclude"],
            "ADD" => &["chown", "chmod", "link", "exclude", "checksum", "keep-git-dir"],
            "HEALTHCHECK" => &["interval", "timeout", "start-period", "start-interval", "retries"],
            _ => &[],
        };
        for f in &ins.flags {
            if !allowed.contains(&f.name.as_str()) {
                return Err(fail(ins.line, format!("{} --{} is not supported by luakit convert", ins.keyword, f.name)));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ FROM

    fn from(&mut self, ins: &Instruction, comments: Vec<String>, from_count: usize) -> R<()> {
        for f in &ins.flags {
            if f.name != "platform" {
                return Err(fail(ins.line, format!("FROM --{} is not supported by luakit convert", f.name)));
            }
        }
        let words = split_raw(&ins.rest, self.df.escape);
        let (image_raw, name) = match words.as_slice() {
            [image] => (image.clone(), None),
            [image, as_, name] if as_.eq_ignore_ascii_case("as") => (image.clone(), Some(name.to_ascii_lowercase())),
            _ => return Err(fail(ins.line, "FROM takes an image and an optional 'AS name'")),
        };
        let scope = self.global_scope();
        let ex = self.expander(ins.line, &scope);
        let image = ex.word(&image_raw)?;
        let platform = match ins.flags.iter().find(|f| f.name == "platform") {
            Some(Flag { value: Some(v), .. }) => Some(ex.word(v)?),
            Some(_) => return Err(fail(ins.line, "FROM --platform needs a value")),
            None => None,
        };
        drop(scope);
        let index = self.stages.len();
        let parent = image.as_lit().and_then(|lit| {
            let lower = lit.to_ascii_lowercase();
            self.stages.iter().position(|s| s.name.as_deref() == Some(lower.as_str()))
        });
        let local_base = match &name {
            Some(n) => n.clone(),
            None if index + 1 == from_count => "final".to_string(),
            None => format!("stage_{index}"),
        };
        let local = self.unique(&local_base);
        let mut stage = match parent {
            Some(p) => {
                let parent = &self.stages[p];
                Stage {
                    local: local.clone(),
                    name: name.clone(),
                    source: parent.local.clone(),
                    comments: Vec::new(),
                    pre: Vec::new(),
                    chunks: Vec::new(),
                    env: parent.env.clone(),
                    base_env_unknown: parent.base_env_unknown,
                    args: BTreeMap::new(),
                    arg_order: Vec::new(),
                    config: Config { cmd_set_here: false, ..parent.config.clone() },
                    shell: parent.shell.clone(),
                    user: parent.user.clone(),
                    pending: Vec::new(),
                }
            }
            None => {
                let scratch = image.as_lit().is_some_and(|s| s.eq_ignore_ascii_case("scratch"));
                let source = if scratch {
                    "bk.scratch()".to_string()
                } else {
                    let mut opts = Vec::new();
                    if let Some(p) = &platform {
                        opts.push(format!("platform = {}", platform_lua(p)));
                    }
                    call_with_opts(&format!("bk.image({}", image.lua()), &opts)
                };
                Stage {
                    local: local.clone(),
                    name: name.clone(),
                    source,
                    comments: Vec::new(),
                    pre: Vec::new(),
                    chunks: Vec::new(),
                    env: BTreeMap::new(),
                    base_env_unknown: !scratch,
                    args: BTreeMap::new(),
                    arg_order: Vec::new(),
                    config: Config::default(),
                    shell: DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
                    user: None,
                    pending: Vec::new(),
                }
            }
        };
        if parent.is_some() && platform.is_some() {
            self.warnings.push((ins.line, "FROM --platform is ignored for a stage built on another stage".to_string()));
        }
        stage.comments = comments;
        self.stages.push(stage);
        Ok(())
    }

    // ------------------------------------------------------------ ARG

    fn arg(&mut self, ins: &Instruction, global: bool) -> R<()> {
        let words = split_raw(&ins.rest, self.df.escape);
        if words.is_empty() {
            return Err(fail(ins.line, "ARG needs a name"));
        }
        for w in words {
            let (name, default_raw) = match w.split_once('=') {
                Some((n, d)) => (n.to_string(), Some(d.to_string())),
                None => (w.clone(), None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(fail(ins.line, format!("ARG name '{name}' is not a valid name")));
            }
            // The default is expanded with the arguments declared so far.
            let default = match &default_raw {
                None => None,
                Some(raw) => Some(if global {
                    let scope = self.global_scope();
                    self.expander(ins.line, &scope).word(raw)?
                } else {
                    let stage = self.stages.last().expect("a stage");
                    let scope = stage.scope();
                    self.expander(ins.line, &scope).word(raw)?
                }),
            };
            let arg = match (&default, platform_arg(&name)) {
                (None, Some(code)) => Arg { code: code.to_string(), nonnil: true },
                (None, None) if !global && self.global_args.contains_key(&name) => self.global_args[&name].clone(),
                _ => {
                    let dynamic = default.as_ref().is_some_and(Word::is_dynamic);
                    let default_code = default.as_ref().map(Word::lua);
                    let decl = (name.clone(), default_code.clone());
                    let local = match self.arg_decls.get(&decl) {
                        Some(l) if !dynamic => l.clone(),
                        _ => {
                            let local = self.unique(&name);
                            let call = match &default_code {
                                Some(d) => format!("local {local} = bk.arg({}, {d})", quote(&name)),
                                None => format!("local {local} = bk.arg({})", quote(&name)),
                            };
                            if dynamic {
                                self.stage().stmt(call);
                            } else {
                                self.arg_lines.push(call);
                                self.arg_decls.insert(decl, local.clone());
                            }
                            local
                        }
                    };
                    Arg { code: local, nonnil: default.is_some() }
                }
            };
            if global {
                self.global_args.insert(name, arg);
            } else {
                let stage = self.stage();
                stage.arg_order.retain(|n| n != &name);
                stage.arg_order.push(name.clone());
                stage.args.insert(name, arg);
            }
        }
        Ok(())
    }

    /// A stage, image or the context named by `--from`.
    fn source_state(&mut self, ins: &Instruction, from: &Word) -> R<String> {
        let Some(name) = from.as_lit() else {
            return Ok(format!("bk.image({})", from.lua()));
        };
        let lower = name.to_ascii_lowercase();
        let current = self.stages.len() - 1;
        if let Some(i) = self.stages[..current].iter().position(|s| s.name.as_deref() == Some(lower.as_str())) {
            return Ok(self.stages[i].local.clone());
        }
        if self.stages[current].name.as_deref() == Some(lower.as_str()) {
            return Err(fail(ins.line, format!("--from={name} names the stage it is used in")));
        }
        if let Ok(i) = name.parse::<usize>() {
            if i < current {
                return Ok(self.stages[i].local.clone());
            }
            return Err(fail(ins.line, format!("--from={i}: there is no earlier stage {i}")));
        }
        Ok(format!("bk.image({})", quote(&name)))
    }

    // ------------------------------------------------------------ ENV, LABEL, ARG-like

    /// `K=V …` pairs (or the legacy `K V` form) with values expanded.
    fn pairs(&self, ins: &Instruction, legacy_ok: bool) -> R<Vec<(Word, Word)>> {
        let stage = self.stages.last().expect("a stage");
        let scope = stage.scope();
        let ex = self.expander(ins.line, &scope);
        let raw = split_raw(&ins.rest, self.df.escape);
        let Some(first) = raw.first() else {
            return Err(fail(ins.line, format!("{} needs at least one name=value", ins.keyword)));
        };
        if !first.contains('=') {
            if !legacy_ok || raw.len() < 2 {
                return Err(fail(ins.line, format!("{} needs name=value", ins.keyword)));
            }
            let rest = ins.rest.trim_start()[first.len()..].trim();
            return Ok(vec![(ex.word(first)?, ex.word(rest)?)]);
        }
        let mut out = Vec::new();
        for w in raw {
            let Some((k, v)) = w.split_once('=') else {
                return Err(fail(ins.line, format!("{}: '{w}' is not name=value", ins.keyword)));
            };
            out.push((ex.word(k)?, ex.word(v)?));
        }
        Ok(out)
    }

    fn env(&mut self, ins: &Instruction) -> R<()> {
        let pairs = self.pairs(ins, true)?;
        let mut named = Vec::new();
        for (k, v) in pairs {
            let Some(k) = k.as_lit().filter(|k| !k.is_empty()) else {
                return Err(fail(ins.line, "ENV names must be literal text"));
            };
            named.push((k, v));
        }
        let dynamic = named.iter().any(|(_, v)| v.is_dynamic());
        let code = if named.len() == 1 {
            format!("with_env({}, {})", quote(&named[0].0), named[0].1.lua())
        } else if named.windows(2).all(|w| w[0].0 < w[1].0) {
            let items: Vec<String> = named.iter().map(|(k, v)| format!("{} = {}", key(k), v.lua())).collect();
            format!("with_env({{ {} }})", items.join(", "))
        } else {
            // Keep Docker's order: the list form applies entries in order.
            let items: Vec<String> = named
                .iter()
                .map(|(k, v)| {
                    let mut w = Word::lit(format!("{k}="));
                    w.0.extend(v.0.iter().cloned());
                    merge_lits(w).lua()
                })
                .collect();
            format!("with_env({{ {} }})", items.join(", "))
        };
        let stage = self.stage();
        for (k, v) in named {
            let known = if v.is_dynamic() { EnvValue::InState } else { EnvValue::Known(v) };
            stage.env.insert(k, known);
        }
        stage.call(code, dynamic);
        Ok(())
    }

    /// A word for the image config: one that reads the state is bound to a
    /// local where the instruction is, so the export sees the value of then.
    fn bind_now(&mut self, word: Word, hint: &str) -> Word {
        if !word.is_dynamic() {
            return word;
        }
        let local = self.unique(hint);
        self.stage().stmt(format!("local {local} = {}", word.lua()));
        Word::expr(local, false)
    }

    fn label(&mut self, ins: &Instruction) -> R<()> {
        for (k, v) in self.pairs(ins, true)? {
            let k = self.bind_now(k, "label_name");
            let v = self.bind_now(v, "label_value");
            let labels = &mut self.stage().config.labels;
            labels.retain(|(old, _)| old != &k);
            labels.push((k, v));
        }
        Ok(())
    }

    fn single_word(&self, ins: &Instruction) -> R<Word> {
        let stage = self.stages.last().expect("a stage");
        let scope = stage.scope();
        let w = self.expander(ins.line, &scope).word(ins.rest.trim())?;
        if w.as_lit().is_some_and(|s| s.is_empty()) {
            return Err(fail(ins.line, format!("{} needs a value", ins.keyword)));
        }
        Ok(w)
    }

    fn workdir(&mut self, ins: &Instruction) -> R<()> {
        let dir = self.single_word(ins)?;
        let dynamic = dir.is_dynamic();
        let run_next = self.run_comes_next(ins.line);
        let stage = self.stage();
        stage.call(format!("with_workdir({})", dir.lua()), dynamic);
        // Docker creates the directory, owned by the current USER. A RUN
        // that comes next creates it as well (owned by root), so the mkdir
        // is left out only then and only while USER is root: a COPY or ADD
        // would create it owned by its --chown (or not at all when it
        // copies elsewhere), a later absolute WORKDIR not at all.
        if !(run_next && stage.user.is_none()) {
            let owner = stage.user.as_ref().map(|u| format!(", {{ owner = {} }}", u.lua())).unwrap_or_default();
            let absolute = dir.as_lit().is_some_and(|d| d.starts_with('/'));
            stage.call(format!("mkdir({}{owner})", if absolute { dir.lua() } else { "\".\"".to_string() }), false);
        }
        Ok(())
    }

    /// Whether the first RUN, COPY, ADD or absolute WORKDIR after `line` in
    /// the same stage is a RUN (a relative WORKDIR between them names a
    /// directory below this one: the RUN creates both).
    fn run_comes_next(&self, line: usize) -> bool {
        self.df
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Instruction(x) if x.line > line => Some(x),
                _ => None,
            })
            .take_while(|x| x.keyword != "FROM")
            .find(|x| match x.keyword.as_str() {
                "RUN" | "COPY" | "ADD" => true,
                "WORKDIR" => x.rest.trim_start().starts_with(['/', '$']),
                _ => false,
            })
            .is_some_and(|x| x.keyword == "RUN")
    }

    fn user(&mut self, ins: &Instruction) -> R<()> {
        let user = self.single_word(ins)?;
        let dynamic = user.is_dynamic();
        let stage = self.stage();
        stage.call(format!("with_user({})", user.lua()), dynamic);
        stage.user = Some(if dynamic { Word::expr(format!("{}:get_user()", stage.local), true) } else { user });
        Ok(())
    }

    fn expose(&mut self, ins: &Instruction) -> R<()> {
        let stage = self.stages.last().expect("a stage");
        let scope = stage.scope();
        let ports = self.expander(ins.line, &scope).words(&ins.rest)?;
        drop(scope);
        if ports.is_empty() {
            return Err(fail(ins.line, "EXPOSE needs a port"));
        }
        for p in ports {
            let p = self.bind_now(p, "port");
            let expose = &mut self.stage().config.expose;
            if !expose.contains(&p) {
                expose.push(p);
            }
        }
        Ok(())
    }

    fn volume(&mut self, ins: &Instruction) -> R<()> {
        let words = match exec_form(&ins.rest) {
            Some(list) => list.into_iter().map(Word::lit).collect(),
            None => {
                let stage = self.stages.last().expect("a stage");
                let scope = stage.scope();
                self.expander(ins.line, &scope).words(&ins.rest)?
            }
        };
        if words.is_empty() {
            return Err(fail(ins.line, "VOLUME needs a path"));
        }
        for v in words {
            let v = self.bind_now(v, "volume");
            let volumes = &mut self.stage().config.volumes;
            if !volumes.contains(&v) {
                volumes.push(v);
            }
        }
        Ok(())
    }

    fn stop_signal(&mut self, ins: &Instruction) -> R<()> {
        let s = self.single_word(ins)?;
        let s = self.bind_now(s, "stop_signal");
        self.stage().config.stop_signal = Some(s);
        Ok(())
    }

    // ------------------------------------------------------------ CMD, ENTRYPOINT, HEALTHCHECK, SHELL

    /// The command of `CMD`/`ENTRYPOINT`/`HEALTHCHECK CMD` as an argv.
    fn command(&self, ins: &Instruction, text: &str) -> R<Vec<String>> {
        if let Some(argv) = exec_form(text) {
            return Ok(argv);
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(fail(ins.line, format!("{} needs a command", ins.keyword)));
        }
        let stage = self.stages.last().expect("a stage");
        let mut argv = stage.shell.clone();
        argv.push(shell_pieces(&ins.pieces).concat().trim().to_string());
        Ok(argv)
    }

    fn cmd(&mut self, ins: &Instruction, entrypoint: bool) -> R<()> {
        let argv = self.command(ins, &ins.rest)?;
        let config = &mut self.stage().config;
        if entrypoint {
            config.entrypoint = Some(argv);
            if !config.cmd_set_here {
                config.cmd = None;
            }
        } else {
            config.cmd = Some(argv);
            config.cmd_set_here = true;
        }
        Ok(())
    }

    fn healthcheck(&mut self, ins: &Instruction) -> R<()> {
        let rest = ins.rest.trim();
        let (head, tail) = match rest.find(char::is_whitespace) {
            Some(p) => (&rest[..p], rest[p..].trim_start()),
            None => (rest, ""),
        };
        if head.eq_ignore_ascii_case("none") {
            if !ins.flags.is_empty() || !tail.is_empty() {
                return Err(fail(ins.line, "HEALTHCHECK NONE takes no options or arguments"));
            }
            self.stage().config.healthcheck = Some("\"none\"".to_string());
            return Ok(());
        }
        if !head.eq_ignore_ascii_case("cmd") {
            return Err(fail(ins.line, "HEALTHCHECK expects NONE or CMD <command>"));
        }
        let test = match exec_form(tail) {
            Some(argv) if argv.is_empty() => return Err(fail(ins.line, "HEALTHCHECK CMD needs a command")),
            Some(argv) => list(&argv),
            None if tail.is_empty() => return Err(fail(ins.line, "HEALTHCHECK CMD needs a command")),
            None => {
                // Shell form runs with the image's shell (CMD-SHELL).
                let pieces = shell_pieces(&ins.pieces).concat();
                let after_cmd = pieces.trim_start();
                let text = after_cmd.get(3..).unwrap_or_default().trim();
                quote(text)
            }
        };
        let mut fields = vec![format!("test = {test}")];
        for (flag, field) in [
            ("interval", "interval"),
            ("timeout", "timeout"),
            ("start-period", "start_period"),
            ("start-interval", "start_interval"),
        ] {
            if let Some(f) = ins.flags.iter().find(|f| f.name == flag) {
                let v = f.value.clone().unwrap_or_default();
                if luakit_image_config::parse_duration(&v).is_err() {
                    return Err(fail(ins.line, format!("HEALTHCHECK --{flag}={v}: expected a duration such as 30s")));
                }
                fields.push(format!("{field} = {}", quote(&v)));
            }
        }
        if let Some(f) = ins.flags.iter().find(|f| f.name == "retries") {
            let v = f.value.clone().unwrap_or_default();
            let n: u32 =
                v.parse().map_err(|_| fail(ins.line, format!("HEALTHCHECK --retries={v}: expected a number")))?;
            fields.push(format!("retries = {n}"));
        }
        self.stage().config.healthcheck = Some(format!("{{ {} }}", fields.join(", ")));
        Ok(())
    }

    fn shell(&mut self, ins: &Instruction) -> R<()> {
        let Some(argv) = exec_form(&ins.rest).filter(|a| !a.is_empty()) else {
            return Err(fail(ins.line, "SHELL must be written in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]"));
        };
        self.warnings.push((
            ins.line,
            "SHELL is used for the commands that follow, but not recorded in the image config".to_string(),
        ));
        self.stage().shell = argv;
        Ok(())
    }
}

/// `{ "a", "b" }`.
fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("{{ {} }}", items.join(", "))
}

/// A command for `bk.export`: the shell form as a string when it is
/// `/bin/sh -c`, else a list.
fn command_lua(argv: &[String]) -> String {
    if argv.len() == 3 && argv[0] == DEFAULT_SHELL[0] && argv[1] == DEFAULT_SHELL[1] {
        quote(&argv[2])
    } else {
        list(argv)
    }
}

fn is_default_shell(shell: &[String]) -> bool {
    shell.len() == 2 && shell[0] == DEFAULT_SHELL[0] && shell[1] == DEFAULT_SHELL[1]
}

/// `{ "/bin/bash", "-c", <text> }` where `text` is Lua code.
fn shell_list(shell: &[String], text: &str) -> String {
    let items: Vec<String> = shell.iter().map(|s| quote(s)).collect();
    format!("{{ {}, {text} }}", items.join(", "))
}

/// `f(args, { opts })` from `f(args` and the option fields.
fn call_with_opts(head: &str, opts: &[String]) -> String {
    if opts.is_empty() { format!("{head})") } else { format!("{head}, {{ {} }})", opts.join(", ")) }
}

fn platform_lua(p: &Word) -> String {
    match p.0.as_slice() {
        [super::expand::Part::Expr { code, .. }] => {
            match code.strip_prefix("tostring(").and_then(|c| c.strip_suffix(')')) {
                Some(inner) => inner.to_string(),
                None => code.clone(),
            }
        }
        _ => p.lua(),
    }
}

fn merge_lits(w: Word) -> Word {
    let mut out = Word::default();
    for p in w.0 {
        match (out.0.last_mut(), p) {
            (Some(super::expand::Part::Lit(a)), super::expand::Part::Lit(b)) => a.push_str(&b),
            (_, p) => out.0.push(p),
        }
    }
    out
}

fn basename_lit(w: &Word) -> Option<String> {
    w.as_lit().and_then(|s| s.trim_end_matches('/').rsplit('/').next().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::copy::{absolute, heredoc_name, is_git_url, url_basename};
    use super::run::{csv_fields, parse_size};
    use super::*;

    fn convert(text: &str) -> String {
        let df = super::super::parse::parse(text).expect("parses");
        let opts = ConvertOptions::default();
        match Converter::run(&df, "Dockerfile", &opts) {
            Ok((lua, _)) => lua,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(url_basename("https://example.com/a/tool.tar.gz?x=1"), "tool.tar.gz");
        assert_eq!(url_basename("https://example.com/"), "__unnamed__");
        assert_eq!(csv_fields("type=cache,target=/x,,id=\"a,b\""), ["type=cache", "target=/x", "id=\"a,b\""]);
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(heredoc_name("<<-\"EOT\""), Some("EOT"));
        assert_eq!(heredoc_name("file"), None);
        assert!(
            is_git_url("git@github.com:o/r.git") && is_git_url("https://h/o/r.git#main") && !is_git_url("https://h/x")
        );
        let sh = |s: &str| vec!["/bin/sh".to_string(), "-c".to_string(), s.to_string()];
        assert_eq!(command_lua(&sh("run")), "\"run\"");
        assert_eq!(command_lua(&["a".to_string()]), "{ \"a\" }");
        assert_eq!(absolute(&Word::lit("out/app")).lua(), "\"/out/app\"");
        assert_eq!(absolute(&Word::lit("/out")).lua(), "\"/out\"");
    }

    #[test]
    fn several_args_on_one_line_and_platform_args() {
        let lua = convert("ARG A=1 B\nFROM --platform=$TARGETPLATFORM alpine:$A\nARG TARGETARCH B\nRUN echo\n");
        assert!(lua.contains("local a = bk.arg(\"A\", \"1\")\nlocal b = bk.arg(\"B\")"), "{lua}");
        assert!(lua.contains("bk.image(\"alpine:\" .. a, { platform = bk.target_platform() })"), "{lua}");
        assert!(lua.contains("env = { TARGETARCH = bk.target_platform().arch, B = b }"), "{lua}");
    }

    #[test]
    fn env_order_is_kept_and_values_see_the_old_environment() {
        let lua = convert("FROM scratch\nENV B=1 A=$B\nENV A=2 C=$A\n");
        // Unsorted names keep Docker's order with the list form; $B is unset before the line.
        assert!(lua.contains("with_env({ \"B=1\", \"A=\" })"), "{lua}");
        assert!(lua.contains("with_env({ A = \"2\", C = \"\" })"), "{lua}");
    }

    #[test]
    fn copy_from_an_index_a_variable_path_and_ssh_mounts() {
        let lua = convert(
            "FROM alpine AS a\nENV DIR=/srv\nFROM alpine\nCOPY --from=0 $DIR/x /x\nRUN --mount=type=ssh --mount=type=ssh,id=gh,required=true,target=/s git clone x\n",
        );
        assert!(lua.contains(":copy(a, \"/\" .. (final:get_env(\"DIR\") or \"\") .. \"/x\", \"/x\")"), "{lua}");
        assert!(
            lua.contains("bk.ssh({ dest = \"/run/buildkit/ssh_agent.0\", optional = true })")
                && lua.contains("bk.ssh({ dest = \"/s\", id = \"gh\" })"),
            "{lua}"
        );
    }
}
