//! `st:run` and its options: command, env, mounts, network/security, exit
//! codes, extra hosts, secret env, ulimits.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use luakit_graph::state::resolve_dir;
use luakit_graph::{HostIp, MountKind, NetMode, RunOptions, SecretEnv, SecurityMode, State, Ulimit};
use mlua::{Lua, MultiValue, Value};

use crate::ctx::{api, charged_op_options};
use crate::opts::{
    Fail, Opts, R, as_integer, did_you_mean, option_msg, sequence, shown, string_list, string_map, string_pairs, text,
    type_name,
};
use crate::raw::Running;
use crate::userdata::{ExecInfo, LMount, LState};

use super::sources::char_name;
use super::{Args, NODE_BYTES, size_of, ud};

pub(super) const RUN_OPTS: &[&str] = crate::reference::RUN.names;

/// `st:run(cmd, opts)`
pub(crate) fn st_run(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    let st = api(lua, "bk.run", || {
        let a = Args::new(args);
        let this = a.this("run")?;
        let argv = match a.get(1) {
            Value::String(s) => {
                let cmd = text(s).map_err(|m| Fail::Msg(format!("argument 1 (command) {m}")))?;
                if cmd.trim().is_empty() {
                    return Err("argument 1 (command) must not be empty".into());
                }
                vec!["/bin/sh".to_string(), "-c".to_string(), cmd]
            }
            v @ Value::Table(_) => {
                let list = string_list(v).map_err(|m| Fail::Msg(format!("argument 1 (command) {m}")))?;
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
                    type_name(other)
                )
                .into());
            }
        };
        let opts = Opts::new(a.get(2), RUN_OPTS)?;
        let mut ro = RunOptions { args: argv, ..RunOptions::default() };
        ro.env = match opts.get("env") {
            Value::Nil => Vec::new(),
            v => env_pairs(v).map_err(|m| Fail::option("env", option_msg("env", &m)))?,
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
        ro.valid_exit_codes = match opts.get("valid_exit_codes") {
            Value::Nil => None,
            v => Some(exit_codes(v).map_err(|e| e.at("valid_exit_codes"))?),
        };
        ro.extra_hosts = match opts.get("extra_hosts") {
            Value::Nil => Vec::new(),
            v => extra_hosts(v).map_err(|e| e.at("extra_hosts"))?,
        };
        ro.secret_env = match opts.get("secret_env") {
            Value::Nil => Vec::new(),
            v => secret_env(v).map_err(|e| e.at("secret_env"))?,
        };
        ro.readonly_root = opts.boolean("readonly_root")?.unwrap_or(false);
        ro.ulimits = match opts.get("ulimits") {
            Value::Nil => Vec::new(),
            v => ulimits(v).map_err(|e| e.at("ulimits"))?,
        };
        let cwd = resolve_dir(&this.state.meta().dir, ro.cwd.as_deref().unwrap_or("."));
        let mut writable_binds: Vec<(String, State)> = Vec::new();
        match opts.get("mounts") {
            Value::Nil => {}
            Value::Table(t) => {
                let items = sequence(t).map_err(|e| e.map_msg(|m| option_msg("mounts", &m)).at("mounts"))?;
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
                    format!("option 'mounts' must be a list of mounts, got {}", type_name(other)),
                ));
            }
        }
        run_state(lua, Running::current(lua), &this, ro, cwd, &writable_binds)
    })?;
    ud(lua, st)
}

/// The state a run makes, once its options are read (by [`st_run`] or by
/// the fast path on the stack): counts it against the memory limit, gives
/// it its script location (the caller's frame on `thread`) and adds the
/// writable binds' outputs.
pub(crate) fn run_state(
    lua: &Lua,
    thread: Running,
    this: &LState,
    mut ro: RunOptions,
    cwd: String,
    writable_binds: &[(String, State)],
) -> R<LState> {
    ro.op = charged_op_options(
        lua,
        thread,
        NODE_BYTES
            + size_of(&ro.args)
            + ro.env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + this.state.meta().env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            + 128 * ro.mounts.len(),
    )?;
    let mut exec = this.state.run(ro)?;
    for (dest, src) in writable_binds {
        exec = exec.with_mount_meta(dest, src);
    }
    let root = exec.root().clone();
    Ok(LState { state: root, exec: Some(Arc::new(ExecInfo { exec, cwd })), base_config: this.base_config.clone() })
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
    let pairs = string_pairs(v)?;
    for (k, _) in &pairs {
        if k.is_empty() || k.contains('=') {
            return Err(format!("has an invalid variable name '{k}'"));
        }
    }
    Ok(pairs)
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
