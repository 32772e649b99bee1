//! `bk.export` and `bk.exported`: the exported state and its image config
//! (entrypoint/cmd, ports, healthcheck, labels, target platform).

use std::time::Duration;

use luakit_image_config::{ExportOptions, Healthcheck, ImageConfig, StateDefaults};
use mlua::{Lua, MultiValue, Value};

use crate::ctx::{ExportRecord, api, caller, with_ctx};
use crate::opts::{
    Fail, Opts, R, as_integer, option_msg, platform_from_parts, sequence, shown, string_list, text, type_name,
};
use crate::userdata::LState;

use super::run::env_pairs;
use super::{Args, req_state, ud};

pub(super) const EXPORT_OPTS: &[&str] = crate::reference::EXPORT.names;

/// `bk.export(state, opts)`
pub(crate) fn bk_export(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    api(lua, "bk.export", || {
        let a = Args::new(args);
        let state = req_state(a.get(0), 1, "state")?;
        let opts = Opts::new(a.get(1), EXPORT_OPTS)?;
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
            Value::String(s) => Some(text(s).map_err(|m| Fail::Msg(format!("argument #1 (target) {m}")))?),
            v => return Err(format!("argument #1 (target) must be a string or nil, got {}", type_name(v)).into()),
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

pub(super) const HEALTHCHECK_OPTS: &[&str] = crate::reference::HEALTHCHECK.names;

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
