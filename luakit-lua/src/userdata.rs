//! The Lua-side values of the `bk` API: states, mounts and platforms.

use std::sync::Arc;

use luakit_graph::{ExecState, Mount, MountKind, Op, Platform, State};
use luakit_image_config::ImageConfig;
use mlua::{MetaMethod, UserData, UserDataMethods, Value};

use crate::ctx::api_error;

/// A run's exec, kept on its result so that `:output(dest)` can find mounts.
#[derive(Debug)]
pub(crate) struct ExecInfo {
    pub exec: ExecState,
    /// The run's working directory (relative output paths resolve against it).
    pub cwd: String,
}

/// A state as Lua sees it.
#[derive(Debug, Clone)]
pub(crate) struct LState {
    pub state: State,
    /// Set on the result of `run`.
    pub exec: Option<Arc<ExecInfo>>,
    /// The resolved config of the image this state is built on, if known.
    pub base_config: Option<Arc<ImageConfig>>,
}

impl LState {
    pub(crate) fn new(state: State) -> Self {
        LState { state, exec: None, base_config: None }
    }

    /// The same base image, another state.
    pub(crate) fn derive(&self, state: State) -> Self {
        LState { state, exec: None, base_config: self.base_config.clone() }
    }
}

/// State methods, for "did you mean" on a typo.
pub(crate) const STATE_METHODS: &[&str] = &[
    "run",
    "copy",
    "mkdir",
    "mkfile",
    "rm",
    "symlink",
    "with_env",
    "with_workdir",
    "with_user",
    "with_metadata",
    "output",
    "get_env",
    "get_workdir",
    "get_user",
];

/// The error of `st.name` for a name that is not a state method.
pub(crate) fn no_such_method(lua: &mlua::Lua, key: &Value) -> mlua::Error {
    let Value::String(name) = key else {
        return api_error(
            lua,
            "state",
            format!("a state has no {} index: its methods are named (state:run, state:copy, …)", key_type(key)),
        );
    };
    let key = crate::opts::shown(name);
    let hint = match crate::opts::suggest(&key, STATE_METHODS) {
        Some(m) => format!(" (did you mean state:{m}?)"),
        None => String::new(),
    };
    api_error(lua, &format!("state:{key}"), format!("a state has no such method{hint}"))
}

/// The error of `st.key = …`.
pub(crate) fn cannot_set(lua: &mlua::Lua, key: &Value) -> mlua::Error {
    api_error(
        lua,
        "state",
        format!("cannot set {}: a state cannot be changed (its methods return new states)", key_text(key)),
    )
}

/// `state(docker-image://…)`, `state(exec: /bin/sh -c make)`, `state(scratch)`.
pub(crate) fn describe_state(s: &LState) -> String {
    let Some(out) = s.state.output() else {
        return "bk.state(scratch)".to_string();
    };
    let what = match &out.node.op {
        Op::Source(src) => src.identifier.clone(),
        Op::Exec(e) => {
            let args = e.meta.args.join(" ");
            if out.index == 0 {
                format!("run {args}")
            } else {
                let dest = e.mounts.iter().filter(|m| m.has_output()).nth(out.index as usize).map(|m| m.dest.clone());
                format!("run {args} → output {}", dest.unwrap_or_default())
            }
        }
        Op::File(f) => match f.actions.first() {
            Some(a) => format!("file {}", a.kind()),
            None => "file".to_string(),
        },
        Op::Merge(m) => format!("merge of {}", m.inputs.len()),
        Op::Diff(_) => "diff".to_string(),
    };
    format!("bk.state({what})")
}

/// A mount as Lua sees it (`bk.cache(…)`, `bk.bind(…)`, …).
#[derive(Debug, Clone)]
pub(crate) struct LMount {
    pub mount: Mount,
    /// For a bind mount: the mounted state (its process defaults go to `:output`).
    pub source: Option<State>,
}

impl UserData for LMount {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field(MetaMethod::Type, "mount");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let kind = match &this.mount.kind {
                MountKind::Bind { readonly: true, .. } => "bind (read-only)",
                MountKind::Bind { .. } => "bind",
                MountKind::Cache { .. } => "cache",
                MountKind::Tmpfs { .. } => "tmpfs",
                MountKind::Secret { .. } => "secret",
                MountKind::Ssh { .. } => "ssh",
            };
            Ok(format!("bk.mount({kind} at {})", this.mount.dest))
        });
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (Value, Value)| {
            Ok(match (a, b) {
                (Value::UserData(a), Value::UserData(b)) => match (a.borrow::<LMount>(), b.borrow::<LMount>()) {
                    (Ok(a), Ok(b)) => a.mount == b.mount,
                    _ => false,
                },
                _ => false,
            })
        });
    }
}

/// A platform as Lua sees it; fields `os`, `arch`, `variant`.
#[derive(Debug, Clone)]
pub(crate) struct LPlatform(pub Platform);

impl UserData for LPlatform {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("os", |_, this| Ok(this.0.os.clone()));
        fields.add_field_method_get("arch", |_, this| Ok(this.0.arch.clone()));
        fields.add_field_method_get("variant", |_, this| {
            Ok(if this.0.variant.is_empty() { None } else { Some(this.0.variant.clone()) })
        });
        fields.add_meta_field(MetaMethod::Type, "platform");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
        methods.add_meta_function(MetaMethod::Index, |lua, (_, key): (Value, Value)| -> mlua::Result<Value> {
            Err(api_error(
                lua,
                "platform",
                format!("a platform has no field {} (its fields are os, arch and variant)", key_text(&key)),
            ))
        });
        methods.add_meta_function(MetaMethod::NewIndex, |lua, (_, key, _): (Value, Value, Value)| -> mlua::Result<()> {
            Err(api_error(
                lua,
                "platform",
                format!(
                    "cannot set {}: a platform cannot be changed (make another with bk.platform(os, arch, variant))",
                    key_text(&key)
                ),
            ))
        });
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (Value, Value)| {
            Ok(match (a, b) {
                (Value::UserData(a), Value::UserData(b)) => match (a.borrow::<LPlatform>(), b.borrow::<LPlatform>()) {
                    (Ok(a), Ok(b)) => a.0.normalized() == b.0.normalized(),
                    _ => false,
                },
                _ => false,
            })
        });
        methods.add_meta_function(MetaMethod::Concat, |_, (a, b): (Value, Value)| {
            let text = |v: &Value| -> mlua::Result<String> {
                match v {
                    Value::UserData(ud) if ud.is::<LPlatform>() => Ok(ud.borrow::<LPlatform>()?.0.to_string()),
                    Value::String(s) => Ok(s.to_string_lossy().to_string()),
                    Value::Integer(i) => Ok(i.to_string()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(mlua::Error::runtime(format!(
                        "attempt to concatenate a platform with a {} value",
                        crate::opts::type_name(other)
                    ))),
                }
            };
            Ok(format!("{}{}", text(&a)?, text(&b)?))
        });
    }
}

/// `'name'` or `[1]`, for a key in a message.
fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => format!("'{}'", crate::opts::shown(s)),
        Value::Integer(i) => format!("[{i}]"),
        Value::Number(n) => format!("[{n}]"),
        other => format!("[{}]", crate::opts::type_name(other)),
    }
}

/// `number`, `boolean`, … for a key that is not a name.
fn key_type(key: &Value) -> String {
    crate::opts::type_name(key)
}
