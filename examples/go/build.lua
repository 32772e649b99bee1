-- A Go service: build in a full Go image with module and build caches,
-- ship only the static binary on a distroless base.
--
-- Dockerfile equivalent: see Dockerfile next to this file.

local version = bk.arg("VERSION", "dev")

-- Stage 1: dependencies first, so editing code does not re-download modules.
local deps = bk.image("golang:1.21-alpine")
    :with_env("CGO_ENABLED", "0")
    :copy(bk.local_("context", { include = { "go.mod", "go.sum" } }), ".", "/src")
    :run("go mod download", {
        cwd = "/src",
        mounts = { bk.cache("/go/pkg/mod", { id = "gomod" }) },
    })

-- Stage 2: the build, with the compiler cache mounted.
local built = deps:copy(bk.local_("context", { exclude = { ".git", "*.md" } }), ".", "/src")
    :run("go build -trimpath -ldflags='-X main.version=" .. version .. "' -o /out/server ./cmd/server", {
        cwd = "/src",
        mounts = {
            bk.cache("/go/pkg/mod", { id = "gomod" }),
            bk.cache("/root/.cache/go-build", { id = "gobuild" }),
        },
    })

-- Stage 3: the runtime image holds the binary and nothing else.
local runtime = bk.image("gcr.io/distroless/static-debian12:nonroot")
    :copy(built, "/out/server", "/server", { mode = "0755" })

bk.export(runtime, {
    entrypoint = { "/server" },
    user = "nonroot",
    expose = { "8080/tcp" },
    labels = { ["org.opencontainers.image.title"] = "server" },
})
