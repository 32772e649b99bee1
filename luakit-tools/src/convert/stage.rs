//! The instruction-by-instruction mapping of a parsed Dockerfile to `bk`
//! calls, and the layout of the script: build arguments, the context,
//! one local per stage, then `bk.export` of the target stage.

use std::collections::{BTreeMap, BTreeSet};

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

    // ------------------------------------------------------------ RUN

    fn run_instruction(&mut self, ins: &Instruction) -> R<()> {
        let stage_idx = self.stages.len() - 1;
        let mut opts: Vec<String> = Vec::new();
        let mut mounts: Vec<String> = Vec::new();
        let mut secret_env: Vec<(String, String)> = Vec::new();
        let mut network = None;
        let mut security = None;
        let mut dynamic = false;
        self.ssh_count = 0;
        for f in &ins.flags {
            let value = f.value.clone().unwrap_or_default();
            match f.name.as_str() {
                "mount" => {
                    let (m, env, d) = self.mount(ins, &value)?;
                    dynamic |= d;
                    mounts.extend(m);
                    secret_env.extend(env);
                }
                "network" => match value.as_str() {
                    "default" | "sandbox" => {}
                    "none" | "host" => network = Some(value.clone()),
                    other => {
                        return Err(fail(ins.line, format!("RUN --network={other}: expected default, none or host")));
                    }
                },
                "security" => match value.as_str() {
                    "sandbox" => {}
                    "insecure" => security = Some(value.clone()),
                    other => {
                        return Err(fail(ins.line, format!("RUN --security={other}: expected sandbox or insecure")));
                    }
                },
                _ => unreachable!("flags are checked"),
            }
        }
        let stage = &self.stages[stage_idx];
        let command = match exec_form(&ins.rest) {
            Some(argv) if ins.heredocs.is_empty() => {
                if argv.is_empty() {
                    return Err(fail(ins.line, "RUN needs a command"));
                }
                list(&argv)
            }
            _ => match shell_text(ins)? {
                ShellCommand::Text(text) if is_default_shell(&stage.shell) => text,
                ShellCommand::Text(text) => shell_list(&stage.shell, &text),
                ShellCommand::Script { name, body } => {
                    // As Docker: the script is a file mounted at /dev/pipes/, run directly.
                    let local = self.unique(&format!("{name}_script"));
                    let code = format!(
                        "local {local} = bk.scratch():mkfile({}, {}, {{ mode = \"0755\" }})",
                        quote(&name),
                        quote(&body)
                    );
                    self.stages[stage_idx].pre.push(code);
                    mounts.insert(0, format!("bk.bind({local}, \"/dev/pipes\")"));
                    list(&[format!("/dev/pipes/{name}")])
                }
            },
        };
        let stage = &self.stages[stage_idx];
        // Build arguments in scope reach the command as environment variables.
        let env: Vec<String> = stage
            .arg_order
            .iter()
            .filter(|n| !stage.env.contains_key(*n))
            .map(|n| format!("{} = {}", key(n), stage.args[n].code))
            .collect();
        if !env.is_empty() {
            opts.push(format!("env = {{ {} }}", env.join(", ")));
        }
        if !mounts.is_empty() {
            opts.push(format!("mounts = {{ {} }}", mounts.join(", ")));
        }
        if !secret_env.is_empty() {
            let items: Vec<String> = secret_env.iter().map(|(var, entry)| format!("{} = {entry}", key(var))).collect();
            opts.push(format!("secret_env = {{ {} }}", items.join(", ")));
        }
        if let Some(n) = network {
            opts.push(format!("network = {}", quote(&n)));
        }
        if let Some(s) = security {
            opts.push(format!("security = {}", quote(&s)));
        }
        let code = call_with_opts(&format!("run({command}"), &opts);
        let stage = self.stage();
        stage.call(code, dynamic);
        Ok(())
    }

    /// One `--mount=…`: the mount expressions, secret variables, and whether
    /// it reads the stage's state.
    #[allow(clippy::type_complexity)]
    fn mount(&mut self, ins: &Instruction, spec: &str) -> R<(Vec<String>, Vec<(String, String)>, bool)> {
        let mut fields: BTreeMap<String, Word> = BTreeMap::new();
        let mut kind = "bind".to_string();
        let stage = self.stages.last().expect("a stage");
        let scope = stage.scope();
        let ex = self.expander(ins.line, &scope);
        for field in csv_fields(spec) {
            let (k, v) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), v.to_string()),
                None => (field.trim().to_ascii_lowercase(), "true".to_string()),
            };
            let v = ex.word(&v)?;
            let k = match k.as_str() {
                "dst" | "destination" => "target".to_string(),
                "src" => "source".to_string(),
                "ro" => "readonly".to_string(),
                "rw" => "readwrite".to_string(),
                _ => k,
            };
            if k == "type" {
                kind = v.as_lit().ok_or_else(|| fail(ins.line, "--mount type must be literal"))?;
            } else {
                fields.insert(k, v);
            }
        }
        drop(scope);
        let dynamic = fields.values().any(Word::is_dynamic);
        let allowed: &[&str] = match kind.as_str() {
            "cache" => &["target", "id", "sharing", "from", "source", "readonly", "mode", "uid", "gid"],
            "secret" => &["target", "id", "required", "mode", "uid", "gid", "env"],
            "ssh" => &["target", "id", "required", "mode", "uid", "gid"],
            "bind" => &["target", "source", "from", "readonly", "readwrite"],
            "tmpfs" => &["target", "size"],
            other => {
                return Err(fail(
                    ins.line,
                    format!("--mount type={other} is not supported (expected bind, cache, secret, ssh or tmpfs)"),
                ));
            }
        };
        if let Some(k) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(fail(
                ins.line,
                format!("--mount type={kind}: option '{k}' is not supported by luakit convert"),
            ));
        }
        let lit = |k: &str| fields.get(k).and_then(Word::as_lit);
        let truthy = |k: &str| -> R<bool> {
            match lit(k).as_deref() {
                None => Ok(false),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(other) => Err(fail(ins.line, format!("--mount {k}={other}: expected true or false"))),
            }
        };
        let target = fields.get("target").cloned();
        let need_target = |t: &Option<Word>| -> R<Word> {
            t.clone().ok_or_else(|| fail(ins.line, format!("--mount type={kind} needs a target")))
        };
        let mut mounts = Vec::new();
        let mut env = Vec::new();
        let mut opts: Vec<String> = Vec::new();
        match kind.as_str() {
            "cache" => {
                let target = need_target(&target)?;
                if let Some(id) = fields.get("id") {
                    if id != &target {
                        opts.push(format!("id = {}", id.lua()));
                    }
                }
                if let Some(s) = lit("sharing") {
                    if !["shared", "private", "locked"].contains(&s.as_str()) {
                        return Err(fail(ins.line, format!("--mount sharing={s}: expected shared, private or locked")));
                    }
                    if s != "shared" {
                        opts.push(format!("sharing = {}", quote(&s)));
                    }
                }
                if let Some(from) = fields.get("from") {
                    opts.push(format!("from = {}", self.source_state(ins, from)?));
                    if let Some(src) = fields.get("source") {
                        opts.push(format!("selector = {}", src.lua()));
                    }
                } else if fields.contains_key("source") {
                    return Err(fail(ins.line, "--mount type=cache: source needs from"));
                }
                if truthy("readonly")? {
                    opts.push("readonly = true".to_string());
                }
                for k in ["mode", "uid", "gid"] {
                    if fields.contains_key(k) {
                        self.warnings.push((
                            ins.line,
                            format!("--mount type=cache,{k}=… is not carried over: bk.cache has no {k}"),
                        ));
                    }
                }
                mounts.push(call_with_opts(&format!("bk.cache({}", target.lua()), &opts));
            }
            "secret" => {
                let id = fields.get("id").cloned();
                let var = lit("env");
                if let Some(var) = &var {
                    let id = id.as_ref().and_then(Word::as_lit).or_else(|| target.as_ref().and_then(basename_lit));
                    let Some(id) = id else {
                        return Err(fail(ins.line, "--mount type=secret,env=… needs a literal id"));
                    };
                    let entry = if truthy("required")? {
                        quote(&id)
                    } else {
                        format!("{{ id = {}, optional = true }}", quote(&id))
                    };
                    env.push((var.clone(), entry));
                }
                if var.is_none() || target.is_some() {
                    let target = match (&target, &id) {
                        (Some(t), _) => t.clone(),
                        (None, Some(id)) => {
                            let mut w = Word::lit("/run/secrets/");
                            w.0.extend(id.0.iter().cloned());
                            merge_lits(w)
                        }
                        (None, None) => return Err(fail(ins.line, "--mount type=secret needs an id or a target")),
                    };
                    if let Some(id) = &id {
                        let implied = basename_lit(&target);
                        if id.as_lit().is_none() || id.as_lit() != implied {
                            opts.push(format!("id = {}", id.lua()));
                        }
                    }
                    self.id_mode_opts(ins, &fields, &mut opts, "0400")?;
                    if !truthy("required")? {
                        opts.push("optional = true".to_string());
                    }
                    mounts.push(call_with_opts(&format!("bk.secret({}", target.lua()), &opts));
                }
            }
            "ssh" => {
                let dest = target.unwrap_or_else(|| Word::lit(format!("/run/buildkit/ssh_agent.{}", self.ssh_count)));
                self.ssh_count += 1;
                opts.push(format!("dest = {}", dest.lua()));
                if let Some(id) = fields.get("id") {
                    if id.as_lit().as_deref() != Some("default") {
                        opts.push(format!("id = {}", id.lua()));
                    }
                }
                self.id_mode_opts(ins, &fields, &mut opts, "0600")?;
                if !truthy("required")? {
                    opts.push("optional = true".to_string());
                }
                mounts.push(format!("bk.ssh({{ {} }})", opts.join(", ")));
            }
            "bind" => {
                let target = need_target(&target)?;
                let from = match fields.get("from") {
                    Some(f) => self.source_state(ins, f)?,
                    None => {
                        self.context_used = true;
                        "context".to_string()
                    }
                };
                if let Some(src) = fields.get("source") {
                    if src.as_lit().is_none_or(|s| !matches!(s.as_str(), "" | "/" | ".")) {
                        opts.push(format!("selector = {}", src.lua()));
                    }
                }
                if truthy("readwrite")? {
                    // Docker throws away what a RUN writes to a bind mount.
                    opts.push("readonly = false".to_string());
                    opts.push("output = false".to_string());
                }
                mounts.push(call_with_opts(&format!("bk.bind({from}, {}", target.lua()), &opts));
            }
            "tmpfs" => {
                let target = need_target(&target)?;
                if let Some(size) = fields.get("size") {
                    let s = size.as_lit().unwrap_or_default();
                    let bytes = parse_size(&s)
                        .ok_or_else(|| fail(ins.line, format!("--mount size={s}: expected a size in bytes")))?;
                    opts.push(format!("size = {bytes}"));
                }
                mounts.push(call_with_opts(&format!("bk.tmpfs({}", target.lua()), &opts));
            }
            _ => unreachable!("kinds are checked"),
        }
        Ok((mounts, env, dynamic))
    }

    fn id_mode_opts(
        &self,
        ins: &Instruction,
        fields: &BTreeMap<String, Word>,
        opts: &mut Vec<String>,
        default_mode: &str,
    ) -> R<()> {
        for k in ["uid", "gid"] {
            if let Some(v) = fields.get(k) {
                let n: u32 = v
                    .as_lit()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| fail(ins.line, format!("--mount {k} must be a number")))?;
                if n != 0 {
                    opts.push(format!("{k} = {n}"));
                }
            }
        }
        if let Some(v) = fields.get("mode") {
            let m = v.as_lit().unwrap_or_default();
            let digits = m.trim_start_matches('0');
            if m.is_empty() || !m.chars().all(|c| ('0'..='7').contains(&c)) {
                return Err(fail(ins.line, format!("--mount mode={m}: expected an octal mode")));
            }
            if digits != default_mode.trim_start_matches('0') {
                opts.push(format!("mode = {}", quote(&format!("0{digits}"))));
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

    // ------------------------------------------------------------ COPY / ADD

    fn copy(&mut self, ins: &Instruction, add: bool) -> R<()> {
        let what = if add { "ADD" } else { "COPY" };
        let stage = self.stages.last().expect("a stage");
        let scope = stage.scope();
        let ex = self.expander(ins.line, &scope);
        let words: Vec<Word> = match exec_form(&ins.rest) {
            Some(list) => list.into_iter().map(Word::lit).collect(),
            None => ex.words(&ins.rest)?,
        };
        let flag = |name: &str| ins.flags.iter().find(|f| f.name == name).map(|f| f.value.clone().unwrap_or_default());
        let owner = match flag("chown") {
            Some(v) => Some(ex.word(&v)?),
            None => None,
        };
        let mode = flag("chmod");
        let from = match flag("from") {
            Some(v) => Some(ex.word(&v)?),
            None => None,
        };
        let excludes: Vec<Word> = ins
            .flags
            .iter()
            .filter(|f| f.name == "exclude")
            .map(|f| ex.word(f.value.as_deref().unwrap_or_default()))
            .collect::<Result<_, _>>()?;
        let checksum = flag("checksum");
        let keep_git_dir = flag("keep-git-dir");
        // Heredoc bodies expanded with the stage's variables.
        let mut bodies: BTreeMap<String, Word> = BTreeMap::new();
        for h in &ins.heredocs {
            let body = if h.expand { ex.raw(&h.content)? } else { Word::lit(h.content.clone()) };
            bodies.insert(h.name.clone(), body);
        }
        drop(scope);
        if words.len() < 2 {
            return Err(fail(ins.line, format!("{what} needs at least one source and a destination")));
        }
        let (dest, sources) = words.split_last().expect("two words or more");
        if sources.len() > 1 && dest.as_lit().is_some_and(|d| !d.ends_with('/')) {
            return Err(fail(
                ins.line,
                format!("{what} with more than one source needs a destination directory ending in /"),
            ));
        }
        let mut opts: Vec<String> = Vec::new();
        if let Some(m) = &mode {
            if m.is_empty() || !m.chars().all(|c| ('0'..='7').contains(&c)) || m.len() > 5 {
                return Err(fail(ins.line, format!("{what} --chmod={m}: only octal modes such as 0755 are supported")));
            }
            opts.push(format!("mode = {}", quote(&format!("{:0>4}", m.trim_start_matches('0')))));
        }
        if let Some(o) = &owner {
            opts.push(format!("owner = {}", o.lua()));
        }
        if !excludes.is_empty() {
            let items: Vec<String> = excludes.iter().map(Word::lua).collect();
            opts.push(format!("exclude = {{ {} }}", items.join(", ")));
        }
        let from_state = match &from {
            Some(f) => {
                if add {
                    return Err(fail(ins.line, "ADD --from is not supported: use COPY --from"));
                }
                Some(self.source_state(ins, f)?)
            }
            None => None,
        };
        let mut dynamic = dest.is_dynamic() || owner.as_ref().is_some_and(Word::is_dynamic);
        let mut calls = Vec::new();
        for src in sources {
            dynamic |= src.is_dynamic();
            if let Some(name) = src.as_lit().as_deref().and_then(heredoc_name) {
                let Some(body) = bodies.get(name) else {
                    return Err(fail(ins.line, format!("{what} <<{name}: no heredoc body found")));
                };
                calls.push(self.heredoc_file(ins, name, body, dest, &opts)?);
                continue;
            }
            let src_lit = src.as_lit();
            let is_url = src_lit.as_deref().is_some_and(|s| s.starts_with("http://") || s.starts_with("https://"));
            let is_git = src_lit.as_deref().is_some_and(is_git_url);
            if add && is_git {
                let mut git_opts = Vec::new();
                if keep_git_dir.as_deref().is_some_and(|v| v.is_empty() || v == "true") {
                    git_opts.push("keep_git_dir = true".to_string());
                }
                let state = call_with_opts(&format!("bk.git({}", src.lua()), &git_opts);
                calls.push(call_with_opts(&format!("copy({state}, \".\", {}", dest.lua()), &opts));
            } else if add && is_url {
                let url = src_lit.unwrap_or_default();
                let file = url_basename(&url);
                let mut http_opts = vec![format!("filename = {}", quote(&file))];
                if let Some(c) = &checksum {
                    http_opts.push(format!("checksum = {}", quote(c)));
                }
                let state = call_with_opts(&format!("bk.http({}", quote(&url)), &http_opts);
                calls.push(call_with_opts(&format!("copy({state}, {}, {}", quote(&file), dest.lua()), &opts));
            } else {
                if checksum.is_some() {
                    return Err(fail(ins.line, "ADD --checksum only applies to URLs"));
                }
                let (state, src_code) = match &from_state {
                    Some(s) => (s.clone(), absolute(src).lua()),
                    None => {
                        self.context_used = true;
                        ("context".to_string(), src.lua())
                    }
                };
                let mut o = opts.clone();
                if add {
                    o.push("attempt_unpack = true".to_string());
                }
                calls.push(call_with_opts(&format!("copy({state}, {src_code}, {}", dest.lua()), &o));
            }
        }
        let stage = self.stage();
        for (i, c) in calls.into_iter().enumerate() {
            stage.call(c, dynamic && i == 0);
        }
        Ok(())
    }

    /// A `COPY <<EOF dest` file: a local holding the file, copied in.
    fn heredoc_file(&mut self, ins: &Instruction, name: &str, body: &Word, dest: &Word, opts: &[String]) -> R<String> {
        let base = match dest.as_lit() {
            Some(d) if !d.ends_with('/') => d.rsplit('/').next().unwrap_or(name).to_string(),
            _ => name.to_string(),
        };
        let local = self.unique(&base);
        let file = if dest.as_lit().is_some_and(|d| d.ends_with('/')) { name.to_string() } else { base.clone() };
        let code = format!("local {local} = bk.scratch():mkfile({}, {})", quote(&file), body.lua());
        if body.is_dynamic() {
            self.stage().stmt(code);
        } else {
            self.stage().pre.push(code);
        }
        let _ = ins;
        Ok(call_with_opts(&format!("copy({local}, {}, {}", quote(&file), dest.lua()), opts))
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
        let used_later = self.fs_step_follows(ins.line);
        let stage = self.stage();
        stage.call(format!("with_workdir({})", dir.lua()), dynamic);
        if !used_later {
            // Docker creates the directory (owned by the current USER); a
            // later RUN or COPY would create it anyway.
            let owner = stage.user.as_ref().map(|u| format!(", {{ owner = {} }}", u.lua())).unwrap_or_default();
            stage.call(format!("mkdir({}{owner})", if dynamic { "\".\"".to_string() } else { dir.lua() }), false);
        }
        Ok(())
    }

    /// Whether a RUN, COPY or ADD follows `line` in the same stage.
    fn fs_step_follows(&self, line: usize) -> bool {
        self.df
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Instruction(x) if x.line > line => Some(x.keyword.as_str()),
                _ => None,
            })
            .take_while(|k| *k != "FROM")
            .any(|k| matches!(k, "RUN" | "COPY" | "ADD"))
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

    // ------------------------------------------------------------ output

    fn render(&mut self) -> R<String> {
        let target = match &self.opts.target {
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                self.stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| Error::File(format!("no stage named '{t}' (--target)")))?
            }
            None => self.stages.len() - 1,
        };
        let mut out = String::new();
        if let Some(syntax) = &self.opts.syntax {
            out.push_str(&format!("# syntax={syntax}\n"));
        }
        out.push_str(&format!("-- Converted from {} by luakit convert.\n", self.file));
        for h in &self.header {
            if h.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&comment_line(h));
                out.push('\n');
            }
        }
        out.push('\n');
        if !self.arg_lines.is_empty() {
            for l in &self.arg_lines {
                out.push_str(l);
                out.push('\n');
            }
            out.push('\n');
        }
        if self.context_used {
            let excludes = dockerignore(self.opts.dockerignore.as_deref().unwrap_or_default());
            if excludes.is_empty() {
                out.push_str("local context = bk.local_(\"context\")\n\n");
            } else {
                let items: Vec<String> = excludes.iter().map(|e| quote(e)).collect();
                out.push_str(&format!(
                    "-- The build context, without what .dockerignore leaves out.\nlocal context = bk.local_(\"context\", {{ exclude = {{ {} }} }})\n\n",
                    items.join(", ")
                ));
            }
        }
        for stage in &self.stages {
            out.push_str(&render_stage(stage));
            out.push_str("\n\n");
        }
        let stage = &self.stages[target];
        out.push_str(&render_export(stage));
        if !self.trailing.is_empty() {
            out.push('\n');
            for t in &self.trailing {
                out.push_str(&comment_line(t));
                out.push('\n');
            }
        }
        Ok(out)
    }
}

fn comment_line(text: &str) -> String {
    if text.is_empty() { "--".to_string() } else { format!("-- {text}") }
}

fn render_stage(stage: &Stage) -> String {
    let mut out = String::new();
    for c in &stage.comments {
        out.push_str(&comment_line(c));
        out.push('\n');
    }
    for p in &stage.pre {
        out.push_str(p);
        out.push('\n');
    }
    let l = &stage.local;
    out.push_str(&format!("local {l} = {}", stage.source));
    let mut need_head = false;
    for chunk in &stage.chunks {
        match chunk {
            Chunk::Call { comments, code, fresh } => {
                // A comment starts a statement of its own: StyLua lays out a
                // chain with comments inside it badly.
                if *fresh || need_head || !comments.is_empty() {
                    out.push('\n');
                    for c in comments {
                        out.push_str(&comment_line(c));
                        out.push('\n');
                    }
                    out.push_str(&format!("{l} = {l}\n    :{code}"));
                    need_head = false;
                } else {
                    for c in comments {
                        out.push_str("\n    ");
                        out.push_str(&comment_line(c));
                    }
                    out.push_str(&format!("\n    :{code}"));
                }
            }
            Chunk::Stmt { comments, code } => {
                out.push('\n');
                for c in comments {
                    out.push_str(&comment_line(c));
                    out.push('\n');
                }
                out.push_str(code);
                need_head = true;
            }
        }
    }
    for c in &stage.pending {
        out.push('\n');
        out.push_str(&comment_line(c));
    }
    out
}

fn render_export(stage: &Stage) -> String {
    let c = &stage.config;
    let mut fields = Vec::new();
    if let Some(e) = &c.entrypoint {
        fields.push(format!("entrypoint = {}", command_lua(e)));
    }
    if let Some(cmd) = &c.cmd {
        fields.push(format!("cmd = {}", command_lua(cmd)));
    } else if c.entrypoint.is_some() {
        // ENTRYPOINT without CMD in the same stage clears the inherited CMD;
        // bk.export does the same when cmd is absent.
    }
    if !c.expose.is_empty() {
        let items: Vec<String> = c.expose.iter().map(Word::lua).collect();
        fields.push(format!("expose = {{ {} }}", items.join(", ")));
    }
    if !c.labels.is_empty() {
        let items: Vec<String> = c
            .labels
            .iter()
            .map(|(k, v)| match k.as_lit() {
                Some(k) => format!("{} = {}", key(&k), v.lua()),
                None => format!("[{}] = {}", k.lua(), v.lua()),
            })
            .collect();
        fields.push(format!("labels = {{ {} }}", items.join(", ")));
    }
    if !c.volumes.is_empty() {
        let items: Vec<String> = c.volumes.iter().map(Word::lua).collect();
        fields.push(format!("volumes = {{ {} }}", items.join(", ")));
    }
    if let Some(s) = &c.stop_signal {
        fields.push(format!("stop_signal = {}", s.lua()));
    }
    if let Some(h) = &c.healthcheck {
        fields.push(format!("healthcheck = {h}"));
    }
    if fields.is_empty() {
        format!("bk.export({})\n", stage.local)
    } else {
        format!("bk.export({}, {{\n    {},\n}})\n", stage.local, fields.join(",\n    "))
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

/// What a shell-form `RUN` runs.
enum ShellCommand {
    /// Lua code of the command string.
    Text(String),
    /// `RUN <<EOF` whose body starts with `#!`: Docker writes the body to a
    /// file and runs it.
    Script { name: String, body: String },
}

/// The command of a shell-form `RUN`, heredocs included.
fn shell_text(ins: &Instruction) -> R<ShellCommand> {
    let pieces = shell_pieces(&ins.pieces);
    let text: String = pieces.concat();
    if text.trim().is_empty() {
        return Err(fail(ins.line, "RUN needs a command"));
    }
    if ins.heredocs.is_empty() {
        if pieces.len() > 1 && text.len() > 80 {
            let parts: Vec<String> = pieces.iter().map(|p| quote(p)).collect();
            return Ok(ShellCommand::Text(parts.join("\n        .. ")));
        }
        return Ok(ShellCommand::Text(quote(text.trim())));
    }
    // `RUN <<EOF` alone: the body is the script.
    if ins.heredocs.len() == 1
        && text.trim().strip_prefix("<<").and_then(heredoc_marker_name) == Some(&ins.heredocs[0].name)
    {
        let body = &ins.heredocs[0].content;
        if body.starts_with("#!") {
            return Ok(ShellCommand::Script { name: ins.heredocs[0].name.clone(), body: body.clone() });
        }
        return Ok(ShellCommand::Text(quote(body)));
    }
    // Otherwise the shell reads the heredocs itself.
    let mut script = text.trim().to_string();
    script.push('\n');
    for h in &ins.heredocs {
        script.push_str(&h.content);
        script.push_str(&h.name);
        script.push('\n');
    }
    Ok(ShellCommand::Text(quote(&script)))
}

/// `EOF` of `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` (text after `<<`).
fn heredoc_marker_name(s: &str) -> Option<&str> {
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s);
    let s = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).unwrap_or(s);
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}

/// The heredoc name of a COPY source `<<EOF`.
fn heredoc_name(s: &str) -> Option<&str> {
    s.strip_prefix("<<").and_then(heredoc_marker_name)
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

/// A `COPY --from` source taken from the root of the source state.
fn absolute(src: &Word) -> Word {
    match src.0.first() {
        Some(super::expand::Part::Lit(s)) if s.starts_with('/') => src.clone(),
        _ => {
            let mut w = Word::lit("/");
            w.0.extend(src.0.iter().cloned());
            merge_lits(w)
        }
    }
}

fn basename_lit(w: &Word) -> Option<String> {
    w.as_lit().and_then(|s| s.trim_end_matches('/').rsplit('/').next().map(str::to_string))
}

fn url_basename(url: &str) -> String {
    let path = url.split("://").nth(1).and_then(|r| r.find('/').map(|p| &r[p..])).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

fn is_git_url(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || s.split('#').next().is_some_and(|u| u.ends_with(".git"))
}

/// Fields of a `--mount` value (comma-separated, `"` quoting allowed).
fn csv_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|f| !f.trim().is_empty()).collect()
}

fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let (num, mult) =
        [("kib", 1024u64), ("mib", 1 << 20), ("gib", 1 << 30), ("k", 1024), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
            .iter()
            .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_string(), *m)))
            .unwrap_or((lower.clone(), 1));
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}

/// The patterns of a `.dockerignore`.
fn dockerignore(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
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
