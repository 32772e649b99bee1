//! The client session of `luakit solve`: `--local`, `--secret`, `--ssh`
//! turned into [`SessionOptions`], with the `context` local's
//! `.dockerignore` (or `<script>.dockerignore`, which wins) as its excludes.

use std::path::{Path, PathBuf};

use luakit_client::session::{self, SessionOptions};

use crate::UsageError;

/// The local a script reads with `bk.local_("context")`.
pub const CONTEXT: &str = "context";

/// The session's options from the flags. `context=.` is offered unless a
/// `--local context=…` is given.
pub fn options(
    locals: &[String],
    secrets: &[String],
    ssh: &[String],
    script: &Path,
) -> Result<SessionOptions, UsageError> {
    let usage = |e: session::ParseError| UsageError(format!("--{} {:?}: {}", e.what, e.input, e.reason));
    let mut opts = SessionOptions::default();
    for l in locals {
        let (name, dir) = session::parse_local(l).map_err(usage)?;
        opts.locals.insert(name, dir);
    }
    opts.locals.entry(CONTEXT.to_string()).or_insert_with(|| PathBuf::from("."));
    for s in secrets {
        let (id, src) = session::parse_secret(s).map_err(usage)?;
        opts.secrets.insert(id, src);
    }
    for s in ssh {
        opts.ssh.push(session::parse_ssh(s).map_err(usage)?);
    }
    if let Some(patterns) = context_excludes(&opts.locals[CONTEXT], script)? {
        opts.local_excludes.insert(CONTEXT.to_string(), patterns);
    }
    Ok(opts)
}

/// `<script>.dockerignore` if it exists, else the context's `.dockerignore`.
fn context_excludes(context: &Path, script: &Path) -> Result<Option<Vec<String>>, UsageError> {
    let mut beside = script.as_os_str().to_owned();
    beside.push(".dockerignore");
    for path in [PathBuf::from(beside), context.join(".dockerignore")] {
        match session::read_dockerignore(&path) {
            Ok(p) => return Ok(Some(p)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(UsageError(format!("cannot read {}: {e}", path.display()))),
        }
    }
    Ok(None)
}

/// The key under which the daemon keeps what earlier sessions sent: the
/// context's absolute directory, so an unchanged context is not sent again.
pub fn shared_key(opts: &SessionOptions) -> String {
    let dir = &opts.locals[CONTEXT];
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    format!("luakit-solve:{}", abs.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use luakit_client::session::SecretSource;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_string()).collect()
    }

    /// The usage error's text, or `"ok"`.
    fn error(r: Result<SessionOptions, UsageError>) -> String {
        r.map_or_else(|e| e.0, |_| "ok".to_string())
    }

    #[test]
    fn context_is_offered_by_default_and_flags_parse() -> anyhow::Result<()> {
        let o = options(&[], &s(&["id=tok,src=/run/tok"]), &s(&["default"]), Path::new("/nonexistent/b.lua"))?;
        assert_eq!(o.locals[CONTEXT], PathBuf::from("."));
        assert_eq!(o.secrets["tok"], SecretSource::File("/run/tok".into()));
        assert_eq!(o.ssh[0].id, "default");
        assert!(o.ssh[0].paths.is_empty());

        let o = options(
            &s(&["context=/src", "other=x"]),
            &s(&["id=e,env=HOME"]),
            &s(&["git=/a.sock"]),
            Path::new("b.lua"),
        )?;
        assert_eq!(o.locals[CONTEXT], PathBuf::from("/src"));
        assert_eq!(o.locals["other"], PathBuf::from("x"));
        assert_eq!(o.secrets["e"], SecretSource::Env("HOME".into()));
        assert_eq!(o.ssh[0].paths, [PathBuf::from("/a.sock")]);
        Ok(())
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let e = error(options(&s(&["nodir"]), &[], &[], Path::new("b.lua")));
        assert_eq!(e, "--local \"nodir\": expected NAME=DIR");
        let e = error(options(&[], &s(&["src=/x"]), &[], Path::new("b.lua")));
        assert_eq!(e, "--secret \"src=/x\": id= is required");
        let e = error(options(&[], &[], &s(&["=/x"]), Path::new("b.lua")));
        assert_eq!(e, "--ssh \"=/x\": the id is empty");
    }

    #[test]
    fn script_dockerignore_wins_over_the_contexts() -> anyhow::Result<()> {
        let d = tempfile::tempdir()?;
        let ctx = d.path().join("ctx");
        std::fs::create_dir(&ctx)?;
        std::fs::write(ctx.join(".dockerignore"), "# c\nsecret.txt\n\n")?;
        let script = d.path().join("build.lua");
        let ctx_arg = format!("context={}", ctx.display());
        let o = options(&s(&[&ctx_arg]), &[], &[], &script)?;
        assert_eq!(o.local_excludes[CONTEXT], ["secret.txt"]);
        std::fs::write(d.path().join("build.lua.dockerignore"), "*.log\n")?;
        let o = options(&s(&[&ctx_arg]), &[], &[], &script)?;
        assert_eq!(o.local_excludes[CONTEXT], ["*.log"]);
        Ok(())
    }
}
