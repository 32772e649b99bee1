//! `luakit solve` options that change how BuildKit builds rather than what:
//! `--no-cache` (every step runs again, on the script's gateway route and on
//! a `.pb`), TLS to a `tcp://` buildkitd, and build-cache export/import.
//!
//! Listed in [`super::cases_buildkitd::cases`] (and `--no-cache` in
//! [`super::cases_dockerd::cases`] too).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::cases_buildkitd::Ctx;
use super::cases_dockerd::Env;
use super::util::{self, tail};

/// How long one `luakit solve` may take.
const SOLVE_TIMEOUT: Duration = Duration::from_secs(180);

/// A finished `luakit solve`: success, stdout, stderr.
pub(super) struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn describe(&self) -> String {
        format!("stdout:\n{}\n--- stderr:\n{}", tail(&self.stdout, 10), tail(&self.stderr, 60))
    }

    pub fn ok(self) -> Result<Run> {
        ensure!(self.ok, "luakit solve failed\n{}", self.describe());
        Ok(self)
    }

    pub fn fails_with(self, needles: &[&str]) -> Result<Run> {
        ensure!(!self.ok, "luakit solve succeeded but must fail\n{}", self.describe());
        for n in needles {
            ensure!(self.stderr.contains(n), "the error does not mention {n:?}\n{}", self.describe());
        }
        Ok(self)
    }

    /// Whether a step whose name contains `name` was reported CACHED
    /// (plain progress: `#N name` … `#N CACHED`).
    pub fn cached(&self, name: &str) -> Result<bool> {
        let number = self
            .stderr
            .lines()
            .find_map(|l| {
                let (n, rest) = l.strip_prefix('#')?.split_once(' ')?;
                (rest.contains(name) && n.chars().all(|c| c.is_ascii_digit())).then(|| n.to_string())
            })
            .with_context(|| format!("no step {name:?} in the progress\n{}", self.describe()))?;
        Ok(self.stderr.lines().any(|l| l == format!("#{number} CACHED")))
    }
}

/// `luakit solve ARGS…` in `dir` (no BUILDKIT_HOST/DOCKER_HOST from the
/// suite's environment), logged to `log`.{stdout,log}.
pub(super) fn solve(luakit: &Path, dir: &Path, args: &[&str], log: &Path) -> Result<Run> {
    let out_path = log.with_extension("stdout");
    let err_path = log.with_extension("log");
    let mut child = Command::new(luakit)
        .current_dir(dir)
        .arg("solve")
        .args(args)
        .env_remove("BUILDKIT_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::from(fs::File::create(&out_path)?))
        .stderr(Stdio::from(fs::File::create(&err_path)?))
        .spawn()
        .with_context(|| format!("cannot run {}", luakit.display()))?;
    let status = util::wait_timeout(&mut child, SOLVE_TIMEOUT)?;
    Ok(Run {
        ok: status.is_some_and(|s| s.success()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    })
}

/// A script of one `run` step unique to this call (so its first build
/// is not cached) and a file op after it.
fn nonce_script(dir: &Path) -> Result<String> {
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos();
    let marker = format!("nc-{nonce}");
    fs::write(
        dir.join("build.lua"),
        format!(
            "local st = bk.image(\"busybox:latest\"):run(\"echo {marker} > /marker.txt\")\n\
             bk.export(st:mkfile(\"/done.txt\", \"done\"))\n"
        ),
    )?;
    Ok(marker)
}

/// `--no-cache` on `addr`: a second run shows the steps CACHED, a run with
/// the flag none (on the gateway route and for a `.pb`), and the step runs
/// again.
fn no_cache(luakit: &Path, work: &Path, addr: &str) -> Result<()> {
    let marker = nonce_script(work)?;
    let step = format!("echo {marker}");
    let base = ["--addr", addr, "--progress", "plain"];
    let first = solve(luakit, work, &base, &work.join("first"))?.ok()?;
    ensure!(!first.cached(&step)?, "the first build of a new step is CACHED\n{}", first.describe());
    let second = solve(luakit, work, &base, &work.join("second"))?.ok()?;
    ensure!(second.cached(&step)?, "the second build is not CACHED\n{}", second.describe());
    let mut args = base.to_vec();
    args.push("--no-cache");
    let fresh = solve(luakit, work, &args, &work.join("no-cache"))?.ok()?;
    ensure!(!fresh.stderr.contains("CACHED"), "--no-cache still shows CACHED steps\n{}", fresh.describe());
    ensure!(!fresh.cached(&step)?, "unreachable");

    // A `.pb`: the same with and without the flag.
    let def = work.join("def.pb");
    let o = Command::new(luakit).current_dir(work).args(["build", "build.lua", "-o"]).arg(&def).output()?;
    util::check_output("luakit build", &o)?;
    let def = def.to_string_lossy().into_owned();
    let mut args = base.to_vec();
    args.push(&def);
    // (The `.pb` is not the gateway's Definition: no step names, so other ops.)
    solve(luakit, work, &args, &work.join("pb-first"))?.ok()?;
    let cached = solve(luakit, work, &args, &work.join("pb"))?.ok()?;
    ensure!(cached.stderr.contains("CACHED"), "a second .pb build shows no CACHED step\n{}", cached.describe());
    args.push("--no-cache");
    let fresh = solve(luakit, work, &args, &work.join("pb-no-cache"))?.ok()?;
    ensure!(!fresh.stderr.contains("CACHED"), "--no-cache on a .pb still shows CACHED\n{}", fresh.describe());
    Ok(())
}

/// `luakit solve --no-cache` on buildkitd.
pub fn buildkitd_no_cache(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-no-cache")?;
    no_cache(&c.luakit, &work, &c.bk.addr())
}

/// `luakit solve --no-cache` on the Docker daemon.
pub fn dockerd_no_cache(env: &Env) -> Result<()> {
    let work = env.work.join("solve-no-cache");
    util::remove_tree(&work)?;
    fs::create_dir_all(&work)?;
    no_cache(&env.luakit, &work, &format!("docker://unix://{}", env.d.socket().display()))
}

/// `openssl ARGS…` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new("openssl").current_dir(dir).args(args).stdin(Stdio::null()).output()?;
    util::check_output(&format!("openssl {}", args.join(" ")), &out)
}

/// A CA (`NAME.pem`, `NAME-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> Result<()> {
    let (cert, key) = (format!("{name}.pem"), format!("{name}-key.pem"));
    let subj = format!("/CN=luakit-e2e-{name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )
}

/// A certificate `NAME.pem`/`NAME-key.pem` signed by `ca`, with `ext`
/// (subjectAltName, extendedKeyUsage lines).
fn make_cert(dir: &Path, ca: &str, name: &str, ext: &str) -> Result<()> {
    let (cert, key, csr, extfile) =
        (format!("{name}.pem"), format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}.ext"));
    fs::write(dir.join(&extfile), ext)?;
    let subj = format!("/CN=luakit-e2e-{name}");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &subj,
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ],
    )
}

/// mTLS to a `tcp://` buildkitd (a second daemon started for the case with
/// `--tlscacert/--tlscert/--tlskey`, certificates made here with openssl):
/// a script is solved with `--addr` and with `BUILDKIT_HOST`; a wrong CA,
/// a wrong server name and no client certificate fail with clear errors.
pub fn buildkitd_tls(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-tls")?;
    let pki = work.join("pki");
    fs::create_dir_all(&pki)?;
    make_ca(&pki, "ca")?;
    make_ca(&pki, "other-ca")?;
    make_cert(&pki, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:buildkitd.test\nextendedKeyUsage=serverAuth\n")?;
    make_cert(&pki, "ca", "client", "extendedKeyUsage=clientAuth\n")?;
    let p = |f: &str| pki.join(f).to_string_lossy().into_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("tcp://127.0.0.1:{port}");
    let bin_dir = c.bk.buildctl_path().parent().context("buildctl has no directory")?.to_path_buf();
    let extra: Vec<String> = vec![
        "--addr".into(),
        addr.clone(),
        "--tlscacert".into(),
        p("ca.pem"),
        "--tlscert".into(),
        p("server.pem"),
        "--tlskey".into(),
        p("server-key.pem"),
    ];
    let registries = [super::buildkitd::RegistryHost { addr: c.registry.addr(), docker_io_mirror: true }];
    let daemon = super::buildkitd::Buildkitd::start_with(&work, &bin_dir, &registries, &extra)?;

    fs::write(work.join("build.lua"), "bk.export(bk.scratch():mkfile(\"/tls.txt\", \"over tls\"))\n")?;
    let (ca, cert, key) = (p("ca.pem"), p("client.pem"), p("client-key.pem"));
    let client = ["--tlscacert", ca.as_str(), "--tlscert", cert.as_str(), "--tlskey", key.as_str()];
    let mut args = vec!["--addr", addr.as_str(), "--progress", "plain"];
    args.extend_from_slice(&client);
    let ok = solve(&c.luakit, &work, &args, &work.join("tls"))?.ok()?;
    ensure!(ok.stderr.contains("mkfile /tls.txt"), "no mkfile step in the progress\n{}", ok.describe());

    // BUILDKIT_HOST with the same options.
    let out = work.join("env.log");
    let o = Command::new(&c.luakit)
        .current_dir(&work)
        .arg("solve")
        .args(client)
        .env("BUILDKIT_HOST", &addr)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()?;
    fs::write(&out, &o.stderr)?;
    util::check_output("luakit solve with BUILDKIT_HOST over TLS", &o)?;

    // A CA that did not sign the daemon's certificate.
    let other = p("other-ca.pem");
    let mut args = vec!["--addr", addr.as_str(), "--connect-timeout", "10s", "--tlscacert", other.as_str()];
    args.extend_from_slice(&client[2..]);
    solve(&c.luakit, &work, &args, &work.join("wrong-ca"))?.fails_with(&[
        &format!("cannot connect to BuildKit at {addr}"),
        "TLS handshake with 127.0.0.1",
        "not signed by the --tlscacert CA",
    ])?;
    // A name the certificate does not have.
    let mut args = vec!["--addr", addr.as_str(), "--connect-timeout", "10s", "--tlsservername", "elsewhere.test"];
    args.extend_from_slice(&client);
    solve(&c.luakit, &work, &args, &work.join("wrong-name"))?.fails_with(&["--tlsservername"])?;
    // The name it has.
    let mut args = vec!["--addr", addr.as_str(), "--tlsservername", "buildkitd.test"];
    args.extend_from_slice(&client);
    solve(&c.luakit, &work, &args, &work.join("server-name"))?.ok()?;
    // No client certificate: buildkitd refuses.
    let args = ["--addr", addr.as_str(), "--connect-timeout", "10s", "--tlscacert", ca.as_str()];
    solve(&c.luakit, &work, &args, &work.join("no-client-cert"))?
        .fails_with(&["refused this client's certificate", "--tlscert and --tlskey"])?;
    // Plain TCP to the TLS port.
    let args = ["--addr", addr.as_str(), "--connect-timeout", "10s"];
    solve(&c.luakit, &work, &args, &work.join("plain"))?
        .fails_with(&[&format!("{addr} closed the connection: if buildkitd serves TLS there")])?;
    drop(daemon);
    Ok(())
}

/// Build-cache export and import through `luakit solve` (the script's
/// gateway route): `--cache-to type=registry,mode=max` on the suite's
/// daemon, then `--cache-from` on a fresh daemon (an empty cache) shows the
/// step CACHED; the same with `--cache-to type=inline` in a pushed image.
/// `type=local` is refused with a clear error (no session content store).
pub fn buildkitd_cache(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-cache")?;
    let (max_dir, inline_dir) = (work.join("max"), work.join("inline"));
    fs::create_dir_all(&max_dir)?;
    fs::create_dir_all(&inline_dir)?;
    let max_marker = nonce_script(&max_dir)?;
    let inline_marker = nonce_script(&inline_dir)?;
    let reg = c.registry.addr();
    let cache_ref = format!("{reg}/luakit-e2e/solve-cache:max");
    let image = format!("{reg}/luakit-e2e/solve-inline:1");
    let addr = c.bk.addr();

    let to = format!("type=registry,ref={cache_ref},mode=max");
    solve(&c.luakit, &max_dir, &["--addr", &addr, "--cache-to", &to], &work.join("export-max"))?.ok()?;
    let out = format!("type=image,name={image},push=true");
    solve(
        &c.luakit,
        &inline_dir,
        &["--addr", &addr, "--output", &out, "--cache-to", "type=inline"],
        &work.join("export-inline"),
    )?
    .ok()?;

    // A daemon with nothing cached.
    let bin_dir = c.bk.buildctl_path().parent().context("buildctl has no directory")?.to_path_buf();
    let registries = [super::buildkitd::RegistryHost { addr: reg, docker_io_mirror: true }];
    let fresh = super::buildkitd::Buildkitd::start(&work, &bin_dir, &registries)?;
    let fresh_addr = fresh.addr();
    for (dir, marker, from, name) in [
        (&max_dir, &max_marker, format!("type=registry,ref={cache_ref}"), "import-max"),
        (&inline_dir, &inline_marker, format!("type=registry,ref={image}"), "import-inline"),
    ] {
        let args = ["--addr", fresh_addr.as_str(), "--progress", "plain", "--cache-from", from.as_str()];
        let r = solve(&c.luakit, dir, &args, &work.join(name))?.ok()?;
        ensure!(
            r.cached(&format!("echo {marker}"))?,
            "{name}: the step is not CACHED from the imported cache\n{}",
            r.describe()
        );
    }
    drop(fresh);
    Ok(())
}

/// `type=local` caches, served by the session's content store: an export
/// with `mode=max` fills a directory (an OCI layout whose `index.json`
/// tags the cache manifest `latest`; the import of the same directory on
/// that first run is skipped with a warning), and a daemon with nothing
/// cached imports it and shows the step CACHED.
pub fn buildkitd_cache_local(c: &Ctx) -> Result<()> {
    let work = c.dir("solve-cache-local")?;
    let (script_dir, cache_dir) = (work.join("script"), work.join("cache"));
    fs::create_dir_all(&script_dir)?;
    let marker = nonce_script(&script_dir)?;
    let cache = cache_dir.to_str().context("the work directory is not UTF-8")?;
    let addr = c.bk.addr();

    let to = format!("type=local,dest={cache},mode=max");
    let from = format!("type=local,src={cache}");
    let first = solve(
        &c.luakit,
        &script_dir,
        &["--addr", &addr, "--cache-to", &to, "--cache-from", &from],
        &work.join("export"),
    )?
    .ok()?;
    ensure!(
        first.stderr.contains("warning: local cache import at"),
        "the first run does not warn that there is no cache to import yet\n{}",
        first.describe()
    );
    let index: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(cache_dir.join("index.json")).context("the export wrote no index.json")?,
    )?;
    let manifests = index["manifests"].as_array().context("index.json has no manifests")?;
    ensure!(manifests.len() == 1, "index.json: {index}");
    ensure!(
        manifests[0]["annotations"]["org.opencontainers.image.ref.name"] == "latest",
        "the manifest is not tagged latest: {index}"
    );
    let digest = manifests[0]["digest"].as_str().context("no digest")?;
    let blobs = cache_dir.join("blobs").join("sha256");
    let manifest = blobs.join(digest.trim_start_matches("sha256:"));
    ensure!(manifest.is_file(), "the manifest {digest} is not in blobs/sha256");
    let listed: serde_json::Value = serde_json::from_slice(&fs::read(&manifest)?)?;
    let entries = listed["manifests"].as_array().context("the cache manifest lists nothing")?;
    for e in entries {
        let d = e["digest"].as_str().context("an entry without digest")?;
        let size = fs::metadata(blobs.join(d.trim_start_matches("sha256:")))
            .with_context(|| format!("blob {d} of the cache manifest is missing"))?
            .len();
        ensure!(Some(size) == e["size"].as_u64(), "blob {d} has {size} bytes, the manifest says {}", e["size"]);
    }
    ensure!(entries.len() >= 2, "mode=max exported no layer: {listed}");
    ensure!(!cache_dir.join("ingest").exists(), "unfinished writes were left in the cache directory");

    // A daemon with nothing cached.
    let bin_dir = c.bk.buildctl_path().parent().context("buildctl has no directory")?.to_path_buf();
    let registries = [super::buildkitd::RegistryHost { addr: c.registry.addr(), docker_io_mirror: true }];
    let fresh = super::buildkitd::Buildkitd::start(&work, &bin_dir, &registries)?;
    let fresh_addr = fresh.addr();
    let args = ["--addr", fresh_addr.as_str(), "--progress", "plain", "--cache-from", from.as_str()];
    let r = solve(&c.luakit, &script_dir, &args, &work.join("import"))?.ok()?;
    ensure!(r.cached(&format!("echo {marker}"))?, "the step is not CACHED from the local cache\n{}", r.describe());
    drop(fresh);

    let missing = format!("type=local,src={}", work.join("nothing").display());
    solve(&c.luakit, &script_dir, &["--addr", &addr, "--cache-to", "type=local"], &work.join("no-dest"))?
        .fails_with(&["--cache-to type=local needs dest=DIR"])?;
    let r = solve(&c.luakit, &script_dir, &["--addr", &addr, "--cache-from", &missing], &work.join("missing"))?.ok()?;
    ensure!(r.stderr.contains("not found"), "a missing cache directory is not reported\n{}", r.describe());
    Ok(())
}

/// The names of the steps reported CACHED in plain progress output
/// (`#N name` … `#N CACHED`, as buildctl, buildx and luakit print it).
pub(super) fn cached_steps(output: &str) -> Vec<String> {
    let mut names = std::collections::BTreeMap::new();
    let mut cached = Vec::new();
    for line in output.lines() {
        let Some((n, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else { continue };
        if !n.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if rest == "CACHED" {
            if let Some(name) = names.get(n) {
                cached.push(String::clone(name));
            }
        } else {
            names.entry(n.to_string()).or_insert_with(|| rest.to_string());
        }
    }
    cached
}

#[cfg(test)]
mod tests {
    #[test]
    fn cached_steps_of_plain_progress() {
        let out = "#1 [internal] load\n#1 DONE 0.1s\n#2 [build.lua:3] run a\n#2 CACHED\n#3 [build.lua:4] run b\n#3 0.1 out\n#3 DONE 1.0s\n";
        assert_eq!(super::cached_steps(out), ["[build.lua:3] run a"]);
    }
}
