//! `RUN`: the command (shell, exec and heredoc forms) and its `--mount`,
//! `--network` and `--security` flags.

use std::collections::BTreeMap;

use super::super::expand::Word;
use super::super::lua::{key, quote};
use super::super::parse::{Instruction, exec_form, shell_pieces};
use super::{Converter, R, basename_lit, call_with_opts, fail, is_default_shell, list, merge_lits, shell_list};

impl Converter<'_> {
    pub(super) fn run_instruction(&mut self, ins: &Instruction) -> R<()> {
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
}

/// What a shell-form `RUN` runs.
pub(super) enum ShellCommand {
    /// Lua code of the command string.
    Text(String),
    /// `RUN <<EOF` whose body starts with `#!`: Docker writes the body to a
    /// file and runs it.
    Script { name: String, body: String },
}

/// The command of a shell-form `RUN`, heredocs included.
pub(super) fn shell_text(ins: &Instruction) -> R<ShellCommand> {
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
pub(super) fn heredoc_marker_name(s: &str) -> Option<&str> {
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(s);
    let s = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')).unwrap_or(s);
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}

/// Fields of a `--mount` value (comma-separated, `"` quoting allowed).
pub(super) fn csv_fields(s: &str) -> Vec<String> {
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

pub(super) fn parse_size(s: &str) -> Option<u64> {
    let lower = s.trim().to_ascii_lowercase();
    let (num, mult) =
        [("kib", 1024u64), ("mib", 1 << 20), ("gib", 1 << 30), ("k", 1024), ("m", 1 << 20), ("g", 1 << 30), ("b", 1)]
            .iter()
            .find_map(|(suf, m)| lower.strip_suffix(suf).map(|n| (n.to_string(), *m)))
            .unwrap_or((lower.clone(), 1));
    num.trim().parse::<u64>().ok().map(|n| n * mult)
}
