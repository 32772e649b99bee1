//! The layout of the script: header, build arguments, the context, one
//! local per stage (a chain of calls, broken where a step reads the state
//! or a comment starts), and `bk.export` with the target stage's config.

use super::super::expand::Word;
use super::super::lua::{key, quote};
use super::{Chunk, Converter, Error, R, Stage, command_lua};

impl Converter<'_> {
    pub(super) fn render(&mut self) -> R<String> {
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

pub(super) fn comment_line(text: &str) -> String {
    if text.is_empty() { "--".to_string() } else { format!("-- {text}") }
}

pub(super) fn render_stage(stage: &Stage) -> String {
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

pub(super) fn render_export(stage: &Stage) -> String {
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

/// The patterns of a `.dockerignore`.
pub(super) fn dockerignore(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
}
