//! The Debian packages the tests need, installed with apt-get when one of
//! their files is missing (`apt-get update` first). CI starts from a clean
//! machine, so this (and `.ci/run`) must install everything.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::util;

/// Each package with a file that proves it is installed.
pub const PACKAGES: &[(&str, &str, &str)] = &[
    ("docker.io", "/usr/sbin/dockerd", "dockerd 20.10 + client: the first engine"),
    ("busybox-static", "/bin/busybox", "a static busybox for the base images"),
    ("graphviz", "/usr/bin/dot", "`dot`, which checks `luakit dag --format dot`"),
    ("runc", "/usr/sbin/runc", "the OCI runtime of buildkitd"),
    ("docker-registry", "/usr/bin/docker-registry", "the local registries"),
    ("apache2-utils", "/usr/bin/htpasswd", "the auth registry's htpasswd file"),
    ("openssh-client", "/usr/bin/ssh-agent", "ssh-agent/ssh-keygen for SSH-forwarding tests"),
    ("xz-utils", "/usr/bin/xz", "unpacks the BuildKit v0.11.6 binaries"),
    ("openssl", "/usr/bin/openssl", "certificates for the mTLS case (solve-tls)"),
];

/// Package names, space-separated (what `.ci/run` installs too).
pub fn names() -> String {
    PACKAGES.iter().map(|p| p.0).collect::<Vec<_>>().join(" ")
}

fn busybox_ok() -> bool {
    Path::new("/bin/busybox").exists() && util::is_static_elf(Path::new("/bin/busybox")).unwrap_or(false)
}

/// Installs the packages of [`PACKAGES`] that are missing.
pub fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(name, file, _)| !Path::new(file).exists() || (*name == "busybox-static" && !busybox_ok()))
        .map(|p| p.0)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("e2e: installing {} with apt-get", missing.join(" "));
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("cannot run `apt-get {}` (is this a Debian machine?)", args.join(" ")))?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed ({status}); the tests need the Debian packages {} \
                 (run as root, with the Debian package archive reachable)",
                args.join(" "),
                names()
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(&missing);
    apt(&args)?;
    for (name, file, why) in PACKAGES {
        if !Path::new(file).exists() {
            bail!("{file} is still missing after installing {name} ({why})");
        }
    }
    if !busybox_ok() {
        bail!("/bin/busybox is not statically linked even after installing busybox-static");
    }
    Ok(())
}
