//! Source functions: `bk.image`, `bk.scratch`, `bk.local_`, `bk.git`,
//! `bk.http`/`bk.https`, with their option checks (credentials in URLs refused).

use std::sync::Arc;

use luakit_graph::{GitOptions, HttpOptions, ImageOptions, LocalOptions, ResolveMode, State};
use mlua::{Lua, MultiValue, Value};

use crate::ctx::{api, caller, charge, off_the_clock, op_options, with_ctx};
use crate::opts::{Fail, Opts, R};
use crate::userdata::LState;

use super::{Args, NODE_BYTES, req_nonempty, req_string, size_of, ud};

pub(super) const IMAGE_OPTS: &[&str] = crate::reference::IMAGE.names;

/// `bk.image(ref, {platform, resolve, resolve_digest})`
pub(crate) fn bk_image(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.image", || {
        let a = Args::new(args);
        let reference = req_string(a.get(0), 1, "reference")?;
        let opts = Opts::new(a.get(1), IMAGE_OPTS)?;
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

pub(super) const LOCAL_OPTS: &[&str] = crate::reference::LOCAL.names;

/// `bk.local_(name, {include, exclude, shared_key_hint, follow_paths})`
pub(crate) fn bk_local(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.local_", || {
        let a = Args::new(args);
        let name = req_nonempty(a.get(0), 1, "name")?;
        let opts = Opts::new(a.get(1), LOCAL_OPTS)?;
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

pub(super) const GIT_OPTS: &[&str] = crate::reference::GIT.names;

/// `bk.git(url, {ref, keep_git_dir, subdir, auth_token_secret, auth_header_secret, known_ssh_hosts, mount_ssh_sock})`
pub(crate) fn bk_git(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.git", || {
        let a = Args::new(args);
        let url = req_nonempty(a.get(0), 1, "url")?;
        check_git_credentials(&url)?;
        let opts = Opts::new(a.get(1), GIT_OPTS)?;
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
pub(super) fn char_name(c: char) -> String {
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

pub(super) const HTTP_OPTS: &[&str] = crate::reference::HTTP.names;

/// `bk.http(url, {…})` and `bk.https(url, {…})`
pub(crate) fn bk_http(lua: &Lua, args: MultiValue, function: &'static str) -> mlua::Result<Value> {
    let st = api(lua, function, || {
        let a = Args::new(args);
        let url = req_nonempty(a.get(0), 1, "url")?;
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(format!("URL '{url}' must start with https:// or http://").into());
        }
        if function == "bk.https" && url.starts_with("http://") {
            return Err(format!("URL '{url}' is plain http: use bk.http for it, or an https:// URL").into());
        }
        let opts = Opts::new(a.get(1), HTTP_OPTS)?;
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
