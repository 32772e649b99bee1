//! `embed SERVICES.toml OUT-DIR [--snapshot]`: writes `OUT-DIR/<service>.llb`
//! (the Definition, for `buildctl build`) and `OUT-DIR/<service>.json` (the
//! image config) for every service of the config file; `--snapshot` also
//! prints each graph in luakit's snapshot form.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use luakit_example_embed::{Config, write};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let snapshot = args.iter().any(|a| a == "--snapshot");
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [config, out] = paths.as_slice() else {
        eprintln!("usage: embed SERVICES.toml OUT-DIR [--snapshot]");
        return ExitCode::from(2);
    };
    match run(&PathBuf::from(config), &PathBuf::from(out), snapshot) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Path, out: &Path, snapshot: bool) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(config)?;
    for (name, build) in config.build_all()? {
        let [llb, json] = write(out, &name, &build)?;
        println!(
            "{name}: {} ops → {} and {}",
            build.definition.def.len().saturating_sub(1),
            llb.display(),
            json.display()
        );
        if snapshot {
            print!("{}", luakit::inspect::snapshot(&build.definition)?);
        }
    }
    Ok(())
}
