//! The `bk` functions and state methods: Lua values in, graph calls out.
//!
//! Each function checks its arguments (names, types, unknown options) and
//! hands the graph crate plain option structs; the graph does the rest.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use luakit_graph::state::resolve_dir;
use luakit_graph::{
    CacheSharing, Chown, CopyOptions, GitOptions, HostIp, HttpOptions, ImageOptions, LocalOptions, Mount, MountKind,
    NetMode, ProgressGroup, ResolveMode, RunOptions, SecretEnv, SecurityMode, State, Ulimit,
};
use luakit_image_config::{ExportOptions, Healthcheck, ImageConfig, StateDefaults};
use mlua::{Lua, MultiValue, Table, Value};

use crate::ctx::{ExportRecord, api, caller, charge, off_the_clock, op_options, with_ctx};
use crate::opts::{
    Fail, Opts, R, as_integer, did_you_mean, option_msg, platform, platform_from_parts, sequence, shown, string_list,
    string_map, text, type_name,
};
use crate::userdata::{ExecInfo, LMount, LPlatform, LState};

/// Positional arguments of a call.
struct Args(Vec<Value>);

impl Args {
    fn new(args: MultiValue) -> Self {
        Args(args.into_vec())
    }

    fn get(&self, i: usize) -> Value {
        self.0.get(i).cloned().unwrap_or(Value::Nil)
    }

    /// The state a method was called on (`st:method(…)`).
    fn this(&self, method: &str) -> R<LState> {
        match self.0.first() {
            Some(Value::UserData(ud)) => match ud.borrow::<LState>() {
                Ok(s) => Ok(s.clone()),
                Err(_) => Err(method_call_error(method)),
            },
            _ => Err(method_call_error(method)),
        }
    }
}

fn method_call_error(method: &str) -> Fail {
    Fail::Msg(format!("call it as a method, with ':' (state:{method}(…)), not with '.'"))
}

/// A required string argument.
fn req_string(v: &Value, pos: usize, name: &str) -> R<String> {
    match v {
        Value::String(s) => text(s).map_err(|m| Fail::Msg(format!("argument {pos} ({name}) {m}"))),
        Value::Nil => Err(format!("argument {pos} ({name}) is missing: expected a string").into()),
        other => Err(format!("argument {pos} ({name}) must be a string, got {}", type_name(other)).into()),
    }
}

/// A required non-empty string argument.
fn req_nonempty(v: &Value, pos: usize, name: &str) -> R<String> {
    let s = req_string(v, pos, name)?;
    if s.is_empty() {
        return Err(format!("argument {pos} ({name}) must not be empty").into());
    }
    Ok(s)
}

/// A required state argument.
fn req_state(v: &Value, pos: usize, name: &str) -> R<LState> {
    if let Value::UserData(ud) = v {
        if let Ok(s) = ud.borrow::<LState>() {
            return Ok(s.clone());
        }
    }
    let hint = if matches!(v, Value::String(_)) { " (use bk.image(…) or bk.local_(…) to make one)" } else { "" };
    Err(format!("argument {pos} ({name}) must be a state, got {}{hint}", type_name(v)).into())
}

/// A rough size of strings, for the graph memory estimate.
fn size_of<'a>(items: impl IntoIterator<Item = &'a String>) -> usize {
    items.into_iter().map(String::len).sum()
}

const NODE_BYTES: usize = 512;

fn ud(lua: &Lua, s: LState) -> mlua::Result<Value> {
    Ok(Value::UserData(lua.create_userdata(s)?))
}

// ---------------------------------------------------------------- sources

const IMAGE_OPTS: &[&str] = crate::reference::IMAGE.names;

/// `bk.image(ref, {platform, resolve, resolve_digest})`
pub(crate) fn bk_image(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.image", || {
        let a = Args::new(args);
        let reference = req_string(&a.get(0), 1, "reference")?;
        let opts = Opts::new(&a.get(1), IMAGE_OPTS)?;
        let plat = opts.platform("platform")?;
        let resolve_mode = match opts.choice("resolve", &["default", "always", "never"])?.as_deref() {
            Some("always") => ResolveMode::Always,
            Some("never") => ResolveMode::Never,
            _ => ResolveMode::Default,
        };
        let resolve_digest = opts.boolean("resolve_digest")?.unwrap_or(false);
        let normalized = luakit_graph::normalize_image_ref(&reference)?;
        let mut op = op_options(lua)?;
        op.platform = plat.clone();
        let (resolver, target) = with_ctx(lua, |c| (c.opts.resolver.clone(), c.opts.target_platform.clone()))?;
        let mut image_opts = ImageOptions { resolve_mode, default_path: true, op, ..ImageOptions::default() };
        let mut pinned = normalized.clone();
        let mut base_config = None;
        let resolved = match resolver {
            Some(resolver) => {
                let for_platform = plat.clone().unwrap_or(target).normalized();
                let key = (normalized.clone(), format!("{for_platform} {resolve_mode:?}"));
                let cached = with_ctx(lua, |c| c.resolved.get(&key).cloned())?;
                match cached {
                    Some(r) => Some(r),
                    None => {
                        let r = off_the_clock(lua, || resolver.resolve(&normalized, &for_platform, resolve_mode))
                            .map_err(|e| Fail::Msg(format!("cannot resolve '{normalized}' for {for_platform}: {e}")))?
                            .map(Arc::new);
                        if let Some(r) = &r {
                            with_ctx(lua, |c| c.resolved.insert(key, r.clone()))?;
                        }
                        r
                    }
                }
            }
            None => None,
        };
        match resolved {
            Some(resolved) => {
                if !normalized.contains('@') && !resolved.digest.is_empty() {
                    pinned = format!("{normalized}@{}", resolved.digest);
                }
                let cfg = &resolved.config.config;
                let mut env = cfg.env.clone();
                if !env.iter().any(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == "PATH") {
                    env.push(format!("PATH={}", luakit_graph::DEFAULT_PATH));
                }
                image_opts.config_env = Some(env);
                if !cfg.working_dir.is_empty() {
                    image_opts.config_dir = Some(cfg.working_dir.clone());
                }
                if !cfg.user.is_empty() {
                    image_opts.config_user = Some(cfg.user.clone());
                }
                base_config = Some(Arc::new(resolved.config.clone()));
            }
            None if resolve_digest => {
                let at = caller(lua).map(|(f, l)| format!("{f}:{l}: ")).unwrap_or_default();
                let w = format!(
                    "{at}bk.image: resolve_digest ignored for '{normalized}': it was not resolved (lock it with `luakit lock`, or build with --resolve), so the image is not pinned and its config is not known"
                );
                with_ctx(lua, |c| c.warnings.push(w))?;
            }
            None => {}
        }
        charge(lua, NODE_BYTES + pinned.len())?;
        let state = luakit_graph::image(&pinned, image_opts)?;
        Ok(LState { state, exec: None, base_config })
    })?;
    ud(lua, st)
}

/// `bk.scratch()`
pub(crate) fn bk_scratch(lua: &Lua, _: MultiValue) -> mlua::Result<Value> {
    ud(lua, LState::new(State::scratch()))
}

const LOCAL_OPTS: &[&str] = crate::reference::LOCAL.names;

/// `bk.local_(name, {include, exclude, shared_key_hint, follow_paths})`
pub(crate) fn bk_local(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.local_", || {
        let a = Args::new(args);
        let name = req_nonempty(&a.get(0), 1, "name")?;
        let opts = Opts::new(&a.get(1), LOCAL_OPTS)?;
        let (unique_id, session_id, extra_excludes) = with_ctx(lua, |c| {
            let extra = c.opts.local_excludes.get(&name).cloned().unwrap_or_default();
            (c.opts.local_unique_id.clone(), c.opts.local_session_id.clone(), extra)
        })?;
        let lo = LocalOptions {
            include_patterns: opts.string_list("include")?.unwrap_or_default(),
            exclude_patterns: extra_excludes
                .into_iter()
                .chain(opts.string_list("exclude")?.unwrap_or_default())
                .collect(),
            follow_paths: opts.string_list("follow_paths")?.unwrap_or_default(),
            shared_key_hint: opts.string("shared_key_hint")?.unwrap_or_default(),
            session_id,
            unique_id,
            differ: None,
            op: op_options(lua)?,
        };
        charge(
            lua,
            NODE_BYTES + size_of(lo.include_patterns.iter().chain(&lo.exclude_patterns).chain(&lo.follow_paths)),
        )?;
        Ok(LState::new(luakit_graph::local(&name, lo)?))
    })?;
    ud(lua, st)
}

const GIT_OPTS: &[&str] = crate::reference::GIT.names;

/// `bk.git(url, {ref, keep_git_dir, subdir, auth_token_secret, auth_header_secret, known_ssh_hosts, mount_ssh_sock})`
pub(crate) fn bk_git(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.git", || {
        let a = Args::new(args);
        let url = req_nonempty(&a.get(0), 1, "url")?;
        check_git_credentials(&url)?;
        let opts = Opts::new(&a.get(1), GIT_OPTS)?;
        let mut go = GitOptions { op: op_options(lua)?, ..GitOptions::default() };
        if let Some(r) = opts.string("ref")? {
            go.reference = r;
        }
        go.keep_git_dir = opts.boolean("keep_git_dir")?.unwrap_or(false);
        if let Some(s) = opts.string("subdir")? {
            go.subdir = s;
        }
        if let Some(s) = opts.string("auth_token_secret")? {
            go.auth_token_secret = s;
            go.explicit_auth = true;
        }
        if let Some(s) = opts.string("auth_header_secret")? {
            go.auth_header_secret = s;
            go.explicit_auth = true;
        }
        if let Some(hosts) = opts.string_list("known_ssh_hosts")? {
            go.known_ssh_hosts = hosts;
        }
        if let Some(s) = opts.string("mount_ssh_sock")? {
            go.mount_ssh_sock = s;
        }
        charge(lua, NODE_BYTES + url.len() + size_of(&go.known_ssh_hosts))?;
        Ok(LState::new(luakit_graph::git(&url, go)?))
    })?;
    ud(lua, st)
}

/// The user-info part of a URL (`user:password` of `https://user:password@host/…`), if any.
fn url_userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority.rsplit_once('@').map(|(userinfo, _)| userinfo)
}

/// The message for a URL with credentials in it, with where they belong instead.
fn credentials_refused(instead: &str) -> Fail {
    Fail::Msg(format!("credentials in the URL are refused: they would be stored in the build graph; {instead}"))
}

/// Git URLs must not carry a password or token: they would go into the
/// source identifier, `git.fullurl`, cache keys and logs. A user name alone
/// is fine over SSH (`git@host:repo`, `ssh://git@host/repo`), where it is
/// not a secret; over HTTP(S) a user name is usually a token.
fn check_git_credentials(url: &str) -> R<()> {
    const HTTP_AUTH: &str = "put a token in a build secret and pass its id as auth_token_secret (or an Authorization header value as auth_header_secret), as BuildKit's git auth expects";
    const SSH_AUTH: &str = "SSH remotes authenticate through the SSH agent (mount_ssh_sock), HTTPS remotes through a build secret named by auth_token_secret";
    if !url.contains("://") {
        // SCP form `user@host:path`: a user name, ending at the first '@',
        // before the host's ':'. Anything else without a scheme is read as
        // an HTTPS URL.
        let scp_user = url.split_once('@').filter(|(user, rest)| !user.contains([':', '/']) && rest.contains(':'));
        if scp_user.is_some() {
            return Ok(());
        }
        return match url_userinfo(&format!("https://{url}")) {
            Some(_) => Err(credentials_refused(HTTP_AUTH)),
            None => Ok(()),
        };
    }
    match url_userinfo(url) {
        None => Ok(()),
        Some(userinfo) if url.starts_with("ssh://") => {
            if userinfo.contains(':') {
                Err(credentials_refused(SSH_AUTH))
            } else {
                Ok(())
            }
        }
        Some(_) => Err(credentials_refused(HTTP_AUTH)),
    }
}

/// `CR (U+000D)` and the like, for messages about control characters.
fn char_name(c: char) -> String {
    let name = match c {
        '\r' => "CR ",
        '\n' => "LF ",
        '\0' => "NUL ",
        '\t' => "a tab ",
        ' ' => "a space ",
        _ => return format!("U+{:04X}", u32::from(c)),
    };
    format!("{name}(U+{:04X})", u32::from(c))
}

const HTTP_OPTS: &[&str] = crate::reference::HTTP.names;

/// `bk.http(url, {…})` and `bk.https(url, {…})`
pub(crate) fn bk_http(lua: &Lua, args: MultiValue, function: &'static str) -> mlua::Result<Value> {
    let st = api(lua, function, || {
        let a = Args::new(args);
        let url = req_nonempty(&a.get(0), 1, "url")?;
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(format!("URL '{url}' must start with https:// or http://").into());
        }
        if function == "bk.https" && url.starts_with("http://") {
            return Err(format!("URL '{url}' is plain http: use bk.http for it, or an https:// URL").into());
        }
        let opts = Opts::new(&a.get(1), HTTP_OPTS)?;
        for key in ["username", "password"] {
            if !matches!(opts.raw(key)?, Value::Nil) {
                return Err(format!(
                    "option '{key}' is refused: credentials must not go into the build graph; put an Authorization header value in a build secret and pass its id as auth_header_secret"
                )
                .into());
            }
        }
        if url_userinfo(&url).is_some() {
            return Err(credentials_refused(
                "put an Authorization header value in a build secret and pass its id as auth_header_secret",
            ));
        }
        let checksum = opts.string("checksum")?;
        if let Some(c) = &checksum {
            let ok = c
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.chars().all(|ch| ch.is_ascii_digit() || ('a'..='f').contains(&ch)));
            if !ok {
                return Err(
                    format!("option 'checksum' must be \"sha256:\" and 64 lowercase hex digits, got \"{c}\"").into()
                );
            }
        }
        let headers = opts.string_map("headers")?.unwrap_or_default();
        for (name, value) in &headers {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)) {
                return Err(format!("option 'headers' has an invalid header name '{name}'").into());
            }
            if let Some(c) = value.chars().find(|&c| c.is_control() && c != '\t') {
                return Err(format!(
                    "option 'headers' value for '{name}' contains the control character {} (line breaks and other control characters cannot be sent in an HTTP header)",
                    char_name(c)
                )
                .into());
            }
        }
        let ho = HttpOptions {
            checksum,
            filename: opts.string("filename")?,
            chmod: opts.mode("chmod")?,
            uid: opts.id("uid")?,
            gid: opts.id("gid")?,
            headers,
            auth_header_secret: opts.string("auth_header_secret")?,
            op: op_options(lua)?,
        };
        charge(lua, NODE_BYTES + url.len())?;
        Ok(LState::new(luakit_graph::http(&url, ho)?))
    })?;
    ud(lua, st)
}

// ---------------------------------------------------------------- graph ops

/// `bk.merge(a, b, …)` or `bk.merge({a, b, …})`
pub(crate) fn bk_merge(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.merge", || {
        let a = Args::new(args);
        let (items, listed): (Vec<Value>, bool) = match (a.0.len(), a.0.first()) {
            (1, Some(Value::Table(t))) => {
                (sequence(t).map_err(|e| e.map_msg(|m| format!("the list of states {m}")))?, true)
            }
            _ => (a.0.clone(), false),
        };
        let mut states = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            match req_state(v, i + 1, "state") {
                Ok(s) => states.push(s),
                Err(_) if listed => {
                    return Err(format!("item {} of the list must be a state, got {}", i + 1, type_name(v)).into());
                }
                Err(e) => return Err(e),
            }
        }
        if states.len() < 2 {
            return Err(format!("needs at least two states, got {}", states.len()).into());
        }
        let graph_states: Vec<State> = states.iter().map(|s| s.state.clone()).collect();
        charge(lua, NODE_BYTES + 64 * states.len())?;
        let merged = luakit_graph::merge(&graph_states, op_options(lua)?)?;
        Ok(states[0].derive(merged))
    })?;
    ud(lua, st)
}

/// `bk.diff(lower, upper)`
pub(crate) fn bk_diff(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.diff", || {
        let a = Args::new(args);
        let lower = req_state(&a.get(0), 1, "lower")?;
        let upper = req_state(&a.get(1), 2, "upper")?;
        charge(lua, NODE_BYTES)?;
        Ok(upper.derive(luakit_graph::diff(&lower.state, &upper.state, op_options(lua)?)))
    })?;
    ud(lua, st)
}

// ---------------------------------------------------------------- export

const EXPORT_OPTS: &[&str] = crate::reference::EXPORT.names;

/// `bk.export(state, opts)`
pub(crate) fn bk_export(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    api(lua, "bk.export", || {
        let a = Args::new(args);
        let state = req_state(&a.get(0), 1, "state")?;
        let opts = Opts::new(&a.get(1), EXPORT_OPTS)?;
        let (file, line) = caller(lua).unwrap_or_else(|| ("?".to_string(), 0));
        let target_name = opts.string("target")?;
        if target_name.as_deref() == Some("") {
            return Err(Fail::option("target", "option 'target' must not be empty"));
        }
        let conflict = with_ctx(lua, |c| {
            if c.test_mode { None } else { crate::targets::conflict(&c.exports, target_name.as_deref()) }
        })?;
        if let Some(message) = conflict {
            return Err(message.into());
        }
        let mut eo = ExportOptions {
            entrypoint: command_opt(&opts, "entrypoint")?,
            cmd: command_opt(&opts, "cmd")?,
            env: match opts.raw("env")? {
                Value::Nil => Vec::new(),
                v => env_pairs(&v).map_err(|m| Fail::option("env", option_msg("env", &m)))?,
            },
            workdir: None,
            user: opts.string("user")?,
            expose: match opts.raw("expose")? {
                Value::Nil => Vec::new(),
                v => port_list(&v).map_err(|e| e.at("expose"))?,
            },
            labels: opts.string_map("labels")?.unwrap_or_default(),
            volumes: opts.string_list("volumes")?.unwrap_or_default(),
            stop_signal: match opts.raw("stop_signal")? {
                Value::Nil => None,
                Value::String(s) => Some(text(&s).map_err(|m| Fail::Msg(format!("option 'stop_signal' {m}")))?),
                v => match as_integer(&v) {
                    Some(i) => Some(i.to_string()),
                    None => {
                        return Err(Fail::option(
                            "stop_signal",
                            format!("option 'stop_signal' must be a string, got {}", type_name(&v)),
                        ));
                    }
                },
            },
            healthcheck: match opts.raw("healthcheck")? {
                Value::Nil => None,
                v => Some(healthcheck(&v).map_err(|e| e.at("healthcheck"))?),
            },
            os: opts.string("os")?,
            arch: opts.string("arch")?,
            variant: opts.string("variant")?,
        };
        let workdir_key = match (opts.string("workdir")?, opts.string("cwd")?) {
            (Some(_), Some(_)) => return Err(Fail::option("cwd", "give 'workdir' or its alias 'cwd', not both")),
            (Some(w), None) => {
                eo.workdir = Some(w);
                Some("workdir")
            }
            (None, Some(c)) => {
                eo.workdir = Some(c);
                Some("cwd")
            }
            (None, None) => None,
        };
        // Check the options now, so that a mistake points at this line.
        let target = with_ctx(lua, |c| c.opts.target_platform.clone())?;
        // (The config itself is built once, after evaluation, by `luakit::build`.)
        let target = state.state.meta().platform.clone().unwrap_or(target);
        export_platform(&mut eo, &target)?;
        eo.validate((&target.os, &target.arch, &target.variant)).map_err(|e| {
            use luakit_image_config::ConfigError as E;
            let key = match &e {
                E::InvalidEnvKey { .. } | E::InvalidEnvValue { .. } => "env",
                E::InvalidPort { .. } => "expose",
                E::EmptyVolume => "volumes",
                E::EmptyLabelKey => "labels",
                E::EmptyWorkdir if workdir_key == Some("cwd") => "cwd",
                E::EmptyWorkdir => "workdir",
                E::InvalidStopSignal { .. } => "stop_signal",
                E::InvalidHealthcheck { .. } | E::InvalidDuration { .. } | E::InvalidDurationText { .. } => {
                    "healthcheck"
                }
                E::EmptyPlatform { field } => field,
                _ => return Fail::Msg(e.to_string()),
            };
            Fail::option(key, e.to_string())
        })?;
        with_ctx(lua, |c| c.exports.push(ExportRecord { state, options: eo, file, line, target: target_name }))?;
        Ok(())
    })
}

/// The image config an export makes: the base image's config, the state's
/// env, workdir and user, then the export options (as `luakit build
/// --image-config` writes it, less the layers BuildKit adds).
fn export_config(
    state: &LState,
    eo: &ExportOptions,
    target: &luakit_graph::Platform,
) -> Result<ImageConfig, luakit_image_config::ConfigError> {
    let meta = state.state.meta();
    let platform = meta.platform.as_ref().unwrap_or(target);
    let defaults = StateDefaults { env: meta.env.to_vec(), workdir: meta.dir.clone(), user: meta.user.clone() };
    luakit_image_config::build_config(
        state.base_config.as_deref(),
        &defaults,
        (&platform.os, &platform.arch, &platform.variant),
        eo,
    )
}

/// `bk.exported([target])`, in test files: the image the last `bk.export`
/// made (the last one named `target`, when given), as a table (nil before
/// any such export).
pub(crate) fn bk_exported(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let found = api(lua, "bk.exported", || {
        let a = Args::new(args);
        let name = match a.get(0) {
            Value::Nil => None,
            Value::String(s) => Some(text(&s).map_err(|m| Fail::Msg(format!("argument #1 (target) {m}")))?),
            v => return Err(format!("argument #1 (target) must be a string or nil, got {}", type_name(&v)).into()),
        };
        let (test_mode, record, target) = with_ctx(lua, |c| {
            let record = c
                .exports
                .iter()
                .rev()
                .find(|e| name.is_none() || e.target == name)
                .map(|e| (e.state.clone(), e.options.clone(), e.file.clone(), e.line, e.target.clone()));
            (c.test_mode, record, c.opts.target_platform.clone())
        })?;
        if !test_mode {
            return Err(
                "is only available in test files (luakit test); a build script's bk.export is its result".into()
            );
        }
        let Some((state, options, file, line, target_of)) = record else { return Ok(None) };
        let config = export_config(&state, &options, &target).map_err(|e| Fail::Msg(e.to_string()))?;
        Ok(Some((state, config, file, line, target_of)))
    })?;
    let Some((state, img, file, line, target_of)) = found else { return Ok(Value::Nil) };
    let c = &img.config;
    let t = lua.create_table()?;
    t.set("state", ud(lua, state)?)?;
    t.set("target", target_of)?;
    t.set("file", file)?;
    t.set("line", line)?;
    t.set("entrypoint", lua.create_sequence_from(c.entrypoint.iter().map(String::as_str))?)?;
    t.set("cmd", lua.create_sequence_from(c.cmd.iter().map(String::as_str))?)?;
    let env = lua.create_table()?;
    for entry in &c.env {
        let (k, v) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
        env.set(k, v)?;
    }
    t.set("env", env)?;
    t.set("workdir", c.working_dir.as_str())?;
    t.set("user", c.user.as_str())?;
    t.set("expose", lua.create_sequence_from(c.exposed_ports.iter().map(String::as_str))?)?;
    t.set("labels", lua.create_table_from(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)?;
    t.set("volumes", lua.create_sequence_from(c.volumes.iter().map(String::as_str))?)?;
    t.set("stop_signal", c.stop_signal.as_str())?;
    if let Some(h) = &c.healthcheck {
        let ht = lua.create_table()?;
        ht.set("test", lua.create_sequence_from(h.test.iter().map(String::as_str))?)?;
        for (key, nanos) in [
            ("interval", h.interval),
            ("timeout", h.timeout),
            ("start_period", h.start_period),
            ("start_interval", h.start_interval),
        ] {
            if nanos != 0 {
                let secs = nanos as f64 / 1e9;
                if nanos % 1_000_000_000 == 0 {
                    ht.set(key, nanos / 1_000_000_000)?;
                } else {
                    ht.set(key, secs)?;
                }
            }
        }
        if h.retries != 0 {
            ht.set("retries", h.retries)?;
        }
        t.set("healthcheck", ht)?;
    }
    t.set("os", img.os.as_str())?;
    t.set("arch", img.architecture.as_str())?;
    t.set("variant", img.variant.as_str())?;
    let platform = if img.variant.is_empty() {
        format!("{}/{}", img.os, img.architecture)
    } else {
        format!("{}/{}/{}", img.os, img.architecture, img.variant)
    };
    t.set("platform", platform)?;
    Ok(Value::Table(t))
}

/// Checks `os`, `arch` and `variant` of `bk.export` as `bk.platform` checks
/// a platform (with the target's parts for those not given), and writes the
/// given ones in their canonical spelling (`x86_64` → `amd64`).
fn export_platform(eo: &mut ExportOptions, target: &luakit_graph::Platform) -> R<()> {
    if eo.os.is_none() && eo.arch.is_none() && eo.variant.is_none() {
        return Ok(());
    }
    let os = eo.os.clone().unwrap_or_else(|| target.os.clone());
    let arch = eo.arch.clone().unwrap_or_else(|| target.arch.clone());
    let variant = eo.variant.clone().unwrap_or_default();
    let p = platform_from_parts(&os, &arch, &variant).map_err(|e| {
        let field = if e.contains("unknown operating system") || eo.arch.is_none() && eo.variant.is_none() {
            "os"
        } else if e.contains("unknown architecture") || eo.variant.is_none() {
            "arch"
        } else {
            "variant"
        };
        Fail::Msg(format!("option '{field}': {e}"))
    })?;
    if eo.os.is_some() {
        eo.os = Some(p.os);
    }
    if eo.arch.is_some() {
        eo.arch = Some(p.arch);
    }
    if eo.variant.as_deref().is_some_and(|v| !v.is_empty()) {
        eo.variant = Some(p.variant);
    }
    Ok(())
}

/// An entrypoint or cmd: a list (exec form) or a string (shell form).
fn command_opt(opts: &Opts, key: &str) -> R<Option<Vec<String>>> {
    match opts.raw(key)? {
        Value::Nil => Ok(None),
        Value::String(s) => {
            let command = text(&s).map_err(|m| Fail::option(key, format!("option '{key}' {m}")))?;
            Ok(Some(vec!["/bin/sh".to_string(), "-c".to_string(), command]))
        }
        v @ Value::Table(_) => string_list(&v).map(Some).map_err(|m| Fail::option(key, option_msg(key, &m))),
        v => Err(format!(
            "option '{key}' must be a list of strings (or a string, run by /bin/sh -c), got {}",
            type_name(&v)
        )
        .into()),
    }
}

fn port_list(v: &Value) -> R<Vec<String>> {
    let items = match v {
        Value::Table(t) => sequence(t).map_err(|e| e.map_msg(|m| option_msg("expose", &m)))?,
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let spec = match it {
            Value::String(s) => text(s).map_err(|m| Fail::Msg(format!("option 'expose' item {} {m}", i + 1)))?,
            other => match as_integer(other) {
                Some(p) => p.to_string(),
                None => {
                    return Err(format!(
                        "option 'expose' must list ports such as \"8080/tcp\" or 8080, but item {} is a {}",
                        i + 1,
                        type_name(other)
                    )
                    .into());
                }
            },
        };
        luakit_image_config::expand_port_spec(&spec).map_err(|e| Fail::Msg(e.to_string()))?;
        out.push(spec);
    }
    Ok(out)
}

const HEALTHCHECK_OPTS: &[&str] = crate::reference::HEALTHCHECK.names;

fn healthcheck(v: &Value) -> R<Healthcheck> {
    let wrap = |m: String| Fail::option("healthcheck", option_msg("healthcheck", &m));
    match v {
        Value::Boolean(false) => return Ok(Healthcheck { test: vec!["NONE".to_string()], ..Healthcheck::default() }),
        Value::String(s) if s.as_bytes().eq_ignore_ascii_case(b"none") => {
            return Ok(Healthcheck { test: vec!["NONE".to_string()], ..Healthcheck::default() });
        }
        Value::Table(_) => {}
        other => {
            return Err(wrap(format!(
                "must be a table {{test = …, interval = \"30s\", …}} or \"none\", got {}",
                type_name(other)
            )));
        }
    }
    let opts = Opts::new(v, HEALTHCHECK_OPTS).map_err(|e| e.map_msg(|m| option_msg("healthcheck", &m)))?;
    let test = match opts.raw("test")? {
        Value::Nil => return Err(wrap("needs 'test': a command list or a shell command string".to_string())),
        Value::String(s) => vec!["CMD-SHELL".to_string(), text(&s).map_err(|m| wrap(format!("test {m}")))?],
        t => {
            let list = string_list(&t).map_err(|m| wrap(format!("test {m}")))?;
            match list.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL" | "NONE") => list,
                Some(_) => std::iter::once("CMD".to_string()).chain(list).collect(),
                None => return Err(wrap("test must not be empty".to_string())),
            }
        }
    };
    // A wrong entry of the table points at its own line.
    let wrap_at = |key: &str, m: String| Fail::option(key, option_msg("healthcheck", &m));
    let dur = |key: &str| -> R<Option<Duration>> {
        match opts.raw(key)? {
            Value::Nil => Ok(None),
            Value::String(s) => parse_duration(&shown(&s)).map(Some).map_err(|m| wrap_at(key, format!("{key} {m}"))),
            other => match as_integer(&other) {
                Some(secs) if secs >= 0 => Ok(Some(Duration::from_secs(secs as u64))),
                _ => Err(wrap_at(
                    key,
                    format!(
                        "{key} must be a duration such as \"30s\" or a number of seconds, got {}",
                        type_name(&other)
                    ),
                )),
            },
        }
    };
    let retries = match opts.integer("retries").map_err(|e| e.map_msg(|m| option_msg("healthcheck", &m)))? {
        None => None,
        Some(r) => {
            Some(u32::try_from(r).map_err(|_| wrap_at("retries", format!("retries must be 0 or more, got {r}")))?)
        }
    };
    Ok(Healthcheck {
        test,
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start_period")?,
        start_interval: dur("start_interval")?,
        retries,
    })
}

/// Go's `time.ParseDuration` syntax (`1h30m`, `30s`, `500ms`, `1.5s`), as
/// luakit-image-config reads it, with the message the script sees.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    luakit_image_config::parse_duration(s)
        .map_err(|_| format!("must be a duration such as \"30s\", \"1m30s\" or \"500ms\", got \"{s}\""))
}

// ---------------------------------------------------------------- platforms and args

/// `bk.platform(os, arch, variant)`
pub(crate) fn bk_platform(lua: &Lua, args: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.platform", || {
        let a = Args::new(args);
        if let (Value::String(s), Value::Nil) = (a.get(0), a.get(1)) {
            if s.as_bytes().contains(&b'/') {
                return Ok(LPlatform(platform(&Value::String(s))?));
            }
        }
        let os = req_nonempty(&a.get(0), 1, "os")?;
        let arch = req_nonempty(&a.get(1), 2, "arch")?;
        let variant = match a.get(2) {
            Value::Nil => String::new(),
            v => req_string(&v, 3, "variant")?,
        };
        Ok(LPlatform(platform_from_parts(&os, &arch, &variant)?))
    })
}

/// `bk.arg(name, default)`
pub(crate) fn bk_arg(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    api(lua, "bk.arg", || {
        let a = Args::new(args);
        let name = req_nonempty(&a.get(0), 1, "name")?;
        let given = with_ctx(lua, |c| c.opts.args.get(&name).cloned())?;
        match given {
            Some(v) => Ok(Value::String(lua.create_string(v)?)),
            None => Ok(a.get(1)),
        }
    })
}

pub(crate) fn bk_target_platform(lua: &Lua, _: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.target_platform", || Ok(LPlatform(with_ctx(lua, |c| c.opts.target_platform.clone())?)))
}

pub(crate) fn bk_build_platform(lua: &Lua, _: MultiValue) -> mlua::Result<LPlatform> {
    api(lua, "bk.build_platform", || Ok(LPlatform(with_ctx(lua, |c| c.opts.build_platform.clone())?)))
}

// ---------------------------------------------------------------- mounts

fn mount_ud(lua: &Lua, mount: Mount, source: Option<State>) -> mlua::Result<Value> {
    Ok(Value::UserData(lua.create_userdata(LMount { mount, source })?))
}

/// `bk.cache(dest, {id, sharing, from, selector, readonly})`
pub(crate) fn bk_cache(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let (m, source) = api(lua, "bk.cache", || {
        let a = Args::new(args);
        let dest = req_nonempty(&a.get(0), 1, "dest")?;
        let opts = Opts::new(&a.get(1), CACHE_OPTS)?;
        let id = opts.string("id")?.unwrap_or_else(|| dest.clone());
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        let sharing = match opts.choice("sharing", &["shared", "private", "locked"])?.as_deref() {
            Some("private") => CacheSharing::Private,
            Some("locked") => CacheSharing::Locked,
            _ => CacheSharing::Shared,
        };
        let from = match opts.raw("from")? {
            Value::Nil => None,
            v => Some(
                req_state(&v, 0, "from")
                    .map_err(|_| Fail::Msg(format!("option 'from' must be a state, got {}", type_name(&v))))?,
            ),
        };
        let selector = opts.string("selector")?.unwrap_or_default();
        if !selector.is_empty() && from.is_none() {
            return Err("option 'selector' needs option 'from' (the state whose sub-path seeds the cache)".into());
        }
        let mount = Mount {
            dest,
            kind: MountKind::Cache {
                id,
                sharing,
                source: from.as_ref().and_then(|f| f.state.output().cloned()),
                selector,
                readonly: opts.boolean("readonly")?.unwrap_or(false),
            },
        };
        Ok((mount, from.map(|f| f.state)))
    })?;
    mount_ud(lua, m, source)
}

/// `bk.secret(dest, {id, uid, gid, mode, optional})`
pub(crate) fn bk_secret(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.secret", || {
        let a = Args::new(args);
        let dest = req_nonempty(&a.get(0), 1, "dest")?;
        let opts = Opts::new(&a.get(1), SECRET_OPTS)?;
        let id = match opts.string("id")? {
            Some(id) => id,
            None => dest.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string(),
        };
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        Ok(Mount {
            dest,
            kind: MountKind::Secret {
                id,
                uid: opts.id("uid")?.unwrap_or(0),
                gid: opts.id("gid")?.unwrap_or(0),
                mode: opts.mode("mode")?.unwrap_or(0o400),
                optional: opts.boolean("optional")?.unwrap_or(false),
            },
        })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.ssh({dest, id, uid, gid, mode, optional})`
pub(crate) fn bk_ssh(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.ssh", || {
        let a = Args::new(args);
        if let Value::String(_) = a.get(0) {
            return Err("takes an options table, e.g. bk.ssh({ id = \"default\", dest = \"/run/ssh\" })".into());
        }
        let opts = Opts::new(&a.get(0), SSH_OPTS)?;
        let dest = opts.string("dest")?.unwrap_or_else(|| "/run/ssh".to_string());
        if dest.is_empty() {
            return Err("option 'dest' must not be empty".into());
        }
        let id = opts.string("id")?.unwrap_or_else(|| "default".to_string());
        if id.is_empty() {
            return Err("option 'id' must not be empty".into());
        }
        Ok(Mount {
            dest,
            kind: MountKind::Ssh {
                id,
                uid: opts.id("uid")?.unwrap_or(0),
                gid: opts.id("gid")?.unwrap_or(0),
                mode: opts.mode("mode")?.unwrap_or(0o600),
                optional: opts.boolean("optional")?.unwrap_or(false),
            },
        })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.tmpfs(dest, {size})`
pub(crate) fn bk_tmpfs(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let m = api(lua, "bk.tmpfs", || {
        let a = Args::new(args);
        let dest = req_nonempty(&a.get(0), 1, "dest")?;
        let opts = Opts::new(&a.get(1), TMPFS_OPTS)?;
        let size = opts.integer("size")?.unwrap_or(0);
        if size < 0 {
            return Err(format!("option 'size' must be 0 or more bytes, got {size}").into());
        }
        Ok(Mount { dest, kind: MountKind::Tmpfs { size } })
    })?;
    mount_ud(lua, m, None)
}

/// `bk.bind(state, dest, {selector, readonly, output})`
pub(crate) fn bk_bind(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let (m, source) = api(lua, "bk.bind", || {
        let a = Args::new(args);
        let from = req_state(&a.get(0), 1, "state")?;
        let dest = req_nonempty(&a.get(1), 2, "dest")?;
        let opts = Opts::new(&a.get(2), BIND_OPTS)?;
        let readonly = opts.boolean("readonly")?.unwrap_or(true);
        let output = opts.boolean("output")?;
        if readonly && output == Some(true) {
            return Err("option 'output = true' needs 'readonly = false' (a read-only mount has no output)".into());
        }
        let mount = Mount {
            dest,
            kind: MountKind::Bind {
                source: from.state.output().cloned(),
                selector: opts.string("selector")?.unwrap_or_default(),
                readonly,
                no_output: !readonly && output == Some(false),
            },
        };
        Ok((mount, from.state))
    })?;
    mount_ud(lua, m, Some(source))
}

// ---------------------------------------------------------------- state methods

const RUN_OPTS: &[&str] = crate::reference::RUN.names;

/// `st:run(cmd, opts)`
pub(crate) fn st_run(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.run", || {
        let a = Args::new(args);
        let this = a.this("run")?;
        let argv = match a.get(1) {
            Value::String(s) => {
                let cmd = text(&s).map_err(|m| Fail::Msg(format!("argument 1 (command) {m}")))?;
                if cmd.trim().is_empty() {
                    return Err("argument 1 (command) must not be empty".into());
                }
                vec!["/bin/sh".to_string(), "-c".to_string(), cmd]
            }
            v @ Value::Table(_) => {
                let list = string_list(&v).map_err(|m| Fail::Msg(format!("argument 1 (command) {m}")))?;
                if list.is_empty() {
                    return Err("argument 1 (command) must not be an empty list".into());
                }
                list
            }
            Value::Nil => {
                return Err(
                    "argument 1 (command) is missing: expected a string (run by /bin/sh -c) or a list of arguments"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "argument 1 (command) must be a string (run by /bin/sh -c) or a list of arguments, got {}",
                    type_name(&other)
                )
                .into());
            }
        };
        let opts = Opts::new(&a.get(2), RUN_OPTS)?;
        let mut ro = RunOptions { args: argv, ..RunOptions::default() };
        ro.env = match opts.raw("env")? {
            Value::Nil => Vec::new(),
            v => env_pairs(&v).map_err(|m| Fail::option("env", option_msg("env", &m)))?,
        };
        ro.cwd = opts.string("cwd")?;
        if ro.cwd.as_deref() == Some("") {
            return Err(Fail::option("cwd", "option 'cwd' must not be empty"));
        }
        ro.user = opts.string("user")?;
        ro.hostname = opts.string("hostname")?;
        if let Some(h) = &ro.hostname {
            check_host_name(h).map_err(|m| Fail::Msg(format!("option 'hostname' {m}")))?;
        }
        ro.network = match opts.choice("network", &["sandbox", "host", "none"])?.as_deref() {
            Some("host") => Some(NetMode::Host),
            Some("none") => Some(NetMode::None),
            Some(_) => Some(NetMode::Sandbox),
            None => None,
        };
        ro.security = match opts.choice("security", &["sandbox", "insecure"])?.as_deref() {
            Some("insecure") => Some(SecurityMode::Insecure),
            Some(_) => Some(SecurityMode::Sandbox),
            None => None,
        };
        ro.valid_exit_codes = match opts.raw("valid_exit_codes")? {
            Value::Nil => None,
            v => Some(exit_codes(&v).map_err(|e| e.at("valid_exit_codes"))?),
        };
        ro.extra_hosts = match opts.raw("extra_hosts")? {
            Value::Nil => Vec::new(),
            v => extra_hosts(&v).map_err(|e| e.at("extra_hosts"))?,
        };
        ro.secret_env = match opts.raw("secret_env")? {
            Value::Nil => Vec::new(),
            v => secret_env(&v).map_err(|e| e.at("secret_env"))?,
        };
        ro.readonly_root = opts.boolean("readonly_root")?.unwrap_or(false);
        ro.ulimits = match opts.raw("ulimits")? {
            Value::Nil => Vec::new(),
            v => ulimits(&v).map_err(|e| e.at("ulimits"))?,
        };
        let cwd = resolve_dir(&this.state.meta().dir, ro.cwd.as_deref().unwrap_or("."));
        let mut writable_binds: Vec<(String, State)> = Vec::new();
        match opts.raw("mounts")? {
            Value::Nil => {}
            Value::Table(t) => {
                let items = sequence(&t).map_err(|e| e.map_msg(|m| option_msg("mounts", &m)).at("mounts"))?;
                for (i, it) in items.iter().enumerate() {
                    let m = match it {
                        Value::UserData(u) => u.borrow::<LMount>().ok().map(|m| m.clone()),
                        _ => None,
                    };
                    let Some(m) = m else {
                        return Err(Fail::option(
                            "mounts",
                            format!(
                                "option 'mounts' must list mounts (bk.cache, bk.secret, bk.ssh, bk.tmpfs, bk.bind), but item {} is a {}",
                                i + 1,
                                type_name(it)
                            ),
                        ));
                    };
                    if let (MountKind::Bind { readonly: false, .. }, Some(src)) = (&m.mount.kind, &m.source) {
                        writable_binds.push((resolve_dir(&cwd, &m.mount.dest), src.clone()));
                    }
                    ro.mounts.push(m.mount);
                }
            }
            Value::UserData(u) if u.is::<LMount>() => {
                let made_by = u.borrow::<LMount>().map(|m| mount_function(&m.mount.kind)).unwrap_or("bk.cache");
                let args = if made_by == "bk.ssh" { "" } else { "…" };
                return Err(Fail::option(
                    "mounts",
                    format!(
                        "option 'mounts' must be a list of mounts, got a single mount: wrap it in {{ }}, as in mounts = {{ {made_by}({args}) }}"
                    ),
                ));
            }
            other => {
                return Err(Fail::option(
                    "mounts",
                    format!("option 'mounts' must be a list of mounts, got {}", type_name(&other)),
                ));
            }
        }
        charge(
            lua,
            NODE_BYTES
                + size_of(&ro.args)
                + ro.env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                + this.state.meta().env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
                + 128 * ro.mounts.len(),
        )?;
        ro.op = op_options(lua)?;
        let mut exec = this.state.run(ro)?;
        for (dest, src) in &writable_binds {
            exec = exec.with_mount_meta(dest, src);
        }
        let root = exec.root().clone();
        Ok(LState { state: root, exec: Some(Arc::new(ExecInfo { exec, cwd })), base_config: this.base_config })
    })?;
    ud(lua, st)
}

/// The `bk` function that makes a mount of this kind.
fn mount_function(kind: &MountKind) -> &'static str {
    match kind {
        MountKind::Cache { .. } => "bk.cache",
        MountKind::Secret { .. } => "bk.secret",
        MountKind::Ssh { .. } => "bk.ssh",
        MountKind::Tmpfs { .. } => "bk.tmpfs",
        MountKind::Bind { .. } => "bk.bind",
    }
}

/// An env given as `{K = "v"}` (sorted by key) or `{"K=v", …}` (in order).
pub(crate) fn env_pairs(v: &Value) -> Result<Vec<(String, String)>, String> {
    let Value::Table(t) = v else {
        return Err(format!("must be a table {{NAME = \"value\"}} or a list {{\"NAME=value\"}}, got {}", type_name(v)));
    };
    if t.raw_len() > 0 {
        let items = sequence(t).map_err(|e| match e {
            Fail::Msg(m) | Fail::Option { message: m, .. } => {
                format!("{m} (use either {{NAME = \"value\"}} or {{\"NAME=value\"}}, not both)")
            }
            Fail::Lua(e) => e.to_string(),
        })?;
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let Value::String(s) = it else {
                return Err(format!("entry {} must be a string \"NAME=value\", got {}", i + 1, type_name(it)));
            };
            let s = text(s).map_err(|m| format!("entry {} {m}", i + 1))?;
            match s.split_once('=') {
                Some((k, val)) if !k.is_empty() => out.push((k.to_string(), val.to_string())),
                _ => return Err(format!("entry {} '{s}' must look like \"NAME=value\"", i + 1)),
            }
        }
        return Ok(out);
    }
    let map = string_map(v)?;
    for k in map.keys() {
        if k.is_empty() || k.contains('=') {
            return Err(format!("has an invalid variable name '{k}'"));
        }
    }
    Ok(map.into_iter().collect())
}

fn exit_codes(v: &Value) -> R<Vec<i32>> {
    let items = match v {
        Value::Table(t) => sequence(t).map_err(|e| e.map_msg(|m| option_msg("valid_exit_codes", &m)))?,
        other => vec![other.clone()],
    };
    if items.is_empty() {
        return Err("option 'valid_exit_codes' must not be empty".into());
    }
    items
        .iter()
        .map(|it| match as_integer(it) {
            Some(i @ 0..=255) => Ok(i as i32),
            Some(i) => Err(Fail::Msg(format!("option 'valid_exit_codes' must list exit codes from 0 to 255, got {i}"))),
            None => Err(Fail::Msg(format!(
                "option 'valid_exit_codes' must be an exit code or a list of them, got {}",
                type_name(it)
            ))),
        })
        .collect()
}

/// A host name for `hostname` or `extra_hosts`: letters, digits, '.', '-'
/// and '_' (it is written into the container's /etc/hostname and
/// /etc/hosts, where a space or a line break would add entries).
fn check_host_name(h: &str) -> Result<(), String> {
    if h.is_empty() {
        return Err("must not be empty".to_string());
    }
    match h.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
        Some(c) if c.is_control() || c.is_whitespace() => Err(format!(
            "'{}' contains {}: a host name has letters, digits, '.', '-' and '_' only",
            h.escape_debug(),
            char_name(c)
        )),
        Some(c) => Err(format!("'{h}' contains '{c}': a host name has letters, digits, '.', '-' and '_' only")),
        None => Ok(()),
    }
}

fn extra_hosts(v: &Value) -> R<Vec<HostIp>> {
    let map = string_map(v).map_err(|m| Fail::Msg(option_msg("extra_hosts", &m)))?;
    let mut out = Vec::new();
    for (host, ip) in map {
        if host.is_empty() {
            return Err("option 'extra_hosts' has an empty host name".into());
        }
        check_host_name(&host).map_err(|m| Fail::Msg(format!("option 'extra_hosts' host name {m}")))?;
        if ip.parse::<IpAddr>().is_err() {
            return Err(format!("option 'extra_hosts': '{ip}' (for '{host}') is not an IP address").into());
        }
        out.push(HostIp { host, ip });
    }
    Ok(out)
}

fn secret_env(v: &Value) -> R<Vec<SecretEnv>> {
    let Value::Table(t) = v else {
        return Err(format!("option 'secret_env' must be a table {{VAR = \"secret-id\"}}, got {}", type_name(v)).into());
    };
    let mut entries: BTreeMap<String, SecretEnv> = BTreeMap::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, val) = pair?;
        let Value::String(k) = k else {
            return Err(format!(
                "option 'secret_env' must be a table {{VAR = \"secret-id\"}}, but has a {} key",
                type_name(&k)
            )
            .into());
        };
        let name = text(&k).map_err(|m| {
            Fail::Msg(format!("option 'secret_env' has a variable name '{}' that {m}", shown(&k).escape_debug()))
        })?;
        if name.is_empty() || name.contains('=') {
            return Err(format!("option 'secret_env' has an invalid variable name '{name}'").into());
        }
        let entry = match &val {
            Value::String(id) => SecretEnv {
                id: text(id).map_err(|m| Fail::Msg(format!("option 'secret_env' value for '{name}' {m}")))?,
                name: name.clone(),
                optional: false,
            },
            Value::Table(_) => {
                let entry = |e: Fail| match e {
                    Fail::Msg(m) => Fail::Msg(format!("option 'secret_env' entry '{name}': {m}")),
                    other => other,
                };
                let o = Opts::new(&val, &["id", "optional"]).map_err(entry)?;
                SecretEnv {
                    id: o.string("id").map_err(entry)?.unwrap_or_else(|| name.clone()),
                    name: name.clone(),
                    optional: o.boolean("optional").map_err(entry)?.unwrap_or(false),
                }
            }
            other => {
                return Err(format!(
                    "option 'secret_env' value for '{name}' must be a secret id or {{id = …, optional = …}}, got {}",
                    type_name(other)
                )
                .into());
            }
        };
        if entry.id.is_empty() {
            return Err(format!("option 'secret_env' entry '{name}' has an empty secret id").into());
        }
        entries.insert(name, entry);
    }
    Ok(entries.into_values().collect())
}

const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

fn ulimits(v: &Value) -> R<Vec<Ulimit>> {
    let Value::Table(t) = v else {
        return Err(format!("option 'ulimits' must be a table {{nofile = 1024}}, got {}", type_name(v)).into());
    };
    let mut out: BTreeMap<String, Ulimit> = BTreeMap::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, val) = pair?;
        let Value::String(k) = k else {
            return Err(
                format!("option 'ulimits' must be a table {{nofile = 1024}}, but has a {} key", type_name(&k)).into()
            );
        };
        let name = shown(&k);
        if !ULIMIT_NAMES.contains(&name.as_str()) {
            return Err(format!("option 'ulimits': unknown limit '{name}'{}", did_you_mean(&name, ULIMIT_NAMES)).into());
        }
        let (soft, hard) = match &val {
            Value::Table(_) => {
                let o = Opts::new(&val, &["soft", "hard"])?;
                let soft = o.integer("soft")?;
                let hard = o.integer("hard")?;
                match (soft, hard) {
                    (Some(s), Some(h)) => (s, h),
                    (Some(s), None) => (s, s),
                    (None, Some(h)) => (h, h),
                    (None, None) => {
                        return Err(format!("option 'ulimits' entry '{name}' needs soft and/or hard").into());
                    }
                }
            }
            other => match as_integer(other) {
                Some(n) => (n, n),
                None => {
                    return Err(format!(
                        "option 'ulimits' value for '{name}' must be a number or {{soft = …, hard = …}}, got {}",
                        type_name(other)
                    )
                    .into());
                }
            },
        };
        for (which, n) in [("soft", soft), ("hard", hard)] {
            if n < -1 {
                return Err(format!(
                    "option 'ulimits' entry '{name}': the {which} limit must be 0 or more (or -1 for unlimited), got {n}"
                )
                .into());
            }
        }
        // -1 is unlimited: above every number.
        let above = |a: i64, b: i64| b != -1 && (a == -1 || a > b);
        if above(soft, hard) {
            let shown = |n: i64| if n == -1 { "-1 (unlimited)".to_string() } else { n.to_string() };
            return Err(format!(
                "option 'ulimits' entry '{name}': the soft limit {} is above the hard limit {}",
                shown(soft),
                shown(hard)
            )
            .into());
        }
        out.insert(name.clone(), Ulimit { name, soft, hard });
    }
    Ok(out.into_values().collect())
}

const COPY_OPTS: &[&str] = crate::reference::COPY.names;

/// `st:copy(from, src, dest, opts)`
pub(crate) fn st_copy(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.copy", || {
        let a = Args::new(args);
        let this = a.this("copy")?;
        let from = req_state(&a.get(1), 1, "from")?;
        let src = req_nonempty(&a.get(2), 2, "src")?;
        let dest = req_nonempty(&a.get(3), 3, "dest")?;
        let opts = Opts::new(&a.get(4), COPY_OPTS)?;
        let d = CopyOptions::default();
        let co = CopyOptions {
            owner: opts.owner("owner")?,
            mode: opts.mode("mode")?,
            follow_symlink: opts.boolean("follow_symlink")?.unwrap_or(d.follow_symlink),
            copy_dir_contents: opts.boolean("copy_dir_contents")?.unwrap_or(d.copy_dir_contents),
            attempt_unpack_docker_compatibility: opts
                .boolean("attempt_unpack")?
                .unwrap_or(d.attempt_unpack_docker_compatibility),
            create_dest_path: opts.boolean("create_dest_path")?.unwrap_or(d.create_dest_path),
            allow_wildcard: opts.boolean("allow_wildcard")?.unwrap_or(d.allow_wildcard),
            allow_empty_wildcard: opts.boolean("allow_empty_wildcard")?.unwrap_or(d.allow_empty_wildcard),
            include_patterns: opts.string_list("include")?.unwrap_or_default(),
            exclude_patterns: opts.string_list("exclude")?.unwrap_or_default(),
            ..d
        };
        charge(lua, NODE_BYTES + src.len() + dest.len())?;
        let op = op_options(lua)?;
        Ok(this.derive(this.state.copy(&from.state, &src, &dest, co, op)))
    })?;
    ud(lua, st)
}

/// `st:mkdir(path, {mode, make_parents, owner})`
pub(crate) fn st_mkdir(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.mkdir", || {
        let a = Args::new(args);
        let this = a.this("mkdir")?;
        let path = req_nonempty(&a.get(1), 1, "path")?;
        let opts = Opts::new(&a.get(2), MKDIR_OPTS)?;
        let mode = opts.mode("mode")?.unwrap_or(0o755);
        let parents = opts.boolean("make_parents")?.unwrap_or(true);
        let owner = opts.owner("owner")?;
        charge(lua, NODE_BYTES + path.len())?;
        Ok(this.derive(this.state.mkdir(&path, mode, parents, owner, op_options(lua)?)))
    })?;
    ud(lua, st)
}

/// `st:mkfile(path, data, {mode, owner})`
pub(crate) fn st_mkfile(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.mkfile", || {
        let a = Args::new(args);
        let this = a.this("mkfile")?;
        let path = req_nonempty(&a.get(1), 1, "path")?;
        let data = match a.get(2) {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Nil => {
                return Err("argument 2 (data) is missing: expected a string (use \"\" for an empty file)".into());
            }
            other => return Err(format!("argument 2 (data) must be a string, got {}", type_name(&other)).into()),
        };
        let opts = Opts::new(&a.get(3), MKFILE_OPTS)?;
        let mode = opts.mode("mode")?.unwrap_or(0o644);
        let owner: Option<Chown> = opts.owner("owner")?;
        charge(lua, NODE_BYTES + path.len() + data.len())?;
        Ok(this.derive(this.state.mkfile(&path, mode, data, owner, op_options(lua)?)))
    })?;
    ud(lua, st)
}

/// `st:rm(path, {allow_not_found, allow_wildcard})`
pub(crate) fn st_rm(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.rm", || {
        let a = Args::new(args);
        let this = a.this("rm")?;
        let path = req_nonempty(&a.get(1), 1, "path")?;
        let opts = Opts::new(&a.get(2), RM_OPTS)?;
        let not_found = opts.boolean("allow_not_found")?.unwrap_or(false);
        let wildcard = opts.boolean("allow_wildcard")?.unwrap_or(false);
        charge(lua, NODE_BYTES + path.len())?;
        Ok(this.derive(this.state.rm(&path, not_found, wildcard, op_options(lua)?)))
    })?;
    ud(lua, st)
}

/// `st:symlink(oldpath, newpath, {owner})`
pub(crate) fn st_symlink(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.symlink", || {
        let a = Args::new(args);
        let this = a.this("symlink")?;
        let old = req_nonempty(&a.get(1), 1, "oldpath")?;
        let new = req_nonempty(&a.get(2), 2, "newpath")?;
        let opts = Opts::new(&a.get(3), SYMLINK_OPTS)?;
        let owner = opts.owner("owner")?;
        charge(lua, NODE_BYTES + old.len() + new.len())?;
        Ok(this.derive(this.state.symlink(&old, &new, owner, op_options(lua)?)))
    })?;
    ud(lua, st)
}

/// `st:with_env(key, value)` or `st:with_env({K = "v"})`
pub(crate) fn st_with_env(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_env", || {
        let a = Args::new(args);
        let this = a.this("with_env")?;
        let pairs = match (a.get(1), a.get(2)) {
            (t @ Value::Table(_), Value::Nil) => env_pairs(&t).map_err(|m| Fail::Msg(format!("argument 1 {m}")))?,
            (Value::Table(_), other) => {
                return Err(
                    format!("takes a table or a key and a value, not a table and a {}", type_name(&other)).into()
                );
            }
            (k, v) => {
                let key = req_nonempty(&k, 1, "key")?;
                if key.contains('=') {
                    return Err(format!("argument 1 (key) '{key}' must not contain '='").into());
                }
                let value = match v {
                    Value::String(s) => text(&s).map_err(|m| Fail::Msg(format!("argument 2 (value) {m}")))?,
                    Value::Nil => return Err("argument 2 (value) is missing: expected a string".into()),
                    other => {
                        return Err(format!("argument 2 (value) must be a string, got {}", type_name(&other)).into());
                    }
                };
                vec![(key, value)]
            }
        };
        let mut state = this.state.clone();
        for (k, v) in &pairs {
            state = state.with_env(k, v);
        }
        Ok(this.derive(state))
    })?;
    ud(lua, st)
}

/// `st:with_workdir(path)`
pub(crate) fn st_with_workdir(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_workdir", || {
        let a = Args::new(args);
        let this = a.this("with_workdir")?;
        let dir = req_nonempty(&a.get(1), 1, "path")?;
        Ok(this.derive(this.state.with_dir(&dir)))
    })?;
    ud(lua, st)
}

/// `st:with_user(user)`
pub(crate) fn st_with_user(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_user", || {
        let a = Args::new(args);
        let this = a.this("with_user")?;
        let user = req_nonempty(&a.get(1), 1, "user")?;
        Ok(this.derive(this.state.with_user(&user)))
    })?;
    ud(lua, st)
}

/// `st:with_metadata({description, progress_group, ignore_cache})`
pub(crate) fn st_with_metadata(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.with_metadata", || {
        let a = Args::new(args);
        let this = a.this("with_metadata")?;
        if matches!(a.get(1), Value::Nil) {
            return Err("argument 1 (metadata) is missing: expected a table {description = …, progress_group = …, ignore_cache = …}".into());
        }
        let opts = Opts::new(&a.get(1), METADATA_OPTS)?;
        let description = opts.string("description")?;
        let group = opts.string("progress_group")?;
        let ignore = opts.boolean("ignore_cache")?;
        if this.state.is_scratch() {
            return Err("scratch has no operation to attach metadata to".into());
        }
        let apply = |m: &mut luakit_graph::OpMetadata| {
            if let Some(d) = description {
                m.description.insert("llb.customname".to_string(), d);
            }
            if let Some(g) = group {
                m.progress_group = Some(ProgressGroup { id: g.clone(), name: g, weak: false });
            }
            if let Some(i) = ignore {
                m.ignore_cache = i;
            }
        };
        // A run result stays one: its mount outputs follow the renamed exec.
        if let Some(info) = &this.exec {
            if this.state.output().is_some_and(|o| Arc::ptr_eq(&o.node, info.exec.node())) {
                let exec = info.exec.with_op_metadata(apply);
                let state = this.state.with_output(exec.root().output().cloned());
                let mut out = this.derive(state);
                out.exec = Some(Arc::new(ExecInfo { exec, cwd: info.cwd.clone() }));
                return Ok(out);
            }
        }
        let state = this.state.with_op_metadata(apply)?;
        Ok(this.derive(state))
    })?;
    ud(lua, st)
}

/// `run_result:output(dest)`
pub(crate) fn st_output(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.output", || {
        let a = Args::new(args);
        let this = a.this("output")?;
        let dest = req_nonempty(&a.get(1), 1, "dest")?;
        let Some(info) = &this.exec else {
            return Err(
                "only the result of a run has mount outputs (call it on what st:run(…) returned, before any other method)"
                    .into(),
            );
        };
        let dest = resolve_dir(&info.cwd, &dest);
        let state = info.exec.mount_output(&dest)?;
        Ok(LState::new(state))
    })?;
    ud(lua, st)
}

/// `st:get_env(key)`: the value of an environment variable of the state, or nil.
pub(crate) fn st_get_env(lua: &Lua, args: MultiValue) -> mlua::Result<Option<String>> {
    api(lua, "bk.get_env", || {
        let a = Args::new(args);
        let this = a.this("get_env")?;
        let key = req_nonempty(&a.get(1), 1, "key")?;
        Ok(this.state.meta().env.get(&key).map(str::to_string))
    })
}

/// `st:get_workdir()`
pub(crate) fn st_get_workdir(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    api(lua, "bk.get_workdir", || Ok(Args::new(args).this("get_workdir")?.state.meta().dir.clone()))
}

/// `st:get_user()`
pub(crate) fn st_get_user(lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    api(lua, "bk.get_user", || Ok(Args::new(args).this("get_user")?.state.meta().user.clone()))
}

const CACHE_OPTS: &[&str] = crate::reference::CACHE.names;
const SECRET_OPTS: &[&str] = crate::reference::SECRET.names;
const SSH_OPTS: &[&str] = crate::reference::SSH.names;
const TMPFS_OPTS: &[&str] = crate::reference::TMPFS.names;
const BIND_OPTS: &[&str] = crate::reference::BIND.names;
const MKDIR_OPTS: &[&str] = crate::reference::MKDIR.names;
const MKFILE_OPTS: &[&str] = crate::reference::MKFILE.names;
const RM_OPTS: &[&str] = crate::reference::RM.names;
const SYMLINK_OPTS: &[&str] = crate::reference::SYMLINK.names;
const METADATA_OPTS: &[&str] = crate::reference::METADATA.names;

/// Every options table of the API, by the name a script writer knows the
/// function by (the Dockerfile words table is checked against these).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const OPTION_SETS: &[(&str, &[&str])] = &[
    ("bk.image", IMAGE_OPTS),
    ("bk.local_", LOCAL_OPTS),
    ("bk.git", GIT_OPTS),
    ("bk.http", HTTP_OPTS),
    ("st:run", RUN_OPTS),
    ("st:copy", COPY_OPTS),
    ("st:mkdir", MKDIR_OPTS),
    ("st:mkfile", MKFILE_OPTS),
    ("st:rm", RM_OPTS),
    ("st:symlink", SYMLINK_OPTS),
    ("st:with_metadata", METADATA_OPTS),
    ("bk.cache", CACHE_OPTS),
    ("bk.secret", SECRET_OPTS),
    ("bk.ssh", SSH_OPTS),
    ("bk.tmpfs", TMPFS_OPTS),
    ("bk.bind", BIND_OPTS),
    ("bk.export", EXPORT_OPTS),
    ("healthcheck", HEALTHCHECK_OPTS),
];

/// Names of `bk` functions, for "did you mean".
pub(crate) const BK_FUNCTIONS: &[&str] = &[
    "image",
    "scratch",
    "local_",
    "git",
    "http",
    "https",
    "merge",
    "diff",
    "export",
    "exported",
    "platform",
    "arg",
    "target_platform",
    "build_platform",
    "cache",
    "secret",
    "ssh",
    "tmpfs",
    "bind",
];

/// Builds the `bk` table.
pub(crate) fn bk_table(lua: &Lua) -> mlua::Result<Table> {
    let bk = lua.create_table()?;
    bk.set("image", lua.create_function(bk_image)?)?;
    bk.set("scratch", lua.create_function(bk_scratch)?)?;
    let local = lua.create_function(bk_local)?;
    bk.set("local_", local.clone())?;
    bk.set("local", local)?;
    bk.set("git", lua.create_function(bk_git)?)?;
    bk.set("http", lua.create_function(|lua, args| bk_http(lua, args, "bk.http"))?)?;
    bk.set("https", lua.create_function(|lua, args| bk_http(lua, args, "bk.https"))?)?;
    bk.set("merge", lua.create_function(bk_merge)?)?;
    bk.set("diff", lua.create_function(bk_diff)?)?;
    bk.set("export", lua.create_function(bk_export)?)?;
    bk.set("exported", lua.create_function(bk_exported)?)?;
    bk.set("platform", lua.create_function(bk_platform)?)?;
    bk.set("arg", lua.create_function(bk_arg)?)?;
    bk.set("target_platform", lua.create_function(bk_target_platform)?)?;
    bk.set("build_platform", lua.create_function(bk_build_platform)?)?;
    bk.set("cache", lua.create_function(bk_cache)?)?;
    bk.set("secret", lua.create_function(bk_secret)?)?;
    bk.set("ssh", lua.create_function(bk_ssh)?)?;
    bk.set("tmpfs", lua.create_function(bk_tmpfs)?)?;
    bk.set("bind", lua.create_function(bk_bind)?)?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_, key): (Value, Value)| -> mlua::Result<Value> {
            let key = match &key {
                Value::String(s) => shown(s),
                Value::Integer(i) => format!("[{i}]"),
                other => format!("[{}]", type_name(other)),
            };
            let hint = match crate::opts::suggest(&key, BK_FUNCTIONS) {
                Some(k) => format!(" (did you mean bk.{k}?)"),
                None => String::new(),
            };
            let name = if key.starts_with('[') { format!("bk{key}") } else { format!("bk.{key}") };
            Err(crate::ctx::api_error(lua, &name, format!("there is no such function in the bk API{hint}")))
        })?,
    )?;
    mt.set("__metatable", false)?;
    bk.set_metatable(Some(mt))?;
    read_only(lua, bk)
}

/// The table scripts see as `bk`: reads go to `functions`, writes are
/// refused (a script that replaced or removed `bk.image` would break every
/// module that uses it, and the error would point somewhere else), and
/// `pairs` lists the functions in name order.
fn read_only(lua: &Lua, functions: Table) -> mlua::Result<Table> {
    let proxy = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set("__index", functions.clone())?;
    mt.set(
        "__newindex",
        lua.create_function(|lua, (_, key, _): (Value, Value, Value)| -> mlua::Result<()> {
            let name = match &key {
                Value::String(s) => format!("bk.{}", shown(s)),
                Value::Integer(i) => format!("bk[{i}]"),
                other => format!("bk[{}]", type_name(other)),
            };
            Err(crate::ctx::api_error(
                lua,
                &name,
                "the bk table is read-only: its functions cannot be replaced, removed or added to (keep your own helpers in a local table or a module)".to_string(),
            ))
        })?,
    )?;
    let mut names: Vec<String> = Vec::new();
    for pair in functions.pairs::<String, Value>() {
        names.push(pair?.0);
    }
    names.sort();
    mt.set(
        "__pairs",
        lua.create_function(move |lua, _: Value| {
            let (functions, names) = (functions.clone(), names.clone());
            let next = lua.create_function(move |lua, (_, key): (Value, Option<String>)| {
                let i = match key {
                    None => 0,
                    Some(k) => names.iter().position(|n| *n == k).map_or(names.len(), |i| i + 1),
                };
                match names.get(i) {
                    Some(n) => Ok((Value::String(lua.create_string(n)?), functions.raw_get::<Value>(n.as_str())?)),
                    None => Ok((Value::Nil, Value::Nil)),
                }
            })?;
            Ok((next, Value::Nil, Value::Nil))
        })?,
    )?;
    mt.set("__metatable", false)?;
    proxy.set_metatable(Some(mt))?;
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("s").is_err());
    }
}
