//! End-to-end tests on two real BuildKit engines: `cargo xtask e2e [ARG…]`.
//!
//! 1. **dockerd 20.10** (Debian's `docker.io`, BuildKit v0.8 built in): a
//!    private daemon ([`dockerd`]), busybox base images `docker import`ed,
//!    the frontend image `docker load`ed (`luakit frontend-image`), and
//!    `docker build -f build.lua` with `# syntax=luakit/frontend:dev`
//!    ([`cases_dockerd`]).
//! 2. **buildkitd v0.11.6** (the project's shared binaries, Debian's runc):
//!    its own root, socket and config ([`buildkitd`]), pulling `docker.io/…`
//!    through a local `docker-registry` ([`registry`]) that holds base images
//!    made here from busybox ([`images`]) and the frontend image; cases go
//!    through `buildctl build --frontend gateway.v0 --opt source=…` or a
//!    pipe from `luakit build` ([`cases_buildkitd`]).
//! 3. `luakit solve` on both engines ([`cases_solve`]): the gateway build
//!    over the Control connection, `.pb` solves, outputs, failures.
//!
//! Nothing is pulled from outside: only loopback. Setup of the two engines
//! runs in parallel, then the cases of both run on a pool of threads
//! ([`runner`]); each daemon is started once and stopped at the end (also on
//! failure and on Ctrl-C/SIGTERM). The suite prints which engines ran and a
//! summary per engine, and fails if an engine cannot start: a full run
//! needs both.
//!
//! Arguments (none: everything): `dockerd` or `buildkitd` (all cases of one
//! engine), `ENGINE/CASE`, or `CASE` (that case on every engine that has it);
//! `--jobs N` (parallel cases; default `LUAKIT_E2E_JOBS` or 4).
//! `cargo xtask e2e serve` starts both engines and the registries, prints
//! their addresses as shell `export`s (see [`Services::env_vars`]) and waits
//! for Ctrl-C: for trying things by hand or developing a case.
//!
//! Work files are under `target/e2e` (logs of every build:
//! `target/e2e/{dockerd,buildkitd}-cases/*.log`; daemon logs:
//! `target/e2e/dockerd/dockerd.log`, `target/e2e/buildkitd/buildkitd.log`,
//! `target/e2e/registry-*/registry.log`).

pub mod buildkitd;
pub mod cases_buildkitd;
pub mod cases_dockerd;
pub mod cases_lock;
pub mod cases_solve;
pub mod cases_solve_opts;
pub mod cases_solve_outputs;
pub mod convert_equiv;
pub mod dockerd;
pub mod http;
pub mod images;
pub mod oci;
pub mod packages;
pub mod registry;
pub mod runner;
pub mod session;
pub mod toolchains;
pub mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

pub use packages::ensure_packages;

use buildkitd::{Buildkitd, RegistryHost};
use dockerd::Dockerd;
use registry::Registry;
use runner::Engine;

/// The tag the fixtures' `# syntax=` lines name (and, in the registry, the
/// frontend image's repository and tag).
pub const FRONTEND_TAG: &str = "luakit/frontend:dev";

/// Default number of cases run at once.
const DEFAULT_JOBS: usize = 4;

/// What the command line selected.
struct Selection {
    /// `(engine, case)`; `case` None: all of that engine.
    picks: Vec<(Engine, Option<String>)>,
    jobs: usize,
    serve: bool,
}

impl Selection {
    fn parse(args: &[String]) -> Result<Selection> {
        let mut picks = Vec::new();
        let mut jobs = std::env::var("LUAKIT_E2E_JOBS").ok().and_then(|j| j.parse().ok()).unwrap_or(DEFAULT_JOBS);
        let mut serve = false;
        let dockerd_names: Vec<&str> = cases_dockerd::cases().iter().map(|c| c.name).collect();
        let bk_names: Vec<&str> = cases_buildkitd::cases().iter().map(|c| c.name).collect();
        let names_of = |e: Engine| if e == Engine::Dockerd { &dockerd_names } else { &bk_names };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--jobs" || a == "-j" {
                jobs = it.next().and_then(|n| n.parse().ok()).context("--jobs needs a number")?;
                continue;
            }
            if let Some(n) = a.strip_prefix("--jobs=") {
                jobs = n.parse().context("--jobs needs a number")?;
                continue;
            }
            if a == "serve" {
                serve = true;
                continue;
            }
            if let Some(e) = Engine::ALL.iter().find(|e| e.name() == a) {
                picks.push((*e, None));
                continue;
            }
            if let Some((e, c)) = a.split_once('/') {
                let e =
                    Engine::ALL.iter().find(|x| x.name() == e).with_context(|| format!("unknown engine in '{a}'"))?;
                ensure!(
                    names_of(*e).contains(&c),
                    "{} has no case '{c}' (cases: {})",
                    e.name(),
                    names_of(*e).join(", ")
                );
                picks.push((*e, Some(c.to_string())));
                continue;
            }
            let mut found = false;
            for e in Engine::ALL {
                if names_of(e).contains(&a.as_str()) {
                    picks.push((e, Some(a.clone())));
                    found = true;
                }
            }
            ensure!(
                found,
                "unknown e2e argument '{a}'\n  engines: dockerd, buildkitd\n  dockerd cases: {}\n  buildkitd cases: {}",
                dockerd_names.join(", "),
                bk_names.join(", ")
            );
        }
        Ok(Selection { picks, jobs, serve })
    }

    /// Everything (no case named).
    fn all(&self) -> bool {
        self.picks.is_empty()
    }

    fn wants_engine(&self, e: Engine) -> bool {
        self.all()
            || self.serve
            || self.picks.iter().any(|(x, _)| *x == e)
            // buildkitd's cases that need the Docker daemon too.
            || (e == Engine::Dockerd
                && cases_buildkitd::NEEDS_DOCKERD.iter().any(|c| self.wants(Engine::Buildkitd, c)))
    }

    fn wants(&self, e: Engine, case: &str) -> bool {
        self.all() || self.picks.iter().any(|(x, c)| *x == e && c.as_deref().is_none_or(|c| c == case))
    }
}

/// The running services of a suite.
pub struct Services {
    pub registry: Registry,
    pub auth_registry: Registry,
    pub dockerd: Option<Dockerd>,
    pub buildkitd: Option<Buildkitd>,
    /// `<registry>/luakit/frontend:dev`.
    pub frontend_ref: String,
}

impl Services {
    /// Environment variables naming the services, for cases that run
    /// commands or scripts (and printed by `cargo xtask e2e serve`):
    /// `LUAKIT_E2E_REGISTRY` (plain, `127.0.0.1:PORT`; buildkitd's mirror of
    /// docker.io), `LUAKIT_E2E_AUTH_REGISTRY` with `LUAKIT_E2E_REGISTRY_USER`
    /// and `LUAKIT_E2E_REGISTRY_PASSWORD`, `LUAKIT_E2E_FRONTEND` (the
    /// frontend image in the registry), `BUILDKIT_HOST` (buildkitd) and
    /// `DOCKER_HOST` (dockerd).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("LUAKIT_E2E_REGISTRY".to_string(), self.registry.addr().to_string()),
            ("LUAKIT_E2E_AUTH_REGISTRY".to_string(), self.auth_registry.addr().to_string()),
            ("LUAKIT_E2E_REGISTRY_USER".to_string(), registry::AUTH_USER.to_string()),
            ("LUAKIT_E2E_REGISTRY_PASSWORD".to_string(), registry::AUTH_PASSWORD.to_string()),
            ("LUAKIT_E2E_FRONTEND".to_string(), self.frontend_ref.clone()),
        ];
        if let Some(b) = &self.buildkitd {
            v.push(("BUILDKIT_HOST".to_string(), b.addr()));
        }
        if let Some(d) = &self.dockerd {
            v.push(("DOCKER_HOST".to_string(), d.host()));
        }
        v
    }
}

/// Runs the end-to-end suite.
/// The machine-wide lock of the e2e engines (`/tmp/luakit-e2e-engines.lock`,
/// `flock`ed): a second suite, from any checkout, waits for the first.
#[allow(unsafe_code)]
fn engines_lock() -> Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let path = std::env::temp_dir().join("luakit-e2e-engines.lock");
    let file = std::fs::File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        println!("e2e: another e2e suite holds {}; waiting for it", path.display());
        // SAFETY: as above; blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("cannot lock {}: {}", path.display(), std::io::Error::last_os_error());
        }
    }
    Ok(file)
}

pub fn run(args: &[String]) -> Result<()> {
    let sel = Selection::parse(args)?;
    util::install_interrupt_handler()?;
    let t0 = Instant::now();
    let root = crate::root();
    ensure_packages()?;
    // One suite at a time on this machine: two dockerd would fight over the
    // default bridge (docker0). Held until this process ends.
    let _engines = engines_lock()?;

    // The luakit binary as `cargo test --workspace` builds it (for the CLI
    // tests): `cargo build -p luakit-cli` would unify features differently
    // (no dev-dependencies, one package) and compile the dependencies a
    // second time, doubling CI's build. After `cargo test --workspace` this
    // compiles nothing and puts that binary at target/debug/luakit.
    let mut c = crate::cargo();
    c.args(["test", "--workspace", "--no-run"]);
    crate::run(c)?;
    let target = target_dir(&root);
    let luakit = target.join("debug/luakit");
    ensure!(luakit.exists(), "{} was not built", luakit.display());
    let work = target.join("e2e");
    fs::create_dir_all(&work)?;
    let work = fs::canonicalize(&work)?;

    let services = start_services(&sel, &root, &target, &work, &luakit)?;
    let setup_secs = t0.elapsed().as_secs_f64();
    eprintln!("e2e: engines and registries ready after {setup_secs:.0}s");

    if sel.serve {
        println!("# cargo xtask e2e serve: the services run until Ctrl-C");
        for (k, v) in services.env_vars() {
            println!("export {k}={v}");
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }

    let fixtures = root.join("fixtures/e2e");
    let dockerd_env = match &services.dockerd {
        Some(d) => {
            let w = work.join("dockerd-cases");
            util::remove_tree(&w)?;
            fs::create_dir_all(&w)?;
            Some(cases_dockerd::Env {
                d,
                auth_registry: &services.auth_registry,
                luakit: luakit.clone(),
                fixtures: fixtures.clone(),
                work: w,
            })
        }
        None => None,
    };
    let bk_ctx = match &services.buildkitd {
        Some(bk) => {
            let w = work.join("buildkitd-cases");
            util::remove_tree(&w)?;
            fs::create_dir_all(&w)?;
            Some(cases_buildkitd::Ctx {
                bk,
                registry: &services.registry,
                auth_registry: &services.auth_registry,
                luakit: luakit.clone(),
                fixtures: fixtures.clone(),
                work: w,
                frontend: services.frontend_ref.clone(),
                dockerd: services.dockerd.as_ref(),
            })
        }
        None => None,
    };
    let selected = |e: Engine, name: &str| sel.wants(e, name);
    let mut jobs = Vec::new();
    if let Some(env) = &dockerd_env {
        jobs.extend(runner::jobs(Engine::Dockerd, env, cases_dockerd::cases(), selected));
    }
    if let Some(ctx) = &bk_ctx {
        jobs.extend(runner::jobs(Engine::Buildkitd, ctx, cases_buildkitd::cases(), selected));
    }
    let t_cases = Instant::now();
    let outcomes = runner::run(jobs, sel.jobs);
    let cases_secs = t_cases.elapsed().as_secs_f64();

    // Summary.
    let dockerd_desc = services.dockerd.as_ref().map(|d| {
        let v = d
            .docker_output(&["version", "--format", "{{.Server.Version}}"])
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
        format!("dockerd {v} (BuildKit v0.8, built in)")
    });
    let bk_desc = services.buildkitd.as_ref().map(|b| format!("buildkitd {} (OCI worker, runc)", b.version()));
    let mut parts = Vec::new();
    for (e, desc) in [(Engine::Dockerd, dockerd_desc), (Engine::Buildkitd, bk_desc)] {
        let Some(desc) = desc else {
            parts.push(format!("{}: not run (not selected)", e.name()));
            continue;
        };
        let mine: Vec<&runner::Outcome> = outcomes.iter().filter(|o| o.engine == e).collect();
        let failed: Vec<&str> = mine.iter().filter(|o| o.error.is_some()).map(|o| o.name).collect();
        let busy: f64 = mine.iter().map(|o| o.secs).sum();
        parts.push(format!(
            "{desc}: {} passed, {} failed{} ({busy:.0}s of case time)",
            mine.len() - failed.len(),
            failed.len(),
            if failed.is_empty() { String::new() } else { format!(" [{}]", failed.join(", ")) }
        ));
    }
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    println!("e2e engines: {}", parts.join("; "));
    println!(
        "e2e time: setup {setup_secs:.0}s, cases {cases_secs:.0}s ({} at once), total {:.0}s",
        sel.jobs,
        t0.elapsed().as_secs_f64()
    );
    if failed > 0 {
        let mut logs = vec![format!("{}/*-cases/*.log", work.display())];
        if let Some(d) = &services.dockerd {
            logs.push(d.log_path().display().to_string());
        }
        if let Some(b) = &services.buildkitd {
            logs.push(b.log_path().display().to_string());
        }
        logs.push(services.registry.log_path().display().to_string());
        logs.push(services.auth_registry.log_path().display().to_string());
        println!("e2e logs: {}", logs.join(" "));
    }
    println!("e2e: {} passed, {} failed", outcomes.len() - failed, failed);
    drop(bk_ctx);
    drop(dockerd_env);
    drop(services);
    if failed > 0 {
        bail!("{failed} e2e case(s) failed");
    }
    Ok(())
}

/// The result of a setup thread, with a message saying which engine failed.
fn join_setup<T>(h: Option<std::thread::ScopedJoinHandle<'_, Result<T>>>, name: &str) -> Result<Option<T>> {
    match h {
        None => Ok(None),
        Some(h) => match h.join() {
            Ok(r) => r
                .map(Some)
                .with_context(|| format!("the {name} setup failed (the suite runs on both engines; CI needs both)")),
            Err(_) => bail!("setting up {name} panicked"),
        },
    }
}

/// The frontend image archive, made by one setup thread and waited for by
/// the others (an error as text, so that every waiter can report it).
struct Gate {
    done: std::sync::Mutex<Option<Result<(), String>>>,
    cv: std::sync::Condvar,
}

impl Gate {
    fn new() -> Gate {
        Gate { done: std::sync::Mutex::new(None), cv: std::sync::Condvar::new() }
    }

    fn set(&self, r: Result<(), String>) {
        if let Ok(mut g) = self.done.lock() {
            g.get_or_insert(r);
        }
        self.cv.notify_all();
    }

    fn wait(&self) -> Result<()> {
        let mut g = self.done.lock().map_err(|_| anyhow::anyhow!("setup thread panicked"))?;
        while g.is_none() {
            g = self.cv.wait(g).map_err(|_| anyhow::anyhow!("setup thread panicked"))?;
        }
        g.clone().unwrap_or(Ok(())).map_err(|e| anyhow::anyhow!(e))
    }
}

/// Starts the registries, then in parallel: writes the frontend image
/// archive (`luakit frontend-image`), sets up dockerd (start, base images,
/// `docker load` of the archive) and buildkitd (base images pushed, daemon
/// started, archive pushed).
fn start_services(sel: &Selection, root: &Path, target: &Path, work: &Path, luakit: &Path) -> Result<Services> {
    let need_dockerd = sel.wants_engine(Engine::Dockerd);
    let need_bk = sel.wants_engine(Engine::Buildkitd);
    // Found before anything starts: a missing BuildKit fails fast.
    let bk_bin = if need_bk { Some(buildkitd::install_binaries(root, target)?) } else { None };

    let registry = Registry::start(work, "plain", None)?;
    let auth_registry = Registry::start(work, "auth", Some((registry::AUTH_USER, registry::AUTH_PASSWORD)))?;
    let frontend_bin = std::env::var_os("LUAKIT_E2E_FRONTEND_BIN").map(PathBuf::from);
    let archive = work.join("frontend-image.tar");
    let frontend_ref = format!("{}/{FRONTEND_TAG}", registry.addr());
    let archive_ready = Gate::new();

    let (dockerd, buildkitd) = std::thread::scope(|s| {
        s.spawn(|| {
            if frontend_bin.is_some() {
                archive_ready.set(Ok(()));
                return;
            }
            let t = Instant::now();
            let r = Command::new(luakit)
                .args(["frontend-image", "-o"])
                .arg(&archive)
                .args(["--tag", FRONTEND_TAG])
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("cannot run {}", luakit.display()))
                .and_then(|out| util::check_output("luakit frontend-image", &out));
            if r.is_ok() {
                eprintln!(
                    "e2e: luakit frontend-image wrote {} ({} MB) in {:.1}s",
                    archive.display(),
                    fs::metadata(&archive).map(|m| m.len() >> 20).unwrap_or(0),
                    t.elapsed().as_secs_f64()
                );
            }
            archive_ready.set(r.map_err(|e| format!("{e:#}")));
        });
        let pushes = s.spawn(|| -> Result<()> {
            let t = Instant::now();
            let mut pushed = images::push_base_images(&registry.client(), work)?;
            pushed.extend(toolchains::push_toolchains(&registry.client(), work)?);
            images::push_busybox(&auth_registry.client(), work, images::PRIVATE)?;
            eprintln!(
                "e2e: pushed {} to {} and {} to {} in {:.1}s",
                pushed.join(", "),
                registry.addr(),
                images::PRIVATE,
                auth_registry.addr(),
                t.elapsed().as_secs_f64()
            );
            Ok(())
        });
        let d = need_dockerd.then(|| {
            s.spawn(|| -> Result<Dockerd> {
                let t = Instant::now();
                let d = Dockerd::start(work)?;
                images::import_base_images(&d, work)?;
                toolchains::import_toolchains(&d, work)?;
                archive_ready.wait()?;
                match &frontend_bin {
                    Some(bin) => images::frontend_from_binary(bin, work, Some(&d), None, FRONTEND_TAG)?,
                    None => {
                        let a = archive.to_string_lossy().into_owned();
                        d.docker_output(&["load", "-i", &a]).context("loading the frontend image")?;
                        d.docker_output(&["image", "inspect", FRONTEND_TAG])
                            .context("the frontend image is not tagged as expected")?;
                    }
                }
                eprintln!("e2e: dockerd set up (base images, frontend image) in {:.1}s", t.elapsed().as_secs_f64());
                Ok(d)
            })
        });
        let b = bk_bin.as_ref().map(|bin| {
            let (registry, auth_registry, archive_ready) = (&registry, &auth_registry, &archive_ready);
            let (frontend_bin, archive) = (&frontend_bin, &archive);
            s.spawn(move || -> Result<Buildkitd> {
                let client = registry.client();
                let bk = Buildkitd::start(
                    work,
                    bin,
                    &[
                        RegistryHost { addr: registry.addr(), docker_io_mirror: true },
                        RegistryHost { addr: auth_registry.addr(), docker_io_mirror: false },
                    ],
                )?;
                archive_ready.wait()?;
                let t = Instant::now();
                let (repo, tag) = FRONTEND_TAG.split_once(':').context("FRONTEND_TAG has no tag")?;
                match frontend_bin {
                    Some(b) => images::frontend_from_binary(b, work, None, Some(&client), FRONTEND_TAG)?,
                    None => {
                        images::push_docker_archive(&client, archive, work, repo, tag)
                            .context("pushing the frontend image to the registry")?;
                    }
                }
                eprintln!("e2e: frontend image pushed to {} in {:.1}s", registry.addr(), t.elapsed().as_secs_f64());
                Ok(bk)
            })
        });
        let p = join_setup(Some(pushes), "registry").map(|_| ());
        let d = join_setup(d, "dockerd");
        let b = join_setup(b, "buildkitd");
        match (p, d, b) {
            (Ok(()), Ok(d), Ok(b)) => Ok((d, b)),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
        }
    })?;
    Ok(Services { registry, auth_registry, dockerd, buildkitd, frontend_ref })
}

pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}
