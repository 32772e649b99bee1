//! Words people bring from Dockerfiles, `docker run`, Compose and buildx,
//! and what luakit calls the same thing.
//!
//! An unknown option is first looked up here, then compared by spelling
//! with the function's options (`did you mean`). The table is the one
//! source of these hints: the "Coming from a Dockerfile" table of
//! `docs/api.md` is rendered from it (a test keeps the two equal), and a
//! test checks that every option it names exists.

/// What a word means in luakit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Means {
    /// The same thing under another name: suggested where the function has
    /// this option.
    Option(&'static str),
    /// Written another way: `text` (a short sentence saying how) is shown
    /// where the function has the option `needs`, which the text is about.
    Recipe { needs: &'static str, text: &'static str },
}

/// One word (lowercase, `_` for `-`) and what it means. A word may have
/// several entries: the first that applies to the function wins.
pub(crate) const WORDS: &[(&str, Means)] = &[
    // WORKDIR, working_dir (Compose), -w
    ("workdir", Means::Option("cwd")),
    ("working_dir", Means::Option("workdir")),
    ("working_dir", Means::Option("cwd")),
    ("workingdir", Means::Option("workdir")),
    ("workingdir", Means::Option("cwd")),
    ("work_dir", Means::Option("workdir")),
    ("work_dir", Means::Option("cwd")),
    ("dir", Means::Option("workdir")),
    ("dir", Means::Option("cwd")),
    // ENV, environment (Compose), -e
    ("envs", Means::Option("env")),
    ("environment", Means::Option("env")),
    ("environ", Means::Option("env")),
    ("env_vars", Means::Option("env")),
    // EXPOSE, ports (Compose), -p
    ("ports", Means::Option("expose")),
    ("port", Means::Option("expose")),
    ("exposed_ports", Means::Option("expose")),
    ("exposedports", Means::Option("expose")),
    ("publish", Means::Option("expose")),
    ("ports", Means::Recipe { needs: "valid_exit_codes", text: RUN_EXPOSE }),
    ("port", Means::Recipe { needs: "valid_exit_codes", text: RUN_EXPOSE }),
    ("expose", Means::Recipe { needs: "valid_exit_codes", text: RUN_EXPOSE }),
    // ENTRYPOINT, CMD
    ("entry_point", Means::Option("entrypoint")),
    ("entrypoint", Means::Recipe { needs: "valid_exit_codes", text: RUN_ENTRYPOINT }),
    ("command", Means::Option("cmd")),
    ("command", Means::Recipe { needs: "valid_exit_codes", text: RUN_COMMAND }),
    ("command", Means::Option("test")),
    ("cmd", Means::Recipe { needs: "valid_exit_codes", text: RUN_COMMAND }),
    ("cmd", Means::Option("test")),
    ("args", Means::Option("cmd")),
    ("args", Means::Recipe { needs: "valid_exit_codes", text: RUN_COMMAND }),
    // LABEL, VOLUME, STOPSIGNAL, HEALTHCHECK, MAINTAINER
    ("label", Means::Option("labels")),
    ("label", Means::Recipe { needs: "valid_exit_codes", text: RUN_LABELS }),
    ("labels", Means::Recipe { needs: "valid_exit_codes", text: RUN_LABELS }),
    ("volume", Means::Option("volumes")),
    ("volume", Means::Recipe { needs: "mounts", text: RUN_VOLUME }),
    ("volumes", Means::Recipe { needs: "mounts", text: RUN_VOLUME }),
    ("stopsignal", Means::Option("stop_signal")),
    ("signal", Means::Option("stop_signal")),
    ("health_check", Means::Option("healthcheck")),
    ("health", Means::Option("healthcheck")),
    ("startperiod", Means::Option("start_period")),
    ("startinterval", Means::Option("start_interval")),
    ("retry", Means::Option("retries")),
    ("maintainer", Means::Recipe { needs: "labels", text: "use labels = { maintainer = \"…\" }" }),
    // RUN --mount, --network, --security; docker run --add-host, --ulimit, -h
    ("mount", Means::Option("mounts")),
    ("secret", Means::Recipe { needs: "mounts", text: RUN_SECRET }),
    ("secrets", Means::Recipe { needs: "mounts", text: RUN_SECRET }),
    ("ssh", Means::Recipe { needs: "mounts", text: "an SSH agent is a mount: mounts = { bk.ssh() }" }),
    ("cache", Means::Recipe { needs: "mounts", text: "a cache is a mount: mounts = { bk.cache(dest) }" }),
    ("tmpfs", Means::Recipe { needs: "mounts", text: "a tmpfs is a mount: mounts = { bk.tmpfs(dest) }" }),
    ("bind", Means::Recipe { needs: "mounts", text: "a bind is a mount: mounts = { bk.bind(state, dest) }" }),
    ("net", Means::Option("network")),
    ("network_mode", Means::Option("network")),
    ("privileged", Means::Recipe { needs: "security", text: "use security = \"insecure\"" }),
    ("insecure", Means::Recipe { needs: "security", text: "use security = \"insecure\"" }),
    ("add_host", Means::Option("extra_hosts")),
    ("add_hosts", Means::Option("extra_hosts")),
    ("extra_host", Means::Option("extra_hosts")),
    ("hosts", Means::Option("extra_hosts")),
    ("ulimit", Means::Option("ulimits")),
    ("host_name", Means::Option("hostname")),
    ("exit_code", Means::Option("valid_exit_codes")),
    ("exit_codes", Means::Option("valid_exit_codes")),
    // COPY --from, --chown, --chmod, --parents; ADD --checksum, --keep-git-dir
    ("from", Means::Recipe { needs: "copy_dir_contents", text: COPY_FROM }),
    ("chown", Means::Option("owner")),
    ("chown", Means::Recipe { needs: "uid", text: "use uid = … and gid = …" }),
    ("user", Means::Option("owner")),
    ("uid", Means::Option("owner")),
    ("gid", Means::Option("owner")),
    ("group", Means::Option("owner")),
    ("chmod", Means::Option("mode")),
    ("mode", Means::Option("chmod")),
    ("permissions", Means::Option("mode")),
    ("permissions", Means::Option("chmod")),
    ("parents", Means::Option("make_parents")),
    ("sha256", Means::Option("checksum")),
    ("keep_git", Means::Option("keep_git_dir")),
    ("keepgitdir", Means::Option("keep_git_dir")),
    ("branch", Means::Option("ref")),
    ("tag", Means::Option("ref")),
    ("commit", Means::Option("ref")),
    ("excludes", Means::Option("exclude")),
    ("ignore", Means::Option("exclude")),
    ("includes", Means::Option("include")),
    // rm -f
    ("force", Means::Option("allow_not_found")),
    // FROM --platform, --pull
    ("platforms", Means::Option("platform")),
    ("arch", Means::Option("platform")),
    ("pull", Means::Recipe { needs: "resolve", text: "use resolve = \"always\"" }),
    // --mount type=…,target=…,rw,required
    ("target", Means::Option("dest")),
    ("dst", Means::Option("dest")),
    ("destination", Means::Option("dest")),
    ("rw", Means::Recipe { needs: "readonly", text: "use readonly = false" }),
    ("readwrite", Means::Recipe { needs: "readonly", text: "use readonly = false" }),
    ("ro", Means::Option("readonly")),
    ("read_only", Means::Option("readonly")),
    (
        "required",
        Means::Recipe { needs: "optional", text: "required is the default; optional = true makes it optional" },
    ),
];

const RUN_COMMAND: &str = "the command is st:run's first argument: st:run(\"make\", { … })";
const RUN_EXPOSE: &str = "exposed ports belong to the image: bk.export(state, { expose = { … } })";
const RUN_ENTRYPOINT: &str = "the entrypoint belongs to the image: bk.export(state, { entrypoint = { … } })";
const RUN_LABELS: &str = "labels belong to the image: bk.export(state, { labels = { … } })";
const RUN_VOLUME: &str = "a directory kept between builds is a cache mount: mounts = { bk.cache(dest) }";
const RUN_SECRET: &str =
    "a secret is a mount: mounts = { bk.secret(dest, { id = \"…\" }) }, or secret_env = { VAR = \"id\" }";
const COPY_FROM: &str = "the state to copy from is st:copy's first argument: st:copy(from, src, dest, { … })";

/// The word as the table spells it: lowercase, `-` as `_`.
fn normalize(given: &str) -> String {
    given.to_ascii_lowercase().replace('-', "_")
}

/// What luakit calls `given` among the options `known`, as a message
/// suffix: ` (did you mean 'cwd'?)` or ` (use …)`; `None` when the table
/// has nothing for it here.
pub(crate) fn hint(given: &str, known: &[&str]) -> Option<String> {
    let word = normalize(given);
    WORDS.iter().filter(|(w, _)| *w == word).find_map(|(_, means)| match *means {
        Means::Option(name) if known.contains(&name) && name != given => Some(format!(" (did you mean '{name}'?)")),
        Means::Recipe { needs, text } if known.contains(&needs) => Some(format!(" ({text})")),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::OPTION_SETS;

    #[test]
    fn dockerfile_words_suggest_luakit_options() {
        let run = OPTION_SETS.iter().find(|(f, _)| *f == "st:run").map(|(_, o)| *o).unwrap_or_default();
        let export = OPTION_SETS.iter().find(|(f, _)| *f == "bk.export").map(|(_, o)| *o).unwrap_or_default();
        assert_eq!(hint("workdir", run).as_deref(), Some(" (did you mean 'cwd'?)"));
        assert_eq!(hint("Working-Dir", export).as_deref(), Some(" (did you mean 'workdir'?)"));
        assert_eq!(hint("working_dir", run).as_deref(), Some(" (did you mean 'cwd'?)"));
        assert_eq!(hint("ports", export).as_deref(), Some(" (did you mean 'expose'?)"));
        assert_eq!(hint("cmd", run).as_deref(), Some(format!(" ({RUN_COMMAND})").as_str()));
        assert_eq!(hint("ports", run).as_deref(), Some(format!(" ({RUN_EXPOSE})").as_str()));
        assert_eq!(hint("ports", &["cwd"]), None);
        assert_eq!(hint("nonsense", run), None);
    }

    /// Every option and every `needs` the table names is an option of some
    /// function, and every word is written as the table normalizes it.
    #[test]
    fn the_table_names_real_options() {
        let all: Vec<&str> = OPTION_SETS.iter().flat_map(|(_, o)| o.iter().copied()).collect();
        for (word, means) in WORDS {
            assert_eq!(*word, normalize(word), "{word}");
            let target = match means {
                Means::Option(o) => o,
                Means::Recipe { needs, .. } => needs,
            };
            assert!(all.contains(target), "{word} → {target}: no function has that option");
            // The hint must be reachable somewhere: some function lacks the word and has the target.
            let reachable = OPTION_SETS.iter().any(|(_, o)| !o.contains(word) && o.contains(target));
            assert!(reachable, "{word} → {target} is never shown");
        }
    }

    /// The table as docs/api.md shows it: each word, and what each function
    /// that does not know it suggests instead.
    fn markdown() -> String {
        let mut words: Vec<&str> = Vec::new();
        for (w, _) in WORDS {
            if !words.contains(w) {
                words.push(w);
            }
        }
        let mut out = String::from("| You wrote | In these functions → luakit suggests |\n| --- | --- |\n");
        for w in words {
            let mut by_hint: Vec<(String, Vec<&str>)> = Vec::new();
            for (function, known) in OPTION_SETS {
                if known.contains(&w) {
                    continue;
                }
                let Some(h) = hint(w, known) else { continue };
                let h = h.strip_prefix(" (").and_then(|h| h.strip_suffix(')')).unwrap_or(&h).to_string();
                match by_hint.iter_mut().find(|(x, _)| *x == h) {
                    Some((_, fs)) => fs.push(function),
                    None => by_hint.push((h, vec![function])),
                }
            }
            let cells: Vec<String> = by_hint
                .iter()
                .map(|(h, fs)| {
                    let h = match h.strip_prefix("did you mean '").and_then(|r| r.strip_suffix("'?")) {
                        Some(name) => format!("`{name}`"),
                        None => h.clone(),
                    };
                    format!("{} → {h}", fs.join(", "))
                })
                .collect();
            out.push_str(&format!("| `{w}` | {} |\n", cells.join("; ")));
        }
        out
    }

    #[test]
    fn docs_show_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api.md");
        let docs = std::fs::read_to_string(&path).unwrap_or_default();
        let table = markdown();
        assert!(
            docs.contains(&table),
            "docs/api.md must contain the Dockerfile words table exactly as the code has it:\n\n{table}"
        );
    }
}
