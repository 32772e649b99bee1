-- A Node app in three stages: dependencies, build, slim runtime.
-- Dockerfile equivalent: see Dockerfile next to this file.

local ctx = bk.local_("context", { exclude = { "node_modules", ".git" } })
local npm_cache = bk.cache("/root/.npm", { id = "npm" })

-- Stage 1: install dependencies from the lock file only.
local deps = bk.image("node:20")
    :copy(bk.local_("context", { include = { "package.json", "package-lock.json" } }), ".", "/app")
    :run("npm ci", { cwd = "/app", mounts = { npm_cache } })

-- Stage 2: build the sources on top of the installed dependencies.
local built = deps:copy(ctx, ".", "/app")
    :run("npm run build && npm prune --omit=dev", { cwd = "/app", mounts = { npm_cache } })

-- Stage 3: only what runs.
local final = bk.image("node:20-alpine")
    :copy(built, "/app/node_modules", "/app/node_modules")
    :copy(built, "/app/dist", "/app/dist")
    :copy(built, "/app/package.json", "/app/package.json")

bk.export(final, {
    entrypoint = { "node", "dist/index.js" },
    cwd = "/app",
    env = { NODE_ENV = "production" },
    user = "node",
    expose = { "3000" },
})
