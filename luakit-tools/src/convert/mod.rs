//! `luakit convert`: a Dockerfile becomes a `build.lua`.
//!
//! The Dockerfile is parsed (`parse`), its words expanded (`expand`) and
//! each instruction mapped to the `bk` API (`stage`), keeping Dockerfile
//! semantics: `ENV`, `WORKDIR` and `USER` become process defaults of the
//! stage's state (so later `RUN`s and the image config see them), build
//! arguments become `bk.arg` locals and reach `RUN`s as environment
//! variables, `COPY --from` paths are taken from the source's root, the
//! image config (`CMD`, `ENTRYPOINT`, `EXPOSE`, `LABEL`, …) is carried from
//! stage to stage and handed to `bk.export`. A value only known when the
//! script runs (a build argument, the base image's environment) becomes a
//! Lua expression. The result is formatted with [`crate::fmt`].

mod expand;
mod lua;
mod parse;
mod stage;

/// An error at a line of the Dockerfile, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Why a Dockerfile could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A problem at a line: bad syntax, or an instruction or option luakit
    /// cannot express (`Dockerfile:7: ONBUILD is not supported: …`).
    #[error("{file}:{line}: {message}")]
    At {
        /// The Dockerfile's name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A problem with the file as a whole (no `FROM`, unknown `--target`).
    #[error("{file}: {message}")]
    File {
        /// The Dockerfile's name as given.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The Dockerfile could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The generated script did not parse as Lua (a bug in the converter).
    #[error("{file}: the converted script is not valid Lua (please report this): {source}")]
    Format {
        /// The Dockerfile's name as given.
        file: String,
        /// The formatter's error.
        #[source]
        source: crate::fmt::FormatError,
    },
}

/// Settings of a conversion.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// The Dockerfile's name, for messages and the header comment
    /// (default `Dockerfile`).
    pub file_name: String,
    /// The text of the `.dockerignore` next to it: its patterns become the
    /// build context's `exclude`.
    pub dockerignore: Option<String>,
    /// The stage to export (`docker build --target`); default the last.
    pub target: Option<String>,
    /// A `# syntax=IMAGE` first line to write (for `docker build -f build.lua`
    /// through the luakit frontend), e.g. `luakit/frontend:dev`.
    pub syntax: Option<String>,
}

/// A converted Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The formatted Lua build script.
    pub lua: String,
    /// Things the script does not carry over (each `file:line: …`).
    pub warnings: Vec<String>,
}

/// Converts Dockerfile text into a formatted luakit build script.
pub fn convert(dockerfile: &str, opts: &ConvertOptions) -> Result<Converted, ConvertError> {
    let file = if opts.file_name.is_empty() { "Dockerfile".to_string() } else { opts.file_name.clone() };
    let at = |f: Fail| ConvertError::At { file: file.clone(), line: f.line, message: f.message };
    let df = parse::parse(dockerfile).map_err(at)?;
    let (lua, warnings) = stage::Converter::run(&df, &file, opts).map_err(|e| match e {
        stage::Error::At(f) => at(f),
        stage::Error::File(message) => ConvertError::File { file: file.clone(), message },
    })?;
    let lua = crate::fmt::format_source(&lua).map_err(|source| ConvertError::Format { file: file.clone(), source })?;
    Ok(Converted { lua, warnings: warnings.into_iter().map(|(line, w)| format!("{file}:{line}: {w}")).collect() })
}

/// Converts the Dockerfile at `path`; the ignore file next to it
/// (`<name>.dockerignore`, else `.dockerignore`, as BuildKit picks them)
/// becomes the context's `exclude`, and messages name the file as given.
pub fn convert_path(path: &std::path::Path, opts: &ConvertOptions) -> Result<Converted, ConvertError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConvertError::Read { path: path.to_path_buf(), source })?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut dockerignore = opts.dockerignore.clone();
    for candidate in [format!("{name}.dockerignore"), ".dockerignore".to_string()] {
        let ignore_path = path.with_file_name(candidate);
        match std::fs::read_to_string(&ignore_path) {
            Ok(t) => {
                dockerignore = Some(t);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ConvertError::Read { path: ignore_path, source }),
        }
    }
    let opts = ConvertOptions { file_name: path.display().to_string(), dockerignore, ..opts.clone() };
    convert(&text, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_dockerfiles_never_panic() {
        // Every fixture cut after each line, and with each line removed:
        // the converter returns a script or an error with a line.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/convert");
        let mut tried = 0;
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path().join("Dockerfile");
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let lines: Vec<&str> = text.lines().collect();
            for i in 0..lines.len() {
                let cut = lines[..i].join("\n");
                let without: Vec<&str> = lines.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, l)| *l).collect();
                for variant in [cut, without.join("\n")] {
                    tried += 1;
                    let result = std::panic::catch_unwind(|| {
                        let df = parse::parse(&variant)?;
                        stage::Converter::run(&df, "Dockerfile", &ConvertOptions::default()).map_err(|e| match e {
                            stage::Error::At(f) => f,
                            stage::Error::File(message) => Fail { line: 0, message },
                        })
                    });
                    match result {
                        Err(_) => panic!("{}: panicked on\n{variant}", path.display()),
                        Ok(Err(f)) => assert!(!f.message.is_empty()),
                        Ok(Ok(_)) => {}
                    }
                }
            }
        }
        assert!(tried > 200, "{tried}");
    }
}
