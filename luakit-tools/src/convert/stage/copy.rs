//! `COPY` and `ADD`: sources from the context, stages, images, URLs, git
//! repositories and heredocs, with `--chown`, `--chmod`, `--exclude`.

use std::collections::BTreeMap;

use super::super::expand::Word;
use super::super::lua::quote;
use super::super::parse::{Instruction, exec_form};
use super::run::heredoc_marker_name;
use super::{Converter, R, call_with_opts, fail, merge_lits};

impl Converter<'_> {
    pub(super) fn copy(&mut self, ins: &Instruction, add: bool) -> R<()> {
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

    /// A `COPY <<EOF dest` file: a local holding the file, copied in. The
    /// file is made with mode 0664, as BuildKit's Dockerfile frontend makes
    /// heredoc files (a `--chmod` of the COPY still applies to the copy).
    fn heredoc_file(&mut self, ins: &Instruction, name: &str, body: &Word, dest: &Word, opts: &[String]) -> R<String> {
        let base = match dest.as_lit() {
            Some(d) if !d.ends_with('/') => d.rsplit('/').next().unwrap_or(name).to_string(),
            _ => name.to_string(),
        };
        let local = self.unique(&base);
        let file = if dest.as_lit().is_some_and(|d| d.ends_with('/')) { name.to_string() } else { base.clone() };
        let code =
            format!("local {local} = bk.scratch():mkfile({}, {}, {{ mode = \"0664\" }})", quote(&file), body.lua());
        if body.is_dynamic() {
            self.stage().stmt(code);
        } else {
            self.stage().pre.push(code);
        }
        let _ = ins;
        Ok(call_with_opts(&format!("copy({local}, {}, {}", quote(&file), dest.lua()), opts))
    }
}

/// The heredoc name of a COPY source `<<EOF`.
pub(super) fn heredoc_name(s: &str) -> Option<&str> {
    s.strip_prefix("<<").and_then(heredoc_marker_name)
}

/// A `COPY --from` source taken from the root of the source state.
pub(super) fn absolute(src: &Word) -> Word {
    match src.0.first() {
        Some(super::super::expand::Part::Lit(s)) if s.starts_with('/') => src.clone(),
        _ => {
            let mut w = Word::lit("/");
            w.0.extend(src.0.iter().cloned());
            merge_lits(w)
        }
    }
}

pub(super) fn url_basename(url: &str) -> String {
    let path = url.split("://").nth(1).and_then(|r| r.find('/').map(|p| &r[p..])).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(b) if !b.is_empty() => b.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

pub(super) fn is_git_url(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || s.split('#').next().is_some_and(|u| u.ends_with(".git"))
}
