-- Merge and diff: install tools once, take only the files the install
-- changed (a diff), and layer them onto any base (a merge) — without
-- re-running the install per base and without the package manager's caches.
-- Needs BuildKit v0.10 or newer (Docker 23+).
-- Dockerfile equivalent: see Dockerfile next to this file (it has to copy
-- paths by hand: Dockerfiles have no diff).

local base = bk.image("alpine:3.19")
local with_tools = base:run("apk add --no-cache curl jq")

-- Only what `apk add` changed: /usr/bin/curl, libraries, apk's database.
local tools = bk.diff(base, with_tools)

-- The application layer, built independently.
local app = bk.scratch():mkfile("/app/config.json", '{"mode":"prod"}'):mkdir("/app/data", { mode = "0750" })

-- Stack them: base, then the tools delta, then the app.
local final = bk.merge(base, tools, app)

-- A tools shell, as its Dockerfile: it runs as root on purpose.
-- luakit: allow no-user
bk.export(final, { entrypoint = { "/bin/sh" }, workdir = "/app" })
