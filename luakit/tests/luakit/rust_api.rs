//! The Rust API and the Lua API build the same graphs: each case writes one
//! build both ways — with `luakit::builder` and `luakit::Export`, and as a
//! Lua script through `luakit::build` — and requires byte-identical
//! encoded Definitions and identical image config JSON.

use std::sync::Arc;
use std::time::Duration;

use luakit::builder::{Copy, Git, Http, Image, Local, Mkdir, Mkfile, Mode, Rm, Run, Symlink};
use luakit::graph::{CacheSharing, Chown, Mount, NetMode, SecurityMode, State, diff, merge};
use luakit::{
    Build, BuildOptions, EvalOptions, Export, ImageConfig, ImageResolver, Platform, Port, ResolveMode, ResolvedImage,
    Script, StaticResolver, Unresolved,
};

type R = Result<(), Box<dyn std::error::Error>>;

fn amd64() -> Platform {
    Platform::new("linux", "amd64", "")
}

fn lua(source: &str, resolver: Arc<dyn ImageResolver>) -> Result<Build, luakit::Error> {
    let opts = BuildOptions {
        eval: EvalOptions {
            target_platform: amd64(),
            build_platform: amd64(),
            local_unique_id: "ci".into(),
            source_map: false,
            ..Default::default()
        },
        ..Default::default()
    };
    luakit::build(&Script::new("build.lua", source), &opts, resolver)
}

/// The two builds are the same: Definition bytes, config JSON, platform.
fn assert_same(rust: &Build, lua: &Build) {
    assert!(rust.definition.def.len() > 1, "an empty graph proves nothing");
    assert_eq!(
        luakit::inspect::snapshot(&rust.definition).ok(),
        luakit::inspect::snapshot(&lua.definition).ok(),
        "the graphs differ (shown by place)"
    );
    assert_eq!(rust.definition_bytes(), lua.definition_bytes(), "Definition bytes differ");
    assert_eq!(
        String::from_utf8_lossy(&rust.image_config_json()),
        String::from_utf8_lossy(&lua.image_config_json()),
        "image configs differ"
    );
    assert_eq!(rust.platform, lua.platform);
    assert_eq!(rust.export, lua.export);
}

#[test]
fn run_with_every_kind_of_mount() -> R {
    let ctx = Local::new("context").exclude(["target"]).unique_id("ci").build()?;
    let tools = Image::new("busybox:1.36").build()?;
    let exec = Image::new("rust:1.85").build()?.with_dir("/src").run(
        Run::shell("cargo build --release && cp target/release/app /out/app")
            .env("CARGO_TERM_COLOR", "never")
            .network(NetMode::None)
            .mount(Mount::bind(&ctx, "/src").selector("app"))
            .mount(Mount::cache("/usr/local/cargo/registry").sharing(CacheSharing::Locked).id("cargo-registry"))
            .mount(Mount::cache("/src/target").from(&tools).selector("/bin").readonly())
            .mount(Mount::tmpfs("/tmp").size(64 << 20))
            .mount(Mount::secret("/run/secrets/token").mode(Mode(0o440)).owner(1000, 1000).optional())
            .mount(Mount::ssh().id("github"))
            .mount(Mount::bind(&State::scratch().with_dir("/data"), "out").writable()),
    )?;
    let out = exec.mount_output("/src/out")?.file(Mkdir::new("sub"));
    let rust = Export::new(&out).target_platform(amd64()).build()?;
    let lua = lua(
        r#"
        local ctx = bk.local_("context", { exclude = { "target" } })
        local tools = bk.image("busybox:1.36")
        local r = bk.image("rust:1.85"):with_workdir("/src"):run(
            "cargo build --release && cp target/release/app /out/app", {
                env = { CARGO_TERM_COLOR = "never" },
                network = "none",
                mounts = {
                    bk.bind(ctx, "/src", { selector = "app" }),
                    bk.cache("/usr/local/cargo/registry", { sharing = "locked", id = "cargo-registry" }),
                    bk.cache("/src/target", { from = tools, selector = "/bin", readonly = true }),
                    bk.tmpfs("/tmp", { size = 64 * 1024 * 1024 }),
                    bk.secret("/run/secrets/token", { mode = "0440", uid = 1000, gid = 1000, optional = true }),
                    bk.ssh({ id = "github" }),
                    bk.bind(bk.scratch():with_workdir("/data"), "out", { readonly = false }),
                },
            })
        bk.export(r:output("out"):mkdir("sub"))
        "#,
        Arc::new(Unresolved),
    )?;
    assert_same(&rust, &lua);
    // The mount output kept the mounted state's working directory.
    assert_eq!(rust.image_config.config.working_dir, "/data");
    Ok(())
}

#[test]
fn run_options_and_argv() -> R {
    let st = Image::new("alpine:3.19").build()?.with_user("nobody").run(
        Run::args(["/bin/echo", "hi"])
            .cwd("work")
            .user("root")
            .hostname("builder")
            .security(SecurityMode::Insecure)
            .extra_host("db", "10.0.0.2".parse()?)
            .ulimit("nofile", 1024, 2048)
            .valid_exit_codes([0, 1])
            .secret_env("TOKEN", "api-token")
            .custom_name("say hi"),
    )?;
    let rust = Export::new(st.root()).target_platform(amd64()).build()?;
    let lua = lua(
        r#"
        local st = bk.image("alpine:3.19"):with_user("nobody"):run({ "/bin/echo", "hi" }, {
            cwd = "work", user = "root", hostname = "builder", security = "insecure",
            extra_hosts = { db = "10.0.0.2" }, ulimits = { nofile = { soft = 1024, hard = 2048 } },
            valid_exit_codes = { 0, 1 }, secret_env = { TOKEN = "api-token" },
        }):with_metadata({ description = "say hi" })
        bk.export(st)
        "#,
        Arc::new(Unresolved),
    )?;
    assert_same(&rust, &lua);
    Ok(())
}

#[test]
fn copy_and_file_ops() -> R {
    let ctx = Local::new("context").unique_id("ci").build()?;
    let st = Image::new("nginx:1.27")
        .build()?
        .with_dir("/usr/share/nginx")
        .file(
            Copy::new(&ctx, "site/", "html/")
                .chown(Chown::new(101).group("nginx"))
                .mode(Mode(0o644))
                .include(["*.html"])
                .exclude(["drafts"])
                .follow_symlink(false)
                .custom_name("copy the site")
                .ignore_cache(),
        )
        .file(Mkdir::new("cache").mode(Mode(0o700)).parents(false).chown(Chown::new("nginx")))
        .file(Mkfile::new("/etc/motd", "hello\n").mode(Mode(0o600)))
        .file(Rm::new("/etc/nginx/conf.d/*").allow_wildcard(true).allow_not_found(true))
        .file(Symlink::new("html", "www"));
    let rust = Export::new(&st).target_platform(amd64()).build()?;
    let lua = lua(
        r#"
        local ctx = bk.local_("context")
        local st = bk.image("nginx:1.27"):with_workdir("/usr/share/nginx")
            :copy(ctx, "site/", "html/", { owner = "101:nginx", mode = "0644", include = { "*.html" },
                                          exclude = { "drafts" }, follow_symlink = false })
            :with_metadata({ description = "copy the site", ignore_cache = true })
            :mkdir("cache", { mode = "0700", make_parents = false, owner = "nginx" })
            :mkfile("/etc/motd", "hello\n", { mode = "0600" })
            :rm("/etc/nginx/conf.d/*", { allow_wildcard = true, allow_not_found = true })
            :symlink("html", "www")
        bk.export(st)
        "#,
        Arc::new(Unresolved),
    )?;
    assert_same(&rust, &lua);
    let named = rust
        .definition
        .metadata
        .values()
        .find(|m| m.description.get("llb.customname").map(String::as_str) == Some("copy the site"));
    assert!(named.is_some_and(|m| m.ignore_cache), "the copy's metadata: {:?}", rust.definition.metadata);
    Ok(())
}

#[test]
fn merge_diff_git_and_http() -> R {
    let base = Image::new("debian:bookworm").build()?;
    let tools = base.run(Run::shell("apt-get update && apt-get install -y git"))?;
    let layer = diff(&base, tools.root(), Default::default());
    let src = Git::new("https://github.com/moby/buildkit.git").reference("v0.13.0").keep_git_dir(true).build()?;
    let tgz = Http::new("https://example.com/tool.tgz")
        .checksum(format!("sha256:{}", "0".repeat(64)))
        .filename("tool.tgz")
        .chmod(Mode(0o755))
        .build()?;
    let merged = merge(&[Image::new("alpine:3.19").build()?, layer, src, tgz], Default::default())?;
    let rust = Export::new(&merged).target_platform(amd64()).build()?;
    let lua = lua(
        r#"
        local base = bk.image("debian:bookworm")
        local tools = base:run("apt-get update && apt-get install -y git")
        local layer = bk.diff(base, tools)
        local src = bk.git("https://github.com/moby/buildkit.git", { ref = "v0.13.0", keep_git_dir = true })
        local tgz = bk.http("https://example.com/tool.tgz", {
            checksum = "sha256:" .. string.rep("0", 64), filename = "tool.tgz", chmod = "0755" })
        bk.export(bk.merge(bk.image("alpine:3.19"), layer, src, tgz))
        "#,
        Arc::new(Unresolved),
    )?;
    assert_same(&rust, &lua);
    Ok(())
}

#[test]
fn env_dir_user_and_export_config() -> R {
    let st = Image::new("python:3.12-slim")
        .platform("linux/arm64".parse()?)
        .build()?
        .with_env("PYTHONDONTWRITEBYTECODE", "1")
        .with_dir("/app")
        .with_user("app")
        .run(Run::shell("pip install flask"))?;
    let rust = Export::new(st.root())
        .target_platform(amd64())
        .entrypoint(["python", "-m"])
        .cmd(["flask", "run"])
        .env("FLASK_APP", "app.py")
        .env("PORT", "8000")
        .workdir("srv")
        .user("1000:1000")
        .expose(8000)
        .expose(Port::udp(5353))
        .label("org.opencontainers.image.title", "web")
        .volume("/data")
        .stop_signal("SIGINT")
        .healthcheck("curl -f http://localhost:8000/ || exit 1", Duration::from_secs(30))
        .build()?;
    let lua = lua(
        r#"
        local st = bk.image("python:3.12-slim", { platform = "linux/arm64" })
            :with_env("PYTHONDONTWRITEBYTECODE", "1"):with_workdir("/app"):with_user("app")
            :run("pip install flask")
        bk.export(st, {
            entrypoint = { "python", "-m" }, cmd = { "flask", "run" },
            env = { "FLASK_APP=app.py", "PORT=8000" }, workdir = "srv", user = "1000:1000",
            expose = { "8000/tcp", "5353/udp" }, labels = { ["org.opencontainers.image.title"] = "web" },
            volumes = { "/data" }, stop_signal = "SIGINT",
            healthcheck = { test = "curl -f http://localhost:8000/ || exit 1", interval = "30s" },
        })
        "#,
        Arc::new(Unresolved),
    )?;
    assert_same(&rust, &lua);
    assert_eq!(rust.platform.arch, "arm64", "the image is for the state's platform");
    assert_eq!(rust.image_config.config.working_dir, "/app/srv");
    Ok(())
}

#[test]
fn resolved_base_images() -> R {
    let config = r#"{"architecture":"amd64","os":"linux","config":{"Env":["LANG=C"],"WorkingDir":"/srv","User":"app","Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let mut resolver = StaticResolver::new();
    resolver.insert(
        "alpine:3.19",
        ResolvedImage {
            digest: format!("sha256:{}", "ab".repeat(32)),
            config: ImageConfig::from_json(config.as_bytes())?,
        },
    )?;
    let base = luakit::resolve_image(&resolver, "alpine:3.19", &amd64(), ResolveMode::Default)?;
    let st = base.image.build()?.run(Run::shell("make"))?;
    let rust = Export::new(st.root()).target_platform(amd64()).base_config(base.config).cmd(["/app"]).build()?;
    let lua = lua(r#"bk.export(bk.image("alpine:3.19"):run("make"), { cmd = { "/app" } })"#, Arc::new(resolver))?;
    assert_same(&rust, &lua);
    assert_eq!(rust.image_config.config.user, "app", "inherited from the base config");
    Ok(())
}

#[test]
fn rust_api_errors_are_typed() {
    let refused = Image::new("Not A Ref").build();
    assert!(matches!(refused, Err(luakit::graph::GraphError::InvalidImageRef { .. })), "{refused:?}");
    let blank = State::scratch().run(Run::shell(" "));
    assert!(matches!(blank, Err(luakit::graph::GraphError::EmptyArgs)));
    let bad_port = Export::new(&State::scratch()).target_platform(amd64()).expose(0).build();
    assert!(matches!(bad_port, Err(luakit::Error::Config(_))), "{bad_port:?}");
    let unknown = luakit::resolve_image(&StaticResolver::new(), "alpine:3.19", &amd64(), ResolveMode::Default);
    assert!(matches!(unknown, Err(luakit::Error::Resolve { .. })), "{unknown:?}");
}

/// Changing one op's content changes that op's lines in the snapshot and
/// nothing else, though every digest above it changes.
#[test]
fn snapshots_name_ops_by_place_and_do_not_churn() -> R {
    let graph = |tag: &str| -> Result<Build, luakit::Error> {
        let ctx = Local::new("context").unique_id("ci").build()?;
        let built = Image::new(format!("golang:{tag}"))
            .build()?
            .with_dir("/src")
            .file(Copy::new(&ctx, ".", "."))
            .run(Run::shell("go build -o /out/app .").mount(Mount::cache("/root/.cache/go-build")))?;
        let st = Image::new("gcr.io/distroless/static").build()?.file(Copy::new(built.root(), "/out/app", "/app"));
        Export::new(&st).target_platform(amd64()).cmd(["/app"]).build()
    };
    let (old, new) = (graph("1.22")?, graph("1.23")?);
    let (a, b) = (luakit::inspect::snapshot(&old.definition)?, luakit::inspect::snapshot(&new.definition)?);
    let changed: Vec<(&str, &str)> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).collect();
    assert_eq!(a.lines().count(), b.lines().count());
    assert_eq!(
        changed,
        [(
            "  identifier: docker-image://docker.io/library/golang:1.22",
            "  identifier: docker-image://docker.io/library/golang:1.23"
        )]
    );
    // The digest-named JSON view of `luakit dag` changes all over.
    let dag = |d| luakit::inspect::render(d, luakit::inspect::Format::Json);
    let (da, db) = (dag(&old.definition)?, dag(&new.definition)?);
    assert!(da.lines().zip(db.lines()).filter(|(x, y)| x != y).count() > 4);
    // The JSON snapshot has no digest either, and names inputs by place.
    let json: serde_json::Value = serde_json::from_str(&luakit::inspect::snapshot_json(&new.definition)?)?;
    assert!(!json.to_string().contains("sha256:"));
    assert_eq!(json["result"]["op"], "#6");
    // Numbered as a depth-first walk from the result finishes them: the
    // distroless image, then the golang image and the context, the copy,
    // the build, and the final copy.
    let kinds: Vec<&str> = json["ops"].as_array().ok_or("ops")?.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(kinds, ["source", "source", "source", "file", "exec", "file"]);
    assert_eq!(json["ops"][5]["inputs"], serde_json::json!(["#1", "#5"]));
    assert_eq!(json["ops"][4]["op"]["mounts"][0]["input"], "#4");
    Ok(())
}

/// The snapshot docs/library.md shows is the real one.
#[test]
fn the_snapshot_in_the_library_docs_is_real() -> R {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/library.md"))?;
    let shown = doc.split("```text\n").nth(1).and_then(|rest| rest.split("```").next()).ok_or("no text block")?;
    let st = Image::new("alpine:3.19").build()?.run(Run::shell("make"))?;
    let build = Export::new(st.root()).target_platform(amd64()).build()?;
    assert_eq!(shown, luakit::inspect::snapshot(&build.definition)?);
    Ok(())
}
