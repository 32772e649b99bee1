//! Stand-ins for the language and distribution base images the realistic
//! Dockerfiles use (`golang:…-alpine`, `node:20…`, `python:3.12-slim`,
//! `rust:…-slim-bookworm`, `debian:bookworm-slim`,
//! `gcr.io/distroless/static-debian12`), made offline from the busybox
//! rootfs of [`super::images`]. They are NOT the real images: each is the
//! busybox rootfs with
//!
//! - small POSIX-sh programs in place of the toolchain (`go`, `npm`,
//!   `node`, `python3`/`python`, `pip`, `cargo`, `apt-get`, Debian's
//!   `useradd`/`adduser`; the scripts are `shims/*` next to this file) that
//!   make, deterministically, the files the Dockerfile steps expect (`go
//!   build -o OUT` writes a small script at OUT, `npm ci` a `node_modules`
//!   from the lock file, `python -m venv DIR` a virtual environment layout,
//!   `cargo build --release` `target/release/NAME`, `useradd` a passwd and
//!   group line and a home directory, …);
//! - the users and the config (Env, WorkingDir, User, Entrypoint, Cmd) of
//!   the real image, in the parts a Dockerfile builds on (golang: `GOPATH`,
//!   `PATH` with `/usr/local/go/bin`, `WORKDIR /go`; node: the `node` user,
//!   uid 1000, and `docker-entrypoint.sh`; python: `LANG`, `PATH`; rust:
//!   `CARGO_HOME`, `RUSTUP_HOME`; distroless: `nonroot`, uid 65532, and a
//!   `:nonroot` tag running as it). Unlike the real distroless image the
//!   stand-in keeps busybox's shell (the comparison needs `/bin/sh`).
//!
//! They are imported into dockerd under the real names and pushed to the
//! registry that buildkitd uses as its mirror of `docker.io` and `gcr.io`.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::buildkitd::MIRRORED_HOSTS;
use super::dockerd::Dockerd;
use super::images::{self, Format, IMAGE_PATH, ImageSettings, Layer};
use super::registry::Client;
use super::util;

/// The shim scripts: name under `shims/`, content.
const SHIMS: &[(&str, &str)] = &[
    ("go", include_str!("shims/go")),
    ("node", include_str!("shims/node")),
    ("npm", include_str!("shims/npm")),
    ("docker-entrypoint.sh", include_str!("shims/docker-entrypoint.sh")),
    ("python3", include_str!("shims/python3")),
    ("pip", include_str!("shims/pip")),
    ("cargo", include_str!("shims/cargo")),
    ("apt-get", include_str!("shims/apt-get")),
    ("accounts", include_str!("shims/accounts")),
];

/// Debian's account and package tools, in every Debian-based stand-in.
const DEBIAN_TOOLS: &[(&str, &str)] =
    &[("apt-get", "/usr/bin/apt-get"), ("accounts", "/usr/sbin/useradd"), ("accounts", "/usr/sbin/adduser")];

/// One stand-in image, possibly under several names.
pub struct Toolchain {
    /// Names as Dockerfiles spell them.
    pub names: &'static [&'static str],
    /// Shim (name in [`SHIMS`]) → absolute path in the image.
    shims: &'static [(&'static str, &'static str)],
    debian: bool,
    /// Symlinks: path → target.
    links: &'static [(&'static str, &'static str)],
    /// Directories: path, mode, uid.
    dirs: &'static [(&'static str, u32, u32)],
    /// Files: path, content.
    files: &'static [(&'static str, &'static str)],
    /// `/etc/passwd` and `/etc/group` (the busybox rootfs' `app` user is
    /// not in the real images and is dropped).
    passwd: &'static str,
    group: &'static str,
    /// Env besides the `PATH` = `path_prefix` + the usual `PATH`.
    path_prefix: &'static str,
    env: &'static [&'static str],
    workdir: &'static str,
    user: &'static str,
    entrypoint: &'static [&'static str],
    cmd: &'static [&'static str],
}

const ROOT_PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const ROOT_GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// Every stand-in image.
pub const TOOLCHAINS: &[Toolchain] = &[
    Toolchain {
        names: &["golang:1.22-alpine", "golang:1.21-alpine"],
        shims: &[("go", "/usr/local/go/bin/go")],
        debian: false,
        links: &[],
        dirs: &[("/go/bin", 0o1777, 0), ("/go/src", 0o1777, 0), ("/go", 0o1777, 0)],
        files: &[("/usr/local/go/VERSION", "go1.22.5\n")],
        passwd: ROOT_PASSWD,
        group: ROOT_GROUP,
        path_prefix: "/go/bin:/usr/local/go/bin:",
        env: &["GOLANG_VERSION=1.22.5", "GOTOOLCHAIN=local", "GOPATH=/go"],
        workdir: "/go",
        user: "",
        entrypoint: &[],
        cmd: &["/bin/sh"],
    },
    Toolchain {
        names: &["node:20-alpine", "node:20"],
        shims: &[
            ("node", "/usr/local/bin/node"),
            ("npm", "/usr/local/bin/npm"),
            ("docker-entrypoint.sh", "/usr/local/bin/docker-entrypoint.sh"),
        ],
        debian: false,
        links: &[],
        dirs: &[("/home/node", 0o755, 1000)],
        files: &[],
        passwd: "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        group: "root:x:0:\nnode:x:1000:node\nnogroup:x:65534:\n",
        path_prefix: "",
        env: &["NODE_VERSION=20.15.1", "YARN_VERSION=1.22.22"],
        workdir: "/",
        user: "",
        entrypoint: &["docker-entrypoint.sh"],
        cmd: &["node"],
    },
    Toolchain {
        names: &["python:3.12-slim"],
        shims: &[("python3", "/usr/local/bin/python3"), ("pip", "/usr/local/bin/pip")],
        debian: true,
        links: &[
            ("/usr/local/bin/python", "python3"),
            ("/usr/local/bin/python3.12", "python3"),
            ("/usr/local/bin/pip3", "pip"),
        ],
        dirs: &[("/usr/local/lib/python3.12/site-packages", 0o755, 0)],
        files: &[],
        passwd: ROOT_PASSWD,
        group: ROOT_GROUP,
        path_prefix: "/usr/local/bin:",
        env: &["LANG=C.UTF-8", "PYTHON_VERSION=3.12.4"],
        workdir: "/",
        user: "",
        entrypoint: &[],
        cmd: &["python3"],
    },
    Toolchain {
        names: &["rust:1.79-slim-bookworm"],
        shims: &[("cargo", "/usr/local/cargo/bin/cargo")],
        debian: true,
        links: &[],
        dirs: &[("/usr/local/rustup", 0o777, 0), ("/usr/local/cargo", 0o777, 0)],
        files: &[],
        passwd: ROOT_PASSWD,
        group: ROOT_GROUP,
        path_prefix: "/usr/local/cargo/bin:",
        env: &["RUSTUP_HOME=/usr/local/rustup", "CARGO_HOME=/usr/local/cargo", "RUST_VERSION=1.79.0"],
        workdir: "/",
        user: "",
        entrypoint: &[],
        cmd: &["/bin/sh"],
    },
    Toolchain {
        names: &["debian:bookworm-slim"],
        shims: &[],
        debian: true,
        links: &[],
        dirs: &[],
        files: &[],
        passwd: ROOT_PASSWD,
        group: ROOT_GROUP,
        path_prefix: "",
        env: &[],
        workdir: "/",
        user: "",
        entrypoint: &[],
        cmd: &["/bin/sh"],
    },
    Toolchain {
        names: &["gcr.io/distroless/static-debian12"],
        shims: &[],
        debian: false,
        links: &[],
        dirs: &[("/home/nonroot", 0o700, 65532)],
        files: &[("/etc/ssl/certs/ca-certificates.crt", "# stand-in CA bundle\n")],
        passwd: DISTROLESS_PASSWD,
        group: DISTROLESS_GROUP,
        path_prefix: "",
        env: &["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
        workdir: "/",
        user: "",
        entrypoint: &[],
        cmd: &[],
    },
    Toolchain {
        names: &["gcr.io/distroless/static-debian12:nonroot"],
        shims: &[],
        debian: false,
        links: &[],
        dirs: &[("/home/nonroot", 0o700, 65532)],
        files: &[("/etc/ssl/certs/ca-certificates.crt", "# stand-in CA bundle\n")],
        passwd: DISTROLESS_PASSWD,
        group: DISTROLESS_GROUP,
        path_prefix: "",
        env: &["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
        workdir: "/home/nonroot",
        user: "65532",
        entrypoint: &[],
        cmd: &[],
    },
];

const DISTROLESS_PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";
const DISTROLESS_GROUP: &str = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";

impl Toolchain {
    fn env(&self) -> Vec<String> {
        let mut env = vec![format!("PATH={}{IMAGE_PATH}", self.path_prefix)];
        env.extend(self.env.iter().map(|s| s.to_string()));
        env
    }

    fn settings(&self) -> ImageSettings<'_> {
        ImageSettings {
            arch: "amd64",
            env: self.env(),
            workdir: self.workdir,
            user: self.user,
            cmd: self.cmd.to_vec(),
            entrypoint: self.entrypoint.to_vec(),
        }
    }

    /// `docker import --change` arguments for the config.
    fn changes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.env().iter().map(|e| format!("ENV {e}")).collect();
        out.push(format!("WORKDIR {}", self.workdir));
        if !self.user.is_empty() {
            out.push(format!("USER {}", self.user));
        }
        if !self.entrypoint.is_empty() {
            out.push(format!("ENTRYPOINT {}", serde_json::to_string(self.entrypoint).unwrap_or_default()));
        }
        if !self.cmd.is_empty() {
            out.push(format!("CMD {}", serde_json::to_string(self.cmd).unwrap_or_default()));
        }
        out
    }

    /// The stand-in's root filesystem in `dir/<first name, sanitized>`.
    fn rootfs(&self, dir: &Path) -> Result<PathBuf> {
        let slug: String =
            self.names[0].chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
        let shim_dir = dir.join("shims");
        fs::create_dir_all(&shim_dir)?;
        for (name, text) in SHIMS {
            fs::write(shim_dir.join(name), text)?;
        }
        let mut wanted: Vec<(&str, &str)> = self.shims.to_vec();
        if self.debian {
            wanted.extend_from_slice(DEBIAN_TOOLS);
        }
        let sources: Vec<PathBuf> = wanted.iter().map(|(n, _)| shim_dir.join(n)).collect();
        let extra: Vec<(&Path, &str, u32)> =
            sources.iter().zip(&wanted).map(|(src, (_, dest))| (src.as_path(), *dest, 0o755)).collect();
        let root = images::make_rootfs(dir, &format!("rootfs-{slug}"), &extra)?;
        util::remove_tree(&root.join("home/app"))?;
        fs::write(root.join("etc/passwd"), self.passwd)?;
        fs::write(root.join("etc/group"), self.group)?;
        for (path, target) in self.links {
            symlink(target, root.join(path.trim_start_matches('/')))?;
        }
        for (path, content) in self.files {
            let f = root.join(path.trim_start_matches('/'));
            fs::create_dir_all(f.parent().context("a file at /")?)?;
            fs::write(f, content)?;
        }
        for (path, mode, uid) in self.dirs {
            let d = root.join(path.trim_start_matches('/'));
            fs::create_dir_all(&d)?;
            fs::set_permissions(&d, fs::Permissions::from_mode(*mode))?;
            std::os::unix::fs::chown(&d, Some(*uid), Some(*uid))?;
        }
        Ok(root)
    }
}

/// Imports every stand-in into dockerd under all its names.
pub fn import_toolchains(d: &Dockerd, work_dir: &Path) -> Result<()> {
    let dir = work_dir.join("dockerd-toolchains");
    fs::create_dir_all(&dir)?;
    for t in TOOLCHAINS {
        let rootfs = t.rootfs(&dir)?;
        let tar = rootfs.with_extension("tar");
        images::tar_dir(&rootfs, &tar)?;
        let tar_s = tar.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec!["import".into()];
        for c in t.changes() {
            args.push("--change".into());
            args.push(c);
        }
        args.push(tar_s);
        args.push(t.names[0].to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        d.docker_output(&args).with_context(|| format!("importing the stand-in {}", t.names[0]))?;
        for name in &t.names[1..] {
            d.docker_output(&["tag", t.names[0], name])?;
        }
    }
    Ok(())
}

/// Pushes every stand-in to the registry (buildkitd's mirror of `docker.io`
/// and of the [`MIRRORED_HOSTS`], whose names lose their host there);
/// returns the names pushed.
pub fn push_toolchains(client: &Client, work_dir: &Path) -> Result<Vec<String>> {
    let dir = work_dir.join("registry-toolchains");
    fs::create_dir_all(&dir)?;
    let mut pushed = Vec::new();
    for t in TOOLCHAINS {
        let rootfs = t.rootfs(&dir)?;
        let layer: Layer = images::make_layer(&rootfs, &rootfs.with_extension("layer"))?;
        for name in t.names {
            let (repo, tag) = match mirror_name(name) {
                Some(n) => images::hub_repo_tag(n),
                None => continue,
            };
            images::push_image(client, &repo, &[&tag], &t.settings(), &[&layer], Format::Docker)
                .with_context(|| format!("pushing the stand-in {name}"))?;
            pushed.push(name.to_string());
        }
    }
    Ok(pushed)
}

/// `name` as the mirror has it: a Docker Hub name as it is, a name on one
/// of the [`MIRRORED_HOSTS`] without the host; None for other registries.
fn mirror_name(name: &str) -> Option<&str> {
    if is_docker_hub(name) {
        return Some(name);
    }
    let (host, rest) = name.split_once('/')?;
    MIRRORED_HOSTS.contains(&host).then_some(rest)
}

/// Whether `name` is a Docker Hub name (no registry host before a `/`).
fn is_docker_hub(name: &str) -> bool {
    match name.split_once('/') {
        Some((host, _)) => !(host.contains('.') || host.contains(':') || host == "localhost"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_told_from_hub_names() {
        assert!(is_docker_hub("golang:1.22-alpine"));
        assert!(is_docker_hub("library/node:20"));
        assert!(!is_docker_hub("gcr.io/distroless/static-debian12:nonroot"));
        assert_eq!(
            mirror_name("gcr.io/distroless/static-debian12:nonroot"),
            Some("distroless/static-debian12:nonroot")
        );
        assert_eq!(mirror_name("node:20"), Some("node:20"));
        assert_eq!(mirror_name("quay.io/x/y:1"), None);
    }

    #[test]
    fn every_shim_used_exists_and_is_a_sh_script() {
        for t in TOOLCHAINS {
            for (name, _) in t.shims {
                let text = SHIMS.iter().find(|(n, _)| n == name).map(|(_, t)| *t);
                assert!(text.is_some_and(|t| t.starts_with("#!/bin/sh\n")), "{name}");
            }
        }
    }

    #[test]
    fn import_changes_carry_the_config() {
        let node = TOOLCHAINS.iter().find(|t| t.names.contains(&"node:20-alpine")).expect("node");
        let c = node.changes();
        assert!(c.contains(&r#"ENTRYPOINT ["docker-entrypoint.sh"]"#.to_string()), "{c:?}");
        assert!(c.contains(&r#"CMD ["node"]"#.to_string()), "{c:?}");
        let go = TOOLCHAINS.iter().find(|t| t.names.contains(&"golang:1.22-alpine")).expect("go");
        assert!(go.changes().contains(&format!("ENV PATH=/go/bin:/usr/local/go/bin:{IMAGE_PATH}")));
        assert!(go.changes().contains(&"WORKDIR /go".to_string()));
    }
}
