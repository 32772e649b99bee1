//! Behaviours beyond the guide's examples: require and source maps, image
//! resolution, arguments and platforms, state values, mount outputs,
//! option details, determinism.

use std::sync::{Arc, Mutex};

use luakit_graph::{FileAction, MountKind, Op, Platform};
use luakit_image_config::{ContainerConfig, ImageConfig};
use luakit_lua::{EvalOptions, ImageResolver, ResolveError, ResolvedImage};

use crate::common::{eval, fixtures, opts, render};

fn ok(src: &str) -> luakit_lua::Evaluation {
    eval(src).unwrap_or_else(|e| panic!("script should run: {e}\n{src}"))
}

fn check(src: &str) {
    ok(&format!("{src}\nbk.export(bk.scratch())"));
}

#[test]
fn modules_are_required_once_and_mapped_to_their_files() {
    let path = fixtures().join("modules/build.lua");
    let o = EvalOptions { source_map: true, ..opts() };
    let ev = luakit_lua::evaluate_file(&path, o).expect("evaluates");
    insta::assert_snapshot!(render(&ev));
    // The run was made in libs/go.lua; its file is that module's exact bytes.
    let copy = ev.state.output().expect("op").node.clone();
    let Op::File(f) = &copy.op else { panic!("not a file op") };
    let FileAction::Copy { from: Some(from), .. } = &f.actions[0] else { panic!("not a copy") };
    let run = &from.node;
    assert_eq!(run.locations[0].file.filename, "libs/go.lua");
    assert_eq!(run.locations[0].ranges[0].start_line, 11);
    let data = std::fs::read(fixtures().join("modules/libs/go.lua")).expect("read");
    assert_eq!(run.locations[0].file.data, data);
    // The main script's source keeps its '#!' line.
    assert_eq!(copy.locations[0].file.filename, "build.lua");
    assert!(copy.locations[0].file.data.starts_with(b"#!/usr/bin/env luakit build\n"));
}

#[test]
fn source_map_off_records_nothing() {
    let ev = ok("bk.export(bk.image('alpine'):run('x'))");
    assert!(ev.state.output().expect("op").node.locations.is_empty());
}

#[derive(Default)]
struct FakeResolver {
    calls: Mutex<Vec<String>>,
}

impl ImageResolver for FakeResolver {
    fn resolve(
        &self,
        reference: &str,
        platform: &Platform,
        mode: luakit_graph::ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        let mode = match mode {
            luakit_graph::ResolveMode::Default => "",
            luakit_graph::ResolveMode::Always => " always",
            luakit_graph::ResolveMode::Never => " never",
        };
        self.calls.lock().expect("lock").push(format!("{reference} {platform}{mode}"));
        if reference.contains("missing") {
            return Err("not found".into());
        }
        let config = ImageConfig {
            os: "linux".to_string(),
            architecture: platform.arch.clone(),
            config: ContainerConfig {
                env: vec!["GOLANG_VERSION=1.21".to_string(), "PATH=/go/bin:/usr/bin".to_string()],
                working_dir: "/go".to_string(),
                user: "gopher".to_string(),
                ..ContainerConfig::default()
            },
            ..ImageConfig::default()
        };
        Ok(Some(ResolvedImage { digest: format!("sha256:{}", "ab".repeat(32)), config }))
    }
}

#[test]
fn resolved_images_are_pinned_and_start_from_their_config() {
    let resolver = Arc::new(FakeResolver::default());
    let o = EvalOptions { resolver: Some(resolver.clone()), ..opts() };
    let src = "local a = bk.image('golang:1.21')\nlocal b = bk.image('golang:1.21')\nbk.export(a:run('go version'))";
    let ev = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    insta::assert_snapshot!(render(&ev));
    assert_eq!(ev.base_config.as_ref().map(|c| c.config.user.as_str()), Some("gopher"));
    // One call per reference and platform.
    assert_eq!(*resolver.calls.lock().expect("lock"), vec!["docker.io/library/golang:1.21 linux/amd64".to_string()]);

    // The script's resolve mode reaches the resolver (and is part of its cache key).
    resolver.calls.lock().expect("lock").clear();
    let src =
        "bk.image('golang:1.21', { resolve = 'never' })\nbk.export(bk.image('golang:1.21', { resolve = 'always' }))";
    luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    assert_eq!(
        *resolver.calls.lock().expect("lock"),
        vec![
            "docker.io/library/golang:1.21 linux/amd64 never".to_string(),
            "docker.io/library/golang:1.21 linux/amd64 always".to_string()
        ]
    );

    let e = luakit_lua::evaluate("build.lua", b"bk.image('missing:1')", &o).expect_err("fails");
    assert_eq!(
        e.to_string(),
        "build.lua:1: bk.image: cannot resolve 'docker.io/library/missing:1' for linux/amd64: not found"
    );
}

/// A resolver that leaves every image unresolved.
struct LeavesUnresolved;

impl ImageResolver for LeavesUnresolved {
    fn resolve(
        &self,
        _: &str,
        _: &Platform,
        _: luakit_graph::ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        Ok(None)
    }
}

#[test]
fn a_resolver_that_leaves_images_unresolved_acts_as_none() -> Result<(), luakit_lua::ScriptError> {
    let src = "bk.export(bk.image('alpine:3.19', { resolve_digest = true }))";
    let without = luakit_lua::evaluate("build.lua", src.as_bytes(), &opts())?;
    let o = EvalOptions { resolver: Some(Arc::new(LeavesUnresolved)), ..opts() };
    let with = luakit_lua::evaluate("build.lua", src.as_bytes(), &o)?;
    assert_eq!(with.warnings, without.warnings);
    assert_eq!(with.warnings.len(), 1);
    assert!(with.base_config.is_none());
    assert_eq!(render(&with), render(&without));
    Ok(())
}

#[test]
fn resolve_digest_without_resolver_warns() {
    let ev = ok("bk.export(bk.image('alpine:3.19', { resolve_digest = true, resolve = 'always' }))");
    assert_eq!(
        ev.warnings,
        vec![
            "build.lua:1: bk.image: resolve_digest ignored for 'docker.io/library/alpine:3.19': it was not resolved (lock it with `luakit lock`, or build with --resolve), so the image is not pinned and its config is not known"
                .to_string()
        ]
    );
    let Op::Source(s) = &ev.state.output().expect("op").node.op else { panic!("source") };
    assert_eq!(s.attrs.get("image.resolvemode").map(String::as_str), Some("pull"));
}

#[test]
fn args_and_platforms() {
    let mut o = opts();
    o.args.insert("VERSION".to_string(), "1.22".to_string());
    o.target_platform = Platform::new("linux", "arm64", "");
    o.build_platform = Platform::new("linux", "amd64", "");
    let src = r#"
assert(bk.arg("VERSION", "1.21") == "1.22")
assert(bk.arg("OTHER", "x") == "x")
assert(bk.arg("NONE") == nil)
assert(bk.arg("N", 3) == 3)
local t, b = bk.target_platform(), bk.build_platform()
assert(tostring(t) == "linux/arm64" and t.os == "linux" and t.arch == "arm64" and t.variant == nil)
assert(tostring(b) == "linux/amd64")
assert(bk.platform("linux", "arm64") == t)
assert(bk.platform("linux", "arm64", "v8") == t, "arm64/v8 is arm64")
assert(bk.platform("linux/arm/v7").variant == "v7")
assert(bk.platform("linux", "arm").variant == "v7")
assert(bk.platform("linux", "amd64") ~= t)
assert("p=" .. t == "p=linux/arm64")
bk.export(bk.image("golang:" .. bk.arg("VERSION"), { platform = b }))
"#;
    let ev = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    assert_eq!(ev.target_platform, Platform::new("linux", "arm64", ""));
    insta::assert_snapshot!(render(&ev));
}

#[test]
fn state_values() {
    check(
        r#"
-- Equality is the graph's: the same op output (by identity) and the same process defaults.
local a = bk.image("alpine:3.19")
local b = bk.image("alpine:3.19")
assert(a == a and a ~= b, "two bk.image calls are two ops")
assert(a:with_env("A", "1") ~= a, "different env")
assert(a:with_env("A", "1") == a:with_env("A", "1"), "same output, same env")
assert(a:with_env("A", "1"):with_env("A", "2") == a:with_env("A", "2"))
assert(a:run("x") ~= a:run("x"), "two runs are two ops")
assert(bk.scratch() == bk.scratch())
assert(a ~= bk.scratch())
assert(tostring(a) == "bk.state(docker-image://docker.io/library/alpine:3.19)", tostring(a))
assert(tostring(a:run("make")) == "bk.state(run /bin/sh -c make)", tostring(a:run("make")))
assert(tostring(bk.scratch()) == "bk.state(scratch)")
assert(tostring(bk.cache("/c")) == "bk.mount(cache at /c)")
assert(bk.cache("/c") == bk.cache("/c", { id = "/c" }))
-- process defaults
local s = a:with_workdir("/app"):with_workdir("sub"):with_user("me"):with_env({ B = "2", A = "1" })
assert(s:get_workdir() == "/app/sub")
assert(s:get_user() == "me")
assert(s:get_env("A") == "1" and s:get_env("NOPE") == nil)
assert(a:get_env("PATH") == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
assert(bk.scratch():get_env("PATH") == nil)
-- run-level env/user/cwd do not persist
local r = s:run("x", { env = { C = "3" }, user = "root", cwd = "/tmp" })
assert(r:get_env("C") == nil and r:get_user() == "me" and r:get_workdir() == "/app/sub")
"#,
    );
}

#[test]
fn run_options_in_detail() {
    let ev = ok(r#"
local base = bk.image("alpine:3.19"):with_workdir("/app")
local r = base:run({ "make", "test" }, {
    cwd = "sub",
    env = { "B=2", "A=1", "B=3" },
    extra_hosts = { web = "10.0.0.2", db = "10.0.0.1" },
    secret_env = { TOKEN = "api-token", KEY = { id = "key", optional = true } },
    valid_exit_codes = { 0, 1 },
    ulimits = { nofile = { soft = 1024, hard = 2048 }, nproc = 100 },
    mounts = {
        bk.cache("cache", { sharing = "private" }),
        bk.secret("/run/secrets/x/"),
        bk.ssh({ dest = "/ssh", id = "gh", uid = 1000, gid = 1000, mode = "0660", optional = true }),
        bk.tmpfs("/tmp"),
    },
})
bk.export(r)
"#);
    insta::assert_snapshot!(render(&ev));
}

#[test]
fn writable_bind_output_keeps_the_mounted_state_defaults() {
    let ev = ok(r#"
local out = bk.image("alpine:3.19"):with_env("X", "1"):with_workdir("/w")
local job = bk.image("alpine:3.19"):run("make", {
    cwd = "/work",
    mounts = { bk.bind(out, "dist", { readonly = false, selector = "/sub" }) },
})
local result = job:output("/work/dist")
assert(result:get_env("X") == "1" and result:get_workdir() == "/w")
assert(job:output("dist") == result, "relative to the run's cwd")
bk.export(result)
"#);
    let st = &ev.state;
    assert_eq!(st.output().expect("op").index, 1);
    let Op::Exec(e) = &st.output().expect("op").node.op else { panic!("exec") };
    assert!(e.mounts.iter().any(|m| m.dest == "/work/dist"
        && matches!(&m.kind, MountKind::Bind { readonly: false, selector, .. } if selector == "/sub")));
}

#[test]
fn file_options_in_detail() {
    let ev = ok(r##"
local ctx = bk.local_("context", { follow_paths = { "a" } })
local s = bk.scratch():with_workdir("/app")
    :copy(ctx, "src/", "dst/", {
        mode = 493, owner = 1000, -- 493 = 0755; 420 (0644) would be refused as octal-looking
        follow_symlink = false, copy_dir_contents = false, create_dest_path = false,
        allow_wildcard = false, allow_empty_wildcard = false, attempt_unpack = true,
    })
    :copy(ctx, "a", "b", { owner = "1000:app" })
    :copy(ctx, "c", "d", { owner = { group = "staff" } })
    :mkdir("data", { make_parents = false, owner = "app:app" })
    :mkfile("/bin/x", "#!/bin/sh\n", { mode = "0755" })
    :rm("old")
    :symlink("../x", "/bin/y", { owner = { user = "0", group = 0 } })
bk.export(s)
"##);
    insta::assert_snapshot!(render(&ev));
}

#[test]
fn sources_in_detail() {
    let mut o = opts();
    o.local_session_id = Some("session-1".to_string());
    let src = r#"
local g = bk.git("https://github.com/o/r.git", {
    ref = "main", subdir = "docs", keep_git_dir = false,
    auth_token_secret = "tok", auth_header_secret = "hdr",
})
local s = bk.git("git@github.com:o/private.git", { known_ssh_hosts = "github.com ssh-ed25519 AAAA", mount_ssh_sock = "gh" })
local h = bk.https("https://example.com/a.tgz", { headers = { Accept = "application/gzip" }, auth_header_secret = "auth" })
local l = bk.local_("context", { include = "*.go", exclude = { "vendor" }, shared_key_hint = "go" })
bk.export(bk.merge({ g, s, h, l }))
"#;
    let ev = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("evaluates");
    insta::assert_snapshot!(render(&ev));
}

#[test]
fn metadata_and_graph_ops() {
    let ev = ok(r#"
local base = bk.image("alpine:3.19")
local a = base:run("a"):with_metadata({ description = "step a", progress_group = "grp", ignore_cache = true })
local d = bk.diff(base, a)
local m = bk.merge(bk.image("busybox"), d, bk.scratch():mkfile("/f", "f"))
bk.export(m)
"#);
    insta::assert_snapshot!(render(&ev));
}

#[test]
fn export_options_in_detail() {
    let ev = ok(r#"
bk.export(bk.image("alpine:3.19"), {
    entrypoint = "exec server",
    cmd = { "--port", "8080" },
    env = { PORT = "8080", MODE = "prod" },
    cwd = "/srv",
    user = "1000:1000",
    expose = { "8080/tcp", 9090, "53/udp" },
    labels = { ["org.opencontainers.image.source"] = "https://example.com" },
    volumes = { "/data" },
    stop_signal = "SIGINT",
    healthcheck = { test = { "curl", "-f", "http://localhost/" }, interval = "30s", timeout = 5, retries = 3 },
    os = "linux", arch = "arm64", variant = "v8",
})
"#);
    let e = &ev.export;
    assert_eq!(e.entrypoint, Some(vec!["/bin/sh".to_string(), "-c".to_string(), "exec server".to_string()]));
    assert_eq!(e.env, vec![("MODE".to_string(), "prod".to_string()), ("PORT".to_string(), "8080".to_string())]);
    assert_eq!(e.workdir.as_deref(), Some("/srv"));
    assert_eq!(e.expose, vec!["8080/tcp", "9090", "53/udp"]);
    let hc = e.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(hc.test, vec!["CMD", "curl", "-f", "http://localhost/"]);
    assert_eq!(hc.interval, Some(std::time::Duration::from_secs(30)));
    assert_eq!(hc.timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(hc.retries, Some(3));
    assert_eq!((e.os.as_deref(), e.arch.as_deref(), e.variant.as_deref()), (Some("linux"), Some("arm64"), Some("v8")));
    let ev = ok("bk.export(bk.scratch(), { healthcheck = 'none' })");
    assert_eq!(ev.export.healthcheck.map(|h| h.test), Some(vec!["NONE".to_string()]));
    let ev = ok("bk.export(bk.scratch(), { healthcheck = { test = 'curl -f localhost' } })");
    assert_eq!(
        ev.export.healthcheck.map(|h| h.test),
        Some(vec!["CMD-SHELL".to_string(), "curl -f localhost".to_string()])
    );
}

#[test]
fn evaluation_is_deterministic() {
    let path = fixtures().join("guide/16_multistage_three.lua");
    let src = std::fs::read(path).expect("read");
    let o = EvalOptions { source_map: true, ..opts() };
    let a = luakit_lua::evaluate("b.lua", &src, &o).expect("a");
    let b = luakit_lua::evaluate("b.lua", &src, &o).expect("b");
    assert_eq!(render(&a), render(&b));
}

#[test]
fn default_local_unique_id_is_stable_per_directory() {
    let a = luakit_lua::default_local_unique_id(&fixtures().join("guide"));
    let b = luakit_lua::default_local_unique_id(&fixtures().join("guide"));
    let c = luakit_lua::default_local_unique_id(&fixtures().join("modules"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.len(), 32);
}

#[test]
fn evaluate_file_reports_unreadable_files() {
    let e = luakit_lua::evaluate_file(&fixtures().join("does-not-exist.lua"), opts()).expect_err("fails");
    assert!(matches!(e, luakit_lua::ScriptError::Io { .. }));
    assert!(e.to_string().starts_with("cannot read "), "{e}");
}

struct SlowResolver;

impl ImageResolver for SlowResolver {
    fn resolve(
        &self,
        _: &str,
        _: &Platform,
        _: luakit_graph::ResolveMode,
    ) -> Result<Option<ResolvedImage>, ResolveError> {
        std::thread::sleep(std::time::Duration::from_millis(400));
        Ok(Some(ResolvedImage { digest: format!("sha256:{}", "cd".repeat(32)), config: ImageConfig::default() }))
    }
}

#[test]
fn time_spent_resolving_does_not_count_against_the_script() {
    let o = EvalOptions {
        resolver: Some(Arc::new(SlowResolver)),
        timeout: std::time::Duration::from_millis(300),
        ..opts()
    };
    let src = "local a = bk.image('alpine:3.18')\nlocal b = bk.image('alpine:3.19')\nbk.export(bk.merge(a, b))";
    let ev = luakit_lua::evaluate("build.lua", src.as_bytes(), &o).expect("slow resolution is not a timeout");
    // No config env: the default PATH is added.
    assert_eq!(ev.state.meta().env.get("PATH"), Some(luakit_graph::DEFAULT_PATH));
}

/// `pairs` visits keys in a fixed order (numbers, then strings, then
/// booleans), so scripts that build ops in a `pairs` loop give the same
/// graph in every process, whatever Lua's per-process hash seed.
#[test]
fn pairs_order_is_stable_and_sorted() {
    let src = r#"
        local t = { zeta = 1, alpha = 2, [3] = "c", mid = 3, [1] = "a", beta = 4, [true] = 5, [false] = 6 }
        local seen = {}
        for k in pairs(t) do seen[#seen + 1] = tostring(k) end
        assert(table.concat(seen, ",") == "1,3,alpha,beta,mid,zeta,false,true", table.concat(seen, ","))
        local s = bk.scratch()
        local names = {}
        for i = 1, 40 do names["k" .. i] = i end
        for name, i in pairs(names) do s = s:mkfile("/" .. name, tostring(i)) end
        bk.export(s)
    "#;
    let first = render(&ok(src));
    for _ in 0..4 {
        assert_eq!(render(&ok(src)), first, "pairs order changed between evaluations");
    }
    // __pairs is honoured.
    check(
        r#"local t = setmetatable({}, { __pairs = function() return function(_, k) if not k then return 1, "x" end end, nil, nil end })
        local n = 0
        for k, v in pairs(t) do n = n + 1 assert(k == 1 and v == "x") end
        assert(n == 1)"#,
    );
}

/// `with_metadata` on a run result keeps it a run result: `:output` still
/// works, and the output belongs to the renamed exec.
#[test]
fn metadata_on_a_run_result_keeps_its_mount_outputs() {
    let ev = ok(r#"
        local r = bk.image("alpine:3.19"):run("make > /out/log", { mounts = { bk.bind(bk.scratch(), "/out", { readonly = false }) } })
        local named = r:with_metadata({ description = "Compile", progress_group = "build" })
        assert(r ~= named)
        bk.export(named:output("/out"))
    "#);
    let out = ev.state.output().expect("an op");
    assert_eq!(out.index, 1, "the /out mount is the exec's second output");
    assert_eq!(out.node.metadata.description["llb.customname"], "Compile");
    assert_eq!(out.node.metadata.progress_group.as_ref().map(|g| g.id.as_str()), Some("build"));
}

#[test]
fn mount_forms_of_client_llb() {
    let ev = ok(r#"
local seed = bk.image("busybox:1.36")
local job = bk.image("alpine:3.19"):run("make", {
    readonly_root = true,
    mounts = {
        bk.ssh({ dest = "/run/s1" }),
        bk.secret("/run/secrets/a"),
        bk.cache("/c", { from = seed, selector = "/etc", readonly = true, sharing = "locked" }),
        bk.bind(seed, "/scratch", { readonly = false, output = false }),
        bk.bind(bk.scratch(), "/out", { readonly = false }),
        bk.ssh({ id = "two", dest = "/run/s2" }),
        bk.secret("/run/secrets/b"),
    },
})
assert(tostring(bk.cache("/c")) == "bk.mount(cache at /c)")
bk.export(job:output("/out"))
"#);
    let out = ev.state.output().expect("op");
    assert_eq!(out.index, 0, "the read-only root has no output: /out is output 0");
    let Op::Exec(e) = &out.node.op else { panic!("exec") };
    let order: Vec<&str> = e.mounts.iter().map(|m| m.dest.as_str()).collect();
    assert_eq!(order, ["/", "/c", "/out", "/scratch", "/run/secrets/a", "/run/secrets/b", "/run/s1", "/run/s2"]);
    assert!(matches!(&e.mounts[0].kind, MountKind::Bind { readonly: true, .. }));
    assert!(matches!(&e.mounts[1].kind,
        MountKind::Cache { source: Some(_), selector, readonly: true, .. } if selector == "/etc"));
    assert!(matches!(&e.mounts[3].kind, MountKind::Bind { readonly: false, no_output: true, .. }));
    assert_eq!(e.meta.env.get("SSH_AUTH_SOCK"), Some("/run/s1"), "{:?}", e.meta.env);
}

#[test]
fn git_known_hosts_take_a_list() {
    let ev = ok(r#"
bk.export(bk.git("git@github.com:o/r.git", { known_ssh_hosts = { "h1 k1", "h2 k2\n" } }))
"#);
    let Op::Source(src) = &ev.state.output().expect("op").node.op else { panic!("source") };
    assert_eq!(src.identifier, "git://github.com/o/r.git");
    assert_eq!(src.attrs["git.knownsshhosts"], "h1 k1\nh2 k2\n");
}
